//! Types both sides share: what the server sends and the browser shows.

use serde::{Deserialize, Serialize};

use crate::domain::{ContentType, ContentTypeError};
use crate::i18n::{td_string, Locale};

/// Upload limits, defined once from the configuration: the server checks them, the signed policy
/// enforces them, and the UI shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_bytes: u64,
    /// Files of at least this many bytes go by multipart upload.
    pub multipart_threshold: u64,
    /// `type/subtype`, `type/*` or `*`, lower case.
    pub allowed_types: Vec<String>,
}

impl Limits {
    pub fn allows_type(&self, content_type: &str) -> bool {
        let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        self.allowed_types.iter().any(|pattern| match pattern.strip_suffix("/*") {
            _ if pattern == "*" => true,
            Some(major) => ct.split_once('/').is_some_and(|(m, minor)| m == major && !minor.is_empty()),
            None => *pattern == ct,
        })
    }

    /// Whether a file of `size` bytes and this reported type may be sent, and its type as it is
    /// then stored and signed. The browser asks before it bothers the server, the server before it
    /// signs; both say the same words.
    pub fn check(&self, size: u64, content_type: &str) -> Result<ContentType, LimitError> {
        if size == 0 {
            return Err(LimitError::Empty);
        }
        if size > self.max_bytes {
            return Err(LimitError::TooLarge { size, max: self.max_bytes });
        }
        let content_type = ContentType::of_file(content_type).map_err(LimitError::MalformedType)?;
        if !self.allows_type(content_type.as_str()) {
            return Err(LimitError::TypeNotAllowed {
                content_type: content_type.to_string(),
                allowed: self.allowed_types.clone(),
            });
        }
        Ok(content_type)
    }

    /// "up to 100 MiB each; image/*, application/pdf", in the language of what is being
    /// answered (see [`crate::locale::current`]): it is only ever shown.
    pub fn describe(&self) -> String {
        self.describe_in(crate::locale::current())
    }

    /// [`Limits::describe`] in `locale`.
    pub fn describe_in(&self, locale: Locale) -> String {
        let types = if self.allowed_types.iter().any(|t| t == "*") {
            td_string!(locale, errors.limits.any_type).to_owned()
        } else {
            self.allowed_types.join(", ")
        };
        let size = human_size_in(self.max_bytes, locale);
        td_string!(locale, errors.limits.describe, size = size, types = types).to_string()
    }
}

/// Why [`Limits::check`] refused a file. `Display` is the English message (logs and tests);
/// [`LimitError::words`] is the message for the person, in their language.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("The file is empty.")]
    Empty,
    #[error("The file is {}; the limit is {}.", human_size(*size), human_size(*max))]
    TooLarge { size: u64, max: u64 },
    #[error("Files of type {content_type} are not accepted (allowed: {}).", allowed.join(", "))]
    TypeNotAllowed { content_type: String, allowed: Vec<String> },
    #[error(transparent)]
    MalformedType(ContentTypeError),
}

impl LimitError {
    /// The message in `locale` (the English one is the `Display`).
    pub fn words(&self, locale: Locale) -> String {
        match self {
            LimitError::Empty => td_string!(locale, errors.limits.empty).to_owned(),
            LimitError::TooLarge { size, max } => {
                let (size, max) = (human_size_in(*size, locale), human_size_in(*max, locale));
                td_string!(locale, errors.limits.too_large, size = size, max = max).to_string()
            }
            LimitError::TypeNotAllowed { content_type, allowed } => {
                let allowed = allowed.join(", ");
                td_string!(locale, errors.limits.type_not_allowed, content_type = content_type, allowed = allowed)
                    .to_string()
            }
            LimitError::MalformedType(e) => e.words(locale),
        }
    }

    /// The message in the language of what is being answered (see [`crate::locale::current`]).
    pub fn message(&self) -> String {
        self.words(crate::locale::current())
    }
}

