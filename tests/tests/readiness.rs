//! Readiness means ready: `/readyz` is 503 and names what is missing while
//! NATS, the catalog's database or a service's consumer is unavailable,
//! `/livez` stays 200 all along, and what the server lost (a durable
//! consumer, a stream) is declared again so that syncing resumes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use async_nats::jetstream;
use xregion_domain::Engine;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::{http_get, TENANT_A};
use xregion_tests::sync::{fast_sync_without_cleanup, SyncEnv};
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;

fn port(stack: &Stack, service: &str) -> u16 {
    *stack.http_ports.get(service).expect("service started")
}

/// Waits until `service`'s `/readyz` answers `code` with a body containing
/// `says`; returns the body.
async fn wait_readyz(
    stack: &Stack,
    service: &str,
    code: u16,
    says: &str,
) -> anyhow::Result<String> {
    let port = port(stack, service);
    let what = format!("{service} /readyz {code} saying {says:?}");
    wait_until(&what, WAIT, || async move {
        let (got, body) = http_get(port, "/readyz").await?;
        Ok((got == code && body.contains(says)).then_some(body))
    })
    .await
}

async fn livez(stack: &Stack, service: &str) -> anyhow::Result<u16> {
    Ok(http_get(port(stack, service), "/livez").await?.0)
}

/// The readiness gauge of check `check` on `service`'s /metrics.
async fn ready_gauge(stack: &Stack, service: &str, check: &str) -> anyhow::Result<f64> {
    stack
        .metric(service, "xregion_ready", &format!("check=\"{check}\""))
        .await
}

#[tokio::test]
async fn readyz_names_nats_while_it_is_down_and_syncing_resumes_after_its_restart(
) -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let svc = env.seeding("nats-down-1").await?;
    let mut chain = ChainGen::new("nats-down-1", TENANT_A, "r1", Engine::Mysql, T0);
    env.upstream.emit(&env.source, &chain.full(4096)).await?;
    env.wait_running(&svc.id, 1).await?;
    let services: Vec<String> = stack.services.keys().cloned().collect();
    for service in &services {
        let (code, body) = http_get(port(&stack, service), "/readyz").await?;
        assert_eq!(code, 200, "{service} /readyz: {body}");
        let (code, _) = http_get(port(&stack, service), "/healthz").await?;
        assert_eq!(code, 200, "{service} /healthz is /readyz");
        assert_eq!(ready_gauge(&stack, service, "nats").await?, 1.0);
    }
    let metrics = stack.metrics("transfer-worker").await?;
    assert!(metrics.contains("# HELP xregion_ready"), "{metrics}");

    stack.nats.process.kill();
    for service in &services {
        let body = wait_readyz(&stack, service, 503, "nats: ").await?;
        assert!(body.starts_with("not ready\n"), "{service}: {body}");
        assert_eq!(livez(&stack, service).await?, 200, "{service} is alive");
        let (code, _) = http_get(port(&stack, service), "/healthz").await?;
        assert_eq!(code, 503, "{service} /healthz is /readyz");
    }
    assert_eq!(ready_gauge(&stack, "catalog", "nats").await?, 0.0);

    let log_dir = stack.dir.path().to_path_buf();
    stack.nats.restart(&log_dir).await?;
    for service in &services {
        wait_readyz(&stack, service, 200, "ok").await?;
    }
    env.upstream
        .emit(&env.source, &chain.log(5 * MIN, 4096))
        .await?;
    env.wait_running(&svc.id, 2).await?;
    Ok(())
}

#[tokio::test]
async fn a_deleted_worker_consumer_is_re_created_and_copies_what_comes_after() -> anyhow::Result<()>
{
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let ns = stack.ns();
    let js = jetstream::new(stack.nats.client().await?);
    let transfers = js.get_stream(ns.transfers_stream()).await?;
    let durable = ns.durable("transfer-full");
    let before = transfers
        .consumer_info(&durable)
        .await
        .map_err(|e| anyhow::anyhow!("{durable}: {e}"))?
        .created;

    transfers.delete_consumer(&durable).await?;
    let check = format!("consumer:{durable}");
    let again = wait_until("the FULL lane's consumer to exist again", WAIT, || async {
        Ok(transfers
            .consumer_info(&durable)
            .await
            .ok()
            .map(|i| i.created))
    })
    .await?;
    assert!(again > before, "a new consumer, not the old one");
    wait_readyz(&stack, "transfer-worker", 200, "ok").await?;
    assert_eq!(ready_gauge(&stack, "transfer-worker", &check).await?, 1.0);
    let metrics = stack.metrics("transfer-worker").await?;
    assert_eq!(
        xregion_tests::metrics::counter(
            &metrics,
            "xregion_bus_consumers_recreated_total",
            &format!("durable=\"{durable}\"")
        ),
        1,
        "{metrics}"
    );
    let log = stack.services["transfer-worker"].log_text();
    assert!(log.contains("consumer re-created"), "{log}");

    // A FULL queued afterwards goes through the re-created consumer.
    let svc = env.seeding("consumer-gone-1").await?;
    let mut chain = ChainGen::new("consumer-gone-1", TENANT_A, "r1", Engine::Mysql, T0);
    env.upstream.emit(&env.source, &chain.full(4096)).await?;
    env.wait_running(&svc.id, 1).await?;
    Ok(())
}

