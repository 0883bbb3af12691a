//! A link to the target that drops its connections (#19: copies over a
//! real WAN): a log's direct PUT cut mid-body is tried again within its
//! attempt, so the log lands with no failed attempt, no redelivery and no
//! failure shown on the service.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use xregion_domain::Engine;
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::wait::wait_until;
use xregion_tests::wan::WanSettings;
use xregion_tests::StackOptions;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_log_whose_put_is_cut_mid_body_lands_within_its_attempt() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions {
        extra_config: FAST_SYNC_CONFIG.to_string(),
        wan_regions: vec!["r2".into()],
        ..Default::default()
    })
    .await?;
    let wan = stack.wan.as_ref().unwrap();
    let mut chain = env
        .chain("flaky-1", Engine::Mysql, 1_760_000_000_000)
        .await?;
    let full = env.upstream.emit(&env.source, &chain.full(MIB)).await?;
    let svc = env.create("flaky-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;

    // 3 MiB at 1 MB/s: the PUT is under way for about three seconds.
    wan.set(WanSettings {
        shared_bytes_per_sec: Some(1_000_000),
        ..WanSettings::default()
    });
    let before = wan.bytes_upstream();
    let log = env
        .upstream
        .emit(&env.source, &chain.log(60_000, 3 * MIB))
        .await?;
    wait_until(
        "the log's PUT under way",
        Duration::from_secs(60),
        || async { Ok((wan.bytes_upstream() >= before + 512 * 1024).then_some(())) },
    )
    .await?;
    wan.cut();
    wan.set(WanSettings::default());
    let running = env.wait_running(&svc.id, 2).await?;
    assert!(
        wan.bytes_upstream() - before >= (3 * MIB + 512 * 1024) as u64,
        "the cut came after the PUT: its body was sent once"
    );
    assert!(
        running.last_error.is_empty(),
        "a failure was shown: {}",
        running.last_error
    );
    let metric = |name: &'static str, label: &'static str| {
        let stack = &stack;
        async move { stack.metric("transfer-worker", name, label).await }
    };
    assert_eq!(
        metric("xregion_transfer_failures_total", "").await?,
        0.0,
        "an attempt failed: the PUT was not tried again within it"
    );
    assert!(
        metric("xregion_transfer_put_retries_total", "target=\"r2\"").await? >= 1.0,
        "the try again is counted"
    );
    assert_eq!(
        metric("xregion_transfer_files_total", "path=\"direct\"").await?,
        2.0,
        "the FULL's file and the log's, each PUT directly"
    );
    for backup in [&full, &log] {
        env.assert_landed("flaky-1", &svc.id, backup).await?;
    }
    Ok(())
}
