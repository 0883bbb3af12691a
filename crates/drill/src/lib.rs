//! xregion drill: proves continuously that every service can be restored.
//! On a schedule, one replica (a lease) picks the live service whose last
//! drill is the oldest past `drill.interval_secs`, runs `xregion drill` as
//! a child process against the service's target store alone (a throwaway
//! server, removed afterwards), and reports the outcome and the measured
//! restore time to the catalog (`RecordDrill`), which shows it on the
//! service and makes it DEGRADED when the drill failed.

pub mod child;
pub mod config;
pub mod due;
pub mod error;
pub mod metrics;
pub mod report;
pub mod run;
#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod testing;

pub use config::DrillConfig;
pub use error::{DrillError, Result};
pub use run::run;
