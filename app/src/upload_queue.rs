//! The browser's upload queue as a pure state machine: events in, commands out.
//!
//! Everything that touches the browser (File objects, XHRs, hashing, server calls, timers) lives in
//! a transport elsewhere; this module only decides. Keeping the decisions free of I/O, clocks and
//! OS randomness is what lets the tests below drive whole uploads, failures and all, in
//! microseconds and deterministically.
//!
//! The rules it keeps:
//! - at most [`QueueConfig::max_files_uploading`] files send bytes at once, and as many are prepared
//!   ahead (hashed and signed) so a free place never waits for our server;
//! - a single-request file is hashed whole (its checksum pins the bytes S3 accepts); a multipart
//!   file is hashed part by part, one part at a time, a bounded number ahead of the sends;
//! - part URLs are signed in batches and re-signed rather than sent once they are about to expire;
//! - failures are classified ([`classify_part_failure`]) and retried with capped, jittered
//!   exponential backoff until [`QueueConfig::max_part_attempts`].
//!
//! A transport must not report anything for requests it aborted on [`Command::Abort`]: a late
//! failure of an aborted send would otherwise be taken for the failure of its replacement.
//!
//! The messages it writes are in [`QueueConfig::locale`] (English unless told otherwise).

use crate::i18n::{td_string, Locale};
use crate::model::{part_count, part_range, part_size_for, Limits, PartUrl, PartUrls, SendPlan, UploadTicket};

/// Files sending bytes at once: enough to fill most uplinks, few enough that each one shows progress.
pub const MAX_FILES_UPLOADING: usize = 3;
/// Files prepared (hashed, ticketed) ahead of a free upload place.
pub const SIGN_AHEAD: usize = 3;
/// Part URLs signed per request, and parts hashed ahead of the sends.
pub const SIGN_BATCH: usize = 8;
/// Failed sends of one part (or one single-request file) before the file fails.
pub const MAX_PART_ATTEMPTS: u32 = 6;
pub const BACKOFF_BASE_MS: i64 = 500;
pub const BACKOFF_MAX_MS: i64 = 30_000;
/// A waiting ticket is signed again when less than this is left: a large file may take longer than
/// a minute to go, and S3 checks the policy's expiry when the request ends.
const TICKET_MARGIN_MS: i64 = 60_000;
/// A part URL is signed again when less than this is left: one part is small enough to go in time.
const PART_URL_MARGIN_MS: i64 = 30_000;

/// The queue's knobs; tests shrink them, the page uses [`QueueConfig::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    pub max_files_uploading: usize,
    pub sign_ahead: usize,
    /// Ahead places are filled again only once this many are free, so that their files are
    /// hashed and signed together, in one ticket request, instead of one by one as uploads end.
    pub sign_refill: usize,
    pub sign_batch: usize,
    pub max_part_attempts: u32,
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    pub limits: Limits,
    /// The language of the messages the queue writes for the user.
    pub locale: Locale,
}

impl QueueConfig {
    pub fn new(limits: Limits) -> Self {
        QueueConfig {
            max_files_uploading: MAX_FILES_UPLOADING,
            sign_ahead: SIGN_AHEAD,
            sign_refill: 1,
            sign_batch: SIGN_BATCH,
            max_part_attempts: MAX_PART_ATTEMPTS,
            backoff_base_ms: BACKOFF_BASE_MS,
            backoff_max_ms: BACKOFF_MAX_MS,
            limits,
            locale: Locale::default(),
        }
    }
}

impl From<Limits> for QueueConfig {
    fn from(limits: Limits) -> Self {
        QueueConfig::new(limits)
    }
}

/// A file's handle, stable for as long as it is listed (a retry keeps it), so the transport can key
/// its File objects and requests by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Refused in the browser before anything was sent.
    Refused,
    /// Waiting for a place to be prepared in.
    Queued,
    /// Its checksum (whole file, or first part for multipart) is being computed.
    Hashing,
    /// Our server is issuing its ticket.
    Signing,
    /// Ticketed and waiting for an upload place.
    Ready,
    Uploading,
    Paused,
    /// All bytes sent in one request; our server checks the object.
    Confirming,
    /// All parts sent; our server completes the multipart upload and checks it.
    Completing,
    Done,
    Failed,
    Cancelled,
}

impl Phase {
    /// The phase's name in the page's markup (`data-phase`, which tests select on); the same
    /// as what an English page shows.
    pub fn word(self) -> &'static str {
        match self {
            Phase::Refused => "refused",
            Phase::Queued => "waiting",
            Phase::Hashing => "reading",
            Phase::Signing => "preparing",
            Phase::Ready => "ready",
            Phase::Uploading => "uploading",
            Phase::Paused => "paused",
            Phase::Confirming => "checking",
            Phase::Completing => "finishing",
            Phase::Done => "completed",
            Phase::Failed => "failed",
            Phase::Cancelled => "cancelled",
        }
    }

    /// The word the page shows, in the reader's language.
    pub fn label(self, locale: Locale) -> &'static str {
        match self {
            Phase::Refused => td_string!(locale, drop.phase.refused),
            Phase::Queued => td_string!(locale, drop.phase.queued),
            Phase::Hashing => td_string!(locale, drop.phase.hashing),
            Phase::Signing => td_string!(locale, drop.phase.signing),
            Phase::Ready => td_string!(locale, drop.phase.ready),
            Phase::Uploading => td_string!(locale, drop.phase.uploading),
            Phase::Paused => td_string!(locale, drop.phase.paused),
            Phase::Confirming => td_string!(locale, drop.phase.confirming),
            Phase::Completing => td_string!(locale, drop.phase.completing),
            Phase::Done => td_string!(locale, drop.phase.done),
            Phase::Failed => td_string!(locale, drop.phase.failed),
            Phase::Cancelled => td_string!(locale, drop.phase.cancelled),
        }
    }

    /// Nothing more happens to the file unless the user asks (retry) or removes it.
    pub fn is_ended(self) -> bool {
        matches!(self, Phase::Refused | Phase::Done | Phase::Failed | Phase::Cancelled)
    }
}

/// Who paused a file decides who may resume it: coming back online must not undo the user's pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseCause {
    User,
    Network,
}

/// What happened: the user's actions, the browser's network state, and the transport's results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Pause {
        file: FileId,
    },
    Resume {
        file: FileId,
    },
    Cancel {
        file: FileId,
    },
    Retry {
        file: FileId,
    },
    Remove {
        file: FileId,
    },
    ClearFinished,
    CancelAll,
    Offline,
    Online,
    /// A timer fired (see [`Command::Wake`]); harmless at any other time.
    Tick,
    FileHashed {
        file: FileId,
        sha256: String,
    },
    PartHashed {
        file: FileId,
        part: u32,
        sha256: String,
    },
    /// The file could not be read (removed or changed on disk since it was picked).
    HashFailed {
        file: FileId,
        message: String,
    },
    TicketReceived {
        file: FileId,
        ticket: UploadTicket,
    },
    TicketFailed {
        file: FileId,
        message: String,
    },
    /// Bytes of the file sent so far, already scaled to the file's size.
    SingleProgress {
        file: FileId,
        loaded: u64,
    },
    SingleSent {
        file: FileId,
    },
    SingleFailed {
        file: FileId,
        status: u16,
        body: String,
    },
    PartsSigned {
        file: FileId,
        urls: PartUrls,
    },
    SignFailed {
        file: FileId,
        message: String,
    },
    PartProgress {
        file: FileId,
        part: u32,
        loaded: u64,
    },
    PartDone {
        file: FileId,
        part: u32,
    },
    PartFailed {
        file: FileId,
        part: u32,
        status: u16,
        body: String,
    },
    Confirmed {
        file: FileId,
    },
    ConfirmFailed {
        file: FileId,
        message: String,
    },
}

/// What the transport is to do. Each request it starts is answered by the event named beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// SHA-256 (base64) of the whole file → [`Event::FileHashed`] / [`Event::HashFailed`].
    HashFile { file: FileId },
    /// SHA-256 (base64) of bytes `[start, end)` → [`Event::PartHashed`] / [`Event::HashFailed`].
    HashPart { file: FileId, part: u32, start: u64, end: u64 },
    /// Exactly one of the checksums is set: the whole file's, or (multipart) the first part's, which
    /// with the file's `lastModified` is the resume [`crate::model::Fingerprint`].
    /// → [`Event::TicketReceived`] / [`Event::TicketFailed`].
    RequestTicket { file: FileId, sha256: Option<String>, first_part_sha256: Option<String> },
    /// POST or PUT the whole file as the ticket says → `SingleProgress`, `SingleSent` / `SingleFailed`.
    SendSingle { file: FileId, ticket: UploadTicket },
    /// Part numbers with their checksums → [`Event::PartsSigned`] / [`Event::SignFailed`].
    SignParts { file: FileId, upload_id: String, parts: Vec<(u32, String)> },
    /// PUT bytes `[start, end)` → `PartProgress`, `PartDone` / `PartFailed`.
    SendPart { file: FileId, part: u32, url: PartUrl, start: u64, end: u64 },
    /// Abort every byte transfer of the file, reporting nothing for them. Hashing and server calls
    /// run on: their results are kept.
    Abort { file: FileId },
    /// → [`Event::Confirmed`] / [`Event::ConfirmFailed`].
    Confirm { file: FileId, upload_id: String },
    /// Complete the multipart upload → [`Event::Confirmed`] / [`Event::ConfirmFailed`].
    Complete { file: FileId, upload_id: String },
    /// Fire and forget: our server aborts the upload and removes what S3 has of it.
    CancelOnServer { upload_id: String },
    /// Fire and forget: S3's refusal, for the history.
    ReportFailure { upload_id: String, reason: String },
    /// Send [`Event::Tick`] at or after this local time.
    Wake { at_ms: i64 },
    /// The file ended (done, failed or cancelled): the history row changed.
    Finished { file: FileId, ok: bool },
    /// The file left the list: its File object may be dropped.
    Forget { file: FileId },
}

/// How a failed part (or single-request) send is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartFailure {
    /// Network, timeout, throttling, server trouble: the same request may well work later.
    Transient,
    /// The signature was refused (expired, skewed clock, bad signature): sign again.
    Resign,
    /// S3 got other bytes than the checksum says (read glitch or a file changing under us).
    Digest,
    /// The multipart upload no longer exists: nothing can be sent to it again.
    Gone,
    /// Any other refusal: retried a few times, in case it was a fluke.
    Refused,
}

/// Sorts S3's answer to a part PUT into what to do about it.
pub fn classify_part_failure(status: u16, body: &str) -> PartFailure {
    let code = crate::xml::first(body, "Code").unwrap_or_default();
    match status {
        0 | 408 | 429 | 500..=599 => PartFailure::Transient,
        // S3 answers an idle socket with a 400.
        400 if code == "RequestTimeout" => PartFailure::Transient,
        400 if matches!(code.as_str(), "InvalidDigest" | "BadDigest" | "XAmzContentSHA256Mismatch") => {
            PartFailure::Digest
        }
        403 => PartFailure::Resign,
        404 if code == "NoSuchUpload" => PartFailure::Gone,
        _ => PartFailure::Refused,
    }
}

/// The reason the browser refuses a file before asking the server, in `locale`; the same rules
/// the server applies and the signed policy enforces.
pub fn refusal(limits: &Limits, size: u64, content_type: &str, locale: Locale) -> Option<String> {
    limits.check(size, content_type).err().map(|e| e.words(locale))
}

/// Less than a minute of validity left (by the server's clock, measured with ours since arrival,
/// so a skewed local clock does not matter).
pub fn ticket_is_stale(ticket: &UploadTicket, received_local_ms: i64, now_local_ms: i64) -> bool {
    is_stale(ticket.expires_at - ticket.server_time, TICKET_MARGIN_MS, now_local_ms - received_local_ms)
}

/// Less than 30 seconds of validity left, measured like [`ticket_is_stale`].
pub fn part_url_is_stale(url: &PartUrl, server_time: i64, received_local_ms: i64, now_local_ms: i64) -> bool {
    is_stale(url.expires_at - server_time, PART_URL_MARGIN_MS, now_local_ms - received_local_ms)
}

/// Older than its validity less the margin; the margin is at most half the validity, so that a
/// short-lived signature (the operator may set a minute) is not stale the moment it arrives and
/// signed again forever.
fn is_stale(valid_for: i64, margin: i64, age: i64) -> bool {
    age > valid_for - margin.min(valid_for / 2)
}

/// S3's answer in words: its XML `<Message>` and `<Code>`, or what a status 0 means.
pub fn s3_refusal(status: u16, body: &str, locale: Locale) -> String {
    if status == 0 {
        return td_string!(locale, drop.storage_unreachable).into();
    }
    match (crate::xml::first(body, "Message"), crate::xml::first(body, "Code")) {
        (Some(m), Some(c)) if !m.is_empty() => td_string!(locale, drop.storage_refused_message, message = m, code = c),
        (_, Some(c)) => td_string!(locale, drop.storage_refused_code, code = c),
        _ => td_string!(locale, drop.storage_refused_status, status = status),
    }
}

/// The longest wait before retry number `attempt` (1-based): doubling from the base, capped, so a
/// struggling storage is not hammered and a brief glitch costs little.
pub fn backoff_cap_ms(config: &QueueConfig, attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1).min(40);
    config.backoff_base_ms.saturating_mul(1i64 << doublings).min(config.backoff_max_ms)
}

fn gone_message(locale: Locale) -> String {
    td_string!(locale, drop.storage_gone).to_owned()
}

fn offline_message(locale: Locale) -> String {
    td_string!(locale, drop.offline).to_owned()
}

/// What the page shows of one file; plain values so the view can diff them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileView {
    pub id: FileId,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub phase: Phase,
    pub paused_by: Option<PauseCause>,
    /// Bytes S3 has or is receiving; at most `size`.
    pub sent: u64,
    pub message: Option<String>,
    /// Both 0 for a single-request file.
    pub parts_done: u32,
    pub parts_total: u32,
    /// The server found an earlier upload of this file and it goes on from there.
    pub resumed: bool,
    pub can_pause: bool,
    pub can_resume: bool,
    pub can_cancel: bool,
    pub can_retry: bool,
    pub can_remove: bool,
    pub upload_id: Option<String>,
}

/// The overall progress bar, over the files that are meant to go (not refused or cancelled ones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub total: u64,
    pub done_files: usize,
    pub counted_files: usize,
}

/// xorshift64: tiny and deterministic, which is all backoff jitter needs (its job is only to keep
/// many failed parts from retrying in lockstep).
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// In `[0, n]`.
    fn up_to(&mut self, n: u64) -> u64 {
        self.next() % n.saturating_add(1).max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Refused,
    Done,
    Failed,
    Cancelled,
}

/// Which of the queue's limited places a file holds; a paused or finishing file holds none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Nowhere,
    /// One of the `sign_ahead` places for hashing, signing and waiting with a ticket.
    Ahead,
    /// One of the `max_files_uploading` places for sending bytes.
    Upload,
}

/// The one hash a file may have in flight (the transport reads the bytes into memory to hash them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HashJob {
    Whole,
    Range { part: u32, start: u64, end: u64 },
}

#[derive(Clone, Debug)]
struct SignedUrl {
    url: PartUrl,
    server_time: i64,
    received_ms: i64,
}

impl SignedUrl {
    fn is_stale(&self, now_ms: i64) -> bool {
        part_url_is_stale(&self.url, self.server_time, self.received_ms, now_ms)
    }
}

