//! The one typed configuration, read from the environment (and `.env`) once at start-up.
//! A missing or malformed value is reported as one line naming the variable and what it expects.

use std::collections::HashMap;
use std::sync::Arc;

use super::s3::{Bucket, Credentials, Endpoint, Expiry, S3Client, Signer};
use crate::model::Limits;

#[derive(Clone, Debug)]
pub struct Config {
    pub s3: S3Config,
    pub database_url: String,
    /// Where browsers reach the app, e.g. `http://127.0.0.1:3000`; the CORS origin and the base of
    /// the landing URL.
    pub public_url: String,
    pub limits: Limits,
    /// Lifetime of a signed upload.
    pub upload_expiry: Expiry,
    /// Lifetime of a signed multipart part: the upload's, but at most 15 minutes (each part URL is
    /// asked for shortly before its part is sent).
    pub part_url_expiry: Expiry,
    /// How files below the multipart threshold are sent.
    pub single_method: SingleMethod,
    /// Parts of one multipart upload the browser sends at once.
    pub part_concurrency: u32,
    /// Sign-up attempts allowed per address in 15 minutes: each costs a password hash.
    pub signups_per_address: usize,
    /// Apply the browser-upload CORS rule to the bucket at start-up (set by the local S3 script).
    pub apply_cors_on_start: bool,
    /// Anyone may create an account; when false only the admin invite link and the CLI can.
    pub signup_enabled: bool,
    /// Behind a reverse proxy every request comes from the proxy's address: take the client's
    /// from the first `X-Forwarded-For` entry instead (only when the proxy sets it).
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Debug)]
pub struct S3Config {
    /// `S3_ENDPOINT` when set, else AWS's endpoint for the region; path style or not.
    pub endpoint: Endpoint,
    pub region: String,
    /// The bucket's name.
    pub bucket: String,
    pub credentials: Credentials,
    /// Longest the server waits for one S3 call to finish (`S3_TIMEOUT_SECS`).
    pub timeout: std::time::Duration,
}

impl S3Config {
    /// A client for the bucket, signing with these credentials.
    pub fn client(&self) -> S3Client {
        S3Client::new(
            Bucket {
                name: self.bucket.clone(),
                endpoint: self.endpoint.clone(),
                signer: Arc::new(Signer::new(self.credentials.clone(), self.region.clone())),
            },
            self.timeout,
        )
    }
}

/// How a file small enough for one request goes to S3 (`UPLOAD_METHOD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SingleMethod {
    /// A POST policy form: the browser sends `multipart/form-data`.
    Post,
    /// A presigned PUT: the body is the file itself.
    Put,
}

/// The largest object one PUT or POST may write on S3; larger files must go by multipart.
pub const SINGLE_REQUEST_MAX_BYTES: u64 = 5 << 30;

/// `VARIABLE: what is wrong (expected …)`, the whole message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {var} {problem} (expected {expected})")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
    pub expected: &'static str,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