#[tokio::test]
async fn a_deleted_transfers_stream_is_declared_again_and_lost_jobs_are_queued_again(
) -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let ns = stack.ns();
    let js = jetstream::new(stack.nats.client().await?);

    // Deleted under a running worker: its consumers declare it again.
    js.delete_stream(ns.transfers_stream()).await?;
    wait_until("the transfers stream to exist again", WAIT, || async {
        Ok(js.get_stream(ns.transfers_stream()).await.ok().map(|_| ()))
    })
    .await?;
    wait_readyz(&stack, "transfer-worker", 200, "ok").await?;
    let log = stack.services["transfer-worker"].log_text();
    assert!(log.contains("stream re-created"), "{log}");
    let svc = env.seeding("stream-gone-1").await?;
    let mut chain = ChainGen::new("stream-gone-1", TENANT_A, "r1", Engine::Mysql, T0);
    env.upstream.emit(&env.source, &chain.full(4096)).await?;
    env.wait_running(&svc.id, 1).await?;

    // A job that was in the deleted stream is lost with it; reconciliation
    // queues it again.
    stack.kill("transfer-worker");
    env.upstream
        .emit(&env.source, &chain.log(5 * MIN, 4096))
        .await?;
    wait_until("the LOG's job to wait in the stream", WAIT, || async {
        let mut stream = js.get_stream(ns.transfers_stream()).await?;
        Ok((stream.info().await?.state.messages > 0).then_some(()))
    })
    .await?;
    js.delete_stream(ns.transfers_stream()).await?;
    stack.start_service("transfer-worker", &[]).await?;
    env.wait_running(&svc.id, 2).await?;
    Ok(())
}

#[tokio::test]
async fn readyz_names_a_consumer_whose_stream_the_service_may_not_create() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec![],
        ..StackOptions::default()
    })
    .await?;
    let ns = stack.ns();
    stack.nats.declare_upstream_stream(&ns).await?;
    stack
        .start_service("catalog", &["--set", "bus.create_upstream_stream=false"])
        .await?;
    let check = format!("consumer:{}", ns.durable("catalog-upstream"));
    assert_eq!(ready_gauge(&stack, "catalog", &check).await?, 1.0);

    let js = jetstream::new(stack.nats.client().await?);
    js.delete_stream(ns.upstream_stream()).await?;
    // First the pull fails (the consumer went with its stream), then the
    // declaration finds the stream missing and leaves it to the upstream.
    let missing = format!("{check}: stream {} not found", ns.upstream_stream());
    let body = wait_readyz(&stack, "catalog", 503, &missing).await?;
    assert!(body.contains("the upstream owns it"), "{body}");
    assert!(!body.contains("nats: "), "NATS itself is fine: {body}");
    assert_eq!(livez(&stack, "catalog").await?, 200);
    assert_eq!(ready_gauge(&stack, "catalog", &check).await?, 0.0);
    assert!(
        js.get_stream(ns.upstream_stream()).await.is_err(),
        "the upstream's stream is not the catalog's to create"
    );

    // The upstream declares it again: the consumer follows by itself.
    stack.nats.declare_upstream_stream(&ns).await?;
    wait_readyz(&stack, "catalog", 200, "ok").await?;
    let log = stack.services["catalog"].log_text();
    assert!(log.contains("consumer re-created"), "{log}");
    Ok(())
}

#[tokio::test]
async fn the_catalog_readyz_names_the_database_while_it_refuses_connections() -> anyhow::Result<()>
{
    let stack = Stack::start(StackOptions::api_only()).await?;
    let db = stack.db.as_ref().expect("the stack runs on PostgreSQL");
    wait_readyz(&stack, "catalog", 200, "ok").await?;
    assert_eq!(ready_gauge(&stack, "catalog", "database").await?, 1.0);

    db.refuse_connections().await?;
    let body = wait_readyz(&stack, "catalog", 503, "database: ").await?;
    assert!(!body.contains("nats: "), "NATS itself is fine: {body}");
    assert_eq!(livez(&stack, "catalog").await?, 200);
    assert_eq!(ready_gauge(&stack, "catalog", "database").await?, 0.0);
    // The gateway has no database of its own: still ready.
    let (code, body) = http_get(port(&stack, "api-gateway"), "/readyz").await?;
    assert_eq!(code, 200, "{body}");

    db.accept_connections().await?;
    wait_readyz(&stack, "catalog", 200, "ok").await?;
    Ok(())
}
