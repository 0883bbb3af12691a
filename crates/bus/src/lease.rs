//! Leases on JetStream key-value: one replica of a service runs a loop that
//! must run once per deployment (the watcher's reconciliation, cleanup's
//! sweep), and another takes over when it dies.
//!
//! A lease is one key in the `<NS>_LEASES` bucket whose value is the
//! holder's id. It is taken by creating the key (only when absent) and kept
//! by rewriting it with the revision last written (compare-and-set), so two
//! replicas can never both believe a write made them holder. The bucket's
//! `max_age` is the TTL: a holder that stops renewing (killed, cut off)
//! loses the key when its last write expires, and another replica creates
//! it. An orderly stop deletes the key (only if still ours), so the other
//! replica takes over at its next attempt instead of after the TTL.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store, UpdateErrorKind};

use crate::bus::Bus;
use crate::declare::BucketSpec;
use crate::error::{BusError, Result};
use crate::names::Namespace;

pub struct Lease {
    kv: Store,
    key: String,
    holder: String,
    ttl: Duration,
    held: Option<Held>,
}

/// What we last wrote while holding the lease.
#[derive(Debug, Clone, Copy)]
struct Held {
    revision: u64,
    /// When that write was sent: the key expires `ttl` after it at the
    /// earliest, so until then nobody else can hold it.
    written: Instant,
}

impl Lease {
    /// Lease `name` of `service` in this deployment's leases bucket, made
    /// with the bus's TTL when missing.
    pub async fn open(bus: &Bus, service: &str, name: &str) -> Result<Self> {
        let ttl = bus.lease_ttl();
        let kv = bus
            .bucket(&BucketSpec {
                name: bus.namespace().leases_bucket(),
                history: 1,
                max_age: ttl,
            })
            .await?;
        if let Ok(status) = kv.status().await {
            if status.max_age() != ttl {
                // Made by a replica with another bus.lease_ttl_secs: a key
                // may expire between two of our renewals (shorter) or a dead
                // holder's lease last longer than ours says (longer).
                tracing::warn!(
                    bucket = status.bucket(),
                    bucket_ttl_secs = status.max_age().as_secs(),
                    lease_ttl_secs = ttl.as_secs(),
                    "the leases bucket keeps keys for another time than bus.lease_ttl_secs; \
                     give every service the same value"
                );
            }
        }
        Ok(Self::new(kv, Namespace::lease_key(service, name), ttl))
    }

    /// Lease `key` in `kv` (whose `max_age` should be `ttl`), held by this
    /// process under a fresh id.
    pub fn new(kv: Store, key: String, ttl: Duration) -> Self {
        Self {
            kv,
            key,
            holder: holder_id(),
            ttl,
            held: None,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// This process's id as the lease's value: host name, pid and a random
    /// part (a restarted container has the same host name and pid).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether we hold the lease now: our last write succeeded and cannot
    /// have expired yet. Turns false by itself when renewals keep failing.
    pub fn holds(&self) -> bool {
        self.held.is_some_and(|h| h.written.elapsed() < self.ttl)
    }

    /// Takes the lease when nobody holds it, or renews it when we do; false
    /// when another replica holds it. A renewal whose compare-and-set fails
    /// means the lease was lost (it expired, and maybe someone took it).
    /// An error (NATS unavailable) leaves what we knew as it was; the lease
    /// then stops counting as held once the TTL has passed since our last
    /// write.
    pub async fn acquire_or_renew(&mut self) -> Result<bool> {
        let written = Instant::now();
        let value = self.holder.clone().into_bytes().into();
        let result = match self.held {
            Some(held) => match self.kv.update(&self.key, value, held.revision).await {
                Ok(revision) => Ok(revision),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(None),
                Err(e) => Err(Some(BusError::js("lease renew", e))),
            },
            None => match self.kv.create(&self.key, value).await {
                Ok(revision) => Ok(revision),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Err(None),
                Err(e) => Err(Some(BusError::js("lease acquire", e))),
            },
        };
        let revision = match result {
            Ok(revision) => revision,
            Err(Some(error)) => {
                if self.held.is_some() && !self.holds() {
                    self.lost("renewals failed for longer than the lease lasts");
                }
                return Err(error);
            }
            // The key is someone's: maybe ours, from a write whose answer
            // was lost on the way back.
            Err(None) => match self.ours().await? {
                Some(revision) => revision,
                None => {
                    if self.held.is_some() {
                        self.lost("another replica holds it");
                    }
                    return Ok(false);
                }
            },
        };
        if self.held.is_none() {
            tracing::info!(lease = %self.key, holder = %self.holder, "lease acquired");
            metrics::gauge!(crate::metrics::LEASE_HELD, "lease" => self.key.clone()).set(1.0);
        }
        self.held = Some(Held { revision, written });
        Ok(true)
    }

    /// Lets the lease go if we hold it (orderly stop), so another replica
    /// takes it at its next attempt; a key someone else wrote meanwhile is
    /// left alone.
    pub async fn release(&mut self) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        metrics::gauge!(crate::metrics::LEASE_HELD, "lease" => self.key.clone()).set(0.0);
        self.kv
            .delete_expect_revision(&self.key, Some(held.revision))
            .await
            .map_err(|e| BusError::js("lease release", e))?;
        tracing::info!(lease = %self.key, holder = %self.holder, "lease released");
        Ok(())
    }

    /// The revision of the key when its current value is our id.
    async fn ours(&self) -> Result<Option<u64>> {
        let entry = self
            .kv
            .entry(&self.key)
            .await
            .map_err(|e| BusError::js("lease read", e))?;
        Ok(entry
            .filter(|e| e.operation == Operation::Put && e.value.as_ref() == self.holder.as_bytes())
            .map(|e| e.revision))
    }

    fn lost(&mut self, why: &str) {
        self.held = None;
        tracing::info!(lease = %self.key, holder = %self.holder, why, "lease lost");
        metrics::gauge!(crate::metrics::LEASE_HELD, "lease" => self.key.clone()).set(0.0);
    }
}

fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string());
    // RandomState is seeded from the OS's random source.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{host}-{}-{random:016x}", std::process::id())
}
