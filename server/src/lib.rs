//! The Axum server as a library: `main` and the integration tests build the same router.

pub mod cli;
pub mod routes;

use axum::Router;
use http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
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
    options
}

/// The whole app: Leptos pages and server functions, the health endpoint, static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .merge(routes::router())
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), routes::same_origin_only))
        // On every answer: no MIME sniffing, a Referer only to this app itself (a page's URL never
        // travels to S3 or elsewhere; the forms that work without JavaScript need it to come
        // back), no framing; pages bring their own Content-Security-Policy (with their nonce),
        // everything else gets one that allows nothing.
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(REFERRER_POLICY, HeaderValue::from_static("same-origin")))
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

/// Every minute, settle pending uploads whose signature expired. Safe on several servers at once.
pub fn spawn_reconciler(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            measure_clock(&state).await;
            match app::server::uploads::reconcile(&state.db, &state.s3, 500).await {
                Ok(r) if r != Default::default() => tracing::info!(?r, "reconciled expired uploads"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reconciler pass failed"),
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
