//! The catalog's sync bookkeeping on a real (SQLite) database with a clock
//! the test moves: what a refused descriptor leaves behind (nothing), which
//! backups are pending and how they page, DEGRADED and `last_error`, and
//! usage on days without transfers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use xregion_catalog::clock::Clock;
use xregion_catalog::config::PricePlan;
use xregion_catalog::service::service_ref;
use xregion_catalog::store::instances::InstanceRow;
use xregion_catalog::store::Db;
use xregion_catalog::testing::Source;
use xregion_catalog::Catalog;
use xregion_domain::source_keys::SourceKeyPrefix;
use xregion_domain::{Engine, ServiceState};
use xregion_proto::convert::timestamp;
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const JAN_1: i64 = 1_767_225_600_000;

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Env {
    catalog: Catalog,
    clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    let db = Db::connect(&url, 1).await.unwrap();
    db.migrate().await.unwrap();
    let clock = Arc::new(TestClock(AtomicI64::new(JAN_1 + DAY / 2)));
    let catalog = Catalog::new(db, clock.clone(), ["r1".into(), "r2".into()], None, 3600)
        .with_source_key_prefixes([("r1".into(), SourceKeyPrefix::parse("{instance}/").unwrap())]);
    Env {
        catalog,
        clock,
        _dir: dir,
    }
}

impl Env {
    fn at(&self, ms: i64) {
        self.clock.0.store(ms, Ordering::SeqCst);
    }

    async fn service(&self, instance: &str) -> String {
        let row = InstanceRow {
            instance_id: instance.into(),
            tenant_id: "t1".into(),
            engine: Engine::Mysql,
            region: "r1".into(),
            created_at: 0,
            deleted_at: None,
        };
        self.catalog.instance_created(&row).await.unwrap();
        let req = pb::CreateSyncServiceRequest {
            engine: pb::Engine::Mysql as i32,
            source_region: "r1".into(),
            source_instance_id: instance.into(),
            target_region: "r2".into(),
            retention_days: None,
            request_id: String::new(),
        };
        self.catalog
            .create_service("t1", &req)
            .await
            .unwrap()
            .service_id
    }

    async fn svc_ref(&self, id: &str) -> pb::ServiceRef {
        service_ref(&self.catalog.get_service("t1", id).await.unwrap())
    }

    async fn synced(&self, id: &str, d: &rds::BackupDescriptor, at: i64) {
        let e = pb::BackupSynced {
            service: Some(self.svc_ref(id).await),
            backup: Some(d.clone()),
            manifest_key: format!("m/{}", d.backup_id),
            bytes: d.files.iter().map(|f| f.size).sum(),
            synced_at: Some(timestamp(at)),
            duration_ms: 1,
        };
        self.catalog.backup_synced(&e).await.unwrap();
    }

    async fn failed(&self, id: &str, backup: &str, permanent: bool) {
        let e = pb::BackupSyncFailed {
            service: Some(self.svc_ref(id).await),
            backup_id: backup.into(),
            reason: format!(
                "{} failure",
                if permanent { "permanent" } else { "transient" }
            ),
            attempt: 1,
            permanent,
            failed_at: None,
        };
        self.catalog.backup_failed(&e).await.unwrap();
    }

    async fn state(&self, id: &str) -> (ServiceState, String) {
        let row = self.catalog.get_service("t1", id).await.unwrap();
        (row.state, row.last_error)
    }
}

/// A catalog where [`db1`] is recorded and enrolled, and its service's id.
async fn enrolled() -> (Env, String) {
    let env = env().await;
    let svc = env.service("db-1").await;
    (env, svc)
}

/// db-1 of tenant t1 in r1; each backup is one file of 1 GB.
fn db1() -> Source {
    Source::new("t1", "db-1", "r1").with_file_size(1_000_000_000)
}

#[tokio::test]
async fn refused_descriptors_leave_nothing_behind() {
    let (env, svc) = enrolled().await;
    let t = JAN_1 - DAY;
    let full = db1().full("f1", 5, t);
    assert!(env.catalog.record_backup(&full).await.unwrap());
    let mut outside = db1().log("l-out", 5, t, t + 1000);
    outside.files[0].key = "db-2/l-out/data".into();
    let mut future = db1().log("l-future", 6, t, JAN_1 + 10 * 365 * DAY);
    future.files[0].key = "db-1/l-future/data".into();
    let mut tenant = db1().log("l-tenant", 7, t, t + 3000);
    tenant.tenant_id = "t2".into();
    let mut region = db1().log("l-region", 8, t, t + 4000);
    region.region = "r2".into();
    region.files[0].key = "db-1/l-region/data".into();
    for (d, says) in [
        (&outside, "outside the instance's source folder"),
        (&future, "more than a day after now"),
        (&tenant, "tenant \"t1\""),
        (&region, "in region \"r1\""),
    ] {
        let err = env.catalog.record_backup(d).await.unwrap_err().to_string();
        assert!(err.contains(says), "{}: {err}", d.backup_id);
    }
    // Discovered the same way by reconciliation: refused, never pending.
    let req = pb::PendingBackupsRequest {
        service_id: svc.clone(),
        discovered: vec![outside, future, tenant, region],
        ..Default::default()
    };
    let r = env.catalog.pending_backups(&req).await.unwrap();
    let ids: Vec<&str> = r.backups.iter().map(|d| d.backup_id.as_str()).collect();
    assert_eq!(ids, ["f1"]);
}

