//! Where server faults meet the caller: code on the server fails with a [`Failure`], which keeps
//! the details; turning it into the [`ApiError`] the caller sees is the one place they are logged.

use crate::api::ApiError;
use crate::i18n::td_string;

use super::db::{DbError, Outage};
use super::s3::S3Error;
use super::uploads::VerifyError;

/// A refusal meant for the caller, or a fault of ours with the details only the log may see.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Refused(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    S3(#[from] S3Error),
    /// Anything else that should not happen (a panicked task, a missing context).
    #[error("{0}")]
    Internal(String),
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Db(e) => Failure::Db(e),
            VerifyError::S3(e) => Failure::S3(e),
        }
    }
}

impl From<tokio::task::JoinError> for Failure {
    fn from(e: tokio::task::JoinError) -> Self {
        Failure::Internal(format!("a blocking task failed: {e}"))
    }
}

/// The boundary: logs a fault once, with its details, and answers with words for people, in the
/// language of the request being answered.
impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        let locale = crate::locale::current();
        match failure {
            Failure::Refused(e) => e,
            Failure::Db(e) => match e.outage() {
                Some(Outage::Unreachable) => {
                    tracing::warn!(error = %e, "the database is not answering");
                    ApiError::Unavailable(td_string!(locale, errors.outage.database).to_owned())
                }
                Some(Outage::Full) => {
                    tracing::error!(error = %e, "the database is out of disk space");
                    ApiError::Unavailable(td_string!(locale, errors.outage.disk_full).to_owned())
                }
                None => {
                    tracing::error!(error = %e, "database error");
                    ApiError::Internal
                }
            },
            Failure::S3(e) => {
                tracing::error!(error = %e, "storage error");
                ApiError::Unavailable(td_string!(locale, errors.outage.storage).to_owned())
            }
            Failure::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                ApiError::Internal
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Failure::from(e).into()
    }
}

impl From<S3Error> for ApiError {
    fn from(e: S3Error) -> Self {
        Failure::from(e).into()
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Failure::from(e).into()
    }
}
