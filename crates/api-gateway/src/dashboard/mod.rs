//! The web dashboard: one page (embedded, no build step, no CDN) and the
//! JSON and event-stream endpoints it reads, on their own listener
//! (`gateway.dashboard_listen`). Every endpoint goes through the gRPC
//! handlers of [`Gateway`] with the caller's `Authorization` header as
//! metadata, so authentication, tenant scoping, validation and error codes
//! are the API's own, not a second copy.

mod api;
pub mod json;
mod sse;

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use crate::gateway::Gateway;

const INDEX_HTML: &str = include_str!("../../dashboard/index.html");
const APP_JS: &str = include_str!("../../dashboard/app.js");
const APP_CSS: &str = include_str!("../../dashboard/app.css");

/// What the handlers share: the gateway, and the token that ends live
/// streams when the gateway stops (a stream never ends on its own, and a
/// graceful shutdown waits for every open response).
#[derive(Clone)]
pub struct Dashboard {
    gateway: Arc<Gateway>,
    stop: CancellationToken,
}

/// The dashboard's routes over `gateway`.
pub fn router(gateway: Arc<Gateway>, stop: CancellationToken) -> Router {
    Router::new()
        .route("/", get(|| asset(INDEX_HTML, "text/html; charset=utf-8")))
        .route(
            "/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route("/api/me", get(api::me))
        .route("/api/regions", get(api::regions))
        .route("/api/instances/:engine/:region", get(api::instances))
        .route("/api/services", get(api::list).post(api::create))
        .route("/api/services/:id", get(api::get).delete(api::delete))
        .route("/api/services/:id/window", get(api::window))
        .route("/api/events", post(sse::events).get(sse::events))
        .with_state(Dashboard { gateway, stop })
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The page handles a bearer token: nothing may frame it, and
            // nothing but its own files may run in it.
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A gRPC request carrying only the caller's `Authorization` header: the
/// one piece of metadata the gateway reads.
fn grpc<T>(headers: &HeaderMap, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        if let Ok(value) = tonic::metadata::MetadataValue::try_from(value.as_bytes()) {
            request.metadata_mut().insert("authorization", value);
        }
    }
    request
}

/// The HTTP status of a gRPC code, for the page and for scripts.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => StatusCode::CONFLICT,
        Code::Unavailable | Code::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An API refusal as the page shows it: `{"code": "NOT_FOUND", "message"}`.
/// The message is the gateway's, which already keeps internals out.
pub struct ApiError(Status);

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        Self(status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        let name = format!("{code:?}");
        let body = serde_json::json!({
            "code": screaming(&name),
            "message": self.0.message(),
        });
        let mut response = (http_status(code), json_body(&body)).into_response();
        if code == Code::Unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `NotFound` → `NOT_FOUND`, as gRPC names its codes.
fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn json_body(value: &serde_json::Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        value.to_string(),
    )
        .into_response()
}

/// Serves `router` on `listener` until `stop`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests;
