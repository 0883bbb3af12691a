//! A target reached over a slow link: a multipart part is one PUT, and on a
//! link slower than part size / the client's request timeout a part could
//! never finish, so every attempt timed out and the copy never ended. Parts
//! get their own, longer timeout (`regions::PART_REQUEST_TIMEOUT`). Here the
//! region's timeout is 2 s and each 5 MiB part takes ~5 s through the WAN
//! emulator's 1 MB/s per connection.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::wan::WanSettings;
use xregion_tests::StackOptions;

#[tokio::test]
async fn parts_slower_than_the_request_timeout_still_land() -> anyhow::Result<()> {
    const MIB: usize = 1024 * 1024;
    let (stack, env) = SyncEnv::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}parts_in_flight = 2\n"),
        wan_regions: vec!["r2".into()],
        s3_options: vec![("timeout".into(), "2s".into())],
        ..Default::default()
    })
    .await?;
    stack
        .wan
        .as_ref()
        .unwrap()
        .set(WanSettings::rtt(Duration::ZERO, Some(1_000_000)));
    let mut chain = env
        .chain("slow-1", Engine::Mysql, 1_760_000_000_000)
        .await?;
    // Two parts of 5 MiB and one of 1 MiB: each full part ~5 s on its link.
    let full = env
        .upstream
        .emit(&env.source, &chain.full(11 * MIB))
        .await?;
    let svc = env.create("slow-1", Engine::Mysql, "r1", "r2").await?;
    let running = env.wait_state(&svc.id, pb::ServiceState::Running).await?;
    assert_eq!(running.synced_backups, 1);
    // Read back at full speed: the test's own client has the 2 s timeout.
    stack.wan.as_ref().unwrap().set(WanSettings::default());
    env.assert_landed("slow-1", &svc.id, &full).await?;
    Ok(())
}