impl Config {
    /// Reads `.env` (if any; real environment variables win) and then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_vars(&std::env::vars().collect())
    }

    /// Cookies are `Secure` when the app is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let required = |var: &'static str, expected: &'static str| {
            get(var).ok_or(ConfigError { var, problem: "is not set".into(), expected })
        };
        let bool_var = |var: &'static str, default: bool| match get(var).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError { var, problem: format!("is {other:?}"), expected: "true or false" }),
        };
        // A number (or, with `parse_size`, a size) within `range`, or `default` when unset.
        let ranged = |var: &'static str,
                      default: u64,
                      parse: fn(&str) -> Option<u64>,
                      range: std::ops::RangeInclusive<u64>,
                      expected: &'static str| match get(var) {
            None => Ok(default),
            Some(v) => parse(&v).filter(|n| range.contains(n)).ok_or(ConfigError {
                var,
                problem: format!("is {v:?}"),
                expected,
            }),
        };
        let number = |v: &str| v.parse().ok();

        let force_path_style = bool_var("S3_FORCE_PATH_STYLE", false)?;
        let region = get("S3_REGION").unwrap_or_else(|| "us-east-1".into());
        let endpoint = match get("S3_ENDPOINT") {
            Some(url) => Endpoint::custom(&url, force_path_style).map_err(|e| ConfigError {
                var: "S3_ENDPOINT",
                problem: e.to_string(),
                expected: "a URL such as http://127.0.0.1:3900, or empty for AWS",
            })?,
            None => Endpoint::aws(&region, force_path_style),
        };
        let bucket = required("S3_BUCKET", "the name of the bucket uploads go to")?;
        if !valid_bucket_name(&bucket) {
            return Err(ConfigError {
                var: "S3_BUCKET",
                problem: format!("is {bucket:?}"),
                expected: "3-63 lower-case letters, digits, '.' or '-'",
            });
        }
        let timeout_secs = ranged("S3_TIMEOUT_SECS", 60, number, 1..=3600, "seconds between 1 and 3600")?;
        let s3 = S3Config {
            endpoint,
            region,
            bucket,
            credentials: Credentials {
                access_key_id: required("AWS_ACCESS_KEY_ID", "the access key id of the signing credentials")?,
                secret_access_key: required("AWS_SECRET_ACCESS_KEY", "the secret key of the signing credentials")?,
                session_token: get("AWS_SESSION_TOKEN"),
            },
            timeout: std::time::Duration::from_secs(timeout_secs),
        };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "DATABASE_URL",
                problem: "has an unknown scheme".into(),
                expected: "sqlite://path?mode=rwc or postgres://user@host/db",
            });
        }

        let public_url = get("APP_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:3000".into());
        let public_url = public_url.trim_end_matches('/').to_owned();
        if Endpoint::custom(&public_url, true).is_err() {
            return Err(ConfigError {
                var: "APP_PUBLIC_URL",
                problem: format!("is {public_url:?}"),
                expected: "the app's origin, such as https://uploads.example.com",
            });
        }

        let max_bytes = ranged(
            "UPLOAD_MAX_BYTES",
            50 << 30,
            parse_size,
            1..=5 << 40,
            "a positive size up to 5TiB (S3's largest object), such as 104857600, 100MiB or 50GiB",
        )?;
        let multipart_threshold = ranged(
            "UPLOAD_MULTIPART_THRESHOLD",
            64 << 20,
            parse_size,
            crate::model::MIN_PART_SIZE..=SINGLE_REQUEST_MAX_BYTES,
            "a size between 8MiB and 5GiB, such as 64MiB",
        )?;
        let single_method = match get("UPLOAD_METHOD").map(|m| m.to_ascii_lowercase()).as_deref() {
            None | Some("post") => SingleMethod::Post,
            Some("put") => SingleMethod::Put,
            Some(other) => {
                return Err(ConfigError {
                    var: "UPLOAD_METHOD",
                    problem: format!("is {other:?}"),
                    expected: "post or put",
                })
            }
        };
        let part_concurrency =
            ranged("UPLOAD_PART_CONCURRENCY", 4, number, 1..=16, "a number of parts between 1 and 16")? as u32;
        let signups_per_address = ranged(
            "SIGNUP_PER_ADDRESS",
            10,
            number,
            1..=1_000_000,
            "a number of sign-ups per address per 15 minutes, at least 1",
        )? as usize;
        let allowed_types = match get("UPLOAD_ALLOWED_TYPES") {
            None => vec!["*".into()],
            Some(v) => {
                let list: Vec<String> =
                    v.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
                if list.is_empty() || !list.iter().all(|t| valid_type_pattern(t)) {
                    return Err(ConfigError {
                        var: "UPLOAD_ALLOWED_TYPES",
                        problem: format!("is {v:?}"),
                        expected: "a comma-separated list such as image/*,application/pdf or *",
                    });
                }
                list
            }
        };
        let expiry_secs =
            ranged("UPLOAD_URL_EXPIRES_SECS", 900, number, 60..=604_800, "seconds between 60 and 604800")?;
        // Within S3's 1 s ..= 7 days by the range just checked.
        let expiry = |secs: u64| {
            Expiry::secs(secs).map_err(|e| ConfigError {
                var: "UPLOAD_URL_EXPIRES_SECS",
                problem: e.to_string(),
                expected: "seconds between 60 and 604800",
            })
        };
        let upload_expiry = expiry(expiry_secs)?;
        // Part URLs are asked for just before their part is sent: 15 minutes at most.
        let part_url_expiry = expiry(expiry_secs.min(900))?;

        Ok(Config {
            s3,
            database_url,
            public_url,
            limits: Limits { max_bytes, multipart_threshold, allowed_types },
            upload_expiry,
            part_url_expiry,
            single_method,
            part_concurrency,
            signups_per_address,
            apply_cors_on_start: bool_var("S3_APPLY_CORS_ON_START", false)?,
            signup_enabled: bool_var("SIGNUP_ENABLED", true)?,
            trust_forwarded_for: bool_var("TRUST_FORWARDED_FOR", false)?,
        })
    }
}

fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

fn valid_type_pattern(t: &str) -> bool {
    if t == "*" {
        return true;
    }
    let Some((major, minor)) = t.split_once('/') else { return false };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&c));
    token(major) && (minor == "*" || token(minor))
}

