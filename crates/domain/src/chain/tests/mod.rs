#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tests of the chain rules: unit tests per engine, then properties.

mod arbitrary;
mod incremental;
mod mysql;
mod props;
mod scenario;
mod sqlserver;

use super::*;
use crate::engine::{BackupKind, Engine};

fn backup(
    id: &str,
    kind: BackupKind,
    start: Millis,
    end: Millis,
    position: ChainPosition,
) -> ChainBackup {
    ChainBackup {
        backup_id: id.to_owned(),
        kind,
        data_start: start,
        data_end: end,
        position,
    }
}

fn my_pos(file_number: u64, offset: u64) -> ChainPosition {
    ChainPosition::Mysql {
        file_number,
        offset,
    }
}

fn ss_pos(first: &str, last: &str) -> ChainPosition {
    ChainPosition::Sqlserver {
        first_lsn: first.to_owned(),
        last_lsn: last.to_owned(),
    }
}

fn my_full(id: &str, file: u64, start: Millis, end: Millis) -> ChainBackup {
    backup(id, BackupKind::Full, start, end, my_pos(file, 120))
}

fn my_log(id: &str, file: u64, start: Millis, end: Millis) -> ChainBackup {
    backup(id, BackupKind::Log, start, end, my_pos(file, 1 << 20))
}

fn ss_full(id: &str, first: &str, last: &str, start: Millis, end: Millis) -> ChainBackup {
    backup(id, BackupKind::Full, start, end, ss_pos(first, last))
}

fn ss_log(id: &str, first: &str, last: &str, start: Millis, end: Millis) -> ChainBackup {
    backup(id, BackupKind::Log, start, end, ss_pos(first, last))
}

fn plan(full: &str, logs: &[&str], stop_at: Millis) -> RestorePlan {
    RestorePlan {
        full_backup_id: full.to_owned(),
        log_backup_ids: logs.iter().map(|s| s.to_string()).collect(),
        stop_at,
    }
}

fn window(earliest: Millis, latest: Millis, gaps: Vec<Gap>) -> Option<RestoreWindow> {
    Some(RestoreWindow {
        earliest,
        latest,
        gaps,
    })
}

fn gap(after: Millis, resumes_at: Option<Millis>, reason: &str) -> Gap {
    Gap {
        after,
        resumes_at,
        reason: reason.to_owned(),
    }
}

#[test]
fn nothing_synced_and_no_full() {
    for engine in [Engine::Mysql, Engine::Sqlserver] {
        assert_eq!(restore_plan(engine, &[], 5), Err(PlanError::NothingSynced));
        assert_eq!(restore_window(engine, &[]), None);
        assert_eq!(latest_data_time(engine, &[]), None);
        assert!(seed_set(engine, &[]).is_empty());
        assert!(expirable(engine, &[], 5).is_empty());
    }
    let logs = [my_log("l1", 1, 0, 10)];
    assert_eq!(restore_window(Engine::Mysql, &logs), None);
    assert_eq!(
        restore_plan(Engine::Mysql, &logs, 5),
        Err(PlanError::NoFullBefore { restore_time: 5 })
    );
    assert!(expirable(Engine::Mysql, &logs, 100).is_empty());
}

#[test]
fn errors_read_well() {
    let e = PlanError::MissingLog {
        after: 1500,
        reason: "missing binlog 6".into(),
    };
    assert_eq!(
        e.to_string(),
        "restore time is inside a gap of the backup chain: data is restorable up to 1500 (unix ms), then missing binlog 6"
    );
    let e = PlanError::AfterLatest {
        restore_time: 9,
        latest: 7,
    };
    assert!(e
        .to_string()
        .contains("after the latest restorable data time point 7"));
}
