//! The page's Content-Security-Policy. Scripts run only with this response's nonce (Leptos puts
//! it on its hydration scripts), and the browser may talk to exactly two places: this app and
//! the bucket's S3 endpoint (the dropzone's XHRs and the plain form's POST). Nothing may frame
//! the pages.

use leptos::prelude::*;

use super::AppState;

/// The policy for an HTML page rendered with `nonce`; `reload` is the dev server's live-reload
/// socket, allowed only in development.
pub fn page_policy(nonce: &str, s3_origin: &str, reload: Option<&str>) -> String {
    let connect = match reload {
        Some(ws) => format!("'self' {s3_origin} {ws}"),
        None => format!("'self' {s3_origin}"),
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; connect-src {connect}; \
         form-action 'self' {s3_origin}; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// What every other answer (server functions, files, redirects) carries: nothing to run, nothing
/// to frame.
pub const DEFAULT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Called while the shell renders: makes this response's nonce and puts the policy naming it on
/// the response.
pub fn protect_page(options: &LeptosOptions) {
    leptos::nonce::provide_nonce();
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let s3_origin = use_context::<AppState>()
        .map(|state| {
            let bucket = state.s3.bucket();
            bucket.endpoint.bucket(&bucket.name).origin()
        })
        .unwrap_or_default();
    let reload = (options.env == leptos::config::Env::DEV)
        .then(|| format!("ws://{}:{}", options.site_addr.ip(), options.reload_port));
    let policy = page_policy(nonce.as_inner(), &s3_origin, reload.as_deref());
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_names_the_nonce_and_the_bucket_and_nothing_else_may_connect() {
        let p = page_policy("abc", "http://127.0.0.1:3900", None);
        assert!(p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"), "{p}");
        assert!(p.contains("connect-src 'self' http://127.0.0.1:3900;"), "{p}");
        assert!(p.contains("form-action 'self' http://127.0.0.1:3900;"), "{p}");
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
        assert!(!p.contains("unsafe-eval'") || p.contains("'wasm-unsafe-eval'"));
        let dev = page_policy("abc", "https://b.s3.amazonaws.com", Some("ws://127.0.0.1:3001"));
        assert!(dev.contains("connect-src 'self' https://b.s3.amazonaws.com ws://127.0.0.1:3001;"), "{dev}");
    }
}
