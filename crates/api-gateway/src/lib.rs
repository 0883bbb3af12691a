//! The gRPC edge: serves gRPC over TLS, authenticates callers (static bearer
//! token or JWT → tenant) before anything else, validates
//! requests, forwards them to the catalog over NATS, maps every error to a
//! gRPC code in one place, and streams progress to watchers.

pub mod auth;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod gateway;
pub mod reflection;
pub mod run;
pub mod tls;
pub mod traceparent;
pub mod watch;
pub mod watch_slots;

pub use config::{GatewayConfig, GatewaySettings, JwtSettings, TlsSettings, TokenConfig};
pub use run::{run, RunError};
