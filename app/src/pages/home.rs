use leptos::prelude::*;

use crate::api::status::{get_limits, CheckHealth};
use crate::model::Health;

#[component]
pub fn HomePage() -> impl IntoView {
    let limits = Resource::new(|| (), |_| get_limits());
    let check = ServerAction::<CheckHealth>::new();

    view! {
        <section class="hero">
            <h1>"Upload files straight to S3"</h1>
            <p>"Your files go from your browser directly to storage; this server only signs the way."</p>
            <Suspense fallback=|| view! { <p class="limits">"Loading limits…"</p> }>
                {move || limits.get().map(|r| match r {
                    Ok(l) => view! { <p class="limits" data-testid="limits">{format!("Files {}.", l.describe())}</p> }.into_any(),
                    Err(_) => view! { <p class="limits error">"Limits unavailable."</p> }.into_any(),
                })}
            </Suspense>
        </section>
        <section class="status">
            <button
                data-testid="check-health"
                disabled=move || check.pending().get()
                on:click=move |_| { check.dispatch(CheckHealth {}); }
            >
                {move || if check.pending().get() { "Checking…" } else { "Check the service" }}
            </button>
            <div aria-live="polite" data-testid="health">
                {move || check.value().get().map(|r| match r {
                    Ok(h) => health_view(h).into_any(),
                    Err(e) => view! { <p class="error">"The check failed: " {e.to_string()}</p> }.into_any(),
                })}
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
        view! { <li class=class>{name} ": " {text}</li> }
    };
    view! {
        <ul class="health">
            {line("Database", h.database)}
            {line("Bucket", h.bucket)}
        </ul>
    }
}
