//! The server binary's subcommands.

use app::model::Role;
use clap::builder::{PossibleValuesParser, TypedValueParser};
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
    /// Check the database, credentials, bucket, CORS and clock; exits non-zero if any check fails.
    Doctor,
    /// Create an account; the password is read from a prompt, or from standard input when piped.
    CreateUser {
        email: String,
        #[arg(long)]
        admin: bool,
    },
    /// Make an account a user or an admin (signs it out everywhere).
    SetRole {
        email: String,
        #[arg(value_parser = PossibleValuesParser::new(["user", "admin"]).try_map(|r| r.parse::<Role>()))]
        role: Role,
    },
    /// Settle pending uploads whose signature expired (completed if the object is there, else
    /// expired), clear cancelled uploads' keys, and record objects in the bucket that have no row.
    Reconcile,
    /// Compare the admin summary's kept counts with the upload rows (reads every row); with
    /// `--repair`, rewrite them from the rows. Exits non-zero when they disagree and are not
    /// repaired.
    Counts {
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BucketAction {
    /// Allow browser uploads from APP_PUBLIC_URL (POST, PUT, GET, HEAD; all headers; expose ETag).
    ApplyCors,
    /// Abort multipart uploads abandoned for a day; expire objects under tmp/ after a day.
    ApplyLifecycle,
}
