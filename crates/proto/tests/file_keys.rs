//! Descriptors whose files would share a target key (or a local file when
//! restored) are refused; files in sibling folders keep those folders.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use xregion_domain::BackupFormat;
use xregion_proto::convert::backup::{manifest, validate};
use xregion_proto::convert::timestamp;
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as api;

fn descriptor(keys: &[&str]) -> rds::BackupDescriptor {
    rds::BackupDescriptor {
        backup_id: "b-1".into(),
        instance_id: "db-1".into(),
        tenant_id: "t-1".into(),
        engine: rds::Engine::Sqlserver as i32,
        region: "r-1".into(),
        kind: rds::BackupKind::Full as i32,
        files: keys
            .iter()
            .map(|k| rds::BackupFile {
                key: (*k).into(),
                size: 10,
                sha256: "a".repeat(64),
            })
            .collect(),
        data_start_time: Some(timestamp(1_760_000_000_000)),
        data_end_time: Some(timestamp(1_760_000_000_000)),
        position: Some(rds::backup_descriptor::Position::Sqlserver(
            rds::SqlServerPosition {
                first_lsn: "10".into(),
                last_lsn: "20".into(),
            },
        )),
        created_at: None,
        format: 0,
    }
}

#[test]
fn stripes_keep_their_folders_in_the_manifest() {
    let d = descriptor(&["db-1/b-1/stripe1/db.bak", "db-1/b-1/stripe2/db.bak"]);
    validate(&d).unwrap();
    let service = api::ServiceRef {
        service_id: "svc-1".into(),
        tenant_id: "t-1".into(),
        target_prefix: "t-1/db-1/svc-1".into(),
        engine: api::Engine::Sqlserver as i32,
        ..Default::default()
    };
    let m = manifest(&d, &service, 0).unwrap();
    let keys: Vec<_> = m.files.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "t-1/db-1/svc-1/backups/b-1/stripe1/db.bak",
            "t-1/db-1/svc-1/backups/b-1/stripe2/db.bak"
        ]
    );
    m.validate_for("t-1/db-1/svc-1", "t-1/db-1/svc-1/manifests/b-1.json")
        .unwrap();
}

#[test]
fn the_manifest_records_the_backup_format() {
    let service = api::ServiceRef {
        service_id: "svc-1".into(),
        tenant_id: "t-1".into(),
        target_prefix: "t-1/db-1/svc-1".into(),
        engine: api::Engine::Sqlserver as i32,
        ..Default::default()
    };
    let mut d = descriptor(&["db-1/b-1/full.bak"]);
    let legacy = manifest(&d, &service, 0).unwrap();
    assert_eq!(legacy.backup_format, None);
    assert_eq!(legacy.backup_format(), Ok(BackupFormat::SqlserverNative));
    d.format = rds::BackupFormat::SqlserverNative as i32;
    let m = manifest(&d, &service, 0).unwrap();
    assert_eq!(m.backup_format, Some(BackupFormat::SqlserverNative));
}

#[test]
fn files_that_would_collide_are_refused() {
    for (keys, says) in [
        (vec!["db-1/x/f", "db-1/x/f"], "same key"),
        (vec!["db-1/x", "db-1/x/f"], "also a folder"),
    ] {
        let err = validate(&descriptor(&keys)).unwrap_err();
        assert!(err.contains(says), "{keys:?}: {err}");
    }
}
