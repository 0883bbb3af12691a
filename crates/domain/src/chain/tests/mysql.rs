//! MySQL: binlog numbers chain consecutively from the FULL's own binlog.

use super::*;

const E: Engine = Engine::Mysql;

/// FULL at binlog 5 (consistent at 1000), binlogs 5, 6, 7.
fn base() -> Vec<ChainBackup> {
    vec![
        my_full("f1", 5, 0, 1000),
        my_log("b5", 5, 500, 1500),
        my_log("b6", 6, 1500, 2500),
        my_log("b7", 7, 2500, 3500),
    ]
}

#[test]
fn full_and_three_logs_make_one_window() {
    assert_eq!(restore_window(E, &base()), window(1000, 3500, vec![]));
    assert_eq!(latest_data_time(E, &base()), Some(3500));
    assert_eq!(restore_plan(E, &base(), 1000), Ok(plan("f1", &[], 1000)));
    assert_eq!(
        restore_plan(E, &base(), 1001),
        Ok(plan("f1", &["b5"], 1001))
    );
    assert_eq!(
        restore_plan(E, &base(), 1500),
        Ok(plan("f1", &["b5"], 1500))
    );
    assert_eq!(
        restore_plan(E, &base(), 1501),
        Ok(plan("f1", &["b5", "b6"], 1501))
    );
    assert_eq!(
        restore_plan(E, &base(), 3500),
        Ok(plan("f1", &["b5", "b6", "b7"], 3500))
    );
    assert_eq!(
        restore_plan(E, &base(), 3501),
        Err(PlanError::AfterLatest {
            restore_time: 3501,
            latest: 3500
        })
    );
    assert_eq!(
        restore_plan(E, &base(), 999),
        Err(PlanError::NoFullBefore { restore_time: 999 })
    );
}

#[test]
fn missing_middle_log_stops_the_window_until_filled() {
    let mut synced = base();
    synced.remove(2); // binlog 6
    assert_eq!(
        restore_window(E, &synced),
        window(1000, 1500, vec![gap(1500, None, "missing binlog 6")])
    );
    assert_eq!(
        restore_plan(E, &synced, 3000),
        Err(PlanError::AfterLatest {
            restore_time: 3000,
            latest: 1500
        })
    );
    synced.push(my_log("b6", 6, 1500, 2500));
    assert_eq!(restore_window(E, &synced), window(1000, 3500, vec![]));
}

#[test]
fn newest_full_that_reaches_the_time_is_used() {
    let mut synced = base();
    synced.push(my_full("f2", 7, 2600, 2800));
    assert_eq!(
        restore_plan(E, &synced, 3000),
        Ok(plan("f2", &["b7"], 3000))
    );
    assert_eq!(restore_plan(E, &synced, 2800), Ok(plan("f2", &[], 2800)));
    assert_eq!(
        restore_plan(E, &synced, 2000),
        Ok(plan("f1", &["b5", "b6"], 2000))
    );
    // The newer FULL's own binlog is gone: the older chain still reaches 3000.
    synced.retain(|b| b.backup_id != "b7");
    synced.push(my_log("b7-copy", 7, 2500, 3500));
    assert_eq!(
        restore_plan(E, &synced, 3000),
        Ok(plan("f2", &["b7-copy"], 3000))
    );
}

#[test]
fn time_inside_an_interior_gap_fails() {
    let synced = vec![
        my_full("f1", 5, 0, 1000),
        my_log("b5", 5, 500, 1500),
        my_log("b7", 7, 2500, 3500),
        my_full("f2", 8, 3600, 4000),
        my_log("b8", 8, 3500, 4500),
    ];
    let w = restore_window(E, &synced);
    assert_eq!(
        w,
        window(1000, 4500, vec![gap(1500, Some(4000), "missing binlog 6")])
    );
    let missing = Err(PlanError::MissingLog {
        after: 1500,
        reason: "missing binlog 6".into(),
    });
    assert_eq!(restore_plan(E, &synced, 1501), missing);
    assert_eq!(restore_plan(E, &synced, 3999), missing);
    assert_eq!(restore_plan(E, &synced, 4000), Ok(plan("f2", &[], 4000)));
    assert_eq!(
        restore_plan(E, &synced, 4200),
        Ok(plan("f2", &["b8"], 4200))
    );
}

