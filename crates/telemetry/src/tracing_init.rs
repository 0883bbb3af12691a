//! The tracing subscriber: an env filter, human or JSON logs, and an
//! OpenTelemetry layer. The layer is always installed so that trace context
//! flows through NATS headers; spans are exported only when an OTLP endpoint
//! is configured (see [`crate::otel`] for which settings say so).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::TracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use xregion_common::TelemetryConfig;

use crate::error::{Error, Result};

/// Flushes spans on drop or on an explicit [`TelemetryGuard::shutdown`].
pub struct TelemetryGuard {
    provider: Option<TracerProvider>,
}

impl TelemetryGuard {
    pub fn shutdown(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("telemetry shutdown: {error}");
            }
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

pub fn init(service: &'static str, config: &TelemetryConfig) -> Result<TelemetryGuard> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(&config.log_filter),
    }
    .map_err(|e| Error::Filter(e.to_string()))?;

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut builder = TracerProvider::builder().with_resource(crate::otel::resource(service));
    let endpoint = crate::otel::exporter_endpoint(
        |name| std::env::var(name).ok(),
        config.otlp_endpoint.as_deref(),
    );
    if let Some(endpoint) = &endpoint {
        // The batch processor reads OTEL_BSP_* itself (schedule delay, queue
        // and batch sizes).
        let timeout = crate::otel::export_timeout(|name| std::env::var(name).ok());
        let exporter = crate::otel::span_exporter(endpoint, timeout)?;
        builder = builder.with_batch_exporter(exporter, opentelemetry_sdk::runtime::Tokio);
    }
    let provider = builder.build();
    let tracer = provider.tracer(service);
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);

    let fmt = if config.log_format == "json" {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .boxed()
    } else {
        // Colour codes only for a person at a terminal, not in files or
        // log collectors.
        tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| Error::Subscriber(e.to_string()))?;
    if let Some(endpoint) = endpoint {
        tracing::info!(%endpoint, "exporting spans over otlp");
    }
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}
