//! The window kept up to date copy by copy equals the window recomputed
//! from every copy, whatever the order of arrivals, holes and expiries; and
//! the common arrivals never need the recompute.

use proptest::prelude::*;
use proptest::sample::Index;

use super::arbitrary::{engine, record};
use super::scenario::scenario;
use super::*;

/// What happens to a service's copies, one step at a time.
#[derive(Debug, Clone)]
enum Step {
    Synced(ChainBackup),
    /// Retention forgets a copy: the oldest (`None`) or any.
    Expired(Option<Index>),
}

/// Replays `steps` as the catalog does (an id already synced is a
/// redelivery; an expiry recomputes), checking the kept state against the
/// recompute after every step. Returns the copies that needed a recompute.
fn replay(e: Engine, steps: &[Step]) -> Vec<String> {
    let mut synced: Vec<ChainBackup> = Vec::new();
    let mut state = window_state(e, &synced);
    let mut recomputed = Vec::new();
    for step in steps {
        match step {
            Step::Synced(b) => {
                if synced.iter().any(|s| s.backup_id == b.backup_id) {
                    continue;
                }
                let extended = extend_window(e, &state, b);
                synced.push(b.clone());
                state = extended.unwrap_or_else(|| {
                    recomputed.push(b.backup_id.clone());
                    window_state(e, &synced)
                });
            }
            Step::Expired(which) => {
                if synced.is_empty() {
                    continue;
                }
                let i = match which {
                    Some(i) => i.index(synced.len()),
                    None => (0..synced.len())
                        .min_by_key(|i| (synced[*i].data_end, synced[*i].backup_id.clone()))
                        .unwrap(),
                };
                synced.remove(i);
                state = window_state(e, &synced);
            }
        }
        let full = window_state(e, &synced);
        assert_eq!(state, full, "after {step:?} with {synced:?}");
        assert_eq!(full.window, restore_window(e, &synced));
    }
    recomputed
}

fn synced_all(backups: impl IntoIterator<Item = ChainBackup>) -> Vec<Step> {
    backups.into_iter().map(Step::Synced).collect()
}

/// Arrivals in data order, as an upstream making backups produces them.
/// Backups of the same millisecond come in binlog order: a FULL consistent
/// at a rotation may sit at the end of one binlog or the start of the next.
fn in_order(mut backups: Vec<ChainBackup>) -> Vec<ChainBackup> {
    let binlog = |b: &ChainBackup| match b.position {
        ChainPosition::Mysql { file_number, .. } => file_number,
        ChainPosition::Sqlserver { .. } => 0,
    };
    backups.sort_by_key(|b| (b.data_end, binlog(b)));
    backups
}

#[test]
fn a_day_in_order_extends_after_the_first_full() {
    let steps = synced_all([
        my_log("b4", 4, 0, 900),
        my_full("f1", 5, 0, 1000),
        my_log("b5", 5, 900, 1500),
        my_log("b6", 6, 1500, 2500),
        // The next FULL, consistent after the window's end: a hole until
        // binlog 7 reaches it.
        my_full("f2", 7, 2500, 2600),
        my_log("b7", 7, 2500, 3500),
        my_log("b8", 8, 3500, 4500),
    ]);
    assert_eq!(replay(Engine::Mysql, &steps), vec!["f1"]);
}

#[test]
fn a_full_after_the_end_opens_a_hole_the_next_log_closes() {
    let e = Engine::Mysql;
    let before = [my_full("f1", 5, 0, 1000), my_log("b5", 5, 900, 1500)];
    let state = window_state(e, &before);
    let full = my_full("f2", 6, 1500, 1600);
    let with_full = extend_window(e, &state, &full).unwrap();
    assert_eq!(
        with_full.window,
        window(1000, 1600, vec![gap(1500, Some(1600), "missing binlog 6")])
    );
    let log = my_log("b6", 6, 1500, 2500);
    let closed = extend_window(e, &with_full, &log).unwrap();
    assert_eq!(closed.window, window(1000, 2500, vec![]));
    let all = [before[0].clone(), before[1].clone(), full, log];
    assert_eq!(closed, window_state(e, &all));
}