/// 1536 -> "1.5 KiB", in English (logs, and the English messages); [`human_size_in`] says it in
/// a reader's language.
pub fn human_size(bytes: u64) -> String {
    human_size_in(bytes, Locale::en)
}

/// 1536 -> "1.5 KiB" in English, "1,5 Kio" in French. Integer arithmetic only: formatting a
/// float would add about 8 kB to the page's WASM.
pub fn human_size_in(bytes: u64, locale: Locale) -> String {
    let mut unit = 0;
    while unit < 4 && bytes >= 1u64 << (10 * (unit + 1)) {
        unit += 1;
    }
    let unit_name = match unit {
        0 => {
            return match bytes {
                0 => td_string!(locale, common.size.no_bytes).to_owned(),
                1 => td_string!(locale, common.size.one_byte).to_owned(),
                _ => td_string!(locale, common.size.bytes, number = bytes).to_string(),
            }
        }
        1 => td_string!(locale, common.size.kib),
        2 => td_string!(locale, common.size.mib),
        3 => td_string!(locale, common.size.gib),
        _ => td_string!(locale, common.size.tib),
    };
    // Tenths of the unit, rounded half up.
    let div = 1u128 << (10 * unit);
    let tenths = ((bytes as u128 * 10 + div / 2) / div) as u64;
    let whole = tenths / 10;
    if tenths.is_multiple_of(10) {
        td_string!(locale, common.size.whole, whole = whole, unit = unit_name).to_string()
    } else {
        let tenth = tenths % 10;
        td_string!(locale, common.size.tenths, whole = whole, tenth = tenth, unit = unit_name).to_string()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    Pending,
    Completed,
    Failed,
    Expired,
    Cancelled,
}

impl UploadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Pending => "pending",
            UploadStatus::Completed => "completed",
            UploadStatus::Failed => "failed",
            UploadStatus::Expired => "expired",
            UploadStatus::Cancelled => "cancelled",
        }
    }
}

impl TryFrom<String> for UploadStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "pending" => UploadStatus::Pending,
            "completed" => UploadStatus::Completed,
            "failed" => UploadStatus::Failed,
            "expired" => UploadStatus::Expired,
            "cancelled" => UploadStatus::Cancelled,
            _ => return Err(format!("unknown upload status \"{s}\"")),
        })
    }
}

/// How the browser sends the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningMethod {
    Post,
    Put,
    Multipart,
}

impl SigningMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningMethod::Post => "post",
            SigningMethod::Put => "put",
            SigningMethod::Multipart => "multipart",
        }
    }
}

impl TryFrom<String> for SigningMethod {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "post" => SigningMethod::Post,
            "put" => SigningMethod::Put,
            "multipart" => SigningMethod::Multipart,
            _ => return Err(format!("unknown signing method \"{s}\"")),
        })
    }
}

/// One upload as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct UploadRow {
    pub id: String,
    pub owner_id: String,
    pub object_key: String,
    pub file_name: String,
    pub content_type: String,
    pub declared_size: i64,
    pub confirmed_size: Option<i64>,
    pub etag: Option<String>,
    pub checksum_sha256: Option<String>,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub status: UploadStatus,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub method: SigningMethod,
    pub error: Option<String>,
    /// Unix milliseconds
    pub created_at: i64,
    pub expires_at: i64,
    pub confirmed_at: Option<i64>,
    /// S3's id of the multipart upload, while the row is a multipart upload.
    pub multipart_upload_id: Option<String>,
    pub part_size: Option<i64>,
    pub part_count: Option<i64>,
    /// What recognises the same file after a reload (see [`Fingerprint`]).
    pub fingerprint: Option<String>,
    /// When the sweep found this object in the bucket without a row (a form upload whose
    /// redirect never reached us) and recorded it; `None` for uploads the app saw happen.
    pub found_at: Option<i64>,
}

/// What an account may do; stored as `user` or `admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role {s:?} (expected user or admin)")),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// The signed-in user, as pages see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub role: Role,
}

