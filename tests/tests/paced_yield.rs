//! FULLs give way to logs by pace (`worker.full_beside_logs = "paced"`,
//! the default; #19): a log that copies beside a FULL far slower than it
//! copies alone narrows the FULLs to its target region, and the worker
//! shows the allowance as a gauge. The slowdown is made certain by the WAN
//! emulator's shared link, on which the FULL's parts and the log's
//! requests take turns as they would on a real one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use xregion_domain::Engine;
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::wait::wait_until;
use xregion_tests::wan::WanSettings;
use xregion_tests::{Stack, StackOptions};

const MIB: usize = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(60);
/// A FULL's whole window: the larger of parts_in_flight and files_in_flight.
const WHOLE: f64 = 8.0;

async fn allowance(stack: &Stack) -> anyhow::Result<f64> {
    stack
        .metric(
            "transfer-worker",
            "xregion_transfer_full_beside_logs_allowance",
            "target=\"r2\"",
        )
        .await
}

async fn full_bytes_moved(stack: &Stack) -> anyhow::Result<f64> {
    stack
        .metric(
            "transfer-worker",
            "xregion_transfer_bytes_total",
            "lane=\"full\"",
        )
        .await
}

#[tokio::test]
async fn a_log_slowed_by_a_full_narrows_the_full_and_the_gauge_shows_it() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}parts_in_flight = 8\nfiles_in_flight = 2\n"),
        wan_regions: vec!["r2".into()],
        ..Default::default()
    })
    .await?;
    let wan = stack.wan.as_ref().unwrap();
    wan.set(WanSettings {
        shared_bytes_per_sec: Some(16_000_000),
        ..WanSettings::rtt(Duration::from_millis(10), None)
    });
    let mut chain = env
        .chain("paced-1", Engine::Mysql, 1_760_000_000_000)
        .await?;
    let first = env.upstream.emit(&env.source, &chain.full(MIB)).await?;
    let svc = env.create("paced-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;
    // Logs alone: their copy time is what the budget starts from.
    let mut landed = vec![first];
    for synced in [2, 3] {
        landed.push(
            env.upstream
                .emit(&env.source, &chain.log(60_000, MIB))
                .await?,
        );
        env.wait_running(&svc.id, synced).await?;
    }
    assert_eq!(
        allowance(&stack).await?,
        WHOLE,
        "exported for the route, and nothing narrowed by logs copied alone"
    );

    let before = full_bytes_moved(&stack).await?;
    landed.push(
        env.upstream
            .emit(&env.source, &chain.full(48 * MIB))
            .await?,
    );
    wait_until("the FULL under way", WAIT, || async {
        let moved = full_bytes_moved(&stack).await.unwrap_or(0.0);
        Ok((moved >= before + 5.0 * MIB as f64).then_some(()))
    })
    .await?;
    // Its requests wait their turn behind the FULL's parts on the link.
    landed.push(
        env.upstream
            .emit(&env.source, &chain.log(60_000, MIB))
            .await?,
    );
    let narrowed = wait_until("the FULL narrowed for the log", WAIT, || async {
        let a = allowance(&stack).await?;
        Ok((a < WHOLE).then_some(a))
    })
    .await?;
    assert!(narrowed >= 1.0, "a FULL keeps one request: {narrowed}");
    env.wait_running(&svc.id, 5).await?;
    wan.set(WanSettings::default());
    for backup in &landed {
        env.assert_landed("paced-1", &svc.id, backup).await?;
    }
    Ok(())
}
