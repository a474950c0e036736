use leptos::prelude::*;

use crate::dates::{iso_minutes, utc_minutes};
use crate::i18n::{td_string, Locale};
use crate::model::{human_size_in, SigningMethod, UploadRow, UploadStatus};

/// The status as a badge shows it, in `locale` (`data-status` and the class keep the machine word).
pub fn status_word(status: UploadStatus, locale: Locale) -> &'static str {
    match status {
        UploadStatus::Pending => td_string!(locale, common.status.pending),
        UploadStatus::Completed => td_string!(locale, common.status.completed),
        UploadStatus::Failed => td_string!(locale, common.status.failed),
        UploadStatus::Expired => td_string!(locale, common.status.expired),
        UploadStatus::Cancelled => td_string!(locale, common.status.cancelled),
    }
}

/// A reason kept with an upload's row, in `locale`. The server writes the reasons it makes itself
/// in English when the row ends (sometimes the reconciler, with no reader to ask): those are
/// worded again here; what came from elsewhere (S3's words, the page's own message, which was
/// already in its reader's language) is shown as kept.
pub fn stored_reason(stored: &str, locale: Locale) -> String {
    let (head, rest) = match stored.split_once("; ") {
        Some((head, rest)) => (head, Some(rest)),
        None => (stored, None),
    };
    let head = match head {
        "cancelled by the user" => td_string!(locale, pages.stored_reason.cancelled),
        "the storage no longer has the upload" => td_string!(locale, pages.stored_reason.gone),
        "the signature expired before an object arrived" => td_string!(locale, pages.stored_reason.expired),
        _ => return stored.to_owned(),
    };
    match rest {
        Some(rest) => format!("{head}; {rest}"),
        None => head.to_owned(),
    }
}

/// The signed-in user's uploads, newest first. Names are text nodes: always escaped. The table is
/// always there (hidden while empty): the dropzone adds each file it finishes to its top.
#[component]
pub fn UploadList(rows: Vec<UploadRow>) -> impl IntoView {
    let locale = crate::locale::current();
    let empty = rows.is_empty();
    view! {
        <p class="notice" data-testid="no-uploads" id="no-uploads" hidden=!empty>{td_string!(locale, pages.uploads.none)}</p>
        <table class="uploads cards" data-testid="upload-list" id="history" hidden=empty>
            <thead>
                <tr>
                    <th>{td_string!(locale, pages.uploads.file)}</th>
                    <th>{td_string!(locale, pages.uploads.size)}</th>
                    <th>{td_string!(locale, pages.uploads.status)}</th>
                    <th>{td_string!(locale, pages.uploads.uploaded)}</th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let c = cells(&r);
                    let status = r.status.as_str();
                    let id = r.id.clone();
                    // A large upload cut short (a reload, a closed tab) waits on S3 for its file.
                    let resumable = (r.status == UploadStatus::Pending && r.method == SigningMethod::Multipart)
                        .then(|| view! { <span class="hint">{format!(" {}", td_string!(locale, pages.uploads.resumable))}</span> });
                    view! {
                        <tr data-status=status data-id=id>
                            <td class="name">{r.file_name}</td>
                            <td>{c.size}</td>
                            <td>
                                <span class=format!("badge {status}")>{status_word(r.status, locale)}</span>{resumable}
                                {r.error.filter(|_| status != "completed").map(|e| view! { <span class="reason">{stored_reason(&e, locale)}</span> })}
                            </td>
                            <td><Moment ms=c.at/></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A moment, written in UTC by the server and shown in the reader's time zone by the page's small
/// script (see `app::LOCAL_TIMES`); without scripts it stays UTC, and says so.
#[component]
pub fn Moment(ms: i64) -> impl IntoView {
    view! { <time datetime=iso_minutes(ms)>{utc_minutes(ms)}</time> }
}

/// The words of a history row, the same on the server's page and in the row the dropzone adds:
/// in the language of the page (see [`crate::locale::current`]).
pub struct Cells {
    pub size: String,
    /// Unix milliseconds: confirmed, else created.
    pub at: i64,
}

pub fn cells(r: &UploadRow) -> Cells {
    Cells {
        size: human_size_in(r.confirmed_size.unwrap_or(r.declared_size).max(0) as u64, crate::locale::current()),
        at: r.confirmed_at.unwrap_or(r.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_the_server_wrote_are_worded_in_the_readers_language_and_others_kept() {
        assert_eq!(stored_reason("cancelled by the user", Locale::fr), "annulé par l’utilisateur");
        assert_eq!(stored_reason("cancelled by the user", Locale::en), "cancelled by the user");
        assert_eq!(
            stored_reason("cancelled by the user; the object is still in the bucket", Locale::fr),
            "annulé par l’utilisateur; the object is still in the bucket"
        );
        assert_eq!(stored_reason("the storage no longer has the upload", Locale::fr), "le stockage n’a plus cet envoi");
        assert_eq!(stored_reason("EntityTooLarge", Locale::fr), "EntityTooLarge");
    }
}
