//! The dropzone: drop or pick files and watch them go straight to S3.
//!
//! Three layers: the queue ([`crate::upload_queue`], plain Rust) decides everything; the runtime
//! below (WASM only) turns its commands into hashing, XHRs and server calls and feeds their
//! outcomes back; the painter ([`super::painter`], WASM only) writes the queue's [`FileView`]s into
//! the markup the server rendered ([`DropzoneShell`]). The island itself renders nothing: a
//! reactive view of the queue weighed a third of the page's WASM (see `doc/page-weight.md`).
//!
//! Its words are in the page's language, read once when the island starts
//! ([`crate::locale::current`]: the request's on the server, `<html lang>` in the browser, which
//! the server wrote from the same request).

use leptos::prelude::*;

use crate::i18n::{td_string, Locale};
use crate::model::Limits;
use crate::upload_queue::{Event, FileId, FileView, Phase};

/// Minutes this computer's clock is off the server's, when more than five: signatures are made on
/// the server's time, so a far-off local clock is worth telling the user about.
pub fn clock_warning(local_ms: i64, server_ms: i64) -> Option<i64> {
    let minutes = (local_ms - server_ms) / 60_000;
    (minutes.abs() > 5).then_some(minutes)
}

/// The phases worth telling a screen reader about, as they are reached.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) fn announced(phase: Phase) -> bool {
    matches!(phase, Phase::Uploading | Phase::Paused | Phase::Done | Phase::Failed | Phase::Cancelled | Phase::Refused)
}

/// A row's buttons: Pause, Resume, Cancel, Retry, Remove, in their order on the page.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) const ACTIONS: usize = 5;

/// The event a row's button `i` sends, and the button that takes its place. Pause/Resume and
/// Cancel/Retry replace each other, so the focus moves to the one that appears and a keyboard
/// user is never dropped to the top of the page; Remove hands it to the file picker.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) fn action(i: usize, file: FileId) -> (Event, Option<usize>) {
    match i {
        0 => (Event::Pause { file }, Some(1)),
        1 => (Event::Resume { file }, Some(0)),
        2 => (Event::Cancel { file }, Some(3)),
        3 => (Event::Retry { file }, Some(2)),
        _ => (Event::Remove { file }, None),
    }
}

/// Which of a row's buttons are shown, in [`action`]'s order.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) fn shown(v: &FileView) -> [bool; ACTIONS] {
    [v.can_pause, v.can_resume, v.can_cancel, v.can_retry, v.can_remove]
}

/// A multipart file's `data-parts` ("3/7"); none for a single-request file.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) fn parts(v: &FileView) -> Option<String> {
    (v.parts_total > 0).then(|| format!("{}/{}", v.parts_done, v.parts_total))
}

/// A multipart file's `data-resumed`: whether it goes on from an earlier upload.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) fn resumed(v: &FileView) -> Option<&'static str> {
    (v.parts_total > 0).then_some(if v.resumed { "true" } else { "false" })
}

/// The percentage a row shows while its bytes move (or wait, paused).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) fn percent(v: &FileView, locale: Locale) -> String {
    match v.phase {
        Phase::Uploading | Phase::Paused if v.size > 0 => {
            td_string!(locale, drop.percent, percent = v.sent * 100 / v.size)
        }
        _ => String::new(),
    }
}

/// The limits the dropzone shows and checks files against, from the configuration (server).
fn configured_limits() -> Limits {
    #[cfg(feature = "ssr")]
    if let Some(state) = use_context::<crate::server::AppState>() {
        return state.config.limits.clone();
    }
    Limits { max_bytes: 0, multipart_threshold: 0, allowed_types: vec![] }
}

/// The limits in the browser: from the attributes the server rendered (an island prop would cost
/// a JSON decoder).
#[cfg(feature = "hydrate")]
fn page_limits(root: &web_sys::Element) -> Limits {
    let attr = |name: &str| root.get_attribute(name).unwrap_or_default();
    Limits {
        max_bytes: attr("data-max-bytes").parse().unwrap_or(0),
        multipart_threshold: attr("data-multipart-threshold").parse().unwrap_or(u64::MAX),
        allowed_types: attr("data-types").split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
    }
}

