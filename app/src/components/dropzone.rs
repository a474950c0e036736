//! The dropzone: drop or pick files and watch them go straight to S3.
//!
//! Three layers: the queue ([`crate::upload_queue`], plain Rust) decides everything; the runtime
//! below (WASM only) turns its commands into hashing, XHRs and server calls and feeds their
//! outcomes back; the view renders the queue's [`FileView`]s and forwards clicks. The state the
//! view reads is plain values, so the same markup renders on the server.
//!
//! Its words are in the page's language, read once when the island starts
//! ([`crate::locale::current`]: the request's on the server, `<html lang>` in the browser, which
//! the server wrote from the same request) and carried in [`Board::locale`].

use leptos::prelude::*;

use crate::i18n::{td_string, Locale};
use crate::meter::{speed_words, Meter};
use crate::model::{human_size_in, Limits};
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
    /// The language of every word the island shows or says.
    locale: Locale,
    ids: RwSignal<Vec<FileId>>,
    rows: StoredValue<Vec<(FileId, RwSignal<FileView>)>>,
    totals: RwSignal<Totals>,
    clock_off_minutes: RwSignal<Option<i64>>,
    /// What screen readers hear: each file's moves that matter, once.
    said: RwSignal<String>,
    /// Files are being dragged over the page: the whole page takes them.
    page_drag: RwSignal<bool>,
    /// Per file: its speed meter and the words it shows ("1.5 MiB/s, 12 s left").
    meters: StoredValue<Vec<(FileId, Meter, RwSignal<String>)>>,
    overall_speed: RwSignal<String>,
    /// Per image file: a `blob:` URL of the file itself, for its thumbnail (never uploaded).
    thumbs: StoredValue<Vec<(FileId, String)>>,
}

/// The phases worth telling a screen reader about, as they are reached.
fn announced(phase: Phase) -> bool {
    matches!(phase, Phase::Uploading | Phase::Paused | Phase::Done | Phase::Failed | Phase::Cancelled | Phase::Refused)
}

impl Board {
    fn row(&self, id: FileId) -> Option<RwSignal<FileView>> {
        self.rows.with_value(|rows| rows.iter().find(|(i, _)| *i == id).map(|(_, s)| *s))
    }

    fn speed(&self, id: FileId) -> Option<RwSignal<String>> {
        self.meters.with_value(|m| m.iter().find(|(i, ..)| *i == id).map(|(_, _, s)| *s))
    }

    fn thumb(&self, id: FileId) -> Option<String> {
        self.thumbs.with_value(|t| t.iter().find(|(i, _)| *i == id).map(|(_, u)| u.clone()))
    }

