//! The upload service's decisions that do not depend on who asks: is the object really there, and
//! does it match what was signed? Confirm, the landing route and the reconciler all end here.

use std::sync::atomic::Ordering;

use time::OffsetDateTime;

use crate::api::ApiError;
use crate::domain::FileName;
use crate::i18n::{td_string, Locale};
use crate::model::{
    part_count, part_range, part_size_for, Fingerprint, PartChecksum, PartUrl, PartUrls, PlainForm, SendPlan,
    SigningMethod, UploadRow, UploadStatus, UploadTicket,
};

use super::config::{SingleMethod, SINGLE_REQUEST_MAX_BYTES};
use super::db::{self, unix_millis, uploads, users::User, DbError, Pool};
use super::doctor::MAX_CLOCK_SKEW_SECS;
use super::error::Failure;
use super::s3::post_policy::{PostPolicy, Success};
use super::s3::{CompletedPart, PartChecksums, PartConstraints, PutConstraints, S3Client, S3Error, StoredPart};
use super::s3_errors::S3ErrorKind;
use super::AppState;

/// Most uploads one user may request in a minute.
pub const UPLOADS_PER_MINUTE: i64 = 300;
/// Where S3 sends browsers after a form upload without JavaScript.
pub const LANDING_PATH: &str = "/uploads/landing";

/// The language of the request being answered: refusals are worded in it.
fn locale() -> Locale {
    crate::locale::current()
}

fn no_such_upload() -> Failure {
    ApiError::NotFound(td_string!(locale(), errors.upload.no_such).to_owned()).into()
}

fn invalid(message: impl Into<String>) -> Failure {
    ApiError::Invalid(message.into()).into()
}

fn conflict(message: impl Into<String>) -> Failure {
    ApiError::Conflict(message.into()).into()
}

/// Signing with a clock far off S3's only produces refusals; say so instead.
fn check_clock(state: &AppState) -> Result<(), Failure> {
    let skew = state.clock_skew_secs.load(Ordering::Relaxed);
    if skew.abs() > MAX_CLOCK_SKEW_SECS {
        tracing::error!(skew, "refusing to sign: the server clock is off S3's");
        return Err(ApiError::Unavailable(td_string!(locale(), errors.outage.clock).to_owned()).into());
    }
    Ok(())
}

/// The landing route was reached without `bucket` and `key` (words for the plain route, in
/// `locale`).
pub fn landing_unnamed(locale: Locale) -> ApiError {
    ApiError::Invalid(td_string!(locale, errors.upload.landing_unnamed).to_owned())
}

/// An admin's download link whose id does not parse; `detail` is the router's (English) reason.
pub fn malformed_download_link(locale: Locale, detail: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid(td_string!(locale, errors.upload.bad_download_link, detail = detail).to_string())
}

/// An admin's download of an upload that does not exist or is not completed.
pub fn no_completed_upload(locale: Locale) -> ApiError {
    ApiError::NotFound(td_string!(locale, errors.upload.no_completed).to_owned())
}

/// What the browser says about a file when it asks to send it.
#[derive(Clone, Debug, Default)]
pub struct FileToSend {
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// base64 SHA-256 of the whole file: required below the multipart threshold, where it is
    /// pinned in the signature so S3 stores these bytes and no others.
    pub sha256: Option<String>,
    /// For a multipart file: what recognises it again after a reload.
    pub fingerprint: Option<Fingerprint>,
}

/// What a page asks for, one file of `request_upload` or `request_uploads`.
impl From<crate::model::FileRequest> for FileToSend {
    fn from(f: crate::model::FileRequest) -> Self {
        let fingerprint = f
            .first_part_sha256
            .map(|first_part_sha256| Fingerprint { last_modified: f.last_modified.unwrap_or(0), first_part_sha256 });
        FileToSend { name: f.file_name, size: f.size, content_type: f.content_type, sha256: f.sha256, fingerprint }
    }
}

/// Longest a multipart upload may sit idle before the reconciler aborts it; every batch of part
/// URLs moves this forward, so an upload that keeps sending never runs out.
pub const MULTIPART_IDLE_MILLIS: i64 = 24 * 3600 * 1000;
/// Most part URLs signed in one request: enough to keep several parts in flight, few enough
/// that none waits long enough to expire.
pub const MAX_PARTS_PER_BATCH: usize = 16;

/// Longest file name accepted as sent (it is then shortened to what is stored, see [`FileName`]).
pub const MAX_SENT_NAME_BYTES: usize = 1024;

/// A base64 SHA-256 digest as S3 writes it (44 characters, 32 bytes), or why not.
fn parse_sha256(value: &str) -> Result<String, Failure> {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(value.trim()) {
        Ok(bytes) if bytes.len() == 32 => Ok(value.trim().to_owned()),
        _ => Err(invalid(td_string!(locale(), errors.upload.bad_checksum))),
    }
}

