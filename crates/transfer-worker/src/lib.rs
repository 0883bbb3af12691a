//! xregion transfer-worker: moves backup bytes between regions.

pub mod config;
pub mod run;

pub use config::WorkerConfig;
pub use run::run;
