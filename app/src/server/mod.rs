//! Server-only code: compiled with the `ssr` feature, never into the browser bundle.

pub mod config;
pub mod db;
pub mod health;
pub mod s3;
pub mod state;

pub use config::Config;
pub use state::AppState;
