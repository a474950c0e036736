//! The one error every server function (and every plain Axum route) answers with: a kind the page
//! can match on, the HTTP status that goes with it, and a message written for people. Internal
//! details never get here; they are logged where a fault becomes an [`ApiError`] (see
//! `crate::server::error`).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::model::LimitError;

/// Why a call did not succeed. Travels as JSON, `{"kind": "invalid", "message": "…"}`, so any
/// client reads the same words the page shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub enum ApiError {
    /// No live session: the caller must sign in (401).
    #[error("Please sign in first.")]
    Unauthorized,
    /// Sign-in refused; the same answer whether the account exists or not (401).
    #[error("Wrong email or password.")]
    WrongCredentials,
    /// Signed in (or not) but not allowed to (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing of the caller's by that name (404); also what another user's things look like.
    #[error("{0}")]
    NotFound(String),
    /// The request is understood but its values are refused (400).
    #[error("{0}")]
    Invalid(String),
    /// The thing is not in a state that allows this (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; wait and try again (429).
    #[error("{0}")]
    RateLimited(String),
    /// Something we depend on is not answering or not fit to use (503).
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; what it was is in the server's log only (500).
    #[error("Something went wrong on our side; please try again.")]
    Internal,
    /// The call itself failed: arguments that do not parse (400), or in the browser the network
    /// or an unreadable answer.
    #[error("{}", call_words(.0))]
    Call(ServerFnErrorErr),
}

impl ApiError {
    pub fn admins_only() -> Self {
        ApiError::Forbidden("Only administrators may do this.".into())
    }

    /// The HTTP status the server answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized | ApiError::WrongCredentials => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Invalid(_) => 400,
            ApiError::Conflict(_) => 409,
            ApiError::RateLimited(_) => 429,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal => 500,
            ApiError::Call(e) => match e {
                ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) | ServerFnErrorErr::Deserialization(_) => {
                    400
                }
                ServerFnErrorErr::UnsupportedRequestMethod(_) => 405,
                _ => 500,
            },
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::WrongCredentials => "wrong_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Invalid(_) => "invalid",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal => "internal",
            ApiError::Call(_) => "call",
        }
    }
}

fn call_words(e: &ServerFnErrorErr) -> String {
    match e {
        ServerFnErrorErr::Args(m) => format!("The request could not be read: {m}."),
        ServerFnErrorErr::MissingArg(m) => format!("The request is missing {m}."),
        ServerFnErrorErr::Deserialization(m) => format!("The server's answer could not be read ({m})."),
        ServerFnErrorErr::Serialization(m) => format!("The request could not be sent ({m})."),
        ServerFnErrorErr::Request(m) => format!("The server could not be reached ({m})."),
        ServerFnErrorErr::UnsupportedRequestMethod(m) => format!("The server does not take this request ({m})."),
        ServerFnErrorErr::Registration(m)
        | ServerFnErrorErr::ServerError(m)
        | ServerFnErrorErr::MiddlewareError(m)
        | ServerFnErrorErr::Response(m) => format!("The server could not answer ({m})."),
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        // On the server, reading fails only for the request and writing only for the answer:
        // say so, so the browser does not read them as its own failures.
        #[cfg(feature = "ssr")]
        let e = match e {
            ServerFnErrorErr::Deserialization(m) => ServerFnErrorErr::Args(m),
            ServerFnErrorErr::Serialization(m) => ServerFnErrorErr::Response(m),
            e => e,
        };
        let error = ApiError::Call(e);
        // Arguments that do not parse never reach the function's body: their status is set here.
        #[cfg(feature = "ssr")]
        super::ctx::set_status(&error);
        error
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        ApiError::Invalid(e.to_string())
    }
}

/// The JSON form: the kind, the message, and for [`ApiError::Call`] what failed.
#[derive(Serialize, Deserialize)]
struct Wire {
    kind: String,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    call: Option<ServerFnErrorErr>,
}

impl From<ApiError> for Wire {
    fn from(e: ApiError) -> Self {
        let (kind, message) = (e.kind().to_owned(), e.to_string());
        let call = match e {
            ApiError::Call(c) => Some(c),
            _ => None,
        };
        Wire { kind, message, call }
    }
}

impl TryFrom<Wire> for ApiError {
    type Error = String;
    fn try_from(w: Wire) -> Result<Self, String> {
        Ok(match (w.kind.as_str(), w.call) {
            ("unauthorized", _) => ApiError::Unauthorized,
            ("wrong_credentials", _) => ApiError::WrongCredentials,
            ("forbidden", _) => ApiError::Forbidden(w.message),
            ("not_found", _) => ApiError::NotFound(w.message),
            ("invalid", _) => ApiError::Invalid(w.message),
            ("conflict", _) => ApiError::Conflict(w.message),
            ("rate_limited", _) => ApiError::RateLimited(w.message),
            ("unavailable", _) => ApiError::Unavailable(w.message),
            ("internal", _) => ApiError::Internal,
            ("call", Some(c)) => ApiError::Call(c),
            (kind, _) => return Err(format!("unknown error kind {kind:?}")),
        })
    }
}

/// The plain Axum routes answer with the same status and JSON as the server functions.
#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(Wire::from(self))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ApiError> {
        vec![
            ApiError::Unauthorized,
            ApiError::WrongCredentials,
            ApiError::admins_only(),
            ApiError::NotFound("There is no such upload.".into()),
            ApiError::Invalid("The file is empty.".into()),
            ApiError::Conflict("This upload is cancelled.".into()),
            ApiError::RateLimited("Wait.".into()),
            ApiError::Unavailable("The storage service did not answer; please try again.".into()),
            ApiError::Internal,
            ApiError::Call(ServerFnErrorErr::Args("missing field `size`".into())),
            ApiError::Call(ServerFnErrorErr::Request("offline".into())),
        ]
    }

    #[test]
    fn every_error_travels_as_json_with_its_message_and_comes_back_the_same() {
        for e in all() {
            let bytes = e.ser();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json["message"], e.to_string(), "{e:?}");
            assert_eq!(ApiError::de(bytes), e);
        }
    }

    #[test]
    fn statuses_follow_the_kind() {
        let statuses: Vec<u16> = all().iter().map(ApiError::status).collect();
        assert_eq!(statuses, [401, 401, 403, 404, 400, 409, 429, 503, 500, 400, 500]);
    }

    #[test]
    fn internal_errors_say_nothing_about_the_inside() {
        assert_eq!(ApiError::Internal.to_string(), "Something went wrong on our side; please try again.");
        assert_eq!(
            serde_json::to_value(ApiError::Internal).unwrap(),
            serde_json::json!({"kind": "internal", "message": "Something went wrong on our side; please try again."})
        );
    }

    #[test]
    fn an_unreadable_error_body_is_a_call_error() {
        assert!(matches!(ApiError::de("<html>".into()), ApiError::Call(_)));
    }
}