/// Checks the user and the limits, records a pending upload and signs it: a POST or a PUT pinning
/// this key, type, size and SHA-256 below the multipart threshold; a multipart upload (created on
/// S3 with SHA-256 part checksums) above it. The same large file asked for again resumes the
/// caller's unfinished multipart upload instead of starting another.
pub async fn request(state: &AppState, user: &User, file: &FileToSend) -> Result<UploadTicket, Failure> {
    let limits = &state.config.limits;
    let size = file.size;
    let content_type = limits.check(size, &file.content_type).map_err(ApiError::from)?;
    let content_type = content_type.as_str();
    let multipart = size >= limits.multipart_threshold;
    let sha256 = match (&file.sha256, multipart) {
        (Some(sum), false) => Some(parse_sha256(sum)?),
        (None, false) => return Err(invalid(td_string!(locale(), errors.upload.missing_checksum))),
        (_, true) => None,
    };
    let fingerprint = match (&file.fingerprint, multipart) {
        (Some(f), true) => Some(format!("{}:{}", f.last_modified, parse_sha256(&f.first_part_sha256)?)),
        _ => None,
    };
    check_clock(state)?;
    // No file system names a file this long: a client that sends such a name is broken or probing.
    if file.name.len() > MAX_SENT_NAME_BYTES {
        return Err(invalid(td_string!(locale(), errors.upload.name_too_long)));
    }
    let name = FileName::new(&file.name);
    let signed_at = OffsetDateTime::now_utc();
    let now = unix_millis(signed_at);
    if let Some(fp) = &fingerprint {
        if let Some(row) = uploads::resumable(&state.db, &user.id, name.as_str(), size as i64, fp, now).await? {
            if let Some(ticket) = resume(state, row, now).await? {
                return Ok(ticket);
            }
        }
    }
    let too_many =
        || -> Failure { ApiError::RateLimited(td_string!(locale(), errors.upload.too_many).to_owned()).into() };
    let id = uploads::new_id();
    let key = format!("uploads/{}/{id}/{name}", user.id);
    // A multipart upload takes its place in the allowance before S3 is asked to start it; a single
    // request's is taken by the ticket writer, with its row, once it is signed.
    if multipart && !crate::server::db::users::take_ticket(&state.db, &user.id, now, UPLOADS_PER_MINUTE).await? {
        return Err(too_many());
    }
    let s3_id = match multipart {
        true => Some(state.s3.create_multipart_upload(&key, content_type, PartChecksums::Sha256).await?),
        false => None,
    };
    let mut new = uploads::NewUpload {
        owner_id: &user.id,
        object_key: &key,
        file_name: name.as_str(),
        content_type,
        declared_size: size as i64,
        checksum_sha256: sha256.as_deref(),
        method: SigningMethod::Post,
        expires_at: 0,
        multipart: None,
    };
    let send = if let Some(s3_id) = &s3_id {
        let part_size = part_size_for(size);
        let parts = part_count(size, part_size);
        new.method = SigningMethod::Multipart;
        new.expires_at = now + MULTIPART_IDLE_MILLIS;
        new.multipart = Some(uploads::NewMultipart {
            upload_id: s3_id,
            part_size: part_size as i64,
            part_count: parts as i64,
            fingerprint: fingerprint.as_deref(),
        });
        let plan = SendPlan::Multipart {
            part_size,
            part_count: parts,
            concurrency: state.config.part_concurrency,
            done: vec![],
            resumed: false,
        };
        if let Err(e) = uploads::insert_pending(&state.db, &id, &new).await {
            // No row will ever name this multipart upload: do not leave it to cost storage.
            let _ = state.s3.abort_multipart_upload(&key, s3_id).await;
            return Err(e.into());
        }
        plan
    } else {
        let sum = sha256.clone().unwrap_or_default();
        let (plan, expires) = match state.config.single_method {
            SingleMethod::Post => {
                let form = PostPolicy::for_key(&key, state.config.upload_expiry)
                    .content_type(content_type)
                    .length_range(size, size)
                    .checksum_sha256(sum)
                    .success(Success::Status(201))
                    .sign(state.s3.bucket(), signed_at)
                    .map_err(|e| invalid(e.to_string()))?;
                (SendPlan::Post { url: form.url, fields: form.fields }, unix_millis(form.expires_at))
            }
            SingleMethod::Put => {
                new.method = SigningMethod::Put;
                let c = PutConstraints {
                    content_type: content_type.to_owned(),
                    content_length: size,
                    checksum_sha256: Some(sum),
                };
                let expiry = state.config.upload_expiry;
                let req = state.s3.bucket().presign_put(&key, &c, expiry, signed_at);
                let expires = now + expiry.as_secs() as i64 * 1000;
                (SendPlan::Put { url: req.url, headers: browser_headers(req.headers) }, expires)
            }
        };
        new.expires_at = expires;
        let row = db::tickets::PendingRow::from_new(&id, &new);
        if state.tickets.ask(row).await? == db::tickets::Admitted::OverAllowance {
            return Err(too_many());
        }
        plan
    };
    let expires_at = new.expires_at;
    Ok(UploadTicket { upload_id: id, object_key: key, send, expires_at, server_time: now })
}

