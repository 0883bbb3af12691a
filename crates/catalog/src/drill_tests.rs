//! `RecordDrill` on a real (SQLite) catalog, through the same handlers
//! NATS requests reach.

use prost::Message;
use xregion_bus::{BusError, Event};
use xregion_proto::convert::{millis, timestamp};
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::ErrorCode;

use super::*;
use crate::store::outbox::pending;
use crate::testing::{synced, Source, TestCatalog};

const HOUR: i64 = 3_600_000;

/// A RUNNING service with one FULL an hour old; returns it and the FULL's time.
async fn running() -> (TestCatalog, pb::ServiceRef, Source, i64) {
    let (t, source, service) = TestCatalog::with_one_service().await.unwrap();
    let at = t.catalog.now() - HOUR;
    let full = source.full("f1", 1, at);
    t.backup(&full).await.unwrap();
    t.catalog
        .backup_synced(&synced(&service, &full, t.catalog.now()))
        .await
        .unwrap();
    assert_eq!(
        get(&t, &service).await.state,
        pb::ServiceState::Running as i32
    );
    (t, service, source, at)
}

async fn get(t: &TestCatalog, service: &pb::ServiceRef) -> pb::SyncService {
    let req = pb::GetSyncServiceRequest {
        id: service.service_id.clone(),
    };
    t.client().request("t1", &req).await.unwrap()
}

fn drill(
    t: &TestCatalog,
    service: &pb::ServiceRef,
    id: &str,
    restored_to: Option<i64>,
) -> pb::RecordDrillRequest {
    pb::RecordDrillRequest {
        service_id: service.service_id.clone(),
        drill_id: id.into(),
        started_at: Some(timestamp(t.catalog.now())),
        success: restored_to.is_some(),
        restored_to: restored_to.map(timestamp),
        rto_ms: 4_200,
        error: if restored_to.is_some() {
            String::new()
        } else {
            "mariadb: table missing".into()
        },
    }
}

async fn record(t: &TestCatalog, req: &pb::RecordDrillRequest) -> xregion_bus::Result<pb::Empty> {
    t.client().request("", req).await
}

async fn drill_events(t: &TestCatalog) -> Vec<pb::DrillCompleted> {
    let mut conn = t.catalog.db.pool.acquire().await.unwrap();
    pending(&mut conn, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == pb::DrillCompleted::SUBJECT.tokens())
        .map(|e| pb::DrillCompleted::decode(&e.payload[..]).unwrap())
        .collect()
}

#[tokio::test]
async fn a_successful_drill_sets_the_verified_point_and_rto_once() {
    let (t, service, _, at) = running().await;
    let before = get(&t, &service).await;
    assert_eq!(before.verified_restorable_time, None);
    assert_eq!(before.last_drill_time, None);
    let req = drill(&t, &service, "d1", Some(at));
    record(&t, &req).await.unwrap();
    record(&t, &req).await.unwrap(); // a repeat changes nothing
    let after = get(&t, &service).await;
    assert_eq!(after.verified_restorable_time, Some(timestamp(at)));
    assert_eq!(after.verified_restorable_time, after.latest_data_time);
    assert_eq!(after.last_drill_time, req.started_at);
    assert_eq!(after.last_drill_rto_ms, 4_200);
    assert_eq!(after.last_drill_error, "");
    assert_eq!(after.state, pb::ServiceState::Running as i32);
    let events = drill_events(&t).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].success);
    assert_eq!(
        (events[0].tenant_id.as_str(), events[0].drill_id.as_str()),
        ("t1", "d1")
    );
    assert_eq!(events[0].restored_to, Some(timestamp(at)));
    let states = t
        .client()
        .request(
            "",
            &pb::ServiceStatesRequest {
                service_ids: vec![service.service_id.clone()],
            },
        )
        .await
        .unwrap();
    assert_eq!(states.statuses[0].last_drill_time, req.started_at);
    assert_eq!(states.statuses[0].latest_data_time, Some(timestamp(at)));
}

#[tokio::test]
async fn a_failed_drill_degrades_and_a_later_success_ends_it() {
    let (t, service, _, at) = running().await;
    record(&t, &drill(&t, &service, "d1", Some(at)))
        .await
        .unwrap();
    record(&t, &drill(&t, &service, "d2", None)).await.unwrap();
    let failed = get(&t, &service).await;
    assert_eq!(failed.state, pb::ServiceState::Degraded as i32);
    assert!(
        failed.last_error.contains("drill d2 failed")
            && failed.last_error.contains("table missing"),
        "{}",
        failed.last_error
    );
    assert_eq!(failed.last_drill_error, "mariadb: table missing");
    // The point verified before stays, and so does its RTO.
    assert_eq!(failed.verified_restorable_time, Some(timestamp(at)));
    assert_eq!(failed.last_drill_rto_ms, 4_200);
    record(&t, &drill(&t, &service, "d3", Some(at)))
        .await
        .unwrap();
    let ok = get(&t, &service).await;
    assert_eq!(ok.state, pb::ServiceState::Running as i32);
    assert_eq!(
        (ok.last_error.as_str(), ok.last_drill_error.as_str()),
        ("", "")
    );
    let events = drill_events(&t).await;
    let outcomes: Vec<(&str, bool)> = events
        .iter()
        .map(|e| (e.drill_id.as_str(), e.success))
        .collect();
    assert_eq!(outcomes, [("d1", true), ("d2", false), ("d3", true)]);
}

