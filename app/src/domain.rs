//! Values that carry their rules: each is parsed once, where it enters, and is valid from then on.
//! Shared by the server and the browser (the page shows the same rules it is held to).

use std::fmt;

use crate::i18n::{td_string, Locale};

/// An email address as accounts are keyed: trimmed, lower-cased, and plausible (something `@`
/// a dotted domain, no spaces, at most 254 bytes). Compared case-insensitively by being stored so.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

/// `Display` is the English message (logs and tests); [`EmailError::words`] is the person's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Please enter a valid email address.")]
pub struct EmailError;

impl EmailError {
    /// The message in `locale`.
    pub fn words(&self, locale: Locale) -> String {
        td_string!(locale, errors.account.bad_email).to_owned()
    }
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let email = Self::canonical(input);
        let plausible = email.len() <= 254
            && email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
            && !email.contains(char::is_whitespace);
        if plausible {
            Ok(Email(email))
        } else {
            Err(EmailError)
        }
    }

    /// The form an address is stored and compared in, valid or not (a search for an address
    /// that cannot exist simply finds nothing).
    pub fn canonical(input: &str) -> String {
        input.trim().to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shortest password an account may have.
pub const MIN_PASSWORD_LEN: usize = 10;

/// A password long enough to be accepted for a new account. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// `Display` is the English message (logs and tests); [`PasswordError::words`] is the person's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Please choose a password of at least {MIN_PASSWORD_LEN} characters.")]
    TooShort,
    #[error("Please choose a password of at most {MAX_PASSWORD_LEN} characters.")]
    TooLong,
}

impl PasswordError {
    /// The message in `locale`.
    pub fn words(&self, locale: Locale) -> String {
        match self {
            PasswordError::TooShort => {
                td_string!(locale, errors.account.password_too_short, min = MIN_PASSWORD_LEN).to_string()
            }
            PasswordError::TooLong => {
                td_string!(locale, errors.account.password_too_long, max = MAX_PASSWORD_LEN).to_string()
            }
        }
    }
}

/// Longer is no safer and only costs hashing time; every password manager stays far below.
pub const MAX_PASSWORD_LEN: usize = 1024;

