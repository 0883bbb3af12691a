//! Golden tests of the SQL Server restore script: each expected script is
//! written out in full, so any change to what `sqlcmd` would run shows here.

#![allow(clippy::unwrap_used)] // test code: a panic is a failure report

use proptest::prelude::*;
use xregion_domain::chain::{restore_plan, ChainBackup, ChainPosition, PlanError};
use xregion_domain::tsql::{restore_script, ScriptFile, ScriptInput};
use xregion_domain::{BackupKind, Engine};

/// 2025-10-09T08:53:20.123 UTC.
const T: i64 = 1_760_000_000_123;

/// A file of the plan, `path` below its backup's folder until [`landed`].
fn file(id: &str, kind: BackupKind, path: &str) -> ScriptFile {
    ScriptFile {
        backup_id: id.into(),
        kind,
        path: path.into(),
    }
}

/// The files as `xregion restore` lands them: `<dir>/<backup_id>/<path>`.
fn landed(dir: &str, files: &[ScriptFile]) -> Vec<ScriptFile> {
    let dir = dir.trim_end_matches('/');
    files
        .iter()
        .map(|f| ScriptFile {
            path: format!("{dir}/{}/{}", f.backup_id, f.path),
            ..f.clone()
        })
        .collect()
}

fn script(db: &str, dir: &str, files: &[ScriptFile]) -> String {
    restore_script(&ScriptInput {
        database: db,
        stop_at: T,
        files: &landed(dir, files),
    })
    .unwrap()
}

#[test]
fn a_single_file_full_and_logs() {
    let files = [
        file("f1", BackupKind::Full, "db.bak"),
        file("l1", BackupKind::Log, "db_1.trn"),
        file("l2", BackupKind::Log, "db_2.trn"),
    ];
    assert_eq!(
        script("sales", "/restore/", &files),
        "\
-- xregion restore of [sales]: FULL f1 + 2 LOG backups, stops at 2025-10-09T08:53:20.123 UTC
-- run with: sqlcmd -S <server> -E -i restore.sql
RESTORE DATABASE [sales]
  FROM DISK = N'/restore/f1/db.bak'
  WITH NORECOVERY, REPLACE;
GO
RESTORE LOG [sales]
  FROM DISK = N'/restore/l1/db_1.trn'
  WITH NORECOVERY;
GO
RESTORE LOG [sales]
  FROM DISK = N'/restore/l2/db_2.trn'
  WITH STOPAT = '2025-10-09T08:53:20.123', RECOVERY;
GO
"
    );
}

#[test]
fn a_striped_full_is_one_statement_over_its_stripes() {
    let files = [
        file("f1", BackupKind::Full, "stripe1/db.bak"),
        file("f1", BackupKind::Full, "stripe2/db.bak"),
        file("f1", BackupKind::Full, "stripe3/db.bak"),
        file("l1", BackupKind::Log, "db.trn"),
    ];
    assert_eq!(
        script("sales", "/r", &files),
        "\
-- xregion restore of [sales]: FULL f1 + 1 LOG backups, stops at 2025-10-09T08:53:20.123 UTC
-- run with: sqlcmd -S <server> -E -i restore.sql
RESTORE DATABASE [sales]
  FROM DISK = N'/r/f1/stripe1/db.bak',
       DISK = N'/r/f1/stripe2/db.bak',
       DISK = N'/r/f1/stripe3/db.bak'
  WITH NORECOVERY, REPLACE;
GO
RESTORE LOG [sales]
  FROM DISK = N'/r/l1/db.trn'
  WITH STOPAT = '2025-10-09T08:53:20.123', RECOVERY;
GO
"
    );
}