/// The headers the browser sets itself: `Content-Length` is signed, but only the browser may set
/// it (from the body), and it does.
fn browser_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.into_iter().filter(|(n, _)| !n.eq_ignore_ascii_case("content-length")).collect()
}

/// A ticket that continues `row`'s multipart upload with the parts S3 already has, or `None` when
/// S3 no longer knows it (the row is then expired and a new upload starts).
async fn resume(state: &AppState, row: UploadRow, now: i64) -> Result<Option<UploadTicket>, Failure> {
    let (Some(s3_id), Some(part_size), Some(parts)) = (&row.multipart_upload_id, row.part_size, row.part_count) else {
        return Ok(None);
    };
    let stored = match state.s3.list_parts(&row.object_key, s3_id).await {
        Ok(p) => p,
        Err(e) if e.is_no_such_upload() => {
            uploads::mark_ended(
                &state.db,
                &row.id,
                UploadStatus::Expired,
                Some("the storage no longer has the upload"),
            )
            .await?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let (part_size, size) = (part_size as u64, row.declared_size as u64);
    let done: Vec<u32> = parts_in_place(&stored, size, part_size, parts as u32).iter().map(|p| p.number).collect();
    let expires_at = now + MULTIPART_IDLE_MILLIS;
    uploads::extend(&state.db, &row.id, expires_at).await?;
    Ok(Some(UploadTicket {
        upload_id: row.id,
        object_key: row.object_key,
        send: SendPlan::Multipart {
            part_size,
            part_count: parts as u32,
            concurrency: state.config.part_concurrency,
            done,
            resumed: true,
        },
        expires_at,
        server_time: now,
    }))
}

fn part_len(size: u64, part_size: u64, n: u32) -> u64 {
    let (start, end) = part_range(size, part_size, n);
    end - start
}

/// The S3 id, part size and part count of a pending multipart upload, or why it cannot take parts.
fn pending_multipart(row: &UploadRow) -> Result<(String, u64, u32), Failure> {
    let (Some(s3_id), Some(part_size), Some(parts)) = (row.multipart_upload_id.clone(), row.part_size, row.part_count)
    else {
        return Err(invalid(td_string!(locale(), errors.upload.not_multipart)));
    };
    if row.status != UploadStatus::Pending {
        return Err(conflict(upload_is(row.status)));
    }
    Ok((s3_id, part_size as u64, parts as u32))
}

/// The parts S3 holds that belong where they are: numbered within the upload and of the size
/// that number must have. Resuming skips exactly these; completing needs all of them.
fn parts_in_place(stored: &[StoredPart], size: u64, part_size: u64, count: u32) -> Vec<&StoredPart> {
    stored.iter().filter(|p| p.number <= count && p.size == part_len(size, part_size, p.number)).collect()
}

/// Signs URLs for these parts, each binding its exact length and SHA-256 so S3 refuses other
/// bytes. Short-lived: the browser asks again, just in time, for the parts it sends next.
pub async fn sign_parts(state: &AppState, user: &User, id: &str, parts: &[PartChecksum]) -> Result<PartUrls, Failure> {
    if parts.is_empty() || parts.len() > MAX_PARTS_PER_BATCH {
        return Err(invalid(td_string!(locale(), errors.upload.batch_size, max = MAX_PARTS_PER_BATCH).to_string()));
    }
    let row = own_upload(state, user, id).await?;
    let (s3_id, part_size, count) = pending_multipart(&row)?;
    check_clock(state)?;
    let signed_at = OffsetDateTime::now_utc();
    let now = unix_millis(signed_at);
    let part_expiry = state.config.part_url_expiry;
    let mut urls = Vec::with_capacity(parts.len());
    for p in parts {
        if p.part_number == 0 || p.part_number > count {
            let part = p.part_number;
            return Err(invalid(
                td_string!(locale(), errors.upload.part_out_of_range, part = part, last = count).to_string(),
            ));
        }
        let c = PartConstraints {
            content_length: Some(part_len(row.declared_size as u64, part_size, p.part_number)),
            checksum_sha256: Some(parse_sha256(&p.sha256)?),
        };
        let req =
            state.s3.bucket().presign_upload_part(&row.object_key, &s3_id, p.part_number, &c, part_expiry, signed_at);
        urls.push(PartUrl {
            part_number: p.part_number,
            url: req.url,
            headers: browser_headers(req.headers),
            expires_at: now + part_expiry.as_secs() as i64 * 1000,
        });
    }
    uploads::extend(&state.db, &row.id, now + MULTIPART_IDLE_MILLIS).await?;
    Ok(PartUrls { parts: urls, server_time: now })
}

/// Finishes a multipart upload from what S3 itself lists (never the browser's part list): every
/// part must be there with its expected size, then S3 assembles the object, and it is verified
/// like any other upload. Parts missing: 409, and the row stays pending for the rest.
pub async fn complete(state: &AppState, user: &User, id: &str) -> Result<UploadRow, Failure> {
    let row = own_upload(state, user, id).await?;
    if row.status == UploadStatus::Completed {
        return Ok(row);
    }
    let (s3_id, part_size, count) = pending_multipart(&row)?;
    let stored = match state.s3.list_parts(&row.object_key, &s3_id).await {
        Ok(p) => p,
        // Completed already (a lost answer, another tab): the object tells.
        Err(e) if e.is_no_such_upload() => return settle(state, row).await,
        Err(e) => return Err(e.into()),
    };
    let good = parts_in_place(&stored, row.declared_size as u64, part_size, count);
    if good.len() != count as usize {
        let have = good.len();
        return Err(conflict(
            td_string!(locale(), errors.upload.parts_missing, have = have, total = count).to_string(),
        ));
    }
    let parts: Vec<CompletedPart> = good.into_iter().cloned().map(CompletedPart::from).collect();
    match state.s3.complete_multipart_upload(&row.object_key, &s3_id, &parts).await {
        Ok(_) => {}
        Err(e) if e.is_no_such_upload() => {}
        Err(e) => return Err(e.into()),
    }
    settle(state, row).await
}

async fn own_upload(state: &AppState, user: &User, id: &str) -> Result<UploadRow, Failure> {
    match uploads::get(&state.db, id).await? {
        // Another user's upload is "no such upload": its existence is not theirs to learn.
        Some(row) if row.owner_id == user.id => Ok(row),
        _ => Err(no_such_upload()),
    }
}

/// Turns what verifying found into the row, or the reason it is not completed.
async fn settle(state: &AppState, row: UploadRow) -> Result<UploadRow, Failure> {
    match verify(&state.db, &state.s3, &row).await? {
        Verified::Completed { .. } => uploads::get(&state.db, &row.id).await?.ok_or_else(no_such_upload),
        Verified::Missing => Err(conflict(td_string!(locale(), errors.upload.not_stored_yet))),
        Verified::Mismatch { reason } => {
            uploads::mark_ended(&state.db, &row.id, UploadStatus::Failed, Some(&reason.to_string())).await?;
            let locale = locale();
            let reason = reason.words(locale);
            Err(conflict(td_string!(locale, errors.upload.mismatch, reason = reason).to_string()))
        }
        Verified::NotPending(status) => Err(conflict(upload_is(status))),
    }
}

/// "This upload is cancelled.", in the request's language (one sentence per status: French
/// agrees the participle).
fn upload_is(status: UploadStatus) -> String {
    let l = locale();
    match status {
        UploadStatus::Pending => td_string!(l, errors.upload_is.pending),
        UploadStatus::Completed => td_string!(l, errors.upload_is.completed),
        UploadStatus::Failed => td_string!(l, errors.upload_is.failed),
        UploadStatus::Expired => td_string!(l, errors.upload_is.expired),
        UploadStatus::Cancelled => td_string!(l, errors.upload_is.cancelled),
    }
    .to_owned()
}

/// "This upload is already completed.", in the request's language.
fn upload_already(status: UploadStatus) -> String {
    let l = locale();
    match status {
        UploadStatus::Pending => td_string!(l, errors.upload_already.pending),
        UploadStatus::Completed => td_string!(l, errors.upload_already.completed),
        UploadStatus::Failed => td_string!(l, errors.upload_already.failed),
        UploadStatus::Expired => td_string!(l, errors.upload_already.expired),
        UploadStatus::Cancelled => td_string!(l, errors.upload_already.cancelled),
    }
    .to_owned()
}

/// The dropzone's confirmation once S3 answered: HEAD, compare, complete. Idempotent.
pub async fn confirm(state: &AppState, user: &User, id: &str) -> Result<UploadRow, Failure> {
    let row = own_upload(state, user, id).await?;
    settle(state, row).await
}

/// The user gave up on this upload; an object that slipped through anyway is removed. When S3
/// does not remove it, the cancelled row says so instead of pretending it is gone.
pub async fn cancel(state: &AppState, user: &User, id: &str) -> Result<UploadRow, Failure> {
    let row = own_upload(state, user, id).await?;
    if !uploads::mark_ended(&state.db, &row.id, UploadStatus::Cancelled, Some("cancelled by the user")).await? {
        // Another request moved it first (a confirm, the reconciler): name what it is now.
        let now = uploads::get(&state.db, id).await?.map_or(row.status, |r| r.status);
        return Err(conflict(upload_already(now)));
    }
    if let Err(left) = discard(&state.s3, &row).await {
        let reason = format!("cancelled by the user; {left}");
        uploads::note_error(&state.db, &row.id, UploadStatus::Cancelled, &reason).await?;
    }
    uploads::get(&state.db, id).await?.ok_or_else(no_such_upload)
}

/// What S3 still holds after an upload was given up on, in words for its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leftover {
    /// Parts of a multipart upload that could not be aborted.
    Parts,
    /// An object that could not be deleted.
    Object,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Leftover::Parts => {
                "the parts already sent could not be removed yet (the bucket's lifecycle rule or the operator will \
                 remove them)"
            }
            Leftover::Object => "the stored file could not be removed yet (the operator will remove it)",
        })
    }
}

