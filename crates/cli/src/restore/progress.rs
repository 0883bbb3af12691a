//! Progress of one download on stderr (stdout stays for the result): at
//! most one line a second with bytes, share and rate, and a last line with
//! what was fetched and what an earlier run had left.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    /// On a terminal, an indicatif bar instead of the once-a-second lines
    /// (piped stderr keeps the lines, which logs and tests read).
    bar: Option<ProgressBar>,
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
            bar: bar(label, total, done, std::io::stderr().is_terminal()),
        }
    }

    pub fn advance(&mut self, n: u64) {
        self.done += n;
        self.fetched += n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
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
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
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

/// The bar of one file's download, or none when stderr is not a terminal.
fn bar(label: &str, total: u64, done: u64, tty: bool) -> Option<ProgressBar> {
    if !tty {
        return None;
    }
    let style = ProgressStyle::with_template(
        "{prefix}  [{bar:30}] {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("#>.");
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_prefix(label.to_string());
    bar.set_position(done.min(total));
    Some(bar)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_gets_a_bar_from_what_is_on_disk_and_a_pipe_gets_lines() {
        assert!(bar("f", 100, 40, false).is_none());
        let b = bar("f", 100, 40, true).unwrap();
        assert_eq!((b.length(), b.position()), (Some(100), 40));
        // More on disk than the manifest says (a changed file) stays full.
        assert_eq!(bar("f", 100, 400, true).unwrap().position(), 100);
    }
}
