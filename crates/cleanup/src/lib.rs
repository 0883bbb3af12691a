//! xregion cleanup: removes data in target regions.

pub mod config;
pub mod run;

pub use config::CleanupConfig;
pub use run::run;
