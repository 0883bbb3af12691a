//! Properties over generated histories: several FULLs, dropped logs,
//! shuffled and duplicated records.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::scenario::{log_index, scenario, Scenario};
use super::*;

/// Checks a plan against the chain rules, re-derived here from the raw
/// records rather than through the code under test.
pub fn assert_plan_is_contiguous(
    engine: Engine,
    synced: &[ChainBackup],
    p: &RestorePlan,
    t: Millis,
) {
    let by_id: HashMap<&str, &ChainBackup> = synced
        .iter()
        .filter(|b| validate_position(engine, b.kind, &b.position).is_ok())
        .map(|b| (b.backup_id.as_str(), b))
        .collect();
    let full = by_id[p.full_backup_id.as_str()];
    let logs: Vec<&ChainBackup> = p
        .log_backup_ids
        .iter()
        .map(|id| by_id[id.as_str()])
        .collect();
    assert_eq!(full.kind, BackupKind::Full);
    assert!(logs.iter().all(|l| l.kind == BackupKind::Log));
    assert_eq!(p.stop_at, t);
    assert!(full.data_end <= t);
    match logs.split_last() {
        None => assert_eq!(t, full.data_end, "no logs only at the consistent point"),
        Some((last, before)) => {
            assert!(last.data_end >= t, "the last log reaches the restore time");
            assert!(
                before.iter().all(|l| l.data_end < t),
                "no log beyond the first reaching t"
            );
        }
    }
    let mut prev = &full.position;
    for (i, log) in logs.iter().enumerate() {
        match (prev, &log.position) {
            (
                ChainPosition::Mysql { file_number: p, .. },
                ChainPosition::Mysql { file_number: l, .. },
            ) => {
                let want = if i == 0 { Some(*p) } else { p.checked_add(1) };
                assert_eq!(
                    Some(*l),
                    want,
                    "binlogs are consecutive from the FULL's own"
                );
            }
            (
                ChainPosition::Sqlserver { last_lsn: p, .. },
                ChainPosition::Sqlserver {
                    first_lsn: f,
                    last_lsn: l,
                },
            ) => {
                let (p, f, l): (u128, u128, u128) =
                    (p.parse().unwrap(), f.parse().unwrap(), l.parse().unwrap());
                if i == 0 {
                    assert!(f <= p && p < l, "first log contains the FULL's last lsn");
                } else {
                    assert_eq!(f, p, "each log starts where the previous ended");
                }
            }
            other => panic!("mixed positions in a plan: {other:?}"),
        }
        prev = &log.position;
    }
}

/// Whether the window says `t` is restorable.
pub fn window_allows(w: Option<&RestoreWindow>, t: Millis) -> bool {
    w.is_some_and(|w| w.earliest <= t && t <= w.latest && !w.gaps.iter().any(|g| g.contains(t)))
}

/// Probe times: the scenario's boundaries, the window's edges, and extras.
fn probes(s: &Scenario, w: Option<&RestoreWindow>, extra: &[i64]) -> Vec<Millis> {
    let mut ts = s.probe_times();
    if let Some(w) = w {
        for g in &w.gaps {
            ts.extend([g.after, g.after + 1]);
            ts.extend(g.resumes_at.iter().flat_map(|r| [r - 1, *r]));
        }
    }
    let (lo, hi) = (s.times[0] - 10, s.times[s.times.len() - 1] + 10);
    ts.extend(extra.iter().map(|x| lo + x.rem_euclid(hi - lo + 1)));
    ts
}

fn check_history(s: &Scenario, synced: &[ChainBackup], extra: &[i64], cutoff_pick: i64) {
    let e = s.engine;
    let w = restore_window(e, synced);
    assert_eq!(w.as_ref().map(|w| w.earliest), s.earliest());
    assert_eq!(w.as_ref().map(|w| w.latest), s.latest());
    assert_eq!(latest_data_time(e, synced), s.latest());
    if let Some(w) = &w {
        for pair in w.gaps.windows(2) {
            assert!(
                pair[0].resumes_at.is_some_and(|r| r <= pair[1].after),
                "gaps are ordered"
            );
        }
        for g in &w.gaps {
            assert!(s.restorable(g.after), "a gap starts at a restorable point");
            assert!(g.resumes_at.is_none_or(|r| r > g.after && s.restorable(r)));
        }
    }
    // Dropped logs: no plan may use logs on both sides of one.
    let dropped: Vec<usize> = (0..s.kept_logs.len())
        .filter(|i| !s.kept_logs[*i])
        .collect();

    let ts = probes(s, w.as_ref(), extra);
    for &t in &ts {
        let truth = s.restorable(t);
        assert_eq!(
            window_allows(w.as_ref(), t),
            truth,
            "window vs history at {t}"
        );
        match restore_plan(e, synced, t) {
            Ok(p) => {
                assert!(truth, "plan for unrestorable {t}: {p:?}");
                assert_plan_is_contiguous(e, synced, &p, t);
                let used: Vec<usize> = p.log_backup_ids.iter().map(|id| log_index(id)).collect();
                for d in &dropped {
                    assert!(!(used.iter().any(|u| u < d) && used.iter().any(|u| u > d)));
                }
            }
            Err(err) => {
                assert!(!truth, "no plan for restorable {t}: {err}");
                let w = w.as_ref();
                match err {
                    PlanError::NoFullBefore { .. } => assert!(w.is_none_or(|w| t < w.earliest)),
                    PlanError::AfterLatest { latest, .. } => {
                        assert!(w.is_some_and(|w| t > w.latest && latest == w.latest))
                    }
                    PlanError::MissingLog { .. } => {
                        assert!(w.is_some_and(|w| w.gaps.iter().any(|g| g.contains(t))))
                    }
                    PlanError::NothingSynced => assert!(synced.is_empty()),
                    other => panic!("unexpected {other}"),
                }
            }
        }
    }

    // Input order never matters.
    let reversed: Vec<ChainBackup> = synced.iter().rev().cloned().collect();
    assert_eq!(restore_window(e, &reversed), w);
    check_seed_set(s, synced);
    check_retention(s, synced, &ts, cutoff_pick);
}

