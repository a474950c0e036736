//! What every handler and server function needs, built once at start-up.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use super::db::{self, Pool};
use super::s3::S3Client;
use super::Config;

/// Handed to `leptos_routes` (which provides it as context to server functions) and to Axum.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub db: Pool,
    pub s3: S3Client,
    /// While no admin exists: the token of the one-time link that makes its user the admin, as
    /// read from the database at start-up (for the log; the database decides who may use it).
    pub admin_invite: Arc<Mutex<Option<String>>>,
    /// Records single-request tickets, many per transaction.
    pub tickets: db::tickets::TicketWriter,
    /// Finds the user of a session cookie, many per query.
    pub sessions: db::sessions::SessionReader,
    /// Our clock minus S3's, in seconds, as last measured.
    pub clock_skew_secs: Arc<AtomicI64>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub async fn new(config: Config, leptos_options: LeptosOptions) -> Result<Self, db::DbError> {
        let db = db::connect(&config.database_url).await?;
        let s3 = config.s3.client();
        let admin_invite = if db::users::count_admins(&db).await? == 0 {
            Some(db::invites::ensure(&db, &super::auth::new_token()).await?)
        } else {
            None
        };
        let tickets = db::tickets::writer(db.clone(), super::uploads::UPLOADS_PER_MINUTE);
        let sessions = db::sessions::reader(db.clone());
        db::spawn_checkpoints(db.clone());
        db::spawn_name_index_upkeep(db.clone());
        Ok(AppState {
            leptos_options,
            tickets,
            sessions,
            config: Arc::new(config),
            db,
            s3,
            admin_invite: Arc::new(Mutex::new(admin_invite)),
            clock_skew_secs: Arc::default(),
        })
    }
}
