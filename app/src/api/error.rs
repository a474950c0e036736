//! The one error every server function (and every plain Axum route) answers with: a kind the page
//! can match on, the HTTP status that goes with it, and a message written for people. Internal
//! details never get here; they are logged where a fault becomes an [`ApiError`] (see
//! `crate::server::error`).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::i18n::{td_string, Locale};
use crate::model::LimitError;

/// Why a call did not succeed. Travels as JSON, `{"kind": "invalid", "message": "…"}`, so any
/// client reads the same words the page shows.
///
/// The words are in the language of the request being answered, two ways:
/// - the variants that carry a `String` carry the message itself, worded when the error is made
///   (the server knows the request's language there; see [`crate::locale::current`]);
/// - the unit variants and [`ApiError::Call`] have fixed words, looked up by [`ApiError::words`]
///   when the message is needed: when the error is written as JSON on the server, or shown
///   (in the browser, in the page's language). Their `Display` stays English, for the log and
///   for tests that compare it, so a page shows [`ApiError::message`], not `to_string()`.
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
    #[error("{}", call_words(.0, Locale::en))]
    Call(ServerFnErrorErr),
}

impl ApiError {
    pub fn admins_only() -> Self {
        ApiError::Forbidden(td_string!(crate::locale::current(), errors.api.admins_only).to_owned())
    }

    /// A state-changing request another site's page sent (refused by the server's CSRF guard,
    /// which runs before any Leptos context, hence the explicit `locale`).
    pub fn cross_origin(locale: Locale) -> Self {
        ApiError::Forbidden(td_string!(locale, errors.api.cross_origin).to_owned())
    }

    /// What a person reads, in the language of what is being answered (on the server the
    /// request's, in the browser the page's).
    pub fn message(&self) -> String {
        self.words(crate::locale::current())
    }