impl Password {
    pub fn new(password: String) -> Result<Self, PasswordError> {
        match password.chars().count() {
            n if n < MIN_PASSWORD_LEN => Err(PasswordError::TooShort),
            n if n > MAX_PASSWORD_LEN => Err(PasswordError::TooLong),
            _ => Ok(Password(password)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Longest content type accepted, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// A media type as stored and signed: `type/subtype` tokens with optional `; name=value`
/// parameters (token or quoted-string values), ASCII only, no control characters; trimmed and
/// lower-cased (the whole value, as S3 is sent it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContentType(String);

/// `Display` is the English message (logs and tests); [`ContentTypeError::words`] is the person's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("The file's type \"{0}\" is not a valid media type.")]
pub struct ContentTypeError(pub String);

impl ContentTypeError {
    /// The message in `locale`.
    pub fn words(&self, locale: Locale) -> String {
        td_string!(locale, errors.limits.malformed_type, content_type = &self.0).to_string()
    }
}

impl ContentType {
    pub const OCTET_STREAM: &'static str = "application/octet-stream";

    /// The type a browser reported for a file: empty means it did not know, and the file goes as
    /// `application/octet-stream`.
    pub fn of_file(reported: &str) -> Result<Self, ContentTypeError> {
        match reported.trim() {
            "" => Ok(ContentType(Self::OCTET_STREAM.to_owned())),
            t => Self::parse(t),
        }
    }

    pub fn parse(input: &str) -> Result<Self, ContentTypeError> {
        let value = input.trim().to_ascii_lowercase();
        if value.len() <= MAX_CONTENT_TYPE_BYTES && is_media_type(&value) {
            Ok(ContentType(value))
        } else {
            Err(ContentTypeError(input.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `type/subtype`, without parameters.
    pub fn essence(&self) -> &str {
        self.0.split(';').next().unwrap_or_default().trim_end()
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The length of the token at the start of `s`.
fn token_len(s: &[u8]) -> usize {
    s.iter().take_while(|b| is_tchar(**b)).count()
}

/// RFC 9110 `media-type`, with spaces (not tabs) as optional whitespace and ASCII only.
fn is_media_type(value: &str) -> bool {
    let s = value.as_bytes();
    let major = token_len(s);
    if major == 0 || s.get(major) != Some(&b'/') {
        return false;
    }
    let minor = token_len(&s[major + 1..]);
    if minor == 0 {
        return false;
    }
    let mut rest = &s[major + 1 + minor..];
    loop {
        rest = trim_spaces(rest);
        match rest.first() {
            None => return true,
            Some(b';') => rest = trim_spaces(&rest[1..]),
            Some(_) => return false,
        }
        // An empty parameter (`type/sub;` or `;;`) is allowed, as RFC 9110 allows it.
        if rest.is_empty() || rest[0] == b';' {
            continue;
        }
        let name = token_len(rest);
        if name == 0 || rest.get(name) != Some(&b'=') {
            return false;
        }
        rest = &rest[name + 1..];
        let value = match rest.first() {
            Some(b'"') => match quoted_string_len(rest) {
                Some(n) => n,
                None => return false,
            },
            _ => token_len(rest),
        };
        if value == 0 {
            return false;
        }
        rest = &rest[value..];
    }
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ').count();
    &s[n..]
}

/// The length of the quoted-string at the start of `s` (quotes included), if it is one: printable
/// ASCII and spaces, `\` escaping the next such character.
fn quoted_string_len(s: &[u8]) -> Option<usize> {
    let printable = |b: u8| b == b' ' || b.is_ascii_graphic();
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(i + 1),
            b'\\' if s.get(i + 1).is_some_and(|b| printable(*b)) => i += 2,
            b if printable(b) && b != b'\\' => i += 1,
            _ => return None,
        }
    }
    None
}

/// Longest stored file name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// A file name safe to put in a key and to show back: the last path component, no control
/// characters, no bidirectional formatting characters (so `invoice\u{202e}txt.exe` cannot pose as
/// a text file), no `/` or `\`, not `.` or `..` nor starting with a dot, at most
/// [`MAX_NAME_BYTES`] (the extension kept). Other Unicode is kept as it is; an empty result is
/// `file`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileName(String);

/// Characters that reorder how text is displayed: embeddings, overrides, isolates and marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

impl FileName {
    pub fn new(name: &str) -> Self {
        let base = name.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String = base.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).collect();
        let cleaned = cleaned.trim_start_matches(|c: char| c == '.' || c.is_whitespace()).trim_end();
        let cleaned = if cleaned.is_empty() { "file".to_owned() } else { cleaned.to_owned() };
        if cleaned.len() <= MAX_NAME_BYTES {
            return FileName(cleaned);
        }
        let ext = cleaned.rsplit_once('.').map(|(_, e)| e).filter(|e| e.len() <= 16 && !e.is_empty());
        let budget = MAX_NAME_BYTES - ext.map_or(0, |e| e.len() + 1);
        let mut stem = String::new();
        for c in cleaned.chars() {
            if stem.len() + c.len_utf8() > budget {
                break;
            }
            stem.push(c);
        }
        FileName(match ext {
            Some(e) => format!("{stem}.{e}"),
            None => stem,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lower_cased_and_plausible() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in ["", "ada", "@x.io", "ada@x", "ada@.io", "a da@x.io", &format!("{}@x.io", "a".repeat(250))] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad:?}");
        }
        assert_eq!(Email::canonical(" A@X.io"), "a@x.io");
    }

    #[test]
    fn passwords_have_a_minimum_length_in_characters_and_are_never_printed() {
        assert_eq!(Password::new("short".into()), Err(PasswordError::TooShort));
        assert_eq!(Password::new("x".repeat(MAX_PASSWORD_LEN + 1)), Err(PasswordError::TooLong));
        assert!(Password::new("x".repeat(MAX_PASSWORD_LEN)).is_ok());
        assert!(Password::new("ü".repeat(MIN_PASSWORD_LEN)).is_ok());
        let p = Password::new("correct horse battery".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        assert_eq!(PasswordError::TooShort.to_string(), "Please choose a password of at least 10 characters.");
    }

    #[test]
    fn refusals_say_in_english_what_they_display_and_have_french_words() {
        let pairs = [
            (EmailError.to_string(), EmailError.words(Locale::en), EmailError.words(Locale::fr)),
            (
                PasswordError::TooShort.to_string(),
                PasswordError::TooShort.words(Locale::en),
                PasswordError::TooShort.words(Locale::fr),
            ),
            (
                PasswordError::TooLong.to_string(),
                PasswordError::TooLong.words(Locale::en),
                PasswordError::TooLong.words(Locale::fr),
            ),
        ];
        for (display, en, fr) in pairs {
            assert_eq!(display, en);
            assert_ne!(en, fr);
        }
        assert_eq!(
            PasswordError::TooLong.words(Locale::fr),
            "Veuillez choisir un mot de passe d'au plus 1024 caractères."
        );
        let bad = ContentType::parse("text/pl\0ain").unwrap_err();
        assert_eq!(bad.words(Locale::en), bad.to_string());
        assert_eq!(
            ContentTypeError("x y".into()).words(Locale::fr),
            "Le type du fichier, «\u{a0}x y\u{a0}», n'est pas un type de média valide."
        );
    }

    #[test]
    fn content_types_are_media_types() {
        for good in [
            "text/plain",
            "IMAGE/PNG",
            "text/plain; charset=utf-8",
            "text/plain;charset=UTF-8",
            "multipart/form-data; boundary=\"a b;c\"",
            "application/vnd.api+json",
            "text/plain;",
            " text/plain ",
        ] {
            assert!(ContentType::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "text",
            "text/",
            "/plain",
            "text/plain\0",
            "text/pl\0ain",
            "text/plain\r\nx-amz-acl: public-read",
            "text/plain;\tcharset=utf-8",
            "text/plain; charset",
            "text/plain; charset=",
            "text/plain; charset=\"open",
            "text/plain x",
            "text/pläin",
            "text /plain",
        ] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
        let ct = ContentType::parse(" Text/Plain; Charset=UTF-8").unwrap();
        assert_eq!(ct.as_str(), "text/plain; charset=utf-8");
        assert_eq!(ct.essence(), "text/plain");
        assert_eq!(ContentType::of_file(" ").unwrap().as_str(), "application/octet-stream");
        assert!(ContentType::parse(&format!("text/{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn file_names_lose_paths_and_control_characters_but_keep_unicode() {
        let name = |s: &str| FileName::new(s).as_str().to_owned();
        assert_eq!(name("../../etc/passwd"), "passwd");
        assert_eq!(name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(name("  ..hidden "), "hidden");
        assert_eq!(name(".."), "file");
        assert_eq!(name(". .x"), "x");
        assert_eq!(name(""), "file");
        assert_eq!(name("Résumé 履歴書.pdf"), "Résumé 履歴書.pdf");
    }

    #[test]
    fn bidi_overrides_cannot_disguise_an_extension() {
        assert_eq!(FileName::new("invoice\u{202e}txt.exe").as_str(), "invoicetxt.exe");
        assert_eq!(FileName::new("\u{2067}a\u{2069}\u{200f}.pdf\u{200e}").as_str(), "a.pdf");
        assert_eq!(FileName::new("\u{202e}").as_str(), "file");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(300));
        let cut = FileName::new(&long);
        assert!(cut.as_str().len() <= MAX_NAME_BYTES, "{}", cut.as_str().len());
        assert!(cut.as_str().ends_with(".jpeg"));
        assert!(cut.as_str().starts_with("éé"));
    }

    proptest::proptest! {
        #[test]
        fn sanitized_names_are_always_safe_key_segments(name in "\\PC{0,300}|[./\\\\\\x00-\\x1f]{0,20}") {
            let s = FileName::new(&name);
            let s = s.as_str();
            proptest::prop_assert!(!s.is_empty() && s.len() <= MAX_NAME_BYTES);
            proptest::prop_assert!(!s.contains('/') && !s.contains('\\'));
            proptest::prop_assert!(!s.chars().any(char::is_control));
            proptest::prop_assert!(s != "." && s != ".." && !s.starts_with('.'));
        }

        #[test]
        fn sanitized_names_never_hold_bidi_controls(
            name in "([a-z.]|[\u{202A}-\u{202E}]|[\u{2066}-\u{2069}]|\u{200E}|\u{200F}|\u{061C}){0,60}"
        ) {
            let s = FileName::new(&name);
            proptest::prop_assert!(!s.as_str().chars().any(is_bidi_control), "{:?}", s);
        }

        #[test]
        fn parsed_content_types_hold_no_control_characters(input in "\\PC{0,40}|[a-z/;= \\x00-\\x1f\"]{0,40}") {
            if let Ok(ct) = ContentType::parse(&input) {
                proptest::prop_assert!(ct.as_str().bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{:?}", ct);
            }
        }
    }
}
