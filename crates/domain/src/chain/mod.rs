//! Backup chains, restore windows and restore plans.
//!
//! A FULL starts a chain; LOGs extend it while their positions are
//! contiguous (consecutive binlog numbers for MySQL, matching LSNs for SQL
//! Server). The restore window is the union of what every chain can reach.
//! A gap is reported, never skipped: every time inside the window and outside
//! the reported gaps has a restore plan, and no other time does.
//!
//! Everything here is pure and deterministic: input order and duplicated
//! records (same backup id) never change an answer, and no input panics.
//! Backups whose position is unusable are left out of every chain; callers
//! learn why through [`validate_position`].

mod extend;
mod inventory;
mod plan;
mod position;
mod retention;
mod tail;
mod walk;
mod window;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::engine::BackupKind;

pub use extend::extend_window;
pub use plan::{restore_plan, PlanError};
pub use position::{validate_position, MAX_LSN_DIGITS};
pub use retention::{expirable, pending, seed_set};
pub use tail::{window_state, Beyond, WindowState, WindowTail, MAX_BEYOND};
pub use window::{latest_data_time, restore_window};

/// Unix time in milliseconds.
pub type Millis = i64;

/// Where a backup sits in its engine's log sequence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum ChainPosition {
    /// MySQL FULL: binlog file number + offset of its consistent point.
    /// MySQL LOG: one closed binlog file `file_number` (offset = its length;
    /// ignored for chaining).
    Mysql { file_number: u64, offset: u64 },
    /// SQL Server: LSNs as decimal strings of up to 25 digits, compared as
    /// numbers.
    Sqlserver { first_lsn: String, last_lsn: String },
}

/// The chain-relevant facts of one backup.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainBackup {
    pub backup_id: String,
    pub kind: BackupKind,
    pub data_start: Millis,
    /// For a FULL, the time of its consistent point.
    pub data_end: Millis,
    pub position: ChainPosition,
}

/// A stretch of time no restore plan can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Last restorable moment before the gap.
    pub after: Millis,
    /// First restorable moment after the gap: the consistent time of the FULL
    /// that restarts the window. `None` for a gap at the end of the window
    /// (later backups exist but cannot be reached from any FULL).
    pub resumes_at: Option<Millis>,
    /// Why the chain stopped, e.g. "missing binlog 7" or
    /// "missing log after lsn 1234".
    pub reason: String,
}

impl Gap {
    /// Whether `t` lies strictly inside the gap, where every plan fails.
    pub fn contains(&self, t: Millis) -> bool {
        // Spelled out because `Option::is_none_or` is newer than the MSRV.
        t > self.after
            && match self.resumes_at {
                Some(r) => t < r,
                None => true,
            }
    }
}

/// Every restorable time is in `[earliest, latest]` and outside `gaps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreWindow {
    pub earliest: Millis,
    /// The latest data time point: the end of the contiguous chain that
    /// reaches furthest.
    pub latest: Millis,
    /// Holes inside the window, oldest first, then at most one gap at its end.
    pub gaps: Vec<Gap>,
}

/// Restore `full_backup_id`, apply `log_backup_ids` in order, stop at `stop_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePlan {
    pub full_backup_id: String,
    pub log_backup_ids: Vec<String>,
    pub stop_at: Millis,
}
