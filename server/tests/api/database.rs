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
