//! What every handler and server function needs, built once at start-up.

use std::sync::Arc;

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
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub async fn new(config: Config, leptos_options: LeptosOptions) -> Result<Self, db::DbError> {
        let db = db::connect(&config.database_url).await?;
        let s3 = S3Client::new(config.s3.bucket());
        Ok(AppState { leptos_options, config: Arc::new(config), db, s3 })
    }
}