#[tokio::test]
async fn a_success_does_not_end_a_degraded_a_failed_backup_caused() {
    let (t, service, source, at) = running().await;
    let fail = |backup_id: &str| pb::BackupSyncFailed {
        service: Some(service.clone()),
        backup_id: backup_id.into(),
        reason: "checksum mismatch".into(),
        attempt: 5,
        permanent: true,
        failed_at: None,
    };
    // Degraded by a drill, then a backup fails for good: the backup is the
    // cause now, and a successful drill leaves it.
    record(&t, &drill(&t, &service, "d1", None)).await.unwrap();
    t.backup(&source.log("l1", 1, at, at + 1000)).await.unwrap();
    t.catalog.backup_failed(&fail("l1")).await.unwrap();
    record(&t, &drill(&t, &service, "d2", Some(at)))
        .await
        .unwrap();
    let svc = get(&t, &service).await;
    assert_eq!(svc.state, pb::ServiceState::Degraded as i32);
    assert!(svc.last_error.contains("backup l1"), "{}", svc.last_error);
    assert_eq!(svc.verified_restorable_time, Some(timestamp(at)));
    // A failed drill while a backup is the cause does not replace it.
    record(&t, &drill(&t, &service, "d3", None)).await.unwrap();
    let svc = get(&t, &service).await;
    assert!(svc.last_error.contains("backup l1"), "{}", svc.last_error);
    assert_eq!(svc.last_drill_error, "mariadb: table missing");
}

#[tokio::test]
async fn an_older_drill_reported_late_changes_nothing() {
    let (t, service, _, at) = running().await;
    let mut late = drill(&t, &service, "d-old", None);
    late.started_at = Some(timestamp(t.catalog.now() - HOUR));
    record(&t, &drill(&t, &service, "d-new", Some(at)))
        .await
        .unwrap();
    record(&t, &late).await.unwrap();
    let svc = get(&t, &service).await;
    assert_eq!(svc.state, pb::ServiceState::Running as i32);
    assert_eq!(drill_events(&t).await.len(), 1);
}

#[tokio::test]
async fn hostile_reports_are_refused_and_record_nothing() {
    let (t, service, _, at) = running().await;
    let now = t.catalog.now();
    let ok = || drill(&t, &service, "d1", Some(at));
    let cases: Vec<(&str, pb::RecordDrillRequest)> = vec![
        (
            "bad drill id",
            pb::RecordDrillRequest {
                drill_id: "../x".into(),
                ..ok()
            },
        ),
        (
            "no drill id",
            pb::RecordDrillRequest {
                drill_id: String::new(),
                ..ok()
            },
        ),
        (
            "bad service id",
            pb::RecordDrillRequest {
                service_id: "a b".into(),
                ..ok()
            },
        ),
        (
            "no start",
            pb::RecordDrillRequest {
                started_at: None,
                ..ok()
            },
        ),
        (
            "start in the future",
            pb::RecordDrillRequest {
                started_at: Some(timestamp(now + 24 * HOUR)),
                ..ok()
            },
        ),
        (
            "start long ago",
            pb::RecordDrillRequest {
                started_at: Some(timestamp(now - 30 * 24 * HOUR)),
                ..ok()
            },
        ),
        (
            "rto of a year",
            pb::RecordDrillRequest {
                rto_ms: 365 * 24 * 3_600_000,
                ..ok()
            },
        ),
        (
            "success without point",
            pb::RecordDrillRequest {
                restored_to: None,
                ..ok()
            },
        ),
        (
            "point after the latest data",
            pb::RecordDrillRequest {
                restored_to: Some(timestamp(at + 1)),
                ..ok()
            },
        ),
    ];
    for (what, req) in cases {
        match record(&t, &req).await {
            Err(BusError::Remote { code, .. }) => {
                assert_eq!(code, ErrorCode::InvalidArgument, "{what}")
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    // Internal: a tenant may not report drills.
    match t.client().request("t1", &ok()).await {
        Err(BusError::Remote { code, .. }) => assert_eq!(code, ErrorCode::PermissionDenied),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let unknown = pb::RecordDrillRequest {
        service_id: "svc-nope".into(),
        ..ok()
    };
    match record(&t, &unknown).await {
        Err(BusError::Remote { code, .. }) => assert_eq!(code, ErrorCode::NotFound),
        other => panic!("expected NOT_FOUND, got {other:?}"),
    }
    let svc = get(&t, &service).await;
    assert_eq!(
        (svc.last_drill_time, svc.verified_restorable_time),
        (None, None)
    );
    assert!(drill_events(&t).await.is_empty());
    // A long error with control characters is kept short and on one line.
    let noisy = pb::RecordDrillRequest {
        error: format!("boom\n\u{1b}[31m{}", "x".repeat(10_000)),
        ..drill(&t, &service, "d2", None)
    };
    record(&t, &noisy).await.unwrap();
    let svc = get(&t, &service).await;
    assert_eq!(svc.last_drill_error.chars().count(), MAX_DRILL_ERROR);
    assert!(!svc.last_drill_error.chars().any(char::is_control));
    assert!(millis(svc.last_drill_time.as_ref().unwrap()) <= t.catalog.now());
}
