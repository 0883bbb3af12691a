//! Test harness: real infrastructure for integration tests. Each test gets
//! its own nats-server (random port, temp dir), its own PostgreSQL database,
//! its own Garage server with one bucket per region, its own namespace
//! prefix, and the real service binaries as child processes. Everything stops
//! when the handles drop; logs of a failed test are printed.

pub mod api;
pub mod garage;
pub mod machine;
pub mod mariadb;
pub mod metrics;
pub mod nats;
pub mod net;
pub mod postgres;
pub mod postgres_tls;
pub mod probe;
pub mod process;
pub mod restore;
pub mod stack;
pub mod sync;
pub mod sync_reads;
pub mod wait;
pub mod wan;

pub use stack::{Stack, StackOptions};
pub use wait::{now_ms, wait_until, WAIT};
