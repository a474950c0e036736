use leptos::prelude::*;

use crate::dates::utc_minutes;
use crate::model::{human_size, SigningMethod, UploadRow, UploadStatus};

/// The signed-in user's uploads, newest first. Names are text nodes: always escaped.
#[component]
pub fn UploadList(rows: Vec<UploadRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="notice" data-testid="no-uploads">"No uploads yet."</p> }.into_any();
    }
    view! {
        <table class="uploads" data-testid="upload-list">
            <thead><tr><th>"File"</th><th>"Size"</th><th>"Status"</th><th>"Uploaded"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let size = human_size(r.confirmed_size.unwrap_or(r.declared_size).max(0) as u64);
                    let when = utc_minutes(r.confirmed_at.unwrap_or(r.created_at));
                    let status = r.status.as_str();
                    // A large upload cut short (a reload, a closed tab) waits on S3 for its file.
                    let resumable = (r.status == UploadStatus::Pending && r.method == SigningMethod::Multipart)
                        .then(|| view! { <span class="hint">" unfinished: choose the same file again to resume"</span> });
                    view! {
                        <tr data-status=status>
                            <td class="name">{r.file_name}</td>
                            <td>{size}</td>
                            <td><span class=format!("badge {status}") title=r.error.unwrap_or_default()>{status}</span>{resumable}</td>
                            <td>{when}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }.into_any()
}
