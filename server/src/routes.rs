//! Plain Axum routes beside the Leptos ones: health, the landing route for S3's redirects, and
//! the same-origin guard for state-changing requests.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use leptos::prelude::{provide_context, Owner};
use leptos::reactive::computed::ScopedFuture;
use serde::Deserialize;

use app::api::ApiError;
use app::server::db::users::User;
use app::server::s3::sigv4::uri_encode;
use app::server::s3::Expiry;
use app::server::uploads::{self as service, LANDING_PATH};
use app::server::{auth, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route(LANDING_PATH, get(landing))
        .route("/admin/download/{id}", get(admin_download))
        .layer(axum::middleware::from_fn(in_request_context))
}

/// Runs a plain route the way Leptos runs a server function: in an owner whose context holds the
/// request's parts, so the refusals made on the way (`ApiError`s from the upload service, the
/// database, `ApiError::admins_only`) are worded in the reader's language
/// (`app::locale::current`).
async fn in_request_context(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let owner = Owner::new();
    owner.with(|| provide_context(parts.clone()));
    owner.with(|| ScopedFuture::new(next.run(Request::from_parts(parts, body)))).await
}

/// 200 when the database answers and the bucket is reachable with our credentials, else 503.
/// A bucket that browsers on our origin may not send to is `degraded` (200: the server itself is
/// fine and should stay in service, but uploads from the page will fail until CORS is applied).
/// `status` and `ok` are values for monitors and stay as they are; a reason is worded in the
/// caller's language.
async fn health(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let h = app::server::health::check(&state, app::locale::of_headers(&headers)).await;
    let outcome = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let code = if h.ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let status = match (h.ok(), h.cors.is_ok()) {
        (false, _) => "unavailable",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    let body = serde_json::json!({
        "status": status,
        "database": outcome(&h.database),
        "bucket": outcome(&h.bucket),
        "cors": outcome(&h.cors),
    });
    (code, Json(body))
}

#[derive(Deserialize)]
struct Landing {
    bucket: String,
    key: String,
}

/// The signed-in user of a plain route's request, if any.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    Ok(auth::user_from_headers(&state.sessions, headers).await?)
}

/// Where S3's 303 brings a browser after a plain-form upload: verify exactly as the dropzone's
/// confirmation does, then back to the profile with the outcome. A browser is the caller, so
/// every answer, refusals included, is a redirect to a page that shows it.
async fn landing(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Landing>, QueryRejection>,
) -> Redirect {
    let locale = app::locale::of_headers(&headers);
    let back_with = |e: ApiError| Redirect::to(&format!("/profile?error={}", uri_encode(&e.words(locale), true)));
    let Ok(Query(landing)) = query else {
        return back_with(service::landing_unnamed(locale));
    };
    let user = match signed_in(&state, &headers).await {
        Ok(Some(user)) => user,
        Ok(None) => return Redirect::to("/signin"),
        Err(e) => return back_with(e),
    };
    match service::land(&state, &user, &landing.bucket, &landing.key).await {
        Ok(row) => Redirect::to(&format!("/profile?uploaded={}", uri_encode(&row.file_name, true))),
        Err(e) => back_with(e.into()),
    }
}

/// An admin's download: a presigned GET valid for a minute, with `Content-Disposition: attachment`
/// and the original name, made only now that the admin asked for it.
async fn admin_download(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Redirect, ApiError> {
    let locale = app::locale::of_headers(&headers);
    let Path(id) = id.map_err(|e| service::malformed_download_link(locale, e))?;
    let user = signed_in(&state, &headers).await?.ok_or(ApiError::Unauthorized)?;
    if !user.is_admin() {
        return Err(ApiError::admins_only());
    }
    let row = match app::server::db::uploads::get(&state.db, &id).await? {
        Some(row) if row.status == app::model::UploadStatus::Completed => row,
        _ => return Err(service::no_completed_upload(locale)),
    };
    let url = state.s3.bucket().presign_get(
        &row.object_key,
        Some(&row.file_name),
        Expiry::secs(60).expect("60 s is a valid expiry"),
        time::OffsetDateTime::now_utc(),
    );
    Ok(Redirect::to(&url))
}

/// Refuses state-changing requests that another site's page sent (CSRF): the `Origin` must be
/// our own, or absent with no sign of a cross-site fetch.
pub async fn same_origin_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let cross_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site");
    let allowed = match origin {
        Some(o) => o == state.config.public_url,
        None => !cross_site,
    };
    if !allowed {
        tracing::warn!(origin = ?origin, path = %req.uri().path(), "refused a cross-origin request");
        let locale = app::locale::of_headers(headers);
        return ApiError::cross_origin(locale).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain route's refusals are worded like a server function's: in the language the
    /// request asks for, once it runs in the request's context.
    #[tokio::test]
    async fn plain_routes_answer_in_the_requests_language() {
        use tower::ServiceExt;
        let app: Router = Router::new()
            .route("/refuse", get(|| async { ApiError::admins_only() }))
            .route("/unauthorized", get(|| async { ApiError::Unauthorized }))
            .layer(axum::middleware::from_fn(in_request_context));
        let said = |path: &'static str, accept_language: &'static str| {
            let app = app.clone();
            async move {
                let req = http::Request::get(path).header("accept-language", accept_language);
                let res = app.oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
                let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
                serde_json::from_slice::<serde_json::Value>(&body).unwrap()["message"].as_str().unwrap().to_owned()
            }
        };
        assert_eq!(said("/refuse", "en").await, "Only administrators may do this.");
        assert_eq!(said("/refuse", "fr").await, "Seuls les administrateurs peuvent faire cela.");
        assert_eq!(said("/unauthorized", "de").await, "Please sign in first.");
        assert_eq!(said("/unauthorized", "fr-FR").await, "Veuillez d'abord vous connecter.");
    }
}
