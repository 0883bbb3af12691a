//! xregion backup-watcher: decides what must be copied.

pub mod config;
pub mod run;

pub use config::WatcherConfig;
pub use run::run;
