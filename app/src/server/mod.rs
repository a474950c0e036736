//! Server-only code: compiled with the `ssr` feature, never into the browser bundle.

pub mod auth;
pub mod bucket_setup;
pub mod config;
pub mod db;
pub mod doctor;
pub mod error;
pub mod health;
pub mod s3;
pub mod s3_errors;
pub mod security;
pub mod state;
pub mod uploads;

pub use config::Config;
pub use state::AppState;
