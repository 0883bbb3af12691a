//! Logging, tracing and metrics for every xregion service, and the HTTP
//! endpoint that serves `/livez`, `/readyz` (alias `/healthz`) and `/metrics`.

pub mod error;
pub mod health;
pub mod http;
pub mod otel;
pub mod series;
pub mod tracing_init;

pub use error::{Error, Result};
pub use health::{CheckHandle, Health, Readiness};
pub use http::{serve_http, HttpServer};
pub use series::{gauge_family, GaugeFamily, Series};
pub use tracing_init::{init, TelemetryGuard};
