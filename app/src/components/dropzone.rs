//! The dropzone: drop or pick files; each gets its own ticket, goes straight to S3 with progress,
//! and is confirmed by the server. At most [`MAX_IN_FLIGHT`] at once; cancel and retry per file.
//!
//! The File objects and their requests live only in the browser (see `client`); the reactive
//! state holds plain values so the same view renders on the server.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::uploads::{cancel_upload, confirm_upload, report_upload_failure, request_upload};
use crate::model::{human_size, Limits, UploadTicket};

pub const MAX_IN_FLIGHT: usize = 3;
/// Re-read the upload history after this many finished files (and whenever the queue is idle).
const REFRESH_EVERY: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Refused in the browser before anything was sent.
    Refused,
    Queued,
    Signing,
    /// Signed and waiting for one of the upload places.
    Ready,
    Uploading,
    Confirming,
    Done,
    Failed,
    Cancelled,
}

impl Phase {
    fn word(self) -> &'static str {
        match self {
            Phase::Refused => "refused",
            Phase::Queued => "waiting",
            Phase::Signing => "preparing",
            Phase::Ready => "ready",
            Phase::Uploading => "uploading",
            Phase::Confirming => "checking",
            Phase::Done => "completed",
            Phase::Failed => "failed",
            Phase::Cancelled => "cancelled",
        }
    }

    /// Still on its way (the history is re-read once none is).
    fn active(self) -> bool {
        matches!(self, Phase::Signing | Phase::Ready | Phase::Uploading | Phase::Confirming)
    }
}

/// The reason the browser refuses a file before asking the server; the same rules the server
/// applies and the signed policy enforces.
pub fn refusal(limits: &Limits, size: u64, content_type: &str) -> Option<String> {
    let ct = if content_type.is_empty() { "application/octet-stream" } else { content_type };
    if size == 0 {
        Some("The file is empty.".into())
    } else if size > limits.max_bytes {
        Some(format!("The file is {}; the limit is {}.", human_size(size), human_size(limits.max_bytes)))
    } else if !limits.allows_type(ct) {
        Some(format!("Files of type {ct} are not accepted (allowed: {}).", limits.allowed_types.join(", ")))
    } else {
        None
    }
}

#[derive(Clone, Debug)]
struct Item {
    id: usize,
    name: String,
    size: u64,
    content_type: String,
    phase: RwSignal<Phase>,
    sent: RwSignal<u64>,
    message: RwSignal<Option<String>>,
    ticket: RwSignal<Option<UploadTicket>>,
    /// This computer's clock when the ticket arrived, to tell when a waiting ticket grows old.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    ticket_received_ms: RwSignal<i64>,
}

#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Dz {
    items: RwSignal<Vec<Item>>,
    /// Minutes this computer's clock is off the server's, when that is enough to matter.
    clock_off_minutes: RwSignal<Option<i64>>,
    next_id: StoredValue<usize>,
    limits: StoredValue<Limits>,
    on_change: Callback<()>,
}

impl Dz {
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn add(&self, name: String, size: u64, content_type: String) -> usize {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        let refused = refusal(&self.limits.get_value(), size, &content_type);
        let item = Item {
            id,
            name,
            size,
            content_type,
            phase: RwSignal::new(if refused.is_some() { Phase::Refused } else { Phase::Queued }),
            sent: RwSignal::new(0),
            message: RwSignal::new(refused),
            ticket: RwSignal::new(None),
            ticket_received_ms: RwSignal::new(0),
        };
        self.items.update(|v| v.push(item));
        id
    }

    fn count(&self, items: &[Item], phases: &[Phase]) -> usize {
        items.iter().filter(|i| phases.contains(&i.phase.get_untracked())).count()
    }