fn check_seed_set(s: &Scenario, synced: &[ChainBackup]) {
    let seed = seed_set(s.engine, synced);
    let Some(first) = seed.first() else {
        assert!(s.earliest().is_none());
        return;
    };
    let full = synced.iter().find(|b| &b.backup_id == first).unwrap();
    assert_eq!(full.kind, BackupKind::Full);
    let newest = synced
        .iter()
        .filter(|b| b.kind == BackupKind::Full)
        .map(|b| b.data_end)
        .max();
    assert_eq!(Some(full.data_end), newest);
    let log = s
        .fulls
        .iter()
        .enumerate()
        .find(|(j, _)| format!("full-{j}") == *first)
        .unwrap()
        .1
        .log;
    let want: Vec<String> = (log..s.kept_logs.len())
        .filter(|i| s.kept_logs[*i])
        .map(scenario_log_id)
        .collect();
    assert_eq!(&seed[1..], want.as_slice());
}

fn scenario_log_id(i: usize) -> String {
    super::scenario::log_id(i)
}

fn check_retention(s: &Scenario, synced: &[ChainBackup], ts: &[Millis], cutoff_pick: i64) {
    let (lo, hi) = (s.times[0] - 10, s.times[s.times.len() - 1] + 10);
    let cutoff = lo + cutoff_pick.rem_euclid(hi - lo + 1);
    let gone = expirable(s.engine, synced, cutoff);
    let gone_set: BTreeSet<&String> = gone.iter().collect();
    assert_eq!(gone_set.len(), gone.len(), "no id twice");
    for id in &gone {
        let b = synced
            .iter()
            .find(|b| &b.backup_id == id)
            .expect("expired ids exist");
        assert!(b.data_end < cutoff, "nothing within retention is expired");
    }
    let kept: Vec<ChainBackup> = synced
        .iter()
        .filter(|b| !gone_set.contains(&b.backup_id))
        .cloned()
        .collect();
    assert_eq!(
        latest_data_time(s.engine, &kept),
        latest_data_time(s.engine, synced)
    );
    for &t in ts.iter().filter(|t| **t >= cutoff) {
        if restore_plan(s.engine, synced, t).is_ok() {
            assert!(
                restore_plan(s.engine, &kept, t).is_ok(),
                "expiry at {cutoff} broke {t}: {gone:?}"
            );
        }
    }
    // Reconciliation never copies again what retention just expired
    // (L14): neither before nor after the expired copies are forgotten.
    let history = s.history();
    for have in [synced, kept.as_slice()] {
        let again = pending(s.engine, &history, have);
        let both: Vec<&String> = again.iter().filter(|id| gone_set.contains(id)).collect();
        assert!(
            both.is_empty(),
            "pending after expiry at {cutoff} re-copies {both:?}"
        );
    }
    // Logs stranded behind a gap are kept: once the missing logs arrive,
    // everything after the cutoff they would make restorable still is.
    let (filled, filled_kept) = (s.filled(synced), s.filled(&kept));
    for &t in ts.iter().filter(|t| **t >= cutoff) {
        if restore_plan(s.engine, &filled, t).is_ok() {
            assert!(
                restore_plan(s.engine, &filled_kept, t).is_ok(),
                "expiry at {cutoff} stranded {t}: {gone:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mysql_histories((s, synced) in scenario(Engine::Mysql), extra in prop::collection::vec(any::<i64>(), 8), cutoff in any::<i64>()) {
        check_history(&s, &synced, &extra, cutoff);
    }

    #[test]
    fn sqlserver_histories((s, synced) in scenario(Engine::Sqlserver), extra in prop::collection::vec(any::<i64>(), 8), cutoff in any::<i64>()) {
        check_history(&s, &synced, &extra, cutoff);
    }
}
