//! `UpdateSyncService` on a real (SQLite) catalog, through the same
//! handlers NATS requests reach.

use prost::Message;
use xregion_bus::{BusError, Event};
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::ErrorCode;

use crate::store::outbox::pending;
use crate::testing::{Source, TestCatalog};

async fn setup() -> (TestCatalog, pb::ServiceRef) {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let service = t
        .service(&Source::new("t1", "db-1", "r1"), "r2")
        .await
        .unwrap();
    (t, service)
}

fn request(id: &str, days: Option<u32>, paths: &[&str]) -> pb::UpdateSyncServiceRequest {
    let mut req = pb::UpdateSyncServiceRequest {
        id: id.into(),
        retention_days: days,
        update_mask: None,
    };
    if !paths.is_empty() {
        let mask = req.update_mask.get_or_insert_with(Default::default);
        mask.paths = paths.iter().map(|p| p.to_string()).collect();
    }
    req
}

/// The update events in the outbox, in order.
async fn updates(t: &TestCatalog) -> Vec<pb::ServiceStateChanged> {
    let mut conn = t.catalog.db.pool.acquire().await.unwrap();
    pending(&mut conn, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == pb::ServiceStateChanged::SUBJECT.tokens())
        .map(|e| pb::ServiceStateChanged::decode(&e.payload[..]).unwrap())
        .filter(|e| !e.updated_fields.is_empty())
        .collect()
}

async fn refused(
    t: &TestCatalog,
    tenant: &str,
    req: pb::UpdateSyncServiceRequest,
) -> (ErrorCode, String) {
    match t.client().request(tenant, &req).await {
        Err(BusError::Remote { code, message, .. }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn sets_the_retention_and_announces_it_once() {
    let (t, service) = setup().await;
    let id = &service.service_id;
    let updated = t
        .client()
        .request("t1", &request(id, Some(3), &["retention_days"]))
        .await
        .unwrap();
    assert_eq!(updated.retention_days, 3);
    assert_eq!(updated.id, *id);
    // The same request again: the same answer, no second event.
    let again = t
        .client()
        .request("t1", &request(id, Some(3), &[]))
        .await
        .unwrap();
    assert_eq!(again.retention_days, 3);
    let events = updates(&t).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].service_id, *id);
    assert_eq!(events[0].tenant_id, "t1");
    assert_eq!(events[0].from, events[0].to, "an update keeps the state");
    assert_eq!(
        (events[0].previous_retention_days, events[0].retention_days),
        (7, 3)
    );
    // Raising it back is a real change: a second event.
    let raised = t
        .client()
        .request("t1", &request(id, Some(30), &["*"]))
        .await
        .unwrap();
    assert_eq!(raised.retention_days, 30);
    assert_eq!(updates(&t).await.len(), 2);
}

#[tokio::test]
async fn refusals_name_the_field_and_change_nothing() {
    let (t, service) = setup().await;
    let id = &service.service_id;
    let cases = [
        (request(id, Some(0), &[]), "retention_days"),
        (
            request(id, Some(1826), &["retention_days"]),
            "retention_days",
        ),
        (request(id, None, &["retention_days"]), "retention_days"),
        (request(id, Some(3), &["engine"]), "\"engine\""),
        (
            request(id, Some(3), &["retention_days", "colour"]),
            "\"colour\"",
        ),
    ];
    for (req, named) in cases {
        let (code, message) = refused(&t, "t1", req).await;
        assert_eq!(code, ErrorCode::InvalidArgument, "{message}");
        assert!(message.contains(named), "{message} names {named}");
    }
    let row = t.catalog.get_service("t1", id).await.unwrap();
    assert_eq!(row.retention_days, 7);
    assert!(updates(&t).await.is_empty());
}

#[tokio::test]
async fn another_tenants_service_is_not_found() {
    let (t, service) = setup().await;
    let (code, _) = refused(&t, "t2", request(&service.service_id, Some(3), &[])).await;
    assert_eq!(code, ErrorCode::NotFound);
    let (code, _) = refused(&t, "t1", request("svc-nope", Some(3), &[])).await;
    assert_eq!(code, ErrorCode::NotFound);
    let row = t
        .catalog
        .get_service("t1", &service.service_id)
        .await
        .unwrap();
    assert_eq!(row.retention_days, 7);
}

#[tokio::test]
async fn a_deleting_or_deleted_service_cannot_be_updated() {
    let (t, service) = setup().await;
    t.delete(&service).await.unwrap();
    let (code, message) = refused(&t, "t1", request(&service.service_id, Some(3), &[])).await;
    assert_eq!(code, ErrorCode::FailedPrecondition, "{message}");
    assert!(message.contains("DELETING"), "{message}");

    let other = t
        .service(&Source::new("t1", "db-2", "r1"), "r2")
        .await
        .unwrap();
    t.delete_and_purge(&other).await.unwrap();
    let (code, _) = refused(&t, "t1", request(&other.service_id, Some(3), &[])).await;
    assert_eq!(code, ErrorCode::FailedPrecondition);
    assert!(updates(&t).await.is_empty());
}
