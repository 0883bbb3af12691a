//! `/healthz` (200 when ready, 503 otherwise) and `/metrics` (Prometheus text).

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::health::Health;

pub struct HttpServer {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: PrometheusHandle,
}

/// Installs the global metrics recorder (once per process) and serves the
/// endpoint until `shutdown` is cancelled.
pub async fn serve_http(
    listen: &str,
    service: &'static str,
    health: Health,
    shutdown: CancellationToken,
) -> Result<HttpServer> {
    let metrics = PrometheusBuilder::new()
        .add_global_label("service", service)
        .install_recorder()
        .map_err(|e| Error::Metrics(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Bind {
            addr: listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: listen.to_string(),
        source,
    })?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState { health, metrics });
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "health endpoint stopped");
        }
    });
    tracing::info!(%addr, "health and metrics endpoint listening");
    Ok(HttpServer { addr, task })
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.health.is_ready() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn render_metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}
