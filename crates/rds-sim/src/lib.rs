//! The upstream RDS simulator's library: it writes backup files and their
//! descriptors into a source region's store and publishes the upstream
//! events, exactly as the real control plane would. Tests and the demo use
//! it; fault injection (skip, corrupt, withhold) is explicit in the API.

pub mod chain;
pub mod demo;
pub mod mariadb;
pub mod upstream;

pub use chain::{ChainGen, GeneratedBackup};
pub use upstream::{Upstream, UpstreamError};