/// The dropzone's markup, rendered by the server only: the zone, the overall line, the notices
/// and the (empty) queue. The [`Dropzone`] island beside it brings it to life; without scripts
/// the page hides it and offers the plain form.
#[component]
pub fn DropzoneShell() -> impl IntoView {
    let limits = configured_limits();
    let locale = crate::locale::current();
    view! {
        <div
            class="dropzone"
            id="dropzone"
            data-testid="dropzone"
            data-max-bytes=limits.max_bytes.to_string()
            data-multipart-threshold=limits.multipart_threshold.to_string()
            data-types=limits.allowed_types.join(",")
        >
            <input type="file" multiple id="file-input" class="visually-hidden"/>
            <label for="file-input" class="drop-target">
                <strong>{td_string!(locale, drop.drop_here)}</strong>{td_string!(locale, drop.paste_or)}
                <span class="pick">{td_string!(locale, drop.choose_files)}</span>
                <span class="hint">{td_string!(locale, drop.limits_hint, limits = limits.describe_in(locale))}</span>
            </label>
            <input type="file" multiple id="folder-input" class="visually-hidden" webkitdirectory=""/>
            <label for="folder-input" class="pick-folder">{td_string!(locale, drop.choose_folder)}</label>
        </div>
        <div class="drop-overlay" id="drop-overlay" aria-hidden="true" hidden>
            <p>{td_string!(locale, drop.drop_to_upload)}</p>
        </div>
        // Shown and hidden rather than added and removed: a button keeps its place (and the focus
        // near it).
        <div class="overall" id="overall" data-testid="overall" hidden>
            <progress id="overall-bar" aria-label=td_string!(locale, drop.all_files) max="1" value="0"></progress>
            <span id="overall-words"></span>
            <span class="speed" id="overall-speed" data-testid="overall-speed"></span>
            <button type="button" class="small" id="cancel-all" hidden>{td_string!(locale, drop.cancel_all)}</button>
            <button type="button" class="small" id="clear-finished" hidden>{td_string!(locale, drop.clear_finished)}</button>
        </div>
        <p class="flash error" id="clock-warning" role="alert" hidden></p>
        <p class="visually-hidden" id="announce" aria-live="polite" data-testid="announce"></p>
        <p class="visually-hidden" id="file-announce" aria-live="polite" data-testid="file-announce"></p>
        <ul class="queue" id="queue" data-testid="queue"></ul>
    }
}

/// The one island of the app: it renders nothing itself, and in the browser drives the
/// [`DropzoneShell`] beside it and adds each finished file to the history (`#history`) that the
/// server rendered.
#[island]
pub fn Dropzone() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    runtime::start(crate::locale::current());
}

/// The browser side: File objects, requests and timers, driven by the queue's commands.
#[cfg(feature = "hydrate")]
mod runtime {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;
    use std::rc::Rc;

    use leptos::prelude::on_cleanup;
    use leptos::task::spawn_local;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{File, FileList, XmlHttpRequest};

    use crate::components::browser::{self, Body};
    use crate::components::painter::{listen, Listener, Painter};
    use crate::components::wire::{self, Args};
    use crate::components::{history, wire::json_string};
    use crate::i18n::{td_string, Locale};
    use crate::model::SendPlan;
    use crate::upload_queue::{Command, Event, FileId, FileView, Queue, QueueConfig};

    /// Files prepared ahead: each waits for its SHA-256 before its ticket, so keep several times
    /// the upload places ready, and sign them SIGN_REFILL at a time: refilled one by one as each
    /// upload ended, 100 small files took 36–41 ticket requests, each a request the page's main
    /// thread starts and reads while it should be starting the next upload (measured with
    /// `scripts/bench-uploads`).
    const SIGN_AHEAD: usize = 12;
    const SIGN_REFILL: usize = 6;

    /// A map by file id kept in a vector: a queue holds tens or hundreds of files, and a hash
    /// map's code would weigh more in the page than its lookups save.
    struct ById<V>(Vec<(FileId, V)>);

    impl<V: Default> ById<V> {
        fn new() -> Self {
            ById(Vec::new())
        }
        fn get(&self, id: &FileId) -> Option<&V> {
            self.0.iter().find(|(k, _)| k == id).map(|(_, v)| v)
        }
        fn get_mut(&mut self, id: &FileId) -> Option<&mut V> {
            self.0.iter_mut().find(|(k, _)| k == id).map(|(_, v)| v)
        }
        fn entry(&mut self, id: FileId) -> &mut V {
            let at = match self.0.iter().position(|(k, _)| *k == id) {
                Some(at) => at,
                None => {
                    self.0.push((id, V::default()));
                    self.0.len() - 1
                }
            };
            &mut self.0[at].1
        }
        fn insert(&mut self, id: FileId, v: V) {
            *self.entry(id) = v;
        }
        fn remove(&mut self, id: &FileId) -> Option<V> {
            let at = self.0.iter().position(|(k, _)| k == id)?;
            Some(self.0.swap_remove(at).1)
        }
        fn values(&self) -> impl Iterator<Item = &V> {
            self.0.iter().map(|(_, v)| v)
        }
    }

