//! xregion transfer-worker: moves backup bytes from the source region's store
//! to the target region's, streaming (never more than a part of a file in
//! memory; between `file://` regions, inside the kernel), checking
//! size and sha256 against the descriptor, writing the manifest last as the
//! commit marker, then announcing BackupSynced. Log and full backups wait in
//! separate lanes with their own concurrency.

mod announce;
pub mod bucket;
pub mod budget;
pub mod commit;
pub mod config;
pub mod copy;
pub mod direct_put;
pub mod inflight;
pub mod liveness;
pub mod local;
pub mod marker;
pub mod metrics;
pub mod ownership;
pub mod peers;
pub mod presence;
pub mod priority;
pub mod progress;
pub mod resumable;
pub mod run;
pub mod seal;
pub mod sealed_check;
pub mod server_side;
pub mod share;
pub mod sigv4;
pub mod strategy;
pub mod throttle;
pub mod transfer;

pub use config::WorkerConfig;
pub use run::run;

#[cfg(test)]
mod record_tests;
