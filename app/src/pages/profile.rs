//! The signed-in user's page: the dropzone, the plain form, and their uploads.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::status::get_limits;
use crate::api::uploads::{my_uploads, signed_plain_form};
use crate::api::ApiError;
use crate::components::dropzone::Dropzone;
use crate::components::upload_list::UploadList;
use crate::model::PlainForm;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let uploads = Resource::new(move || version.get(), |_| my_uploads());
    let limits = Resource::new(|| (), |_| get_limits());
    let form = Resource::new(|| (), |_| signed_plain_form());
    let query = use_query_map();
    let uploaded = move || query.read().get("uploaded");
    let error = move || query.read().get("error");

    view! {
        <h1>"Your uploads"</h1>
        {move || uploaded().map(|n| view! { <p class="flash ok" role="status" data-testid="flash">{format!("Uploaded {n}.")}</p> })}
        {move || error().map(|e| view! { <p class="flash error" role="alert" data-testid="flash">{e}</p> })}
        // Limits and the signed form never refetch, so the dropzone (and its queue) stays put
        // while the history below refreshes.
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (limits.await, form.await) {
                    (_, Err(ApiError::Unauthorized)) => view! {
                        <p class="notice">"Please "<a href="/signin">"sign in"</a>" to upload files."</p>
                    }.into_any(),
                    (Ok(l), form) => view! {
                        <Dropzone limits=l on_change=move |_| version.update(|v| *v += 1)/>
                        {form.ok().map(|f| view! { <PlainUpload form=f/> })}
                    }.into_any(),
                    (Err(e), _) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <h2>"History"</h2>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match uploads.await {
                    Ok(rows) => view! { <UploadList rows=rows/> }.into_any(),
                    Err(_) => ().into_any(),
                }
            })}
        </Transition>
    }
}

/// A form the browser submits to S3 by itself: works with JavaScript off.
#[component]
fn PlainUpload(form: PlainForm) -> impl IntoView {
    view! {
        <details class="plain-upload">
            <summary>"No JavaScript? Send one file with a plain form"</summary>
            <form action=form.url method="post" enctype="multipart/form-data" data-testid="plain-form">
                {form.fields.into_iter().map(|(name, value)| view! { <input type="hidden" name=name value=value/> }).collect_view()}
                <input type="file" name="file" required aria-label="File to upload"/>
                <button type="submit">"Upload"</button>
            </form>
        </details>
    }
}
