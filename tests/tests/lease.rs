//! Leases on JetStream key-value against a real nats-server: one holder at
//! a time among contenders, renewal keeps it, release hands it over, and a
//! holder that stops renewing loses it once the TTL has passed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use xregion_bus::{declare_bucket, BucketSpec, Lease};
use xregion_tests::nats::NatsServer;
use xregion_tests::net::random_suffix;
use xregion_tests::wait_until;

const TTL: Duration = Duration::from_secs(2);

struct Env {
    kv: async_nats::jetstream::kv::Store,
    _nats: NatsServer,
    _dir: tempfile::TempDir,
}

/// A server and a leases bucket whose keys expire after `TTL`.
async fn env() -> anyhow::Result<Env> {
    let dir = tempfile::tempdir()?;
    let nats = NatsServer::start(dir.path()).await?;
    let js = async_nats::jetstream::new(nats.client().await?);
    let spec = BucketSpec {
        name: format!("T{}_LEASES", random_suffix().to_ascii_uppercase()),
        history: 1,
        max_age: TTL,
    };
    let kv = declare_bucket(&js, &spec, 1).await?;
    Ok(Env {
        kv,
        _nats: nats,
        _dir: dir,
    })
}

impl Env {
    fn contenders(&self, n: usize) -> Vec<Lease> {
        (0..n)
            .map(|_| Lease::new(self.kv.clone(), "svc.loop".into(), TTL))
            .collect()
    }
}

/// Every contender tries; returns which hold it afterwards.
async fn round(leases: &mut [Lease]) -> anyhow::Result<Vec<usize>> {
    let mut holders = Vec::new();
    for (i, lease) in leases.iter_mut().enumerate() {
        if lease.acquire_or_renew().await? {
            holders.push(i);
        }
    }
    Ok(holders)
}

#[tokio::test]
async fn one_holder_among_three_and_renewing_keeps_it() -> anyhow::Result<()> {
    let env = env().await?;
    let mut leases = env.contenders(3);
    let ids: std::collections::BTreeSet<_> =
        leases.iter().map(|l| l.holder().to_string()).collect();
    assert_eq!(ids.len(), 3, "each contender has its own id: {ids:?}");
    let first = round(&mut leases).await?;
    assert_eq!(first.len(), 1, "exactly one holder: {first:?}");
    // Renewing, more than a TTL long: the same one keeps it, nobody else
    // gets it, and it keeps counting as held.
    let deadline = tokio::time::Instant::now() + TTL * 2;
    let mut renewals = tokio::time::interval(TTL / 4);
    while tokio::time::Instant::now() < deadline {
        renewals.tick().await;
        assert_eq!(round(&mut leases).await?, first, "the holder changed");
        assert!(leases[first[0]].holds());
    }
    // Concurrent attempts, as from three processes at once.
    for lease in &mut leases {
        lease.release().await?;
    }
    let mut tasks = Vec::new();
    for mut lease in leases {
        tasks.push(tokio::spawn(async move {
            let held = lease.acquire_or_renew().await;
            (lease, held)
        }));
    }
    let mut holders = 0;
    for task in tasks {
        let (_lease, held) = task.await?;
        holders += usize::from(held?);
    }
    assert_eq!(holders, 1, "one holder when all try at once");
    Ok(())
}

#[tokio::test]
async fn release_hands_over_at_once() -> anyhow::Result<()> {
    let env = env().await?;
    let mut leases = env.contenders(2);
    assert!(leases[0].acquire_or_renew().await?);
    assert!(!leases[1].acquire_or_renew().await?);
    leases[0].release().await?;
    assert!(!leases[0].holds());
    // No waiting for the TTL: the next attempt takes it.
    assert!(leases[1].acquire_or_renew().await?);
    assert!(!leases[0].acquire_or_renew().await?);
    // A release by one that no longer holds it takes nothing from the holder.
    leases[0].release().await?;
    assert!(leases[1].acquire_or_renew().await?);
    Ok(())
}

#[tokio::test]
async fn a_holder_that_stops_renewing_loses_it_after_the_ttl() -> anyhow::Result<()> {
    let env = env().await?;
    let mut leases = env.contenders(2);
    assert!(leases[0].acquire_or_renew().await?);
    let taken = tokio::time::Instant::now();
    assert!(!leases[1].acquire_or_renew().await?);
    // The holder goes silent; the other keeps trying.
    let silent = leases.swap_remove(0);
    let waiting = Arc::new(Mutex::new(leases.swap_remove(0)));
    wait_until("the lease to pass to the other contender", TTL * 10, || {
        let waiting = waiting.clone();
        async move { Ok(waiting.lock().await.acquire_or_renew().await?.then_some(())) }
    })
    .await?;
    assert!(
        taken.elapsed() >= TTL,
        "taken over after {:?}, before the TTL",
        taken.elapsed()
    );
    // The silent holder's clock says so too, and its next renewal finds
    // the lease lost.
    let mut silent = silent;
    assert!(!silent.holds());
    assert!(!silent.acquire_or_renew().await?);
    assert!(waiting.lock().await.acquire_or_renew().await?);
    Ok(())
}
