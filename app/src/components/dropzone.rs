//! The dropzone: drop or pick files and watch them go straight to S3.
//!
//! Three layers: the queue ([`crate::upload_queue`], plain Rust) decides everything; the runtime
//! below (WASM only) turns its commands into hashing, XHRs and server calls and feeds their
//! outcomes back; the view renders the queue's [`FileView`]s and forwards clicks. The state the
//! view reads is plain values, so the same markup renders on the server.

use leptos::prelude::*;

use crate::model::{human_size, Limits};
use crate::upload_queue::{Event, FileId, FileView, Phase, Totals};

/// Minutes this computer's clock is off the server's, when more than five: signatures are made on
/// the server's time, so a far-off local clock is worth telling the user about.
pub fn clock_warning(local_ms: i64, server_ms: i64) -> Option<i64> {
    let minutes = (local_ms - server_ms) / 60_000;
    (minutes.abs() > 5).then_some(minutes)
}

/// What the view reads; the runtime writes it after each batch of events.
#[derive(Clone, Copy)]
struct Board {
    ids: RwSignal<Vec<FileId>>,
    rows: StoredValue<Vec<(FileId, RwSignal<FileView>)>>,
    totals: RwSignal<Totals>,
    clock_off_minutes: RwSignal<Option<i64>>,
}

impl Board {
    fn row(&self, id: FileId) -> Option<RwSignal<FileView>> {
        self.rows.with_value(|rows| rows.iter().find(|(i, _)| *i == id).map(|(_, s)| *s))
    }

    /// Writes only what changed, so a progress event re-renders one row's numbers, not the list.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn show(&self, owner: &Owner, views: Vec<FileView>, totals: Totals) {
        let ids: Vec<FileId> = views.iter().map(|v| v.id).collect();
        for view in views {
            match self.row(view.id) {
                Some(signal) => {
                    if signal.with_untracked(|old| *old != view) {
                        signal.set(view);
                    }
                }
                None => {
                    let id = view.id;
                    let signal = owner.with(|| RwSignal::new(view));
                    self.rows.update_value(|rows| rows.push((id, signal)));
                }
            }
        }
        self.rows.update_value(|rows| rows.retain(|(id, _)| ids.contains(id)));
        if self.ids.with_untracked(|old| *old != ids) {
            self.ids.set(ids);
        }
        if self.totals.get_untracked() != totals {
            self.totals.set(totals);
        }
    }
}

/// Sends an event to the queue (in the browser; on the server nothing happens).
fn send_event(event: Event) {
    #[cfg(feature = "hydrate")]
    runtime::dispatch(runtime::Input::Event(event));
    #[cfg(not(feature = "hydrate"))]
    let _ = event;
}

