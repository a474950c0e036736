//! The browser's primitives for an upload: slices of a File, WebCrypto SHA-256 and XHRs with
//! progress. Only in the WASM; the queue decides what to do, this only does it.

use std::future::Future;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, FormData, ProgressEvent, XmlHttpRequest};

use crate::i18n::{td_string, Locale};

/// The browser's own words for what went wrong (in its language), or ours in `locale`.
fn js_words(e: JsValue, locale: Locale) -> String {
    e.as_string()
        .or_else(|| e.dyn_ref::<js_sys::Error>().map(|err| String::from(err.message())))
        .unwrap_or_else(|| td_string!(locale, drop.unknown_error).to_owned())
}

/// `[start, end)` of a file, without reading it: the browser reads it only when it sends or
/// hashes it.
pub fn slice(blob: &Blob, start: u64, end: u64, locale: Locale) -> Result<Blob, String> {
    blob.slice_with_f64_and_f64(start as f64, end as f64).map_err(|e| js_words(e, locale))
}

/// base64 SHA-256 of a blob, by WebCrypto (off the main thread, in native code). The blob is read
/// whole, so callers hash at most a part or a file below the multipart threshold at a time.
pub async fn sha256_b64(blob: &Blob, locale: Locale) -> Result<String, String> {
    let cant = |e: JsValue| td_string!(locale, drop.cannot_read, detail = js_words(e, locale));
    let buffer = JsFuture::from(blob.array_buffer()).await.map_err(cant)?;
    let subtle = web_sys::window().ok_or(td_string!(locale, drop.no_window))?.crypto().map_err(cant)?.subtle();
    let digest = subtle.digest_with_str_and_buffer_source("SHA-256", buffer.unchecked_ref()).map_err(cant)?;
    let digest = JsFuture::from(digest).await.map_err(cant)?;
    Ok(crate::model::base64(&js_sys::Uint8Array::new(&digest).to_vec()))
}

/// What goes in the request body.
pub enum Body {
    /// A form POST: the fields in order, the file last.
    Form { fields: Vec<(String, String)>, file: Blob, file_name: String },
    /// The bytes themselves (a PUT of a file or a part).
    Blob(Blob),
}

/// S3's status (0: network error or aborted) and body.
pub type Answer = (u16, String);

/// Starts a request; `progress` gets the bytes of the body sent so far and the body's size. The
/// returned future ends when the request does, however it ends; abort it through the XHR. A
/// request that cannot start is told in `locale` where the browser gives no words.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Body,
    mut progress: Box<dyn FnMut(f64, f64)>,
    locale: Locale,
) -> Result<(XmlHttpRequest, impl Future<Output = Answer>), String> {
    let js_words = |e: JsValue| js_words(e, locale);
    let xhr = XmlHttpRequest::new().map_err(js_words)?;
    xhr.open(method, url).map_err(js_words)?;
    for (name, value) in headers {
        xhr.set_request_header(name, value).map_err(js_words)?;
    }
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
        if e.length_computable() && e.total() > 0.0 {
            progress(e.loaded(), e.total());
        }
    });
    xhr.upload().map_err(js_words)?.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    let finished = js_sys::Promise::new(&mut |resolve, _reject| xhr.set_onloadend(Some(&resolve)));
    let sent = match body {
        Body::Form { fields, file, file_name } => {
            let form = FormData::new().map_err(js_words)?;
            for (name, value) in &fields {
                form.append_with_str(name, value).map_err(js_words)?;
            }
            form.append_with_blob_and_filename("file", &file, &file_name).map_err(js_words)?;
            xhr.send_with_opt_form_data(Some(&form))
        }
        Body::Blob(blob) => xhr.send_with_opt_blob(Some(&blob)),
    };
    sent.map_err(js_words)?;
    let request = xhr.clone();
    Ok((xhr, async move {
        let _ = JsFuture::from(finished).await;
        drop(on_progress);
        (request.status().unwrap_or(0), request.response_text().ok().flatten().unwrap_or_default())
    }))
}

/// Runs `f` after `ms` milliseconds.
pub fn after(ms: i64, f: impl FnOnce() + 'static) {
    after_boxed(ms, Box::new(f));
}

/// One closure type for every timer: each closure type handed to the browser is its own glue
/// code in the page.
fn after_boxed(ms: i64, f: Box<dyn FnOnce()>) {
    if let Some(w) = web_sys::window() {
        let cb = Closure::once_into_js(f);
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
            cb.unchecked_ref(),
            ms.clamp(0, i32::MAX as i64) as i32,
        );
    }
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Whether the browser believes it is online now.
pub fn online() -> bool {
    web_sys::window().map(|w| w.navigator().on_line()).unwrap_or(true)
}
