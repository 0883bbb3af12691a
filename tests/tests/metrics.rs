//! Metrics that drive alerts (#16 point 3), scraped from the real services:
//! bytes counted as they move during a throttled copy (before BackupSynced),
//! the lane's backlog while it runs, the copy duration histogram, `# HELP`
//! on what the alerts use, and the catalog's per-service lag, latest data
//! time and state gauges, gone once the service is deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use futures::StreamExt;
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{latest_ms, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

const MIB: u64 = 1024 * 1024;
/// The pair's limit: 2 MiB/s, so the FULL below takes about 12 s.
const LIMIT: u64 = 2 * MIB;
const SIZE: usize = 24 * MIB as usize;
const T0: i64 = 1_760_000_000_000;
const BYTES: &str = "xregion_transfer_bytes_total";
const BACKLOG: &str = "xregion_transfer_backlog_jobs";

async fn bytes(stack: &Stack) -> anyhow::Result<f64> {
    stack
        .metric("transfer-worker", BYTES, "lane=\"full\"")
        .await
}

#[tokio::test]
async fn bytes_move_during_a_copy_and_the_catalog_exports_each_services_lag() -> anyhow::Result<()>
{
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: format!(
            "{FAST_SYNC_CONFIG}bandwidth = [{{ source = \"r1\", target = \"r2\", bytes_per_sec = {LIMIT} }}]\n"
        ),
        ..Default::default()
    })
    .await?;
    // The per-service gauges are refreshed by the lag check: every second here.
    stack.kill("catalog");
    stack
        .start_service("catalog", &["--set", "catalog.lag_check_interval_secs=1"])
        .await?;
    let worker = stack.metrics("transfer-worker").await?;
    // Both lanes, every failure reason and the dead-letter counters start
    // at 0 (with their HELP), so that the alerts' rate() and increase() see
    // the first bytes, failures and dead letters.
    for help in [
        BYTES,
        "xregion_transfer_failures_total",
        "xregion_dead_letters_total",
    ] {
        assert!(
            worker.contains(&format!("# HELP {help} ")),
            "no HELP for {help}:\n{worker}"
        );
    }
    assert!(
        worker.contains("xregion_transfer_failures_total{service=\"xregion-transfer-worker\",reason=\"checksum\"} 0"),
        "{worker}"
    );
    assert!(
        worker.contains(
            "xregion_transfer_bytes_total{service=\"xregion-transfer-worker\",lane=\"log\"} 0"
        ),
        "{worker}"
    );
    assert_eq!(bytes(&stack).await?, 0.0);
    assert!(
        worker.contains("xregion_dead_letters_total{service=\"xregion-transfer-worker\",stream=\""),
        "{worker}"
    );

    let svc = env.seeding("metrics-1").await?;
    let nats = stack.nats.client().await?;
    let mut synced = nats
        .subscribe(stack.ns().event_subject(EventSubject::BackupSynced))
        .await?;
    let mut chain = ChainGen::new("metrics-1", TENANT_A, "r1", Engine::Mysql, T0);
    env.upstream.emit(&env.source, &chain.full(SIZE)).await?;

    wait_until(
        "the full lane's backlog while the copy waits or runs",
        WAIT,
        || async {
            let n = stack
                .metric("transfer-worker", BACKLOG, "lane=\"full\"")
                .await?;
            Ok((n >= 1.0).then_some(()))
        },
    )
    .await?;
    // Two scrapes during the copy, the second higher, both short of the
    // whole backup, and no BackupSynced yet: bytes count as they move.
    let size = SIZE as f64;
    let first = wait_until("the first bytes of the copy", WAIT, || async {
        let n = bytes(&stack).await?;
        Ok((n > 0.0).then_some(n))
    })
    .await?;
    assert!(first < size, "the whole backup counted at once: {first}");
    let second = wait_until("more bytes of the copy", WAIT, || async {
        let n = bytes(&stack).await?;
        Ok((n > first).then_some(n))
    })
    .await?;
    assert!(second < size, "{first} then {second} of {size}");
    let early = tokio::time::timeout(Duration::ZERO, synced.next()).await;
    assert!(
        early.is_err(),
        "BackupSynced before the bytes were all counted"
    );

    let running = env.wait_running(&svc.id, 1).await?;
    synced.next().await;
    assert_eq!(bytes(&stack).await?, size);
    let worker = stack.metrics("transfer-worker").await?;
    for help in [BACKLOG, "xregion_transfer_copy_duration_seconds"] {
        assert!(
            worker.contains(&format!("# HELP {help} ")),
            "no HELP for {help}:\n{worker}"
        );
    }
    assert!(
        worker.contains("xregion_transfer_copy_duration_seconds_bucket{service=\"xregion-transfer-worker\",kind=\"full\",le=\"10\"}")
            && worker.contains("xregion_transfer_copy_duration_seconds_count{service=\"xregion-transfer-worker\",kind=\"full\"} 1"),
        "no copy duration histogram with buckets:\n{worker}"
    );
    wait_until("the backlog to empty", WAIT, || async {
        let n = stack
            .metric("transfer-worker", BACKLOG, "lane=\"full\"")
            .await?;
        Ok((n == 0.0).then_some(()))
    })
    .await?;

    // The catalog's gauges for the service.
    let id = format!("service_id=\"{}\"", svc.id);
    let latest = latest_ms(&running).expect("a RUNNING service has a latest data time") as f64;
    // The latest data time gauge comes with the first refresh after the
    // copy (the lag gauge is there from the creation on, behind by the
    // service's age while it has no copy).
    let lag = wait_until("the service's latest data time gauge", WAIT, || async {
        let text = stack.metrics("catalog").await?;
        Ok(text
            .contains(&format!(
                "xregion_service_latest_data_time_seconds{{service=\"xregion-catalog\",{id},tenant_id=\"{TENANT_A}\"}}"
            ))
            .then_some(text))
    })
    .await?;
    for help in [
        "xregion_service_lag_seconds",
        "xregion_service_latest_data_time_seconds",
        "xregion_service_state",
    ] {
        assert!(lag.contains(&format!("# HELP {help} ")), "{lag}");
    }
    let behind = stack
        .metric("catalog", "xregion_service_lag_seconds", &id)
        .await?;
    let now = chrono::Utc::now().timestamp_millis() as f64;
    assert!(
        (behind - (now - latest) / 1000.0).abs() < 120.0,
        "lag {behind} s, latest data time {latest} ms"
    );
    let at = stack
        .metric("catalog", "xregion_service_latest_data_time_seconds", &id)
        .await?;
    assert_eq!(at, latest / 1000.0);
    wait_until("the service's state gauge to say RUNNING", WAIT, || async {
        let label = format!("{id},tenant_id=\"{TENANT_A}\",state=\"RUNNING\"");
        let v = stack
            .metric("catalog", "xregion_service_state", &label)
            .await?;
        Ok((v == 1.0).then_some(()))
    })
    .await?;

    // A deleted service has no series left.
    env.delete(&svc.id).await?;
    let gone = wait_until("the deleted service's series to go", WAIT, || async {
        let text = stack.metrics("catalog").await?;
        Ok((!text.contains(&id)).then_some(text))
    })
    .await?;
    assert!(
        gone.contains("# TYPE xregion_service_lag_seconds gauge"),
        "{gone}"
    );
    Ok(())
}
