//! The home page: a document. The service check is a GET form the server answers, so the page
//! needs no script.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::status::{check_health, get_limits};
use crate::model::Health;

#[component]
pub fn HomePage() -> impl IntoView {
    let query = use_query_map();
    let asked = query.read_untracked().get("check").is_some();
    let flash = match query.read_untracked().get("done").as_deref() {
        Some("signed-out") => Some("You are signed out."),
        _ => None,
    };

    view! {
        {flash.map(|m| view! { <p class="flash ok" role="status" data-testid="flash">{m}</p> })}
        <section class="hero">
            <h1>"Upload files straight to S3"</h1>
            <p>"Your files go from your browser directly to storage; this server only signs the way."</p>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    match get_limits().await {
                        Ok(l) => view! { <p class="limits" data-testid="limits">{format!("Files {}.", l.describe())}</p> }.into_any(),
                        Err(_) => view! { <p class="limits error">"Limits unavailable."</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="status">
            <form method="get" action="/">
                <button type="submit" name="check" value="1" data-testid="check-health">"Check the service"</button>
            </form>
            <div data-testid="health">
                <Suspense fallback=|| ()>
                    {Suspend::new(async move {
                        let health = if asked { Some(check_health().await) } else { None };
                        match health {
                            None => ().into_any(),
                            Some(Ok(h)) => health_view(h).into_any(),
                            Some(Err(e)) => view! { <p class="error" role="alert">"The check failed: " {e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </section>
    }
}

fn health_view(h: Health) -> impl IntoView {
    let line = |name: &'static str, r: Result<(), String>| {
        let (class, text) = match r {
            Ok(()) => ("ok", "ok".to_owned()),
            Err(e) => ("bad", e),
        };
        view! { <li class=class>{format!("{name}: {text}")}</li> }
    };
    view! {
        <ul class="health" role="status">
            {line("Database", h.database)}
            {line("Bucket", h.bucket)}
            {line("Uploads from this site", h.cors)}
        </ul>
    }
}