    pub enum Input {
        /// A file, with the name to show (its path in a dropped or chosen folder).
        Add(File, Option<String>),
        Event(Event),
    }

    struct Runtime {
        queue: Queue,
        /// The language of every word the island shows or says.
        locale: Locale,
        /// Writes the queue's state into the page.
        painter: Painter,
        /// Removed when the island goes away.
        listeners: Vec<Listener>,
        files: ById<Option<File>>,
        /// Byte transfers in flight, per file, with the generation they belong to.
        requests: ById<Vec<XmlHttpRequest>>,
        /// Bumped on abort: outcomes of an older generation are not reported (the queue's rule).
        generation: ById<u64>,
        /// Hashing reads whole parts (or small files) into memory: in order, several at once while
        /// their bytes stay within HASH_BUDGET (many small files), else one at a time.
        hash_lane: VecDeque<Command>,
        hashing_bytes: u64,
        /// Ticket requests and confirmations waiting a moment to go to the server together
        /// (`uploads/request-many`, `uploads/confirm-many`): a few round trips for many files.
        tickets_waiting: Vec<(FileId, String)>,
        confirms_waiting: Vec<(FileId, String)>,
    }

    thread_local! {
        static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
        static INBOX: RefCell<VecDeque<Input>> = const { RefCell::new(VecDeque::new()) };
        static BUSY: Cell<bool> = const { Cell::new(false) };
        /// The page lags the queue: a paint is asked for.
        static PAINT_DUE: Cell<bool> = const { Cell::new(false) };
        static PAINTED_AT: Cell<i64> = const { Cell::new(0) };
    }

