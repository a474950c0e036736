//! The data-access module against both engines, each test on a fresh database.

use app::model::{Role, SigningMethod, UploadStatus};
use app::server::db::{self, uploads, users};

use crate::helpers::*;

async fn pool(engine: Engine) -> db::Pool {
    db::connect(&fresh_database(engine).await).await.expect("connects and migrates")
}

fn new_upload<'a>(owner: &'a str, key: &'a str) -> uploads::NewUpload<'a> {
    uploads::NewUpload {
        owner_id: owner,
        object_key: key,
        file_name: "ünïcode report.pdf",
        content_type: "application/pdf",
        declared_size: 1234,
        checksum_sha256: None,
        method: SigningMethod::Post,
        expires_at: db::now_millis() + 60_000,
        multipart: None,
    }
}

on_both_engines! {
    async fn migrations_apply_twice_without_error(engine) {
        let url = fresh_database(engine).await;
        db::connect(&url).await.unwrap();
        db::connect(&url).await.unwrap_or_else(|e| panic!("{engine:?}: {e}"));
    }
}

on_both_engines! {
    async fn users_are_found_by_email_case_insensitively_and_emails_are_unique(engine) {
        let pool = pool(engine).await;
        let u = users::create(&pool, &email("Ada@Example.com"), Role::Admin, "hash").await.unwrap();
        let found = users::by_email(&pool, &email("ada@example.COM")).await.unwrap().unwrap();
        assert_eq!(found, u, "{engine:?}");
        assert_eq!(users::by_id(&pool, &u.id).await.unwrap().unwrap().role, Role::Admin);
        assert!(
            matches!(
                users::create(&pool, &email("ada@example.com"), Role::User, "h").await,
                Err(users::CreateError::EmailTaken)
            ),
            "{engine:?}: duplicate email"
        );
        let unknown_role = sqlx::query(
            "INSERT INTO users (id, email, role, password_hash, created_at) VALUES ('x', 'bob@example.com', 'root', 'h', 0)",
        )
        .execute(&pool)
        .await;
        assert!(unknown_role.is_err(), "{engine:?}: unknown role");
        pool.close().await;
        assert!(
            matches!(
                users::create(&pool, &email("cy@example.com"), Role::User, "h").await,
                Err(users::CreateError::Db(_))
            ),
            "{engine:?}: a database that fails is not an email taken"
        );
    }
}

on_both_engines! {
    async fn an_upload_is_recorded_pending_with_what_the_user_declared(engine) {
        let pool = pool(engine).await;
        let u = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        let row = uploads::insert_pending(&pool, "up-1", &new_upload(&u.id, "uploads/a/1/r.pdf")).await.unwrap();
        assert_eq!(row.status, UploadStatus::Pending);
        assert_eq!(row.method, SigningMethod::Post);
        assert_eq!(row.file_name, "ünïcode report.pdf");
        assert_eq!(row.declared_size, 1234);
        assert_eq!(row.confirmed_size, None);
        assert_eq!(uploads::by_key(&pool, "uploads/a/1/r.pdf").await.unwrap(), Some(row), "{engine:?}");
    }
}

on_both_engines! {
    async fn an_upload_for_an_unknown_user_or_a_taken_key_is_refused(engine) {
        let pool = pool(engine).await;
        assert!(uploads::insert_pending(&pool, "x", &new_upload("nobody", "k1")).await.is_err(), "{engine:?}");
        let u = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        uploads::insert_pending(&pool, "a", &new_upload(&u.id, "k2")).await.unwrap();
        assert!(uploads::insert_pending(&pool, "b", &new_upload(&u.id, "k2")).await.is_err(), "{engine:?}");
    }
}

on_both_engines! {
    async fn completing_moves_a_pending_upload_once_and_only_once(engine) {
        let pool = pool(engine).await;
        let u = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        uploads::insert_pending(&pool, "up", &new_upload(&u.id, "k")).await.unwrap();
        // Several confirmers race: exactly one wins.
        let racers = (0..8).map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { uploads::mark_completed(&pool, "up", 1234 + i, "\"etag\"", None).await.unwrap() })
        });
        let wins = futures_count(racers).await;
        assert_eq!(wins, 1, "{engine:?}");
        let row = uploads::get(&pool, "up").await.unwrap().unwrap();
        assert_eq!(row.status, UploadStatus::Completed);
        assert!(row.confirmed_at.is_some());
        assert_eq!(row.etag.as_deref(), Some("\"etag\""));
        // A completed upload cannot be cancelled or expired afterwards.
        assert!(!uploads::mark_ended(&pool, "up", UploadStatus::Cancelled, None).await.unwrap());
        assert_eq!(uploads::get(&pool, "up").await.unwrap().unwrap().status, UploadStatus::Completed);
    }
}