/// Frees what an upload that will not complete holds on S3: its multipart upload's parts, or an
/// object that slipped through. Failures are logged and returned, so the row can tell the truth.
async fn discard(s3: &S3Client, row: &UploadRow) -> Result<(), Leftover> {
    if let Some(s3_id) = &row.multipart_upload_id {
        match s3.abort_multipart_upload(&row.object_key, s3_id).await {
            Ok(()) => return Ok(()),
            // Completed meanwhile (then the object goes below), or aborted already.
            Err(e) if e.is_no_such_upload() => {}
            Err(e) => {
                tracing::warn!(error = %e, key = %row.object_key, "could not abort the multipart upload");
                return Err(Leftover::Parts);
            }
        }
    }
    delete_object(s3, &row.object_key).await
}

async fn delete_object(s3: &S3Client, key: &str) -> Result<(), Leftover> {
    s3.delete_object(key).await.map_err(|e| {
        tracing::warn!(error = %e, key, "could not delete the object");
        Leftover::Object
    })
}

/// The browser reports S3's refusal; the row records it (the reason is S3's words, shortened).
pub async fn report_failure(state: &AppState, user: &User, id: &str, reason: &str) -> Result<UploadRow, Failure> {
    let row = own_upload(state, user, id).await?;
    let reason: String = reason.chars().filter(|c| !c.is_control()).take(300).collect();
    uploads::mark_ended(&state.db, &row.id, UploadStatus::Failed, Some(&reason)).await?;
    uploads::get(&state.db, id).await?.ok_or_else(no_such_upload)
}

