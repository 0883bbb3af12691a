//! `/livez` (200 while the process serves), `/readyz` (200 when started and
//! every check passes, 503 with the failing checks otherwise; `/healthz` is
//! the same, kept for existing probes) and `/metrics` (Prometheus text).

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::health::{Health, Readiness};

pub struct HttpServer {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: PrometheusHandle,
    service: &'static str,
}

/// Buckets of every `*_duration_seconds` histogram: copies and sweeps take
/// from under a second (a log) to an hour (a large full), and a summary
/// (the exporter's default) cannot be aggregated across workers.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

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
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".into()),
            &DURATION_BUCKETS,
        )
        .map_err(|e| Error::Metrics(e.to_string()))?
        .install_recorder()
        .map_err(|e| Error::Metrics(e.to_string()))?;
    metrics::describe_gauge!(
        "xregion_ready",
        "1 while the readiness check named by `check` passes, 0 while it fails (see /readyz)"
    );
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
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/healthz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState {
            health,
            metrics,
            service,
        });
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

/// Answers as long as the process serves: dependencies are `/readyz`'s
/// business, and restarting a process because NATS is down helps nobody.
async fn livez() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let readiness = state.health.readiness();
    if readiness.is_ready() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, not_ready_text(&readiness))
    }
}

/// `not ready`, then one line per failing check: `name: reason`.
fn not_ready_text(readiness: &Readiness) -> String {
    let mut text = String::from("not ready\n");
    if !readiness.started {
        text.push_str("service: starting or stopping\n");
    }
    for (name, reason) in &readiness.failing {
        text.push_str(&format!("{name}: {reason}\n"));
    }
    text
}

async fn render_metrics(State(state): State<AppState>) -> String {
    // Set at scrape time: always what /readyz would say now.
    for (name, failing) in state.health.checks() {
        let value = if failing.is_none() { 1.0 } else { 0.0 };
        metrics::gauge!("xregion_ready", "check" => name).set(value);
    }
    let mut text = state.metrics.render();
    text.push_str(&crate::series::render(("service", state.service)));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_not_ready_text_names_each_failing_check() {
        let readiness = Readiness {
            started: false,
            failing: vec![("nats".into(), "disconnected".into())],
        };
        assert_eq!(
            not_ready_text(&readiness),
            "not ready\nservice: starting or stopping\nnats: disconnected\n"
        );
    }
}