    /// The message in `locale`. The variants that carry their message were worded when made, and
    /// say it as it is.
    pub fn words(&self, locale: Locale) -> String {
        match self {
            ApiError::Unauthorized => td_string!(locale, errors.api.unauthorized).to_owned(),
            ApiError::WrongCredentials => td_string!(locale, errors.api.wrong_credentials).to_owned(),
            ApiError::Internal => td_string!(locale, errors.api.internal).to_owned(),
            ApiError::Call(e) => call_words(e, locale),
            ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Invalid(m)
            | ApiError::Conflict(m)
            | ApiError::RateLimited(m)
            | ApiError::Unavailable(m) => m.clone(),
        }
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

/// What failed in the call, in `locale`; the detail (the library's, in English) is kept as it is.
fn call_words(e: &ServerFnErrorErr, locale: Locale) -> String {
    match e {
        ServerFnErrorErr::Args(detail) => td_string!(locale, errors.call.args, detail = detail).to_string(),
        ServerFnErrorErr::MissingArg(detail) => {
            td_string!(locale, errors.call.missing_arg, detail = detail).to_string()
        }
        ServerFnErrorErr::Deserialization(detail) => {
            td_string!(locale, errors.call.bad_answer, detail = detail).to_string()
        }
        ServerFnErrorErr::Serialization(detail) => {
            td_string!(locale, errors.call.not_sent, detail = detail).to_string()
        }
        ServerFnErrorErr::Request(detail) => td_string!(locale, errors.call.unreachable, detail = detail).to_string(),
        ServerFnErrorErr::UnsupportedRequestMethod(detail) => {
            td_string!(locale, errors.call.method, detail = detail).to_string()
        }
        ServerFnErrorErr::Registration(detail)
        | ServerFnErrorErr::ServerError(detail)
        | ServerFnErrorErr::MiddlewareError(detail)
        | ServerFnErrorErr::Response(detail) => td_string!(locale, errors.call.no_answer, detail = detail).to_string(),
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
        ApiError::Invalid(e.message())
    }
}

/// The JSON form: the kind, the message (in the request's language: see [`ApiError::message`]),
/// and for [`ApiError::Call`] what failed. Reading it back keeps the message of the variants that
/// carry one; the others word theirs again where they are read.
#[derive(Serialize, Deserialize)]
struct Wire {
    kind: String,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    call: Option<ServerFnErrorErr>,
}

impl From<ApiError> for Wire {
    fn from(e: ApiError) -> Self {
        let (kind, message) = (e.kind().to_owned(), e.message());
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

/// Runs `f` as if answering a request whose browser asks for `accept_language`: the context
/// [`crate::locale::current`] reads on the server, as Leptos provides it to pages and server
/// functions.
#[cfg(all(test, feature = "ssr"))]
pub(crate) fn in_request<T>(accept_language: &str, f: impl FnOnce() -> T) -> T {
    use leptos::prelude::{provide_context, Owner};
    let request = http::Request::builder().header(http::header::ACCEPT_LANGUAGE, accept_language).body(());
    let (parts, ()) = request.expect("a valid request").into_parts();
    Owner::new().with(|| {
        provide_context(parts);
        f()
    })
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
    fn fixed_words_are_english_in_display_and_french_in_french() {
        let call = |make: fn(String) -> ServerFnErrorErr| ApiError::Call(make("detail".into()));
        let fixed = [
            ApiError::Unauthorized,
            ApiError::WrongCredentials,
            ApiError::Internal,
            call(ServerFnErrorErr::Args),
            call(ServerFnErrorErr::MissingArg),
            call(ServerFnErrorErr::Deserialization),
            call(ServerFnErrorErr::Serialization),
            call(ServerFnErrorErr::Request),
            call(ServerFnErrorErr::UnsupportedRequestMethod),
            call(ServerFnErrorErr::Response),
        ];
        for e in fixed {
            assert_eq!(e.words(Locale::en), e.to_string(), "{e:?}");
            assert_ne!(e.words(Locale::fr), e.words(Locale::en), "{e:?}");
        }
        assert_eq!(ApiError::Unauthorized.words(Locale::fr), "Veuillez d'abord vous connecter.");
        assert_eq!(
            call(ServerFnErrorErr::Args).words(Locale::fr),
            "La requête n'a pas pu être lue\u{a0}: detail.",
            "the detail is kept as it is"
        );
    }

    /// One refusal of each kind, made the way the server makes it.
    #[cfg(feature = "ssr")]
    fn one_of_each_kind() -> Vec<ApiError> {
        use crate::api::auth::FormProblem;
        use crate::server::error::Failure;
        use crate::server::s3::S3Error;
        vec![
            ApiError::Unauthorized,
            ApiError::WrongCredentials,
            ApiError::admins_only(),
            crate::server::uploads::no_completed_upload(crate::locale::current()),
            crate::model::LimitError::Empty.into(),
            FormProblem::EmailTaken.refusal(),
            FormProblem::TooManyAttempts.refusal(),
            Failure::S3(S3Error::InvalidResponse("?".into())).into(),
            ApiError::Internal,
            ApiError::Call(ServerFnErrorErr::Args("missing field `size`".into())),
        ]
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn every_kind_answers_a_french_request_in_french_and_others_in_english() {
        let said = |accept_language| {
            in_request(accept_language, || {
                one_of_each_kind().into_iter().map(|e| (e.kind(), e.message())).collect::<Vec<_>>()
            })
        };
        let (english, french) = (said("de, en;q=0.5"), said("fr-CA,fr;q=0.9,en;q=0.8"));
        let kinds: Vec<&str> = english.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds.len(), 10);
        assert_eq!(kinds, french.iter().map(|(k, _)| *k).collect::<Vec<_>>());
        // Without a request (the tests, the log) the words are the English ones, as before.
        assert_eq!(english, one_of_each_kind().iter().map(|e| (e.kind(), e.to_string())).collect::<Vec<_>>());
        for ((kind, en), (_, fr)) in english.iter().zip(&french) {
            assert_ne!(en, fr, "{kind}");
        }
        assert_eq!(english[2].1, "Only administrators may do this.");
        assert_eq!(french[2].1, "Seuls les administrateurs peuvent faire cela.");
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_json_of_a_french_request_carries_french_words_and_reads_back_the_same() {
        in_request("fr", || {
            for e in one_of_each_kind() {
                let bytes = e.ser();
                let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(json["message"], e.words(Locale::fr), "{e:?}");
                assert_eq!(ApiError::de(bytes), e);
            }
            let json = serde_json::to_value(ApiError::Internal).unwrap();
            assert_eq!(json["message"], "Un problème est survenu de notre côté\u{a0}; veuillez réessayer.");
        });
    }

    /// Every message has its own French words, with French spacing: a no-break space before
    /// `:`, `;`, `?` and `!`, never an ordinary one.
    #[test]
    fn the_french_messages_are_french_and_spaced_the_french_way() {
        fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        leaves(&format!("{prefix}.{k}"), v, out);
                    }
                }
                v => out.push((prefix.to_owned(), v.as_str().unwrap_or_default().to_owned())),
            }
        }
        let read = |json: &str| {
            let mut out = vec![];
            leaves("errors", &serde_json::from_str(json).unwrap(), &mut out);
            out
        };
        let en = read(include_str!("../../locales/en/errors.json"));
        let fr = read(include_str!("../../locales/fr/errors.json"));
        assert_eq!(en.iter().map(|(k, _)| k).collect::<Vec<_>>(), fr.iter().map(|(k, _)| k).collect::<Vec<_>>());
        for ((key, en), (_, fr)) in en.iter().zip(&fr) {
            assert_ne!(en, fr, "{key} is not translated");
            let mut code = false;
            let mut before = ' ';
            for c in fr.chars() {
                code ^= c == '`';
                if !code && ";:?!".contains(c) {
                    assert!(
                        before == '\u{a0}' || before == '\u{202f}',
                        "{key}: no no-break space before {c:?} in {fr:?}"
                    );
                }
                before = c;
            }
        }
    }

    #[test]
    fn an_unreadable_error_body_is_a_call_error() {
        assert!(matches!(ApiError::de("<html>".into()), ApiError::Call(_)));
    }
}
