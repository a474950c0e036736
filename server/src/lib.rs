//! The Axum server as a library: `main` and the integration tests build the same router.

pub mod assets;
pub mod cli;
pub mod language;
pub mod routes;

use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use http::HeaderValue;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::set_header::SetResponseHeaderLayer;

use app::server::{AppState, Config};
use app::{shell, App};

/// Leptos' own options (site root, address) from the `LEPTOS_*` variables cargo-leptos sets,
/// with this project's defaults when the binary runs on its own.
pub fn leptos_options() -> LeptosOptions {
    let mut options = get_configuration(None).expect("the LEPTOS_* variables are well-formed").leptos_options;
    if options.output_name.is_empty() {
        options.output_name = "s3drop".into();
    }
    // A release build by cargo-leptos names the bundle by its hashes and leaves them in hash.txt
    // beside the binary; run on its own, the binary finds them there.
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        options.hash_files = hash_file(&options).is_some_and(|p| p.exists());
    }
    options
}

/// Where Leptos reads the bundle's hashes from: beside the running binary.
fn hash_file(options: &LeptosOptions) -> Option<std::path::PathBuf> {
    Some(std::env::current_exe().ok()?.parent()?.join(options.hash_file.as_ref()))
}

/// Compresses the bundle once before serving (a few seconds after a new build, nothing after).
pub async fn precompress_bundle(options: &LeptosOptions) {
    let dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    match tokio::task::spawn_blocking(move || assets::precompress(&dir)).await {
        Ok(Ok(done)) => tracing::info!(
            files = done.files,
            compressed_now = done.written,
            bytes = done.original_bytes,
            brotli_bytes = done.brotli_bytes,
            "browser bundle precompressed"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not precompress the browser bundle; it is served as is"),
        Err(e) => tracing::warn!(error = %e, "could not precompress the browser bundle; it is served as is"),
    }
}

/// The whole app: Leptos pages and server functions, the health endpoint, static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let pkg_dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let pkg_path = format!("/{}", options.site_pkg_dir);
    Router::new()
        .nest_service(&pkg_path, assets::pkg_router(pkg_dir, options.hash_files))
        .merge(routes::router())
        .merge(language::router())
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), routes::same_origin_only))
        // On every answer: no MIME sniffing, a Referer only to this app itself (a page's URL never
        // travels to S3 or elsewhere; the forms that work without JavaScript need it to come
        // back), no framing; pages bring their own Content-Security-Policy (with their nonce),
        // everything else gets one that allows nothing.
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        // Pages and answers carry the user's data and a fresh nonce: never reused from a cache.
        .layer(SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(app::server::security::DEFAULT_POLICY),
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Builds the state (database, migrations, S3 client) and applies the bucket CORS rule when asked.
pub async fn build_state(config: Config, options: LeptosOptions) -> Result<AppState, app::server::db::DbError> {
    let state = AppState::new(config, options).await?;
    measure_clock(&state).await;
    if state.config.apply_cors_on_start {
        match app::server::bucket_setup::apply_cors(&state.s3, &state.config.public_url).await {
            Ok(_) => {
                tracing::info!(origin = %state.config.public_url, "applied the browser-upload CORS rule to the bucket")
            }
            Err(e) => tracing::warn!(error = %e, "could not apply the CORS rule to the bucket"),
        }
    }
    Ok(state)
}

/// Every minute, settle pending uploads whose signature expired, clear cancelled uploads' keys, and
/// sweep one page of the bucket for objects without a row. Safe on several servers at once.
pub fn spawn_reconciler(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        // Where the bucket sweep goes on from: one page a minute, then from the start again.
        let mut sweep_from: Option<String> = None;
        loop {
            tick.tick().await;
            measure_clock(&state).await;
            match app::server::uploads::reconcile(&state.db, &state.s3, 500).await {
                Ok(r) if r != Default::default() => tracing::info!(?r, "reconciled expired uploads"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reconciler pass failed"),
            }
            let page = app::server::uploads::SweepPage::uploads(sweep_from.as_deref());
            match app::server::uploads::sweep(&state.db, &state.s3, &page).await {
                Ok((r, next)) => {
                    // Objects of other apps sharing the bucket are not news every minute.
                    if r.recorded > 0 || r.errors > 0 {
                        tracing::info!(?r, "bucket sweep");
                    } else if r.unowned > 0 {
                        tracing::debug!(?r, "bucket sweep: objects that are not this app's");
                    }
                    sweep_from = next;
                }
                Err(e) => tracing::warn!(error = %e, "bucket sweep failed"),
            }
        }
    });
}

/// Records how far our clock is from S3's; signing refuses to run when it is too far.
pub async fn measure_clock(state: &AppState) {
    match app::server::doctor::clock_skew_secs(&state.s3).await {
        Ok(skew) => {
            state.clock_skew_secs.store(skew, std::sync::atomic::Ordering::Relaxed);
            if skew.abs() > app::server::doctor::MAX_CLOCK_SKEW_SECS {
                tracing::error!(skew, "this machine's clock is off S3's; uploads are paused until it is fixed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not compare the clock with S3's"),
    }
}

/// Serves with the peer address available (sign-in attempts are limited per address).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>()).await
}