#[derive(Clone, Debug)]
enum PartState {
    Unhashed,
    Hashed { sha: String },
    Signing { sha: String },
    Signed { sha: String, url: SignedUrl },
    Sending { sha: String, url: SignedUrl, loaded: u64 },
    Done,
}

#[derive(Clone, Debug)]
struct Part {
    state: PartState,
    /// Failed sends so far.
    attempts: u32,
    /// Not sent again before this local time (backoff).
    retry_at: Option<i64>,
}

impl Part {
    /// Back from an aborted or failed send: keeps the URL while it is worth sending with.
    fn unsend(&mut self, now_ms: i64) {
        if let PartState::Sending { sha, url, .. } = &self.state {
            self.state = if url.is_stale(now_ms) {
                PartState::Hashed { sha: sha.clone() }
            } else {
                PartState::Signed { sha: sha.clone(), url: url.clone() }
            };
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Single {
    sending: bool,
    loaded: u64,
    attempts: u32,
    retry_at: Option<i64>,
}

#[derive(Clone, Debug)]
struct Multipart {
    upload_id: String,
    part_size: u64,
    concurrency: usize,
    parts: Vec<Part>,
}

impl Multipart {
    fn part_mut(&mut self, n: u32) -> Option<&mut Part> {
        (n as usize).checked_sub(1).and_then(|i| self.parts.get_mut(i))
    }

    fn sent(&self, size: u64) -> u64 {
        let mut sent = 0;
        for (i, p) in self.parts.iter().enumerate() {
            let (start, end) = part_range(size, self.part_size, i as u32 + 1);
            sent += match &p.state {
                PartState::Done => end - start,
                PartState::Sending { loaded, .. } => (*loaded).min(end - start),
                _ => 0,
            };
        }
        sent
    }

    fn parts_done(&self) -> u32 {
        self.parts.iter().filter(|p| matches!(p.state, PartState::Done)).count() as u32
    }
}

#[derive(Clone, Debug)]
enum Transfer {
    Single(Single),
    Multipart(Multipart),
}

#[derive(Clone, Debug)]
struct Entry {
    id: FileId,
    name: String,
    size: u64,
    content_type: String,
    multipart: bool,
    end: Option<End>,
    message: Option<String>,
    paused: Option<PauseCause>,
    place: Place,
    /// Confirm or Complete is in flight: the bytes are in, the place is free.
    finishing: bool,
    /// The whole file's checksum (single) or the first part's (multipart).
    hash: Option<String>,
    /// In-flight requests survive pause, cancel and retry, so that their late answers find the
    /// file and a retry does not start a second one beside them.
    hash_job: Option<HashJob>,
    ticket_requested: bool,
    /// The upload id a SignParts in flight is for.
    signing: Option<String>,
    /// With this computer's clock when it arrived, to tell when it grows old.
    ticket: Option<(UploadTicket, i64)>,
    transfer: Option<Transfer>,
}

impl Entry {
    fn phase(&self) -> Phase {
        match self.end {
            Some(End::Refused) => return Phase::Refused,
            Some(End::Done) => return Phase::Done,
            Some(End::Failed) => return Phase::Failed,
            Some(End::Cancelled) => return Phase::Cancelled,
            None => {}
        }
        if self.paused.is_some() {
            Phase::Paused
        } else if self.finishing {
            if matches!(self.transfer, Some(Transfer::Multipart(_))) {
                Phase::Completing
            } else {
                Phase::Confirming
            }
        } else {
            match self.place {
                Place::Upload => Phase::Uploading,
                Place::Ahead if self.ticket.is_some() => Phase::Ready,
                Place::Ahead if self.ticket_requested || self.hash.is_some() => Phase::Signing,
                Place::Ahead => Phase::Hashing,
                Place::Nowhere => Phase::Queued,
            }
        }
    }

    /// Not ended, not paused, not finishing: may take and use places.
    fn active(&self) -> bool {
        self.end.is_none() && self.paused.is_none() && !self.finishing
    }

    fn can_pause(&self) -> bool {
        self.active()
    }

    /// The bytes are all in once finishing: cancelling then would race our server's verdict.
    fn can_cancel(&self) -> bool {
        self.end.is_none() && !self.finishing
    }

    fn first_part_range(&self) -> (u64, u64) {
        part_range(self.size, part_size_for(self.size), 1)
    }

    fn upload_id(&self) -> Option<&str> {
        self.ticket.as_ref().map(|(t, _)| t.upload_id.as_str())
    }

    fn sent(&self) -> u64 {
        if self.end == Some(End::Done) || self.finishing {
            return self.size;
        }
        let sent = match (&self.transfer, &self.ticket) {
            (Some(Transfer::Single(s)), _) => s.loaded,
            (Some(Transfer::Multipart(m)), _) => m.sent(self.size),
            (None, Some((t, _))) => match &t.send {
                SendPlan::Multipart { part_size, done, .. } => done
                    .iter()
                    .map(|&n| {
                        let (start, end) = part_range(self.size, (*part_size).max(1), n.max(1));
                        end.saturating_sub(start)
                    })
                    .sum(),
                _ => 0,
            },
            (None, None) => 0,
        };
        sent.min(self.size)
    }

    fn parts(&self) -> (u32, u32) {
        match (&self.transfer, &self.ticket) {
            (Some(Transfer::Multipart(m)), _) => (m.parts_done(), m.parts.len() as u32),
            (Some(Transfer::Single(_)), _) => (0, 0),
            (None, Some((t, _))) => match &t.send {
                SendPlan::Multipart { part_count, done, .. } => {
                    (done.iter().filter(|&&n| n >= 1 && n <= *part_count).count() as u32, *part_count)
                }
                _ => (0, 0),
            },
            (None, None) if self.multipart && self.end != Some(End::Refused) => {
                (0, part_count(self.size, part_size_for(self.size)))
            }
            (None, None) => (0, 0),
        }
    }

    fn view(&self) -> FileView {
        let (parts_done, parts_total) = self.parts();
        let resumed =
            self.ticket.as_ref().is_some_and(|(t, _)| matches!(t.send, SendPlan::Multipart { resumed: true, .. }));
        FileView {
            id: self.id,
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            phase: self.phase(),
            paused_by: if self.end.is_none() { self.paused } else { None },
            sent: self.sent(),
            message: self.message.clone(),
            parts_done,
            parts_total,
            resumed,
            can_pause: self.can_pause(),
            can_resume: self.end.is_none() && self.paused.is_some(),
            can_cancel: self.can_cancel(),
            can_retry: matches!(self.end, Some(End::Failed | End::Cancelled)),
            can_remove: self.end.is_some(),
            upload_id: self.upload_id().map(str::to_owned),
        }
    }

    /// Stops the file's byte transfers; true when there were any (so `Abort` is worth sending).
    /// Progress in flight is dropped: an aborted request leaves nothing at S3.
    fn stop_sends(&mut self, now_ms: i64) -> bool {
        match &mut self.transfer {
            Some(Transfer::Single(s)) => {
                let was = s.sending;
                s.sending = false;
                s.loaded = 0;
                was
            }
            Some(Transfer::Multipart(m)) => {
                let mut was = false;
                for p in &mut m.parts {
                    if matches!(p.state, PartState::Sending { .. }) {
                        p.unsend(now_ms);
                        was = true;
                    }
                }
                was
            }
            None => false,
        }
    }

    fn pause(&mut self, cause: PauseCause, now_ms: i64, locale: Locale, cmds: &mut Vec<Command>) {
        if self.stop_sends(now_ms) {
            cmds.push(Command::Abort { file: self.id });
        }
        self.paused = Some(cause);
        self.place = Place::Nowhere;
        self.message = (cause == PauseCause::Network).then(|| offline_message(locale));
    }

    fn end_with(&mut self, end: End, message: Option<String>, now_ms: i64, cmds: &mut Vec<Command>) {
        if self.stop_sends(now_ms) {
            cmds.push(Command::Abort { file: self.id });
        }
        self.end = Some(end);
        self.message = message;
        self.place = Place::Nowhere;
        self.paused = None;
        self.finishing = false;
        cmds.push(Command::Finished { file: self.id, ok: end == End::Done });
    }

    fn fail(&mut self, message: String, now_ms: i64, cmds: &mut Vec<Command>) {
        self.end_with(End::Failed, Some(message), now_ms, cmds);
    }

    fn cancel(&mut self, now_ms: i64, cmds: &mut Vec<Command>) {
        if !self.can_cancel() {
            return;
        }
        if let Some(id) = self.upload_id() {
            cmds.push(Command::CancelOnServer { upload_id: id.to_owned() });
        }
        self.end_with(End::Cancelled, None, now_ms, cmds);
    }

    /// Starts over from the beginning; requests still in flight are kept (see `hash_job`).
    fn retry(&mut self, online: bool, locale: Locale) {
        if !matches!(self.end, Some(End::Failed | End::Cancelled)) {
            return;
        }
        self.end = None;
        self.message = None;
        self.paused = (!online).then_some(PauseCause::Network);
        if !online {
            self.message = Some(offline_message(locale));
        }
        self.place = Place::Nowhere;
        self.finishing = false;
        self.hash = None;
        self.ticket = None;
        self.transfer = None;
    }

    fn ticket_is_stale(&self, now_ms: i64) -> bool {
        match &self.ticket {
            // Each part URL carries its own expiry; the multipart ticket's is long.
            Some((t, _)) if t.send.is_multipart() => false,
            Some((t, received)) => ticket_is_stale(t, *received, now_ms),
            None => false,
        }
    }

    /// Throws away a ticket that would expire mid-way; the file then asks for a new one.
    fn drop_ticket(&mut self, cmds: &mut Vec<Command>) {
        if let Some((t, _)) = self.ticket.take() {
            cmds.push(Command::CancelOnServer { upload_id: t.upload_id });
        }
        self.transfer = None;
    }

    fn start_transfer(&mut self) {
        if self.transfer.is_some() {
            return;
        }
        let Some((ticket, _)) = &self.ticket else { return };
        self.transfer = Some(match &ticket.send {
            SendPlan::Multipart { part_size, part_count, concurrency, done, .. } => {
                let part_size = (*part_size).max(1);
                let mut parts: Vec<Part> = (1..=(*part_count).max(1))
                    .map(|n| Part {
                        state: if done.contains(&n) { PartState::Done } else { PartState::Unhashed },
                        attempts: 0,
                        retry_at: None,
                    })
                    .collect();
                // The fingerprint's hash is part 1's checksum, if the parts are the size it assumed.
                if let (Some(sha), Some(first)) = (&self.hash, parts.first_mut()) {
                    let same_range = part_range(self.size, part_size, 1) == self.first_part_range();
                    if self.multipart && same_range && matches!(first.state, PartState::Unhashed) {
                        first.state = PartState::Hashed { sha: sha.clone() };
                    }
                }
                Transfer::Multipart(Multipart {
                    upload_id: ticket.upload_id.clone(),
                    part_size,
                    concurrency: (*concurrency).max(1) as usize,
                    parts,
                })
            }
            SendPlan::Post { .. } | SendPlan::Put { .. } => Transfer::Single(Single::default()),
        });
    }

    /// Asks for what the file needs next to get its ticket.
    fn prepare(&mut self, cmds: &mut Vec<Command>) {
        if self.ticket.is_some() || self.ticket_requested {
            return;
        }
        if let Some(sha) = &self.hash {
            let (sha256, first_part_sha256) =
                if self.multipart { (None, Some(sha.clone())) } else { (Some(sha.clone()), None) };
            cmds.push(Command::RequestTicket { file: self.id, sha256, first_part_sha256 });
            self.ticket_requested = true;
        } else if self.hash_job.is_none() {
            if self.multipart {
                let (start, end) = self.first_part_range();
                cmds.push(Command::HashPart { file: self.id, part: 1, start, end });
                self.hash_job = Some(HashJob::Range { part: 1, start, end });
            } else {
                cmds.push(Command::HashFile { file: self.id });
                self.hash_job = Some(HashJob::Whole);
            }
        }
    }

    /// Moves the bytes of a file that holds an upload place.
    fn drive(&mut self, config: &QueueConfig, now_ms: i64, cmds: &mut Vec<Command>) {
        let file = self.id;
        match &mut self.transfer {
            Some(Transfer::Single(s)) => {
                if s.sending || s.retry_at.is_some_and(|t| t > now_ms) {
                    return;
                }
                match &self.ticket {
                    Some((t, received)) if !ticket_is_stale(t, *received, now_ms) => {
                        s.sending = true;
                        s.loaded = 0;
                        s.retry_at = None;
                        cmds.push(Command::SendSingle { file, ticket: t.clone() });
                    }
                    _ => {
                        // Waited out a backoff until the ticket grew old: start over with a new one.
                        self.drop_ticket(cmds);
                        self.place = Place::Nowhere;
                    }
                }
            }
            Some(Transfer::Multipart(m)) => {
                drive_parts(file, self.size, m, &mut self.hash_job, &mut self.signing, config, now_ms, cmds);
                if m.parts.iter().all(|p| matches!(p.state, PartState::Done)) {
                    cmds.push(Command::Complete { file, upload_id: m.upload_id.clone() });
                    self.finishing = true;
                    self.place = Place::Nowhere;
                }
            }
            None => {}
        }
    }
}

/// One multipart file's parts: send what is signed, sign what is hashed, hash what comes next.
#[allow(clippy::too_many_arguments)]
fn drive_parts(
    file: FileId,
    size: u64,
    m: &mut Multipart,
    hash_job: &mut Option<HashJob>,
    signing: &mut Option<String>,
    config: &QueueConfig,
    now_ms: i64,
    cmds: &mut Vec<Command>,
) {
    // A URL about to expire could fail mid-part: it is signed again rather than sent.
    for p in &mut m.parts {
        if let PartState::Signed { sha, url } = &p.state {
            if url.is_stale(now_ms) {
                p.state = PartState::Hashed { sha: sha.clone() };
            }
        }
    }

    let mut in_flight = m.parts.iter().filter(|p| matches!(p.state, PartState::Sending { .. })).count();
    for (i, p) in m.parts.iter_mut().enumerate() {
        if in_flight >= m.concurrency {
            break;
        }
        if p.retry_at.is_some_and(|t| t > now_ms) {
            continue;
        }
        if let PartState::Signed { sha, url } = &p.state {
            let part = i as u32 + 1;
            let (start, end) = part_range(size, m.part_size, part);
            cmds.push(Command::SendPart { file, part, url: url.url.clone(), start, end });
            p.state = PartState::Sending { sha: sha.clone(), url: url.clone(), loaded: 0 };
            p.retry_at = None;
            in_flight += 1;
        }
    }

    if signing.is_none() {
        let batch: Vec<(u32, String)> = m
            .parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.state {
                PartState::Hashed { sha } => Some((i as u32 + 1, sha.clone())),
                _ => None,
            })
            .take(config.sign_batch.max(1))
            .collect();
        if !batch.is_empty() {
            for (n, sha) in &batch {
                if let Some(p) = m.part_mut(*n) {
                    p.state = PartState::Signing { sha: sha.clone() };
                }
            }
            *signing = Some(m.upload_id.clone());
            cmds.push(Command::SignParts { file, upload_id: m.upload_id.clone(), parts: batch });
        }
    }

    if hash_job.is_none() {
        // Hashed parts wait in memory-free form, but their URLs age: keep only a batch ahead.
        let waiting = m
            .parts
            .iter()
            .filter(|p| {
                matches!(p.state, PartState::Hashed { .. } | PartState::Signing { .. } | PartState::Signed { .. })
            })
            .count();
        if waiting < config.sign_batch.max(1) {
            if let Some(i) = m.parts.iter().position(|p| matches!(p.state, PartState::Unhashed)) {
                let part = i as u32 + 1;
                let (start, end) = part_range(size, m.part_size, part);
                cmds.push(Command::HashPart { file, part, start, end });
                *hash_job = Some(HashJob::Range { part, start, end });
            }
        }
    }
}

/// The upload queue. See the module documentation.
#[derive(Clone, Debug)]
pub struct Queue {
    config: QueueConfig,
    rng: Rng,
    files: Vec<Entry>,
    next_id: u64,
    online: bool,
}

impl Queue {
    pub fn new(config: QueueConfig, seed: u64) -> Self {
        Queue { config, rng: Rng::new(seed), files: vec![], next_id: 0, online: true }
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Lists a file; refused at once if the limits rule it out.
    pub fn add(&mut self, now_ms: i64, name: String, size: u64, content_type: String) -> (FileId, Vec<Command>) {
        let id = FileId(self.next_id);
        self.next_id += 1;
        let locale = self.config.locale;
        let refused = refusal(&self.config.limits, size, &content_type, locale);
        let mut entry = Entry {
            id,
            name,
            size,
            content_type,
            multipart: size >= self.config.limits.multipart_threshold,
            end: None,
            message: None,
            paused: None,
            place: Place::Nowhere,
            finishing: false,
            hash: None,
            hash_job: None,
            ticket_requested: false,
            signing: None,
            ticket: None,
            transfer: None,
        };
        if let Some(reason) = refused {
            entry.end = Some(End::Refused);
            entry.message = Some(reason);
        } else if !self.online {
            entry.paused = Some(PauseCause::Network);
            entry.message = Some(offline_message(locale));
        }
        self.files.push(entry);
        let mut cmds = vec![];
        self.pump(now_ms, &mut cmds);
        (id, cmds)
    }

    pub fn handle(&mut self, now_ms: i64, event: Event) -> Vec<Command> {
        let mut cmds = vec![];
        self.apply(now_ms, event, &mut cmds);
        self.pump(now_ms, &mut cmds);
        cmds
    }

    pub fn files(&self) -> impl Iterator<Item = FileView> + '_ {
        self.files.iter().map(Entry::view)
    }

    pub fn file(&self, id: FileId) -> Option<FileView> {
        self.files.iter().find(|e| e.id == id).map(Entry::view)
    }

    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for e in self.files.iter().filter(|e| !matches!(e.end, Some(End::Refused | End::Cancelled))) {
            totals.sent += e.sent();
            totals.total += e.size;
            totals.done_files += usize::from(e.end == Some(End::Done));
            totals.counted_files += 1;
        }
        totals
    }

    /// Something would be lost by leaving the page now.
    pub fn in_flight(&self) -> bool {
        self.files.iter().any(|e| e.end.is_none() && e.paused.is_none())
    }

    fn entry_mut(&mut self, id: FileId) -> Option<&mut Entry> {
        self.files.iter_mut().find(|e| e.id == id)
    }

    /// Draws the wait before retry number `attempt`: full jitter over `[0, cap]`.
    fn backoff_ms(&mut self, attempt: u32) -> i64 {
        let cap = backoff_cap_ms(&self.config, attempt).max(0);
        self.rng.up_to(cap as u64) as i64
    }

    fn apply(&mut self, now: i64, event: Event, cmds: &mut Vec<Command>) {
        let locale = self.config.locale;
        match event {
            Event::Pause { file } => {
                if let Some(e) = self.entry_mut(file) {
                    if e.can_pause() {
                        e.pause(PauseCause::User, now, locale, cmds);
                    }
                }
            }
            Event::Resume { file } => {
                if let Some(e) = self.entry_mut(file) {
                    if e.end.is_none() && e.paused.take().is_some() {
                        e.message = None;
                    }
                }
            }
            Event::Cancel { file } => {
                if let Some(e) = self.entry_mut(file) {
                    e.cancel(now, cmds);
                }
            }
            Event::CancelAll => {
                for e in &mut self.files {
                    e.cancel(now, cmds);
                }
            }
            Event::Retry { file } => {
                let online = self.online;
                if let Some(e) = self.entry_mut(file) {
                    e.retry(online, locale);
                }
            }
            Event::Remove { file } => {
                if self.files.iter().any(|e| e.id == file && e.end.is_some()) {
                    self.files.retain(|e| e.id != file);
                    cmds.push(Command::Forget { file });
                }
            }
            Event::ClearFinished => {
                for e in self.files.iter().filter(|e| e.end == Some(End::Done)) {
                    cmds.push(Command::Forget { file: e.id });
                }
                self.files.retain(|e| e.end != Some(End::Done));
            }
            Event::Offline => {
                self.online = false;
                for e in self.files.iter_mut().filter(|e| e.active()) {
                    e.pause(PauseCause::Network, now, locale, cmds);
                }
            }
            Event::Online => {
                self.online = true;
                for e in self.files.iter_mut().filter(|e| e.end.is_none() && e.paused == Some(PauseCause::Network)) {
                    e.paused = None;
                    e.message = None;
                }
            }
            Event::Tick => {}
            Event::FileHashed { file, sha256 } => {
                let Some(e) = self.entry_mut(file) else { return };
                if e.hash_job != Some(HashJob::Whole) {
                    return;
                }
                e.hash_job = None;
                if e.end.is_none() && !e.multipart && e.ticket.is_none() && e.hash.is_none() {
                    e.hash = Some(sha256);
                }
            }
            Event::PartHashed { file, part, sha256 } => {
                let Some(e) = self.entry_mut(file) else { return };
                let Some(HashJob::Range { part: p, start, end }) = e.hash_job else { return };
                if p != part {
                    return;
                }
                e.hash_job = None;
                if e.end.is_some() {
                    return;
                }
                let size = e.size;
                let first_range = e.first_part_range();
                match &mut e.transfer {
                    Some(Transfer::Multipart(m)) => {
                        let range = part_range(size, m.part_size, part);
                        if let Some(pt) = m.part_mut(part) {
                            if range == (start, end) && matches!(pt.state, PartState::Unhashed) {
                                pt.state = PartState::Hashed { sha: sha256 };
                            }
                        }
                    }
                    Some(Transfer::Single(_)) => {}
                    None => {
                        let wanted = e.multipart && e.ticket.is_none() && e.hash.is_none();
                        if wanted && part == 1 && (start, end) == first_range {
                            e.hash = Some(sha256);
                        }
                    }
                }
            }
            Event::HashFailed { file, message } => {
                let Some(e) = self.entry_mut(file) else { return };
                if e.hash_job.take().is_some() && e.end.is_none() {
                    e.fail(message, now, cmds);
                }
            }
            Event::TicketReceived { file, ticket } => {
                let e = match self.entry_mut(file) {
                    Some(e) if e.ticket_requested => e,
                    // Nobody waits for it (the file was removed): it must not linger on the server.
                    _ => {
                        cmds.push(Command::CancelOnServer { upload_id: ticket.upload_id });
                        return;
                    }
                };
                e.ticket_requested = false;
                if e.end.is_some() {
                    cmds.push(Command::CancelOnServer { upload_id: ticket.upload_id });
                } else {
                    e.ticket = Some((ticket, now));
                }
            }
            Event::TicketFailed { file, message } => {
                let Some(e) = self.entry_mut(file) else { return };
                if std::mem::take(&mut e.ticket_requested) && e.end.is_none() {
                    e.fail(message, now, cmds);
                }
            }
            Event::SingleProgress { file, loaded } => {
                let Some(e) = self.entry_mut(file) else { return };
                let size = e.size;
                if let (None, Some(Transfer::Single(s))) = (e.end, &mut e.transfer) {
                    if s.sending {
                        s.loaded = loaded.min(size);
                    }
                }
            }
            Event::SingleSent { file } => {
                let Some(e) = self.entry_mut(file) else { return };
                let Some(upload_id) = e.upload_id().map(str::to_owned) else { return };
                if let (None, Some(Transfer::Single(s))) = (e.end, &mut e.transfer) {
                    if s.sending {
                        s.sending = false;
                        s.loaded = e.size;
                        e.finishing = true;
                        e.place = Place::Nowhere;
                        e.message = None;
                        cmds.push(Command::Confirm { file, upload_id });
                    }
                }
            }
            Event::SingleFailed { file, status, body } => self.single_failed(now, file, status, &body, cmds),
            Event::PartsSigned { file, urls } => {
                let Some(e) = self.entry_mut(file) else { return };
                let Some(upload_id) = e.signing.take() else { return };
                if e.end.is_some() {
                    return;
                }
                let Some(Transfer::Multipart(m)) = &mut e.transfer else { return };
                if m.upload_id != upload_id {
                    return;
                }
                for url in urls.parts {
                    if let Some(p) = m.part_mut(url.part_number) {
                        if let PartState::Signing { sha } = &p.state {
                            let url = SignedUrl { url, server_time: urls.server_time, received_ms: now };
                            p.state = PartState::Signed { sha: sha.clone(), url };
                        }
                    }
                }
                // Any the server left out are asked for again.
                for p in &mut m.parts {
                    if let PartState::Signing { sha } = &p.state {
                        p.state = PartState::Hashed { sha: sha.clone() };
                    }
                }
            }
            Event::SignFailed { file, message } => {
                let Some(e) = self.entry_mut(file) else { return };
                if e.signing.take().is_some() && e.end.is_none() {
                    e.fail(message, now, cmds);
                }
            }
            Event::PartProgress { file, part, loaded } => {
                let Some(e) = self.entry_mut(file) else { return };
                let size = e.size;
                if let (None, Some(Transfer::Multipart(m))) = (e.end, &mut e.transfer) {
                    let (start, end) = part_range(size, m.part_size, part.max(1));
                    if let Some(PartState::Sending { loaded: l, .. }) = m.part_mut(part).map(|p| &mut p.state) {
                        *l = loaded.min(end - start);
                    }
                }
            }
            Event::PartDone { file, part } => {
                let Some(e) = self.entry_mut(file) else { return };
                if let (None, Some(Transfer::Multipart(m))) = (e.end, &mut e.transfer) {
                    if let Some(p) = m.part_mut(part) {
                        if matches!(p.state, PartState::Sending { .. }) {
                            p.state = PartState::Done;
                            p.retry_at = None;
                            e.message = None;
                        }
                    }
                }
            }
            Event::PartFailed { file, part, status, body } => self.part_failed(now, file, part, status, &body, cmds),
            Event::Confirmed { file } => {
                let Some(e) = self.entry_mut(file) else { return };
                if e.end.is_none() && e.finishing {
                    e.end_with(End::Done, None, now, cmds);
                }
            }
            Event::ConfirmFailed { file, message } => {
                let Some(e) = self.entry_mut(file) else { return };
                if e.end.is_none() && e.finishing {
                    e.fail(message, now, cmds);
                }
            }
        }
    }

    /// The checksum pins the bytes, so resending the same request is safe; only failures a resend
    /// may cure are retried. A 403 is not: the staleness check keeps tickets from expiring, so a
    /// refused signature means a refused policy, which a resend would not change.
    fn single_failed(&mut self, now: i64, file: FileId, status: u16, body: &str, cmds: &mut Vec<Command>) {
        let max = self.config.max_part_attempts;
        let Some(i) = self.files.iter().position(|e| e.id == file) else { return };
        let attempts = {
            let e = &mut self.files[i];
            let Some(Transfer::Single(s)) = &mut e.transfer else { return };
            if e.end.is_some() || !s.sending {
                return;
            }
            s.sending = false;
            s.loaded = 0;
            s.attempts += 1;
            s.attempts
        };
        let locale = self.config.locale;
        let reason = s3_refusal(status, body, locale);
        let retry = matches!(classify_part_failure(status, body), PartFailure::Transient | PartFailure::Digest);
        if retry && attempts < max {
            let at_ms = now + self.backoff_ms(attempts);
            let e = &mut self.files[i];
            if let Some(Transfer::Single(s)) = &mut e.transfer {
                s.retry_at = Some(at_ms);
            }
            e.message = Some(td_string!(locale, drop.trying_again, reason = reason, attempt = attempts + 1, max = max));
            cmds.push(Command::Wake { at_ms });
        } else {
            let e = &mut self.files[i];
            if let Some(upload_id) = e.upload_id() {
                cmds.push(Command::ReportFailure { upload_id: upload_id.to_owned(), reason: reason.clone() });
            }
            e.fail(reason, now, cmds);
        }
    }

    fn part_failed(&mut self, now: i64, file: FileId, part: u32, status: u16, body: &str, cmds: &mut Vec<Command>) {
        let max = self.config.max_part_attempts;
        let Some(i) = self.files.iter().position(|e| e.id == file) else { return };
        let attempts = {
            let e = &mut self.files[i];
            let Some(Transfer::Multipart(m)) = &mut e.transfer else { return };
            let Some(p) = m.part_mut(part) else { return };
            if e.end.is_some() || !matches!(p.state, PartState::Sending { .. }) {
                return;
            }
            p.unsend(now);
            p.attempts += 1;
            p.attempts
        };
        let locale = self.config.locale;
        let kind = classify_part_failure(status, body);
        let reason = s3_refusal(status, body, locale);
        if kind == PartFailure::Gone {
            let e = &mut self.files[i];
            if let Some(upload_id) = e.upload_id() {
                cmds.push(Command::ReportFailure { upload_id: upload_id.to_owned(), reason: gone_message(locale) });
            }
            e.fail(gone_message(locale), now, cmds);
            return;
        }
        if attempts >= max {
            self.files[i].fail(reason, now, cmds);
            return;
        }
        let retry_at = if kind == PartFailure::Resign { None } else { Some(now + self.backoff_ms(attempts)) };
        let e = &mut self.files[i];
        if let Some(p) = match &mut e.transfer {
            Some(Transfer::Multipart(m)) => m.part_mut(part),
            _ => None,
        } {
            if kind == PartFailure::Resign {
                if let PartState::Signed { sha, .. } = &p.state {
                    p.state = PartState::Hashed { sha: sha.clone() };
                }
            }
            p.retry_at = retry_at;
        }
        e.message = Some(td_string!(
            locale,
            drop.part_trying_again,
            part = part,
            reason = reason,
            attempt = attempts + 1,
            max = max
        ));
        if let Some(at_ms) = retry_at {
            cmds.push(Command::Wake { at_ms });
        }
    }

    /// Hands out places, in the order the files were added: first keep the uploading files busy,
    /// then fill free upload places with ready files, then prepare files ahead.
    fn pump(&mut self, now: i64, cmds: &mut Vec<Command>) {
        let config = &self.config;
        for e in self.files.iter_mut().filter(|e| e.active() && e.place == Place::Upload) {
            e.drive(config, now, cmds);
        }

        let holds = |e: &Entry, place| e.active() && e.place == place;
        let mut uploading = self.files.iter().filter(|e| holds(e, Place::Upload)).count();
        for e in &mut self.files {
            if uploading >= config.max_files_uploading {
                break;
            }
            if !e.active() || e.place == Place::Upload || e.ticket.is_none() {
                continue;
            }
            if e.ticket_is_stale(now) {
                // It waited for a place so long that S3 might refuse it mid-way: sign again.
                e.drop_ticket(cmds);
                continue;
            }
            e.place = Place::Upload;
            e.start_transfer();
            e.drive(config, now, cmds);
            if e.place == Place::Upload {
                uploading += 1;
            }
        }

        let mut ahead = self.files.iter().filter(|e| holds(e, Place::Ahead)).count();
        // Too few places free yet, and every file ahead has asked for its ticket: the next files
        // wait, to be signed together. While one is still reading, a file that joins it now asks
        // with it (a drop adds its files one by one).
        let refill = config.sign_refill.clamp(1, config.sign_ahead.max(1));
        let wait = config.sign_ahead.saturating_sub(ahead) < refill
            && !self.files.iter().any(|e| e.active() && e.phase() == Phase::Hashing);
        for e in &mut self.files {
            if ahead >= config.sign_ahead || wait {
                break;
            }
            if e.active() && e.place == Place::Nowhere && e.ticket.is_none() {
                e.place = Place::Ahead;
                ahead += 1;
            }
        }

        for e in self.files.iter_mut().filter(|e| e.active() && e.place == Place::Ahead) {
            e.prepare(cmds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_lived_ticket_is_not_stale_on_arrival() {
        let mut t = single_ticket("short");
        t.expires_at = t.server_time + 60_000;
        assert!(!ticket_is_stale(&t, T0, T0));
        assert!(!ticket_is_stale(&t, T0, T0 + 29_000));
        assert!(ticket_is_stale(&t, T0, T0 + 31_000));
        // The usual 15 minutes keep the whole minute of margin.
        let t = single_ticket("long");
        assert!(!ticket_is_stale(&t, T0, T0 + 839_000));
        assert!(ticket_is_stale(&t, T0, T0 + 841_000));
    }

    const MIB: u64 = 1 << 20;
    const T0: i64 = 1_000_000;
    /// Multipart from 16 MiB; parts are 8 MiB.
    const BIG: u64 = 100 * MIB;

    fn limits() -> Limits {
        Limits { max_bytes: 1 << 40, multipart_threshold: 16 * MIB, allowed_types: vec!["*".into()] }
    }

    fn queue() -> Queue {
        Queue::new(QueueConfig::new(limits()), 42)
    }

    fn single_ticket(id: &str) -> UploadTicket {
        UploadTicket {
            upload_id: id.into(),
            object_key: format!("k/{id}"),
            send: SendPlan::Put { url: format!("http://s3/{id}"), headers: vec![] },
            expires_at: 5_000_000 + 900_000,
            server_time: 5_000_000,
        }
    }

    fn multi_ticket(id: &str, size: u64, concurrency: u32, done: Vec<u32>) -> UploadTicket {
        let part_size = part_size_for(size);
        UploadTicket {
            upload_id: id.into(),
            object_key: format!("k/{id}"),
            send: SendPlan::Multipart {
                part_size,
                part_count: part_count(size, part_size),
                concurrency,
                resumed: !done.is_empty(),
                done,
            },
            expires_at: 5_000_000 + 7 * 86_400_000,
            server_time: 5_000_000,
        }
    }

    /// URLs valid for 15 minutes.
    fn urls(parts: &[u32]) -> PartUrls {
        urls_valid_for(parts, 900_000)
    }

    fn urls_valid_for(parts: &[u32], valid_ms: i64) -> PartUrls {
        PartUrls {
            parts: parts
                .iter()
                .map(|&n| PartUrl {
                    part_number: n,
                    url: format!("http://s3/part/{n}"),
                    headers: vec![],
                    expires_at: 9_000_000 + valid_ms,
                })
                .collect(),
            server_time: 9_000_000,
        }
    }

    fn add(q: &mut Queue, name: &str, size: u64) -> (FileId, Vec<Command>) {
        q.add(T0, name.into(), size, "image/png".into())
    }

    fn phase(q: &Queue, id: FileId) -> Phase {
        q.file(id).map(|f| f.phase).unwrap_or(Phase::Refused)
    }

    fn count(q: &Queue, phases: &[Phase]) -> usize {
        q.files().filter(|f| phases.contains(&f.phase)).count()
    }

    fn hash_files(cmds: &[Command]) -> Vec<FileId> {
        cmds.iter().filter_map(|c| if let Command::HashFile { file } = c { Some(*file) } else { None }).collect()
    }

    fn hash_parts(cmds: &[Command]) -> Vec<(FileId, u32)> {
        cmds.iter()
            .filter_map(|c| if let Command::HashPart { file, part, .. } = c { Some((*file, *part)) } else { None })
            .collect()
    }

    fn ticket_requests(cmds: &[Command]) -> Vec<FileId> {
        cmds.iter()
            .filter_map(|c| if let Command::RequestTicket { file, .. } = c { Some(*file) } else { None })
            .collect()
    }

    fn single_sends(cmds: &[Command]) -> Vec<FileId> {
        cmds.iter().filter_map(|c| if let Command::SendSingle { file, .. } = c { Some(*file) } else { None }).collect()
    }

    fn part_sends(cmds: &[Command]) -> Vec<u32> {
        cmds.iter().filter_map(|c| if let Command::SendPart { part, .. } = c { Some(*part) } else { None }).collect()
    }

    fn sign_requests(cmds: &[Command]) -> Vec<Vec<u32>> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::SignParts { parts, .. } => Some(parts.iter().map(|(n, _)| *n).collect()),
                _ => None,
            })
            .collect()
    }

    fn wakes(cmds: &[Command]) -> Vec<i64> {
        cmds.iter().filter_map(|c| if let Command::Wake { at_ms } = c { Some(*at_ms) } else { None }).collect()
    }

    fn has(cmds: &[Command], wanted: &Command) -> bool {
        cmds.contains(wanted)
    }

    fn sha(n: u32) -> String {
        format!("sha-{n}")
    }

    /// A single file through hashing and ticketing; returns the commands of the last step.
    fn ticketed(q: &mut Queue, name: &str, size: u64, ticket: UploadTicket) -> (FileId, Vec<Command>) {
        let (id, _) = add(q, name, size);
        q.handle(T0, Event::FileHashed { file: id, sha256: format!("sha-{name}") });
        let cmds = q.handle(T0, Event::TicketReceived { file: id, ticket });
        (id, cmds)
    }

    /// A multipart file of `size` through hashing its first part and ticketing.
    fn multipart(q: &mut Queue, size: u64, concurrency: u32, done: Vec<u32>) -> (FileId, Vec<Command>) {
        let (id, cmds) = add(q, "big", size);
        assert_eq!(hash_parts(&cmds), vec![(id, 1)]);
        let cmds = q.handle(T0, Event::PartHashed { file: id, part: 1, sha256: sha(1) });
        assert!(has(&cmds, &Command::RequestTicket { file: id, sha256: None, first_part_sha256: Some(sha(1)) }));
        let cmds = q.handle(T0, Event::TicketReceived { file: id, ticket: multi_ticket("m", size, concurrency, done) });
        (id, cmds)
    }

    /// Feeds hashes and signatures until no more are asked for; returns every command seen.
    fn settle(q: &mut Queue, now: i64, mut cmds: Vec<Command>) -> Vec<Command> {
        let mut seen = vec![];
        while !cmds.is_empty() {
            let mut next = vec![];
            for c in &cmds {
                match c {
                    Command::HashPart { file, part, .. } => {
                        next.extend(q.handle(now, Event::PartHashed { file: *file, part: *part, sha256: sha(*part) }))
                    }
                    Command::SignParts { file, parts, .. } => {
                        let numbers: Vec<u32> = parts.iter().map(|(n, _)| *n).collect();
                        next.extend(q.handle(now, Event::PartsSigned { file: *file, urls: urls(&numbers) }))
                    }
                    _ => {}
                }
            }
            seen.extend(cmds);
            cmds = next;
        }
        seen
    }

    #[test]
    fn the_browser_refuses_what_the_server_would() {
        let l = Limits { max_bytes: 10, multipart_threshold: 1 << 30, allowed_types: vec!["image/*".into()] };
        assert_eq!(refusal(&l, 5, "image/png", Locale::en), None);
        assert_eq!(
            refusal(&l, 11, "image/png", Locale::en).as_deref(),
            Some("The file is 11 bytes; the limit is 10 bytes.")
        );
        assert_eq!(
            refusal(&l, 5, "text/plain", Locale::en).as_deref(),
            Some("Files of type text/plain are not accepted (allowed: image/*).")
        );
        assert!(refusal(&l, 5, "", Locale::en).is_some_and(|m| m.contains("application/octet-stream")));
        assert_eq!(refusal(&l, 0, "image/png", Locale::en).as_deref(), Some("The file is empty."));

        let mut q = Queue::new(QueueConfig::new(l), 1);
        let (id, cmds) = q.add(T0, "a.txt".into(), 5, "text/plain".into());
        assert!(cmds.is_empty());
        let f = q.file(id).expect("listed");
        assert_eq!(f.phase, Phase::Refused);
        assert_eq!(f.message.as_deref(), Some("Files of type text/plain are not accepted (allowed: image/*)."));
        assert!(f.can_remove && !f.can_retry && !f.can_cancel && !f.can_pause);
        assert_eq!(q.totals(), Totals::default());
        assert!(!q.in_flight());
    }

    #[test]
    fn a_ticket_that_waited_until_its_last_minute_is_stale() {
        let t = UploadTicket { expires_at: 1_000_000 + 900_000, server_time: 1_000_000, ..single_ticket("u") };
        // Our clock may differ from the server's; only the time since arrival counts.
        assert!(!ticket_is_stale(&t, 5_000, 5_000 + 839_000));
        assert!(ticket_is_stale(&t, 5_000, 5_000 + 841_000));
        let url = PartUrl { part_number: 1, url: "u".into(), headers: vec![], expires_at: 1_300_000 };
        assert!(!part_url_is_stale(&url, 1_000_000, 5_000, 5_000 + 270_000));
        assert!(part_url_is_stale(&url, 1_000_000, 5_000, 5_000 + 270_001));
    }

    #[test]
    fn phases_have_the_words_the_page_shows() {
        let words: Vec<&str> = [
            Phase::Refused,
            Phase::Queued,
            Phase::Hashing,
            Phase::Signing,
            Phase::Ready,
            Phase::Uploading,
            Phase::Paused,
            Phase::Confirming,
            Phase::Completing,
            Phase::Done,
            Phase::Failed,
            Phase::Cancelled,
        ]
        .into_iter()
        .map(Phase::word)
        .collect();
        assert_eq!(
            words,
            [
                "refused",
                "waiting",
                "reading",
                "preparing",
                "ready",
                "uploading",
                "paused",
                "checking",
                "finishing",
                "completed",
                "failed",
                "cancelled"
            ]
        );
    }

    #[test]
    fn a_single_file_is_hashed_whole_ticketed_sent_and_confirmed() {
        let mut q = queue();
        let (id, cmds) = add(&mut q, "a.png", 1000);
        assert_eq!(cmds, vec![Command::HashFile { file: id }]);
        assert_eq!(phase(&q, id), Phase::Hashing);
        let cmds = q.handle(T0, Event::FileHashed { file: id, sha256: "abc".into() });
        assert_eq!(
            cmds,
            vec![Command::RequestTicket { file: id, sha256: Some("abc".into()), first_part_sha256: None }]
        );
        assert_eq!(phase(&q, id), Phase::Signing);
        let cmds = q.handle(T0, Event::TicketReceived { file: id, ticket: single_ticket("u1") });
        assert_eq!(cmds, vec![Command::SendSingle { file: id, ticket: single_ticket("u1") }]);
        assert_eq!(phase(&q, id), Phase::Uploading);
        q.handle(T0, Event::SingleProgress { file: id, loaded: 400 });
        assert_eq!(q.file(id).map(|f| f.sent), Some(400));
        let cmds = q.handle(T0, Event::SingleSent { file: id });
        assert_eq!(cmds, vec![Command::Confirm { file: id, upload_id: "u1".into() }]);
        assert_eq!(phase(&q, id), Phase::Confirming);
        let cmds = q.handle(T0, Event::Confirmed { file: id });
        assert_eq!(cmds, vec![Command::Finished { file: id, ok: true }]);
        let f = q.file(id).expect("listed");
        assert_eq!((f.phase, f.sent, f.upload_id.as_deref()), (Phase::Done, 1000, Some("u1")));
        assert!(f.can_remove && !q.in_flight());
    }

    #[test]
    fn three_files_upload_three_are_prepared_ahead_and_a_confirming_file_frees_its_place() {
        let mut q = queue();
        let ids: Vec<FileId> = (0..9).map(|i| add(&mut q, &format!("f{i}"), 1000).0).collect();
        let check = |q: &Queue| {
            assert!(count(q, &[Phase::Uploading]) <= 3);
            assert!(count(q, &[Phase::Hashing, Phase::Signing, Phase::Ready]) <= 3);
        };
        assert_eq!(count(&q, &[Phase::Hashing]), 3);
        check(&q);
        let mut ticket_no = 0;
        // Answer every hash and ticket request as they come.
        let mut pending: Vec<Command> = ids[..3].iter().map(|&file| Command::HashFile { file }).collect();
        let mut sent_order = vec![];
        while !pending.is_empty() {
            let c = pending.remove(0);
            let more = match c {
                Command::HashFile { file } => q.handle(T0, Event::FileHashed { file, sha256: "s".into() }),
                Command::RequestTicket { file, .. } => {
                    ticket_no += 1;
                    q.handle(T0, Event::TicketReceived { file, ticket: single_ticket(&format!("u{ticket_no}")) })
                }
                Command::SendSingle { file, .. } => {
                    sent_order.push(file);
                    vec![]
                }
                _ => vec![],
            };
            check(&q);
            pending.extend(more);
        }
        assert_eq!(count(&q, &[Phase::Uploading]), 3);
        assert_eq!(count(&q, &[Phase::Ready]), 3);
        assert_eq!(count(&q, &[Phase::Queued]), 3);
        assert_eq!(sent_order, ids[..3].to_vec(), "the first three added go first");

        // The bytes of one are in: while it is checked, the next ready file takes its place and the
        // next queued file starts being prepared.
        let cmds = q.handle(T0, Event::SingleSent { file: ids[0] });
        assert_eq!(phase(&q, ids[0]), Phase::Confirming);
        assert_eq!(single_sends(&cmds), vec![ids[3]]);
        assert_eq!(hash_files(&cmds), vec![ids[6]]);
        check(&q);
        assert_eq!(count(&q, &[Phase::Uploading]), 3);
    }

    #[test]
    fn with_a_refill_of_three_the_files_ahead_are_prepared_three_at_a_time_not_one_by_one() {
        let mut q = Queue::new(QueueConfig { sign_ahead: 6, sign_refill: 3, ..QueueConfig::new(limits()) }, 1);
        let ids: Vec<FileId> = (0..20).map(|i| add(&mut q, &format!("f{i}"), 1000).0).collect();
        assert_eq!(count(&q, &[Phase::Hashing]), 6, "at the start every place ahead is filled");
        let mut ticket_no = 0;
        // The files are hashed, then their tickets come (as from one request).
        let mut ready = |q: &mut Queue, files: &[FileId]| {
            let asked: Vec<FileId> = files
                .iter()
                .flat_map(|&file| ticket_requests(&q.handle(T0, Event::FileHashed { file, sha256: "s".into() })))
                .collect();
            assert_eq!(asked, files.to_vec());
            let mut sends = vec![];
            for file in asked {
                ticket_no += 1;
                let ticket = single_ticket(&format!("u{ticket_no}"));
                sends.extend(single_sends(&q.handle(T0, Event::TicketReceived { file, ticket })));
            }
            sends
        };
        assert_eq!(ready(&mut q, &ids[..6]), ids[..3].to_vec());
        // Three uploading, three ready: three places ahead are free, so three more are prepared.
        assert_eq!(count(&q, &[Phase::Hashing]), 3);
        assert_eq!(ready(&mut q, &ids[6..9]), vec![]);
        assert_eq!(count(&q, &[Phase::Ready]), 6);

        // One upload ends, then another: a ready file takes each place, and nothing new is prepared
        // while fewer than three places ahead are free.
        for (sent, next) in [(0, 3), (1, 4)] {
            let cmds = q.handle(T0, Event::SingleSent { file: ids[sent] });
            assert_eq!(single_sends(&cmds), vec![ids[next]]);
            assert_eq!(hash_files(&cmds), vec![]);
        }
        // The third frees the third place: three files are hashed together.
        let cmds = q.handle(T0, Event::SingleSent { file: ids[2] });
        assert_eq!(single_sends(&cmds), vec![ids[5]]);
        assert_eq!(hash_files(&cmds), ids[9..12].to_vec());
        assert_eq!(count(&q, &[Phase::Uploading]), 3);
    }

    #[test]
    fn a_stale_ticket_is_cancelled_on_the_server_and_signed_again() {
        let mut q = queue();
        let first: Vec<FileId> =
            (0..3).map(|i| ticketed(&mut q, &format!("f{i}"), 10, single_ticket(&format!("u{i}"))).0).collect();
        let (late, cmds) = ticketed(&mut q, "late", 10, single_ticket("old"));
        assert!(single_sends(&cmds).is_empty());
        assert_eq!(phase(&q, late), Phase::Ready);
        // 900 s of validity; a place frees up after 841 s: less than a minute left.
        let now = T0 + 841_000;
        let cmds = q.handle(now, Event::SingleSent { file: first[0] });
        assert!(has(&cmds, &Command::CancelOnServer { upload_id: "old".into() }));
        assert!(single_sends(&cmds).is_empty());
        assert_eq!(ticket_requests(&cmds), vec![late]);
        assert_eq!(phase(&q, late), Phase::Signing);
        let cmds = q.handle(now, Event::TicketReceived { file: late, ticket: single_ticket("new") });
        assert_eq!(cmds, vec![Command::SendSingle { file: late, ticket: single_ticket("new") }]);

        // Fresh enough: sent as is.
        let mut q = queue();
        let first: Vec<FileId> =
            (0..3).map(|i| ticketed(&mut q, &format!("f{i}"), 10, single_ticket(&format!("u{i}"))).0).collect();
        let (late, _) = ticketed(&mut q, "late", 10, single_ticket("old"));
        let cmds = q.handle(T0 + 839_000, Event::SingleSent { file: first[0] });
        assert_eq!(single_sends(&cmds), vec![late]);
    }

    #[test]
    fn a_multipart_file_hashes_its_first_part_for_the_fingerprint_and_keeps_it_as_part_one() {
        let mut q = queue();
        let (id, cmds) = add(&mut q, "big", BIG);
        assert_eq!(cmds, vec![Command::HashPart { file: id, part: 1, start: 0, end: 8 * MIB }]);
        assert_eq!(q.file(id).map(|f| (f.parts_done, f.parts_total)), Some((0, 13)));
        let (id, cmds) = multipart(&mut q, BIG, 3, vec![]);
        assert_eq!(phase(&q, id), Phase::Uploading);
        // Part 1 is signed at once with the fingerprint's hash; part 2 is hashed meanwhile.
        assert!(has(&cmds, &Command::SignParts { file: id, upload_id: "m".into(), parts: vec![(1, sha(1))] }));
        assert!(has(&cmds, &Command::HashPart { file: id, part: 2, start: 8 * MIB, end: 16 * MIB }));
    }

    #[test]
    fn parts_are_hashed_one_at_a_time_and_at_most_a_batch_ahead() {
        let mut q = queue();
        let (id, cmds) = multipart(&mut q, BIG, 3, vec![]);
        assert_eq!(hash_parts(&cmds), vec![(id, 2)]);
        // Nothing gets signed back: hashed parts pile up until eight wait.
        let mut asked = vec![2];
        let mut part = 2;
        loop {
            let cmds = q.handle(T0, Event::PartHashed { file: id, part, sha256: sha(part) });
            let next = hash_parts(&cmds);
            assert!(next.len() <= 1, "one hash at a time");
            // A hash for another part than the one asked for is ignored and asks for nothing.
            assert!(q.handle(T0, Event::PartHashed { file: id, part: 13, sha256: "x".into() }).is_empty());
            match next.first() {
                Some(&(_, n)) => {
                    asked.push(n);
                    part = n;
                }
                None => break,
            }
        }
        // Part 1 (from the fingerprint) + 2..=8 hashed: eight waiting.
        assert_eq!(asked, (2..=8).collect::<Vec<u32>>());
        // Signing and sending parts 1..=3 lets hashing go on.
        let cmds = q.handle(T0, Event::PartsSigned { file: id, urls: urls(&[1]) });
        assert_eq!(part_sends(&cmds), vec![1]);
        assert_eq!(hash_parts(&cmds), vec![(id, 9)]);
    }

    #[test]
    fn part_urls_are_signed_in_batches_of_at_most_eight_one_batch_at_a_time() {
        let mut q = queue();
        let size = 30 * 8 * MIB;
        let (id, cmds) = multipart(&mut q, size, 3, vec![]);
        assert_eq!(sign_requests(&cmds), vec![vec![1]]);
        // Hash 2..=8 while batch [1] is in flight: no second batch.
        for part in 2..=8 {
            let cmds = q.handle(T0, Event::PartHashed { file: id, part, sha256: sha(part) });
            assert!(sign_requests(&cmds).is_empty(), "one batch in flight");
        }
        // 1 signing and 2..=8 hashed: eight waiting, hashing stops.
        let cmds = q.handle(T0, Event::PartsSigned { file: id, urls: urls(&[1]) });
        assert_eq!(sign_requests(&cmds), vec![(2..=8).collect::<Vec<u32>>()]);
        assert_eq!(part_sends(&cmds), vec![1]);
        // The whole run, signatures answered only when nothing else is left: every batch at most
        // eight, never two at once.
        let mut q = queue();
        let (id, mut cmds) = multipart(&mut q, size, 3, vec![]);
        let mut signing: Option<Vec<u32>> = None;
        let mut done = 0;
        let mut batches = vec![];
        for _ in 0..10_000 {
            let mut next = vec![];
            for c in cmds.drain(..) {
                match c {
                    Command::HashPart { part, .. } => {
                        next.extend(q.handle(T0, Event::PartHashed { file: id, part, sha256: sha(part) }))
                    }
                    Command::SignParts { parts, .. } => {
                        assert!(signing.is_none(), "one batch in flight");
                        assert!(parts.len() <= SIGN_BATCH);
                        batches.push(parts.len());
                        signing = Some(parts.iter().map(|(n, _)| *n).collect());
                    }
                    Command::SendPart { part, .. } => {
                        done += 1;
                        next.extend(q.handle(T0, Event::PartDone { file: id, part }));
                    }
                    _ => {}
                }
            }
            if next.is_empty() {
                if let Some(numbers) = signing.take() {
                    next = q.handle(T0, Event::PartsSigned { file: id, urls: urls(&numbers) });
                }
            }
            if next.is_empty() {
                break;
            }
            cmds = next;
        }
        assert_eq!(done, 30);
        assert_eq!(batches.iter().sum::<usize>(), 30);
        assert!(batches.iter().any(|&n| n > 1), "parts are signed together: {batches:?}");
        assert_eq!(phase(&q, id), Phase::Completing);
    }

    #[test]
    fn parts_in_flight_never_exceed_the_plans_concurrency() {
        let mut q = queue();
        let (id, cmds) = multipart(&mut q, BIG, 2, vec![]);
        let seen = settle(&mut q, T0, cmds);
        let sent = part_sends(&seen);
        assert_eq!(sent, vec![1, 2], "two in flight, in order");
        let cmds = q.handle(T0, Event::PartDone { file: id, part: 2 });
        assert_eq!(part_sends(&cmds), vec![3]);
        let cmds = q.handle(T0, Event::PartProgress { file: id, part: 1, loaded: 5 });
        assert!(part_sends(&cmds).is_empty());
        let cmds = q.handle(T0, Event::Tick);
        assert!(cmds.is_empty(), "a tick is harmless");
        // A late PartDone for a part not in flight does not free a place.
        let cmds = q.handle(T0, Event::PartDone { file: id, part: 2 });
        assert!(part_sends(&cmds).is_empty());
    }

    #[test]
    fn when_every_part_is_done_the_upload_is_completed_then_confirmed() {
        let mut q = queue();
        let size = 20 * MIB; // parts of 8, 8 and 4 MiB
        let (id, cmds) = multipart(&mut q, size, 3, vec![]);
        let seen = settle(&mut q, T0, cmds);
        let ranges: Vec<(u32, u64, u64)> = seen
            .iter()
            .filter_map(|c| match c {
                Command::SendPart { part, start, end, .. } => Some((*part, *start, *end)),
                _ => None,
            })
            .collect();
        assert_eq!(ranges, vec![(1, 0, 8 * MIB), (2, 8 * MIB, 16 * MIB), (3, 16 * MIB, 20 * MIB)]);
        q.handle(T0, Event::PartDone { file: id, part: 1 });
        q.handle(T0, Event::PartProgress { file: id, part: 3, loaded: MIB });
        assert_eq!(q.file(id).map(|f| (f.sent, f.parts_done, f.parts_total)), Some((9 * MIB, 1, 3)));
        q.handle(T0, Event::PartDone { file: id, part: 3 });
        let cmds = q.handle(T0, Event::PartDone { file: id, part: 2 });
        assert_eq!(cmds, vec![Command::Complete { file: id, upload_id: "m".into() }]);
        let f = q.file(id).expect("listed");
        assert_eq!((f.phase, f.sent, f.can_cancel, f.can_pause), (Phase::Completing, size, false, false));
        let cmds = q.handle(T0, Event::Confirmed { file: id });
        assert_eq!(cmds, vec![Command::Finished { file: id, ok: true }]);
        assert_eq!(phase(&q, id), Phase::Done);
    }

    #[test]
    fn a_resumed_upload_never_sends_the_parts_s3_has_and_counts_them_as_sent() {
        let mut q = queue();
        let size = 5 * 8 * MIB;
        let (id, cmds) = multipart(&mut q, size, 3, vec![1, 2, 4]);
        let f = q.file(id).expect("listed");
        assert!(f.resumed);
        assert_eq!((f.sent, f.parts_done, f.parts_total), (24 * MIB, 3, 5));
        // Part 1 is done: its fingerprint hash is not signed; 3 is hashed first.
        assert!(sign_requests(&cmds).is_empty());
        assert_eq!(hash_parts(&cmds), vec![(id, 3)]);
        let seen = settle(&mut q, T0, cmds);
        assert_eq!(part_sends(&seen), vec![3, 5]);
        assert_eq!(hash_parts(&seen), vec![(id, 3), (id, 5)]);
        q.handle(T0, Event::PartDone { file: id, part: 3 });
        let cmds = q.handle(T0, Event::PartDone { file: id, part: 5 });
        assert!(has(&cmds, &Command::Complete { file: id, upload_id: "m".into() }));

        // Everything already there: completed at once.
        let mut q = queue();
        let (id, cmds) = multipart(&mut q, 20 * MIB, 3, vec![1, 2, 3]);
        assert_eq!(cmds, vec![Command::Complete { file: id, upload_id: "m".into() }]);
        assert_eq!(q.totals(), Totals { sent: 20 * MIB, total: 20 * MIB, done_files: 0, counted_files: 1 });
    }

    /// A file with part 1 in flight, concurrency 1, and parts 2.. hashed and signed.
    fn sending_part_one(q: &mut Queue) -> FileId {
        let (id, cmds) = multipart(q, BIG, 1, vec![]);
        let seen = settle(q, T0, cmds);
        assert_eq!(part_sends(&seen), vec![1]);
        id
    }

    #[test]
    fn a_403_on_a_part_throws_its_url_away_and_signs_it_again() {
        let mut q = queue();
        let id = sending_part_one(&mut q);
        let body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        let cmds = q.handle(T0, Event::PartFailed { file: id, part: 1, status: 403, body: body.into() });
        assert_eq!(sign_requests(&cmds), vec![vec![1]]);
        assert!(wakes(&cmds).is_empty(), "no wait to sign again");
        // The next signed part takes the free place meanwhile.
        assert_eq!(part_sends(&cmds), vec![2]);
        let message = q.file(id).and_then(|f| f.message).unwrap_or_default();
        assert!(message.contains("Request has expired"), "{message}");
        let cmds = q.handle(T0, Event::PartDone { file: id, part: 2 });
        assert_eq!(part_sends(&cmds), vec![3], "part 1 waits for its new URL");
        let mut new_url = urls(&[1]);
        new_url.parts[0].url = "http://s3/part/1?new".into();
        let cmds = q.handle(T0, Event::PartsSigned { file: id, urls: new_url });
        assert!(part_sends(&cmds).is_empty(), "one in flight");
        let cmds = q.handle(T0, Event::PartDone { file: id, part: 3 });
        assert!(cmds.iter().any(|c| matches!(c, Command::SendPart { part: 1, url, .. } if url.url.ends_with("?new"))));
    }

    #[test]
    fn a_bad_digest_sends_the_part_again_after_a_backoff_with_the_same_url() {
        let mut q = queue();
        let id = sending_part_one(&mut q);
        let body = "<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match</Message></Error>";
        let now = T0 + 10;
        let cmds = q.handle(now, Event::PartFailed { file: id, part: 1, status: 400, body: body.into() });
        assert!(sign_requests(&cmds).is_empty(), "the URL is still good");
        let at = wakes(&cmds);
        assert_eq!(at.len(), 1);
        assert!(at[0] >= now && at[0] <= now + 500, "first backoff within [0, 500] ms: {}", at[0]);
        let again = |cmds: &[Command]| {
            cmds.iter().any(|c| matches!(c, Command::SendPart { part: 1, url, .. } if url.url.ends_with("/1")))
        };
        if at[0] > now {
            // Meanwhile part 2 goes; part 1 is not sent before its time.
            assert_eq!(part_sends(&cmds), vec![2]);
            let cmds = q.handle(at[0], Event::PartDone { file: id, part: 2 });
            assert!(again(&cmds));
        } else {
            assert!(again(&cmds));
        }
    }

    #[test]
    fn a_part_waiting_for_its_backoff_is_not_sent_early_and_holds_no_place() {
        let mut q = Queue::new(QueueConfig { backoff_base_ms: 10_000, ..QueueConfig::new(limits()) }, 3);
        let id = sending_part_one(&mut q);
        let cmds = q.handle(T0, Event::PartFailed { file: id, part: 1, status: 503, body: String::new() });
        let at = wakes(&cmds)[0];
        assert!(at > T0 && at <= T0 + 10_000, "{at}");
        assert_eq!(part_sends(&cmds), vec![2], "the waiting part holds no place");
        let cmds = q.handle(at - 1, Event::PartDone { file: id, part: 2 });
        assert_eq!(part_sends(&cmds), vec![3], "part 1 is not due yet");
        assert!(q.handle(at - 1, Event::Tick).is_empty());
        let cmds = q.handle(at, Event::PartDone { file: id, part: 3 });
        assert_eq!(part_sends(&cmds), vec![1]);
    }

    #[test]
    fn no_such_upload_fails_the_file() {
        let mut q = queue();
        let (id, cmds) = multipart(&mut q, BIG, 3, vec![]);
        settle(&mut q, T0, cmds);
        let body = "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>";
        let cmds = q.handle(T0, Event::PartFailed { file: id, part: 2, status: 404, body: body.into() });
        assert!(has(&cmds, &Command::Abort { file: id }), "parts 1 and 3 are still going");
        assert!(has(&cmds, &Command::ReportFailure { upload_id: "m".into(), reason: gone_message(Locale::en) }));
        assert!(has(&cmds, &Command::Finished { file: id, ok: false }));
        let f = q.file(id).expect("listed");
        assert_eq!(
            (f.phase, f.message.as_deref()),
            (Phase::Failed, Some("The upload was aborted on the storage side."))
        );
        assert!(f.can_retry && f.can_remove);
        // Late answers change nothing.
        assert!(q.handle(T0, Event::PartDone { file: id, part: 1 }).is_empty());
    }

    #[test]
    fn a_part_failing_six_times_fails_the_file_with_s3s_words() {
        let mut q = queue();
        let id = sending_part_one(&mut q);
        let body = "<Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>";
        let mut now = T0;
        for attempt in 1..=5u32 {
            let mut cmds = q.handle(now, Event::PartFailed { file: id, part: 1, status: 500, body: body.into() });
            assert_eq!(phase(&q, id), Phase::Uploading, "attempt {attempt}");
            let at = wakes(&cmds)[0];
            assert!(at - now <= backoff_cap_ms(q.config(), attempt));
            // Another part took the free place: finish it, when part 1 is due, until part 1 goes again.
            now = at;
            loop {
                let sends = part_sends(&settle(&mut q, now, cmds));
                if sends.contains(&1) {
                    break;
                }
                cmds = q.handle(now, Event::PartDone { file: id, part: sends[0] });
            }
        }
        let cmds = q.handle(now, Event::PartFailed { file: id, part: 1, status: 500, body: body.into() });
        assert!(has(&cmds, &Command::Finished { file: id, ok: false }));
        assert!(!cmds.iter().any(|c| matches!(c, Command::ReportFailure { .. })), "kept for a resume");
        let f = q.file(id).expect("listed");
        assert_eq!(f.phase, Phase::Failed);
        assert_eq!(
            f.message.as_deref(),
            Some("The storage refused the file: We encountered an internal error (InternalError).")
        );
    }

    #[test]
    fn stale_part_urls_are_signed_again_not_sent() {
        let mut q = queue();
        let (id, cmds) = multipart(&mut q, BIG, 1, vec![]);
        // Sign part 1 with a short URL, hash 2, sign it too (5 minutes).
        assert_eq!(sign_requests(&cmds), vec![vec![1]]);
        let cmds = q.handle(T0, Event::PartHashed { file: id, part: 2, sha256: sha(2) });
        assert!(sign_requests(&cmds).is_empty());
        let cmds = q.handle(T0, Event::PartsSigned { file: id, urls: urls_valid_for(&[1], 300_000) });
        assert_eq!(part_sends(&cmds), vec![1]);
        assert_eq!(sign_requests(&cmds), vec![vec![2]]);
        q.handle(T0, Event::PartsSigned { file: id, urls: urls_valid_for(&[2], 300_000) });
        // Part 1 takes 4.5 minutes and a bit: part 2's URL has under 30 s left.
        let cmds = q.handle(T0 + 270_001, Event::PartDone { file: id, part: 1 });
        assert!(part_sends(&cmds).is_empty());
        assert_eq!(sign_requests(&cmds), vec![vec![2]]);
        let cmds = q.handle(T0 + 270_100, Event::PartsSigned { file: id, urls: urls_valid_for(&[2], 300_000) });
        assert_eq!(part_sends(&cmds), vec![2]);
        // At 270 s exactly it would still have gone.
        let mut q = queue();
        let (id, _) = multipart(&mut q, BIG, 1, vec![]);
        q.handle(T0, Event::PartHashed { file: id, part: 2, sha256: sha(2) });
        q.handle(T0, Event::PartsSigned { file: id, urls: urls_valid_for(&[1], 300_000) });
        q.handle(T0, Event::PartsSigned { file: id, urls: urls_valid_for(&[2], 300_000) });
        let cmds = q.handle(T0 + 270_000, Event::PartDone { file: id, part: 1 });
        assert_eq!(part_sends(&cmds), vec![2]);
    }

    #[test]
    fn part_failures_are_classified() {
        use PartFailure::*;
        let code = |c: &str| format!("<Error><Code>{c}</Code><Message>m</Message></Error>");
        assert_eq!(classify_part_failure(0, ""), Transient);
        assert_eq!(classify_part_failure(408, ""), Transient);
        assert_eq!(classify_part_failure(429, ""), Transient);
        assert_eq!(classify_part_failure(500, &code("InternalError")), Transient);
        assert_eq!(classify_part_failure(503, &code("SlowDown")), Transient);
        assert_eq!(classify_part_failure(400, &code("RequestTimeout")), Transient);
        assert_eq!(classify_part_failure(403, &code("AccessDenied")), Resign);
        assert_eq!(classify_part_failure(403, &code("RequestTimeTooSkewed")), Resign);
        assert_eq!(classify_part_failure(403, &code("SignatureDoesNotMatch")), Resign);
        assert_eq!(classify_part_failure(400, &code("InvalidDigest")), Digest);
        assert_eq!(classify_part_failure(400, &code("BadDigest")), Digest);
        assert_eq!(classify_part_failure(404, &code("NoSuchUpload")), Gone);
        assert_eq!(classify_part_failure(404, &code("NoSuchKey")), Refused);
        assert_eq!(classify_part_failure(400, &code("EntityTooSmall")), Refused);
        assert_eq!(classify_part_failure(400, "not xml"), Refused);
        assert_eq!(classify_part_failure(413, ""), Refused);
    }

    #[test]
    fn s3_errors_are_put_in_words() {
        let body = "<Error><Code>InvalidRequest</Code><Message>File size does not match policy</Message></Error>";
        assert_eq!(
            s3_refusal(400, body, Locale::en),
            "The storage refused the file: File size does not match policy (InvalidRequest)."
        );
        assert!(s3_refusal(0, "", Locale::en).contains("CORS"));
        assert_eq!(
            s3_refusal(403, "<Error><Code>AccessDenied</Code></Error>", Locale::en),
            "The storage refused the file (AccessDenied)."
        );
        assert_eq!(s3_refusal(500, "oops", Locale::en), "The storage refused the file (HTTP 500).");
    }

    #[test]
    fn a_french_queue_writes_its_messages_in_french() {
        let in_french = |c: QueueConfig| QueueConfig { locale: Locale::fr, ..c };
        let mut q = Queue::new(in_french(QueueConfig::new(limits())), 1);
        let (a, _) = ticketed(&mut q, "a", 100, single_ticket("u"));
        q.handle(T0, Event::SingleFailed { file: a, status: 0, body: String::new() });
        assert_eq!(
            q.file(a).and_then(|f| f.message).as_deref(),
            Some(
                "L\u{2019}envoi n\u{2019}a pas pu joindre le stockage (erreur r\u{e9}seau, ou la r\u{e8}gle CORS du \
                 bucket n\u{2019}autorise pas ce site). Nouvelle tentative (2 sur 6)."
            )
        );
        q.handle(T0, Event::Offline);
        assert_eq!(
            q.file(a).and_then(|f| f.message).as_deref(),
            Some("En pause tant que cet ordinateur est hors ligne.")
        );
        assert_eq!(phase(&q, a).label(Locale::fr), "en pause");
        use Phase::*;
        for p in [
            Refused, Queued, Hashing, Signing, Ready, Uploading, Paused, Confirming, Completing, Done, Failed,
            Cancelled,
        ] {
            assert_eq!(p.label(Locale::en), p.word(), "an English page shows the markup's words");
            assert_ne!(p.label(Locale::fr), p.word(), "{p:?} in French");
        }
        let (refused, _) = q.add(T0, "empty.png".into(), 0, "image/png".into());
        let message = q.file(refused).and_then(|f| f.message);
        assert_eq!(message, Some(crate::model::LimitError::Empty.words(Locale::fr)));
        assert_ne!(message, Some(crate::model::LimitError::Empty.to_string()));

        let mut q = Queue::new(in_french(QueueConfig::new(limits())), 1);
        let (id, cmds) = multipart(&mut q, BIG, 3, vec![]);
        settle(&mut q, T0, cmds);
        q.handle(
            T0,
            Event::PartFailed {
                file: id,
                part: 2,
                status: 403,
                body: "<Error><Code>AccessDenied</Code></Error>".into(),
            },
        );
        assert_eq!(
            q.file(id).and_then(|f| f.message).as_deref(),
            Some("Partie 2\u{a0}: Le stockage a refus\u{e9} le fichier (AccessDenied). Nouvelle tentative (2 sur 6).")
        );
        let gone = "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>";
        q.handle(T0, Event::PartFailed { file: id, part: 1, status: 404, body: gone.into() });
        assert_eq!(
            q.file(id).and_then(|f| f.message).as_deref(),
            Some("L\u{2019}envoi a \u{e9}t\u{e9} interrompu du c\u{f4}t\u{e9} du stockage.")
        );
        assert_eq!(
            s3_refusal(400, "<Error><Code>X</Code><Message>Bad</Message></Error>", Locale::fr),
            "Le stockage a refus\u{e9} le fichier\u{a0}: Bad (X)."
        );
    }

    #[test]
    fn an_english_retry_says_which_try_comes_next() {
        let mut q = queue();
        let (a, _) = ticketed(&mut q, "a", 100, single_ticket("u"));
        q.handle(T0, Event::SingleFailed { file: a, status: 500, body: String::new() });
        assert_eq!(
            q.file(a).and_then(|f| f.message).as_deref(),
            Some("The storage refused the file (HTTP 500). Trying again (2 of 6).")
        );
        let (id, cmds) = multipart(&mut q, BIG, 3, vec![]);
        settle(&mut q, T0, cmds);
        q.handle(
            T0,
            Event::PartFailed {
                file: id,
                part: 2,
                status: 403,
                body: "<Error><Code>AccessDenied</Code></Error>".into(),
            },
        );
        assert_eq!(
            q.file(id).and_then(|f| f.message).as_deref(),
            Some("Part 2: The storage refused the file (AccessDenied). Trying again (2 of 6).")
        );
    }

    #[test]
    fn backoff_doubles_from_half_a_second_is_capped_and_jittered() {
        let config = QueueConfig::new(limits());
        let caps: Vec<i64> = (1..=9).map(|a| backoff_cap_ms(&config, a)).collect();
        assert_eq!(caps, vec![500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(backoff_cap_ms(&config, 200), 30_000);
        let mut q = queue();
        for attempt in [1, 3, 7, 100] {
            let cap = backoff_cap_ms(&config, attempt);
            let draws: Vec<i64> = (0..500).map(|_| q.backoff_ms(attempt)).collect();
            assert!(draws.iter().all(|&d| (0..=cap).contains(&d)), "attempt {attempt}");
            // Full jitter: spread over the range, not bunched at the cap.
            let (min, max) = (draws.iter().min().copied(), draws.iter().max().copied());
            assert!(min < Some(cap / 10) && max > Some(cap * 9 / 10), "attempt {attempt}: {min:?}..{max:?}");
        }
        // Deterministic by seed, different across seeds.
        let draws = |seed| {
            let mut q = Queue::new(config.clone(), seed);
            (0..8).map(|_| q.backoff_ms(7)).collect::<Vec<i64>>()
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
        assert_eq!(draws(0).len(), 8, "a zero seed still works");
        assert!(draws(0).iter().any(|&d| d != 0));
    }

    #[test]
    fn a_single_file_is_retried_after_network_errors_but_not_after_a_refusal() {
        let mut q = queue();
        let (id, cmds) = ticketed(&mut q, "a", 100, single_ticket("u"));
        assert_eq!(single_sends(&cmds), vec![id]);
        q.handle(T0, Event::SingleProgress { file: id, loaded: 60 });
        let cmds = q.handle(T0, Event::SingleFailed { file: id, status: 0, body: String::new() });
        let at = wakes(&cmds);
        assert_eq!(at.len(), 1);
        assert!(at[0] <= T0 + 500);
        assert_eq!(q.file(id).map(|f| (f.phase, f.sent)), Some((Phase::Uploading, 0)));
        assert!(!cmds.iter().any(|c| matches!(c, Command::ReportFailure { .. })));
        let mut cmds = cmds;
        if at[0] > T0 {
            assert!(single_sends(&cmds).is_empty(), "not before its time");
            cmds = q.handle(at[0], Event::Tick);
        }
        assert_eq!(single_sends(&cmds), vec![id]);

        // A refused policy is not sent again.
        let body = "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy</Message></Error>";
        let cmds = q.handle(at[0], Event::SingleFailed { file: id, status: 403, body: body.into() });
        let reason = "The storage refused the file: Invalid according to Policy (AccessDenied).".to_owned();
        assert!(has(&cmds, &Command::ReportFailure { upload_id: "u".into(), reason: reason.clone() }));
        assert!(has(&cmds, &Command::Finished { file: id, ok: false }));
        assert_eq!(q.file(id).and_then(|f| f.message), Some(reason));
        assert_eq!(phase(&q, id), Phase::Failed);
    }

    #[test]
    fn a_single_file_failing_six_times_is_reported_and_fails() {
        let mut q = queue();
        let (id, _) = ticketed(&mut q, "a", 100, single_ticket("u"));
        let mut now = T0;
        for _ in 0..5 {
            let cmds = q.handle(now, Event::SingleFailed { file: id, status: 503, body: String::new() });
            assert_eq!(phase(&q, id), Phase::Uploading);
            now = wakes(&cmds)[0];
            let cmds = if single_sends(&cmds).is_empty() { q.handle(now, Event::Tick) } else { cmds };
            assert_eq!(single_sends(&cmds), vec![id]);
        }
        let cmds = q.handle(now, Event::SingleFailed { file: id, status: 503, body: String::new() });
        let reason = "The storage refused the file (HTTP 503).".to_owned();
        assert!(has(&cmds, &Command::ReportFailure { upload_id: "u".into(), reason }));
        assert_eq!(phase(&q, id), Phase::Failed);
    }

    #[test]
    fn a_single_retry_whose_ticket_grew_old_gets_a_new_ticket() {
        let config =
            QueueConfig { backoff_base_ms: 10_000_000, backoff_max_ms: 10_000_000, ..QueueConfig::new(limits()) };
        let mut q = Queue::new(config, 9);
        let (id, _) = ticketed(&mut q, "a", 100, single_ticket("old"));
        let cmds = q.handle(T0, Event::SingleFailed { file: id, status: 500, body: String::new() });
        let at = wakes(&cmds)[0].max(T0 + 900_000);
        let cmds = q.handle(at, Event::Tick);
        assert!(has(&cmds, &Command::CancelOnServer { upload_id: "old".into() }));
        assert_eq!(ticket_requests(&cmds), vec![id]);
        assert!(single_sends(&cmds).is_empty());
        assert_eq!(phase(&q, id), Phase::Signing);
    }

    #[test]
    fn cancel_in_every_phase() {
        // Queued: nothing to tell anyone but the view.
        let mut q = Queue::new(QueueConfig { sign_ahead: 1, ..QueueConfig::new(limits()) }, 1);
        let (_, _) = add(&mut q, "a", 10);
        let (queued, _) = add(&mut q, "b", 10);
        assert_eq!(phase(&q, queued), Phase::Queued);
        let cmds = q.handle(T0, Event::Cancel { file: queued });
        assert_eq!(cmds, vec![Command::Finished { file: queued, ok: false }]);
        assert_eq!(phase(&q, queued), Phase::Cancelled);

        // Hashing: the hash's answer is ignored, and its place goes to the next file.
        let mut q = Queue::new(QueueConfig { sign_ahead: 1, ..QueueConfig::new(limits()) }, 1);
        let (hashing, _) = add(&mut q, "a", 10);
        let (next, _) = add(&mut q, "b", 10);
        let cmds = q.handle(T0, Event::Cancel { file: hashing });
        assert_eq!(cmds, vec![Command::Finished { file: hashing, ok: false }, Command::HashFile { file: next }]);
        assert!(q.handle(T0, Event::FileHashed { file: hashing, sha256: "s".into() }).is_empty());

        // Signing: the ticket that arrives after the cancel is cancelled on the server.
        let mut q = queue();
        let (signing, _) = add(&mut q, "a", 10);
        q.handle(T0, Event::FileHashed { file: signing, sha256: "s".into() });
        assert_eq!(phase(&q, signing), Phase::Signing);
        let cmds = q.handle(T0, Event::Cancel { file: signing });
        assert_eq!(cmds, vec![Command::Finished { file: signing, ok: false }]);
        let cmds = q.handle(T0, Event::TicketReceived { file: signing, ticket: single_ticket("late") });
        assert_eq!(cmds, vec![Command::CancelOnServer { upload_id: "late".into() }]);
        assert_eq!(phase(&q, signing), Phase::Cancelled);

        // Ready: cancelled on the server.
        let mut q = Queue::new(QueueConfig { max_files_uploading: 1, ..QueueConfig::new(limits()) }, 1);
        ticketed(&mut q, "a", 10, single_ticket("u1"));
        let (ready, _) = ticketed(&mut q, "b", 10, single_ticket("u2"));
        assert_eq!(phase(&q, ready), Phase::Ready);
        let cmds = q.handle(T0, Event::Cancel { file: ready });
        assert!(has(&cmds, &Command::CancelOnServer { upload_id: "u2".into() }));
        assert!(!has(&cmds, &Command::Abort { file: ready }), "nothing was being sent");

        // Uploading (single): the request is aborted and the server told.
        let mut q = queue();
        let (up, _) = ticketed(&mut q, "a", 10, single_ticket("u1"));
        let cmds = q.handle(T0, Event::Cancel { file: up });
        assert_eq!(
            cmds,
            vec![
                Command::CancelOnServer { upload_id: "u1".into() },
                Command::Abort { file: up },
                Command::Finished { file: up, ok: false },
            ]
        );
        assert!(q.handle(T0, Event::SingleSent { file: up }).is_empty(), "late events are ignored");
        assert!(q.handle(T0, Event::SingleFailed { file: up, status: 0, body: String::new() }).is_empty());
        assert_eq!(phase(&q, up), Phase::Cancelled);

        // Uploading (multipart): every part aborted; late signatures and hashes are ignored.
        let mut q = queue();
        let (big, cmds) = multipart(&mut q, BIG, 3, vec![]);
        let cmds: Vec<Command> = cmds.into_iter().filter(|c| !matches!(c, Command::SignParts { .. })).collect();
        settle(&mut q, T0, cmds);
        q.handle(T0, Event::PartsSigned { file: big, urls: urls(&[1]) });
        let cmds = q.handle(T0, Event::Cancel { file: big });
        assert!(has(&cmds, &Command::Abort { file: big }));
        assert!(has(&cmds, &Command::CancelOnServer { upload_id: "m".into() }));
        for late in [
            Event::PartDone { file: big, part: 1 },
            Event::PartProgress { file: big, part: 1, loaded: 3 },
            Event::PartFailed { file: big, part: 1, status: 500, body: String::new() },
            Event::PartsSigned { file: big, urls: urls(&[2, 3]) },
            Event::PartHashed { file: big, part: 9, sha256: "s".into() },
            Event::SignFailed { file: big, message: "x".into() },
            Event::Confirmed { file: big },
            Event::Tick,
        ] {
            assert!(q.handle(T0, late).is_empty());
        }
        assert_eq!(phase(&q, big), Phase::Cancelled);
        assert_eq!(q.totals(), Totals::default(), "cancelled files are not counted");

        // Paused: cancellable.
        let mut q = queue();
        let (paused, _) = ticketed(&mut q, "a", 10, single_ticket("u1"));
        q.handle(T0, Event::Pause { file: paused });
        let cmds = q.handle(T0, Event::Cancel { file: paused });
        assert!(has(&cmds, &Command::CancelOnServer { upload_id: "u1".into() }));
        assert_eq!(phase(&q, paused), Phase::Cancelled);

        // Confirming and Completing: the bytes are in, the server decides; not cancellable.
        let mut q = queue();
        let (checking, _) = ticketed(&mut q, "a", 10, single_ticket("u1"));
        q.handle(T0, Event::SingleSent { file: checking });
        assert_eq!(q.file(checking).map(|f| f.can_cancel), Some(false));
        assert!(q.handle(T0, Event::Cancel { file: checking }).is_empty());
        assert!(q.handle(T0, Event::CancelAll).is_empty());
        assert_eq!(phase(&q, checking), Phase::Confirming);
        let (finishing, _) = multipart(&mut q, 20 * MIB, 3, vec![1, 2, 3]);
        assert!(q.handle(T0, Event::Cancel { file: finishing }).is_empty());
        assert_eq!(phase(&q, finishing), Phase::Completing);

        // Ended: nothing to cancel.
        q.handle(T0, Event::Confirmed { file: checking });
        assert!(q.handle(T0, Event::Cancel { file: checking }).is_empty());
        assert_eq!(phase(&q, checking), Phase::Done);
    }

    #[test]
    fn pause_and_resume_in_every_phase() {
        // Queued.
        let mut q = Queue::new(QueueConfig { sign_ahead: 1, ..QueueConfig::new(limits()) }, 1);
        let (first, _) = add(&mut q, "a", 10);
        let (queued, _) = add(&mut q, "b", 10);
        assert!(q.handle(T0, Event::Pause { file: queued }).is_empty());
        let f = q.file(queued).expect("listed");
        assert_eq!(
            (f.phase, f.paused_by, f.can_resume, f.can_pause),
            (Phase::Paused, Some(PauseCause::User), true, false)
        );
        // A paused file is passed over when a place frees up.
        q.handle(T0, Event::Cancel { file: first });
        assert_eq!(phase(&q, queued), Phase::Paused);
        assert_eq!(q.handle(T0, Event::Resume { file: queued }), vec![Command::HashFile { file: queued }]);

        // Hashing: the result is kept while paused; resuming goes on from it.
        let mut q = queue();
        let (id, _) = add(&mut q, "a", 10);
        q.handle(T0, Event::Pause { file: id });
        assert!(q.handle(T0, Event::FileHashed { file: id, sha256: "s".into() }).is_empty());
        let cmds = q.handle(T0, Event::Resume { file: id });
        assert_eq!(cmds, vec![Command::RequestTicket { file: id, sha256: Some("s".into()), first_part_sha256: None }]);

        // Hashing, resumed before the hash is back: no second hash.
        let mut q = queue();
        let (id, _) = add(&mut q, "a", 10);
        q.handle(T0, Event::Pause { file: id });
        assert!(q.handle(T0, Event::Resume { file: id }).is_empty());
        assert_eq!(phase(&q, id), Phase::Hashing);

        // Signing: the ticket is kept; resuming sends.
        let mut q = queue();
        let (id, _) = add(&mut q, "a", 10);
        q.handle(T0, Event::FileHashed { file: id, sha256: "s".into() });
        q.handle(T0, Event::Pause { file: id });
        assert!(q.handle(T0, Event::TicketReceived { file: id, ticket: single_ticket("u") }).is_empty());
        assert_eq!(phase(&q, id), Phase::Paused);
        assert_eq!(
            q.handle(T0, Event::Resume { file: id }),
            vec![Command::SendSingle { file: id, ticket: single_ticket("u") }]
        );

        // Ready: frees its prepared place, and waits for an upload place when resumed.
        let mut q = Queue::new(QueueConfig { max_files_uploading: 1, ..QueueConfig::new(limits()) }, 1);
        let (up, _) = ticketed(&mut q, "a", 10, single_ticket("u1"));
        let (ready, _) = ticketed(&mut q, "b", 10, single_ticket("u2"));
        assert_eq!(phase(&q, ready), Phase::Ready);
        assert!(q.handle(T0, Event::Pause { file: ready }).is_empty());
        assert!(q.handle(T0, Event::Resume { file: ready }).is_empty());
        assert_eq!(phase(&q, ready), Phase::Queued);
        let cmds = q.handle(T0, Event::SingleSent { file: up });
        assert_eq!(single_sends(&cmds), vec![ready]);

        // Uploading (single): aborted, progress dropped, restarts from 0 with the same ticket; the
        // freed place goes to the next ready file.
        let mut q = Queue::new(QueueConfig { max_files_uploading: 1, ..QueueConfig::new(limits()) }, 1);
        let (up, _) = ticketed(&mut q, "a", 10, single_ticket("u1"));
        let (ready, _) = ticketed(&mut q, "b", 10, single_ticket("u2"));
        q.handle(T0, Event::SingleProgress { file: up, loaded: 7 });
        let cmds = q.handle(T0, Event::Pause { file: up });
        assert_eq!(
            cmds,
            vec![Command::Abort { file: up }, Command::SendSingle { file: ready, ticket: single_ticket("u2") }]
        );
        assert_eq!(q.file(up).map(|f| (f.phase, f.sent)), Some((Phase::Paused, 0)));
        assert!(q.handle(T0, Event::SingleSent { file: up }).is_empty(), "the aborted send is ignored");
        q.handle(T0, Event::Resume { file: up });
        assert_eq!(phase(&q, up), Phase::Queued, "waits for the place it gave up");
        let cmds = q.handle(T0, Event::SingleSent { file: ready });
        assert_eq!(cmds[1..].to_vec(), vec![Command::SendSingle { file: up, ticket: single_ticket("u1") }]);

        // Uploading, resumed with an old ticket: a new one.
        let mut q = queue();
        let (up, _) = ticketed(&mut q, "a", 10, single_ticket("u1"));
        q.handle(T0, Event::Pause { file: up });
        let cmds = q.handle(T0 + 850_000, Event::Resume { file: up });
        assert!(has(&cmds, &Command::CancelOnServer { upload_id: "u1".into() }));
        assert_eq!(ticket_requests(&cmds), vec![up]);

        // Uploading (multipart): parts in flight go back with their URLs, their progress dropped;
        // hashes and signatures in flight are kept.
        let mut q = queue();
        let (big, cmds) = multipart(&mut q, BIG, 2, vec![]);
        let seen = settle(&mut q, T0, cmds);
        assert_eq!(part_sends(&seen), vec![1, 2]);
        q.handle(T0, Event::PartDone { file: big, part: 1 });
        q.handle(T0, Event::PartProgress { file: big, part: 2, loaded: MIB });
        q.handle(T0, Event::PartProgress { file: big, part: 3, loaded: MIB });
        assert_eq!(q.file(big).map(|f| f.sent), Some(10 * MIB));
        // The hash asked for when part 3 went is still out.
        let cmds = q.handle(T0, Event::Pause { file: big });
        assert_eq!(cmds, vec![Command::Abort { file: big }]);
        assert_eq!(q.file(big).map(|f| (f.phase, f.sent)), Some((Phase::Paused, 8 * MIB)));
        assert!(q.handle(T0, Event::PartDone { file: big, part: 2 }).is_empty());
        let cmds = q.handle(T0, Event::Resume { file: big });
        assert_eq!(part_sends(&cmds), vec![2, 3], "same URLs, no signing");
        assert!(sign_requests(&cmds).is_empty());

        // Confirming: not pausable.
        let mut q = queue();
        let (checking, _) = ticketed(&mut q, "a", 10, single_ticket("u1"));
        q.handle(T0, Event::SingleSent { file: checking });
        assert!(q.handle(T0, Event::Pause { file: checking }).is_empty());
        assert_eq!(phase(&q, checking), Phase::Confirming);
    }

    #[test]
    fn a_paused_multipart_file_keeps_what_arrives_meanwhile() {
        let mut q = queue();
        let (big, cmds) = multipart(&mut q, BIG, 2, vec![]);
        assert_eq!(sign_requests(&cmds), vec![vec![1]]);
        assert_eq!(hash_parts(&cmds), vec![(big, 2)]);
        q.handle(T0, Event::Pause { file: big });
        assert!(q.handle(T0, Event::PartHashed { file: big, part: 2, sha256: sha(2) }).is_empty());
        assert!(q.handle(T0, Event::PartsSigned { file: big, urls: urls(&[1]) }).is_empty());
        let cmds = q.handle(T0, Event::Resume { file: big });
        assert_eq!(part_sends(&cmds), vec![1]);
        assert_eq!(sign_requests(&cmds), vec![vec![2]]);
        assert_eq!(hash_parts(&cmds), vec![(big, 3)]);

        // URLs that grew old during the pause are signed again.
        q.handle(T0, Event::PartsSigned { file: big, urls: urls(&[2]) });
        q.handle(T0, Event::Pause { file: big });
        let cmds = q.handle(T0 + 900_000, Event::Resume { file: big });
        assert!(part_sends(&cmds).is_empty());
        assert_eq!(sign_requests(&cmds), vec![vec![1, 2]]);
    }

    #[test]
    fn offline_pauses_every_active_file_and_online_resumes_only_those() {
        let mut q = Queue::new(QueueConfig { max_files_uploading: 2, ..QueueConfig::new(limits()) }, 1);
        let (a, _) = ticketed(&mut q, "a", 10, single_ticket("ua"));
        let (b, _) = ticketed(&mut q, "b", 10, single_ticket("ub"));
        let (c, _) = ticketed(&mut q, "c", 10, single_ticket("uc"));
        let (d, _) = add(&mut q, "d", 10);
        q.handle(T0, Event::Pause { file: b });
        assert_eq!(phase(&q, c), Phase::Uploading, "took b's place");
        let cmds = q.handle(T0, Event::Offline);
        assert_eq!(cmds, vec![Command::Abort { file: a }, Command::Abort { file: c }]);
        for id in [a, b, c, d] {
            assert_eq!(phase(&q, id), Phase::Paused);
        }
        assert_eq!(q.file(a).and_then(|f| f.paused_by), Some(PauseCause::Network));
        assert_eq!(q.file(b).and_then(|f| f.paused_by), Some(PauseCause::User));
        assert!(q.file(a).and_then(|f| f.message).is_some_and(|m| m.contains("offline")));
        assert!(!q.in_flight(), "nothing is lost by leaving now");
        // Added while offline: waits for the network too.
        let (e, cmds) = add(&mut q, "e", 10);
        assert!(cmds.is_empty());
        assert_eq!(q.file(e).and_then(|f| f.paused_by), Some(PauseCause::Network));

        let cmds = q.handle(T0, Event::Online);
        assert_eq!(single_sends(&cmds), vec![a, c]);
        assert_eq!(hash_files(&cmds), vec![e], "d's hash is still on its way");
        assert_eq!(phase(&q, d), Phase::Hashing);
        assert_eq!(phase(&q, b), Phase::Paused, "the user's pause stands");
        assert_eq!(q.file(a).and_then(|f| f.message), None);
        assert!(q.in_flight());
    }

    #[test]
    fn offline_leaves_confirming_files_alone() {
        let mut q = queue();
        let (a, _) = ticketed(&mut q, "a", 10, single_ticket("ua"));
        q.handle(T0, Event::SingleSent { file: a });
        assert!(q.handle(T0, Event::Offline).is_empty());
        assert_eq!(phase(&q, a), Phase::Confirming);
    }

    #[test]
    fn server_refusals_fail_the_file_and_retry_starts_over() {
        let mut q = queue();
        let (id, _) = add(&mut q, "a", 10);
        q.handle(T0, Event::FileHashed { file: id, sha256: "s".into() });
        let cmds = q.handle(T0, Event::TicketFailed { file: id, message: "Quota exceeded.".into() });
        assert_eq!(cmds, vec![Command::Finished { file: id, ok: false }]);
        let f = q.file(id).expect("listed");
        assert_eq!((f.phase, f.message.as_deref(), f.can_retry), (Phase::Failed, Some("Quota exceeded."), true));
        let cmds = q.handle(T0, Event::Retry { file: id });
        assert_eq!(cmds, vec![Command::HashFile { file: id }], "everything again, the hash too");
        assert_eq!(q.file(id).map(|f| (f.phase, f.message)), Some((Phase::Hashing, None)));

        // A failed confirmation.
        let (id, _) = ticketed(&mut q, "b", 10, single_ticket("u"));
        q.handle(T0, Event::SingleSent { file: id });
        q.handle(T0, Event::ConfirmFailed { file: id, message: "The object is not there.".into() });
        assert_eq!(q.file(id).and_then(|f| f.message).as_deref(), Some("The object is not there."));

        // A failed signature.
        let mut q = queue();
        let (big, _) = multipart(&mut q, BIG, 3, vec![]);
        let cmds = q.handle(T0, Event::SignFailed { file: big, message: "The upload expired.".into() });
        assert_eq!(cmds, vec![Command::Finished { file: big, ok: false }]);
        assert_eq!(q.file(big).and_then(|f| f.message).as_deref(), Some("The upload expired."));
        // The hash of part 2 was still out: a retry waits for it rather than reading twice at once.
        let cmds = q.handle(T0, Event::Retry { file: big });
        assert!(cmds.is_empty());
        let cmds = q.handle(T0, Event::PartHashed { file: big, part: 2, sha256: sha(2) });
        assert_eq!(hash_parts(&cmds), vec![(big, 1)]);

        // A file that can no longer be read.
        let mut q = queue();
        let (id, _) = add(&mut q, "a", 10);
        q.handle(T0, Event::HashFailed { file: id, message: "The file changed.".into() });
        assert_eq!(q.file(id).map(|f| f.phase), Some(Phase::Failed));
    }

    #[test]
    fn a_cancelled_file_retried_before_its_ticket_came_uses_that_ticket() {
        let mut q = queue();
        let (id, _) = add(&mut q, "a", 10);
        q.handle(T0, Event::FileHashed { file: id, sha256: "s".into() });
        q.handle(T0, Event::Cancel { file: id });
        let cmds = q.handle(T0, Event::Retry { file: id });
        assert!(cmds.is_empty(), "the ticket asked for is still coming");
        let cmds = q.handle(T0, Event::TicketReceived { file: id, ticket: single_ticket("u") });
        assert_eq!(single_sends(&cmds), vec![id]);
    }

    #[test]
    fn tickets_nobody_waits_for_are_cancelled() {
        let mut q = queue();
        let cmds = q.handle(T0, Event::TicketReceived { file: FileId(99), ticket: single_ticket("stray") });
        assert_eq!(cmds, vec![Command::CancelOnServer { upload_id: "stray".into() }]);
        let (id, _) = add(&mut q, "a", 10);
        let cmds = q.handle(T0, Event::TicketReceived { file: id, ticket: single_ticket("unasked") });
        assert_eq!(cmds, vec![Command::CancelOnServer { upload_id: "unasked".into() }]);
        assert_eq!(phase(&q, id), Phase::Hashing);
    }

    #[test]
    fn remove_clear_finished_and_cancel_all() {
        let mut q = queue();
        let (done, _) = ticketed(&mut q, "done", 10, single_ticket("u1"));
        q.handle(T0, Event::SingleSent { file: done });
        q.handle(T0, Event::Confirmed { file: done });
        let (failed, _) = ticketed(&mut q, "failed", 10, single_ticket("u2"));
        q.handle(T0, Event::SingleFailed { file: failed, status: 400, body: String::new() });
        let (refused, _) = add(&mut q, "refused", 0);
        let (up, _) = ticketed(&mut q, "up", 10, single_ticket("u3"));
        let (queued, _) = add(&mut q, "queued", 10);
        assert_eq!(phase(&q, failed), Phase::Failed);

        // Only ended files can be removed.
        assert!(q.handle(T0, Event::Remove { file: up }).is_empty());
        assert_eq!(q.handle(T0, Event::Remove { file: refused }), vec![Command::Forget { file: refused }]);
        assert!(q.file(refused).is_none());

        let cmds = q.handle(T0, Event::ClearFinished);
        assert_eq!(cmds, vec![Command::Forget { file: done }]);
        assert!(q.file(done).is_none());
        assert!(q.file(failed).is_some());

        let cmds = q.handle(T0, Event::CancelAll);
        assert!(has(&cmds, &Command::Abort { file: up }));
        assert!(has(&cmds, &Command::CancelOnServer { upload_id: "u3".into() }));
        assert!(has(&cmds, &Command::Finished { file: queued, ok: false }));
        assert!(!has(&cmds, &Command::Finished { file: failed, ok: false }), "already ended");
        assert_eq!(phase(&q, up), Phase::Cancelled);
        assert_eq!(phase(&q, queued), Phase::Cancelled);
        assert!(!q.in_flight());
        let names: Vec<String> = q.files().map(|f| f.name).collect();
        assert_eq!(names, vec!["failed", "up", "queued"]);
    }

    #[test]
    fn progress_and_totals() {
        let mut q = queue();
        let (a, _) = ticketed(&mut q, "a", 1000, single_ticket("ua"));
        let (_, _) = add(&mut q, "refused", 0);
        let (c, _) = ticketed(&mut q, "c", 500, single_ticket("uc"));
        q.handle(T0, Event::SingleProgress { file: a, loaded: 250 });
        q.handle(T0, Event::SingleProgress { file: c, loaded: 9_999 });
        assert_eq!(q.file(c).map(|f| f.sent), Some(500), "never more than the size");
        assert_eq!(q.totals(), Totals { sent: 750, total: 1500, done_files: 0, counted_files: 2 });
        q.handle(T0, Event::SingleSent { file: a });
        q.handle(T0, Event::Confirmed { file: a });
        assert_eq!(q.totals(), Totals { sent: 1500, total: 1500, done_files: 1, counted_files: 2 });
        q.handle(T0, Event::Cancel { file: c });
        assert_eq!(q.totals(), Totals { sent: 1000, total: 1000, done_files: 1, counted_files: 1 });

        // Multipart: done parts, resumed ones included, plus what is in flight.
        let mut q = queue();
        let size = 4 * 8 * MIB;
        let (big, cmds) = multipart(&mut q, size, 3, vec![2]);
        settle(&mut q, T0, cmds);
        q.handle(T0, Event::PartProgress { file: big, part: 1, loaded: MIB });
        q.handle(T0, Event::PartProgress { file: big, part: 3, loaded: 99 * MIB });
        assert_eq!(q.totals().sent, 8 * MIB + MIB + 8 * MIB);
        q.handle(T0, Event::PartDone { file: big, part: 1 });
        assert_eq!(q.file(big).map(|f| (f.sent, f.parts_done)), Some((24 * MIB, 2)));
    }

    #[test]
    fn a_multipart_failure_mid_upload_can_be_retried_and_resumes_on_the_server() {
        let mut q = queue();
        let (big, cmds) = multipart(&mut q, 20 * MIB, 3, vec![]);
        settle(&mut q, T0, cmds);
        q.handle(T0, Event::PartDone { file: big, part: 1 });
        let body = "<Error><Code>NoSuchUpload</Code></Error>";
        q.handle(T0, Event::PartFailed { file: big, part: 2, status: 404, body: body.into() });
        let cmds = q.handle(T0, Event::Retry { file: big });
        assert_eq!(hash_parts(&cmds), vec![(big, 1)]);
        let cmds = q.handle(T0, Event::PartHashed { file: big, part: 1, sha256: sha(1) });
        assert_eq!(ticket_requests(&cmds), vec![big]);
        let cmds = q.handle(T0, Event::TicketReceived { file: big, ticket: multi_ticket("m2", 20 * MIB, 3, vec![1]) });
        assert_eq!(q.file(big).map(|f| (f.resumed, f.upload_id)), Some((true, Some("m2".into()))));
        let seen = settle(&mut q, T0, cmds);
        assert_eq!(part_sends(&seen), vec![2, 3]);
    }

    /// Random answers, failures and delays for one multipart file, checked against the rules the
    /// whole way through.
    #[test]
    fn a_multipart_upload_with_random_failures_always_completes() {
        for seed in 1..=60u64 {
            simulate(seed);
        }
    }

    fn simulate(seed: u64) {
        let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        let size = 21 * 8 * MIB + 12_345; // 22 parts, the last one short
        let concurrency = 1 + (seed % 4) as u32;
        let done_at_start: Vec<u32> = (1..=22).filter(|_| rng.up_to(3) == 0).collect();
        let statuses: [(u16, &str); 8] = [
            (0, ""),
            (500, "<Error><Code>InternalError</Code></Error>"),
            (503, "<Error><Code>SlowDown</Code></Error>"),
            (403, "<Error><Code>AccessDenied</Code></Error>"),
            (403, "<Error><Code>RequestTimeTooSkewed</Code></Error>"),
            (400, "<Error><Code>BadDigest</Code></Error>"),
            (400, "<Error><Code>InvalidPart</Code></Error>"),
            (429, ""),
        ];
        let mut q = Queue::new(QueueConfig::new(limits()), seed);
        let (id, mut cmds) = add(&mut q, "big", size);
        let mut now = T0;
        let mut outstanding: Vec<Command> = vec![];
        let mut in_flight: Vec<u32> = vec![];
        let (mut hashing, mut signing) = (0usize, 0usize);
        let mut failures = [0u32; 23];
        let mut sent_ever = [false; 23];
        // Per part: local time its URL arrived and how long it was valid.
        let mut signed = [(0i64, 0i64); 23];
        let mut wakes: Vec<i64> = vec![];
        let mut max_in_flight = 0;
        for step in 0.. {
            assert!(step < 100_000, "seed {seed}: never finished");
            for c in cmds.drain(..) {
                match &c {
                    Command::HashPart { .. } => hashing += 1,
                    Command::SignParts { parts, .. } => {
                        signing += 1;
                        assert!(!parts.is_empty() && parts.len() <= SIGN_BATCH);
                    }
                    Command::SendPart { part, url, .. } => {
                        let p = *part as usize;
                        assert!(!done_at_start.contains(part), "seed {seed}: part {part} was already there");
                        assert!(!in_flight.contains(part), "seed {seed}: part {part} sent twice at once");
                        let (received, valid) = signed[p];
                        assert_eq!(url.expires_at, 9_000_000 + valid, "seed {seed}: an old URL");
                        assert!(now - received <= valid - 30_000.min(valid / 2), "seed {seed}: a stale URL sent");
                        in_flight.push(*part);
                        sent_ever[p] = true;
                    }
                    Command::Wake { at_ms } => wakes.push(*at_ms),
                    Command::RequestTicket { .. } | Command::Complete { .. } => {}
                    Command::Finished { ok: true, .. } => {}
                    other => panic!("seed {seed}: unexpected {other:?}"),
                }
                assert!(hashing <= 1, "seed {seed}: two hashes at once");
                assert!(signing <= 1, "seed {seed}: two signings at once");
                assert!(in_flight.len() <= concurrency as usize, "seed {seed}: too many parts in flight");
                max_in_flight = max_in_flight.max(in_flight.len());
                if !matches!(c, Command::Wake { .. } | Command::Finished { .. }) {
                    outstanding.push(c);
                }
            }
            let f = q.file(id).expect("listed");
            assert!(f.sent <= size);
            assert_ne!(f.phase, Phase::Failed, "seed {seed}: {:?}", f.message);
            if f.phase == Phase::Done {
                break;
            }

            now += rng.up_to(5_000) as i64;
            let due = wakes.iter().any(|&w| w <= now);
            if outstanding.is_empty() || (due && rng.up_to(1) == 0) || rng.up_to(20) == 0 {
                if outstanding.is_empty() {
                    let next = wakes.iter().min().copied();
                    now = now.max(next.unwrap_or_else(|| panic!("seed {seed}: stuck at step {step}")));
                }
                wakes.retain(|&w| w > now);
                cmds = q.handle(now, Event::Tick);
                continue;
            }
            let c = outstanding.swap_remove(rng.up_to(outstanding.len() as u64 - 1) as usize);
            let event = match c {
                Command::HashPart { file, part, .. } => {
                    hashing -= 1;
                    Event::PartHashed { file, part, sha256: sha(part) }
                }
                Command::RequestTicket { file, .. } => {
                    Event::TicketReceived { file, ticket: multi_ticket("m", size, concurrency, done_at_start.clone()) }
                }
                Command::SignParts { file, parts, .. } => {
                    signing -= 1;
                    let mut numbers: Vec<u32> = parts.iter().map(|(n, _)| *n).collect();
                    if numbers.len() > 1 && rng.up_to(9) == 0 {
                        numbers.pop(); // the server left one out
                    }
                    // Short-lived URLs, so that some grow old before they are used.
                    let valid = 40_000 + rng.up_to(120_000) as i64;
                    for &n in &numbers {
                        signed[n as usize] = (now, valid);
                    }
                    Event::PartsSigned { file, urls: urls_valid_for(&numbers, valid) }
                }
                Command::SendPart { file, part, start, end, .. } if rng.up_to(2) == 0 => {
                    let loaded = rng.up_to(end - start);
                    outstanding.push(c.clone());
                    Event::PartProgress { file, part, loaded }
                }
                Command::SendPart { file, part, .. } => {
                    in_flight.retain(|&p| p != part);
                    if failures[part as usize] < MAX_PART_ATTEMPTS - 1 && rng.up_to(2) == 0 {
                        failures[part as usize] += 1;
                        let (status, body) = statuses[rng.up_to(statuses.len() as u64 - 1) as usize];
                        Event::PartFailed { file, part, status, body: body.into() }
                    } else {
                        Event::PartDone { file, part }
                    }
                }
                Command::Complete { file, .. } => {
                    assert!(in_flight.is_empty() && outstanding.is_empty(), "seed {seed}: completed too early");
                    Event::Confirmed { file }
                }
                other => panic!("seed {seed}: unexpected {other:?}"),
            };
            cmds = q.handle(now, event);
        }
        let f = q.file(id).expect("listed");
        assert_eq!((f.phase, f.sent, f.parts_done, f.parts_total), (Phase::Done, size, 22, 22), "seed {seed}");
        for part in 1..=22u32 {
            assert_eq!(sent_ever[part as usize], !done_at_start.contains(&part), "seed {seed}: part {part}");
        }
        if concurrency > 1 && done_at_start.len() < 10 {
            assert!(max_in_flight > 1, "seed {seed}: parts went one by one");
        }
    }

    #[test]
    fn in_flight_is_true_while_anything_would_be_lost() {
        let mut q = queue();
        assert!(!q.in_flight());
        let (id, _) = add(&mut q, "a", 10);
        assert!(q.in_flight());
        q.handle(T0, Event::Pause { file: id });
        assert!(!q.in_flight());
        q.handle(T0, Event::Resume { file: id });
        q.handle(T0, Event::Cancel { file: id });
        assert!(!q.in_flight());
    }
}