#[test]
fn binlogs_out_of_order_wait_beyond_the_hole_without_a_recompute() {
    let steps = synced_all([
        my_full("f1", 5, 0, 1000),
        my_log("b5", 5, 900, 1500),
        my_log("b8", 8, 3500, 4500), // binlog 6 missing: a hole at the end
        my_log("b7", 7, 2500, 3500),
        my_log("b6", 6, 1500, 2500), // fills it: the window reaches b8's end
        my_log("b9", 9, 4500, 5500), // in order again
    ]);
    assert_eq!(replay(Engine::Mysql, &steps), vec!["f1"]);

    let e = Engine::Mysql;
    let state = window_state(e, &[my_full("f1", 5, 0, 1000), my_log("b5", 5, 900, 1500)]);
    let waiting = extend_window(e, &state, &my_log("b7", 7, 2500, 3500)).unwrap();
    assert_eq!(
        waiting.window,
        window(1000, 1500, vec![gap(1500, None, "missing binlog 6")])
    );
    let closed = extend_window(e, &waiting, &my_log("b6", 6, 1500, 2500)).unwrap();
    assert_eq!(closed.window, window(1000, 3500, vec![]));
    assert!(closed.tail.unwrap().beyond.is_empty());
}

#[test]
fn a_day_of_binlogs_copied_in_parallel_needs_no_recompute() {
    // 288 binlogs, each landing up to 64 places away from its turn.
    let mut logs: Vec<ChainBackup> = (0..288u64)
        .map(|i| {
            my_log(
                &format!("b{i}"),
                5 + i,
                900 + 300 * i as i64,
                1200 + 300 * i as i64,
            )
        })
        .collect();
    for (i, chunk) in logs.chunks_mut(64).enumerate() {
        chunk.reverse();
        chunk.rotate_left(i % 7);
    }
    let mut arrivals = vec![my_full("f1", 5, 0, 1000)];
    arrivals.extend(logs);
    assert_eq!(replay(Engine::Mysql, &synced_all(arrivals)), vec!["f1"]);
}

#[test]
fn a_second_copy_of_a_binlog_beyond_the_hole_or_a_full_beside_them_recomputes() {
    let steps = synced_all([
        my_full("f1", 5, 0, 1000),
        my_log("b5", 5, 900, 1500),
        my_log("b7", 7, 2500, 3500),
        my_log("b7-again", 7, 2500, 3600),
        my_full("f2", 8, 3500, 3600),
        // A chain waiting past the hole (f2's): no tail until it is gone.
        my_log("b6", 6, 1500, 2500),
    ]);
    assert_eq!(
        replay(Engine::Mysql, &steps),
        vec!["f1", "b7-again", "f2", "b6"]
    );
}

#[test]
fn more_binlogs_beyond_the_hole_than_kept_recompute() {
    let e = Engine::Mysql;
    let mut synced = vec![my_full("f1", 5, 0, 1000), my_log("b5", 5, 900, 1500)];
    // Binlog 6 is lost for good.
    synced.extend((0..MAX_BEYOND as u64).map(|i| {
        let at = 2500 + 1000 * i as i64;
        my_log(&format!("b{}", i + 7), i + 7, at, at + 1000)
    }));
    let state = window_state(e, &synced);
    assert_eq!(state.tail.as_ref().unwrap().beyond.len(), MAX_BEYOND);
    let next = MAX_BEYOND as u64 + 7;
    let one_more = my_log("one-more", next, 0, 1);
    assert_eq!(extend_window(e, &state, &one_more), None);
    synced.push(one_more);
    assert_eq!(window_state(e, &synced).tail, None);
}

#[test]
fn sqlserver_logs_out_of_order_still_recompute() {
    let steps = synced_all([
        ss_full("f1", "10", "20", 0, 1000),
        ss_log("l1", "15", "30", 900, 1500),
        ss_log("l3", "40", "50", 2500, 3500),
        ss_log("l2", "30", "40", 1500, 2500),
    ]);
    assert_eq!(
        replay(Engine::Sqlserver, &steps),
        vec!["f1", "l1", "l3", "l2"]
    );
}

#[test]
fn sqlserver_log_after_a_full_extends_both_chains() {
    let steps = synced_all([
        ss_full("f1", "10", "20", 0, 1000),
        ss_log("l1", "15", "30", 900, 1500),
        // Taken after the last log backup: its last LSN is past 30.
        ss_full("f2", "35", "40", 1500, 1600),
        ss_log("l2", "30", "50", 1500, 2500),
        ss_log("empty", "50", "50", 2500, 2500),
        ss_log("l3", "50", "60", 2500, 3500),
    ]);
    assert_eq!(replay(Engine::Sqlserver, &steps), vec!["f1", "l1"]);
}

