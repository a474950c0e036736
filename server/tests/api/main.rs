//! The server's integration tests, as one binary (one link instead of one per file): the real app,
//! the local Garage and both database engines. `helpers` starts the app; each other module is one
//! area of the app.

mod helpers;

mod accounts;
mod bad_input;
mod database;
mod faults;
mod foundation;
mod operations;
mod pages;
mod s3_garage;
mod security;
mod shared;
mod upload_flow;
