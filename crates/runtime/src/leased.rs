//! A periodic loop that runs on one replica at a time: its tick runs only
//! while this process holds the loop's lease ([`xregion_bus::Lease`]).

use std::future::Future;
use std::time::Duration;

use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use xregion_bus::{Bus, Lease, Namespace};

/// When a leased loop's next pass runs, as its last pass says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// After the period.
    Wait,
    /// At once, if the lease is still held: the pass did one unit of work
    /// and more may be waiting (a drill role with a queue of overdue
    /// services drills them back to back, not one a period).
    Again,
}

/// Until `stop`: tries to take or renew lease `<service>.<name>` every third
/// of the TTL — also while a tick is under way, so a long tick does not
/// lose the lease — and calls `tick` every `period` (first after one
/// period) when the lease is held. A tick under way when the stop comes is
/// finished, then the lease is released so another replica takes over at
/// once. A tick also finishes when the lease is lost meanwhile: the loops
/// that run this way are idempotent, a second pass only repeats work.
/// A pass that returns [`Pace::Again`] is followed by the next one at
/// once; the lease is checked before every pass, so one replica runs them.
pub(crate) async fn run_leased<F, Fut>(
    bus: Bus,
    service: &'static str,
    name: &'static str,
    period: Duration,
    mut tick: F,
    stop: CancellationToken,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Pace> + Send + 'static,
{
    let mut keeper = Keeper {
        bus,
        service,
        name,
        lease: None,
    };
    // bus.lease_ttl_secs is at least 3 s: a renewal every second or more.
    let mut renew = tokio::time::interval(keeper.bus.lease_ttl() / 3);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next = Instant::now() + period;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = renew.tick() => keeper.renew().await,
            _ = sleep_until(next) => {
                let mut pace = Pace::Wait;
                if keeper.holds() {
                    let pass = tick();
                    tokio::pin!(pass);
                    pace = loop {
                        tokio::select! {
                            pace = &mut pass => break pace,
                            _ = renew.tick() => keeper.renew().await,
                        }
                    };
                    // Per replica: summed over replicas, it says who ran.
                    metrics::counter!(xregion_bus::metrics::LEASE_TICKS, "lease" => Namespace::lease_key(service, name))
                        .increment(1);
                }
                next = match pace {
                    Pace::Again => Instant::now(),
                    Pace::Wait => Instant::now() + period,
                };
            }
        }
    }
    keeper.release().await;
}

struct Keeper {
    bus: Bus,
    service: &'static str,
    name: &'static str,
    /// Opened at the first attempt that reaches NATS.
    lease: Option<Lease>,
}

impl Keeper {
    fn holds(&self) -> bool {
        self.lease.as_ref().is_some_and(Lease::holds)
    }

    async fn renew(&mut self) {
        if self.lease.is_none() {
            match Lease::open(&self.bus, self.service, self.name).await {
                Ok(lease) => self.lease = Some(lease),
                Err(error) => {
                    tracing::warn!(%error, lease = self.name, "cannot open the leases bucket, will retry");
                    return;
                }
            }
        }
        if let Some(lease) = self.lease.as_mut() {
            if let Err(error) = lease.acquire_or_renew().await {
                tracing::warn!(%error, lease = %lease.key(), "lease not renewed, will retry");
            }
        }
    }

    async fn release(&mut self) {
        if let Some(lease) = self.lease.as_mut() {
            if let Err(error) = lease.release().await {
                tracing::warn!(%error, lease = %lease.key(), "lease not released; it expires after its ttl");
            }
        }
    }
}
