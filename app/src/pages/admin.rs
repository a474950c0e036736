//! The admin upload history: filters in the URL (a plain GET form), keyset pages, totals, a chart.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::api::admin::{admin_history, admin_summary};
use crate::api::auth::form_urlencoded_component;
use crate::components::upload_list::Moment;
use crate::dates::{parse_day, utc_day};
use crate::model::{human_size, HistoryFilter, HistoryPage, HistorySort, HistorySummary, UploadStatus};

const STATUSES: [UploadStatus; 5] = [
    UploadStatus::Pending,
    UploadStatus::Completed,
    UploadStatus::Failed,
    UploadStatus::Expired,
    UploadStatus::Cancelled,
];

fn filter_from(q: &ParamsMap) -> HistoryFilter {
    let get = |k: &str| q.get(k).filter(|v| !v.trim().is_empty());
    HistoryFilter {
        user_email: get("user"),
        status: get("status").and_then(|s| UploadStatus::try_from(s).ok()),
        from: get("from").and_then(|d| parse_day(&d)),
        to: get("to").and_then(|d| parse_day(&d)).map(|t| t + 86_400_000),
        name: get("name"),
        sort: if get("sort").as_deref() == Some("size") { HistorySort::Size } else { HistorySort::Time },
        after: get("after").and_then(|a| cursor(&a)),
        before: get("before").and_then(|b| cursor(&b)),
    }
}

