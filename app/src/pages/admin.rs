//! The admin upload history: filters in the URL (a plain GET form), keyset pages, totals, a chart.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::api::admin::{admin_history, admin_summary};
use crate::api::auth::form_urlencoded_component;
use crate::components::upload_list::{status_word, Moment};
use crate::dates::{parse_day, utc_day};
use crate::i18n::{td_string, Locale};
use crate::model::{human_size_in, HistoryFilter, HistoryPage, HistorySort, HistorySummary, UploadStatus};

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
    let locale = crate::locale::current();
    let query = use_query_map().get_untracked();
    let filter = filter_from(&query);
    let totals_filter = HistoryFilter { after: None, before: None, ..filter.clone() };
    // A range that ends before it starts is a mistake to point out, not an empty result.
    let backwards_range = matches!((filter.from, filter.to), (Some(f), Some(t)) if f >= t);
    let page_query = query.clone();
    let param = |k: &str| query.get(k).unwrap_or_default();
    view! {
        <h1>{td_string!(locale, pages.admin.title)}</h1>
        <form method="get" action="/admin" class="filters" data-testid="filters">
            <label>{td_string!(locale, pages.admin.user_email)}<input type="email" name="user" value=param("user")/></label>
            <label>{td_string!(locale, pages.admin.file_name)}<input type="search" name="name" value=param("name")/></label>
            <label>{td_string!(locale, pages.admin.status)}
                <select name="status">
                    <option value="">{td_string!(locale, pages.admin.any_status)}</option>
                    {STATUSES.map(|s| view! {
                        <option value=s.as_str() selected=param("status") == s.as_str()>{status_word(s, locale)}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>{td_string!(locale, pages.admin.from)}<input type="date" name="from" value=param("from")/></label>
            <label>{td_string!(locale, pages.admin.to)}<input type="date" name="to" value=param("to")/></label>
            <label>{td_string!(locale, pages.admin.sort)}
                <select name="sort">
                    <option value="time">{td_string!(locale, pages.admin.newest_first)}</option>
                    <option value="size" selected=param("sort") == "size">{td_string!(locale, pages.admin.largest_first)}</option>
                </select>
            </label>
            <button type="submit">{td_string!(locale, pages.admin.filter)}</button>
        </form>
        {backwards_range.then(|| view! {
            <p class="error" role="alert" data-testid="admin-error">{td_string!(locale, pages.admin.backwards_range)}</p>
        })}
        <Suspense fallback=move || view! { <p>{td_string!(locale, pages.admin.counting)}</p> }>
            {Suspend::new(async move {
                if backwards_range { return None; }
                admin_summary(totals_filter).await.ok().map(|s| summary_view(s, locale))
            })}
        </Suspense>
        <Suspense fallback=move || view! { <p>{td_string!(locale, pages.admin.loading)}</p> }>
            {Suspend::new(async move {
                if backwards_range { return ().into_any(); }
                match admin_history(filter).await {
                    Err(e) => view! { <p class="error" data-testid="admin-error">{e.words(locale)}</p> }.into_any(),
                    Ok(p) if p.rows.is_empty() => view! {
                        <p class="notice" role="status" data-testid="no-results">{td_string!(locale, pages.admin.no_results)}</p>
                    }.into_any(),
                    Ok(p) => history(p, page_query, locale).into_any(),
                }
            })}
        </Suspense>
    }
}

fn summary_view(s: HistorySummary, locale: Locale) -> impl IntoView {
    let total: i64 = s.totals.iter().map(|t| t.count).sum();
    view! {
        <p class="total-count" role="status" data-testid="total-count">
            {td_string!(locale, pages.admin.matches, count = total)}
        </p>
        <section class="totals" data-testid="totals">
            {s.totals.into_iter().map(|t| {
                // The class keeps the machine word; the badge says it in `locale`.
                let word = UploadStatus::try_from(t.status.clone()).map_or_else(|_| t.status.clone(), |s| status_word(s, locale).to_owned());
                view! {
                    <div class="total"><span class=format!("badge {}", t.status)>{word}</span>
                        {format!(" {}, {}", uploads_word(t.count, locale), human_size_in(t.bytes.max(0) as u64, locale))}</div>
                }
            }).collect_view()}
        </section>
        {chart(&s.per_day, s.today, locale)}
    }
}

/// "1 upload", "2 uploads"; in French "0 envoi", "1 envoi", "2 envois".
fn uploads_word(n: i64, locale: Locale) -> String {
    td_string!(locale, common.uploads, count = n)
}

/// Days the chart covers, ending today.
const CHART_DAYS: i64 = 30;

/// Uploads per day over the last 30 days: bars drawn by the server as SVG, with dated axis
/// labels, and the same numbers as a table for screen readers.
fn chart(per_day: &[(i64, i64)], today: i64, locale: Locale) -> impl IntoView {
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
    let summary = td_string!(
        locale,
        pages.admin.chart_summary,
        uploads = uploads_word(total, locale),
        from = utc_day(days[0].0),
        to = utc_day(days[CHART_DAYS as usize - 1].0),
        max = max
    );
    view! {
        <figure class="chart" data-testid="chart">
            <figcaption id="chart-title">{td_string!(locale, pages.admin.chart_title)}</figcaption>
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
                            <title>{td_string!(locale, pages.admin.chart_bar, day = utc_day(*day), uploads = *n)}</title>
                        </rect>
                    }
                }).collect_view()}
                {label_days.iter().map(|i| view! {
                    <text x=left + *i as i64 * slot + slot / 2 y=h - 6 text-anchor="middle" class="tick">{short(days[*i].0)}</text>
                }).collect_view()}
            </svg>
            <table class="visually-hidden">
                <caption>{td_string!(locale, pages.admin.chart_table)}</caption>
                <thead>
                    <tr>
                        <th scope="col">{td_string!(locale, pages.admin.chart_day)}</th>
                        <th scope="col">{td_string!(locale, pages.admin.chart_uploads)}</th>
                    </tr>
                </thead>
                <tbody>
                    {days.iter().filter(|(_, n)| *n > 0).map(|(day, n)| view! { <tr><td>{utc_day(*day)}</td><td>{*n}</td></tr> }).collect_view()}
                </tbody>
            </table>
        </figure>
    }
}

