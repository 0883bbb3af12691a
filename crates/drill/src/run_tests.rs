//! One drill pass against a real (SQLite) catalog answered in process, with
//! fake `xregion` scripts: what is drilled, at which point, and what a
//! report the catalog refuses becomes.

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
        stop: tokio_util::sync::CancellationToken::new(),
        tmp_root: std::env::temp_dir(),
        elsewhere: Default::default(),
    }
}

/// A fake `xregion` whose store holds a point a minute after the catalog's
/// latest (`at`): it restores `at` when asked for it, else the store's
/// newest, as `--time latest` would.
fn store_ahead(dir: &std::path::Path, at: i64) -> PathBuf {
    let asked = chrono::DateTime::from_timestamp_millis(at)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let newest = at + 60_000;
    script(
        dir,
        &format!(
            r#"case "$*" in *"--time {asked}"*) at={at};; *) at={newest};; esac
echo "{{\"success\":true,\"seconds\":2.5,\"restored_to_ms\":$at}}""#
        ),
    )
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
async fn the_drill_restores_the_catalog_s_latest_point_not_the_store_s() {
    let _serial = SERIAL.lock().await;
    let (t, service, at) = running().await;
    let dir = tempfile::tempdir().unwrap();
    // The store is ahead of the catalog (a copy written, not yet
    // recorded): the drill checks the catalog's point, and passes.
    let d = driller(&t, &["r1", "r2"], store_ahead(dir.path(), at));
    let report = d.tick().await.unwrap().unwrap();
    assert!(report.success, "{}", report.error);
    let svc = get(&t, &service).await;
    assert_eq!(svc.state, pb::ServiceState::Running as i32);
    assert_eq!(svc.verified_restorable_time, Some(timestamp(at)));
}

#[tokio::test]
async fn a_refusal_of_the_role_s_own_making_degrades_nothing() {
    let _serial = SERIAL.lock().await;
    let (t, service, at) = running().await;
    let dir = tempfile::tempdir().unwrap();
    // This role's clock ten minutes ahead: the catalog refuses the start
    // time. An error of the pass, not a failed drill of the service.
    let mut d = driller(&t, &["r1", "r2"], reporting(dir.path(), at));
    d.clock = xregion_common::clock::SystemClock::shared_with_offset_secs(600);
    let err = d.tick().await.unwrap_err();
    assert!(err.to_string().contains("started_at"), "{err}");
    let svc = get(&t, &service).await;
    assert_eq!(svc.state, pb::ServiceState::Running as i32);
    assert_eq!(
        (svc.last_drill_time, svc.last_drill_error.as_str()),
        (None, "")
    );
}

#[tokio::test]
async fn a_due_service_is_drilled_and_a_wrong_point_is_a_failed_drill() {
    let _serial = SERIAL.lock().await;
    let (t, service, at) = running().await;
    let dir = tempfile::tempdir().unwrap();
    // A child restoring a point after the one asked is broken: a failed
    // drill with why (not retried every tick), the service DEGRADED.
    let d = driller(&t, &["r1", "r2"], reporting(dir.path(), at + 60_000));
    let report = d.tick().await.unwrap().unwrap();
    assert!(!report.success);
    assert!(
        report.error.contains("after the one asked"),
        "{}",
        report.error
    );
    let svc = get(&t, &service).await;
    assert_eq!(svc.state, pb::ServiceState::Degraded as i32);
    assert!(
        svc.last_drill_error.contains("after the one asked"),
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
    // The reported 2.5 s, at most what the role measured around the child.
    assert!(svc.last_drill_rto_ms <= 2_500 && svc.last_drill_rto_ms == report.rto_ms);
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
