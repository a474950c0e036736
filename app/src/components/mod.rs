#[cfg(feature = "hydrate")]
pub mod browser;
pub mod dropzone;
#[cfg(feature = "hydrate")]
pub mod history;
pub mod upload_list;
#[cfg(feature = "hydrate")]
pub mod wire;
