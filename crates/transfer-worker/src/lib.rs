//! xregion transfer-worker: moves backup bytes from the source region's store
//! to the target region's, streaming (never a whole file in memory), checking
//! size and sha256 against the descriptor, writing the manifest last as the
//! commit marker, then announcing BackupSynced. Log and full backups wait in
//! separate lanes with their own concurrency.

pub mod config;
pub mod copy;
pub mod progress;
pub mod resumable;
pub mod run;
pub mod throttle;
pub mod transfer;

pub use config::WorkerConfig;
pub use run::run;
