//! `server doctor`: one line per check of what direct uploads depend on.

use time::OffsetDateTime;

use super::s3::S3Client;
use super::s3_errors::S3ErrorKind;
use super::{db, Config};

/// Beyond this, S3 starts refusing signatures (`RequestTimeTooSkewed` at 15 min); we warn early.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:<12} {}", if self.ok { "ok  " } else { "FAIL" }, self.name, self.detail)
    }
}

fn check(name: &'static str, r: Result<String, String>) -> Check {
    match r {
        Ok(detail) => Check { name, ok: true, detail },
        Err(detail) => Check { name, ok: false, detail },
    }
}

/// Seconds our clock is ahead of S3's (negative: behind), from S3's `Date` header.
pub async fn clock_skew_secs(s3: &S3Client) -> Result<i64, String> {
    let date = s3.server_date().await.map_err(|e| e.to_string())?.ok_or("S3 sent no Date header")?;
    let theirs = OffsetDateTime::parse(&date, &time::format_description::well_known::Rfc2822)
        .map_err(|e| format!("unreadable Date header {date:?}: {e}"))?;
    Ok((OffsetDateTime::now_utc() - theirs).whole_seconds())
}

pub async fn run(config: &Config) -> Vec<Check> {
    let s3 = config.s3.client();
    let mut checks = vec![];

    checks.push(check(
        "database",
        match db::connect(&config.database_url).await {
            Ok(pool) => {
                db::ping(&pool).await.map(|_| "answers; migrations applied".to_owned()).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        },
    ));

    let bucket = s3.head_bucket().await;
    checks.push(check(
        "credentials",
        match &bucket {
            Err(e) if e.is_credentials_refused() => Err(format!(
                "S3 refused the signing credentials ({e}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )),
            Err(e) if e.is_unreachable() => Err(format!("S3 is unreachable: {e}")),
            _ => Ok(format!("accepted (key {})", config.s3.credentials.access_key_id)),
        },
    ));
    checks.push(check(
        "bucket",
        match &bucket {
            Ok(()) => Ok(format!("{} is reachable", config.s3.bucket)),
            Err(e) if e.is_missing_bucket() => Err(format!("{} does not exist: check S3_BUCKET", config.s3.bucket)),
            Err(e) => Err(format!("{} is not reachable: {e}", config.s3.bucket)),
        },
    ));

    checks.push(check(
        "cors",
        match s3.get_bucket_cors().await {
            Err(e) => Err(format!("could not read the CORS rules: {e}")),
            Ok(rules) => {
                let origin = &config.public_url;
                let allows = |m: &str| {
                    rules.iter().any(|r| {
                        r.allowed_origins.iter().any(|o| o == origin || o == "*")
                            && r.allowed_methods.iter().any(|x| x.eq_ignore_ascii_case(m))
                    })
                };
                let exposes = rules.iter().any(|r| {
                    r.allowed_origins.iter().any(|o| o == origin || o == "*")
                        && r.expose_headers.iter().any(|h| h.eq_ignore_ascii_case("etag"))
                });
                if allows("POST") && allows("PUT") && exposes {
                    Ok(format!("allows {origin} to POST and PUT, exposes ETag"))
                } else {
                    Err(format!("no rule lets {origin} POST and PUT with ETag exposed: run `server bucket apply-cors`"))
                }
            }
        },
    ));

    // What a browser is actually told, whatever the rules say.
    let origin = super::health::origin_of(&config.public_url);
    checks.push(check(
        "cors preflight",
        match s3.preflight(&origin).await {
            Ok(Ok(())) => Ok(format!("a browser on {origin} may POST and PUT to the bucket")),
            Ok(Err(e)) => Err(format!("{e}: run `server bucket apply-cors`")),
            Err(e) => Err(format!("no answer to a preflight: {e}")),
        },
    ));

    checks.push(check(
        "clock",
        clock_skew_secs(&s3).await.and_then(|skew| {
            if skew.abs() <= MAX_CLOCK_SKEW_SECS {
                Ok(format!("{skew:+} s against S3"))
            } else {
                Err(format!("{skew:+} s against S3 (more than {MAX_CLOCK_SKEW_SECS} s): fix this machine's clock"))
            }
        }),
    ));
    checks
}
