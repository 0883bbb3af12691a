//! xregion backup-watcher: decides what must be copied. Seeds a new service
//! (its latest FULL and every LOG after it), turns each new upstream backup
//! into one transfer job per service, and periodically reconciles every
//! service with what its source store holds, so a lost event is still copied.

pub mod config;
pub mod jobs;
pub mod metrics;
pub mod paged;
pub mod reconcile;
pub mod run;
pub mod seeding;
pub mod upstream;

pub use config::WatcherConfig;
pub use run::run;

#[cfg(test)]
mod catalog_tests;
