//! The service host: a service declares its consumers, loops and servers on
//! it, and the host runs them, supervises them and stops them in order.
//!
//! Readiness (`/readyz`) is the host's `started` flag AND its checks: `nats`
//! (the client's connection state, polled every second) and one per durable
//! consumer (`consumer:<durable>`), which the consumer reports itself.
//!
//! Stop order: readiness goes false, then every intake task (consumers,
//! request servers, loops) is asked to stop and awaited — in-flight messages
//! are finished and acknowledged — then the `last` stage (e.g. the catalog's
//! outbox relay, which must publish what in-flight work committed), then the
//! NATS client is flushed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xregion_bus::async_nats::connection::State;
use xregion_bus::{Bus, ConsumerReport, ConsumerSpec, Handler};
use xregion_common::SharedClock;
use xregion_telemetry::Health;

use crate::error::ServiceError;
use crate::leased::Pace;
use crate::stages::{Stage, Stages};

pub struct ServiceHost {
    name: &'static str,
    bus: Bus,
    health: Health,
    clock: SharedClock,
    shutdown: CancellationToken,
    stages: Stages,
}

impl ServiceHost {
    pub fn new(
        name: &'static str,
        bus: Bus,
        health: Health,
        clock: SharedClock,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            name,
            bus,
            health,
            clock,
            shutdown,
            stages: Stages::default(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Cancelled on the first SIGINT/SIGTERM.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Runs `handler` on the durable consumer `spec`; the task is named
    /// after the durable, so a log line says which consumer stopped. The
    /// check `consumer:<durable>` fails until the consumer is declared and
    /// whenever it cannot pull.
    pub fn consume<H: Handler>(&mut self, spec: ConsumerSpec, handler: Arc<H>) {
        let bus = self.bus.clone();
        let name = spec.durable.clone();
        let check = self.health.check(&format!("consumer:{name}"));
        check.set_failing("not declared yet");
        let report: ConsumerReport = Arc::new(move |state| check.report(state));
        self.spawn(Stage::Intake, name, move |stop| async move {
            bus.consume(spec, handler, stop, report).await
        });
    }

    /// Calls `tick` every `period` (first after one period) until stop; a
    /// tick under way when the stop comes is finished, not cut off.
    pub fn every<F, Fut>(&mut self, name: &'static str, period: Duration, tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.stages.every(name, period, tick);
    }

    /// Like [`Self::every`], but the tick runs only while this replica
    /// holds lease `<service>.<name>` (`bus.lease_ttl_secs`), so among the
    /// replicas of a service one runs it at a time. The lease is renewed
    /// every third of its TTL, also during a tick, and released on stop.
    pub fn every_leased<F, Fut>(&mut self, name: &'static str, period: Duration, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.every_leased_paced(name, period, move || {
            let pass = tick();
            async move {
                pass.await;
                Pace::Wait
            }
        });
    }

    /// Like [`Self::every_leased`], but a tick that returns [`Pace::Again`]
    /// is followed by the next at once (while the lease is held) instead of
    /// after `period`: for loops that do one unit of work a tick.
    pub fn every_leased_paced<F, Fut>(&mut self, name: &'static str, period: Duration, tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Pace> + Send + 'static,
    {
        let (bus, service) = (self.bus.clone(), self.name);
        self.spawn(Stage::Intake, name, move |stop| async move {
            crate::leased::run_leased(bus, service, name, period, tick, stop).await;
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// A core task of `stage`; `task` gets the token that asks it to stop.
    pub fn spawn<F, Fut, E>(&mut self, stage: Stage, name: impl Into<String>, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.stages.spawn(stage, name, task);
    }

    /// Marks the service ready, runs until a signal or a failed core task,
    /// then stops in order. An error when a core task failed.
    pub async fn run(mut self) -> Result<(), ServiceError> {
        self.watch_nats();
        self.health.set_started(true);
        tracing::info!(
            service = self.name,
            namespace = self.bus.namespace().prefix(),
            "ready"
        );
        let failed = self.stages.until_stop(&self.shutdown).await;
        self.health.set_started(false);
        self.stages.stop_in_order().await;
        let _ = self.bus.client().flush().await;
        tracing::info!(service = self.name, "stopped");
        if failed {
            return Err(ServiceError::TaskFailed);
        }
        Ok(())
    }

    /// The `nats` check, from the client's connection state: polled, since
    /// the connection callback belongs to the client's creator, and a
    /// second is well within any probe's period.
    fn watch_nats(&mut self) {
        let check = self.health.check("nats");
        let client = self.bus.client().clone();
        let update = move || match client.connection_state() {
            State::Connected => check.set_ok(),
            other => check.set_failing(format!("{other}")),
        };
        update();
        self.stages.every("nats-health", NATS_POLL, move || {
            update();
            std::future::ready(())
        });
    }
}

const NATS_POLL: Duration = Duration::from_secs(1);