async fn futures_count(handles: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let mut n = 0;
    for h in handles.collect::<Vec<_>>() {
        n += h.await.unwrap() as usize;
    }
    n
}

on_both_engines! {
    async fn an_ended_upload_keeps_its_reason(engine) {
        let pool = pool(engine).await;
        let u = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        uploads::insert_pending(&pool, "up", &new_upload(&u.id, "k")).await.unwrap();
        assert!(uploads::mark_ended(&pool, "up", UploadStatus::Failed, Some("EntityTooLarge")).await.unwrap());
        let row = uploads::get(&pool, "up").await.unwrap().unwrap();
        assert_eq!((row.status, row.error.as_deref()), (UploadStatus::Failed, Some("EntityTooLarge")), "{engine:?}");
        assert!(!uploads::mark_completed(&pool, "up", 1, "e", None).await.unwrap());
    }
}

on_both_engines! {
    async fn a_users_list_pages_newest_first_without_gaps_or_repeats(engine) {
        let pool = pool(engine).await;
        let a = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        let b = users::create(&pool, &email("b@x.io"), Role::User, "h").await.unwrap();
        for i in 0..25 {
            uploads::insert_pending(&pool, &format!("a{i:02}"), &new_upload(&a.id, &format!("ka{i}"))).await.unwrap();
            uploads::insert_pending(&pool, &format!("b{i:02}"), &new_upload(&b.id, &format!("kb{i}"))).await.unwrap();
        }
        let mut seen = vec![];
        let mut cursor: Option<(i64, String)> = None;
        loop {
            let page = uploads::list_for_owner(&pool, &a.id, cursor.as_ref().map(|(t, id)| (*t, id.as_str())), 10)
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 10);
            let last = page.last().unwrap();
            cursor = Some((last.created_at, last.id.clone()));
            seen.extend(page);
        }
        assert_eq!(seen.len(), 25, "{engine:?}");
        assert!(seen.iter().all(|r| r.owner_id == a.id));
        assert!(
            seen.windows(2).all(|w| (w[0].created_at, &w[0].id) > (w[1].created_at, &w[1].id)),
            "{engine:?}: order"
        );
    }
}

on_both_engines! {
    async fn pending_uploads_past_their_expiry_are_listed_for_the_reconciler(engine) {
        let pool = pool(engine).await;
        let u = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        let mut old = new_upload(&u.id, "old");
        old.expires_at = db::now_millis() - 1_000;
        uploads::insert_pending(&pool, "old", &old).await.unwrap();
        uploads::insert_pending(&pool, "fresh", &new_upload(&u.id, "fresh")).await.unwrap();
        let mut done = new_upload(&u.id, "done");
        done.expires_at = db::now_millis() - 1_000;
        uploads::insert_pending(&pool, "done", &done).await.unwrap();
        uploads::mark_completed(&pool, "done", 1, "e", None).await.unwrap();
        let due = uploads::pending_expired_before(&pool, db::now_millis(), 100).await.unwrap();
        assert_eq!(due.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["old"], "{engine:?}");
    }
}

