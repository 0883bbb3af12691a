//! The memory files copied whole (one GET, one PUT) may hold at once, so
//! that many small logs can be in flight without many large ones filling
//! the worker's memory.

use tokio::sync::{Semaphore, SemaphorePermit};

/// Memory is counted in these units (a permit each).
const UNIT: u64 = 64 * 1024;

pub struct WholeBudget {
    permits: Semaphore,
    total: u32,
}

impl WholeBudget {
    pub fn new(bytes: u64) -> Self {
        let total = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Self {
            permits: Semaphore::new(total as usize),
            total,
        }
    }

    /// Waits until `size` bytes fit; a file larger than the whole budget
    /// waits until it has the budget to itself.
    pub async fn hold(&self, size: u64) -> Option<SemaphorePermit<'_>> {
        let units = u32::try_from(size.div_ceil(UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.total);
        // The semaphore is never closed.
        self.permits.acquire_many(units).await.ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn small_files_share_the_budget_and_a_large_one_waits_for_room() {
        let budget = WholeBudget::new(1024 * 1024);
        // Sixteen 64 KiB files fit at once.
        let mut held = Vec::new();
        for _ in 0..16 {
            held.push(budget.hold(64 * 1024).await.unwrap());
        }
        let more = tokio::time::timeout(Duration::from_millis(50), budget.hold(1)).await;
        assert!(more.is_err(), "a seventeenth file got memory");
        held.pop();
        assert!(budget.hold(1).await.is_some());
        drop(held);
        // A file larger than the budget takes all of it, then leaves it.
        let big = budget.hold(10 * 1024 * 1024).await.unwrap();
        let small = tokio::time::timeout(Duration::from_millis(50), budget.hold(1)).await;
        assert!(small.is_err(), "memory given beside a file holding it all");
        drop(big);
        assert!(budget.hold(512 * 1024).await.is_some());
    }
}
