//! Arbitrary records, valid or not: nothing panics, and the window still
//! agrees exactly with what restore_plan accepts.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::props::{assert_plan_is_contiguous, window_allows};
use super::*;

fn time() -> impl Strategy<Value = Millis> {
    prop_oneof![
        -5i64..60,
        Just(Millis::MIN),
        Just(Millis::MAX),
        any::<i64>()
    ]
}

fn lsn() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..30).prop_map(|n| n.to_string()),
        "[0-9]{0,27}",
        ".{0,4}",
        Just("9999999999999999999999999".to_owned()),
        Just("+7".to_owned()),
    ]
}

fn position() -> impl Strategy<Value = ChainPosition> {
    prop_oneof![
        (0u64..8, any::<u64>()).prop_map(|(f, o)| my_pos(f, o)),
        prop_oneof![Just(u64::MAX), Just(u64::MAX - 1)].prop_map(|f| my_pos(f, 0)),
        (lsn(), lsn()).prop_map(|(a, b)| ss_pos(&a, &b)),
    ]
}

pub(super) fn record() -> impl Strategy<Value = ChainBackup> {
    let ids = prop::sample::select(vec!["a", "b", "c", "d", "e", "f", "g", "h"]);
    let kind = prop_oneof![Just(BackupKind::Full), Just(BackupKind::Log)];
    (ids, kind, time(), time(), position())
        .prop_map(|(id, kind, s, e, p)| backup(id, kind, s, e, p))
}

pub(super) fn engine() -> impl Strategy<Value = Engine> {
    prop_oneof![Just(Engine::Mysql), Just(Engine::Sqlserver)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_records_never_panic_and_stay_consistent(
        e in engine(),
        synced in prop::collection::vec(record(), 0..12),
        extra in prop::collection::vec(time(), 4),
        cutoff in time(),
    ) {
        for b in &synced {
            let _ = validate_position(e, b.kind, &b.position);
        }
        let w = restore_window(e, &synced);
        let distinct: std::collections::HashSet<&ChainBackup> = synced.iter().collect();
        let ids: BTreeSet<&str> = synced.iter().map(|b| b.backup_id.as_str()).collect();
        let unambiguous = distinct.len() == ids.len();
        prop_assert_eq!(latest_data_time(e, &synced), w.as_ref().map(|w| w.latest));
        let _ = seed_set(e, &synced);

        let mut ts: Vec<Millis> = extra;
        for b in &synced {
            ts.extend([b.data_start, b.data_end.saturating_sub(1), b.data_end, b.data_end.saturating_add(1)]);
        }
        if let Some(w) = &w {
            ts.extend([w.earliest, w.latest]);
            for g in &w.gaps {
                ts.extend([g.after, g.after.saturating_add(1)]);
                ts.extend(g.resumes_at.iter().flat_map(|r| [r.saturating_sub(1), *r]));
            }
        }
        for &t in &ts {
            let plan = restore_plan(e, &synced, t);
            prop_assert_eq!(plan.is_ok(), window_allows(w.as_ref(), t), "t={} plan={:?} window={:?}", t, plan, w);
            // The independent check needs to know which record an id means;
            // conflicting records under one id are resolved by the code
            // under test, so only unambiguous inputs are re-checked.
            if let (Ok(p), true) = (&plan, unambiguous) {
                assert_plan_is_contiguous(e, &synced, p, t);
            }
        }

        let gone: BTreeSet<String> = expirable(e, &synced, cutoff).into_iter().collect();
        let kept: Vec<ChainBackup> = synced.iter().filter(|b| !gone.contains(&b.backup_id)).cloned().collect();
        for &t in ts.iter().filter(|t| **t >= cutoff) {
            if restore_plan(e, &synced, t).is_ok() {
                prop_assert!(restore_plan(e, &kept, t).is_ok(), "expiry at {} broke {}", cutoff, t);
            }
        }
    }
}
