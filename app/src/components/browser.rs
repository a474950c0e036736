//! The browser's primitives for an upload: slices of a File, WebCrypto SHA-256 and XHRs with
//! progress. Only in the WASM; the queue decides what to do, this only does it.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

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

/// base64 SHA-256 of a blob, by WebCrypto in a worker ([`hasher`]), else on the main thread. The
/// blob is read whole, so callers hash at most a part or a file below the multipart threshold at
/// a time.
pub async fn sha256_b64(blob: &Blob, locale: Locale) -> Result<String, String> {
    // The worker could not (it failed to start, say): the main thread does it.
    let from_worker = match hasher::digest(blob) {
        Some(digest) => JsFuture::from(digest).await.ok(),
        None => None,
    };
    let digest = match from_worker {
        Some(digest) => digest,
        None => {
            let cant = |e: JsValue| td_string!(locale, drop.cannot_read, detail = js_words(e, locale));
            let buffer = JsFuture::from(blob.array_buffer()).await.map_err(cant)?;
            let subtle = web_sys::window().ok_or(td_string!(locale, drop.no_window))?.crypto().map_err(cant)?.subtle();
            let digest = subtle.digest_with_str_and_buffer_source("SHA-256", buffer.unchecked_ref()).map_err(cant)?;
            JsFuture::from(digest).await.map_err(cant)?
        }
    };
    Ok(crate::model::base64(&js_sys::Uint8Array::new(&digest).to_vec()))
}

/// Hashing in a worker (`/hash-worker.js`). On the main thread, reading each file and WebCrypto's
/// digest of it (which Chromium computes on the calling thread) took about 3 ms per MiB: with
/// 100 files and three uploads, time the page was not starting the next upload.
pub mod hasher {
    use std::cell::RefCell;

    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{Blob, MessageEvent, Worker};

    /// Digests asked for and not yet answered: each one's id and its promise's settlers.
    type Waiting = Vec<(u32, js_sys::Function, js_sys::Function)>;

    struct Hasher {
        worker: Worker,
        next: u32,
        _answers: Closure<dyn FnMut(MessageEvent)>,
        _failed: Closure<dyn FnMut(web_sys::Event)>,
    }

    thread_local! {
        /// `None`: not started yet; `Some(None)`: it cannot run here, the main thread hashes.
        static HASHER: RefCell<Option<Option<Hasher>>> = const { RefCell::new(None) };
        static WAITING: RefCell<Waiting> = const { RefCell::new(Vec::new()) };
    }

    /// Settles every waiting digest with an error and hashes on the main thread from now on.
    fn give_up() {
        HASHER.with(|h| *h.borrow_mut() = Some(None));
        for (_, _, reject) in WAITING.with(|w| std::mem::take(&mut *w.borrow_mut())) {
            let _ = reject.call0(&JsValue::NULL);
        }
    }

    fn start() -> Option<Hasher> {
        let worker = Worker::new("/hash-worker.js").ok()?;
        let answers = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| {
            let answer = js_sys::Array::from(&e.data());
            let Some(id) = answer.get(0).as_f64().map(|id| id as u32) else { return };
            let settlers = WAITING.with(|w| {
                let mut w = w.borrow_mut();
                let at = w.iter().position(|(i, _, _)| *i == id)?;
                Some(w.swap_remove(at))
            });
            if let Some((_, resolve, reject)) = settlers {
                let digest = answer.get(1);
                let _ = if digest.is_null() {
                    reject.call1(&JsValue::NULL, &answer.get(2))
                } else {
                    resolve.call1(&JsValue::NULL, &digest)
                };
            }
        });
        // The script did not load, or the worker died: nothing it was asked will be answered.
        let failed = Closure::<dyn FnMut(web_sys::Event)>::new(|_| give_up());
        worker.set_onmessage(Some(answers.as_ref().unchecked_ref()));
        worker.set_onerror(Some(failed.as_ref().unchecked_ref()));
        Some(Hasher { worker, next: 0, _answers: answers, _failed: failed })
    }

    /// Starts the worker ahead of the first file: loading its script took part of the time
    /// between the first drop and the first upload.
    pub fn warm() {
        HASHER.with(|h| {
            h.borrow_mut().get_or_insert_with(start);
        });
    }

    /// A promise of `blob`'s SHA-256 (an ArrayBuffer) from the worker; `None` where no worker runs.
    pub fn digest(blob: &Blob) -> Option<js_sys::Promise> {
        HASHER.with(|h| {
            let mut h = h.borrow_mut();
            let hasher = h.get_or_insert_with(start).as_mut()?;
            let id = hasher.next;
            hasher.next = hasher.next.wrapping_add(1);
            let message = js_sys::Array::of2(&JsValue::from(id), blob);
            hasher.worker.post_message(&message).ok()?;
            Some(js_sys::Promise::new(&mut |resolve, reject| {
                WAITING.with(|w| w.borrow_mut().push((id, resolve, reject)));
            }))
        })
    }
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

/// A request that has sent no byte and had no answer for this long is given up: aborted, so that
/// it ends as a network failure (status 0), which the queue retries. Without it a request the
/// storage never answered (a dropped connection the browser did not notice, a proxy that holds
/// it) kept its file at 100 % forever. The same rule as Uppy's progress timeout, with its 30 s.
pub const STALL_MS: i64 = 30_000;
/// How often a running request is looked at for [`STALL_MS`].
const STALL_CHECK_MS: i64 = 5_000;

/// Starts a request; `progress` gets the bytes of the body sent so far and the body's size. The
/// returned future ends when the request does, however it ends; abort it through the XHR. A
/// request that stalls ([`STALL_MS`]) is aborted here and ends with status 0. A request that
/// cannot start is told in `locale` where the browser gives no words.
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
    let heard = Rc::new(Cell::new(now_ms()));
    let heard_at = heard.clone();
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
        heard_at.set(now_ms());
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
    watch_for_stall(xhr.clone(), heard);
    let request = xhr.clone();
    Ok((xhr, async move {
        let _ = JsFuture::from(finished).await;
        drop(on_progress);
        (request.status().unwrap_or(0), request.response_text().ok().flatten().unwrap_or_default())
    }))
}

/// Aborts `xhr` once nothing was heard of it (`heard`: its last progress, or its start) for
/// [`STALL_MS`]; stops looking once it has ended. After an abort the XHR is UNSENT, after an
/// answer DONE.
fn watch_for_stall(xhr: XmlHttpRequest, heard: Rc<Cell<i64>>) {
    after(STALL_CHECK_MS, move || {
        if matches!(xhr.ready_state(), XmlHttpRequest::DONE | XmlHttpRequest::UNSENT) {
            return;
        }
        if now_ms() - heard.get() < STALL_MS {
            watch_for_stall(xhr, heard);
        } else {
            let _ = xhr.abort();
        }
    });
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

/// Runs `f` before the browser next paints the page (never while the page is hidden: nothing
/// needs painting then).
pub fn next_frame(f: impl FnOnce() + 'static) {
    if let Some(w) = web_sys::window() {
        let cb = Closure::once_into_js(Box::new(f) as Box<dyn FnOnce()>);
        let _ = w.request_animation_frame(cb.unchecked_ref());
    }
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Whether the browser believes it is online now.
pub fn online() -> bool {
    web_sys::window().map(|w| w.navigator().on_line()).unwrap_or(true)
}
