//! The signed-in user's page: the dropzone (the app's one island), the plain form, and their
//! uploads. Everything but the dropzone is HTML from the server.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::uploads::{my_uploads, signed_plain_form};
use crate::api::ApiError;
use crate::components::dropzone::{Dropzone, DropzoneShell};
use crate::components::upload_list::UploadList;
use crate::i18n::{td, td_string};
use crate::model::PlainForm;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let locale = crate::locale::current();
    let query = use_query_map();
    let uploaded = query.read_untracked().get("uploaded");
    let error = query.read_untracked().get("error");

    view! {
        <h1>{td_string!(locale, pages.profile.title)}</h1>
        {uploaded.map(|n| view! {
            <p class="flash ok" role="status" data-testid="flash">{td_string!(locale, pages.profile.uploaded, name = n)}</p>
        })}
        {error.map(|e| view! { <p class="flash error" role="alert" data-testid="flash">{e}</p> })}
        <Suspense fallback=|| ()>
            {Suspend::new(async move {
                match (signed_plain_form().await, my_uploads().await) {
                    (Err(ApiError::Unauthorized), _) => view! {
                        <p class="notice">
                            {td!(locale, pages.profile.sign_in_first, <link> = |children: ChildrenFn| view! { <a href="/signin">{children()}</a> })}
                        </p>
                    }.into_any(),
                    (Ok(f), rows) => view! {
                        // Without scripts the dropzone could not send anything: the form does.
                        <noscript>
                            <p class="notice">{td_string!(locale, pages.profile.no_script)}</p>
                            <style>".dropzone, .overall, .queue { display: none; }"</style>
                        </noscript>
                        <DropzoneShell/>
                        <Dropzone/>
                        <PlainUpload form=f/>
                        <h2>{td_string!(locale, pages.profile.history)}</h2>
                        {match rows {
                            Ok(rows) => view! { <UploadList rows=rows/> }.into_any(),
                            Err(e) => view! { <p class="error">{e.words(locale)}</p> }.into_any(),
                        }}
                    }.into_any(),
                    (Err(e), _) => view! { <p class="error" role="alert">{e.words(locale)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A form the browser submits to S3 by itself: works with JavaScript off.
#[component]
fn PlainUpload(form: PlainForm) -> impl IntoView {
    let locale = crate::locale::current();
    view! {
        <details class="plain-upload">
            <summary>{td_string!(locale, pages.profile.plain_summary)}</summary>
            <form action=form.url method="post" enctype="multipart/form-data" data-testid="plain-form">
                {form.fields.into_iter().map(|(name, value)| view! { <input type="hidden" name=name value=value/> }).collect_view()}
                <input type="file" name="file" required aria-label=td_string!(locale, pages.profile.plain_file)/>
                <button type="submit">{td_string!(locale, pages.profile.plain_submit)}</button>
            </form>
        </details>
    }
}