/// `1234`, `10KB`, `5MiB`, `2GB`, `1GiB` (KB = 1000, KiB = 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [("S3_BUCKET", "uploads"), ("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn err(mut vars: HashMap<String, String>, set: &[(&str, &str)]) -> String {
        for (k, v) in set {
            vars.insert(k.to_string(), v.to_string());
        }
        Config::from_vars(&vars).unwrap_err().to_string()
    }

    #[test]
    fn defaults_give_aws_sqlite_and_large_files_by_multipart() {
        let c = Config::from_vars(&base()).unwrap();
        assert_eq!(c.s3.endpoint, Endpoint::aws("us-east-1", false));
        assert_eq!(c.s3.region, "us-east-1");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.limits.max_bytes, 50 << 30);
        assert_eq!(c.limits.multipart_threshold, 64 << 20);
        assert_eq!(c.single_method, SingleMethod::Post);
        assert_eq!(c.part_concurrency, 4);
        assert_eq!(c.s3.client().bucket().endpoint, Endpoint::aws("us-east-1", false));
        assert_eq!(c.upload_expiry.as_secs(), 900);
        assert_eq!(c.part_url_expiry.as_secs(), 900);
        assert_eq!(c.s3.timeout, std::time::Duration::from_secs(60));
    }

    #[test]
    fn the_s3_timeout_is_read_in_seconds_and_checked() {
        let mut v = base();
        v.insert("S3_TIMEOUT_SECS".into(), "2".into());
        let c = Config::from_vars(&v).unwrap();
        assert_eq!(c.s3.timeout, std::time::Duration::from_secs(2));
        assert_eq!(c.s3.client().timeout(), std::time::Duration::from_secs(2));
        for bad in ["0", "-1", "soon", "3601"] {
            assert!(
                err(base(), &[("S3_TIMEOUT_SECS", bad)]).starts_with("configuration error: S3_TIMEOUT_SECS is"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_missing_bucket_names_the_variable() {
        let mut v = base();
        v.remove("S3_BUCKET");
        assert_eq!(
            Config::from_vars(&v).unwrap_err().to_string(),
            "configuration error: S3_BUCKET is not set (expected the name of the bucket uploads go to)"
        );
    }

    #[test]
    fn malformed_values_name_the_variable() {
        assert!(err(base(), &[("S3_ENDPOINT", "localhost:3900")]).starts_with("configuration error: S3_ENDPOINT"));
        assert!(
            err(base(), &[("S3_FORCE_PATH_STYLE", "maybe")]).starts_with("configuration error: S3_FORCE_PATH_STYLE")
        );
        assert!(err(base(), &[("UPLOAD_MAX_BYTES", "lots")]).starts_with("configuration error: UPLOAD_MAX_BYTES"));
        assert!(
            err(base(), &[("UPLOAD_ALLOWED_TYPES", "image")]).starts_with("configuration error: UPLOAD_ALLOWED_TYPES")
        );
        assert!(err(base(), &[("DATABASE_URL", "mysql://x")]).starts_with("configuration error: DATABASE_URL"));
        assert!(err(base(), &[("S3_BUCKET", "Bad_Bucket")]).starts_with("configuration error: S3_BUCKET"));
        assert!(err(base(), &[("UPLOAD_URL_EXPIRES_SECS", "5")])
            .starts_with("configuration error: UPLOAD_URL_EXPIRES_SECS"));
        assert!(err(base(), &[("UPLOAD_MAX_BYTES", "6TiB")]).starts_with("configuration error: UPLOAD_MAX_BYTES"));
        assert!(err(base(), &[("UPLOAD_MULTIPART_THRESHOLD", "1MiB")])
            .starts_with("configuration error: UPLOAD_MULTIPART_THRESHOLD"));
        assert!(err(base(), &[("UPLOAD_MULTIPART_THRESHOLD", "6GiB")])
            .starts_with("configuration error: UPLOAD_MULTIPART_THRESHOLD"));
        assert!(err(base(), &[("UPLOAD_METHOD", "patch")]).starts_with("configuration error: UPLOAD_METHOD"));
        assert!(err(base(), &[("UPLOAD_PART_CONCURRENCY", "0")])
            .starts_with("configuration error: UPLOAD_PART_CONCURRENCY"));
        let put = [("UPLOAD_METHOD", "PUT")].iter().map(|(a, b)| (a.to_string(), b.to_string()));
        let c = Config::from_vars(&base().into_iter().chain(put).collect()).unwrap();
        assert_eq!(c.single_method, SingleMethod::Put);
    }

    #[test]
    fn the_config_holds_parsed_values() {
        let mut v = base();
        v.insert("S3_ENDPOINT".into(), "http://127.0.0.1:3900/".into());
        v.insert("S3_FORCE_PATH_STYLE".into(), "true".into());
        v.insert("UPLOAD_URL_EXPIRES_SECS".into(), "3600".into());
        let c = Config::from_vars(&v).unwrap();
        assert_eq!(c.s3.endpoint, Endpoint::custom("http://127.0.0.1:3900", true).unwrap());
        assert_eq!(c.upload_expiry.as_secs(), 3600);
        assert_eq!(c.part_url_expiry.as_secs(), 900, "part URLs live at most 15 minutes");
    }

    #[test]
    fn the_secret_is_not_in_the_debug_output() {
        let c = Config::from_vars(&base()).unwrap();
        assert!(!format!("{c:?}").contains("secret\""));
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1234"), Some(1234));
        assert_eq!(parse_size("5MiB"), Some(5 << 20));
        assert_eq!(parse_size("2GB"), Some(2_000_000_000));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("x"), None);
    }
}
