//! The HTML shell and the routes. Every page renders on the server only (Leptos islands); the
//! dropzone on `/profile` is the one island, and only that page loads WASM.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{SsrMode, StaticSegment};

use crate::api::auth::{me, SignOut};
use crate::i18n::td_string;
use crate::model::Role;
use crate::pages::account::{SignInPage, SignUpPage};
use crate::pages::admin::AdminPage;
use crate::pages::home::HomePage;
use crate::pages::profile::ProfilePage;

/// The one script every page has (beside the island's, on the profile): shows each
/// `<time datetime>` in the reader's own time zone, in the page's language; the server only
/// knows UTC.
pub const LOCAL_TIMES: &str =
    "for(const t of document.querySelectorAll('time[datetime]')){const d=new Date(t.dateTime);\
if(!isNaN(d))t.textContent=d.toLocaleString(document.documentElement.lang||[],{dateStyle:'medium',timeStyle:'short'})}";

/// The paths whose page holds an island; every other page is sent without a script.
pub const PAGES_WITH_ISLANDS: [&str; 1] = ["/profile"];

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::security::protect_page(&options);
    let with_island = request_path().is_some_and(|p| PAGES_WITH_ISLANDS.contains(&p.as_str()));
    // The island reads its language from here (see `crate::locale::current`).
    let lang = crate::locale::tag(crate::locale::current());
    view! {
        <!DOCTYPE html>
        <html lang=lang>
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
    let locale = crate::locale::current();
    // Async: each page is sent whole once its data is read, so it needs no script to show it.
    view! {
        <Title text=td_string!(locale, common.site_title)/>
        <Router>
            <header class="top">
                <A href="/" attr:class="brand">"s3drop"</A>
                <UserMenu/>
                <LanguageSwitch/>
            </header>
            <main>
                <Routes fallback=move || view! { <p class="notice">{td_string!(locale, pages.not_found)}</p> }>
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
    let locale = crate::locale::current();
    view! {
        <nav class="user" aria-label=td_string!(locale, pages.menu.label)>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    match me().await {
                        Ok(Some(u)) => view! {
                            <A href="/profile">{td_string!(locale, pages.menu.my_uploads)}</A>
                            {(u.role == Role::Admin).then(|| view! { <A href="/admin">{td_string!(locale, pages.menu.admin)}</A> })}
                            <span class="email" data-testid="signed-in-as">{u.email}</span>
                            <form method="post" action=SignOut::PATH class="inline">
                                <button type="submit" class="link">{td_string!(locale, pages.menu.sign_out)}</button>
                            </form>
                        }.into_any(),
                        _ => view! {
                            <A href="/signin">{td_string!(locale, pages.menu.sign_in)}</A>
                            <A href="/signup">{td_string!(locale, pages.menu.sign_up)}</A>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </nav>
    }
}

/// Links to the page in each other language, each named in its own language. A plain link to
/// `/language`, which keeps the choice in a cookie and sends the reader back: no script needed.
#[component]
fn LanguageSwitch() -> impl IntoView {
    use crate::i18n::{td_string, Locale};
    use leptos_i18n::Locale as _;
    let current = crate::locale::current();
    let back = request_path_and_query().unwrap_or_else(|| "/".to_owned());
    let label = td_string!(current, common.language_label);
    view! {
        <nav class="languages" aria-label=label>
            {Locale::get_all().iter().copied().filter(|l| *l != current).map(|l| {
                let href = format!("/language?to={}&back={}", l.as_str(), crate::api::auth::form_urlencoded_component(&back));
                view! { <a href=href lang=l.as_str() hreflang=l.as_str() data-testid="language">{language_name(l)}</a> }
            }).collect_view()}
        </nav>
    }
}

/// Each language's name for itself.
pub fn language_name(locale: crate::i18n::Locale) -> &'static str {
    match locale {
        crate::i18n::Locale::en => "English",
        crate::i18n::Locale::fr => "Français",
    }
}

/// The page being rendered, to come back to after switching language: its path and query (the
/// admin's filters, say), less the one-shot messages (`error`, `done`, `uploaded`), which were
/// for the moment they were shown. On the server; `None` in the browser.
fn request_path_and_query() -> Option<String> {
    #[cfg(feature = "ssr")]
    return use_context::<http::request::Parts>().map(|p| without_messages(p.uri.path(), p.uri.query()));
    #[cfg(not(feature = "ssr"))]
    None
}

#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn without_messages(path: &str, query: Option<&str>) -> String {
    let kept: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !matches!(pair.split('=').next(), Some("error" | "done" | "uploaded")))
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::without_messages;

    #[test]
    fn the_way_back_keeps_the_query_but_not_one_shot_messages() {
        assert_eq!(without_messages("/admin", Some("status=failed&after=5%2Cx")), "/admin?status=failed&after=5%2Cx");
        assert_eq!(without_messages("/signin", Some("error=wrong&email=a%40b.c")), "/signin?email=a%40b.c");
        assert_eq!(without_messages("/", Some("done=signed-out")), "/");
        assert_eq!(without_messages("/profile", None), "/profile");
    }
}
