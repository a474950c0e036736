//! Server functions: the only way pages talk to the server.

pub mod status;
