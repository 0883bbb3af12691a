//! SQL access. Queries are written once, in the subset of SQL that
//! PostgreSQL and SQLite share, and run through sqlx's `Any` driver; all
//! integers are BIGINT and all times are unix milliseconds.

pub mod backups;
pub mod db;
pub mod drills;
pub mod instances;
pub mod outbox;
pub mod query;
pub mod schema;
pub mod services;
pub mod synced;
pub mod usage;
pub mod window;

pub use db::{Backend, Db};