#[test]
fn a_sqlserver_full_before_the_last_log_recomputes() {
    // Its LSN is before every log: a chain of its own waiting for a log
    // from 5, not one of the open chains, whatever its time says.
    let steps = synced_all([
        ss_full("f1", "10", "20", 0, 1000),
        ss_log("l1", "15", "30", 900, 1500),
        ss_log("l2", "30", "40", 1500, 2500),
        ss_full("early", "1", "5", 1100, 1200),
        ss_log("l3", "40", "50", 2500, 3500),
    ]);
    assert_eq!(replay(Engine::Sqlserver, &steps), vec!["f1", "l1", "early"]);
}

#[test]
fn unusable_copies_leave_the_state_alone() {
    let e = Engine::Sqlserver;
    let state = window_state(e, &[ss_full("f1", "10", "20", 0, 1000)]);
    for b in [
        ss_log("bad", "x", "30", 0, 10),
        my_log("wrong-engine", 3, 0, 10),
    ] {
        assert_eq!(extend_window(e, &state, &b), Some(state.clone()));
    }
}

#[test]
fn the_state_survives_json_with_25_digit_lsns() {
    let big = "9999999999999999999999990";
    let e = Engine::Sqlserver;
    let state = window_state(
        e,
        &[
            ss_full("f1", "1", big, 0, 1000),
            ss_log("l1", "1", "9999999999999999999999999", 0, 2000),
        ],
    );
    assert!(state.tail.is_some());
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<WindowState>(&json).unwrap(), state);
}

/// Retention forgets the oldest copy now and then.
fn with_expiries(arrivals: Vec<ChainBackup>, every: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, b) in arrivals.into_iter().enumerate() {
        steps.push(Step::Synced(b));
        if every > 0 && i % every == every - 1 {
            steps.push(Step::Expired(None));
        }
    }
    steps
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => record().prop_map(Step::Synced),
        1 => any::<Index>().prop_map(|i| Step::Expired(Some(i))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Every log and FULL of a history in data order: only the first FULL
    /// recomputes.
    #[test]
    fn in_order_histories_extend((s, _) in scenario(Engine::Mysql)) {
        let recomputed = replay(s.engine, &synced_all(in_order(s.history())));
        prop_assert_eq!(recomputed.len(), 1, "{:?}", recomputed);
    }

    /// SQL Server: a tail needs a log to start from, so the FULLs before
    /// the first log after a FULL recompute, and that log. After it, only a
    /// FULL arriving after a log past its last LSN does (its first log may
    /// be any log holding that LSN, which only the copies say), or one
    /// consistent at the same time as an earlier FULL (which of the two the
    /// window's end waits on depends on both).
    #[test]
    fn in_order_sqlserver_histories_extend((s, _) in scenario(Engine::Sqlserver)) {
        let arrivals = in_order(s.history());
        let recomputed = replay(s.engine, &synced_all(arrivals.clone()));
        let first_full = arrivals.iter().position(|b| b.kind == BackupKind::Full).unwrap();
        let settled = arrivals[first_full..]
            .iter()
            .position(|b| b.kind == BackupKind::Log)
            .map_or(arrivals.len(), |i| first_full + i + 1);
        let last_lsn = |b: &ChainBackup| match &b.position {
            ChainPosition::Sqlserver { last_lsn, .. } => last_lsn.parse::<u128>().unwrap(),
            other => panic!("{other:?}"),
        };
        for (i, b) in arrivals.iter().enumerate().skip(settled) {
            if !recomputed.contains(&b.backup_id) {
                continue;
            }
            let behind = arrivals[..i].iter().any(|o| {
                (o.kind == BackupKind::Log && last_lsn(o) > last_lsn(b))
                    || (o.kind == BackupKind::Full && o.data_end == b.data_end)
            });
            prop_assert!(b.kind == BackupKind::Full && behind, "{:?} recomputed: {:?}", b, arrivals);
        }
    }

    /// Synced logs with holes, shuffled and duplicated, in data order or
    /// not, with retention forgetting the oldest copy.
    #[test]
    fn shuffled_histories_with_holes_and_expiries(
        (s, shuffled) in scenario(Engine::Mysql),
        (t, shuffled_ss) in scenario(Engine::Sqlserver),
        every in 0usize..6,
    ) {
        for (e, arrivals) in [(s.engine, shuffled), (t.engine, shuffled_ss)] {
            replay(e, &with_expiries(arrivals.clone(), every));
            replay(e, &with_expiries(in_order(arrivals), every));
        }
    }

    /// Arbitrary records, valid or not, and expiries of any copy.
    #[test]
    fn arbitrary_arrivals_and_expiries(e in engine(), steps in prop::collection::vec(step(), 0..24)) {
        replay(e, &steps);
    }
}
