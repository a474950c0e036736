//! Adds a finished upload to the history table the server rendered (`#history`), in the browser.
//! The table is outside the island, so this is plain DOM; its cells are text, never markup.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlTableElement};

use crate::components::upload_list::{cells, status_word};
use crate::i18n::Locale;
use crate::model::UploadRow;

fn cell(doc: &Document, text: &str, class: Option<&str>) -> Option<Element> {
    let td = doc.create_element("td").ok()?;
    if let Some(class) = class {
        td.set_class_name(class);
    }
    td.set_text_content(Some(text));
    Some(td)
}

thread_local! {
    /// The page's date format: made once, where `toLocaleString` made one per row (0.4 ms each).
    static FORMAT: std::cell::RefCell<Option<(Locale, js_sys::Function)>> = const { std::cell::RefCell::new(None) };
}

/// The moment `at` in the reader's time zone, in the same words as the page script's
/// (`app::LOCAL_TIMES`), in `locale`.
fn local_time(at: i64, locale: Locale) -> String {
    FORMAT
        .with(|f| {
            let mut f = f.borrow_mut();
            if f.as_ref().is_none_or(|(l, _)| *l != locale) {
                let style = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&style, &"dateStyle".into(), &"medium".into());
                let _ = js_sys::Reflect::set(&style, &"timeStyle".into(), &"short".into());
                let locales = js_sys::Array::of1(&leptos_i18n::Locale::as_str(locale).into());
                *f = Some((locale, js_sys::Intl::DateTimeFormat::new(&locales, &style).format()));
            }
            let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
            f.as_ref().and_then(|(_, format)| format.call1(&wasm_bindgen::JsValue::NULL, &date).ok()?.as_string())
        })
        .unwrap_or_default()
}

/// Puts `row` at the top of the history, replacing an older line for the same upload; its words
/// in `locale`, the page's.
pub fn prepend(row: &UploadRow, locale: Locale) -> Option<()> {
    let doc = web_sys::window()?.document()?;
    let table: HtmlTableElement = doc.get_element_by_id("history")?.dyn_into().ok()?;
    let body = table.t_bodies().item(0)?;
    if let Ok(Some(old)) = body.query_selector(&format!("tr[data-id=\"{}\"]", row.id)) {
        old.remove();
    }
    let c = cells(row);
    let status = row.status.as_str();
    let tr = doc.create_element("tr").ok()?;
    tr.set_attribute("data-status", status).ok()?;
    tr.set_attribute("data-id", &row.id).ok()?;
    let badge = doc.create_element("span").ok()?;
    badge.set_class_name(&format!("badge {status}"));
    badge.set_text_content(Some(status_word(row.status, locale)));
    let status_cell = cell(&doc, "", None)?;
    status_cell.append_child(&badge).ok()?;
    // The moment in the reader's own time zone, like the rows the page script localised.
    let time = doc.create_element("time").ok()?;
    time.set_attribute("datetime", &crate::dates::iso_minutes(c.at)).ok()?;
    time.set_text_content(Some(&local_time(c.at, locale)));
    let time_cell = cell(&doc, "", None)?;
    time_cell.append_child(&time).ok()?;
    for td in [cell(&doc, &row.file_name, Some("name"))?, cell(&doc, &c.size, None)?, status_cell, time_cell] {
        tr.append_child(&td).ok()?;
    }
    body.insert_before(&tr, body.first_child().as_ref()).ok()?;
    table.remove_attribute("hidden").ok()?;
    if let Some(notice) = doc.get_element_by_id("no-uploads") {
        notice.set_attribute("hidden", "").ok()?;
    }
    Some(())
}
