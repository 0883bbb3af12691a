//! Range checks on upstream descriptors: sizes, times, nanos.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use prost_types::Timestamp;
use xregion_proto::convert::backup::{
    total_bytes, validate, validate_at, MAX_BACKUP_BYTES, MAX_FILE_BYTES,
};
use xregion_proto::convert::{format_millis, timestamp};
use xregion_proto::rds::v1 as rds;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn file(key: &str, size: u64) -> rds::BackupFile {
    rds::BackupFile {
        key: key.into(),
        size,
        sha256: "a".repeat(64),
    }
}

fn good() -> rds::BackupDescriptor {
    rds::BackupDescriptor {
        backup_id: "b-1".into(),
        instance_id: "db-1".into(),
        tenant_id: "t-1".into(),
        engine: rds::Engine::Mysql as i32,
        region: "r-1".into(),
        kind: rds::BackupKind::Full as i32,
        files: vec![file("db-1/b-1/dump.sql", 10)],
        data_start_time: Some(timestamp(NOW - 2 * DAY)),
        data_end_time: Some(timestamp(NOW - DAY)),
        position: Some(rds::backup_descriptor::Position::Mysql(
            rds::MysqlPosition {
                binlog_file_number: 3,
                binlog_offset: 4,
                ..Default::default()
            },
        )),
        created_at: None,
        format: 0,
    }
}

fn refused(d: &rds::BackupDescriptor, says: &str) {
    let err = validate_at(d, NOW).expect_err(says);
    assert!(err.contains(says), "{err:?} should say {says:?}");
}

#[test]
fn a_good_descriptor_passes() {
    assert!(validate_at(&good(), NOW).is_ok());
}

#[test]
fn a_format_must_be_known_and_fit_the_engine_and_kind() {
    let mut d = good();
    d.format = rds::BackupFormat::Xbstream as i32;
    assert!(validate_at(&d, NOW).is_ok());
    d.format = 99;
    refused(&d, "unknown backup format 99");
    d.format = rds::BackupFormat::SqlserverNative as i32;
    refused(
        &d,
        "a mysql full backup cannot be in format sqlserver_native",
    );
    d.kind = rds::BackupKind::Log as i32;
    d.format = rds::BackupFormat::Xbstream as i32;
    refused(&d, "a mysql log backup cannot be in format xbstream");
}

#[test]
fn sizes_never_overflow_and_are_bounded() {
    let mut d = good();
    d.files = vec![file("db-1/b/a", 1 << 63), file("db-1/b/b", 1 << 63)];
    assert_eq!(total_bytes(&d), None, "the sum overflows u64");
    refused(&d, "exceeds the limit");
    d.files = vec![file("db-1/b/a", MAX_FILE_BYTES + 1)];
    refused(&d, "exceeds the limit");
    let files = (MAX_BACKUP_BYTES / MAX_FILE_BYTES + 1) as usize;
    d.files = (0..files)
        .map(|i| file(&format!("db-1/b/f{i}"), MAX_FILE_BYTES))
        .collect();
    refused(&d, "total size exceeds");
    d.files = vec![file("db-1/b/a", MAX_FILE_BYTES)];
    assert!(validate_at(&d, NOW).is_ok());
}

#[test]
fn data_times_far_in_the_future_or_past_are_refused() {
    let mut d = good();
    d.data_end_time = Some(timestamp(NOW + 10 * 365 * DAY));
    refused(&d, "more than a day after now");
    assert!(
        validate(&d).is_ok(),
        "without a clock only the structure counts"
    );
    d.data_end_time = Some(timestamp(NOW + DAY - 1));
    assert!(
        validate_at(&d, NOW).is_ok(),
        "a day of clock skew is allowed"
    );
    d.data_end_time = Some(Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    });
    refused(&d, "more than a day after now");
    let mut d = good();
    d.data_start_time = Some(Timestamp {
        seconds: i64::MIN,
        nanos: 0,
    });
    refused(&d, "before 2000-01-01");
    d.data_start_time = Some(timestamp(0));
    refused(&d, "before 2000-01-01");
    let mut d = good();
    d.data_start_time = Some(Timestamp {
        seconds: NOW / 1000 - 100,
        nanos: -1,
    });
    refused(&d, "nanos");
    d.data_start_time = Some(Timestamp {
        seconds: NOW / 1000 - 100,
        nanos: 1_000_000_000,
    });
    refused(&d, "nanos");
    let mut d = good();
    d.data_start_time = Some(timestamp(NOW));
    d.data_end_time = Some(timestamp(NOW - 1));
    refused(&d, "after data_end_time");
}

#[test]
fn times_in_messages_are_readable() {
    assert_eq!(format_millis(0), "1970-01-01T00:00:00Z");
    assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00Z");
    assert_eq!(format_millis(1_800_000_000_999), "2027-01-15T08:00:00Z");
    assert_eq!(format_millis(-1), "1969-12-31T23:59:59Z");
    assert_eq!(format_millis(i64::MAX), format!("{} ms", i64::MAX));
    assert_eq!(format_millis(i64::MIN), format!("{} ms", i64::MIN));
}