    /// Keeps [`MAX_IN_FLIGHT`] files sending bytes to S3 and as many tickets signed ahead, so a
    /// place never waits for our server.
    fn pump(self) {
        let items = self.items.get_untracked();
        let uploading = self.count(&items, &[Phase::Uploading]);
        for item in items.iter().filter(|i| i.phase.get_untracked() == Phase::Ready).take(MAX_IN_FLIGHT.saturating_sub(uploading)) {
            item.phase.set(Phase::Uploading);
            let item = item.clone();
            spawn_local(async move {
                let outcome = upload(self, &item).await;
                self.finish(&item, outcome);
            });
        }
        let ahead = self.count(&items, &[Phase::Signing, Phase::Ready]);
        for item in items.iter().filter(|i| i.phase.get_untracked() == Phase::Queued).take(MAX_IN_FLIGHT.saturating_sub(ahead)) {
            item.phase.set(Phase::Signing);
            let item = item.clone();
            spawn_local(async move {
                match sign(self, &item).await {
                    Ok(()) => self.pump(),
                    Err(e) => self.finish(&item, Err(e)),
                }
            });
        }
    }

    /// Records how a file ended, starts the next ones, and now and then re-reads the history.
    fn finish(self, item: &Item, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => item.phase.set(Phase::Done),
            Err(_) if item.phase.get_untracked() == Phase::Cancelled => {}
            Err(message) => {
                item.message.set(Some(message));
                item.phase.set(Phase::Failed);
            }
        }
        self.pump();
        // Every few files and when the queue is done, not after each one: a large batch would
        // otherwise re-read it a hundred times.
        let items = self.items.get_untracked();
        let idle = !items.iter().any(|i| i.phase.get_untracked().active());
        let finished = self.count(&items, &[Phase::Done, Phase::Failed]);
        if idle || finished % REFRESH_EVERY == 0 {
            self.on_change.run(());
        }
    }

    fn cancel(self, item: &Item) {
        let was = item.phase.get_untracked();
        if matches!(was, Phase::Queued | Phase::Signing | Phase::Ready | Phase::Uploading) {
            item.phase.set(Phase::Cancelled);
            item.message.set(None);
            #[cfg(feature = "hydrate")]
            client::abort(item.id);
            // A signed file waiting for a place has no task to notice: tell the server here.
            if let (Phase::Ready, Some(t)) = (was, item.ticket.get_untracked()) {
                spawn_local(async move {
                    let _ = cancel_upload(t.upload_id).await;
                });
            }
            self.pump();
        }
    }

    fn retry(self, item: &Item) {
        if matches!(item.phase.get_untracked(), Phase::Failed | Phase::Cancelled) {
            item.sent.set(0);
            item.message.set(None);
            item.ticket.set(None);
            item.phase.set(Phase::Queued);
            self.pump();
        }
    }
}

fn words(e: ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m,
        other => format!("The server could not be reached ({other})."),
    }
}

/// Asks our server for the file's ticket; the file is then Ready for a place.
async fn sign(dz: Dz, item: &Item) -> Result<(), String> {
    let ticket = request_upload(item.name.clone(), item.size, item.content_type.clone()).await.map_err(words)?;
    #[cfg(feature = "hydrate")]
    dz.clock_off_minutes.set(clock_warning(js_sys::Date::now() as i64, ticket.server_time));
    #[cfg(not(feature = "hydrate"))]
    let _ = dz;
    if item.phase.get_untracked() == Phase::Cancelled {
        let _ = cancel_upload(ticket.upload_id).await;
        return Err("cancelled".into());
    }
    #[cfg(feature = "hydrate")]
    item.ticket_received_ms.set(js_sys::Date::now() as i64);
    item.ticket.set(Some(ticket));
    item.phase.set(Phase::Ready);
    Ok(())
}

