//! Where a bucket and its objects live: AWS virtual-hosted style, path style, or a custom endpoint
//! (Garage, MinIO, R2).

use super::sigv4::uri_encode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    scheme: String,
    /// host, with `:port` when one was given
    host: String,
    path_style: bool,
}

/// One addressable resource: the `host` header to sign, the encoded path, and the base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub host: String,
    pub path: String,
    scheme: String,
}

impl Location {
    pub fn url(&self) -> String {
        format!("{}{}", self.origin(), self.path)
    }

    /// `scheme://host[:port]`: what goes before a path (and query) built elsewhere.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct EndpointError(String);

impl Endpoint {
    /// AWS's regional endpoint, virtual-hosted style unless `path_style`.
    pub fn aws(region: &str, path_style: bool) -> Self {
        Endpoint { scheme: "https".into(), host: format!("s3.{region}.amazonaws.com"), path_style }
    }

    /// A custom endpoint such as `http://127.0.0.1:3900` or `https://<account>.r2.cloudflarestorage.com`.
    pub fn custom(url: &str, path_style: bool) -> Result<Self, EndpointError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            EndpointError(format!("{url:?} is not a URL (expected http://host[:port] or https://host[:port])"))
        })?;
        if scheme != "http" && scheme != "https" {
            return Err(EndpointError(format!("{url:?}: the scheme must be http or https")));
        }
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') || host.contains('?') || host.contains('@') {
            return Err(EndpointError(format!("{url:?}: expected only a scheme, a host and an optional port")));
        }
        Ok(Endpoint { scheme: scheme.into(), host: host.to_ascii_lowercase(), path_style })
    }

    pub fn is_path_style(&self) -> bool {
        self.path_style
    }

    /// The bucket itself (`/` of the bucket): the form action of a POST upload and the target of
    /// bucket sub-resources such as `?cors`.
    pub fn bucket(&self, bucket: &str) -> Location {
        if self.path_style {
            Location {
                scheme: self.scheme.clone(),
                host: self.host.clone(),
                path: format!("/{}", uri_encode(bucket, true)),
            }
        } else {
            Location { scheme: self.scheme.clone(), host: format!("{bucket}.{}", self.host), path: "/".into() }
        }
    }

    /// An object: the key is encoded once, `/` kept, nothing normalised (`a/../b` stays as it is).
    pub fn object(&self, bucket: &str, key: &str) -> Location {
        let encoded = uri_encode(key, false);
        if self.path_style {
            Location {
                scheme: self.scheme.clone(),
                host: self.host.clone(),
                path: format!("/{}/{encoded}", uri_encode(bucket, true)),
            }
        } else {
            Location {
                scheme: self.scheme.clone(),
                host: format!("{bucket}.{}", self.host),
                path: format!("/{encoded}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_uses_virtual_hosted_urls() {
        let e = Endpoint::aws("eu-west-1", false);
        assert_eq!(e.object("b", "uploads/a b.txt").url(), "https://b.s3.eu-west-1.amazonaws.com/uploads/a%20b.txt");
        assert_eq!(e.bucket("b").url(), "https://b.s3.eu-west-1.amazonaws.com/");
    }

    #[test]
    fn path_style_puts_the_bucket_in_the_path() {
        let e = Endpoint::custom("http://127.0.0.1:3900/", true).unwrap();
        let loc = e.object("bkt", "uploads/ü/x+y");
        assert_eq!(loc.host, "127.0.0.1:3900");
        assert_eq!(loc.url(), "http://127.0.0.1:3900/bkt/uploads/%C3%BC/x%2By");
        assert_eq!(e.bucket("bkt").url(), "http://127.0.0.1:3900/bkt");
    }

    #[test]
    fn keys_are_never_normalised() {
        let e = Endpoint::custom("http://h", true).unwrap();
        assert_eq!(e.object("b", "a/../b//c").path, "/b/a/../b//c");
    }

    #[test]
    fn malformed_endpoints_are_refused_with_the_reason() {
        assert!(Endpoint::custom("127.0.0.1:3900", true).unwrap_err().0.contains("not a URL"));
        assert!(Endpoint::custom("ftp://h", true).unwrap_err().0.contains("scheme"));
        assert!(Endpoint::custom("http://h/path", true).is_err());
    }
}