#[test]
fn a_plan_without_logs_recovers_the_full() {
    let files = [file("f1", BackupKind::Full, "db.bak")];
    assert_eq!(
        script("sales", "/r", &files),
        "\
-- xregion restore of [sales]: FULL f1 + 0 LOG backups, stops at 2025-10-09T08:53:20.123 UTC
-- run with: sqlcmd -S <server> -E -i restore.sql
RESTORE DATABASE [sales]
  FROM DISK = N'/r/f1/db.bak'
  WITH RECOVERY, REPLACE;
GO
"
    );
}

fn sql(id: &str, kind: BackupKind, start: i64, end: i64, lsns: (u32, u32)) -> ChainBackup {
    ChainBackup {
        backup_id: id.into(),
        kind,
        data_start: start,
        data_end: end,
        position: ChainPosition::Sqlserver {
            first_lsn: lsns.0.to_string(),
            last_lsn: lsns.1.to_string(),
        },
    }
}

#[test]
fn a_time_exactly_at_a_logs_end_stops_in_that_log() {
    let chain = [
        sql("f1", BackupKind::Full, T - 3000, T - 2000, (100, 200)),
        sql("l1", BackupKind::Log, T - 2000, T, (200, 300)),
        sql("l2", BackupKind::Log, T, T + 1000, (300, 400)),
    ];
    let plan = restore_plan(Engine::Sqlserver, &chain, T).unwrap();
    assert_eq!(
        plan.log_backup_ids,
        ["l1"],
        "l1 reaches T; l2 is not needed"
    );
    let files: Vec<_> = std::iter::once(file("f1", BackupKind::Full, "db.bak"))
        .chain(
            plan.log_backup_ids
                .iter()
                .map(|id| file(id, BackupKind::Log, "db.trn")),
        )
        .collect();
    let got = restore_script(&ScriptInput {
        database: "sales",
        stop_at: plan.stop_at,
        files: &landed("/r", &files),
    })
    .unwrap();
    assert_eq!(
        got,
        "\
-- xregion restore of [sales]: FULL f1 + 1 LOG backups, stops at 2025-10-09T08:53:20.123 UTC
-- run with: sqlcmd -S <server> -E -i restore.sql
RESTORE DATABASE [sales]
  FROM DISK = N'/r/f1/db.bak'
  WITH NORECOVERY, REPLACE;
GO
RESTORE LOG [sales]
  FROM DISK = N'/r/l1/db.trn'
  WITH STOPAT = '2025-10-09T08:53:20.123', RECOVERY;
GO
"
    );
}

/// A chain broken by an LSN gap (l2 does not start where l1 ended): a time
/// before the gap restores from f1 through l1; a time inside the broken
/// stretch gets no script at all, the plan naming the gap; a time after the
/// next FULL restores from that FULL alone, never across the gap.
#[test]
fn a_gap_in_the_log_chain_is_never_restored_across() {
    let chain = [
        sql("f1", BackupKind::Full, T - 6000, T - 5000, (100, 200)),
        sql("l1", BackupKind::Log, T - 5000, T - 4000, (200, 300)),
        sql("l2", BackupKind::Log, T - 4000, T - 3000, (350, 400)),
        sql("f2", BackupKind::Full, T - 2000, T - 1000, (500, 600)),
        sql("l3", BackupKind::Log, T - 1000, T + 1000, (600, 700)),
    ];
    let before = restore_plan(Engine::Sqlserver, &chain, T - 4500).unwrap();
    assert_eq!(
        (
            before.full_backup_id.as_str(),
            before.log_backup_ids.as_slice()
        ),
        ("f1", &["l1".to_string()][..])
    );
    let broken = restore_plan(Engine::Sqlserver, &chain, T - 3500).unwrap_err();
    assert!(
        matches!(broken, PlanError::MissingLog { after, .. } if after == T - 4000),
        "restorable up to l1's end, then the gap: {broken}"
    );
    let after = restore_plan(Engine::Sqlserver, &chain, T).unwrap();
    assert_eq!(
        (
            after.full_backup_id.as_str(),
            after.log_backup_ids.as_slice()
        ),
        ("f2", &["l3".to_string()][..])
    );
    let files = [
        file("f2", BackupKind::Full, "db.bak"),
        file("l3", BackupKind::Log, "db.trn"),
    ];
    let got = restore_script(&ScriptInput {
        database: "sales",
        stop_at: after.stop_at,
        files: &landed("/r", &files),
    })
    .unwrap();
    assert_eq!(
        got,
        "\
-- xregion restore of [sales]: FULL f2 + 1 LOG backups, stops at 2025-10-09T08:53:20.123 UTC
-- run with: sqlcmd -S <server> -E -i restore.sql
RESTORE DATABASE [sales]
  FROM DISK = N'/r/f2/db.bak'
  WITH NORECOVERY, REPLACE;
GO
RESTORE LOG [sales]
  FROM DISK = N'/r/l3/db.trn'
  WITH STOPAT = '2025-10-09T08:53:20.123', RECOVERY;
GO
"
    );
}

