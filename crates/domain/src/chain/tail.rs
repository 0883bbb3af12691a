//! What a stored restore window needs to be extended by the next copy
//! without reading every copy again: the "open" chains, those the next LOG
//! at the end of the chain would extend, summarised in a few numbers.

use serde::{Deserialize, Serialize};

use super::inventory::Inventory;
use super::walk::{Chain, Next};
use super::window::sweep;
use super::{ChainBackup, Millis, RestoreWindow};
use crate::engine::Engine;

/// A restore window and, when the common arrivals can extend it, its tail.
/// Computed from every copy by [`window_state`], then kept up to date by
/// [`super::extend_window`]; both give the same value for the same copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    pub window: Option<RestoreWindow>,
    /// `None` when only a full recompute can say what the next copy does
    /// (a hole at the end of the window, FULLs beyond the chain's end).
    pub tail: Option<WindowTail>,
}

/// The open chains: MySQL, those waiting for binlog `open_at` (no chain waits
/// for a later one); SQL Server, those whose next log starts at `open_at`
/// (the largest last LSN of any log) and the log-less FULLs at or after it,
/// which a log from `open_at` past `covers` extends too. The chain reaching
/// furthest is always open. Positions are MySQL binlog numbers or SQL
/// Server LSNs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTail {
    /// Where a LOG must start to extend every open chain.
    pub open_at: u128,
    /// SQL Server: how far that LOG must reach (the largest last LSN of an
    /// open log-less FULL, or `open_at`). MySQL: `open_at`.
    pub covers: u128,
    /// MySQL: binlogs `run_from..open_at` are all synced, so a FULL in that
    /// range reaches `open_at` too. SQL Server: `open_at`.
    pub run_from: u128,
    /// Earliest and latest consistent time of the open chains' FULLs.
    pub first_start: Millis,
    pub last_start: Millis,
    /// What the chain reaching furthest needs next: the reason of a gap a
    /// later FULL opens after the window's latest point.
    pub furthest_next: u128,
    /// MySQL: the synced binlogs after `open_at`, which no chain reaches
    /// until `open_at` is synced (logs copied in parallel land out of
    /// order), by binlog. Each one's end, for when the chain walks it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub beyond: Vec<Beyond>,
}

/// A synced binlog after the hole at the end of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beyond {
    pub file: u64,
    pub data_end: Millis,
}

/// At most this many binlogs are kept beyond the hole; a longer run (a
/// binlog lost for good) is left to the full recompute, as the state would
/// grow with every later log.
pub const MAX_BEYOND: usize = 256;

/// The window of `synced` and its tail, from every copy.
pub fn window_state(engine: Engine, synced: &[ChainBackup]) -> WindowState {
    let inv = Inventory::new(engine, synced);
    match sweep(&inv) {
        None => WindowState {
            window: None,
            tail: None,
        },
        Some((window, furthest)) => {
            let tail = tail_of(&inv, &window, furthest);
            WindowState {
                window: Some(window),
                tail,
            }
        }
    }
}

fn tail_of(
    inv: &Inventory<'_>,
    window: &RestoreWindow,
    furthest: &Chain<'_>,
) -> Option<WindowTail> {
    // Later logs no chain reaches: MySQL keeps them (`beyond`) until the
    // missing binlog comes; SQL Server leaves it to a full recompute.
    let hole = window.gaps.last().is_some_and(|g| g.resumes_at.is_none());
    let beyond = match furthest.next {
        Next::Binlog(n) if hole => inv.index.binlogs_after(n),
        _ if hole => return None,
        _ => Vec::new(),
    };
    if beyond.len() > MAX_BEYOND {
        return None;
    }
    let (open_at, furthest_next) = match furthest.next {
        Next::Binlog(n) => (u128::from(n), u128::from(n)),
        Next::AfterLsn(at) => (inv.index.max_last_lsn()?, at),
        Next::Exhausted => return None,
    };
    let mut open = Vec::new();
    for chain in &inv.chains {
        let next = match chain.next {
            Next::Binlog(n) => u128::from(n),
            Next::AfterLsn(at) => at,
            Next::Exhausted => u128::MAX,
        };
        match furthest.next {
            // A FULL waiting for a later binlog than the chain's end is
            // extended by neither the next LOG nor the one after.
            Next::Binlog(_) if next > open_at => return None,
            Next::Binlog(_) if next == open_at => open.push((chain, next)),
            Next::AfterLsn(_) if next >= open_at => open.push((chain, next)),
            _ => {}
        }
    }
    let starts = open.iter().map(|(c, _)| c.start());
    let first_start = starts.clone().min()?;
    let last_start = starts.max()?;
    let covers = open.iter().map(|(_, next)| *next).max()?;
    let run_from = match furthest.next {
        Next::Binlog(_) => open.iter().map(|(c, _)| c.full.pos.number()).min()?,
        _ => open_at,
    };
    Some(WindowTail {
        open_at,
        covers,
        run_from,
        first_start,
        last_start,
        furthest_next,
        beyond,
    })
}
