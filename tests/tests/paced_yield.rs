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
        shared_bytes_per_sec: Some(8_000_000),
        ..WanSettings::rtt(Duration::from_millis(10), None)
    });
    let mut chain = env
        .chain("paced-1", Engine::Mysql, 1_760_000_000_000)
        .await?;
    let first = env.upstream.emit(&env.source, &chain.full(MIB)).await?;
    let svc = env.create("paced-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;
    // Logs alone: their copy time is what the budget starts from (the
    // first, on new connections, weighs least once three are averaged).
    let mut landed = vec![first];
    const ALONE: u64 = 3;
    for synced in 2..=1 + ALONE {
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

    // About 8 s on the link: long enough for a log or three beside it.
    let before = stack.full_bytes_moved().await?;
    landed.push(
        env.upstream
            .emit(&env.source, &chain.full(64 * MIB))
            .await?,
    );
    wait_until("the FULL under way", WAIT, || async {
        let moved = stack.full_bytes_moved().await.unwrap_or(0.0);
        Ok((moved >= before + 5.0 * MIB as f64).then_some(()))
    })
    .await?;
    // A log's requests wait their turn behind the FULL's parts on the
    // link. One over its budget is enough; on a loaded machine another
    // beside the FULL may be needed to show it.
    let mut narrowed = None;
    for beside in 1..=3 {
        landed.push(
            env.upstream
                .emit(&env.source, &chain.log(60_000, MIB))
                .await?,
        );
        let settled = wait_until("the log beside the FULL copied", WAIT, || async {
            let a = allowance(&stack).await?;
            let copied = env.get(&svc.id).await?.synced_backups >= 1 + ALONE + beside;
            Ok((a < WHOLE || copied).then_some(a))
        })
        .await?;
        if settled < WHOLE {
            narrowed = Some(settled);
            break;
        }
    }
    let narrowed = narrowed.expect("no log copied beside the FULL narrowed it");
    assert!(narrowed >= 1.0, "a FULL keeps one request: {narrowed}");
    env.wait_running(&svc.id, landed.len() as u64).await?;
    wan.set(WanSettings::default());
    for backup in &landed {
        env.assert_landed("paced-1", &svc.id, backup).await?;
    }
    Ok(())
}
