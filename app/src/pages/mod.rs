pub mod account;
pub mod home;
pub mod profile;