/// One file in a request for many tickets (`uploads/request-many`): what `request_upload`
/// takes, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRequest {
    pub file_name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub last_modified: Option<i64>,
    #[serde(default)]
    pub first_part_sha256: Option<String>,
}

/// The most files one batched call (tickets or confirmations) may name: a page's worth, small
/// enough that one call never holds the server for long.
pub const MAX_BATCH: usize = 100;

/// Everything the browser needs to send one file straight to S3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadTicket {
    pub upload_id: String,
    pub object_key: String,
    /// How the bytes go: decided by the server from the size and its configuration.
    pub send: SendPlan,
    /// Unix milliseconds; the signature is refused after this. For multipart, the upload's own
    /// lifetime on our side (each part URL has its own, shorter one).
    pub expires_at: i64,
    /// The server's clock when it signed, so the page can warn about a skewed local clock.
    pub server_time: i64,
}

/// The three ways a file goes to S3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SendPlan {
    /// A form POST to `url` with `fields` in order, the file last (`file`).
    Post { url: String, fields: Vec<(String, String)> },
    /// A PUT of the whole file to `url` with exactly these headers (`Content-Length` is the
    /// browser's to set, and is signed too).
    Put { url: String, headers: Vec<(String, String)> },
    /// Parts of `part_size` bytes (the last one shorter), each PUT to a URL asked for with
    /// `sign_upload_parts`; `done` are the parts S3 already has (a resumed upload).
    Multipart { part_size: u64, part_count: u32, concurrency: u32, done: Vec<u32>, resumed: bool },
}

impl SendPlan {
    pub fn is_multipart(&self) -> bool {
        matches!(self, SendPlan::Multipart { .. })
    }
}

/// Smallest part the uploader uses (S3's own minimum is 5 MiB).
pub const MIN_PART_SIZE: u64 = 8 << 20;
/// S3's most parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// The part size for a file of `size` bytes: at least [`MIN_PART_SIZE`], large enough to stay
/// within [`MAX_PARTS`], a whole number of MiB. Both sides compute it, so the page can hash the
/// first part (the resume fingerprint) before it asks for a ticket.
pub fn part_size_for(size: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    needed.max(MIN_PART_SIZE)
}

/// How many parts a file of `size` bytes has with parts of `part_size`.
pub fn part_count(size: u64, part_size: u64) -> u32 {
    size.div_ceil(part_size).max(1) as u32
}

/// The byte range `[start, end)` of part `n` (1-based).
pub fn part_range(size: u64, part_size: u64, n: u32) -> (u64, u64) {
    let start = (n as u64 - 1) * part_size;
    (start, (start + part_size).min(size))
}

/// Standard base64 with padding, as S3 writes checksums. Here rather than a crate so the browser
/// bundle carries only these few lines.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What identifies a large file again after a reload, so its multipart upload can resume: the
/// name and size travel with the request; these are the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `File.lastModified`, Unix milliseconds.
    pub last_modified: i64,
    /// base64 SHA-256 of the first part (which is also that part's checksum).
    pub first_part_sha256: String,
}

/// One part's number and base64 SHA-256, as the browser computed it before asking to send it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartChecksum {
    pub part_number: u32,
    pub sha256: String,
}

/// A signed URL for one part: PUT the part's bytes with exactly these headers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartUrl {
    pub part_number: u32,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Unix milliseconds by the server's clock.
    pub expires_at: i64,
}

/// A batch of part URLs, with the server's clock to judge their age by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartUrls {
    pub parts: Vec<PartUrl>,
    pub server_time: i64,
}

/// The plain HTML form for browsers without JavaScript: S3 redirects back to our landing route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlainForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// One row of the admin history: the upload and who uploaded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct HistoryRow {
    pub owner_email: String,
    #[cfg_attr(feature = "ssr", sqlx(flatten))]
    pub upload: UploadRow,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistorySort {
    /// Newest first.
    #[default]
    Time,
    /// Largest first.
    Size,
}

