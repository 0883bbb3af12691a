//! xregion cleanup: removes data in target regions. On ServiceDeleted it
//! purges everything under the service's prefix — manifests first, so no
//! half-deleted backup ever looks restorable, then the files, then
//! `service.json` — and announces ServiceDataPurged.

pub mod config;
pub mod error;
pub mod metrics;
pub mod orphans;
pub mod purge;
pub mod retention;
pub mod run;
pub mod sweep;
pub mod uploads;
pub mod verdict;
pub mod walk;

pub use config::CleanupConfig;
pub use error::{CleanupError, Result};
pub use run::run;

#[cfg(test)]
mod catalog_tests;