/// POSTs the file to S3 with its ticket, then has our server confirm it. `Err` carries the words
/// to show.
async fn upload(dz: Dz, item: &Item) -> Result<(), String> {
    #[cfg_attr(not(feature = "hydrate"), allow(unused_mut))]
    let mut ticket = item.ticket.get_untracked().ok_or("The upload lost its ticket; please retry.")?;
    #[cfg(feature = "hydrate")]
    if ticket_is_stale(&ticket, item.ticket_received_ms.get_untracked(), js_sys::Date::now() as i64) {
        // It waited for a place so long that S3 might refuse it mid-way: sign again.
        let _ = cancel_upload(ticket.upload_id.clone()).await;
        sign(dz, item).await?;
        item.phase.set(Phase::Uploading);
        ticket = item.ticket.get_untracked().ok_or("The upload lost its ticket; please retry.")?;
    }
    let id = ticket.upload_id.clone();
    #[cfg(feature = "hydrate")]
    let (status, body) = client::post(item.id, &ticket, item.size, item.sent).await?;
    #[cfg(not(feature = "hydrate"))]
    let (status, body): (u16, String) = (0, String::new());
    if item.phase.get_untracked() == Phase::Cancelled {
        let _ = cancel_upload(id).await;
        return Err("cancelled".into());
    }
    if !(200..300).contains(&status) {
        let reason = s3_refusal(status, &body);
        let _ = report_upload_failure(id, reason.clone()).await;
        return Err(reason);
    }
    item.sent.set(item.size);
    item.phase.set(Phase::Confirming);
    // The bytes are in: the next file may start while this one is checked.
    dz.pump();
    confirm_upload(id).await.map_err(words)?;
    Ok(())
}

/// Less than a minute of validity left (by the server's clock, measured with ours since arrival).
pub fn ticket_is_stale(ticket: &UploadTicket, received_local_ms: i64, now_local_ms: i64) -> bool {
    let valid_for = ticket.expires_at - ticket.server_time;
    now_local_ms - received_local_ms > valid_for - 60_000
}

/// Minutes between this computer's clock and the server's, when more than five: signatures are
/// made on the server's time, so a far-off local clock is worth telling the user about.
pub fn clock_warning(local_ms: i64, server_ms: i64) -> Option<i64> {
    let minutes = (local_ms - server_ms) / 60_000;
    (minutes.abs() > 5).then_some(minutes)
}

/// S3's answer in words: its XML `<Message>` and `<Code>`, or what a status 0 means.
pub fn s3_refusal(status: u16, body: &str) -> String {
    if status == 0 {
        return "The upload could not reach the storage (network error, or the bucket's CORS rule does not allow this site).".into();
    }
    match (crate::xml::first(body, "Message"), crate::xml::first(body, "Code")) {
        (Some(m), Some(c)) if !m.is_empty() => format!("The storage refused the file: {m} ({c})."),
        (_, Some(c)) => format!("The storage refused the file ({c})."),
        _ => format!("The storage refused the file (HTTP {status})."),
    }
}