/// A form for the profile page without JavaScript: the key is fixed up to a fresh folder of the
/// user's, S3 fills in the file name, and S3 redirects to our landing route.
pub fn plain_form(state: &AppState, user: &User) -> Result<PlainForm, Failure> {
    check_clock(state)?;
    let prefix = format!("uploads/{}/{}/", user.id, uploads::new_id());
    let form = PostPolicy::for_key(format!("{prefix}${{filename}}"), state.config.upload_expiry)
        .key_starts_with(prefix)
        .length_range(1, state.config.limits.max_bytes.min(SINGLE_REQUEST_MAX_BYTES))
        .success(Success::Redirect(format!("{}{LANDING_PATH}", state.config.public_url)))
        .sign(state.s3.bucket(), OffsetDateTime::now_utc())
        .map_err(|e| invalid(e.to_string()))?;
    Ok(PlainForm { url: form.url, fields: form.fields })
}

/// S3's 303 after a form upload: check the key is the user's, HEAD it, and record it completed.
pub async fn land(state: &AppState, user: &User, bucket: &str, key: &str) -> Result<UploadRow, Failure> {
    let own_prefix = format!("uploads/{}/", user.id);
    // A key S3 would normalise (`..`, `.`, empty segments) or could not have made from a form is
    // refused here, before it costs a call to S3 or a line in the error log.
    let odd_segment = key.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bucket != state.config.s3.bucket
        || !key.starts_with(&own_prefix)
        || odd_segment
        || key.chars().any(char::is_control)
    {
        tracing::warn!(user = %user.id, bucket, key, "landing: refused a key that is not the user's");
        return Err(no_such_upload());
    }
    if let Some(row) = uploads::by_key(&state.db, key).await? {
        return if row.owner_id == user.id { settle(state, row).await } else { Err(no_such_upload()) };
    }
    // A form upload: the row is recorded now that S3 says there is an object.
    let rest = &key[own_prefix.len()..];
    let Some((id, name)) = rest.split_once('/').filter(|(id, n)| uuid::Uuid::parse_str(id).is_ok() && !n.is_empty())
    else {
        return Err(no_such_upload());
    };
    let Some(info) = state.s3.head_object(key).await? else {
        return Err(conflict(td_string!(locale(), errors.upload.no_such_file)));
    };
    let content_type = mime_guess::from_path(name).first_or_octet_stream().essence_str().to_owned();
    let name = FileName::new(name);
    let new = uploads::NewUpload {
        owner_id: &user.id,
        object_key: key,
        file_name: name.as_str(),
        content_type: &content_type,
        declared_size: info.size as i64,
        checksum_sha256: None,
        method: SigningMethod::Post,
        // Already past: should verifying below fail, the reconciler settles it on its next pass.
        expires_at: db::now_millis(),
        multipart: None,
    };
    // A refused type is recorded failed from the start: never pending, no one else can complete
    // it between recording and refusing.
    let refused = (!state.config.limits.allows_type(&content_type))
        .then(|| format!("files of type {content_type} are not accepted"));
    let record = |id: String| {
        let (new, refused) = (&new, &refused);
        async move {
            match refused {
                None => uploads::insert_pending(&state.db, &id, new).await,
                Some(reason) => uploads::insert_failed(&state.db, &id, new, reason).await,
            }
        }
    };
    let row = match record(id.to_owned()).await {
        Ok(row) => row,
        Err(e) if e.is_unique_violation() => match uploads::by_key(&state.db, key).await? {
            // Landed twice at once (a reload, a double submit): the other landing recorded it.
            Some(row) if row.owner_id == user.id => return settle(state, row).await,
            Some(_) => return Err(no_such_upload()),
            // The same form (so the same folder, whose name is the id) sent again with another
            // file: that object is an upload of its own, with an id of its own.
            None => match record(uploads::new_id()).await {
                Ok(row) => row,
                // …which another landing of this very object recorded meanwhile.
                Err(e) if e.is_unique_violation() => match uploads::by_key(&state.db, key).await? {
                    Some(row) if row.owner_id == user.id => return settle(state, row).await,
                    _ => return Err(no_such_upload()),
                },
                Err(e) => return Err(e.into()),
            },
        },
        Err(e) => return Err(e.into()),
    };
    if let Some(reason) = refused {
        if let Err(left) = delete_object(&state.s3, key).await {
            uploads::note_error(&state.db, &row.id, UploadStatus::Failed, &format!("{reason}; {left}")).await?;
        }
        let (name, content_type) = (name.as_str(), content_type.as_str());
        return Err(invalid(
            td_string!(locale(), errors.upload.type_refused, name = name, content_type = content_type).to_string(),
        ));
    }
    settle(state, row).await
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// What checking one upload against the bucket found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// The object is there with the signed size; the row is completed, by this call when `newly`.
    Completed { size: i64, etag: String, newly: bool },
    /// No object (yet).
    Missing,
    /// An object is there but not the one that was signed for.
    Mismatch { reason: Mismatch },
    /// The row was no longer pending (cancelled, failed, expired) and stays as it is.
    NotPending(UploadStatus),
}