/// The admin history's filters; every field optional. `after` is the keyset cursor: the sort
/// value and id of the last row already shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFilter {
    pub user_email: Option<String>,
    pub status: Option<UploadStatus>,
    /// Unix milliseconds, inclusive.
    pub from: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub to: Option<i64>,
    /// Part of the file name, any case.
    pub name: Option<String>,
    pub sort: HistorySort,
    pub after: Option<(i64, String)>,
    /// The keyset cursor going back: the sort value and id of the first row of the page shown.
    #[serde(default)]
    pub before: Option<(i64, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTotal {
    pub status: String,
    pub count: i64,
    pub bytes: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub rows: Vec<HistoryRow>,
    /// Present when there may be more rows.
    pub next: Option<(i64, String)>,
    /// Present when rows come before these (the cursor of this page's first row).
    #[serde(default)]
    pub prev: Option<(i64, String)>,
}

/// Aggregates over everything the filter matches (the cursor aside); loaded beside the page
/// because their cost grows with the matching rows while the page's does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySummary {
    pub totals: Vec<StatusTotal>,
    /// (day as Unix milliseconds at 00:00 UTC, uploads that day) over the last 30 days, newest first.
    pub per_day: Vec<(i64, i64)>,
    /// 00:00 UTC today (Unix milliseconds): the chart's last day.
    pub today: i64,
}

/// What the health check found; each part is `Ok` when healthy, or the reason it is not, in the
/// language of the request that asked (the server words it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub database: Result<(), String>,
    pub bucket: Result<(), String>,
    /// Whether browsers on the app's own origin may send files to the bucket (a CORS preflight).
    pub cors: Result<(), String>,
}

