//! Bandwidth limits per (source region, target region), shared by every
//! transfer of this worker and changeable at runtime: the limits live in the
//! `<NS>_LIMITS` key-value bucket (`bw.<source>.<target>` for the full lane,
//! `bw.<source>.<target>.log` for the log lane, bytes per second, 0 or
//! absent: unlimited), and the worker watches it. A lane's limit is shared
//! with the other workers copying on it (`presence`, `peers`): this worker's
//! bucket runs at its share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use xregion_bus::Namespace;

pub use crate::bucket::Bucket;
use crate::presence::{Active, Local};
use crate::share::share;

/// The gauge of this worker's share of each limited lane.
pub const SHARE_GAUGE: &str = "xregion_worker_bandwidth_share_bytes_per_second";

/// One lane as this worker sees it.
#[derive(Debug)]
struct Lane {
    bucket: Arc<Bucket>,
    /// The lane's limit, bytes per second (0: unlimited).
    limit: u64,
    /// Workers copying on the lane, this one included.
    workers: usize,
}

impl Lane {
    /// Unlimited, and this worker alone on it.
    fn new() -> Self {
        Self {
            bucket: Arc::new(Bucket::new(0)),
            limit: 0,
            workers: 1,
        }
    }

    /// Brings the bucket to this worker's share; logs a change.
    fn apply(&self, key: &str) {
        let rate = share(self.limit, self.workers);
        metrics::gauge!(SHARE_GAUGE, "key" => key.to_string()).set(rate as f64);
        if rate != self.bucket.rate() {
            self.bucket.set_rate(rate);
            tracing::info!(
                key,
                limit = self.limit,
                workers = self.workers,
                bytes_per_sec = rate,
                "bandwidth share changed"
            );
        }
    }
}

#[derive(Debug, Default)]
pub struct Throttle {
    lanes: Mutex<HashMap<String, Lane>>,
    presence: Arc<Local>,
}

/// What a transfer holds while it copies: the bucket of its lane, and its
/// place among the transfers that make this worker active on the lane.
pub struct Throttled {
    pub bucket: Arc<Bucket>,
    _active: Active,
}

impl Throttle {
    /// Runs `f` on the lane of `key`, created unlimited and alone on first
    /// use so later changes reach transfers already holding its bucket.
    fn with_lane<T>(&self, key: &str, f: impl FnOnce(&mut Lane) -> T) -> Option<T> {
        let mut lanes = self.lanes.lock().ok()?;
        let lane = lanes.entry(key.to_string()).or_insert_with(Lane::new);
        Some(f(lane))
    }

    pub fn bucket(&self, key: &str) -> Arc<Bucket> {
        self.with_lane(key, |lane| lane.bucket.clone())
            .unwrap_or_else(|| Arc::new(Bucket::new(0)))
    }

    /// Sets a lane's limit.
    pub fn set(&self, key: &str, limit: u64) {
        tracing::info!(key, bytes_per_sec = limit, "bandwidth limit set");
        self.with_lane(key, |lane| {
            lane.limit = limit;
            lane.apply(key);
        });
        // A lane that became limited is announced at once.
        self.presence.poke();
    }

    /// The limit of a lane (0: unlimited).
    pub fn limit(&self, key: &str) -> u64 {
        self.lanes
            .lock()
            .ok()
            .and_then(|lanes| lanes.get(key).map(|lane| lane.limit))
            .unwrap_or(0)
    }

    /// How many other workers copy on each lane (absent: none).
    pub fn set_peers(&self, peers: &HashMap<String, usize>) {
        let Ok(mut lanes) = self.lanes.lock() else {
            return;
        };
        for key in peers.keys() {
            lanes.entry(key.clone()).or_insert_with(Lane::new);
        }
        for (key, lane) in lanes.iter_mut() {
            let workers = 1 + peers.get(key).copied().unwrap_or(0);
            if workers != lane.workers {
                lane.workers = workers;
                lane.apply(key);
            }
        }
    }

    /// The lanes this worker copies on.
    pub fn presence(&self) -> &Arc<Local> {
        &self.presence
    }

    /// The bucket a transfer uses: the full lane is always throttled by the
    /// pair's limit; the log lane only by its own key when one is set.
    pub fn for_transfer(&self, source: &str, target: &str, log: bool) -> Throttled {
        let key = Namespace::bandwidth_key(source, target, log);
        Throttled {
            bucket: self.bucket(&key),
            _active: self.presence.enter(&key, log),
        }
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

    #[tokio::test]
    async fn unlimited_and_runtime_changes() {
        let t = Throttle::default();
        let b = t.for_transfer("a", "b", false);
        assert_eq!(b.bucket.rate(), 0);
        t.set("bw.a.b", 500);
        assert_eq!(b.bucket.rate(), 500, "a held bucket sees the change");
        assert_eq!(
            t.for_transfer("a", "b", true).bucket.rate(),
            0,
            "logs are not throttled by the full lane's limit"
        );
    }

    #[test]
    fn the_share_follows_the_workers_on_the_lane() {
        let t = Throttle::default();
        t.set("bw.a.b", 3000);
        let b = t.bucket("bw.a.b");
        assert_eq!(b.rate(), 3000, "alone");
        t.set_peers(&HashMap::from([("bw.a.b".to_string(), 2)]));
        assert_eq!(b.rate(), 1000, "a third with two others");
        t.set("bw.a.b", 6000);
        assert_eq!(b.rate(), 2000, "a new limit is shared too");
        t.set_peers(&HashMap::new());
        assert_eq!(b.rate(), 6000, "all of it once the others are gone");
        t.set("bw.a.b", 0);
        t.set_peers(&HashMap::from([("bw.a.b".to_string(), 2)]));
        assert_eq!(b.rate(), 0, "unlimited stays unlimited");
    }
}
