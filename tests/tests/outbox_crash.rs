//! The catalog killed after committing a create and before publishing its
//! event: after restart, ServiceCreated arrives exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use sqlx::Row;
use tonic::Code;
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::api::{as_a, create_request};
use xregion_tests::sync::SyncEnv;
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

#[tokio::test]
async fn service_created_is_published_exactly_once_after_a_crash() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec!["api-gateway"],
        extra_config: "".into(),
        ..Default::default()
    })
    .await?;
    stack
        .start_service(
            "catalog",
            &[
                "--set",
                "catalog.fail_point=after_create_commit",
                "--set",
                "bus.request_timeout_secs=2",
            ],
        )
        .await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    env.instance("crash-1", Engine::Mysql, "r1").await?;
    let (mut api, up) = (env.api.clone(), &env.probe);

    let req = pb::CreateSyncServiceRequest {
        request_id: "crash-req".into(),
        ..create_request("crash-1")
    };
    let err = api
        .create_sync_service(as_a(req.clone()))
        .await
        .expect_err("the catalog aborts mid-call");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    stack
        .wait_exited("catalog", "its fail point after the commit")
        .await?;

    // Committed, not published.
    let db_url = stack
        .db
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("postgres stack"))?
        .url
        .clone();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url).await?;
    let pending: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND event = 'service.created'",
    )
    .fetch_one(&mut conn)
    .await?
    .try_get("n")?;
    assert_eq!(pending, 1);
    assert!(up
        .events::<pb::ServiceCreated>(EventSubject::ServiceCreated)
        .await?
        .is_empty());

    // Restart without the fault: the relay publishes the pending event.
    stack.start_service("catalog", &[]).await?;
    let some = |e: &[pb::ServiceCreated]| !e.is_empty();
    let events = up
        .wait_events(
            "ServiceCreated after restart",
            EventSubject::ServiceCreated,
            some,
        )
        .await?;
    outbox_drained(&db_url).await?;

    // Republishing the same outbox row again (as a crash between publish and
    // mark-sent would) is dropped by JetStream's dedupe.
    sqlx::query("UPDATE outbox SET sent_at = NULL")
        .execute(&mut conn)
        .await?;
    stack.kill("catalog");
    stack.start_service("catalog", &[]).await?;
    outbox_drained(&db_url).await?;
    let after = up
        .events::<pb::ServiceCreated>(EventSubject::ServiceCreated)
        .await?;
    assert_eq!(after.len(), 1, "exactly one ServiceCreated");
    assert_eq!(
        events[0].service.as_ref().map(|s| s.instance_id.as_str()),
        Some("crash-1")
    );

    // The retry with the same request id finds the committed service.
    let svc = api.create_sync_service(as_a(req)).await?.into_inner();
    assert_eq!(
        Some(svc.id.as_str()),
        after[0].service.as_ref().map(|s| s.service_id.as_str())
    );
    Ok(())
}

/// Waits until the relay has published every committed event.
async fn outbox_drained(db_url: &str) -> anyhow::Result<()> {
    wait_until("outbox drained", WAIT, || async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(db_url).await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")
            .fetch_one(&mut conn)
            .await?
            .try_get("n")?;
        Ok((n == 0).then_some(()))
    })
    .await
}