/// How a stored object differs from what was signed for. `Display` is the English the upload's row
/// records (and the log says); [`Mismatch::words`] is for the person who asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("the stored object has {stored} bytes, {signed} were signed for")]
    Size { stored: i64, signed: i64 },
    #[error("the stored object's SHA-256 is {stored}, {signed} was signed for")]
    Checksum { stored: String, signed: String },
}

impl Mismatch {
    /// The reason in `locale`.
    pub fn words(&self, locale: Locale) -> String {
        match self {
            Mismatch::Size { stored, signed } => {
                td_string!(locale, errors.upload.size_mismatch, stored = stored, signed = signed).to_string()
            }
            Mismatch::Checksum { stored, signed } => {
                td_string!(locale, errors.upload.checksum_mismatch, stored = stored, signed = signed).to_string()
            }
        }
    }
}

/// HEADs the upload's object and, when it matches, moves the row pending → completed.
pub async fn verify(pool: &Pool, s3: &S3Client, upload: &UploadRow) -> Result<Verified, VerifyError> {
    if upload.status == UploadStatus::Completed {
        return Ok(Verified::Completed {
            size: upload.confirmed_size.unwrap_or(upload.declared_size),
            etag: upload.etag.clone().unwrap_or_default(),
            newly: false,
        });
    }
    if upload.status != UploadStatus::Pending {
        return Ok(Verified::NotPending(upload.status));
    }
    let Some(info) = s3.head_object(&upload.object_key).await? else { return Ok(Verified::Missing) };
    let size = info.size as i64;
    if size != upload.declared_size {
        return Ok(Verified::Mismatch { reason: Mismatch::Size { stored: size, signed: upload.declared_size } });
    }
    if let (Some(signed), Some(stored)) = (&upload.checksum_sha256, &info.checksum_sha256) {
        if upload.method != SigningMethod::Multipart && signed != stored {
            return Ok(Verified::Mismatch {
                reason: Mismatch::Checksum { stored: stored.clone(), signed: signed.clone() },
            });
        }
    }
    let newly = uploads::mark_completed(pool, &upload.id, size, &info.etag, info.checksum_sha256.as_deref()).await?;
    if !newly {
        // Someone else moved it first; report what the row says now.
        let now = uploads::get(pool, &upload.id).await?.map(|r| r.status).unwrap_or(UploadStatus::Failed);
        if now != UploadStatus::Completed {
            return Ok(Verified::NotPending(now));
        }
    }
    Ok(Verified::Completed { size, etag: info.etag, newly })
}

