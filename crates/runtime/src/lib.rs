//! The life of a service process, shared by every binary so each `main.rs`
//! is one call: parse the command line, load config (or dump it), start
//! telemetry and the health endpoint, connect to NATS and declare the
//! streams, let the service declare its parts on a [`ServiceHost`], run
//! until SIGINT/SIGTERM, stop in order, flush telemetry.

mod entry;
mod error;
mod host;
mod leased;
mod stages;
mod supervise;

pub use entry::{run_service, service_main, Binary, Flag};
pub use error::{Error, Result, ServiceError};
pub use host::ServiceHost;
pub use leased::Pace;
pub use stages::{Stage, Stages};
pub use supervise::{supervise, wait_for_stop};

/// What a service's `run` receives: its configuration, its bus handle and
/// the host to declare its consumers, loops and servers on.
pub struct Context<C> {
    pub config: C,
    pub bus: xregion_bus::Bus,
    pub host: ServiceHost,
}

impl<C> Context<C> {
    /// The three parts, for `let (config, bus, mut host) = cx.parts();`.
    pub fn parts(self) -> (C, xregion_bus::Bus, ServiceHost) {
        (self.config, self.bus, self.host)
    }
}

pub use xregion_common::service_config::HasCommon;
