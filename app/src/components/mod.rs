#[cfg(feature = "hydrate")]
pub mod browser;
pub mod dropzone;
pub mod upload_list;
