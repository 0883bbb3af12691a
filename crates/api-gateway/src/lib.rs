//! The gRPC edge: authenticates callers (bearer token → tenant), validates
//! requests, forwards them to the catalog over NATS, maps every error to a
//! gRPC code in one place, and streams progress to watchers.

pub mod auth;
pub mod config;
pub mod error;
pub mod gateway;
pub mod run;

pub use config::{GatewayConfig, GatewaySettings, TokenConfig};
pub use run::{run, RunError};