/// Rows spread over days, owners and statuses, written the ways the app writes them and by hand.
async fn varied_history(pool: &db::Pool) -> Vec<String> {
    let mut owners = vec![];
    for e in ["ann@x.io", "bob@x.io", "cy@x.io"] {
        owners.push(users::create(pool, &email(e), Role::User, "h").await.unwrap().id);
    }
    let today = db::now_millis() / db::counts::DAY_MS * db::counts::DAY_MS;
    for i in 0..120i64 {
        let owner = &owners[(i % 3) as usize];
        uploads::insert_pending(pool, &format!("up{i}"), &new_upload(owner, &format!("k{i}"))).await.unwrap();
        // Spread over 40 days (some before the chart's 30), at any time of day.
        let created = today - (i % 40) * db::counts::DAY_MS + (i * 7_919_000) % db::counts::DAY_MS;
        sqlx::query("UPDATE uploads SET created_at = $1, declared_size = $2 WHERE id = $3")
            .bind(created)
            .bind(1000 + i * 37)
            .bind(format!("up{i}"))
            .execute(pool)
            .await
            .unwrap();
        match i % 5 {
            0 | 1 => assert!(uploads::mark_completed(pool, &format!("up{i}"), 999 + i, "\"e\"", None).await.unwrap()),
            2 => assert!(uploads::mark_ended(pool, &format!("up{i}"), UploadStatus::Failed, Some("x")).await.unwrap()),
            3 if i % 2 == 0 => {
                assert!(uploads::mark_ended(pool, &format!("up{i}"), UploadStatus::Cancelled, None).await.unwrap())
            }
            _ => {}
        }
    }
    for i in (0..120).step_by(11) {
        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(format!("up{i}")).execute(pool).await.unwrap();
    }
    owners
}

on_both_engines! {
    async fn the_upload_counts_follow_every_change_and_answer_as_the_rows_do(engine) {
        use app::model::HistoryFilter;
        use app::server::db::{counts, history};
        let pool = pool(engine).await;
        varied_history(&pool).await;
        assert_eq!(counts::check(&pool).await.unwrap(), vec![], "{engine:?}");

        let now = db::now_millis();
        let day = counts::DAY_MS;
        let today = now / day * day;
        let filters = [
            HistoryFilter::default(),
            HistoryFilter { status: Some(UploadStatus::Completed), ..Default::default() },
            HistoryFilter { user_email: Some("BOB@x.io".into()), ..Default::default() },
            HistoryFilter { user_email: Some("cy@x.io".into()), status: Some(UploadStatus::Failed), ..Default::default() },
            HistoryFilter { from: Some(today - 10 * day), to: Some(today - 2 * day), ..Default::default() },
            HistoryFilter { from: Some(today - 35 * day), ..Default::default() },
            HistoryFilter { user_email: Some("nobody@x.io".into()), ..Default::default() },
        ];
        for f in &filters {
            let fast = counts::summary(&pool, f, now).await.unwrap().expect("the counts answer this filter");
            let scanned = history::summary_from_rows(&pool, f, now).await.unwrap();
            assert_eq!(fast, scanned, "{engine:?}: {f:?}");
        }
        // What the counts cannot answer goes to the rows.
        for f in [
            HistoryFilter { name: Some("report".into()), ..Default::default() },
            HistoryFilter { user_email: Some("bo".into()), ..Default::default() },
            HistoryFilter { from: Some(now - 3_600_000), ..Default::default() },
        ] {
            assert!(counts::summary(&pool, &f, now).await.unwrap().is_none(), "{f:?}");
            assert_eq!(history::summary(&pool, &f, now).await.unwrap(), history::summary_from_rows(&pool, &f, now).await.unwrap());
        }
    }
}

on_both_engines! {
    async fn the_check_finds_counts_that_drifted_and_a_rebuild_puts_them_right(engine) {
        use app::server::db::counts;
        let pool = pool(engine).await;
        varied_history(&pool).await;
        sqlx::query("UPDATE upload_day_counts SET uploads = uploads + 5 WHERE status = 'completed'")
            .execute(&pool)
            .await
            .unwrap();
        let drift = counts::check(&pool).await.unwrap();
        assert!(!drift.is_empty() && drift.iter().all(|m| m.status == "completed" && m.counted.0 == m.actual.0 + 5), "{engine:?}: {drift:?}");
        counts::rebuild(&pool).await.unwrap();
        assert_eq!(counts::check(&pool).await.unwrap(), vec![], "{engine:?}");
    }
}

