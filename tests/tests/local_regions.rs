//! Between two `file://` regions the worker copies in the kernel and hashes
//! what landed (crates/transfer-worker/src/local.rs): same guarantees as the
//! object-store path, over the real services.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use futures::TryStreamExt;
use object_store::path::Path;
use xregion_domain::{layout, Engine};
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{latest_ms, state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;
const MIB: usize = 1024 * 1024;

async fn stack() -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        regions: vec!["r1".into()],
        file_regions: vec!["fsrc".into(), "fdst".into()],
        extra_config: format!("{FAST_SYNC_CONFIG}\n"),
        ..Default::default()
    })
    .await
}

async fn keys_under(env: &SyncEnv, prefix: &str) -> Vec<String> {
    env.target
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn file_regions_sync_byte_identical_without_leftovers() -> anyhow::Result<()> {
    let stack = stack().await?;
    let env = SyncEnv::new(&stack, "fsrc", "fdst").await?;
    env.instance("local-1", Engine::Mysql, "fsrc").await?;
    let mut chain = ChainGen::new("local-1", TENANT_A, "fsrc", Engine::Mysql, T0);
    // Larger than the kernel copy's 8 MiB rounds, so several are hashed.
    let full = env
        .upstream
        .emit(&env.source, &chain.full(21 * MIB + 7))
        .await?;
    let mut backups = vec![full];
    for _ in 0..2 {
        backups.push(
            env.upstream
                .emit(&env.source, &chain.log(60_000, MIB))
                .await?,
        );
    }
    let last = backups.last().unwrap().data_end_time.as_ref().map(millis);
    let svc = env.create("local-1", Engine::Mysql, "fsrc", "fdst").await?;
    let running = env
        .wait_service(&svc.id, "RUNNING at the last log", |s| {
            state(s) == pb::ServiceState::Running && latest_ms(s) == last
        })
        .await?;
    assert_eq!(running.synced_backups, 3);
    let prefix = layout::service_prefix(TENANT_A, "local-1", &svc.id);
    for b in &backups {
        for f in &b.files {
            let key = layout::backup_file_key(&prefix, &b.backup_id, &f.key);
            let copied = env.target.get(&Path::from(key)).await?.bytes().await?;
            let source = env
                .source
                .get(&Path::from(f.key.as_str()))
                .await?
                .bytes()
                .await?;
            assert_eq!(copied.len() as u64, f.size);
            assert!(copied == source, "{} differs from its source", f.key);
        }
    }
    let metrics = stack.metrics("transfer-worker").await?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("xregion_transfer_files_total{")
                && l.contains("path=\"kernel\"")
                && l.ends_with("} 3")),
        "all three files take the kernel copy: {metrics}"
    );
    let keys = keys_under(&env, &prefix).await;
    assert!(
        keys.iter().all(|k| !k.contains("#partial")),
        "partial files left: {keys:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_file_between_file_regions_lands_nothing() -> anyhow::Result<()> {
    let stack = stack().await?;
    let env = SyncEnv::new(&stack, "fsrc", "fdst").await?;
    env.instance("local-bad", Engine::Mysql, "fsrc").await?;
    let mut chain = ChainGen::new("local-bad", TENANT_A, "fsrc", Engine::Mysql, T0);
    let full = env
        .upstream
        .write_backup(&env.source, &chain.full(9 * MIB))
        .await?;
    env.upstream.corrupt(&env.source, &full).await?;
    env.upstream.backup_created(&full).await?;
    let svc = env
        .create("local-bad", Engine::Mysql, "fsrc", "fdst")
        .await?;
    let degraded = env
        .wait_service(&svc.id, "DEGRADED with the reason", |s| {
            state(s) == pb::ServiceState::Degraded
        })
        .await?;
    assert!(
        degraded.last_error.contains("sha256"),
        "{}",
        degraded.last_error
    );
    let prefix = layout::service_prefix(TENANT_A, "local-bad", &svc.id);
    let backups = format!("{prefix}/backups");
    let keys = keys_under(&env, &backups).await;
    assert!(keys.is_empty(), "nothing may land: {keys:?}");
    Ok(())
}
