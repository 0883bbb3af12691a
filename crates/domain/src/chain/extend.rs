//! Extending a stored restore window by one new copy, from the stored state
//! alone: the common arrivals (the next LOG at the end of the chain, a FULL
//! after the window's end or inside its last stretch) cost the same however
//! long the history is. Anything else answers `None`, and the caller
//! recomputes from every copy with [`super::window_state`].

use super::position::{normalize, Pos};
use super::tail::{Beyond, WindowState, WindowTail, MAX_BEYOND};
use super::walk::Next;
use super::{ChainBackup, Gap, Millis, RestoreWindow};
use crate::engine::{BackupKind, Engine};

/// The state once `added` is synced too, or `None` when only a full
/// recompute can say (a backup out of order, one filling a hole, a FULL
/// before the window's last stretch, a state without a tail). `added` must
/// not be among the copies `state` was computed from: an id is synced once.
pub fn extend_window(
    engine: Engine,
    state: &WindowState,
    added: &ChainBackup,
) -> Option<WindowState> {
    let Ok(pos) = normalize(engine, added.kind, &added.position) else {
        // Unusable: left out of every chain, so nothing moves.
        return Some(state.clone());
    };
    let empty_log = matches!(pos, Pos::Sqlserver { first, last } if first == last);
    if added.kind == BackupKind::Log && empty_log {
        return Some(state.clone()); // holds no log record: chains skip it
    }
    let Some(window) = &state.window else {
        // No FULL yet: logs alone restore nothing; a first FULL may walk
        // any of them, which only the copies can say.
        return (added.kind == BackupKind::Log).then(|| state.clone());
    };
    let tail = state.tail.as_ref()?;
    match (added.kind, pos) {
        (BackupKind::Log, Pos::Mysql { file, .. }) => {
            extend_by_binlog(window, tail, file, added.data_end)
        }
        (BackupKind::Log, _) => extend_by_log(window, tail, pos, added.data_end),
        // A FULL beside binlogs beyond the hole may start a chain that
        // walks them: only the copies can say.
        (BackupKind::Full, _) if !tail.beyond.is_empty() => None,
        (BackupKind::Full, _) => add_full(engine, window, tail, pos, added.data_end),
    }
}

/// A binlog: the one every open chain waits for extends them, and so does
/// each binlog already synced beyond it that follows on; one further on
/// waits beyond the hole until the missing binlog comes.
fn extend_by_binlog(
    window: &RestoreWindow,
    tail: &WindowTail,
    file: u64,
    end: Millis,
) -> Option<WindowState> {
    if u128::from(file) > tail.open_at {
        return wait_beyond(window, tail, file, end);
    }
    let binlog = |file| Pos::Mysql { file, offset: 0 };
    let mut state = extend_by_log(window, tail, binlog(file), end)?;
    while let (Some(window), Some(tail)) = (&mut state.window, &state.tail) {
        let Some(next) = tail.beyond.first() else {
            break;
        };
        if u128::from(next.file) != tail.open_at {
            // Still a hole before the rest: the window ends there.
            window.gaps.push(hole_at_the_end(window, tail)?);
            break;
        }
        let mut rest = tail.clone();
        let next = rest.beyond.remove(0);
        state = extend_by_log(window, &rest, binlog(next.file), next.data_end)?;
    }
    Some(state)
}

/// A binlog after the one the open chains wait for: no chain reaches it
/// yet. The first one opens a gap at the window's end.
fn wait_beyond(
    window: &RestoreWindow,
    tail: &WindowTail,
    file: u64,
    end: Millis,
) -> Option<WindowState> {
    // A second copy of a binlog: which one a chain walks is the copies' call.
    if tail.beyond.len() >= MAX_BEYOND || tail.beyond.iter().any(|b| b.file == file) {
        return None;
    }
    let mut window = window.clone();
    if tail.beyond.is_empty() {
        window.gaps.push(hole_at_the_end(&window, tail)?);
    }
    let mut tail = tail.clone();
    let at = tail.beyond.partition_point(|b| b.file < file);
    tail.beyond.insert(
        at,
        Beyond {
            file,
            data_end: end,
        },
    );
    Some(WindowState {
        window: Some(window),
        tail: Some(tail),
    })
}

/// The gap after the window's latest point while binlogs wait beyond the
/// one the chain reaching furthest needs.
fn hole_at_the_end(window: &RestoreWindow, tail: &WindowTail) -> Option<Gap> {
    Some(Gap {
        after: window.latest,
        resumes_at: None,
        reason: next_of(Engine::Mysql, tail.open_at)?.reason(),
    })
}