on_both_engines! {
    async fn uploads_already_there_are_counted_when_the_counts_first_appear(engine) {
        use app::server::db::counts;
        let url = fresh_database(engine).await;
        let pool = db::connect(&url).await.unwrap();
        varied_history(&pool).await;
        // As a database from before the counts: drop them, then start a server on it.
        for sql in ["DROP TABLE upload_day_counts", "DROP TABLE upload_owner_counts"] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let pool = db::connect(&url).await.unwrap();
        assert_eq!(counts::check(&pool).await.unwrap(), vec![], "{engine:?}");
        let (n,): (i64,) = sqlx::query_as("SELECT CAST(SUM(uploads) AS BIGINT) FROM upload_day_counts").fetch_one(&pool).await.unwrap();
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads").fetch_one(&pool).await.unwrap();
        assert_eq!(n, rows);
    }
}

const SUM: &str = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";

fn pending_row(id: &str, owner: &str) -> db::tickets::PendingRow {
    db::tickets::PendingRow {
        id: id.into(),
        owner_id: owner.into(),
        object_key: format!("uploads/{owner}/{id}/f.txt"),
        file_name: "f.txt".into(),
        content_type: "text/plain".into(),
        declared_size: 3,
        checksum_sha256: Some(SUM.into()),
        method: SigningMethod::Post,
        expires_at: db::now_millis() + 60_000,
    }
}

on_both_engines! {
    /// Tickets sent at once are written together: each owner's allowance is counted exactly, in the
    /// order they were sent, a row the database refuses fails alone, and a refused ticket leaves
    /// nothing behind.
    async fn the_ticket_writer_records_many_at_once_with_exact_allowances(engine) {
        use db::tickets::Admitted;
        let pool = pool(engine).await;
        let a = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        let b = users::create(&pool, &email("b@x.io"), Role::User, "h").await.unwrap();
        uploads::insert_pending(&pool, "taken", &new_upload(&b.id, "elsewhere")).await.unwrap();
        let writer = db::tickets::writer(pool.clone(), 3);
        let before = db::now_millis();
        let mut rows: Vec<_> = (0..5).map(|i| pending_row(&format!("a{i}"), &a.id)).collect();
        rows.push(pending_row("b0", &b.id));
        rows.push(pending_row("taken", &b.id)); // the id is taken: the database refuses this one
        rows.push(pending_row("n0", "no-such-user"));
        let answers = futures::future::join_all(rows.into_iter().map(|r| writer.ask(r))).await;
        let after = db::now_millis();
        let got: Vec<String> = answers.iter().map(|a| match a {
            Ok(Admitted::Recorded) => "recorded".into(),
            Ok(Admitted::OverAllowance) => "over".into(),
            Err(e) => if e.is_unique_violation() { "taken".into() } else { format!("{e}") },
        }).collect();
        assert_eq!(got, ["recorded", "recorded", "recorded", "over", "over", "recorded", "taken", "over"], "{engine:?}");
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM uploads WHERE status = 'pending' ORDER BY id")
            .fetch_all(&pool).await.unwrap();
        let ids: Vec<&str> = ids.iter().map(|(i,)| i.as_str()).collect();
        assert_eq!(ids, ["a0", "a1", "a2", "b0", "taken"], "{engine:?}: only the admitted rows, and the older 'taken'");
        let row = uploads::get(&pool, "a1").await.unwrap().unwrap();
        assert_eq!((row.owner_id.as_str(), row.object_key.as_str(), row.declared_size), (a.id.as_str(), format!("uploads/{}/a1/f.txt", a.id).as_str(), 3));
        assert_eq!((row.method, row.checksum_sha256.as_deref()), (SigningMethod::Post, Some(SUM)), "{engine:?}");
        assert!((before..=after).contains(&row.created_at), "{engine:?}");
        let window = |id: String| {
            let pool = pool.clone();
            async move {
                sqlx::query_as::<_, (i64, i64)>("SELECT ticket_window_start, ticket_window_count FROM users WHERE id = $1")
                    .bind(id).fetch_one(&pool).await.unwrap()
            }
        };
        let (start, count) = window(a.id.clone()).await;
        assert!((before..=after).contains(&start) && count == 3, "{engine:?}: {start} {count}");
        // The refused row's ticket was not counted: its transaction was rolled back.
        assert_eq!(window(b.id.clone()).await.1, 1, "{engine:?}");
        // Still within the minute: nothing more for a; once it is over, a new window opens.
        assert_eq!(writer.ask(pending_row("a8", &a.id)).await.unwrap(), Admitted::OverAllowance);
        sqlx::query("UPDATE users SET ticket_window_start = ticket_window_start - 60000 WHERE id = $1")
            .bind(&a.id).execute(&pool).await.unwrap();
        assert_eq!(writer.ask(pending_row("a9", &a.id)).await.unwrap(), Admitted::Recorded);
        let (start, count) = window(a.id.clone()).await;
        assert!(start >= after && count == 1, "{engine:?}: {start} {count}");
    }
}

