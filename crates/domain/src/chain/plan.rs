//! Restore plans: which FULL and LOGs restore the data as of a given time.

use thiserror::Error;

use super::inventory::Inventory;
use super::window::window_of;
use super::{ChainBackup, Millis, RestorePlan};
use crate::engine::{BackupKind, Engine};

/// Why no plan exists. Messages are shown to users as-is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error(
        "no synced full backup has a consistent point at or before the restore time {restore_time} (unix ms)"
    )]
    NoFullBefore { restore_time: Millis },
    #[error(
        "restore time {restore_time} (unix ms) is after the latest restorable data time point {latest} (unix ms)"
    )]
    AfterLatest {
        restore_time: Millis,
        latest: Millis,
    },
    #[error(
        "restore time is inside a gap of the backup chain: data is restorable up to {after} (unix ms), then {reason}"
    )]
    MissingLog { after: Millis, reason: String },
    #[error("backup {backup_id} cannot be used in a restore: {reason}")]
    InvalidPosition { backup_id: String, reason: String },
    #[error("no backups have been synced yet")]
    NothingSynced,
}

/// Uses the newest FULL whose chain reaches `restore_time`: its consistent
/// time is at or before it, and its contiguous LOGs reach it.
pub fn restore_plan(
    engine: Engine,
    synced: &[ChainBackup],
    restore_time: Millis,
) -> Result<RestorePlan, PlanError> {
    if synced.is_empty() {
        return Err(PlanError::NothingSynced);
    }
    let inv = Inventory::new(engine, synced);
    if let Some(chain) = inv.chains.iter().find(|c| c.reaches(restore_time)) {
        return Ok(chain.plan_to(restore_time));
    }
    Err(explain(&inv, restore_time))
}

/// Names the most specific cause. When a backup with an unusable position
/// sits where the missing piece would be, that backup is the likely cause.
fn explain(inv: &Inventory<'_>, t: Millis) -> PlanError {
    let window = match window_of(inv) {
        Some(w) if w.earliest <= t => w,
        _ => {
            return invalid_where(inv, BackupKind::Full, Millis::MIN, t)
                .unwrap_or(PlanError::NoFullBefore { restore_time: t })
        }
    };
    if t > window.latest {
        return PlanError::AfterLatest {
            restore_time: t,
            latest: window.latest,
        };
    }
    // Inside [earliest, latest] and reached by no chain: t is inside a hole,
    // and every hole is reported as a gap.
    let (after, reason) = match window.gaps.iter().find(|g| g.contains(t)) {
        Some(gap) => (gap.after, gap.reason.clone()),
        None => (window.earliest, "no chain reaches this time".to_owned()),
    };
    invalid_where(inv, BackupKind::Log, after, t).unwrap_or(PlanError::MissingLog { after, reason })
}

/// An unusable `kind` backup whose data overlaps (after, t].
fn invalid_where(
    inv: &Inventory<'_>,
    kind: BackupKind,
    after: Millis,
    t: Millis,
) -> Option<PlanError> {
    inv.invalid
        .iter()
        .filter(|b| b.backup.kind == kind)
        .filter(|b| match kind {
            BackupKind::Full => b.backup.data_end <= t,
            BackupKind::Log => b.backup.data_start <= t && b.backup.data_end > after,
        })
        .min_by_key(|b| (b.backup.data_start, b.backup.backup_id.as_str()))
        .map(|b| PlanError::InvalidPosition {
            backup_id: b.backup.backup_id.clone(),
            reason: b.reason.clone(),
        })
}