#[component]
pub fn Dropzone(limits: Limits, #[prop(into)] on_change: Callback<()>) -> impl IntoView {
    let dz = Dz {
        items: RwSignal::new(vec![]),
        clock_off_minutes: RwSignal::new(None),
        next_id: StoredValue::new(0),
        limits: StoredValue::new(limits.clone()),
        on_change,
    };
    let hover = RwSignal::new(false);

    let totals = Memo::new(move |_| {
        let items = dz.items.get();
        let counted: Vec<&Item> =
            items.iter().filter(|i| !matches!(i.phase.get(), Phase::Refused | Phase::Cancelled)).collect();
        let total: u64 = counted.iter().map(|i| i.size).sum();
        let sent: u64 = counted.iter().map(|i| i.sent.get().min(i.size)).sum();
        let done = counted.iter().filter(|i| i.phase.get() == Phase::Done).count();
        (sent, total, done, counted.len())
    });
    let announcement = move || {
        let (_, _, done, n) = totals.get();
        if n == 0 { String::new() } else { format!("{done} of {n} files uploaded.") }
    };

    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        hover.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(files) = ev.data_transfer().and_then(|d| d.files()) {
            client::add_files(dz, files);
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                if let Some(files) = input.files() {
                    client::add_files(dz, files);
                }
                input.set_value("");
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };

    view! {
        <div
            class="dropzone"
            class:hover=move || hover.get()
            data-testid="dropzone"
            on:dragenter=move |ev| { ev.prevent_default(); hover.set(true); }
            on:dragover=move |ev| { ev.prevent_default(); hover.set(true); }
            on:dragleave=move |_| hover.set(false)
            on:drop=on_drop
        >
            <input type="file" multiple id="file-input" class="visually-hidden" on:change=on_pick/>
            <label for="file-input" class="drop-target">
                <strong>"Drop files here"</strong>" or "<span class="pick">"choose files"</span>
                <span class="hint">{format!("Files {}.", limits.describe())}</span>
            </label>
        </div>
        <Show when=move || { totals.get().3 > 0 }>
            <div class="overall" data-testid="overall">
                <progress
                    aria-label="All files"
                    max=move || totals.get().1.max(1)
                    value=move || totals.get().0
                ></progress>
                <span>{move || { let (s, t, _, _) = totals.get(); format!("{} of {}", human_size(s), human_size(t)) }}</span>
            </div>
        </Show>
        {move || dz.clock_off_minutes.get().map(|m| view! {
            <p class="flash error" role="alert">{format!(
                "This computer's clock is {} minutes {} the server's; if uploads fail, set the clock right.",
                m.abs(), if m > 0 { "ahead of" } else { "behind" }
            )}</p>
        })}
        <p class="visually-hidden" aria-live="polite" data-testid="announce">{announcement}</p>
        <ul class="queue" data-testid="queue">
            <For each=move || dz.items.get() key=|i| i.id let:item>
                <QueueRow item=item.clone() dz=dz/>
            </For>
        </ul>
    }
}

#[component]
fn QueueRow(item: Item, dz: Dz) -> impl IntoView {
    let phase = item.phase;
    let (size, sent, message) = (item.size, item.sent, item.message);
    let (for_cancel, for_retry) = (item.clone(), item.clone());
    view! {
        <li class="file" data-phase=move || phase.get().word() data-name=item.name.clone()>
            <span class="name">{item.name.clone()}</span>
            <span class="size">{human_size(item.size)}</span>
            <progress aria-label=format!("Upload of {}", item.name) max=size.max(1) value=move || sent.get().min(size)></progress>
            <span class="phase" data-testid="phase">{move || phase.get().word()}</span>
            <Show when=move || matches!(phase.get(), Phase::Queued | Phase::Signing | Phase::Ready | Phase::Uploading)>
                <button type="button" class="small" on:click={let i = for_cancel.clone(); move |_| dz.cancel(&i)}>"Cancel"</button>
            </Show>
            <Show when=move || matches!(phase.get(), Phase::Failed | Phase::Cancelled)>
                <button type="button" class="small" on:click={let i = for_retry.clone(); move |_| dz.retry(&i)}>"Retry"</button>
            </Show>
            <span class="message" role="status">{move || message.get()}</span>
        </li>
    }
}

/// The browser side: File objects and XHRs, which exist only in the WASM.
#[cfg(feature = "hydrate")]
mod client {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{File, FileList, FormData, ProgressEvent, XmlHttpRequest};

    use super::Dz;
    use crate::model::UploadTicket;

    thread_local! {
        static FILES: RefCell<HashMap<usize, File>> = RefCell::new(HashMap::new());
        static REQUESTS: RefCell<HashMap<usize, XmlHttpRequest>> = RefCell::new(HashMap::new());
    }

    pub fn add_files(dz: Dz, list: FileList) {
        for i in 0..list.length() {
            let Some(file) = list.get(i) else { continue };
            let id = dz.add(file.name(), file.size() as u64, file.type_());
            FILES.with(|f| f.borrow_mut().insert(id, file));
        }
        dz.pump();
    }

    pub fn abort(id: usize) {
        if let Some(xhr) = REQUESTS.with(|r| r.borrow().get(&id).cloned()) {
            let _ = xhr.abort();
        }
    }