#[test]
fn full_without_its_own_binlog_restores_only_its_consistent_point() {
    let synced = vec![my_full("f1", 5, 0, 1000), my_log("b6", 6, 1500, 2500)];
    assert_eq!(
        restore_window(E, &synced),
        window(1000, 1000, vec![gap(1000, None, "missing binlog 5")])
    );
    assert_eq!(restore_plan(E, &synced, 1000), Ok(plan("f1", &[], 1000)));
    assert!(restore_plan(E, &synced, 1001).is_err());
    // Logs before the FULL's binlog are not part of its chain.
    let older = vec![my_full("f1", 5, 0, 1000), my_log("b4", 4, 0, 900)];
    assert_eq!(restore_window(E, &older), window(1000, 1000, vec![]));
}

#[test]
fn order_and_duplicates_do_not_matter() {
    let mut synced = base();
    synced.push(my_full("f2", 7, 2600, 2800));
    let expected = restore_window(E, &synced);
    let mut shuffled: Vec<_> = synced.iter().rev().cloned().collect();
    shuffled.extend(synced.iter().cloned());
    assert_eq!(restore_window(E, &shuffled), expected);
    assert_eq!(
        restore_plan(E, &shuffled, 3000),
        restore_plan(E, &synced, 3000)
    );
    assert_eq!(expirable(E, &shuffled, 3000), expirable(E, &synced, 3000));
}

#[test]
fn wrong_engine_position_is_skipped_and_named() {
    let mut synced = base();
    synced[0].position = ss_pos("1", "2");
    assert!(validate_position(E, BackupKind::Full, &synced[0].position).is_err());
    assert_eq!(restore_window(E, &synced), None);
    let err = restore_plan(E, &synced, 2000).unwrap_err();
    assert!(matches!(err, PlanError::InvalidPosition { ref backup_id, .. } if backup_id == "f1"));
    assert!(validate_position(E, BackupKind::Log, &my_pos(u64::MAX, 0)).is_ok());
}

#[test]
fn seed_set_is_newest_full_and_every_later_log() {
    let mut all = base();
    all.push(my_full("f2", 6, 1600, 1700));
    all.push(my_log("b9", 9, 4000, 5000)); // after a hole: still copied
    all.push(my_log("b4", 4, 0, 400));
    assert_eq!(seed_set(E, &all), ["f2", "b6", "b7", "b9"]);
}

#[test]
fn expirable_keeps_what_the_cutoff_needs() {
    let synced = vec![
        my_full("f1", 1, 0, 100),
        my_log("b1", 1, 50, 200),
        my_log("b2", 2, 200, 300),
        my_log("b3", 3, 300, 400),
        my_log("b4", 4, 400, 500),
        my_full("f2", 3, 320, 350),
    ];
    assert_eq!(expirable(E, &synced, 360), ["f1", "b1", "b2"]);
    assert_eq!(expirable(E, &synced, 340), Vec::<String>::new());
    // A newer FULL whose chain is broken does not make the older chain that
    // carries the latest point expirable.
    let mut broken = synced.clone();
    broken[5] = my_full("f2", 9, 420, 450);
    assert!(expirable(E, &broken, 460).is_empty());
    assert!(expirable(E, &broken, 10_000).is_empty());
    assert_eq!(latest_data_time(E, &broken), Some(500));
}

#[test]
fn pending_never_reaches_before_the_oldest_synced_full() {
    // Binlog 4 ends exactly where the FULL (binlog 5) starts: by data time it
    // touches the FULL, by position it lies before it (D1).
    let inventory = vec![
        my_log("b3", 3, 0, 400),
        my_log("b4", 4, 400, 900),
        backup("f1", BackupKind::Full, 900, 1000, my_pos(5, 120)),
        my_log("b5", 5, 900, 1500),
        my_log("b6", 6, 1500, 2500),
        my_log("b7", 7, 2500, 3500),
    ];
    let synced: Vec<ChainBackup> = inventory[2..5].to_vec();
    assert_eq!(pending(E, &inventory, &synced), ["b7"]);
    // Nothing synced yet: the seed set, in inventory order.
    assert_eq!(pending(E, &inventory, &[]), ["f1", "b5", "b6", "b7"]);
    // A newer FULL is wanted, an older missing one is not.
    let mut more = inventory.clone();
    more.push(backup("f0", BackupKind::Full, 300, 350, my_pos(3, 9)));
    more.push(backup("f2", BackupKind::Full, 3400, 3450, my_pos(7, 9)));
    assert_eq!(pending(E, &more, &synced), ["b7", "f2"]);
}