/// What one reconciler pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub completed: usize,
    pub expired: usize,
    pub failed: usize,
    pub errors: usize,
    /// Objects of cancelled uploads deleted once their ticket lapsed.
    pub cleared: usize,
    /// Failed sign-ins older than the window, deleted.
    pub attempts_pruned: u64,
}

/// What one pass of [`sweep`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub listed: usize,
    /// Objects without a row, now recorded as their owner's completed uploads.
    pub recorded: usize,
    /// Objects without a row whose key names no user (or no upload the app could have made).
    pub unowned: usize,
    pub errors: usize,
}

/// How long an object may sit without a row before the sweep records it: the plain form's
/// redirect (which makes the row) arrives within seconds of the object, never this late.
pub const ORPHAN_GRACE_MILLIS: i64 = 15 * 60_000;

/// `uploads/<user id>/<upload id>/<name>`, as the app makes keys.
fn key_parts(key: &str) -> Option<(&str, &str, &str)> {
    let mut it = key.strip_prefix("uploads/")?.splitn(3, '/');
    let (user, id, name) = (it.next()?, it.next()?, it.next()?);
    (!user.is_empty() && uuid::Uuid::parse_str(id).is_ok() && !name.is_empty() && !name.contains('/'))
        .then_some((user, id, name))
}

/// Which part of the bucket one sweep pass looks at.
#[derive(Clone, Debug)]
pub struct SweepPage<'a> {
    /// `uploads/` in production; a user's own folder in a test.
    pub prefix: &'a str,
    /// The previous page's continuation token.
    pub after: Option<&'a str>,
    pub max_keys: u32,
    /// Only objects stored before this (Unix milliseconds) are judged.
    pub stored_before: i64,
}

impl SweepPage<'_> {
    /// The reconciler's page: the whole `uploads/` folder, [`ORPHAN_GRACE_MILLIS`] of grace.
    pub fn uploads(after: Option<&str>) -> SweepPage<'_> {
        SweepPage { prefix: "uploads/", after, max_keys: 1000, stored_before: db::now_millis() - ORPHAN_GRACE_MILLIS }
    }
}

/// One page of the bucket: every object stored before `stored_before` that no row names is
/// recorded as a completed upload of the user its key names, marked as found by the sweep, so the
/// admin history accounts for every object. Returns where the next page starts (`None`: the
/// listing is done; start again).
pub async fn sweep(pool: &Pool, s3: &S3Client, page: &SweepPage<'_>) -> Result<(SweepReport, Option<String>), Failure> {
    let listed = s3.list_objects(page.prefix, page.after, page.max_keys).await?;
    let now = db::now_millis();
    let mut report = SweepReport { listed: listed.objects.len(), ..Default::default() };
    let old: Vec<_> = listed.objects.iter().filter(|o| o.last_modified < page.stored_before).collect();
    let keys: Vec<String> = old.iter().map(|o| o.key.clone()).collect();
    let known = uploads::known_keys(pool, &keys).await?;
    for object in old.into_iter().filter(|o| !known.contains(&o.key)) {
        let Some((owner, id, name)) = key_parts(&object.key) else {
            report.unowned += 1;
            continue;
        };
        if crate::server::db::users::by_id(pool, owner).await?.is_none() {
            report.unowned += 1;
            continue;
        }
        // The listing has no checksum or type: the object's own headers do.
        let info = match s3.head_object(&object.key).await {
            Ok(Some(info)) => info,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(key = %object.key, error = %e, "sweep: could not read a found object");
                report.errors += 1;
                continue;
            }
        };
        let file_name = FileName::new(name);
        let content_type = info.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
        let found = uploads::FoundObject {
            id,
            owner_id: owner,
            object_key: &object.key,
            file_name: file_name.as_str(),
            content_type: &content_type,
            size: info.size as i64,
            etag: &info.etag,
            checksum_sha256: info.checksum_sha256.as_deref(),
            stored_at: object.last_modified,
        };
        if uploads::insert_found(pool, &found, now).await? {
            tracing::info!(key = %object.key, "sweep: recorded an object that had no row");
            report.recorded += 1;
        }
    }
    Ok((report, listed.next))
}