    fn js(e: JsValue) -> String {
        format!("The browser could not send the file ({e:?}).")
    }

    /// POSTs the ticket's fields and then the file (last) to S3. The File is streamed by the
    /// browser, never read into memory. Returns S3's status (0: network error or aborted) and body.
    pub async fn post(id: usize, ticket: &UploadTicket, size: u64, sent: RwSignal<u64>) -> Result<(u16, String), String> {
        let file = FILES.with(|f| f.borrow().get(&id).cloned()).ok_or("The file is no longer available; please add it again.")?;
        let form = FormData::new().map_err(js)?;
        for (name, value) in &ticket.fields {
            form.append_with_str(name, value).map_err(js)?;
        }
        form.append_with_blob_and_filename("file", &file, &file.name()).map_err(js)?;
        let xhr = XmlHttpRequest::new().map_err(js)?;
        xhr.open("POST", &ticket.url).map_err(js)?;
        let progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
            if e.length_computable() && e.total() > 0.0 {
                // The body also carries the form fields: scale to the file's size.
                sent.set(((e.loaded() / e.total()) * size as f64) as u64);
            }
        });
        xhr.upload().map_err(js)?.set_onprogress(Some(progress.as_ref().unchecked_ref()));
        let finished = js_sys::Promise::new(&mut |resolve, _reject| xhr.set_onloadend(Some(&resolve)));
        REQUESTS.with(|r| r.borrow_mut().insert(id, xhr.clone()));
        let sent_ok = xhr.send_with_opt_form_data(Some(&form));
        if sent_ok.is_ok() {
            let _ = wasm_bindgen_futures::JsFuture::from(finished).await;
        }
        REQUESTS.with(|r| r.borrow_mut().remove(&id));
        drop(progress);
        sent_ok.map_err(js)?;
        Ok((xhr.status().unwrap_or(0), xhr.response_text().ok().flatten().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_refuses_what_the_server_would() {
        let l = Limits { max_bytes: 10, allowed_types: vec!["image/*".into()] };
        assert_eq!(refusal(&l, 5, "image/png"), None);
        assert!(refusal(&l, 11, "image/png").unwrap().contains("limit is 10 bytes"));
        assert!(refusal(&l, 5, "text/plain").unwrap().contains("text/plain"));
        assert!(refusal(&l, 5, "").unwrap().contains("application/octet-stream"));
        assert!(refusal(&l, 0, "image/png").unwrap().contains("empty"));
    }

    #[test]
    fn a_ticket_that_waited_until_its_last_minute_is_signed_again() {
        let t = UploadTicket {
            upload_id: "u".into(),
            object_key: "k".into(),
            url: "http://s3".into(),
            fields: vec![],
            expires_at: 1_000_000 + 900_000,
            server_time: 1_000_000,
        };
        // Our clock may differ from the server's; only the time since arrival counts.
        assert!(!ticket_is_stale(&t, 5_000, 5_000 + 839_000));
        assert!(ticket_is_stale(&t, 5_000, 5_000 + 841_000));
    }

    #[test]
    fn a_local_clock_more_than_five_minutes_off_is_reported() {
        assert_eq!(clock_warning(1_000_000, 1_000_000 + 4 * 60_000), None);
        assert_eq!(clock_warning(1_000_000 + 10 * 60_000, 1_000_000), Some(10));
        assert_eq!(clock_warning(1_000_000, 1_000_000 + 7 * 60_000), Some(-7));
    }

    #[test]
    fn s3_errors_are_put_in_words() {
        let body = "<Error><Code>InvalidRequest</Code><Message>File size does not match policy</Message></Error>";
        assert_eq!(s3_refusal(400, body), "The storage refused the file: File size does not match policy (InvalidRequest).");
        assert!(s3_refusal(0, "").contains("CORS"));
        assert_eq!(s3_refusal(500, "oops"), "The storage refused the file (HTTP 500).");
    }
}
