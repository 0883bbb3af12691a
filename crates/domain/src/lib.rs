//! Pure domain logic of xregion. Nothing here performs I/O, so every rule can
//! be unit- and property-tested in isolation.

pub mod calendar;
pub mod chain;
pub mod encryption;
pub mod engine;
pub mod error;
pub mod format;
pub mod ids;
pub mod layout;
pub mod log_pace;
pub mod manifest;
pub mod parallelism;
pub mod parts;
pub mod reason;
pub mod source_keys;
pub mod state;
pub mod tsql;
pub mod upload_record;
pub mod validation;

pub use engine::{BackupKind, Engine, Lane};
pub use error::{DomainError, Result};
pub use format::BackupFormat;
pub use reason::Reason;
pub use state::ServiceState;
