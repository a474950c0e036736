//! The home page: a document. The service check is a GET form the server answers, so the page
//! needs no script.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::status::{check_health, get_limits};
use crate::i18n::{td_string, Locale};
use crate::model::Health;

#[component]
pub fn HomePage() -> impl IntoView {
    let locale = crate::locale::current();
    let query = use_query_map();
    let asked = query.read_untracked().get("check").is_some();
    let flash = match query.read_untracked().get("done").as_deref() {
        Some("signed-out") => Some(td_string!(locale, pages.home.signed_out)),
        _ => None,
    };

    view! {
        {flash.map(|m| view! { <p class="flash ok" role="status" data-testid="flash">{m}</p> })}
        <section class="hero">
            <h1>{td_string!(locale, pages.home.title)}</h1>
            <p>{td_string!(locale, pages.home.intro)}</p>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    match get_limits().await {
                        Ok(l) => view! {
                            <p class="limits" data-testid="limits">{td_string!(locale, pages.home.limits, limits = l.describe_in(locale))}</p>
                        }.into_any(),
                        Err(_) => view! { <p class="limits error">{td_string!(locale, pages.home.limits_unavailable)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="status">
            <form method="get" action="/">
                <button type="submit" name="check" value="1" data-testid="check-health">{td_string!(locale, pages.home.check)}</button>
            </form>
            <div data-testid="health">
                <Suspense fallback=|| ()>
                    {Suspend::new(async move {
                        let health = if asked { Some(check_health().await) } else { None };
                        match health {
                            None => ().into_any(),
                            Some(Ok(h)) => health_view(h, locale).into_any(),
                            Some(Err(e)) => view! {
                                <p class="error" role="alert">{td_string!(locale, pages.home.check_failed, error = e.words(locale))}</p>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </section>
    }
}

/// One line per part checked, in `locale`; the reasons come worded from the server.
fn health_view(h: Health, locale: Locale) -> impl IntoView {
    let line = |part: &'static str, r: Result<(), String>| {
        let (class, result) = match r {
            Ok(()) => ("ok", td_string!(locale, pages.home.health_ok).to_owned()),
            Err(e) => ("bad", e),
        };
        view! { <li class=class>{td_string!(locale, pages.home.health_line, part = part, result = result)}</li> }
    };
    view! {
        <ul class="health" role="status">
            {line(td_string!(locale, pages.home.database), h.database)}
            {line(td_string!(locale, pages.home.bucket), h.bucket)}
            {line(td_string!(locale, pages.home.cors), h.cors)}
        </ul>
    }
}
