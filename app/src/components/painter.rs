//! Writes the queue's state into the dropzone's DOM by hand, in the browser.
//!
//! The dropzone's markup is rendered by the server ([`super::dropzone::DropzoneShell`]) and the
//! island itself renders nothing: reactive views (a dozen closures per queue row, a keyed `For`)
//! cost the page about a third of its WASM and most of its main-thread time while 100 rows were
//! live. Here each row keeps its elements and the [`FileView`] it last showed, and a change writes
//! only the attributes and texts that differ, once per batch of queue events.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement};

use crate::i18n::{td_string, Locale};
use crate::meter::{speed_words, Meter};
use crate::model::human_size_in;
use crate::upload_queue::{Event, FileId, FileView, Phase, Totals};

use super::dropzone::{action, announced, parts, percent, resumed, shown, ACTIONS};

fn set_attr(el: &Element, name: &str, value: Option<&str>) {
    let _ = match value {
        Some(v) => el.set_attribute(name, v),
        None => el.remove_attribute(name),
    };
}

fn set_text(el: &Element, text: &str) {
    el.set_text_content(Some(text));
}

fn set_hidden(el: &Element, hidden: bool) {
    el.unchecked_ref::<HtmlElement>().set_hidden(hidden);
}

/// One element of the shell the server rendered, by id.
fn by_id(doc: &Document, id: &str) -> Option<Element> {
    doc.get_element_by_id(id)
}

/// `<tag class=…>` with `text`, appended to `parent`.
fn child(doc: &Document, parent: &Element, tag: &str, class: &str, text: &str) -> Option<Element> {
    let el = doc.create_element(tag).ok()?;
    if !class.is_empty() {
        el.set_class_name(class);
    }
    if !text.is_empty() {
        set_text(&el, text);
    }
    parent.append_child(&el).ok()?;
    Some(el)
}

struct Row {
    id: FileId,
    li: Element,
    progress: Element,
    phase: Element,
    percent: Element,
    speed: Element,
    message: Element,
    buttons: [Element; ACTIONS],
    /// What the row shows now.
    last: FileView,
    meter: Meter,
    speed_words: String,
}

/// The shell's live parts, found once.
struct Shell {
    root: Element,
    overlay: Element,
    overall: Element,
    overall_bar: Element,
    overall_words: Element,
    overall_speed: Element,
    cancel_all: Element,
    clear_finished: Element,
    clock: Element,
    announce: Element,
    file_announce: Element,
    queue: Element,
}

pub struct Painter {
    locale: Locale,
    doc: Document,
    shell: Shell,
    rows: Vec<Row>,
    /// What the overall line shows now.
    totals: Option<Totals>,
    any_active: Option<bool>,
    overall_speed: String,
    /// Per image file: a `blob:` URL of the file itself, for its thumbnail (never uploaded).
    thumbs: Vec<(FileId, String)>,
}

impl Painter {
    /// The painter of the shell the server rendered; `None` when it is not on the page.
    pub fn find(locale: Locale) -> Option<Painter> {
        let doc = web_sys::window()?.document()?;
        let shell = Shell {
            root: by_id(&doc, "dropzone")?,
            overlay: by_id(&doc, "drop-overlay")?,
            overall: by_id(&doc, "overall")?,
            overall_bar: by_id(&doc, "overall-bar")?,
            overall_words: by_id(&doc, "overall-words")?,
            overall_speed: by_id(&doc, "overall-speed")?,
            cancel_all: by_id(&doc, "cancel-all")?,
            clear_finished: by_id(&doc, "clear-finished")?,
            clock: by_id(&doc, "clock-warning")?,
            announce: by_id(&doc, "announce")?,
            file_announce: by_id(&doc, "file-announce")?,
            queue: by_id(&doc, "queue")?,
        };
        Some(Painter {
            locale,
            doc,
            shell,
            rows: vec![],
            totals: None,
            any_active: None,
            overall_speed: String::new(),
            thumbs: vec![],
        })
    }

    pub fn root(&self) -> &Element {
        &self.shell.root
    }

    pub fn queue(&self) -> &Element {
        &self.shell.queue
    }

    pub fn cancel_all(&self) -> &Element {
        &self.shell.cancel_all
    }

    pub fn clear_finished(&self) -> &Element {
        &self.shell.clear_finished
    }

    /// Files dragged over the zone itself.
    pub fn hover(&self, on: bool) {
        self.shell.root.set_class_name(if on { "dropzone hover" } else { "dropzone" });
    }

    /// Files dragged over the page: the whole page takes them.
    pub fn page_drag(&self, on: bool) {
        set_hidden(&self.shell.overlay, !on);
    }

