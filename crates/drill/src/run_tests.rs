//! One drill pass against a real (SQLite) catalog answered in process, with
//! fake `xregion` scripts: what is drilled, and what a report the catalog
//! refuses becomes.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use xregion_catalog::testing::{Source, TestCatalog};
use xregion_common::regions::RegionConfig;
use xregion_proto::convert::{millis, timestamp};
use xregion_proto::xregion::v1 as pb;

use crate::config::DrillSettings;
use crate::run::Driller;
use crate::testing::{script, SERIAL};

const HOUR: i64 = 3_600_000;

/// A RUNNING service copying r1 → r2 with one FULL an hour old.
async fn running() -> (TestCatalog, pb::ServiceRef, i64) {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let source = Source::new("t1", "db-1", "r1");
    let service = t.service(&source, "r2").await.unwrap();
    let at = t.catalog.now() - HOUR;
    let full = source.full("f1", 1, at);
    t.backup(&full).await.unwrap();
    t.catalog
        .backup_synced(&pb::BackupSynced {
            service: Some(service.clone()),
            backup: Some(full),
            manifest_key: "m/f1".into(),
            bytes: 1024,
            synced_at: Some(timestamp(t.catalog.now())),
            duration_ms: 1,
        })
        .await
        .unwrap();
    (t, service, at)
}

fn driller(t: &TestCatalog, regions: &[&str], cli: PathBuf) -> Driller {
    Driller {
        catalog: t.client(),
        regions: regions
            .iter()
            .map(|id| RegionConfig {
                id: id.to_string(),
                display_name: String::new(),
                url: "file:///nowhere".into(),
                options: BTreeMap::new(),
                source_key_prefix: None,
                encryption: None,
            })
            .collect(),
        settings: DrillSettings {
            interval: Duration::from_millis(1),
            ..Default::default()
        },
        cli,
        clock: xregion_common::clock::system(),
    }
}

fn reporting(dir: &std::path::Path, restored_to_ms: i64) -> PathBuf {
    script(
        dir,
        &format!(r#"echo '{{"success":true,"seconds":2.5,"restored_to_ms":{restored_to_ms}}}'"#),
    )
}

async fn get(t: &TestCatalog, service: &pb::ServiceRef) -> pb::SyncService {
    let req = pb::GetSyncServiceRequest {
        id: service.service_id.clone(),
    };
    t.client().request("t1", &req).await.unwrap()
}

#[tokio::test]
async fn a_due_service_is_drilled_and_a_refused_report_is_a_failed_drill() {
    let _serial = SERIAL.lock().await;
    let (t, service, at) = running().await;
    let dir = tempfile::tempdir().unwrap();
    // A point after the latest data time: the catalog refuses the report,
    // and the drill is recorded as failed with why (not retried for ever).
    let d = driller(&t, &["r1", "r2"], reporting(dir.path(), at + 60_000));
    let report = d.tick().await.unwrap().unwrap();
    assert!(!report.success);
    assert!(report.error.contains("refused"), "{}", report.error);
    let svc = get(&t, &service).await;
    assert_eq!(svc.state, pb::ServiceState::Degraded as i32);
    assert!(
        svc.last_drill_error.contains("refused"),
        "{}",
        svc.last_drill_error
    );
    // The latest point: verified, and the DEGRADED it caused ends.
    let d = driller(&t, &["r1", "r2"], reporting(dir.path(), at));
    let report = d.tick().await.unwrap().unwrap();
    assert!(report.success, "{}", report.error);
    let svc = get(&t, &service).await;
    assert_eq!(svc.state, pb::ServiceState::Running as i32);
    assert_eq!(svc.verified_restorable_time, Some(timestamp(at)));
    assert_eq!(svc.last_drill_rto_ms, 2_500);
    assert!(millis(svc.last_drill_time.as_ref().unwrap()) <= t.catalog.now());
}

#[tokio::test]
async fn nothing_is_drilled_before_its_interval_or_outside_the_known_regions() {
    let _serial = SERIAL.lock().await;
    let (t, _service, at) = running().await;
    let dir = tempfile::tempdir().unwrap();
    let cli = reporting(dir.path(), at);
    // The service copies into r2, which this configuration lacks.
    assert_eq!(
        driller(&t, &["r1"], cli.clone()).tick().await.unwrap(),
        None
    );
    let mut d = driller(&t, &["r2"], cli);
    assert!(d.tick().await.unwrap().is_some());
    d.settings.interval = Duration::from_secs(3600);
    assert_eq!(
        d.tick().await.unwrap(),
        None,
        "drilled again before the interval"
    );
}