    pub fn start(locale: Locale) {
        let Some(painter) = Painter::find(locale) else { return };
        let limits = super::page_limits(painter.root());
        let Some(window) = web_sys::window() else { return };
        let win: &web_sys::EventTarget = window.as_ref();
        let has_files = |ev: &web_sys::DragEvent| {
            ev.data_transfer().is_some_and(|dt| dt.types().iter().any(|t| t.as_string().as_deref() == Some("Files")))
        };
        let drag = |ev: &web_sys::Event| ev.unchecked_ref::<web_sys::DragEvent>().clone();
        let paint = |f: fn(&Painter, bool), on: bool| {
            with_rt(|rt| f(&rt.painter, on));
        };
        let root: web_sys::EventTarget = painter.root().clone().into();
        let mut listeners = vec![
            // The whole page takes dropped files (and folders) and pasted ones.
            listen(win, "dragover", move |ev| {
                if has_files(&drag(&ev)) {
                    ev.prevent_default();
                    paint(Painter::page_drag, true);
                }
            }),
            listen(win, "dragleave", move |ev| {
                // Leaving the window itself: no element to enter next.
                if drag(&ev).related_target().is_none() {
                    paint(Painter::page_drag, false);
                }
            }),
            listen(win, "drop", move |ev| {
                ev.prevent_default();
                paint(Painter::page_drag, false);
                paint(Painter::hover, false);
                if let Some(dt) = drag(&ev).data_transfer() {
                    add_dropped(dt);
                }
            }),
            listen(win, "paste", |ev| {
                let ev: &web_sys::ClipboardEvent = ev.unchecked_ref();
                if let Some(files) = ev.clipboard_data().and_then(|d| d.files()).filter(|f| f.length() > 0) {
                    ev.prevent_default();
                    add_files(files);
                }
            }),
            listen(win, "offline", |_| event(Event::Offline)),
            listen(win, "online", |_| event(Event::Online)),
            // Leaving the page mid-upload loses the queue: ask first.
            listen(win, "beforeunload", move |ev| {
                if with_rt(|rt| rt.queue.in_flight()).unwrap_or(false) {
                    ev.prevent_default();
                    ev.unchecked_ref::<web_sys::BeforeUnloadEvent>().set_return_value(td_string!(locale, drop.leaving));
                }
            }),
            // The zone's own highlight; the window's listener takes the drop itself.
            listen(&root, "dragenter", move |ev| {
                ev.prevent_default();
                paint(Painter::hover, true);
            }),
            listen(&root, "dragover", move |ev| {
                ev.prevent_default();
                paint(Painter::hover, true);
            }),
            listen(&root, "dragleave", move |_| paint(Painter::hover, false)),
            listen(painter.queue(), "click", |ev| {
                let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
                let Some((e, partner)) = target.and_then(|t| with_rt(|rt| rt.painter.clicked(&t)).flatten()) else {
                    return;
                };
                event(e);
                // The button to focus must be shown first.
                paint_queue();
                focus_soon(partner);
            }),
            listen(painter.cancel_all(), "click", |_| event(Event::CancelAll)),
            listen(painter.clear_finished(), "click", |_| event(Event::ClearFinished)),
        ];
        let doc = window.document();
        for id in ["file-input", "folder-input"] {
            if let Some(input) = doc.as_ref().and_then(|d| d.get_element_by_id(id)) {
                listeners.push(listen(&input, "change", |ev| {
                    if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                        if let Some(files) = input.files() {
                            add_files(files);
                        }
                        input.set_value("");
                    }
                }));
            }
        }
        let seed = (js_sys::Math::random() * u64::MAX as f64) as u64;
        RUNTIME.with(|r| {
            *r.borrow_mut() = Some(Runtime {
                queue: Queue::new(
                    QueueConfig {
                        sign_ahead: SIGN_AHEAD,
                        sign_refill: SIGN_REFILL,
                        locale,
                        ..QueueConfig::new(limits)
                    },
                    seed,
                ),
                locale,
                painter,
                listeners,
                files: ById::new(),
                requests: ById::new(),
                generation: ById::new(),
                hash_lane: VecDeque::new(),
                hashing_bytes: 0,
                tickets_waiting: vec![],
                confirms_waiting: vec![],
            })
        });
        browser::hasher::warm();
        if !browser::online() {
            event(Event::Offline);
        }
        // A mark for tests and styles: the dropzone answers to events from now on.
        if let Some(body) = doc.and_then(|d| d.body()) {
            let _ = body.set_attribute("data-hydrated", "true");
        }
        on_cleanup(move || {
            // Navigating away: stop every transfer; late answers find no runtime and are dropped.
            if let Some(mut rt) = RUNTIME.with(|r| r.borrow_mut().take()) {
                for listener in rt.listeners.drain(..) {
                    listener.remove();
                }
                for xhr in rt.requests.values().flatten() {
                    let _ = xhr.abort();
                }
                rt.painter.forget_all();
            }
        });
    }

    /// Once the page shows the queue's new state: focus `target` if it is shown, else (its row
    /// removed) the file picker.
    fn focus_soon(target: Option<web_sys::Element>) {
        browser::after(0, move || {
            let shown = target.filter(|b| b.is_connected() && !b.unchecked_ref::<web_sys::HtmlElement>().hidden());
            let target = shown.or_else(|| web_sys::window()?.document()?.get_element_by_id("file-input"));
            if let Some(el) = target {
                let _ = el.unchecked_into::<web_sys::HtmlElement>().focus();
            }
        });
    }

    pub fn add_files(list: FileList) {
        for i in 0..list.length() {
            if let Some(file) = list.get(i) {
                // A file of a chosen folder knows its path in it.
                let path = js_sys::Reflect::get(&file, &"webkitRelativePath".into())
                    .ok()
                    .and_then(|p| p.as_string())
                    .filter(|p| !p.is_empty());
                dispatch(Input::Add(file, path));
            }
        }
    }

    /// What was dropped: files as they are, folders walked (every file inside, with its path).
    /// The items must be read now, during the event; the folders' entries may be read later.
    fn add_dropped(dt: web_sys::DataTransfer) {
        let items = dt.items();
        let mut files = vec![];
        for i in 0..items.length() {
            let Some(item) = items.get(i).filter(|it| it.kind() == "file") else { continue };
            match item.webkit_get_as_entry() {
                Ok(Some(entry)) if entry.is_directory() => walk(entry.unchecked_into()),
                _ => files.extend(item.get_as_file().ok().flatten()),
            }
        }
        if files.is_empty() && items.length() == 0 {
            if let Some(list) = dt.files() {
                return add_files(list);
            }
        }
        for file in files {
            dispatch(Input::Add(file, None));
        }
    }

    /// Every file in a dropped folder, through the browser's entries API, batch by batch.
    fn walk(dir: web_sys::FileSystemDirectoryEntry) {
        read_entries(dir.create_reader());
    }

    fn read_entries(reader: web_sys::FileSystemDirectoryReader) {
        let again = reader.clone();
        let on_batch = Closure::once_into_js(move |entries: js_sys::Array| {
            if entries.length() == 0 {
                return;
            }
            for entry in entries.iter() {
                let entry: web_sys::FileSystemEntry = entry.unchecked_into();
                if entry.is_directory() {
                    walk(entry.unchecked_into());
                } else {
                    let path = entry.full_path().trim_start_matches('/').to_owned();
                    let on_file = Closure::once_into_js(move |file: File| dispatch(Input::Add(file, Some(path))));
                    entry.unchecked_into::<web_sys::FileSystemFileEntry>().file_with_callback(on_file.unchecked_ref());
                }
            }
            // readEntries gives a folder's entries in batches, until an empty one.
            read_entries(again);
        });
        let _ = reader.read_entries_with_callback(on_batch.unchecked_ref());
    }

    /// Feeds one input to the queue and runs the commands it gives; inputs that arrive while
    /// commands run (an abort's own events, say) wait their turn instead of re-entering. The page
    /// is brought up to date at most every PAINT_EVERY_MS, before a frame, not after every input:
    /// with 100 files and three uploads the queue takes hundreds of inputs a second (ends,
    /// progress, tickets), and painting each one stood between an upload's end and the next
    /// upload's start (`scripts/bench-uploads`: a place stood empty 13 ms after each upload, 8 ms
    /// with a paint per frame).
    pub fn dispatch(input: Input) {
        INBOX.with(|q| q.borrow_mut().push_back(input));
        if BUSY.with(|b| b.replace(true)) {
            return;
        }
        while let Some(input) = INBOX.with(|q| q.borrow_mut().pop_front()) {
            let commands = with_rt(|rt| {
                let now = browser::now_ms();
                match input {
                    Input::Add(file, shown) => {
                        let name = shown.unwrap_or_else(|| file.name());
                        let is_image = file.type_().starts_with("image/");
                        let (id, commands) = rt.queue.add(now, name, file.size() as u64, file.type_());
                        // The picture shown is the file on this computer; nothing extra is sent.
                        if let Some(url) =
                            is_image.then(|| web_sys::Url::create_object_url_with_blob(&file).ok()).flatten()
                        {
                            rt.painter.add_thumb(id, url);
                        }
                        rt.files.insert(id, Some(file));
                        commands
                    }
                    Input::Event(event) => rt.queue.handle(now, event),
                }
            });
            for command in commands.unwrap_or_default() {
                run(command);
            }
        }
        BUSY.with(|b| b.set(false));
        if !PAINT_DUE.replace(true) {
            // With nothing moving (the last upload ended, say) nothing else is coming: at once.
            let wait = PAINTED_AT.get() + PAINT_EVERY_MS - browser::now_ms();
            browser::after(if sending() { wait.max(0) } else { 0 }, || {
                browser::next_frame(paint_queue);
                // Should no frame come (a page the browser stopped drawing), the page still
                // catches up: whichever comes first paints, the other finds nothing due.
                browser::after(PAINT_EVERY_MS, paint_queue);
            });
        }
    }

    /// Whether bytes are on their way to S3 now.
    fn sending() -> bool {
        with_rt(|rt| rt.requests.values().any(|r| !r.is_empty())).unwrap_or(false)
    }

    /// Shows the queue's state now, if the page lags it.
    fn paint_queue() {
        if !PAINT_DUE.replace(false) {
            return;
        }
        PAINTED_AT.set(browser::now_ms());
        with_rt(|rt| {
            let views: Vec<FileView> = rt.queue.files().collect();
            let totals = rt.queue.totals();
            rt.painter.show(browser::now_ms(), views, totals);
        });
    }

    fn event(e: Event) {
        dispatch(Input::Event(e));
    }

    fn with_rt<T>(f: impl FnOnce(&mut Runtime) -> T) -> Option<T> {
        RUNTIME.with(|r| r.borrow_mut().as_mut().map(f))
    }

    /// The page's language, for the words the runtime writes itself.
    fn locale() -> Locale {
        with_rt(|rt| rt.locale).unwrap_or_default()
    }

    fn file(id: FileId) -> Option<File> {
        with_rt(|rt| rt.files.get(&id).cloned().flatten()).flatten()
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

    /// A call that answers nothing the page needs beyond success.
    async fn call_with_id(endpoint: &'static str, upload_id: String) -> Result<wasm_bindgen::JsValue, String> {
        wire::call(endpoint, Args::Form(&[("id", Some(upload_id))]), locale()).await
    }

    /// The bytes hashing may hold in memory at once: small files are hashed side by side (WebCrypto
    /// works off the main thread), a large file's parts one at a time.
    const HASH_BUDGET: u64 = 16 << 20;

    /// How often a transfer's progress reaches the queue, at most.
    const PROGRESS_EVERY_MS: i64 = 50;
    /// How often the page shows the queue's state, at most (a click shows it at once): ten times a
    /// second moves a progress bar smoothly, and each paint is the browser's style, layout and
    /// paint of the rows that changed.
    const PAINT_EVERY_MS: i64 = 100;

    /// How long a ticket request waits for others (files hashed just after it) before going; while
    /// uploads run (the files after them are being signed ahead) it waits longer, for fewer calls.
    const TICKET_WAIT_MS: i64 = 10;
    const TICKET_GATHER_MS: i64 = 30;
    /// How long a confirmation waits for others. A file being checked holds no upload place, so
    /// the wait slows no transfer; it only turns many calls into one (each a request the page's
    /// main thread starts and reads). With no transfer left to wait for, it goes at once.
    const CONFIRM_WAIT_MS: i64 = 100;

    /// Sends the waiting ticket requests as one call; each file gets its own answer.
    fn send_tickets() {
        let batch = with_rt(|rt| std::mem::take(&mut rt.tickets_waiting)).unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        spawn_local(async move {
            let body =
                format!(r#"{{"files":[{}]}}"#, batch.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join(","));
            let answers = wire::call("uploads/request-many", Args::Json(body), locale()).await;
            for (i, (id, _)) in batch.into_iter().enumerate() {
                match answers.as_ref().map(|a| wire::each(a, i)).map_err(String::clone) {
                    Ok(Some(Ok(v))) => match wire::ticket(&v) {
                        Some(ticket) => {
                            let off = super::clock_warning(browser::now_ms(), ticket.server_time);
                            with_rt(|rt| rt.painter.clock_off(off));
                            event(Event::TicketReceived { file: id, ticket });
                        }
                        None => event(Event::TicketFailed { file: id, message: unreadable() }),
                    },
                    Ok(Some(Err(message))) | Err(message) => event(Event::TicketFailed { file: id, message }),
                    Ok(None) => event(Event::TicketFailed { file: id, message: unreadable() }),
                }
            }
        });
    }

    /// Sends the waiting confirmations as one call; each file gets its own answer.
    fn send_confirms() {
        let batch = with_rt(|rt| std::mem::take(&mut rt.confirms_waiting)).unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        spawn_local(async move {
            let ids: Vec<String> = batch.iter().map(|(_, upload_id)| json_string(upload_id)).collect();
            let answers =
                wire::call("uploads/confirm-many", Args::Json(format!(r#"{{"ids":[{}]}}"#, ids.join(","))), locale())
                    .await;
            for (i, (id, _)) in batch.into_iter().enumerate() {
                let answer = match answers.as_ref().map(|a| wire::each(a, i)) {
                    Ok(Some(answer)) => answer,
                    Ok(None) => Err(unreadable()),
                    Err(message) => Err(message.clone()),
                };
                settled(id, answer);
            }
        });
    }

    /// Confirm and complete answer the upload's row: it joins the history at once.
    fn settled(id: FileId, answer: Result<wasm_bindgen::JsValue, String>) {
        match answer {
            Ok(row) => {
                if let Some(row) = wire::upload_row(&row) {
                    history::prepend(&row, locale());
                }
                event(Event::Confirmed { file: id })
            }
            Err(message) => event(Event::ConfirmFailed { file: id, message }),
        }
    }

    /// The File object is gone (the file was removed from the list meanwhile).
    fn lost() -> String {
        td_string!(locale(), drop.lost).to_owned()
    }

    fn unreadable() -> String {
        td_string!(locale(), drop.unreadable).to_owned()
    }

    fn run(command: Command) {
        match command {
            Command::HashFile { .. } | Command::HashPart { .. } => {
                with_rt(|rt| rt.hash_lane.push_back(command));
                next_hash();
            }
            Command::RequestTicket { file: id, sha256, first_part_sha256 } => {
                let Some(f) = file(id) else { return event(Event::TicketFailed { file: id, message: lost() }) };
                let last_modified = first_part_sha256.as_ref().map(|_| f.last_modified() as i64);
                let text = |v: Option<String>| v.map_or_else(|| "null".to_owned(), |v| json_string(&v));
                let request = format!(
                    r#"{{"file_name":{},"size":{},"content_type":{},"sha256":{},"last_modified":{},"first_part_sha256":{}}}"#,
                    json_string(&f.name()),
                    f.size() as u64,
                    json_string(&f.type_()),
                    text(sha256),
                    last_modified.map_or_else(|| "null".to_owned(), |m| m.to_string()),
                    text(first_part_sha256),
                );
                let first = with_rt(|rt| {
                    rt.tickets_waiting.push((id, request));
                    rt.tickets_waiting.len() == 1
                });
                if first == Some(true) {
                    browser::after(if sending() { TICKET_GATHER_MS } else { TICKET_WAIT_MS }, send_tickets);
                }
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
                transfer(
                    id,
                    method,
                    &url,
                    &headers,
                    body,
                    Box::new(progress),
                    Box::new(move |status, body| {
                        if (200..300).contains(&status) {
                            Event::SingleSent { file: id }
                        } else {
                            Event::SingleFailed { file: id, status, body }
                        }
                    }),
                );
            }
            Command::SignParts { file: id, upload_id, parts } => {
                let parts: Vec<String> = parts
                    .into_iter()
                    .map(|(n, sha256)| format!(r#"{{"part_number":{n},"sha256":{}}}"#, json_string(&sha256)))
                    .collect();
                let body = format!(r#"{{"id":{},"parts":[{}]}}"#, json_string(&upload_id), parts.join(","));
                spawn_local(async move {
                    let answer = wire::call("uploads/parts", Args::Json(body), locale()).await;
                    match answer.and_then(|v| wire::part_urls(&v).ok_or_else(unreadable)) {
                        Ok(urls) => event(Event::PartsSigned { file: id, urls }),
                        Err(message) => event(Event::SignFailed { file: id, message }),
                    }
                });
            }
            Command::SendPart { file: id, part, url, start, end } => {
                let body = file(id).ok_or_else(lost).and_then(|f| browser::slice(&f, start, end, locale()));
                let body = match body {
                    Ok(b) => b,
                    Err(_) => return event(Event::PartFailed { file: id, part, status: 0, body: String::new() }),
                };
                let progress = move |loaded: f64, _total: f64| {
                    event(Event::PartProgress { file: id, part, loaded: loaded as u64 });
                };
                transfer(
                    id,
                    "PUT",
                    &url.url,
                    &url.headers,
                    Body::Blob(body),
                    Box::new(progress),
                    Box::new(move |status, body| {
                        if (200..300).contains(&status) {
                            Event::PartDone { file: id, part }
                        } else {
                            Event::PartFailed { file: id, part, status, body }
                        }
                    }),
                );
            }
            Command::Abort { file: id } => {
                let xhrs = with_rt(|rt| {
                    *rt.generation.entry(id) += 1;
                    rt.requests.remove(&id).unwrap_or_default()
                });
                for xhr in xhrs.unwrap_or_default() {
                    let _ = xhr.abort();
                }
            }
            Command::Confirm { file: id, upload_id } => {
                let first = with_rt(|rt| {
                    rt.confirms_waiting.push((id, upload_id));
                    rt.confirms_waiting.len() == 1
                });
                if first == Some(true) {
                    browser::after(CONFIRM_WAIT_MS, send_confirms);
                }
                // Once this input's other commands have run: if no upload started, none will end
                // to join the batch, so it goes now.
                browser::after(0, || {
                    if !sending() {
                        send_confirms();
                    }
                });
            }
            Command::Complete { file: id, upload_id } => {
                spawn_local(async move { settled(id, call_with_id("uploads/complete", upload_id).await) })
            }
            Command::CancelOnServer { upload_id } => spawn_local(async move {
                let _ = call_with_id("uploads/cancel", upload_id).await;
            }),
            Command::ReportFailure { upload_id, reason } => spawn_local(async move {
                let fields = [("id", Some(upload_id)), ("reason", Some(reason))];
                let _ = wire::call("uploads/failed", Args::Form(&fields), locale()).await;
            }),
            Command::Wake { at_ms } => browser::after(at_ms - browser::now_ms(), || event(Event::Tick)),
            Command::Finished { .. } => {}
            Command::Forget { file: id } => {
                with_rt(|rt| {
                    rt.files.remove(&id);
                    rt.generation.remove(&id);
                    rt.painter.forget(id);
                });
            }
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
        progress: Box<dyn Fn(f64, f64)>,
        outcome: Box<dyn FnOnce(u16, String) -> Event>,
    ) {
        let started = generation(id);
        // The browser reports progress every few kilobytes; the page takes the latest once per
        // PROGRESS_EVERY_MS (each report runs the queue and touches the row's signals). What
        // waits when the transfer ends is dropped: the outcome says it all.
        let latest: Rc<Cell<Option<(f64, f64)>>> = Rc::new(Cell::new(None));
        let progress: Rc<dyn Fn(f64, f64)> = Rc::from(progress);
        let waiting = latest.clone();
        let report = move |loaded, total| {
            if waiting.replace(Some((loaded, total))).is_none() {
                let (waiting, progress) = (waiting.clone(), progress.clone());
                browser::after(PROGRESS_EVERY_MS, move || {
                    if let Some((loaded, total)) = waiting.take() {
                        if generation(id) == started {
                            progress(loaded, total);
                        }
                    }
                });
            }
        };
        match browser::send(method, url, headers, body, Box::new(report), locale()) {
            Ok((xhr, finished)) => {
                with_rt(|rt| rt.requests.entry(id).push(xhr.clone()));
                spawn_local(async move {
                    let (status, body) = finished.await;
                    latest.take();
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
        loop {
            let job = with_rt(|rt| {
                let size = match rt.hash_lane.front()? {
                    Command::HashFile { file } => {
                        rt.files.get(file).and_then(|f| f.as_ref()).map_or(0, |f| f.size() as u64)
                    }
                    Command::HashPart { start, end, .. } => end - start,
                    _ => 0,
                };
                // Within the budget, or alone: a part larger than the budget still gets hashed.
                if rt.hashing_bytes > 0 && rt.hashing_bytes + size > HASH_BUDGET {
                    return None;
                }
                rt.hashing_bytes += size;
                rt.hash_lane.pop_front().map(|job| (job, size))
            })
            .flatten();
            let Some((job, size)) = job else { return };
            spawn_local(async move {
                let outcome = match &job {
                    Command::HashFile { file: id } => match file(*id) {
                        Some(f) => browser::sha256_b64(&f, locale())
                            .await
                            .map(|sha256| Event::FileHashed { file: *id, sha256 }),
                        None => Err(lost()),
                    }
                    .map_err(|message| Event::HashFailed { file: *id, message }),
                    Command::HashPart { file: id, part, start, end } => {
                        let blob = file(*id).ok_or_else(lost).and_then(|f| browser::slice(&f, *start, *end, locale()));
                        let sum = match blob {
                            Ok(b) => browser::sha256_b64(&b, locale()).await,
                            Err(e) => Err(e),
                        };
                        sum.map(|sha256| Event::PartHashed { file: *id, part: *part, sha256 })
                            .map_err(|message| Event::HashFailed { file: *id, message })
                    }
                    _ => return,
                };
                with_rt(|rt| rt.hashing_bytes -= size);
                event(outcome.unwrap_or_else(|e| e));
                next_hash();
            });
        }
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

    fn view(phase: Phase) -> FileView {
        FileView {
            id: FileId(3),
            name: "a.bin".into(),
            size: 200,
            content_type: String::new(),
            phase,
            paused_by: None,
            sent: 50,
            message: None,
            parts_done: 0,
            parts_total: 0,
            resumed: false,
            can_pause: true,
            can_resume: false,
            can_cancel: true,
            can_retry: false,
            can_remove: false,
            upload_id: None,
        }
    }

    #[test]
    fn each_button_swaps_with_its_partner_and_remove_hands_the_focus_to_the_picker() {
        let f = FileId(7);
        assert!(matches!(action(0, f), (Event::Pause { file: FileId(7) }, Some(1))));
        assert!(matches!(action(1, f), (Event::Resume { file: FileId(7) }, Some(0))));
        assert!(matches!(action(2, f), (Event::Cancel { file: FileId(7) }, Some(3))));
        assert!(matches!(action(3, f), (Event::Retry { file: FileId(7) }, Some(2))));
        assert!(matches!(action(4, f), (Event::Remove { file: FileId(7) }, None)));
        assert_eq!(shown(&view(Phase::Uploading)), [true, false, true, false, false]);
    }

    #[test]
    fn parts_and_resumption_are_marked_on_multipart_rows_only() {
        let single = view(Phase::Uploading);
        assert_eq!((parts(&single), resumed(&single)), (None, None));
        let multi = FileView { parts_done: 3, parts_total: 7, resumed: true, ..single };
        assert_eq!((parts(&multi).as_deref(), resumed(&multi)), (Some("3/7"), Some("true")));
        let fresh = FileView { resumed: false, ..multi };
        assert_eq!(resumed(&fresh), Some("false"));
    }

    #[test]
    fn a_percentage_shows_while_bytes_move_or_wait_paused() {
        assert_eq!(percent(&view(Phase::Uploading), Locale::en), "25%");
        assert_eq!(percent(&view(Phase::Paused), Locale::en), "25%");
        assert_eq!(percent(&view(Phase::Done), Locale::en), "");
        assert_eq!(percent(&FileView { size: 0, ..view(Phase::Uploading) }, Locale::en), "");
        assert!(announced(Phase::Done) && announced(Phase::Refused) && !announced(Phase::Hashing));
    }
}
