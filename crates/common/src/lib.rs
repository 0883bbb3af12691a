//! What every xregion service shares: the configuration loader, the region
//! table with its object stores, the common command line and shutdown.

pub mod cli;
pub mod clock;
pub mod config;
pub mod config_cases;
pub mod descriptor;
pub mod encryption;
pub mod error;
pub mod keys;
pub mod objects;
pub mod redact;
pub mod regions;
pub mod secret_file;
pub mod service_config;
pub mod shutdown;
pub mod target;
pub mod unavailable;
pub mod units;
pub mod validate;
pub mod verify;

pub use cli::CommonArgs;
pub use clock::{Clock, SharedClock, SystemClock};
pub use config::{load, BusConfig, BusTlsConfig, CommonConfig, HttpConfig, TelemetryConfig};
pub use error::{Error, Result};
pub use regions::{RegionConfig, Regions};
pub use service_config::HasCommon;
pub use units::ByteSize;
pub use validate::{Invalid, Validate};
pub use verify::Verifier;
