//! Bandwidth limits per (source region, target region), shared by every
//! transfer of this worker and changeable at runtime: the limits live in the
//! `<NS>_LIMITS` key-value bucket (`bw.<source>.<target>` for the full lane,
//! `bw.<source>.<target>.log` for the log lane, bytes per second, 0 or
//! absent: unlimited), and the worker watches it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use xregion_bus::Namespace;

/// A token bucket that may go into debt: a chunk larger than the bucket is
/// let through and paid for by waiting afterwards, so any chunk size works.
#[derive(Debug)]
pub struct Bucket {
    rate: AtomicU64,
    state: Mutex<(f64, Instant)>,
}

impl Default for Bucket {
    /// Unlimited.
    fn default() -> Self {
        Self::new(0)
    }
}

impl Bucket {
    fn new(rate: u64) -> Self {
        Self {
            rate: AtomicU64::new(rate),
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// Waits until `bytes` may pass.
    pub async fn acquire(&self, bytes: u64) {
        let rate = self.rate();
        if rate == 0 {
            return;
        }
        let wait = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let now = Instant::now();
            let (tokens, last) = *state;
            // At most a quarter second of burst is saved up.
            let refilled = (tokens + now.duration_since(last).as_secs_f64() * rate as f64)
                .min(rate as f64 / 4.0);
            let left = refilled - bytes as f64;
            *state = (left, now);
            if left < 0.0 {
                Duration::from_secs_f64(-left / rate as f64)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[derive(Debug, Default)]
pub struct Throttle {
    buckets: RwLock<HashMap<String, Arc<Bucket>>>,
}

impl Throttle {
    /// The bucket of a key, created unlimited on first use so later limit
    /// changes reach transfers already holding it.
    pub fn bucket(&self, key: &str) -> Arc<Bucket> {
        if let Some(b) = self.buckets.read().ok().and_then(|m| m.get(key).cloned()) {
            return b;
        }
        let Ok(mut map) = self.buckets.write() else {
            return Arc::new(Bucket::new(0));
        };
        map.entry(key.to_string())
            .or_insert_with(|| Arc::new(Bucket::new(0)))
            .clone()
    }

    pub fn set(&self, key: &str, rate: u64) {
        self.bucket(key).set_rate(rate);
        tracing::info!(key, bytes_per_sec = rate, "bandwidth limit set");
    }

    /// The bucket a transfer uses: the full lane is always throttled by the
    /// pair's limit; the log lane only by its own key when one is set.
    pub fn for_transfer(&self, source: &str, target: &str, log: bool) -> Arc<Bucket> {
        self.bucket(&Namespace::bandwidth_key(source, target, log))
    }
}

/// Follows the limits bucket until `stop`.
pub async fn follow_limits(
    kv: async_nats::jetstream::kv::Store,
    throttle: Arc<Throttle>,
    stop: CancellationToken,
) {
    // Watch first, then load what is there: a change in between shows up in
    // both, and the watch, processed last, wins. (A watch with history ends
    // at once on an empty bucket, so it cannot do both.)
    let mut watch = match kv.watch_all().await {
        Ok(w) => w,
        Err(error) => {
            tracing::error!(%error, "cannot watch bandwidth limits");
            return;
        }
    };
    match kv.keys().await {
        Ok(mut keys) => {
            while let Some(Ok(key)) = keys.next().await {
                if let Ok(Some(value)) = kv.get(&key).await {
                    apply(&throttle, &key, Some(&value));
                }
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read bandwidth limits"),
    }
    loop {
        let entry = tokio::select! {
            _ = stop.cancelled() => return,
            e = watch.next() => match e { Some(Ok(e)) => e, Some(Err(error)) => { tracing::warn!(%error, "limits watch error"); continue } None => return },
        };
        let value = matches!(entry.operation, async_nats::jetstream::kv::Operation::Put)
            .then_some(&entry.value);
        apply(&throttle, &entry.key, value);
    }
}

/// A put sets the limit; a delete (None) lifts it.
fn apply(throttle: &Throttle, key: &str, value: Option<&bytes::Bytes>) {
    let rate = match value {
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok()),
        None => Some(0),
    };
    match rate {
        Some(rate) => throttle.set(key, rate),
        None => tracing::warn!(
            key,
            "bandwidth limit is not a number of bytes per second; ignored"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn debt_is_paid_by_waiting() {
        let b = Bucket::new(1000);
        let start = tokio::time::Instant::now();
        b.acquire(2000).await;
        b.acquire(1000).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(2900), "{waited:?}");
    }

    #[tokio::test]
    async fn unlimited_and_runtime_changes() {
        let t = Throttle::default();
        let b = t.for_transfer("a", "b", false);
        assert_eq!(b.rate(), 0);
        t.set("bw.a.b", 500);
        assert_eq!(b.rate(), 500, "a held bucket sees the change");
        assert_eq!(
            t.for_transfer("a", "b", true).rate(),
            0,
            "logs are not throttled by the full lane's limit"
        );
    }
}