    /// Samples each uploading file's bytes (at most once a second each) into its words and the
    /// overall ones.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn measure(&self, now_ms: i64, views: &[FileView], totals: Totals) {
        let mut overall = 0;
        let mut any_new = false;
        self.meters.update_value(|meters| {
            meters.retain(|(id, ..)| views.iter().any(|v| v.id == *id));
            for (id, meter, words) in meters.iter_mut() {
                let Some(v) = views.iter().find(|v| v.id == *id) else { continue };
                if v.phase != Phase::Uploading {
                    *meter = Meter::new(now_ms, v.sent);
                    if !words.with_untracked(String::is_empty) {
                        words.set(String::new());
                    }
                    continue;
                }
                if meter.sample(now_ms, v.sent) {
                    any_new = true;
                    words.set(speed_words(meter.rate(), v.size.saturating_sub(v.sent), self.locale));
                }
                overall += meter.rate();
            }
        });
        if any_new || overall == 0 {
            let words = speed_words(overall, totals.total.saturating_sub(totals.sent), self.locale);
            if self.overall_speed.with_untracked(|w| *w != words) {
                self.overall_speed.set(words);
            }
        }
    }

    /// Writes only what changed, so a progress event re-renders one row's numbers, not the list.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn show(&self, owner: &Owner, views: Vec<FileView>, totals: Totals) {
        let ids: Vec<FileId> = views.iter().map(|v| v.id).collect();
        let locale = self.locale;
        let say = |v: &FileView| td_string!(locale, drop.file_phase, name = &v.name, phase = v.phase.label(locale));
        let mut said = vec![];
        for view in views {
            match self.row(view.id) {
                Some(signal) => {
                    if signal.with_untracked(|old| old.phase != view.phase) && announced(view.phase) {
                        said.push(say(&view));
                    }
                    if signal.with_untracked(|old| *old != view) {
                        signal.set(view);
                    }
                }
                None => {
                    if announced(view.phase) {
                        said.push(say(&view));
                    }
                    let id = view.id;
                    let words = owner.with(|| RwSignal::new(String::new()));
                    self.meters.update_value(|m| m.push((id, Meter::default(), words)));
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
        if !said.is_empty() {
            self.said.set(said.join(" "));
        }
    }
}

/// Once the page has shown the queue's new state: focus `target` if it is shown, else (a row
/// removed) the file picker.
fn focus_soon(target: Option<NodeRef<leptos::html::Button>>) {
    #[cfg(feature = "hydrate")]
    crate::components::browser::after(0, move || {
        let shown = target.and_then(|t| t.get_untracked()).filter(|b| !b.hidden());
        match shown {
            Some(button) => {
                let _ = button.focus();
            }
            None => {
                if let Some(input) = document().get_element_by_id("file-input") {
                    use wasm_bindgen::JsCast;
                    let _ = input.unchecked_into::<web_sys::HtmlElement>().focus();
                }
            }
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = target;
}

/// Sends an event to the queue (in the browser; on the server nothing happens).
fn send_event(event: Event) {
    #[cfg(feature = "hydrate")]
    runtime::dispatch(runtime::Input::Event(event));
    #[cfg(not(feature = "hydrate"))]
    let _ = event;
}

/// The limits the dropzone checks files against: on the server from the configuration, in the
/// browser from the attributes the server rendered (an island prop would cost a JSON decoder).
fn limits() -> Limits {
    #[cfg(feature = "ssr")]
    return use_context::<crate::server::AppState>().map(|s| s.config.limits.clone()).unwrap_or(Limits {
        max_bytes: 0,
        multipart_threshold: 0,
        allowed_types: vec![],
    });
    #[cfg(not(feature = "ssr"))]
    {
        let attr = |name: &str| {
            document()
                .query_selector("[data-testid=dropzone]")
                .ok()
                .flatten()
                .and_then(|el| el.get_attribute(name))
                .unwrap_or_default()
        };
        Limits {
            max_bytes: attr("data-max-bytes").parse().unwrap_or(0),
            multipart_threshold: attr("data-multipart-threshold").parse().unwrap_or(u64::MAX),
            allowed_types: attr("data-types").split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        }
    }
}

/// The one island of the app: drop or pick files, watch them go, and see each finished one join
/// the history (`#history`) that the server rendered beside it.
#[island]
pub fn Dropzone() -> impl IntoView {
    let limits = limits();
    let locale = crate::locale::current();
    let board = Board {
        locale,
        ids: RwSignal::new(vec![]),
        rows: StoredValue::new(vec![]),
        totals: RwSignal::new(Totals::default()),
        clock_off_minutes: RwSignal::new(None),
        said: RwSignal::new(String::new()),
        page_drag: RwSignal::new(false),
        meters: StoredValue::new(vec![]),
        overall_speed: RwSignal::new(String::new()),
        thumbs: StoredValue::new(vec![]),
    };
    let hover = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    runtime::start(limits.clone(), board);
    // Picks folders (a non-standard attribute the view cannot name; the picker is the browser's).
    let folder_input = NodeRef::<leptos::html::Input>::new();
    // A mark for tests and styles: the dropzone answers to events from now on.
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    let announcement = move || {
        let t = board.totals.get();
        if t.counted_files == 0 {
            String::new()
        } else {
            td_string!(locale, drop.files_uploaded, done = t.done_files, total = t.counted_files)
        }
    };
    // A drop anywhere on the page reaches the window's listener (see `runtime::start`), which
    // walks folders too; here only the highlight.
    let on_drop = move |_: leptos::ev::DragEvent| hover.set(false);
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
            data-max-bytes=limits.max_bytes.to_string()
            data-multipart-threshold=limits.multipart_threshold.to_string()
            data-types=limits.allowed_types.join(",")
            on:dragenter=move |ev| { ev.prevent_default(); hover.set(true); }
            on:dragover=move |ev| { ev.prevent_default(); hover.set(true); }
            on:dragleave=move |_| hover.set(false)
            on:drop=on_drop
        >
            <input type="file" multiple id="file-input" class="visually-hidden" on:change=on_pick/>
            <label for="file-input" class="drop-target">
                <strong>{td_string!(locale, drop.drop_here)}</strong>{td_string!(locale, drop.paste_or)}
                <span class="pick">{td_string!(locale, drop.choose_files)}</span>
                <span class="hint">{td_string!(locale, drop.limits_hint, limits = limits.describe_in(locale))}</span>
            </label>
            <input type="file" multiple id="folder-input" class="visually-hidden" node_ref=folder_input on:change=on_pick/>
            <label for="folder-input" class="pick-folder">{td_string!(locale, drop.choose_folder)}</label>
        </div>
        <div class="drop-overlay" aria-hidden="true" hidden=move || !board.page_drag.get()>
            <p>{td_string!(locale, drop.drop_to_upload)}</p>
        </div>
        // Shown and hidden rather than mounted and unmounted: attributes cost the page's WASM far
        // less than conditional views, and a button keeps its place (and the focus near it).
        <div class="overall" data-testid="overall" hidden=move || board.totals.get().counted_files == 0>
            <progress
                aria-label=td_string!(locale, drop.all_files)
                max=move || board.totals.get().total.max(1)
                value=move || board.totals.get().sent
            ></progress>
            <span>{move || {
                let t = board.totals.get();
                let (sent, total) = (human_size_in(t.sent, locale), human_size_in(t.total, locale));
                td_string!(locale, drop.overall_progress, sent = sent, total = total, percent = t.sent * 100 / t.total.max(1))
            }}</span>
            <span class="speed" data-testid="overall-speed">{move || board.overall_speed.get()}</span>
            <button type="button" class="small" hidden=move || !any_active() on:click=move |_| send_event(Event::CancelAll)>{td_string!(locale, drop.cancel_all)}</button>
            <button type="button" class="small" hidden=move || !any_finished() on:click=move |_| send_event(Event::ClearFinished)>{td_string!(locale, drop.clear_finished)}</button>
        </div>
        <p class="flash error" role="alert" hidden=move || board.clock_off_minutes.get().is_none()>
            {move || board.clock_off_minutes.get().map(|m| if m > 0 {
                td_string!(locale, drop.clock_ahead, minutes = m.abs())
            } else {
                td_string!(locale, drop.clock_behind, minutes = m.abs())
            })}
        </p>
        <p class="visually-hidden" aria-live="polite" data-testid="announce">{announcement}</p>
        <p class="visually-hidden" aria-live="polite" data-testid="file-announce">{move || board.said.get()}</p>
        <ul class="queue" data-testid="queue">
            <For each=move || board.ids.get() key=|id| *id let:id>
                {board.row(id).map(|row| {
                    let speed = board.speed(id).unwrap_or_else(|| RwSignal::new(String::new()));
                    view! { <QueueRow row=row speed=speed thumb=board.thumb(id) locale=locale/> }
                })}
            </For>
        </ul>
    }
}

#[component]
fn QueueRow(row: RwSignal<FileView>, speed: RwSignal<String>, thumb: Option<String>, locale: Locale) -> impl IntoView {
    let (id, name, size) = row.with_untracked(|v| (v.id, v.name.clone(), v.size));
    let phase = move || row.with(|v| v.phase);
    let parts = move || row.with(|v| (v.parts_total > 0).then(|| format!("{}/{}", v.parts_done, v.parts_total)));
    let percent = move || {
        row.with(|v| match v.phase {
            Phase::Uploading | Phase::Paused if v.size > 0 => {
                td_string!(locale, drop.percent, percent = v.sent * 100 / v.size)
            }
            _ => String::new(),
        })
    };
    // Pause/Resume and Cancel/Retry replace each other: the focus moves to the one that appears,
    // so a keyboard user is never dropped to the top of the page.
    let refs: [NodeRef<leptos::html::Button>; 5] = std::array::from_fn(|_| NodeRef::new());
    let button = move |label: &'static str, shown: fn(&FileView) -> bool, event: fn(FileId) -> Event, me: usize| {
        let partner = match me {
            0 => Some(1),
            1 => Some(0),
            2 => Some(3),
            3 => Some(2),
            _ => None,
        };
        view! {
            <button type="button" class="small" node_ref=refs[me] hidden=move || !row.with(shown)
                on:click=move |_| {
                    send_event(event(id));
                    focus_soon(partner.map(|p| refs[p]));
                }
            >{label}</button>
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
            <span class="name">
                {thumb.map(|src| view! { <img class="thumb" src=src alt="" width="28" height="28"/> })}
                {name.clone()}
            </span>
            <span class="size">{human_size_in(size, locale)}</span>
            <progress aria-label=td_string!(locale, drop.upload_of, name = &name) max=size.max(1) value=move || row.with(|v| v.sent.min(size))></progress>
            <span class="phase" data-testid="phase">{move || phase().label(locale)}</span>
            <span class="percent">{percent}</span>
            <span class="speed">{move || speed.get()}</span>
            <span class="actions">
                {button(td_string!(locale, drop.pause), |v| v.can_pause, |file| Event::Pause { file }, 0)}
                {button(td_string!(locale, drop.resume), |v| v.can_resume, |file| Event::Resume { file }, 1)}
                {button(td_string!(locale, drop.cancel), |v| v.can_cancel, |file| Event::Cancel { file }, 2)}
                {button(td_string!(locale, drop.retry), |v| v.can_retry, |file| Event::Retry { file }, 3)}
                {button(td_string!(locale, drop.remove), |v| v.can_remove, |file| Event::Remove { file }, 4)}
            </span>
            <span class="message" role="status">{move || row.with(|v| v.message.clone())}</span>
        </li>
    }
}

/// The browser side: File objects, requests and timers, driven by the queue's commands.
#[cfg(feature = "hydrate")]
mod runtime {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;
    use std::rc::Rc;

    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{File, FileList, XmlHttpRequest};

    use super::Board;
    use crate::components::browser::{self, Body};
    use crate::components::wire::{self, Args};
    use crate::components::{history, wire::json_string};
    use crate::i18n::{td_string, Locale};
    use crate::model::{Limits, SendPlan};
    use crate::upload_queue::{Command, Event, FileId, FileView, Queue, QueueConfig};

    /// Files prepared ahead: each now waits for its SHA-256 before its ticket, so keep twice the
    /// upload places ready (measured with `scripts/bench-uploads`).
    const SIGN_AHEAD: usize = 6;

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
        board: Board,
        owner: Owner,
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
    }

    pub fn start(limits: Limits, board: Board) {
        // The whole page takes dropped files (and folders) and pasted ones.
        let has_files = |ev: &web_sys::DragEvent| {
            ev.data_transfer().is_some_and(|dt| dt.types().iter().any(|t| t.as_string().as_deref() == Some("Files")))
        };
        let dragover = window_event_listener(leptos::ev::dragover, move |ev| {
            if has_files(&ev) {
                ev.prevent_default();
                board.page_drag.set(true);
            }
        });
        let dragleave = window_event_listener(leptos::ev::dragleave, move |ev| {
            // Leaving the window itself: no element to enter next.
            if ev.related_target().is_none() {
                board.page_drag.set(false);
            }
        });
        let drop = window_event_listener(leptos::ev::drop, move |ev| {
            ev.prevent_default();
            board.page_drag.set(false);
            if let Some(dt) = ev.data_transfer() {
                add_dropped(dt);
            }
        });
        let paste = window_event_listener(leptos::ev::paste, move |ev| {
            if let Some(files) = ev.clipboard_data().and_then(|d| d.files()).filter(|f| f.length() > 0) {
                ev.prevent_default();
                add_files(files);
            }
        });
        let owner = Owner::current().unwrap_or_default();
        let seed = (js_sys::Math::random() * u64::MAX as f64) as u64;
        RUNTIME.with(|r| {
            *r.borrow_mut() = Some(Runtime {
                queue: Queue::new(
                    QueueConfig { sign_ahead: SIGN_AHEAD, locale: board.locale, ..QueueConfig::new(limits) },
                    seed,
                ),
                board,
                owner,
                files: ById::new(),
                requests: ById::new(),
                generation: ById::new(),
                hash_lane: VecDeque::new(),
                hashing_bytes: 0,
                tickets_waiting: vec![],
                confirms_waiting: vec![],
            })
        });
        let offline = window_event_listener(leptos::ev::offline, |_| dispatch(Input::Event(Event::Offline)));
        let online = window_event_listener(leptos::ev::online, |_| dispatch(Input::Event(Event::Online)));
        // Leaving the page mid-upload loses the queue: ask first.
        let leaving = window_event_listener(leptos::ev::beforeunload, move |ev| {
            if with_rt(|rt| rt.queue.in_flight()).unwrap_or(false) {
                ev.prevent_default();
                ev.set_return_value(td_string!(board.locale, drop.leaving));
            }
        });
        if !browser::online() {
            dispatch(Input::Event(Event::Offline));
        }
        on_cleanup(move || {
            offline.remove();
            online.remove();
            leaving.remove();
            dragover.remove();
            dragleave.remove();
            drop.remove();
            paste.remove();
            // Navigating away: stop every transfer; late answers find no runtime and are dropped.
            if let Some(rt) = RUNTIME.with(|r| r.borrow_mut().take()) {
                for xhr in rt.requests.values().flatten() {
                    let _ = xhr.abort();
                }
                rt.board.thumbs.with_value(|t| {
                    for (_, url) in t {
                        let _ = web_sys::Url::revoke_object_url(url);
                    }
                });
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
    /// commands run (an abort's own events, say) wait their turn instead of re-entering.
    pub fn dispatch(input: Input) {
        INBOX.with(|q| q.borrow_mut().push_back(input));
        if BUSY.with(|b| b.replace(true)) {
            return;
        }
        while let Some(input) = INBOX.with(|q| q.borrow_mut().pop_front()) {
            let commands = with_rt(|rt| {
                let now = browser::now_ms();
                let commands = match input {
                    Input::Add(file, shown) => {
                        let name = shown.unwrap_or_else(|| file.name());
                        let is_image = file.type_().starts_with("image/");
                        let (id, commands) = rt.queue.add(now, name, file.size() as u64, file.type_());
                        // The picture shown is the file on this computer; nothing extra is sent.
                        if let Some(url) =
                            is_image.then(|| web_sys::Url::create_object_url_with_blob(&file).ok()).flatten()
                        {
                            rt.board.thumbs.update_value(|t| t.push((id, url)));
                        }
                        rt.files.insert(id, Some(file));
                        commands
                    }
                    Input::Event(event) => rt.queue.handle(now, event),
                };
                let views: Vec<FileView> = rt.queue.files().collect();
                let totals = rt.queue.totals();
                rt.board.measure(now, &views, totals);
                rt.board.show(&rt.owner, views, totals);
                commands
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

    /// The page's language, for the words the runtime writes itself.
    fn locale() -> Locale {
        with_rt(|rt| rt.board.locale).unwrap_or_default()
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

    /// How often a transfer's progress reaches the queue and the page, at most.
    const PROGRESS_EVERY_MS: i64 = 50;

    /// How long a ticket request waits for others (files hashed just after it) before going.
    const TICKET_WAIT_MS: i64 = 10;
    /// How long a confirmation waits for others. A file being checked holds no upload place, so
    /// the wait slows no transfer; it only turns many calls into one.
    const CONFIRM_WAIT_MS: i64 = 40;

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
                            with_rt(|rt| rt.board.clock_off_minutes.set(off));
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
                    browser::after(TICKET_WAIT_MS, send_tickets);
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
                    rt.board.thumbs.update_value(|t| {
                        t.retain(|(i, url)| *i != id || web_sys::Url::revoke_object_url(url).is_err());
                    });
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
}
