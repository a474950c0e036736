//! Which language a page (or a server function's answer) speaks.
//!
//! The words themselves live in `app/locales/<language>/<namespace>.json`; `leptos_i18n` turns
//! them into code at compile time (the `crate::i18n` module), so a key missing from a language is
//! a build error rather than a blank on the page. The choice is made here, in plain Rust, rather
//! than by the library's context provider: in islands mode that provider is itself an island and
//! would put WASM on every page; the dropzone island reads the language the server chose from
//! `<html lang>`.

pub use crate::i18n::Locale;
use leptos_i18n::Locale as _;

/// The cookie that keeps a reader's explicit choice (set by `/language`), ahead of the browser's
/// `Accept-Language`.
pub const COOKIE: &str = "lang";

/// Every language the app speaks, the default first.
pub fn all() -> &'static [Locale] {
    Locale::get_all()
}

/// A language's tag, as in `<html lang>` and the cookie: `en`, `fr`.
pub fn tag(locale: Locale) -> &'static str {
    locale.as_str()
}

/// The language a tag such as `fr`, `fr-CA` or `EN_gb` asks for, if the app speaks it.
pub fn from_tag(tag: &str) -> Option<Locale> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    Locale::get_all().iter().copied().find(|l| l.as_str() == primary)
}

/// The reader's language: an explicit choice first, then the best of `Accept-Language` (by its
/// weights; ties keep the browser's order) that the app speaks, then English.
pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Locale {
    if let Some(chosen) = cookie.and_then(from_tag) {
        return chosen;
    }
    let mut offered: Vec<(u16, usize, Locale)> = accept_language
        .unwrap_or_default()
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let locale = from_tag(parts.next()?)?;
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), |q| q.trim().parse::<f32>().ok().map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u16))?;
            (weight > 0).then_some((weight, i, locale))
        })
        .collect();
    offered.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    offered.first().map_or_else(Locale::default, |o| o.2)
}

/// The first non-empty value of one cookie in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('=').filter(|v| !v.is_empty()))
}

/// The language of a request: its `lang` cookie, else its `Accept-Language`.
#[cfg(feature = "ssr")]
pub fn of_headers(headers: &http::HeaderMap) -> Locale {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let cookie = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, COOKIE));
    choose(cookie, header(http::header::ACCEPT_LANGUAGE))
}

/// The language of what is being answered: on the server, the request's (from the Leptos
/// context that pages and server functions run in); in the browser, the page's `<html lang>`.
pub fn current() -> Locale {
    #[cfg(feature = "ssr")]
    {
        leptos::prelude::use_context::<http::request::Parts>().map_or_else(Locale::default, |p| of_headers(&p.headers))
    }
    #[cfg(not(feature = "ssr"))]
    {
        leptos::prelude::document()
            .document_element()
            .and_then(|html| html.get_attribute("lang"))
            .and_then(|tag| from_tag(&tag))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_on_their_primary_language_only() {
        assert_eq!(from_tag("fr"), Some(Locale::fr));
        assert_eq!(from_tag("fr-CA"), Some(Locale::fr));
        assert_eq!(from_tag(" EN_gb "), Some(Locale::en));
        assert_eq!(from_tag("de"), None);
        assert_eq!(from_tag(""), None);
    }

    #[test]
    fn the_heaviest_spoken_language_wins_and_ties_keep_the_browsers_order() {
        assert_eq!(choose(None, Some("de-DE,fr;q=0.8,en;q=0.5")), Locale::fr);
        assert_eq!(choose(None, Some("en;q=0.3, fr-FR;q=0.9")), Locale::fr);
        assert_eq!(choose(None, Some("fr, en")), Locale::fr);
        assert_eq!(choose(None, Some("en, fr")), Locale::en);
        assert_eq!(choose(None, Some("fr;q=0, en;q=0.1")), Locale::en);
    }

    #[test]
    fn nothing_known_or_nothing_sent_is_english() {
        assert_eq!(choose(None, None), Locale::en);
        assert_eq!(choose(None, Some("de, ja;q=0.5")), Locale::en);
        assert_eq!(choose(None, Some(";;,q=,fr;q=abc")), Locale::en);
    }

    #[test]
    fn an_explicit_choice_beats_the_browser_unless_it_is_unknown() {
        assert_eq!(choose(Some("en"), Some("fr")), Locale::en);
        assert_eq!(choose(Some("fr"), Some("en")), Locale::fr);
        assert_eq!(choose(Some("xx"), Some("fr")), Locale::fr);
    }

    #[test]
    fn plurals_follow_each_languages_rules() {
        use crate::i18n::td_string;
        // French counts zero as one; English does not.
        assert_eq!(td_string!(Locale::en, common.uploads, count = 0), "0 uploads");
        assert_eq!(td_string!(Locale::fr, common.uploads, count = 0), "0 envoi");
        assert_eq!(td_string!(Locale::en, common.uploads, count = 1), "1 upload");
        assert_eq!(td_string!(Locale::fr, common.uploads, count = 2), "2 envois");
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        assert_eq!(cookie_value("a=1; lang=fr; b=2", "lang"), Some("fr"));
        assert_eq!(cookie_value("language=de; lang=en", "lang"), Some("en"));
        assert_eq!(cookie_value("sid=x", "lang"), None);
        assert_eq!(cookie_value("lang=; lang=fr", "lang"), Some("fr"), "an emptied cookie is passed over");
    }
}
