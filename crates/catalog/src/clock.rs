//! The catalog reads the time through the workspace's one clock.

pub use xregion_common::clock::{Clock, SharedClock, SystemClock};
