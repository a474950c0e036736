//! The app shared by the server (SSR, feature `ssr`) and the browser (WASM, feature `hydrate`).

pub mod api;
pub mod app;
pub mod components;
pub mod dates;
pub mod domain;
pub mod locale;
pub mod meter;
pub mod model;
pub mod pages;
pub mod upload_queue;
pub mod xml;

/// Server-only: configuration, database, S3 signing and the upload service. Never in the WASM.
#[cfg(feature = "ssr")]
pub mod server;

pub use app::{shell, App};

// The catalogues, turned into code by `build.rs` (one function per key and language).
include!(concat!(env!("OUT_DIR"), "/i18n.rs"));
