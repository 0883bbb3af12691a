//! Where "now" comes from. Every service reads the time through a
//! [`Clock`], so tests can move it (`catalog.clock_offset_secs`,
//! `cleanup.clock_offset_secs`) and unit tests can pin it.

use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock, moved by `offset_ms`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock {
    pub offset_ms: i64,
}

impl SystemClock {
    /// The wall clock moved by `offset_secs` (a test knob; 0 in production).
    pub fn shared_with_offset_secs(offset_secs: i64) -> SharedClock {
        Arc::new(Self {
            offset_ms: offset_secs.saturating_mul(1000),
        })
    }
}

impl Clock for SystemClock {
    // The one place the wall clock is read.
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        now.saturating_add(self.offset_ms)
    }
}

/// The wall clock without offset.
pub fn system() -> SharedClock {
    Arc::new(SystemClock::default())
}

/// A clock that stands still until moved: for unit tests.
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    pub fn at(now_ms: i64) -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicI64::new(now_ms)))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_moves_the_system_clock() {
        let plain = SystemClock::default().now_ms();
        let ahead = SystemClock::shared_with_offset_secs(3600).now_ms();
        assert!(ahead - plain >= 3_600_000 - 1_000, "{ahead} vs {plain}");
        assert!(
            plain > 1_600_000_000_000,
            "epoch millis expected, got {plain}"
        );
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance_ms(500);
        assert_eq!(clock.now_ms(), 1_500);
    }
}