impl Health {
    pub fn ok(&self) -> bool {
        self.database.is_ok() && self.bucket.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_match_as_documented() {
        let l = Limits {
            max_bytes: 1,
            multipart_threshold: 1,
            allowed_types: vec!["image/*".into(), "application/pdf".into()],
        };
        assert!(l.allows_type("image/png"));
        assert!(l.allows_type("IMAGE/PNG; charset=x"));
        assert!(l.allows_type("application/pdf"));
        assert!(!l.allows_type("application/pdfx"));
        assert!(!l.allows_type("text/plain"));
        assert!(!l.allows_type("image/"));
        assert!(Limits { max_bytes: 1, multipart_threshold: 1, allowed_types: vec!["*".into()] }
            .allows_type("anything/at-all"));
    }

    #[test]
    fn limits_check_size_then_type_and_return_the_type_to_store() {
        let l = Limits { max_bytes: 10, multipart_threshold: 10, allowed_types: vec!["image/*".into()] };
        assert_eq!(l.check(0, "image/png"), Err(LimitError::Empty));
        assert_eq!(l.check(11, "image/png").unwrap_err().to_string(), "The file is 11 bytes; the limit is 10 bytes.");
        assert_eq!(
            l.check(1, "text/plain").unwrap_err().to_string(),
            "Files of type text/plain are not accepted (allowed: image/*)."
        );
        assert!(matches!(l.check(1, "image/png\0"), Err(LimitError::MalformedType(_))));
        assert_eq!(l.check(1, " IMAGE/PNG ").unwrap().as_str(), "image/png");
        let any = Limits { allowed_types: vec!["*".into()], ..l };
        assert_eq!(any.check(1, "").unwrap().as_str(), "application/octet-stream");
    }

    #[test]
    fn limit_errors_display_english_and_have_words_in_each_language() {
        let l = Limits { max_bytes: 10 << 20, multipart_threshold: 10, allowed_types: vec!["image/*".into()] };
        let errors = [
            l.check(0, "image/png").unwrap_err(),
            l.check(15 << 20 | 1 << 19, "image/png").unwrap_err(),
            l.check(1, "text/plain").unwrap_err(),
            l.check(1, "image/png\0").unwrap_err(),
        ];
        for e in &errors {
            assert_eq!(e.words(Locale::en), e.to_string(), "{e:?}");
            assert_ne!(e.words(Locale::fr), e.words(Locale::en), "{e:?}");
            assert_eq!(e.message(), e.to_string(), "outside a request: English");
        }
        assert_eq!(errors[1].to_string(), "The file is 15.5 MiB; the limit is 10 MiB.");
        assert_eq!(
            LimitError::TooLarge { size: 15 << 20 | 1 << 19, max: 10 << 20 }.words(Locale::fr),
            "Le fichier fait 15,5\u{a0}Mio\u{a0}; la limite est de 10\u{a0}Mio."
        );
        assert_eq!(
            errors[2].words(Locale::fr),
            "Les fichiers de type text/plain ne sont pas acceptés (types autorisés\u{a0}: image/*)."
        );
    }

    #[test]
    fn limits_are_described_in_each_language() {
        let l = Limits { max_bytes: 100 << 20, multipart_threshold: 10, allowed_types: vec!["image/*".into()] };
        assert_eq!(l.describe(), "up to 100 MiB each; image/*", "outside a request: English");
        assert_eq!(l.describe_in(Locale::fr), "jusqu'à 100\u{a0}Mio chacun\u{a0}; image/*");
        let any = Limits { allowed_types: vec!["*".into()], ..l };
        assert_eq!(any.describe_in(Locale::en), "up to 100 MiB each; any type");
        assert_eq!(any.describe_in(Locale::fr), "jusqu'à 100\u{a0}Mio chacun\u{a0}; tous types");
    }

    #[test]
    fn sizes_read_as_french_people_write_them() {
        let fr = |bytes| human_size_in(bytes, Locale::fr);
        assert_eq!(fr(0), "0\u{a0}octet");
        assert_eq!(fr(1), "1\u{a0}octet");
        assert_eq!(fr(1023), "1023\u{a0}octets");
        assert_eq!(fr(1536), "1,5\u{a0}Kio");
        assert_eq!(fr(100 << 20), "100\u{a0}Mio");
        assert_eq!(fr(10 * (1 << 30) + (1 << 29)), "10,5\u{a0}Gio");
        assert_eq!(fr(5 << 40), "5\u{a0}Tio");
    }

    #[test]
    fn roles_read_back_what_they_store() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::try_from(role.as_str().to_owned()), Ok(role));
        }
        assert!(Role::try_from("root".to_owned()).is_err());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 << 20), "100 MiB");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1024), "1 KiB");
        assert_eq!(human_size(2047), "2 KiB", "1.999 KiB rounds to a whole 2");
        assert_eq!(human_size(10 * (1 << 30) + (1 << 29)), "10.5 GiB");
        assert_eq!(human_size(5 << 40), "5 TiB");
        assert_eq!(human_size(u64::MAX), "16777216 TiB");
    }

    #[test]
    fn base64_matches_rfc_4648() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
        for (input, want) in cases {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
    }

    #[test]
    fn parts_are_at_least_8_mib_and_never_more_than_10_000() {
        assert_eq!(part_size_for(1), MIN_PART_SIZE);
        assert_eq!(part_size_for(300 << 20), MIN_PART_SIZE);
        assert_eq!(part_count(300 << 20, MIN_PART_SIZE), 38);
        for size in [80_000u64 << 20, 50 << 30, 5 << 40, (5 << 40) - 1, 78_125 << 20, (78_125 << 20) + 1] {
            let p = part_size_for(size);
            assert!(p.is_multiple_of(1 << 20) && p >= MIN_PART_SIZE);
            assert!(part_count(size, p) as u64 <= MAX_PARTS, "{size}: {}", part_count(size, p));
        }
        assert_eq!(part_range(20, 8, 1), (0, 8));
        assert_eq!(part_range(20, 8, 3), (16, 20));
    }
}