on_both_engines! {
    /// Session cookies looked up at once are answered in one query, each with its own user or
    /// none: expired, revoked and unknown sessions find nobody, and a revocation is seen by the
    /// very next lookup (the reader keeps nothing between calls).
    async fn session_lookups_sent_at_once_are_answered_each_in_order(engine) {
        use db::sessions;
        let pool = pool(engine).await;
        let a = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        let b = users::create(&pool, &email("b@x.io"), Role::Admin, "h").await.unwrap();
        let later = db::now_millis() + 60_000;
        sessions::create(&pool, "live-a", &a.id, later).await.unwrap();
        sessions::create(&pool, "live-b", &b.id, later).await.unwrap();
        sessions::create(&pool, "expired", &a.id, db::now_millis() - 1).await.unwrap();
        sessions::create(&pool, "revoked", &b.id, later).await.unwrap();
        sessions::revoke(&pool, "revoked").await.unwrap();
        let reader = sessions::reader(pool.clone());
        let asked = ["live-a", "expired", "live-b", "unknown", "revoked", "live-a"];
        let answers = reader.ask_many(asked.iter().map(|h| h.to_string())).await;
        let got: Vec<Option<String>> = answers.into_iter().map(|a| a.unwrap().map(|u| u.email.to_string())).collect();
        let a_mail = Some("a@x.io".to_string());
        assert_eq!(got, [a_mail.clone(), None, Some("b@x.io".into()), None, None, a_mail], "{engine:?}");
        assert_eq!(reader.ask("live-b".into()).await.unwrap().map(|u| u.role), Some(Role::Admin), "{engine:?}");
        sessions::revoke(&pool, "live-b").await.unwrap();
        assert_eq!(reader.ask("live-b".into()).await.unwrap(), None, "{engine:?}: revoked a moment ago");
    }
}

/// Upload ids grow in the order they are made, so rows recorded together share index pages.
#[test]
fn upload_ids_are_made_in_increasing_order() {
    let ids: Vec<String> = (0..2_000).map(|_| uploads::new_id()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "every id after the one before it, none twice");
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 7)));
}

on_both_engines! {
    /// The key's uniqueness moved from the column's UNIQUE to an index in upload order
    /// (`db::object_keys`): lookups by key go through it, and a key still cannot be taken twice.
    async fn object_keys_are_unique_and_found_through_the_index_in_upload_order(engine) {
        let pool = pool(engine).await;
        let u = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap();
        let keys: Vec<String> =
            (0..3).map(|_| format!("uploads/{}/{}/r.pdf", u.id, uploads::new_id())).collect();
        for key in &keys[..2] {
            uploads::insert_pending(&pool, &uploads::new_id(), &new_upload(&u.id, key)).await.unwrap();
        }
        let taken = uploads::insert_pending(&pool, &uploads::new_id(), &new_upload(&u.id, &keys[0])).await;
        assert!(taken.is_err_and(|e| e.is_unique_violation()), "{engine:?}: a key taken twice");
        assert_eq!(uploads::by_key(&pool, &keys[1]).await.unwrap().map(|r| r.object_key), Some(keys[1].clone()));
        assert_eq!(uploads::by_key(&pool, &keys[2]).await.unwrap(), None, "{engine:?}");
        let mut known = uploads::known_keys(&pool, &keys).await.unwrap();
        known.sort();
        let mut expected = keys[..2].to_vec();
        expected.sort();
        assert_eq!(known, expected, "{engine:?}");

        let mut conn = pool.acquire().await.unwrap();
        let plan: Vec<String> = match engine {
            Engine::Sqlite => {
                let (table,): (String,) =
                    sqlx::query_as("SELECT sql FROM sqlite_master WHERE name = 'uploads'").fetch_one(&mut *conn).await.unwrap();
                assert!(!table.contains("UNIQUE"), "the column keeps no UNIQUE of its own: {table}");
                sqlx::query_as::<_, (i64, i64, i64, String)>(
                    "EXPLAIN QUERY PLAN SELECT id FROM uploads WHERE (substr(object_key, 46, 36), object_key) = (substr($1, 46, 36), $1)",
                )
                .bind(&keys[0])
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.3)
                .collect()
            }
            Engine::Postgres => {
                let (constraints,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM pg_constraint WHERE conname = 'uploads_object_key_key'")
                        .fetch_one(&mut *conn)
                        .await
                        .unwrap();
                assert_eq!(constraints, 0);
                sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
                sqlx::query_as::<_, (String,)>(
                    "EXPLAIN SELECT id FROM uploads WHERE (substr(object_key, 46, 36), object_key) = (substr($1, 46, 36), $1)",
                )
                .bind(&keys[0])
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.0)
                .collect()
            }
        };
        assert!(plan.iter().any(|l| l.contains("uploads_object_key")), "{engine:?}: {plan:?}");
    }
}

