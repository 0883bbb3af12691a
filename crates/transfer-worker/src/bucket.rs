//! The token bucket a worker's transfers on one lane share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long a waiting transfer sleeps at most before looking at the rate
/// again, so a share that grows or shrinks applies to waits under way.
const RECHECK: Duration = Duration::from_millis(100);

/// A token bucket that may go into debt: a chunk larger than the bucket is
/// let through once it is paid for, so any chunk size works. Each chunk
/// takes its place in line (bytes reserved so far) and passes once the
/// bytes credited at the rate — whatever it is meanwhile — reach it.
#[derive(Debug)]
pub struct Bucket {
    rate: AtomicU64,
    state: Mutex<Credit>,
}

#[derive(Debug)]
struct Credit {
    /// Bytes paid for since the bucket was made (saved up included).
    credited: f64,
    /// Bytes let through or waiting, since the bucket was made.
    reserved: f64,
    last: Instant,
}

impl Credit {
    /// Credits the time since `last` at `rate`; at most a quarter second of
    /// burst is saved up beyond what is reserved.
    fn refill(&mut self, rate: u64) {
        let now = Instant::now();
        if rate == 0 {
            self.credited = self.credited.max(self.reserved);
        } else {
            let earned = now.duration_since(self.last).as_secs_f64() * rate as f64;
            self.credited = (self.credited + earned).min(self.reserved + rate as f64 / 4.0);
        }
        self.last = now;
    }
}

impl Default for Bucket {
    /// Unlimited.
    fn default() -> Self {
        Self::new(0)
    }
}

impl Bucket {
    pub fn new(rate: u64) -> Self {
        Self {
            rate: AtomicU64::new(rate),
            state: Mutex::new(Credit {
                credited: 0.0,
                reserved: 0.0,
                last: Instant::now(),
            }),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// The time until now is credited at the old rate, the rest at `rate`.
    pub fn set_rate(&self, rate: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.refill(self.rate());
        }
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// Waits until `bytes` may pass.
    pub async fn acquire(&self, bytes: u64) {
        if self.rate() == 0 {
            return;
        }
        let Some(place) = self.reserve(bytes) else {
            return;
        };
        loop {
            let rate = self.rate();
            let owed = {
                let Ok(mut state) = self.state.lock() else {
                    return;
                };
                state.refill(rate);
                place - state.credited
            };
            if owed <= 0.0 || rate == 0 {
                return;
            }
            let wait = Duration::from_secs_f64(owed / rate as f64);
            tokio::time::sleep(wait.min(RECHECK)).await;
        }
    }

    /// Puts `bytes` in line; returns where their end is.
    fn reserve(&self, bytes: u64) -> Option<f64> {
        let mut state = self.state.lock().ok()?;
        state.refill(self.rate());
        state.reserved += bytes as f64;
        Some(state.reserved)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

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

    #[tokio::test(start_paused = true)]
    async fn a_wait_under_way_follows_a_rate_change() {
        let b = Arc::new(Bucket::new(1000));
        let start = tokio::time::Instant::now();
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(4000).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        // 1000 paid; the other 3000 at 3000 a second take one more second.
        b.set_rate(3000);
        waiting.await.unwrap();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1900) && waited <= Duration::from_millis(2200),
            "{waited:?}"
        );
    }
}