#[component]
pub fn Dropzone(limits: Limits, #[prop(into)] on_change: Callback<()>) -> impl IntoView {
    let board = Board {
        ids: RwSignal::new(vec![]),
        rows: StoredValue::new(vec![]),
        totals: RwSignal::new(Totals::default()),
        clock_off_minutes: RwSignal::new(None),
    };
    let hover = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    runtime::start(limits.clone(), board, on_change);
    #[cfg(not(feature = "hydrate"))]
    let _ = on_change;

    let announcement = move || {
        let t = board.totals.get();
        if t.counted_files == 0 {
            String::new()
        } else {
            format!("{} of {} files uploaded.", t.done_files, t.counted_files)
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        hover.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(files) = ev.data_transfer().and_then(|d| d.files()) {
            runtime::add_files(files);
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                if let Some(files) = input.files() {
                    runtime::add_files(files);
                }
                input.set_value("");
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let any_finished = move || board.totals.get().done_files > 0;
    let any_active = move || {
        board.ids.track();
        board.rows.with_value(|rows| rows.iter().any(|(_, r)| r.with(|v| v.can_cancel)))
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
        {view! { <Show when=move || { board.totals.get().counted_files > 0 }>
            <div class="overall" data-testid="overall">
                <progress
                    aria-label="All files"
                    max=move || board.totals.get().total.max(1)
                    value=move || board.totals.get().sent
                ></progress>
                <span>{move || { let t = board.totals.get(); format!("{} of {}", human_size(t.sent), human_size(t.total)) }}</span>
                <Show when=any_active>
                    <button type="button" class="small" on:click=move |_| send_event(Event::CancelAll)>"Cancel all"</button>
                </Show>
                <Show when=any_finished>
                    <button type="button" class="small" on:click=move |_| send_event(Event::ClearFinished)>"Clear finished"</button>
                </Show>
            </div>
        </Show> }.into_any()}
        {move || board.clock_off_minutes.get().map(|m| view! {
            <p class="flash error" role="alert">{format!(
                "This computer's clock is {} minutes {} the server's; if uploads fail, set the clock right.",
                m.abs(), if m > 0 { "ahead of" } else { "behind" }
            )}</p>
        })}
        <p class="visually-hidden" aria-live="polite" data-testid="announce">{announcement}</p>
        <ul class="queue" data-testid="queue">
            <For each=move || board.ids.get() key=|id| *id let:id>
                {board.row(id).map(|row| view! { <QueueRow row=row/> })}
            </For>
        </ul>
    }
}

#[component]
fn QueueRow(row: RwSignal<FileView>) -> impl IntoView {
    let (id, name, size) = row.with_untracked(|v| (v.id, v.name.clone(), v.size));
    let phase = move || row.with(|v| v.phase);
    let parts = move || row.with(|v| (v.parts_total > 0).then(|| format!("{}/{}", v.parts_done, v.parts_total)));
    let percent = move || {
        row.with(|v| match v.phase {
            Phase::Uploading | Phase::Paused if v.size > 0 => format!("{}%", v.sent * 100 / v.size),
            _ => String::new(),
        })
    };
    let button = move |label: &'static str, shown: fn(&FileView) -> bool, event: fn(FileId) -> Event| {
        view! {
            <Show when=move || row.with(shown)>
                <button type="button" class="small" on:click=move |_| send_event(event(id))>{label}</button>
            </Show>
        }
    };
    view! {
        <li
            class="file"
            data-phase=move || phase().word()
            data-name=name.clone()
            data-parts=parts
            data-resumed=move || row.with(|v| (v.parts_total > 0).then_some(if v.resumed { "true" } else { "false" }))
        >
            <span class="name">{name.clone()}</span>
            <span class="size">{human_size(size)}</span>
            <progress aria-label=format!("Upload of {name}") max=size.max(1) value=move || row.with(|v| v.sent.min(size))></progress>
            <span class="phase" data-testid="phase">{move || phase().word()}</span>
            <span class="percent">{percent}</span>
            <span class="actions">
                {button("Pause", |v| v.can_pause, |file| Event::Pause { file })}
                {button("Resume", |v| v.can_resume, |file| Event::Resume { file })}
                {button("Cancel", |v| v.can_cancel, |file| Event::Cancel { file })}
                {button("Retry", |v| v.can_retry, |file| Event::Retry { file })}
                {button("Remove", |v| v.can_remove, |file| Event::Remove { file })}
            </span>
            <span class="message" role="status">{move || row.with(|v| v.message.clone())}</span>
        </li>
    }
    // Erased: the row's full type nests deep enough to exhaust the compiler's recursion limit.
    .into_any()
}

/// The browser side: File objects, requests and timers, driven by the queue's commands.
#[cfg(feature = "hydrate")]
mod runtime {
    use std::cell::{Cell, RefCell};
    use std::collections::{HashMap, VecDeque};

    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use web_sys::{File, FileList, XmlHttpRequest};

    use super::Board;
    use crate::api::uploads::{
        cancel_upload, complete_upload, confirm_upload, report_upload_failure, request_upload, sign_upload_parts,
    };
    use crate::components::browser::{self, Body};
    use crate::model::{Limits, PartChecksum, SendPlan};
    use crate::upload_queue::{Command, Event, FileId, Queue, QueueConfig};

    /// Files prepared ahead: each now waits for its SHA-256 before its ticket, so keep twice the
    /// upload places ready (measured with `scripts/bench-uploads`).
    const SIGN_AHEAD: usize = 6;
    /// Re-read the upload history after this many finished files (and whenever the queue is idle).
    const REFRESH_EVERY: usize = 10;

    pub enum Input {
        Add(File),
        Event(Event),
    }

    struct Runtime {
        queue: Queue,
        board: Board,
        owner: Owner,
        on_change: Callback<()>,
        files: HashMap<FileId, File>,
        /// Byte transfers in flight, per file, with the generation they belong to.
        requests: HashMap<FileId, Vec<XmlHttpRequest>>,
        /// Bumped on abort: outcomes of an older generation are not reported (the queue's rule).
        generation: HashMap<FileId, u64>,
        /// Hashing reads whole parts (or small files) into memory: one at a time, in order.
        hash_lane: VecDeque<Command>,
        hashing: bool,
        finished_since_refresh: usize,
    }

    thread_local! {
        static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
        static INBOX: RefCell<VecDeque<Input>> = const { RefCell::new(VecDeque::new()) };
        static BUSY: Cell<bool> = const { Cell::new(false) };
    }

    pub fn start(limits: Limits, board: Board, on_change: Callback<()>) {
        let owner = Owner::current().unwrap_or_default();
        let seed = (js_sys::Math::random() * u64::MAX as f64) as u64;
        RUNTIME.with(|r| {
            *r.borrow_mut() = Some(Runtime {
                queue: Queue::new(QueueConfig { sign_ahead: SIGN_AHEAD, ..QueueConfig::new(limits) }, seed),
                board,
                owner,
                on_change,
                files: HashMap::new(),
                requests: HashMap::new(),
                generation: HashMap::new(),
                hash_lane: VecDeque::new(),
                hashing: false,
                finished_since_refresh: 0,
            })
        });
        let offline = window_event_listener(leptos::ev::offline, |_| dispatch(Input::Event(Event::Offline)));
        let online = window_event_listener(leptos::ev::online, |_| dispatch(Input::Event(Event::Online)));
        // Leaving the page mid-upload loses the queue: ask first.
        let leaving = window_event_listener(leptos::ev::beforeunload, |ev| {
            if RUNTIME.with(|r| r.borrow().as_ref().is_some_and(|rt| rt.queue.in_flight())) {
                ev.prevent_default();
                ev.set_return_value("Uploads are in progress.");
            }
        });
        if !browser::online() {
            dispatch(Input::Event(Event::Offline));
        }
        on_cleanup(move || {
            offline.remove();
            online.remove();
            leaving.remove();
            // Navigating away: stop every transfer; late answers find no runtime and are dropped.
            if let Some(rt) = RUNTIME.with(|r| r.borrow_mut().take()) {
                for xhr in rt.requests.values().flatten() {
                    let _ = xhr.abort();
                }
            }
        });
    }

    pub fn add_files(list: FileList) {
        for i in 0..list.length() {
            if let Some(file) = list.get(i) {
                dispatch(Input::Add(file));
            }
        }
    }

    /// Feeds one input to the queue and runs the commands it gives; inputs that arrive while
    /// commands run (an abort's own events, say) wait their turn instead of re-entering.
    pub fn dispatch(input: Input) {
        INBOX.with(|q| q.borrow_mut().push_back(input));
        if BUSY.with(|b| b.replace(true)) {
            return;
        }
        while let Some(input) = INBOX.with(|q| q.borrow_mut().pop_front()) {
            let commands = RUNTIME.with(|r| {
                let mut r = r.borrow_mut();
                let rt = r.as_mut()?;
                let now = browser::now_ms();
                let commands = match input {
                    Input::Add(file) => {
                        let (id, commands) = rt.queue.add(now, file.name(), file.size() as u64, file.type_());
                        rt.files.insert(id, file);
                        commands
                    }
                    Input::Event(event) => rt.queue.handle(now, event),
                };
                rt.board.show(&rt.owner, rt.queue.files().collect(), rt.queue.totals());
                Some(commands)
            });
            for command in commands.unwrap_or_default() {
                run(command);
            }
        }
        BUSY.with(|b| b.set(false));
    }

    fn event(e: Event) {
        dispatch(Input::Event(e));
    }

    fn with_rt<T>(f: impl FnOnce(&mut Runtime) -> T) -> Option<T> {
        RUNTIME.with(|r| r.borrow_mut().as_mut().map(f))
    }

    fn file(id: FileId) -> Option<File> {
        with_rt(|rt| rt.files.get(&id).cloned()).flatten()
    }

    fn generation(id: FileId) -> u64 {
        with_rt(|rt| *rt.generation.get(&id).unwrap_or(&0)).unwrap_or(u64::MAX)
    }

    /// Reports `e` only if no abort came between the request's start and its end.
    fn event_if_current(id: FileId, started: u64, e: Event) {
        if generation(id) == started {
            event(e);
        }
    }

    fn words(e: crate::api::ApiError) -> String {
        e.to_string()
    }

    const LOST: &str = "The file is no longer available; please add it again.";

    fn run(command: Command) {
        match command {
            Command::HashFile { .. } | Command::HashPart { .. } => {
                with_rt(|rt| rt.hash_lane.push_back(command));
                next_hash();
            }
            Command::RequestTicket { file: id, sha256, first_part_sha256 } => {
                let Some(f) = file(id) else { return event(Event::TicketFailed { file: id, message: LOST.into() }) };
                let last_modified = first_part_sha256.as_ref().map(|_| f.last_modified() as i64);
                spawn_local(async move {
                    let answer =
                        request_upload(f.name(), f.size() as u64, f.type_(), sha256, last_modified, first_part_sha256)
                            .await;
                    match answer {
                        Ok(ticket) => {
                            let off = super::clock_warning(browser::now_ms(), ticket.server_time);
                            with_rt(|rt| rt.board.clock_off_minutes.set(off));
                            event(Event::TicketReceived { file: id, ticket });
                        }
                        Err(e) => event(Event::TicketFailed { file: id, message: words(e) }),
                    }
                });
            }
            Command::SendSingle { file: id, ticket } => {
                let Some(f) = file(id) else {
                    return event(Event::SingleFailed { file: id, status: 0, body: String::new() });
                };
                let size = f.size();
                let (method, url, headers, body) = match ticket.send {
                    SendPlan::Post { url, fields } => {
                        ("POST", url, vec![], Body::Form { fields, file_name: f.name(), file: f.into() })
                    }
                    SendPlan::Put { url, headers } => ("PUT", url, headers, Body::Blob(f.into())),
                    SendPlan::Multipart { .. } => return,
                };
                // The body of a form also carries its fields: scale to the file's size.
                let progress = move |loaded: f64, total: f64| {
                    let loaded = (loaded / total * size) as u64;
                    event(Event::SingleProgress { file: id, loaded });
                };
                transfer(id, method, &url, &headers, body, progress, move |status, body| {
                    if (200..300).contains(&status) {
                        Event::SingleSent { file: id }
                    } else {
                        Event::SingleFailed { file: id, status, body }
                    }
                });
            }
            Command::SignParts { file: id, upload_id, parts } => {
                let parts =
                    parts.into_iter().map(|(part_number, sha256)| PartChecksum { part_number, sha256 }).collect();
                spawn_local(async move {
                    match sign_upload_parts(upload_id, parts).await {
                        Ok(urls) => event(Event::PartsSigned { file: id, urls }),
                        Err(e) => event(Event::SignFailed { file: id, message: words(e) }),
                    }
                });
            }
            Command::SendPart { file: id, part, url, start, end } => {
                let body = file(id).ok_or(LOST.to_owned()).and_then(|f| browser::slice(&f, start, end));
                let body = match body {
                    Ok(b) => b,
                    Err(_) => return event(Event::PartFailed { file: id, part, status: 0, body: String::new() }),
                };
                let progress = move |loaded: f64, _total: f64| {
                    event(Event::PartProgress { file: id, part, loaded: loaded as u64 });
                };
                transfer(id, "PUT", &url.url, &url.headers, Body::Blob(body), progress, move |status, body| {
                    if (200..300).contains(&status) {
                        Event::PartDone { file: id, part }
                    } else {
                        Event::PartFailed { file: id, part, status, body }
                    }
                });
            }
            Command::Abort { file: id } => {
                let xhrs = with_rt(|rt| {
                    *rt.generation.entry(id).or_default() += 1;
                    rt.requests.remove(&id).unwrap_or_default()
                });
                for xhr in xhrs.unwrap_or_default() {
                    let _ = xhr.abort();
                }
            }
            Command::Confirm { file: id, upload_id } => spawn_local(async move {
                match confirm_upload(upload_id).await {
                    Ok(_) => event(Event::Confirmed { file: id }),
                    Err(e) => event(Event::ConfirmFailed { file: id, message: words(e) }),
                }
            }),
            Command::Complete { file: id, upload_id } => spawn_local(async move {
                match complete_upload(upload_id).await {
                    Ok(_) => event(Event::Confirmed { file: id }),
                    Err(e) => event(Event::ConfirmFailed { file: id, message: words(e) }),
                }
            }),
            Command::CancelOnServer { upload_id } => spawn_local(async move {
                let _ = cancel_upload(upload_id).await;
            }),
            Command::ReportFailure { upload_id, reason } => spawn_local(async move {
                let _ = report_upload_failure(upload_id, reason).await;
            }),
            Command::Wake { at_ms } => browser::after(at_ms - browser::now_ms(), || event(Event::Tick)),
            Command::Finished { .. } => refresh_history(),
            Command::Forget { file: id } => {
                with_rt(|rt| {
                    rt.files.remove(&id);
                    rt.generation.remove(&id);
                });
            }
        }
    }

    /// Every few files and when the queue is idle, not after each one: a large batch would
    /// otherwise re-read the history a hundred times.
    fn refresh_history() {
        let due = with_rt(|rt| {
            rt.finished_since_refresh += 1;
            let due = !rt.queue.in_flight() || rt.finished_since_refresh >= REFRESH_EVERY;
            if due {
                rt.finished_since_refresh = 0;
            }
            due.then_some(rt.on_change)
        });
        if let Some(Some(on_change)) = due {
            on_change.run(());
        }
    }

    /// Starts a byte transfer of file `id`, remembered so that an abort reaches it, and reports
    /// how it ended unless it was aborted.
    fn transfer(
        id: FileId,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Body,
        progress: impl Fn(f64, f64) + 'static,
        outcome: impl FnOnce(u16, String) -> Event + 'static,
    ) {
        let started = generation(id);
        let progress = move |loaded, total| {
            if generation(id) == started {
                progress(loaded, total);
            }
        };
        match browser::send(method, url, headers, body, progress) {
            Ok((xhr, finished)) => {
                with_rt(|rt| rt.requests.entry(id).or_default().push(xhr.clone()));
                spawn_local(async move {
                    let (status, body) = finished.await;
                    with_rt(|rt| {
                        if let Some(list) = rt.requests.get_mut(&id) {
                            list.retain(|x| x != &xhr);
                        }
                    });
                    event_if_current(id, started, outcome(status, body));
                });
            }
            Err(_) => event_if_current(id, started, outcome(0, String::new())),
        }
    }

    /// Runs the next hash job when none is running.
    fn next_hash() {
        let job = with_rt(|rt| {
            if rt.hashing {
                return None;
            }
            let job = rt.hash_lane.pop_front()?;
            rt.hashing = true;
            Some(job)
        })
        .flatten();
        let Some(job) = job else { return };
        spawn_local(async move {
            let outcome = match &job {
                Command::HashFile { file: id } => match file(*id) {
                    Some(f) => browser::sha256_b64(&f).await.map(|sha256| Event::FileHashed { file: *id, sha256 }),
                    None => Err(LOST.to_owned()),
                }
                .map_err(|message| Event::HashFailed { file: *id, message }),
                Command::HashPart { file: id, part, start, end } => {
                    let blob = file(*id).ok_or(LOST.to_owned()).and_then(|f| browser::slice(&f, *start, *end));
                    let sum = match blob {
                        Ok(b) => browser::sha256_b64(&b).await,
                        Err(e) => Err(e),
                    };
                    sum.map(|sha256| Event::PartHashed { file: *id, part: *part, sha256 })
                        .map_err(|message| Event::HashFailed { file: *id, message })
                }
                _ => return,
            };
            with_rt(|rt| rt.hashing = false);
            event(outcome.unwrap_or_else(|e| e));
            next_hash();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_clock_more_than_five_minutes_off_is_reported() {
        assert_eq!(clock_warning(1_000_000, 1_000_000 + 4 * 60_000), None);
        assert_eq!(clock_warning(1_000_000 + 10 * 60_000, 1_000_000), Some(10));
        assert_eq!(clock_warning(1_000_000, 1_000_000 + 7 * 60_000), Some(-7));
    }
}