#[test]
fn quotes_in_paths_and_brackets_in_names_are_doubled() {
    let files = [file("f1", BackupKind::Full, "o'brien.bak")];
    assert_eq!(
        script("x]; DROP DATABASE [master", "/it's here", &files),
        "\
-- xregion restore of [x]]; DROP DATABASE [master]: FULL f1 + 0 LOG backups, stops at 2025-10-09T08:53:20.123 UTC
-- run with: sqlcmd -S <server> -E -i restore.sql
RESTORE DATABASE [x]]; DROP DATABASE [master]
  FROM DISK = N'/it''s here/f1/o''brien.bak'
  WITH RECOVERY, REPLACE;
GO
"
    );
}

#[test]
fn control_characters_empty_names_and_odd_plans_are_refused() {
    let full = [file("f1", BackupKind::Full, "db.bak")];
    let script = |db, dir, files: &[ScriptFile]| {
        restore_script(&ScriptInput {
            database: db,
            stop_at: T,
            files: &landed(dir, files),
        })
    };
    for (db, dir) in [("a\nGO", "/r"), ("", "/r"), ("a", "/r\r")] {
        assert!(script(db, dir, &full).is_err(), "{db:?} {dir:?}");
    }
    let newline_path = [file("f1", BackupKind::Full, "db\n.bak")];
    assert!(script("a", "/r", &newline_path).is_err());
    let log_first = [
        file("l1", BackupKind::Log, "db.trn"),
        file("f1", BackupKind::Full, "db.bak"),
    ];
    assert!(script("a", "/r", &log_first).is_err());
    assert!(script("a", "/r", &[]).is_err());
}

proptest! {
    #[test]
    fn every_file_once_in_plan_order_and_one_recovery_at_the_end(
        stripes in 1usize..5,
        logs in prop::collection::vec(1usize..3, 0..6),
    ) {
        let mut files: Vec<_> = (0..stripes)
            .map(|s| file("full", BackupKind::Full, &format!("s{s}/db.bak")))
            .collect();
        for (l, n) in logs.iter().enumerate() {
            files.extend((0..*n).map(|p| file(&format!("log{l}"), BackupKind::Log, &format!("p{p}.trn"))));
        }
        let out = script("db", "/r", &files);
        let mut at = 0;
        for f in &files {
            let disk = format!("N'/r/{}/{}'", f.backup_id, f.path);
            prop_assert_eq!(out.matches(&disk).count(), 1, "{}", disk);
            let pos = out.find(&disk).unwrap();
            prop_assert!(pos > at, "{} out of order", disk);
            at = pos;
        }
        prop_assert_eq!(out.matches(" RECOVERY").count(), 1);
        let last = out.trim_end().rsplit("RESTORE ").next().unwrap();
        prop_assert!(last.contains(" RECOVERY"), "RECOVERY is in the last statement");
        prop_assert_eq!(out.matches("RESTORE ").count(), 1 + logs.len(), "one statement per backup");
    }
}
