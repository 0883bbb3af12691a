//! An outbox row of an event kind this version does not know (written by a
//! newer version before a rollback) is parked, not re-read forever: later
//! events still go out, and the catalog stops promptly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use sqlx::Row;
use xregion_bus::EventSubject;
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::{authed, TENANT_A, TOKEN_A};
use xregion_tests::upstream::Upstream;
use xregion_tests::{wait_until, Stack, StackOptions};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_unknown_outbox_event_is_parked_and_later_events_still_go_out() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec!["catalog", "api-gateway"],
        ..Default::default()
    })
    .await?;
    let mut db = stack.db.as_ref().expect("postgres").connect().await?;
    sqlx::query(
        "INSERT INTO outbox (event, msg_id, payload, created_at) \
         VALUES ('future.kind', 'from-a-newer-version', '\\x00'::bytea, 0)",
    )
    .execute(&mut db)
    .await?;

    let up = Upstream::connect(&stack.nats.url, stack.ns()).await?;
    up.instance_created("later-1", TENANT_A, rds::Engine::Mysql, "r1")
        .await?;
    let api = stack.grpc().await?;
    let created = wait_until("the service created", WAIT, || {
        let mut api = api.clone();
        async move {
            let req = pb::CreateSyncServiceRequest {
                engine: pb::Engine::Mysql as i32,
                source_region: "r1".into(),
                source_instance_id: "later-1".into(),
                target_region: "r2".into(),
                retention_days: None,
                request_id: "later-1".into(),
            };
            Ok(api
                .create_sync_service(authed(TOKEN_A, req))
                .await
                .ok()
                .map(|r| r.into_inner().id))
        }
    })
    .await?;
    wait_until("ServiceCreated published", WAIT, || async {
        let events: Vec<pb::ServiceCreated> = up.events(EventSubject::ServiceCreated).await?;
        Ok(events
            .iter()
            .any(|e| e.service.as_ref().is_some_and(|s| s.service_id == created))
            .then_some(()))
    })
    .await?;
    let parked = sqlx::query("SELECT sent_at FROM outbox WHERE msg_id = 'from-a-newer-version'")
        .fetch_one(&mut db)
        .await?;
    assert!(
        parked.try_get::<Option<i64>, _>("sent_at")?.is_some(),
        "the unknown row is parked as handled"
    );
    assert!(
        stack
            .metric("catalog", "xregion_outbox_parked_total", "")
            .await?
            >= 1.0
    );

    // The relay is idle, not spinning on the row: SIGTERM stops the catalog.
    let status = stack
        .service("catalog")?
        .terminate(Duration::from_secs(15))?;
    assert!(status.success(), "{status:?}");
    Ok(())
}
