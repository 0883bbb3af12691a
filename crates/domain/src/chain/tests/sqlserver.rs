//! SQL Server: LSNs are numbers, a log follows when it starts where the
//! previous one ended, the first log after a FULL contains its last LSN.

use super::*;

const E: Engine = Engine::Sqlserver;

/// "9" < "10" < "100" < "1000": string order would break this chain.
fn base() -> Vec<ChainBackup> {
    vec![
        ss_full("f1", "5", "9", 0, 1000),
        ss_log("l1", "8", "10", 500, 1500),
        ss_log("l2", "10", "100", 1500, 2500),
        ss_log("l3", "100", "1000", 2500, 3500),
    ]
}

#[test]
fn full_and_three_logs_compare_lsns_numerically() {
    assert_eq!(restore_window(E, &base()), window(1000, 3500, vec![]));
    assert_eq!(
        restore_plan(E, &base(), 2000),
        Ok(plan("f1", &["l1", "l2"], 2000))
    );
    assert_eq!(restore_plan(E, &base(), 1000), Ok(plan("f1", &[], 1000)));
}

#[test]
fn twenty_five_digit_lsns_chain() {
    let synced = vec![
        ss_full(
            "f",
            "999999999999999999999990",
            "999999999999999999999999",
            0,
            10,
        ),
        ss_log(
            "l1",
            "999999999999999999999998",
            "1000000000000000000000000",
            5,
            20,
        ),
        ss_log(
            "l2",
            "1000000000000000000000000",
            "9999999999999999999999999",
            20,
            30,
        ),
    ];
    assert_eq!(restore_window(E, &synced), window(10, 30, vec![]));
    assert_eq!(
        restore_plan(E, &synced, 25),
        Ok(plan("f", &["l1", "l2"], 25))
    );
}

#[test]
fn first_log_after_full_contains_its_last_lsn() {
    let full = ss_full("f", "100", "150", 0, 1000);
    let reaches = |log: ChainBackup| restore_window(E, &[full.clone(), log]).map(|w| w.latest);
    assert_eq!(reaches(ss_log("l", "100", "200", 900, 2000)), Some(2000)); // first < full.last
    assert_eq!(reaches(ss_log("l", "150", "200", 900, 2000)), Some(2000)); // first == full.last
    assert_eq!(reaches(ss_log("l", "151", "200", 900, 2000)), Some(1000)); // starts after it
    assert_eq!(reaches(ss_log("l", "100", "150", 900, 2000)), Some(1000)); // ends at it
    let w = restore_window(E, &[full.clone(), ss_log("l", "151", "200", 900, 2000)]);
    assert_eq!(
        w,
        window(
            1000,
            1000,
            vec![gap(1000, None, "missing log after lsn 150")]
        )
    );
}

#[test]
fn missing_middle_log_stops_the_window_until_filled() {
    let mut synced = base();
    synced.remove(2); // l2: 10..100
    assert_eq!(
        restore_window(E, &synced),
        window(
            1000,
            1500,
            vec![gap(1500, None, "missing log after lsn 10")]
        )
    );
    synced.push(ss_log("l2", "10", "100", 1500, 2500));
    assert_eq!(restore_window(E, &synced), window(1000, 3500, vec![]));
}

#[test]
fn newest_full_is_used_and_gap_times_fail() {
    let mut synced = base();
    synced.remove(2);
    synced.push(ss_full("f2", "200", "300", 2600, 3000));
    assert_eq!(
        restore_window(E, &synced),
        window(
            1000,
            3500,
            vec![gap(1500, Some(3000), "missing log after lsn 10")]
        )
    );
    assert_eq!(
        restore_plan(E, &synced, 3200),
        Ok(plan("f2", &["l3"], 3200))
    );
    assert_eq!(
        restore_plan(E, &synced, 1200),
        Ok(plan("f1", &["l1"], 1200))
    );
    assert_eq!(
        restore_plan(E, &synced, 2000),
        Err(PlanError::MissingLog {
            after: 1500,
            reason: "missing log after lsn 10".into()
        })
    );
}

#[test]
fn empty_log_backups_do_not_break_or_stall_the_chain() {
    let mut synced = base();
    synced.push(ss_log("empty", "10", "10", 1500, 1500));
    assert_eq!(restore_window(E, &synced), window(1000, 3500, vec![]));
    assert_eq!(seed_set(E, &synced), ["f1", "l1", "empty", "l2", "l3"]);
}

#[test]
fn invalid_lsns_are_rejected_and_skipped() {
    let check =
        |first: &str, last: &str| validate_position(E, BackupKind::Log, &ss_pos(first, last));
    assert!(check("1", "2").is_ok());
    assert!(check("7", "7").is_ok());
    assert!(check("0009999999999999999999999", "9999999999999999999999999").is_ok());
    assert!(check("", "2").unwrap_err().contains("first_lsn is empty"));
    assert!(check("1", "+2")
        .unwrap_err()
        .contains("not a decimal number"));
    assert!(check("1", "1x").is_err());
    assert!(check("1", " 2").is_err());
    assert!(check("1", "-2").is_err());
    assert!(check("1", "١").is_err()); // a non-ASCII digit
    assert!(check("1", "10000000000000000000000000")
        .unwrap_err()
        .contains("26 digits"));
    assert!(check("10", "9").unwrap_err().contains("after last_lsn"));
    assert!(validate_position(E, BackupKind::Full, &my_pos(1, 2)).is_err());

    let mut synced = base();
    synced[2] = ss_log("l2", "10", "1e2", 1500, 2500);
    assert_eq!(restore_window(E, &synced).map(|w| w.latest), Some(1500));
    let err = restore_plan(E, &synced, 3000).unwrap_err();
    assert_eq!(
        err,
        PlanError::AfterLatest {
            restore_time: 3000,
            latest: 1500
        }
    );
}

#[test]
fn invalid_log_inside_a_gap_is_named() {
    let mut synced = base();
    synced[2] = ss_log("l2", "10", "1e2", 1500, 2500);
    synced.push(ss_full("f2", "200", "300", 2600, 3000));
    let err = restore_plan(E, &synced, 2000).unwrap_err();
    assert!(
        matches!(err, PlanError::InvalidPosition { ref backup_id, .. } if backup_id == "l2"),
        "{err}"
    );
}

#[test]
fn expirable_keeps_the_chain_reaching_the_cutoff() {
    let mut synced = base();
    synced.push(ss_full("f2", "90", "150", 2000, 2600));
    assert_eq!(expirable(E, &synced, 3000), ["f1", "l1", "l2"]);
    assert!(expirable(E, &synced, 2500).is_empty());
}