/// Settles pending uploads whose signature has expired: an object that matches completes them
/// (the redirect or callback was lost), no object expires them. Each change is a conditional
/// UPDATE, so reconcilers on several servers at once change each row once.
pub async fn reconcile(pool: &Pool, s3: &S3Client, batch: i64) -> Result<ReconcileReport, DbError> {
    let mut report = ReconcileReport::default();
    for upload in uploads::pending_expired_before(pool, db::now_millis(), batch).await? {
        match verify(pool, s3, &upload).await {
            Ok(Verified::Completed { newly, .. }) => report.completed += newly as usize,
            Ok(Verified::Missing) => {
                if uploads::mark_ended(
                    pool,
                    &upload.id,
                    UploadStatus::Expired,
                    Some("the signature expired before an object arrived"),
                )
                .await?
                {
                    report.expired += 1;
                    // Parts of an abandoned multipart upload cost storage until aborted; what
                    // cannot be freed now is logged, and the lifecycle rule is the backstop.
                    let _ = discard(s3, &upload).await;
                }
            }
            Ok(Verified::Mismatch { reason }) => {
                if uploads::mark_ended(pool, &upload.id, UploadStatus::Failed, Some(&reason.to_string())).await? {
                    report.failed += 1;
                }
            }
            Ok(Verified::NotPending(_)) => {}
            Err(e) => {
                tracing::warn!(upload = %upload.id, error = %e, "reconcile: could not check the object");
                report.errors += 1;
            }
        }
    }
    // A cancelled upload's ticket keeps working until it lapses (S3 cannot revoke a signature):
    // whatever arrived with it is deleted once it can no longer arrive.
    let now = db::now_millis();
    for upload in uploads::cancelled_unswept(pool, now, batch).await? {
        match s3.delete_object(&upload.object_key).await {
            Ok(()) => {
                if uploads::mark_swept(pool, &upload.id, now).await? {
                    report.cleared += 1;
                }
            }
            Err(e) => {
                tracing::warn!(upload = %upload.id, error = %e, "reconcile: could not clear a cancelled upload's key");
                report.errors += 1;
            }
        }
    }
    report.attempts_pruned =
        db::attempts::prune(pool, now - crate::server::auth::ATTEMPT_WINDOW.as_millis() as i64).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::in_request;

    const ALL: [UploadStatus; 5] = [
        UploadStatus::Pending,
        UploadStatus::Completed,
        UploadStatus::Failed,
        UploadStatus::Expired,
        UploadStatus::Cancelled,
    ];

    #[test]
    fn an_uploads_state_is_said_as_before_in_english_and_agreed_in_french() {
        for s in ALL {
            assert_eq!(upload_is(s), format!("This upload is {}.", s.as_str()));
            assert_eq!(upload_already(s), format!("This upload is already {}.", s.as_str()));
        }
        let french = in_request("fr", || ALL.map(|s| (upload_is(s), upload_already(s))));
        assert_eq!(french[4], ("Cet envoi est annulé.".to_owned(), "Cet envoi est déjà annulé.".to_owned()));
        assert_eq!(french[2].0, "Cet envoi a échoué.");
    }

    #[test]
    fn a_mismatch_records_english_and_tells_its_reader_in_their_language() {
        let m = Mismatch::Size { stored: 12, signed: 10 };
        assert_eq!(m.to_string(), "the stored object has 12 bytes, 10 were signed for");
        assert_eq!(m.words(Locale::en), m.to_string());
        assert_eq!(m.words(Locale::fr), "l'objet stocké fait 12 octets, la signature en prévoyait 10");
        let c = Mismatch::Checksum { stored: "a".into(), signed: "b".into() };
        assert_eq!(c.words(Locale::en), c.to_string());
    }

    #[test]
    fn refusals_are_worded_for_the_request() {
        let said = |lang| in_request(lang, || ApiError::from(no_such_upload()).message());
        assert_eq!(said("en"), "There is no such upload.");
        assert_eq!(said("fr"), "Cet envoi n'existe pas.");
        assert_eq!(
            malformed_download_link(Locale::en, "bad id").to_string(),
            "The download link is malformed: bad id."
        );
    }
}