    pub fn clock_off(&self, minutes: Option<i64>) {
        let locale = self.locale;
        set_hidden(&self.shell.clock, minutes.is_none());
        if let Some(m) = minutes {
            let words = if m > 0 {
                td_string!(locale, drop.clock_ahead, minutes = m.abs())
            } else {
                td_string!(locale, drop.clock_behind, minutes = m.abs())
            };
            set_text(&self.shell.clock, &words);
        }
    }

    pub fn add_thumb(&mut self, id: FileId, url: String) {
        self.thumbs.push((id, url));
    }

    /// Lets go of a removed file's thumbnail.
    pub fn forget(&mut self, id: FileId) {
        self.thumbs.retain(|(i, url)| *i != id || web_sys::Url::revoke_object_url(url).is_err());
    }

    /// Lets go of every thumbnail (the island is going away).
    pub fn forget_all(&mut self) {
        for (_, url) in self.thumbs.drain(..) {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
    }

    /// The event a click on `target` (inside the queue) asks for, and the button that should take
    /// the focus next (`None`: the file picker, the row being gone).
    pub fn clicked(&self, target: &Element) -> Option<(Event, Option<Element>)> {
        let button = target.closest("button").ok()??;
        self.rows.iter().find_map(|row| {
            let i = row.buttons.iter().position(|b| *b == button)?;
            let (event, partner) = action(i, row.id);
            Some((event, partner.map(|p| row.buttons[p].clone())))
        })
    }

    /// Brings the page up to the queue's state; writes only what changed.
    pub fn show(&mut self, now_ms: i64, views: Vec<FileView>, totals: Totals) {
        let locale = self.locale;
        let mut said = vec![];
        let mut overall_rate = 0;
        let mut any_new_rate = false;
        self.rows.retain(|row| {
            let kept = views.iter().any(|v| v.id == row.id);
            if !kept {
                row.li.remove();
            }
            kept
        });
        let mut order_changed = false;
        let order: Vec<FileId> = views.iter().map(|v| v.id).collect();
        for (at, view) in views.into_iter().enumerate() {
            let known = self.rows.iter().position(|r| r.id == view.id);
            let fresh = known.is_none();
            if announced(view.phase) && known.is_none_or(|i| self.rows[i].last.phase != view.phase) {
                said.push(td_string!(locale, drop.file_phase, name = &view.name, phase = view.phase.label(locale)));
            }
            let i = match known {
                Some(i) => i,
                None => match self.new_row(&view) {
                    Some(row) => {
                        self.rows.push(row);
                        self.rows.len() - 1
                    }
                    None => continue,
                },
            };
            if i != at {
                order_changed = true;
            }
            let row = &mut self.rows[i];
            paint_row(row, &view, fresh, locale);
            // Speed: sampled at most once a second per file, only while it uploads.
            if view.phase == Phase::Uploading {
                if row.meter.sample(now_ms, view.sent) {
                    any_new_rate = true;
                    let words = speed_words(row.meter.rate(), view.size.saturating_sub(view.sent), locale);
                    if words != row.speed_words {
                        set_text(&row.speed, &words);
                        row.speed_words = words;
                    }
                }
                overall_rate += row.meter.rate();
            } else {
                row.meter = Meter::new(now_ms, view.sent);
                if !row.speed_words.is_empty() {
                    row.speed_words.clear();
                    set_text(&row.speed, "");
                }
            }
            row.last = view;
        }
        // The queue's order is the page's: rows move only when it changed (rare).
        if order_changed {
            self.rows.sort_by_key(|r| order.iter().position(|id| *id == r.id));
            for row in &self.rows {
                let _ = self.shell.queue.append_child(&row.li);
            }
        }
        if any_new_rate || overall_rate == 0 {
            let words = speed_words(overall_rate, totals.total.saturating_sub(totals.sent), locale);
            if words != self.overall_speed {
                set_text(&self.shell.overall_speed, &words);
                self.overall_speed = words;
            }
        }
        self.paint_totals(totals);
        if !said.is_empty() {
            set_text(&self.shell.file_announce, &said.join(" "));
        }
    }

    fn paint_totals(&mut self, t: Totals) {
        let locale = self.locale;
        let active = self.rows.iter().any(|r| r.last.can_cancel);
        if self.any_active != Some(active) {
            set_hidden(&self.shell.cancel_all, !active);
            self.any_active = Some(active);
        }
        if self.totals.replace(t) == Some(t) {
            return;
        }
        let s = &self.shell;
        set_hidden(&s.overall, t.counted_files == 0);
        set_hidden(&s.clear_finished, t.done_files == 0);
        let _ = s.overall_bar.set_attribute("max", &t.total.max(1).to_string());
        let _ = s.overall_bar.set_attribute("value", &t.sent.to_string());
        let (sent, total) = (human_size_in(t.sent, locale), human_size_in(t.total, locale));
        let percent = t.sent * 100 / t.total.max(1);
        set_text(
            &s.overall_words,
            &td_string!(locale, drop.overall_progress, sent = sent, total = total, percent = percent),
        );
        let announce = if t.counted_files == 0 {
            String::new()
        } else {
            td_string!(locale, drop.files_uploaded, done = t.done_files, total = t.counted_files)
        };
        set_text(&s.announce, &announce);
    }

    /// A row's elements, in the order and with the classes the page's styles and tests know.
    fn new_row(&mut self, v: &FileView) -> Option<Row> {
        let locale = self.locale;
        let doc = &self.doc;
        let li = doc.create_element("li").ok()?;
        li.set_class_name("file");
        li.set_attribute("data-name", &v.name).ok()?;
        let name = child(doc, &li, "span", "name", "")?;
        if let Some((_, src)) = self.thumbs.iter().find(|(i, _)| *i == v.id) {
            let img = child(doc, &name, "img", "thumb", "")?;
            for (k, value) in [("src", src.as_str()), ("alt", ""), ("width", "28"), ("height", "28")] {
                img.set_attribute(k, value).ok()?;
            }
        }
        name.append_with_str_1(&v.name).ok()?;
        child(doc, &li, "span", "size", &human_size_in(v.size, locale))?;
        let progress = child(doc, &li, "progress", "", "")?;
        progress.set_attribute("aria-label", &td_string!(locale, drop.upload_of, name = &v.name)).ok()?;
        progress.set_attribute("max", &v.size.max(1).to_string()).ok()?;
        let phase = child(doc, &li, "span", "phase", "")?;
        phase.set_attribute("data-testid", "phase").ok()?;
        let percent = child(doc, &li, "span", "percent", "")?;
        let speed = child(doc, &li, "span", "speed", "")?;
        let actions = child(doc, &li, "span", "actions", "")?;
        let labels = [
            td_string!(locale, drop.pause),
            td_string!(locale, drop.resume),
            td_string!(locale, drop.cancel),
            td_string!(locale, drop.retry),
            td_string!(locale, drop.remove),
        ];
        let mut buttons = vec![];
        for label in labels {
            let b = child(doc, &actions, "button", "small", label)?;
            b.set_attribute("type", "button").ok()?;
            buttons.push(b);
        }
        let message = child(doc, &li, "span", "message", "")?;
        message.set_attribute("role", "status").ok()?;
        self.shell.queue.append_child(&li).ok()?;
        Some(Row {
            id: v.id,
            li,
            progress,
            phase,
            percent,
            speed,
            message,
            buttons: buttons.try_into().ok()?,
            last: v.clone(),
            meter: Meter::default(),
            speed_words: String::new(),
        })
    }
}

/// Writes what differs between what `row` shows and `v` (everything when `fresh`).
fn paint_row(row: &Row, v: &FileView, fresh: bool, locale: Locale) {
    let old = &row.last;
    if fresh || old.phase != v.phase {
        let _ = row.li.set_attribute("data-phase", v.phase.word());
        set_text(&row.phase, v.phase.label(locale));
    }
    if fresh || old.parts_done != v.parts_done || old.parts_total != v.parts_total || old.resumed != v.resumed {
        set_attr(&row.li, "data-parts", parts(v).as_deref());
        set_attr(&row.li, "data-resumed", resumed(v));
    }
    if fresh || old.sent != v.sent {
        let _ = row.progress.set_attribute("value", &v.sent.min(v.size).to_string());
    }
    if fresh || old.sent != v.sent || old.phase != v.phase {
        set_text(&row.percent, &percent(v, locale));
    }
    let (was, now) = (shown(old), shown(v));
    for (i, button) in row.buttons.iter().enumerate() {
        if fresh || was[i] != now[i] {
            set_hidden(button, !now[i]);
        }
    }
    if fresh || old.message != v.message {
        set_text(&row.message, v.message.as_deref().unwrap_or(""));
    }
}

/// A listener added by hand, removed when the island goes away.
pub struct Listener {
    target: web_sys::EventTarget,
    name: &'static str,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    pub fn remove(self) {
        let _ = self.target.remove_event_listener_with_callback(self.name, self.callback.as_ref().unchecked_ref());
    }
}

/// Calls `f` with each `name` event on `target` (one closure type for every event: each typed
/// listener would be its own code in the page).
pub fn listen(target: &web_sys::EventTarget, name: &'static str, f: impl FnMut(web_sys::Event) + 'static) -> Listener {
    let callback = Closure::<dyn FnMut(web_sys::Event)>::new(f);
    let _ = target.add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
    Listener { target: target.clone(), name, callback }
}
