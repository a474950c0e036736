//! Is the app able to do its job: does the database answer, and can we reach the bucket?

use super::s3::CorsRefusal;
use super::s3_errors::S3ErrorKind;
use super::AppState;
use crate::i18n::{td_string, Locale};
use crate::model::Health;

/// `scheme://host[:port]` of a URL: what a browser sends as `Origin`.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest))
}

/// Checks the database, the bucket and the bucket's CORS rule; the reasons are worded in
/// `locale` (the log keeps the details, in English).
pub async fn check(state: &AppState, locale: Locale) -> Health {
    let origin = origin_of(&state.config.public_url);
    let (database, bucket, cors) =
        tokio::join!(super::db::ping(&state.db), state.s3.head_bucket(), state.s3.preflight(&origin));
    Health {
        cors: cors
            .map(|answer| answer.map_err(|refusal| cors_refusal_words(&refusal, locale)))
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "health: no answer to a CORS preflight");
                Err(td_string!(locale, errors.health.cors_no_answer).to_owned())
            })
            .map_err(|problem| td_string!(locale, errors.health.apply_cors, problem = problem).to_string()),
        database: database.map_err(|e| {
            tracing::warn!(error = %e, "health: database unreachable");
            td_string!(locale, errors.health.unreachable).to_owned()
        }),
        bucket: bucket.map_err(|e| {
            tracing::warn!(error = %e, "health: bucket unreachable");
            if e.is_missing_bucket() {
                td_string!(locale, errors.health.bucket_not_found).to_owned()
            } else if e.is_access_denied() {
                td_string!(locale, errors.health.access_denied).to_owned()
            } else {
                td_string!(locale, errors.health.unreachable).to_owned()
            }
        }),
    }
}

/// "the bucket does not let https://example.org PUT files (CORS)", in `locale`.
fn cors_refusal_words(refusal: &CorsRefusal, locale: Locale) -> String {
    let CorsRefusal { origin, method } = refusal;
    td_string!(locale, errors.health.cors_refused, origin = origin, method = method).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_preflight_reads_as_before_in_english_and_in_french_in_french() {
        let refusal = CorsRefusal { origin: "https://drop.example".into(), method: "PUT" };
        assert_eq!(cors_refusal_words(&refusal, Locale::en), refusal.to_string());
        assert_eq!(
            cors_refusal_words(&refusal, Locale::fr),
            "le compartiment refuse les fichiers envoyés par PUT depuis https://drop.example (CORS)"
        );
    }
}
