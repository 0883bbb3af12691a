//! The catalog: the only part that touches the database. It keeps the
//! instance and backup inventory (from upstream events), the sync services,
//! synced copies and usage; answers catalog requests over NATS; and publishes
//! its events through a transactional outbox.

pub mod clock;
pub mod config;
pub mod drill;
pub mod error;
pub mod events;
pub mod metrics;
pub mod outbox;
pub mod paging;
pub mod queries;
pub mod rpc;
pub mod service;
pub mod states;
pub mod store;
pub mod sync;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod update;
pub mod upstream;
pub mod verify;
mod window;

#[cfg(test)]
mod lag_tests;
#[cfg(test)]
mod stamps_tests;

pub use config::{CatalogConfig, CatalogSettings};
pub use error::{CatalogError, Result};
pub use rpc::local_client;
pub use service::Catalog;

mod run;
pub use run::run;
