//! The other workers copying on each lane, followed in the `<NS>_WORKERS`
//! bucket (`presence`): every change recomputes this worker's shares.
//! JetStream does not announce keys that expire, so a presence not renewed
//! within PRESENCE_TTL is dropped here too.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::kv::{Operation, Store};
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use xregion_bus::Namespace;

use crate::presence::{HEARTBEAT, PRESENCE_TTL};
use crate::throttle::Throttle;

/// Presence keys and when each was last put, as this worker saw them.
#[derive(Debug, Default)]
struct Seen(HashMap<String, Instant>);

impl Seen {
    /// Records a put or a delete; true when the set of keys changed.
    fn record(&mut self, key: String, put: bool, at: Instant) -> bool {
        if put {
            self.0.insert(key, at).is_none()
        } else {
            self.0.remove(&key).is_some()
        }
    }

    /// Drops what was not renewed within PRESENCE_TTL of `now`; true when
    /// something was dropped.
    fn prune(&mut self, now: Instant) -> bool {
        let before = self.0.len();
        self.0
            .retain(|_, at| now.saturating_duration_since(*at) < PRESENCE_TTL);
        self.0.len() != before
    }

    /// Other workers per lane: `me` is not counted (a worker always counts
    /// itself).
    fn peers(&self, me: &str) -> HashMap<String, usize> {
        let mut peers = HashMap::new();
        for key in self.0.keys() {
            if let Some((lane, worker)) = Namespace::presence_of(key) {
                if worker != me {
                    *peers.entry(lane.to_string()).or_insert(0) += 1;
                }
            }
        }
        peers
    }
}

/// Follows the workers bucket until `stop`; a watch that fails is made
/// again (the shares stay as they were meanwhile).
pub async fn follow_peers(kv: Store, throttle: Arc<Throttle>, me: String, stop: CancellationToken) {
    let mut seen = Seen::default();
    while !stop.is_cancelled() {
        follow_once(&kv, &throttle, &me, &mut seen, &stop).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
}

async fn follow_once(
    kv: &Store,
    throttle: &Throttle,
    me: &str,
    seen: &mut Seen,
    stop: &CancellationToken,
) {
    // Watch first, then read what is there: a put in between shows up in
    // both, which is harmless.
    let mut watch = match kv.watch_all().await {
        Ok(w) => w,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the workers on bandwidth lanes");
            return;
        }
    };
    match kv.keys().await {
        Ok(mut keys) => {
            let now = Instant::now();
            while let Some(Ok(key)) = keys.next().await {
                seen.record(key, true, now);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read the workers on bandwidth lanes"),
    }
    throttle.set_peers(&seen.peers(me));
    let mut prune = tokio::time::interval(HEARTBEAT);
    loop {
        let changed = tokio::select! {
            _ = stop.cancelled() => return,
            _ = prune.tick() => seen.prune(Instant::now()),
            e = watch.next() => match e {
                Some(Ok(entry)) => {
                    let put = matches!(entry.operation, Operation::Put);
                    seen.record(entry.key, put, Instant::now())
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "workers watch error");
                    false
                }
                None => return,
            },
        };
        if changed {
            throttle.set_peers(&seen.peers(me));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn peers_per_lane_leave_out_this_worker_and_the_expired() {
        let t0 = Instant::now();
        let mut seen = Seen::default();
        for (lane, worker) in [("bw.a.b", "me"), ("bw.a.b", "w2"), ("bw.a.b", "w3")] {
            let key = Namespace::worker_presence_key(lane, worker);
            assert!(seen.record(key, true, t0));
        }
        let log = Namespace::worker_presence_key("bw.a.b.log", "w2");
        assert!(seen.record(log.clone(), true, t0));
        assert!(
            !seen.record(log.clone(), true, t0 + HEARTBEAT),
            "a renewal is no change"
        );
        assert_eq!(
            seen.peers("me"),
            HashMap::from([("bw.a.b".to_string(), 2), ("bw.a.b.log".to_string(), 1)])
        );

        // w2 left the full lane; only its log presence is renewed.
        assert!(seen.record(Namespace::worker_presence_key("bw.a.b", "w2"), false, t0));
        assert!(!seen.prune(t0 + Duration::from_secs(2)));
        assert!(
            seen.prune(t0 + PRESENCE_TTL),
            "w3 stopped renewing: it is gone"
        );
        assert_eq!(
            seen.peers("me"),
            HashMap::from([("bw.a.b.log".to_string(), 1)])
        );
    }
}