/// A SQLite database from before the index: the table is rebuilt once at the next start, with
/// every row under its rowid, so the name search (FTS5, by rowid) and the counts stay right.
#[tokio::test]
async fn a_sqlite_table_with_the_old_unique_key_is_rebuilt_keeping_its_rows_names_and_counts() {
    use app::model::HistoryFilter;
    use app::server::db::{counts, history};
    let url = fresh_database(Engine::Sqlite).await;
    let pool = db::connect(&url).await.unwrap();
    varied_history(&pool).await;
    sqlx::query("UPDATE uploads SET file_name = 'quarterly zebra.pdf' WHERE id = 'up57'").execute(&pool).await.unwrap();
    let before: Vec<(i64, String)> =
        sqlx::query_as("SELECT rowid, id FROM uploads ORDER BY rowid").fetch_all(&pool).await.unwrap();
    // Back to the migrations' table: the key UNIQUE, the index in upload order gone.
    let (table,): (String,) =
        sqlx::query_as("SELECT sql FROM sqlite_master WHERE name = 'uploads'").fetch_one(&pool).await.unwrap();
    let (_, columns_sql) = table.split_once('(').unwrap();
    let old = format!("CREATE TABLE uploads_old ({columns_sql}").replacen(
        "object_key      TEXT NOT NULL,",
        "object_key      TEXT NOT NULL UNIQUE,",
        1,
    );
    let mut tx = pool.begin().await.unwrap();
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'uploads' AND name <> 'uploads_object_key' AND sql IS NOT NULL",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let (columns,): (String,) = sqlx::query_as("SELECT group_concat(name, ', ') FROM pragma_table_info('uploads')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    for sql in [
        old,
        format!("INSERT INTO uploads_old (rowid, {columns}) SELECT rowid, {columns} FROM uploads"),
        "DROP TABLE uploads".into(),
        "ALTER TABLE uploads_old RENAME TO uploads".into(),
    ]
    .into_iter()
    .chain(indexes.into_iter().map(|(s,)| s))
    {
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;

    let pool = db::connect(&url).await.unwrap();
    let after: Vec<(i64, String)> =
        sqlx::query_as("SELECT rowid, id FROM uploads ORDER BY rowid").fetch_all(&pool).await.unwrap();
    // varied_history deleted rows: a rebuild that numbered rows afresh would close the gaps.
    assert!(before.windows(2).any(|w| w[1].0 != w[0].0 + 1));
    assert_eq!(after, before);
    let (table,): (String,) =
        sqlx::query_as("SELECT sql FROM sqlite_master WHERE name = 'uploads'").fetch_one(&pool).await.unwrap();
    assert!(!table.contains("UNIQUE"), "{table}");
    let (index,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE name = 'uploads_object_key'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(index, 1);
    assert_eq!(counts::check(&pool).await.unwrap(), vec![]);
    // The name search (FTS5, by rowid) finds the renamed row and only it.
    let f = HistoryFilter { name: Some("ZEBRA".into()), ..Default::default() };
    let found: Vec<String> =
        history::page(&pool, &f, 50).await.unwrap().rows.into_iter().map(|r| r.upload.id).collect();
    assert_eq!(found, vec!["up57".to_owned()]);
}
