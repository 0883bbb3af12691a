//! An outbox row of an event kind this version does not know (written by a
//! newer version before a rollback) is parked, not re-read forever: later
//! events still go out, and the catalog stops promptly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use sqlx::{Connection, Row};
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::api::{as_a, create_request};
use xregion_tests::sync::SyncEnv;
use xregion_tests::{wait_until, StackOptions, WAIT};

#[tokio::test]
async fn an_unknown_outbox_event_is_parked_and_later_events_still_go_out() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(StackOptions::api_only()).await?;
    let mut db = stack.db.as_ref().expect("postgres").connect().await?;
    sqlx::query(
        "INSERT INTO outbox (event, msg_id, payload, created_at) \
         VALUES ('future.kind', 'from-a-newer-version', '\\x00'::bytea, 0)",
    )
    .execute(&mut db)
    .await?;

    env.instance("later-1", Engine::Mysql, "r1").await?;
    let req = pb::CreateSyncServiceRequest {
        request_id: "later-1".into(),
        ..create_request("later-1")
    };
    let created = env.api.clone().create_sync_service(as_a(req)).await?;
    let created = created.into_inner().id;
    let published = |events: &[pb::ServiceCreated]| {
        events
            .iter()
            .any(|e| e.service.as_ref().is_some_and(|s| s.service_id == created))
    };
    env.probe
        .wait_events(
            "ServiceCreated published",
            EventSubject::ServiceCreated,
            published,
        )
        .await?;
    // The relay publishes a batch inside its transaction and commits after:
    // the row is marked a moment after the event is seen.
    let url = stack.database_url.clone();
    wait_until("the unknown row to be parked as handled", WAIT, || {
        let url = url.clone();
        async move {
            let mut db = sqlx::PgConnection::connect(&url).await?;
            let parked =
                sqlx::query("SELECT sent_at FROM outbox WHERE msg_id = 'from-a-newer-version'")
                    .fetch_one(&mut db)
                    .await?;
            Ok(parked.try_get::<Option<i64>, _>("sent_at")?.map(|_| ()))
        }
    })
    .await?;
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
