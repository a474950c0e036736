use leptos::prelude::*;

use crate::model::{human_size, SigningMethod, UploadRow, UploadStatus};

/// Unix milliseconds as `2026-11-21 14:03 UTC` (the same on server and browser, so hydration agrees).
pub fn utc_minutes(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let mins = ms.rem_euclid(86_400_000) / 60_000;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", mins / 60, mins % 60)
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn times_render_in_utc() {
        assert_eq!(super::utc_minutes(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc_minutes(1_795_190_400_000 + 75 * 60_000), "2026-11-20 17:15 UTC");
        assert_eq!(super::utc_minutes(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
