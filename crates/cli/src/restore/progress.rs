//! Progress of one download on stderr (stdout stays for the result): at
//! most one line a second with bytes, share and rate, and a last line with
//! what was fetched and what an earlier run had left.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(1);
const MIB: f64 = 1024.0 * 1024.0;

pub struct Progress<'a> {
    label: &'a str,
    total: u64,
    /// Bytes on disk, including what an earlier run left.
    done: u64,
    /// Bytes fetched by this run.
    fetched: u64,
    started: Instant,
    printed: Instant,
}

impl<'a> Progress<'a> {
    pub fn new(label: &'a str, total: u64, done: u64) -> Self {
        let now = Instant::now();
        Self {
            label,
            total,
            done,
            fetched: 0,
            started: now,
            printed: now,
        }
    }

    pub fn advance(&mut self, n: u64) {
        self.done += n;
        self.fetched += n;
        if self.printed.elapsed() >= EVERY && self.done < self.total {
            self.printed = Instant::now();
            eprintln!(
                "{}: {:.1} of {:.1} MiB ({}%), {:.1} MiB/s",
                self.label,
                self.done as f64 / MIB,
                self.total as f64 / MIB,
                self.done.saturating_mul(100) / self.total.max(1),
                self.rate()
            );
        }
    }

    /// The last line: `fetched N bytes … resumed at M bytes`.
    pub fn finish(&self, resumed: u64) {
        eprintln!(
            "{}: verified, fetched {} bytes in {:.1} s ({:.1} MiB/s), resumed at {resumed} bytes",
            self.label,
            self.fetched,
            self.started.elapsed().as_secs_f64(),
            self.rate()
        );
    }

    fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        self.fetched as f64 / MIB / secs
    }
}