#[tokio::test]
async fn pending_pages_and_never_reaches_before_the_synced_full() {
    let (env, svc) = enrolled().await;
    let t = JAN_1 - 30 * DAY;
    // Binlog 4 ends exactly where the FULL (binlog 5) starts.
    let before = db1().log("l-0004", 4, t - 1000, t);
    let full = db1().full("f-0005", 5, t);
    env.catalog.record_backup(&before).await.unwrap();
    env.catalog.record_backup(&full).await.unwrap();
    let logs: Vec<rds::BackupDescriptor> = (0..450)
        .map(|i| {
            db1().log(
                &format!("l-{:04}", 5 + i),
                5 + i,
                t + i as i64 * 1000,
                t + (i as i64 + 1) * 1000,
            )
        })
        .collect();
    for l in &logs {
        env.catalog.record_backup(l).await.unwrap();
    }
    env.synced(&svc, &full, JAN_1).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let req = pb::PendingBackupsRequest {
            service_id: svc.clone(),
            page_token: token.clone(),
            ..Default::default()
        };
        let r = env.catalog.pending_backups(&req).await.unwrap();
        assert!(r.backups.len() <= 200);
        seen.extend(r.backups.into_iter().map(|d| d.backup_id));
        pages += 1;
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    assert_eq!(pages, 3);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 450, "every log after the FULL once");
    assert!(
        !seen.contains(&"l-0004".to_string()),
        "D1: the log before the FULL"
    );
    for bad in ["x", "b1.1", "p1.3"] {
        let req = pb::PendingBackupsRequest {
            service_id: svc.clone(),
            page_token: bad.into(),
            ..Default::default()
        };
        assert!(env.catalog.pending_backups(&req).await.is_err(), "{bad}");
    }
}

#[tokio::test]
async fn degraded_ends_exactly_when_its_failed_backup_is_synced() {
    let (env, svc) = enrolled().await;
    let t = JAN_1 - DAY;
    let full = db1().full("f1", 5, t);
    let l5 = db1().log("l5", 5, t, t + 1000);
    let l6 = db1().log("l6", 6, t + 1000, t + 2000);
    let l7 = db1().log("l7", 7, t + 2000, t + 3000);
    for d in [&full, &l5, &l6, &l7] {
        env.catalog.record_backup(d).await.unwrap();
    }
    env.synced(&svc, &full, JAN_1).await;
    assert_eq!(
        env.state(&svc).await,
        (ServiceState::Running, String::new())
    );

    // A transient failure shows, and goes away once that backup is copied.
    env.failed(&svc, "l5", false).await;
    let (state, error) = env.state(&svc).await;
    assert_eq!(state, ServiceState::Running);
    assert!(error.contains("l5"), "{error}");
    env.synced(&svc, &l5, JAN_1).await;
    assert_eq!(
        env.state(&svc).await,
        (ServiceState::Running, String::new())
    );

    // l6 fails for good: DEGRADED. A later transient failure of l7 neither
    // replaces the reason nor lets l7's copy end DEGRADED.
    env.failed(&svc, "l6", true).await;
    env.failed(&svc, "l7", false).await;
    let (state, error) = env.state(&svc).await;
    assert_eq!(state, ServiceState::Degraded);
    assert!(error.contains("l6"), "{error}");
    env.synced(&svc, &l7, JAN_1).await;
    assert_eq!(env.state(&svc).await.0, ServiceState::Degraded);
    env.synced(&svc, &l6, JAN_1).await;
    assert_eq!(
        env.state(&svc).await,
        (ServiceState::Running, String::new())
    );
}

#[tokio::test]
async fn usage_counts_stored_bytes_on_days_without_transfers() {
    let (env, svc) = enrolled().await;
    let t = JAN_1 - DAY;
    // An older FULL, past retention once the newer one is there.
    let old = db1().full("f0", 1, t - 40 * DAY);
    let full = db1().full("f1", 5, t - 10 * DAY);
    for d in [&old, &full] {
        env.catalog.record_backup(d).await.unwrap();
    }
    // Day 1: two copies of 1 GB, one file each. Day 3: only an expiry,
    // which transfers nothing. Asked on day 4.
    env.synced(&svc, &old, JAN_1 + 1000).await;
    env.synced(&svc, &full, JAN_1 + 2000).await;
    env.at(JAN_1 + 2 * DAY + 5000);
    let expired = pb::BackupExpired {
        service_id: svc.clone(),
        tenant_id: "t1".into(),
        backup_id: "f0".into(),
        expired_at: None,
    };
    env.catalog.backup_expired(&expired).await.unwrap();
    env.at(JAN_1 + 3 * DAY + 5000);
    let plan = PricePlan {
        name: "paid".into(),
        currency: "CNY".into(),
        per_gb_transferred: 2.0,
        per_gb_day_stored: 0.5,
    };
    let req = pb::GetUsageRequest {
        service_id: svc.clone(),
        ..Default::default()
    };
    let usage = env.catalog.usage("t1", &req, &plan).await.unwrap();
    let days: Vec<(&str, u64, u64, u64)> = usage
        .days
        .iter()
        .map(|d| {
            let day = d.day.as_str();
            (
                day,
                d.bytes_transferred,
                d.objects_transferred,
                d.bytes_stored,
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-01-01", 2_000_000_000, 2, 2_000_000_000),
            ("2026-01-02", 0, 0, 2_000_000_000),
            ("2026-01-03", 0, 0, 1_000_000_000),
            ("2026-01-04", 0, 0, 1_000_000_000),
        ]
    );
    // 2 GB transferred at 2.0, 2 + 2 + 1 + 1 GB-days at 0.5.
    assert!((usage.amount - (4.0 + 3.0)).abs() < 1e-9, "{usage:?}");
    // A range starting in the far future selects nothing.
    let later = pb::GetUsageRequest {
        service_id: svc,
        from: Some(timestamp(i64::MAX)),
        to: None,
    };
    assert!(env
        .catalog
        .usage("t1", &later, &plan)
        .await
        .unwrap()
        .days
        .is_empty());
}