fn history(p: HistoryPage, query: ParamsMap, locale: Locale) -> impl IntoView {
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
        <div class="scroll-x" tabindex="0" role="region" aria-label=td_string!(locale, pages.admin.title)>
        <table class="uploads" data-testid="history">
            <thead>
                <tr>
                    <th>{td_string!(locale, pages.admin.user)}</th>
                    <th>{td_string!(locale, pages.admin.file)}</th>
                    <th>{td_string!(locale, pages.admin.size)}</th>
                    <th>{td_string!(locale, pages.admin.content_type)}</th>
                    <th>{td_string!(locale, pages.admin.status)}</th>
                    <th>{td_string!(locale, pages.admin.created)}</th>
                    <th>{td_string!(locale, pages.admin.confirmed)}</th>
                    <th>{td_string!(locale, pages.admin.checksum)}</th>
                    <th>{td_string!(locale, pages.admin.download_column)}</th>
                </tr>
            </thead>
            <tbody>
                {p.rows.into_iter().map(|r| {
                    let u = r.upload;
                    let status = u.status.as_str();
                    let download = (u.status == UploadStatus::Completed).then(|| view! {
                        // `external`: a server route (a redirect to S3), not a page of the client router.
                        <a href=format!("/admin/download/{}", u.id) rel="external nofollow">{td_string!(locale, pages.admin.download)}</a>
                    });
                    view! {
                        <tr data-status=status>
                            <td>{r.owner_email}</td>
                            <td class="name">{u.file_name}</td>
                            <td>{human_size_in(u.confirmed_size.unwrap_or(u.declared_size).max(0) as u64, locale)}</td>
                            <td>{u.content_type}</td>
                            <td>
                                <span class=format!("badge {status}")>{status_word(u.status, locale)}</span>
                                {u.found_at.map(|_| view! {
                                    <span class="reason">{format!(" {}", td_string!(locale, pages.admin.found_by_sweep))}</span>
                                })}
                                {u.error.filter(|_| status != "completed").map(|e| view! { <span class="reason" data-testid="reason">{crate::components::upload_list::stored_reason(&e, locale)}</span> })}
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
        <nav class="pages" aria-label=td_string!(locale, pages.admin.pages)>
            {prev.map(|href| view! { <a href=href rel="prev" data-testid="prev-page">{td_string!(locale, pages.admin.previous_page)}</a> })}
            {next.map(|href| view! { <a class="next" href=href rel="next" data-testid="next-page">{td_string!(locale, pages.admin.next_page)}</a> })}
        </nav>
    }
}
