//! The server binary's subcommands.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "server", about = "s3drop: browser uploads straight to S3")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the app (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Bucket set-up through the server's own S3 client.
    Bucket {
        #[command(subcommand)]
        action: BucketAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum BucketAction {
    /// Allow browser uploads from APP_PUBLIC_URL (POST, PUT, GET, HEAD; all headers; expose ETag).
    ApplyCors,
}
