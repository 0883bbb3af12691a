//! Between two `file://` regions the worker copies in the kernel and hashes
//! what landed (crates/transfer-worker/src/local.rs): same guarantees as the
//! object-store path, over the real services.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use object_store::path::Path;
use xregion_domain::{layout, Engine};
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{latest_ms, state, SyncEnv};
use xregion_tests::{Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;
const MIB: usize = 1024 * 1024;

/// A stack with two `file://` regions, fsrc and fdst, and tenant A's view
/// of it from the one to the other.
async fn file_regions() -> anyhow::Result<(Stack, SyncEnv)> {
    let stack = Stack::start(StackOptions {
        regions: vec!["r1".into()],
        file_regions: vec!["fsrc".into(), "fdst".into()],
        ..StackOptions::fast_sync()
    })
    .await?;
    let env = SyncEnv::new(&stack, "fsrc", "fdst").await?;
    Ok((stack, env))
}

#[tokio::test(flavor = "multi_thread")]
async fn file_regions_sync_byte_identical_without_leftovers() -> anyhow::Result<()> {
    let (stack, env) = file_regions().await?;
    let mut chain = env.chain("local-1", Engine::Mysql, T0).await?;
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
    let keys = env.keys_under(&prefix).await?;
    assert!(
        keys.iter().all(|k| !k.contains("#partial")),
        "partial files left: {keys:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_file_between_file_regions_lands_nothing() -> anyhow::Result<()> {
    let (_stack, env) = file_regions().await?;
    let mut chain = env.chain("local-bad", Engine::Mysql, T0).await?;
    let (svc, _) = env.corrupted_full("local-bad", chain.full(9 * MIB)).await?;
    let degraded = env.wait_state(&svc.id, pb::ServiceState::Degraded).await?;
    assert!(
        degraded.last_error.contains("sha256"),
        "{}",
        degraded.last_error
    );
    let prefix = layout::service_prefix(TENANT_A, "local-bad", &svc.id);
    let backups = format!("{prefix}/backups");
    let keys = env.keys_under(&backups).await?;
    assert!(keys.is_empty(), "nothing may land: {keys:?}");
    Ok(())
}
