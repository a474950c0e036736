//! The HTML shell and the routes. Every page renders on the server only (Leptos islands); the
//! dropzone on `/profile` is the one island, and only that page loads WASM.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{SsrMode, StaticSegment};

use crate::api::auth::{me, SignOut};
use crate::model::Role;
use crate::pages::account::{SignInPage, SignUpPage};
use crate::pages::admin::AdminPage;
use crate::pages::home::HomePage;
use crate::pages::profile::ProfilePage;

/// The one script every page has (beside the island's, on the profile): shows each
/// `<time datetime>` in the reader's own time zone and language; the server only knows UTC.
pub const LOCAL_TIMES: &str =
    "for(const t of document.querySelectorAll('time[datetime]')){const d=new Date(t.dateTime);\
if(!isNaN(d))t.textContent=d.toLocaleString([],{dateStyle:'medium',timeStyle:'short'})}";

/// The paths whose page holds an island; every other page is sent without a script.
pub const PAGES_WITH_ISLANDS: [&str; 1] = ["/profile"];

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::security::protect_page(&options);
    let with_island = request_path().is_some_and(|p| PAGES_WITH_ISLANDS.contains(&p.as_str()));
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                {with_island.then(|| view! { <HydrationScripts options=options.clone() islands=true/> })}
                <HashedStylesheet options id="leptos"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
                <script nonce=nonce()>{LOCAL_TIMES}</script>
            </body>
        </html>
    }
}

/// This response's script nonce (the page's Content-Security-Policy names it).
fn nonce() -> Option<String> {
    leptos::nonce::use_nonce().map(|n| n.to_string())
}

/// The path of the request being rendered (on the server; `None` in the browser).
fn request_path() -> Option<String> {
    #[cfg(feature = "ssr")]
    return use_context::<http::request::Parts>().map(|p| p.uri.path().to_owned());
    #[cfg(not(feature = "ssr"))]
    None
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Async: each page is sent whole once its data is read, so it needs no script to show it.
    view! {
        <Title text="s3drop: uploads straight to S3"/>
        <Router>
            <header class="top">
                <A href="/" attr:class="brand">"s3drop"</A>
                <UserMenu/>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="notice">"Page not found."</p> }>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("signin") view=SignInPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("signup") view=SignUpPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("profile") view=ProfilePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// Who is signed in; sign-out is a plain form (the server answers with a redirect).
///
/// Pages read their data with a plain future (`Suspend`), not a `Resource`: a resource would also
/// write its value into the page as JSON for a hydration that never comes.
#[component]
fn UserMenu() -> impl IntoView {
    view! {
        <nav class="user" aria-label="Account">
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    match me().await {
                        Ok(Some(u)) => view! {
                            <A href="/profile">"My uploads"</A>
                            {(u.role == Role::Admin).then(|| view! { <A href="/admin">"Admin"</A> })}
                            <span class="email" data-testid="signed-in-as">{u.email}</span>
                            <form method="post" action=SignOut::PATH class="inline">
                                <button type="submit" class="link">"Sign out"</button>
                            </form>
                        }.into_any(),
                        _ => view! { <A href="/signin">"Sign in"</A><A href="/signup">"Sign up"</A> }.into_any(),
                    }
                })}
            </Suspense>
        </nav>
    }
}
