//! The HTML shell and the routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::hooks::use_location;
use leptos_router::{SsrMode, StaticSegment};

use crate::api::auth::{me, SignOut};
use crate::model::Role;
use crate::pages::account::{SignInPage, SignUpPage};
use crate::pages::admin::AdminPage;
use crate::pages::home::HomePage;
use crate::pages::profile::ProfilePage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::security::protect_page(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, once hydrated: a mark for tests and for CSS.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/s3drop.css"/>
        <Title text="s3drop: uploads straight to S3"/>
        <Router>
            <header class="top">
                <A href="/" attr:class="brand">"s3drop"</A>
                <UserMenu/>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="notice">"Page not found."</p> }>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=StaticSegment("signin") view=SignInPage/>
                    <Route path=StaticSegment("signup") view=SignUpPage/>
                    // Rendered whole on the server: the plain form must work without JavaScript.
                    <Route path=StaticSegment("profile") view=ProfilePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// Who is signed in, re-read on every navigation (sign-in and sign-out navigate).
#[component]
fn UserMenu() -> impl IntoView {
    let location = use_location();
    let user = Resource::new(move || location.pathname.get(), |_| me());
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <nav class="user">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => view! {
                            <A href="/profile">"My uploads"</A>
                            {(u.role == Role::Admin).then(|| view! { <A href="/admin">"Admin"</A> })}
                            <span class="email" data-testid="signed-in-as">{u.email}</span>
                            <ActionForm action=sign_out attr:class="inline">
                                <button type="submit" class="link">"Sign out"</button>
                            </ActionForm>
                        }.into_any(),
                        _ => view! { <A href="/signin">"Sign in"</A><A href="/signup">"Sign up"</A> }.into_any(),
                    }
                })}
            </Transition>
        </nav>
    }
}
