use leptos::prelude::*;

use crate::dates::{iso_minutes, utc_minutes};
use crate::model::{human_size, SigningMethod, UploadRow, UploadStatus};

/// The signed-in user's uploads, newest first. Names are text nodes: always escaped. The table is
/// always there (hidden while empty): the dropzone adds each file it finishes to its top.
#[component]
pub fn UploadList(rows: Vec<UploadRow>) -> impl IntoView {
    let empty = rows.is_empty();
    view! {
        <p class="notice" data-testid="no-uploads" id="no-uploads" hidden=!empty>"No uploads yet."</p>
        <table class="uploads cards" data-testid="upload-list" id="history" hidden=empty>
            <thead><tr><th>"File"</th><th>"Size"</th><th>"Status"</th><th>"Uploaded"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let c = cells(&r);
                    let status = r.status.as_str();
                    let id = r.id.clone();
                    // A large upload cut short (a reload, a closed tab) waits on S3 for its file.
                    let resumable = (r.status == UploadStatus::Pending && r.method == SigningMethod::Multipart)
                        .then(|| view! { <span class="hint">" unfinished: choose the same file again to resume"</span> });
                    view! {
                        <tr data-status=status data-id=id>
                            <td class="name">{r.file_name}</td>
                            <td>{c.size}</td>
                            <td>
                                <span class=format!("badge {status}")>{status}</span>{resumable}
                                {r.error.filter(|_| status != "completed").map(|e| view! { <span class="reason">{e}</span> })}
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

/// The words of a history row, the same on the server's page and in the row the dropzone adds.
pub struct Cells {
    pub size: String,
    /// Unix milliseconds: confirmed, else created.
    pub at: i64,
}

pub fn cells(r: &UploadRow) -> Cells {
    Cells {
        size: human_size(r.confirmed_size.unwrap_or(r.declared_size).max(0) as u64),
        at: r.confirmed_at.unwrap_or(r.created_at),
    }
}