/// `<sort value>_<id>`, as the page links write it.
fn cursor(s: &str) -> Option<(i64, String)> {
    let (v, id) = s.split_once('_')?;
    Some((v.parse().ok()?, id.to_owned()))
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let query = use_query_map().get_untracked();
    let filter = filter_from(&query);
    let totals_filter = HistoryFilter { after: None, before: None, ..filter.clone() };
    // A range that ends before it starts is a mistake to point out, not an empty result.
    let backwards_range = matches!((filter.from, filter.to), (Some(f), Some(t)) if f >= t);
    let page_query = query.clone();
    let param = |k: &str| query.get(k).unwrap_or_default();
    view! {
        <h1>"Upload history"</h1>
        <form method="get" action="/admin" class="filters" data-testid="filters">
            <label>"User email"<input type="email" name="user" value=param("user")/></label>
            <label>"File name"<input type="search" name="name" value=param("name")/></label>
            <label>"Status"
                <select name="status">
                    <option value="">"any"</option>
                    {STATUSES.map(|s| view! { <option value=s.as_str() selected=param("status") == s.as_str()>{s.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <label>"From"<input type="date" name="from" value=param("from")/></label>
            <label>"To"<input type="date" name="to" value=param("to")/></label>
            <label>"Sort"
                <select name="sort">
                    <option value="time">"newest first"</option>
                    <option value="size" selected=param("sort") == "size">"largest first"</option>
                </select>
            </label>
            <button type="submit">"Filter"</button>
        </form>
        {backwards_range.then(|| view! {
            <p class="error" role="alert" data-testid="admin-error">"The From date is after the To date; please correct the range."</p>
        })}
        <Suspense fallback=|| view! { <p>"Counting…"</p> }>
            {Suspend::new(async move {
                if backwards_range { return None; }
                admin_summary(totals_filter).await.ok().map(summary_view)
            })}
        </Suspense>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {Suspend::new(async move {
                if backwards_range { return ().into_any(); }
                match admin_history(filter).await {
                    Err(e) => view! { <p class="error" data-testid="admin-error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.rows.is_empty() => view! {
                        <p class="notice" role="status" data-testid="no-results">"No uploads match these filters."</p>
                    }.into_any(),
                    Ok(p) => history(p, page_query).into_any(),
                }
            })}
        </Suspense>
    }
}

fn summary_view(s: HistorySummary) -> impl IntoView {
    let total: i64 = s.totals.iter().map(|t| t.count).sum();
    view! {
        <p class="total-count" role="status" data-testid="total-count">
            {if total == 1 { "1 upload matches.".to_owned() } else { format!("{total} uploads match.") }}
        </p>
        <section class="totals" data-testid="totals">
            {s.totals.into_iter().map(|t| view! {
                <div class="total"><span class=format!("badge {}", t.status)>{t.status.clone()}</span>
                    {format!(" {}, {}", uploads_word(t.count), human_size(t.bytes.max(0) as u64))}</div>
            }).collect_view()}
        </section>
        {chart(&s.per_day, s.today)}
    }
}

/// "1 upload", "2 uploads".
fn uploads_word(n: i64) -> String {
    if n == 1 {
        "1 upload".to_owned()
    } else {
        format!("{n} uploads")
    }
}

/// Days the chart covers, ending today.
const CHART_DAYS: i64 = 30;

/// Uploads per day over the last 30 days: bars drawn by the server as SVG, with dated axis
/// labels, and the same numbers as a table for screen readers.
fn chart(per_day: &[(i64, i64)], today: i64) -> impl IntoView {
    const DAY: i64 = 86_400_000;
    let (w, h, left, bottom, top) = (600i64, 180i64, 36i64, 24i64, 12i64);
    let days: Vec<(i64, i64)> = (0..CHART_DAYS)
        .map(|i| {
            let day = today - (CHART_DAYS - 1 - i) * DAY;
            (day, per_day.iter().find(|(d, _)| *d == day).map_or(0, |(_, n)| *n))
        })
        .collect();
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let total: i64 = days.iter().map(|(_, n)| n).sum();
    let slot = (w - left) / CHART_DAYS;
    let plot_h = h - bottom - top;
    let label_days = [0usize, 10, 20, 29];
    let short = |day: i64| utc_day(day)[5..].to_owned();
    let summary = format!(
        "{} from {} to {}; the busiest day had {max}.",
        uploads_word(total),
        utc_day(days[0].0),
        utc_day(days[CHART_DAYS as usize - 1].0)
    );
    view! {
        <figure class="chart" data-testid="chart">
            <figcaption id="chart-title">"Uploads per day, last 30 days (UTC)"</figcaption>
            <svg viewBox=format!("0 0 {w} {h}") role="img" aria-labelledby="chart-title chart-desc">
                <desc id="chart-desc">{summary}</desc>
                <line x1=left y1=top x2=left y2=h - bottom class="axis"/>
                <line x1=left y1=h - bottom x2=w y2=h - bottom class="axis"/>
                <text x=left - 4 y=top + 4 text-anchor="end" class="tick">{max}</text>
                <text x=left - 4 y=h - bottom text-anchor="end" class="tick">"0"</text>
                {days.iter().enumerate().map(|(i, (day, n))| {
                    let bar = n * plot_h / max;
                    let x = left + i as i64 * slot + 2;
                    view! {
                        <rect x=x y=h - bottom - bar width=slot - 4 height=bar class="bar">
                            <title>{format!("{}: {n}", utc_day(*day))}</title>
                        </rect>
                    }
                }).collect_view()}
                {label_days.iter().map(|i| view! {
                    <text x=left + *i as i64 * slot + slot / 2 y=h - 6 text-anchor="middle" class="tick">{short(days[*i].0)}</text>
                }).collect_view()}
            </svg>
            <table class="visually-hidden">
                <caption>"Uploads per day"</caption>
                <thead><tr><th scope="col">"Day"</th><th scope="col">"Uploads"</th></tr></thead>
                <tbody>
                    {days.iter().filter(|(_, n)| *n > 0).map(|(day, n)| view! { <tr><td>{utc_day(*day)}</td><td>{*n}</td></tr> }).collect_view()}
                </tbody>
            </table>
        </figure>
    }
}

fn history(p: HistoryPage, query: ParamsMap) -> impl IntoView {
    let link = |name: &str, (v, id): (i64, String)| {
        let mut params: Vec<String> = ["user", "name", "status", "from", "to", "sort"]
            .iter()
            .filter_map(|k| query.get(k).map(|v| format!("{k}={}", form_urlencoded_component(&v))))
            .collect();
        params.push(format!("{name}={v}_{id}"));
        format!("/admin?{}", params.join("&"))
    };
    let next = p.next.map(|c| link("after", c));
    let prev = p.prev.map(|c| link("before", c));
    view! {
        // Wide by nature: it scrolls inside its own box on a narrow screen, never the page.
        <div class="scroll-x" tabindex="0" role="region" aria-label="Upload history">
        <table class="uploads" data-testid="history">
            <thead><tr><th>"User"</th><th>"File"</th><th>"Size"</th><th>"Type"</th><th>"Status"</th><th>"Created"</th><th>"Confirmed"</th><th>"SHA-256"</th><th>"Download"</th></tr></thead>
            <tbody>
                {p.rows.into_iter().map(|r| {
                    let u = r.upload;
                    let status = u.status.as_str();
                    let download = (u.status == UploadStatus::Completed).then(|| view! {
                        // `external`: a server route (a redirect to S3), not a page of the client router.
                        <a href=format!("/admin/download/{}", u.id) rel="external nofollow">"Download"</a>
                    });
                    view! {
                        <tr data-status=status>
                            <td>{r.owner_email}</td>
                            <td class="name">{u.file_name}</td>
                            <td>{human_size(u.confirmed_size.unwrap_or(u.declared_size).max(0) as u64)}</td>
                            <td>{u.content_type}</td>
                            <td>
                                <span class=format!("badge {status}")>{status}</span>
                                {u.found_at.map(|_| view! { <span class="reason">" found in the bucket by the sweep"</span> })}
                                {u.error.filter(|_| status != "completed").map(|e| view! { <span class="reason" data-testid="reason">{e}</span> })}
                            </td>
                            <td><Moment ms=u.created_at/></td>
                            <td>{u.confirmed_at.map(|ms| view! { <Moment ms=ms/> })}</td>
                            // S3's checksum of the stored bytes: the file's own, or for a multipart
                            // upload the composite `<digest of part digests>-<parts>`.
                            <td class="checksum" data-testid="checksum">{u.checksum_sha256.filter(|_| status == "completed")}</td>
                            <td>{download}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
        <nav class="pages" aria-label="Pages">
            {prev.map(|href| view! { <a href=href rel="prev" data-testid="prev-page">"Previous page"</a> })}
            {next.map(|href| view! { <a class="next" href=href rel="next" data-testid="next-page">"Next page"</a> })}
        </nav>
    }
}
