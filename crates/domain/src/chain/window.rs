//! The restore window: the union of what every chain reaches, with its gaps.

use super::inventory::Inventory;
use super::walk::Chain;
use super::{ChainBackup, Gap, Millis, RestoreWindow};
use crate::engine::Engine;

/// `None` when nothing is restorable (no usable FULL).
pub fn restore_window(engine: Engine, synced: &[ChainBackup]) -> Option<RestoreWindow> {
    window_of(&Inventory::new(engine, synced))
}

/// The latest data time point: the end of the contiguous chain reaching
/// furthest.
pub fn latest_data_time(engine: Engine, synced: &[ChainBackup]) -> Option<Millis> {
    restore_window(engine, synced).map(|w| w.latest)
}

pub(super) fn window_of(inv: &Inventory<'_>) -> Option<RestoreWindow> {
    sweep(inv).map(|(window, _)| window)
}

/// The window and the chain reaching furthest, whose next missing piece is
/// what a gap opening after the window's latest point would be about.
pub(super) fn sweep<'i, 'a>(inv: &'i Inventory<'a>) -> Option<(RestoreWindow, &'i Chain<'a>)> {
    // Each chain covers [start, end]; sweep them by start, longest first. A
    // stable sort keeps the newest FULL first among equals, so the reason of
    // a gap is deterministic.
    let mut sweep: Vec<&Chain<'_>> = inv.chains.iter().collect();
    sweep.sort_by(|a, b| a.start().cmp(&b.start()).then(b.end.cmp(&a.end)));
    let (first, rest) = sweep.split_first()?;
    let earliest = first.start();
    let mut furthest = *first;
    let mut gaps = Vec::new();
    for &chain in rest {
        if chain.start() > furthest.end {
            // Nothing covers (furthest.end, chain.start()): the chain that got
            // furthest stopped, and the next restorable point is this FULL.
            gaps.push(Gap {
                after: furthest.end,
                resumes_at: Some(chain.start()),
                reason: furthest.next.reason(),
            });
            furthest = chain;
        } else if chain.end > furthest.end {
            furthest = chain;
        }
    }
    // Later logs that no chain reaches mean the window stops at a hole, not
    // at the newest backup: say so instead of hiding it.
    if inv.index.has_beyond(furthest.next) {
        gaps.push(Gap {
            after: furthest.end,
            resumes_at: None,
            reason: furthest.next.reason(),
        });
    }
    let window = RestoreWindow {
        earliest,
        latest: furthest.end,
        gaps,
    };
    Some((window, furthest))
}