/// A LOG starting where every open chain waits extends all of them: each
/// now reaches `end`, so the window gains `[first_start, end]`.
fn extend_by_log(
    window: &RestoreWindow,
    tail: &WindowTail,
    pos: Pos,
    end: Millis,
) -> Option<WindowState> {
    let next = match pos {
        Pos::Mysql { file, .. } if u128::from(file) == tail.open_at => {
            // Binlog numbers run out at u64::MAX: nothing can follow.
            file.checked_add(1).map(u128::from)
        }
        Pos::Sqlserver { first, last } if first == tail.open_at && last > tail.covers => Some(last),
        _ => return None,
    };
    // An open FULL consistent after the log's end is not reached by it:
    // the window would gain a piece that is not one interval.
    if end < tail.last_start {
        return None;
    }
    // Every hole after the first open FULL closes: the chain reaching
    // furthest is open and starts after the last hole, so each of those
    // holes ends at or before `last_start`, which the log reaches.
    let kept = window.gaps.iter().filter(|g| g.after < tail.first_start);
    let window = RestoreWindow {
        earliest: window.earliest,
        latest: window.latest.max(end),
        gaps: kept.cloned().collect(),
    };
    let tail = next.map(|n| WindowTail {
        open_at: n,
        covers: n,
        run_from: match pos {
            Pos::Mysql { .. } => tail.run_from,
            Pos::Sqlserver { .. } => n,
        },
        furthest_next: n,
        ..tail.clone()
    });
    Some(WindowState {
        window: Some(window),
        tail,
    })
}

/// A FULL whose chain the state can predict: MySQL, one inside the synced
/// run (it walks to the run's end) or one beyond it (log-less); SQL
/// Server, one at or past the last log's end (log-less).
fn add_full(
    engine: Engine,
    window: &RestoreWindow,
    tail: &WindowTail,
    pos: Pos,
    start: Millis,
) -> Option<WindowState> {
    // What the new chain waits for, and whether it joins the open chains.
    let (next, joins) = match pos {
        Pos::Mysql { file, .. } => {
            let p = u128::from(file);
            if (tail.run_from..=tail.open_at).contains(&p) {
                (tail.open_at, true)
            } else if p > tail.open_at && start > window.latest {
                (p, false)
            } else {
                return None;
            }
        }
        Pos::Sqlserver { last, .. } if last >= tail.open_at => (last, true),
        Pos::Sqlserver { .. } => return None,
    };
    if start > window.latest {
        // After everything: a hole from the window's end to this FULL,
        // which the furthest chain's missing piece explains.
        let mut gaps = window.gaps.clone();
        gaps.push(Gap {
            after: window.latest,
            resumes_at: Some(start),
            reason: next_of(engine, tail.furthest_next)?.reason(),
        });
        let tail = if joins {
            WindowTail {
                covers: tail.covers.max(next),
                last_start: start,
                furthest_next: next,
                ..tail.clone()
            }
        } else {
            WindowTail {
                open_at: next,
                covers: next,
                run_from: next,
                first_start: start,
                last_start: start,
                furthest_next: next,
                beyond: Vec::new(),
            }
        };
        let window = RestoreWindow {
            earliest: window.earliest,
            latest: start,
            gaps,
        };
        return Some(WindowState {
            window: Some(window),
            tail: Some(tail),
        });
    }
    // Inside the last stretch without holes, a chain ending no later than
    // the window changes nothing the window says...
    let last_stretch = match window.gaps.last() {
        Some(g) => g.resumes_at?,
        None => window.earliest,
    };
    // ...unless it becomes the chain reaching furthest while waiting for
    // something else: only a SQL Server FULL can, ending at its own start.
    let not_furthest =
        next == tail.furthest_next || start < window.latest || tail.last_start < start;
    if !joins || start < last_stretch || !not_furthest {
        return None;
    }
    let tail = WindowTail {
        covers: tail.covers.max(next),
        first_start: tail.first_start.min(start),
        last_start: tail.last_start.max(start),
        ..tail.clone()
    };
    Some(WindowState {
        window: Some(window.clone()),
        tail: Some(tail),
    })
}

fn next_of(engine: Engine, position: u128) -> Option<Next> {
    match engine {
        Engine::Mysql => u64::try_from(position).ok().map(Next::Binlog),
        Engine::Sqlserver => Some(Next::AfterLsn(position)),
    }
}
