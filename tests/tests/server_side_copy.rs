//! Server-side copy (`worker.server_side_copy`): two buckets of one Garage,
//! the pair opted in. Files are copied inside Garage (CopyObject for a small
//! file, UploadPartCopy for one of several parts), verified by size and
//! sha256, and no byte streams through the worker; a source that does not
//! match its descriptor is never committed; a pair on different endpoints
//! is refused at start. A multipart copy's upload record is gone once the
//! copy completed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use object_store::path::Path;
use sha2::Digest;
use xregion_domain::{layout, Engine};
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;
const MIB: usize = 1024 * 1024;
const WORKER: &str = "transfer-worker";

fn opted_in() -> StackOptions {
    StackOptions {
        // FAST_SYNC_CONFIG ends in [worker] (5 MiB parts).
        extra_config: format!(
            "{FAST_SYNC_CONFIG}server_side_copy = [{{ source = \"r1\", target = \"r2\" }}]\n"
        ),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opted_in_pair_copies_inside_the_store_verified() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(opted_in()).await?;
    let mut chain = env.chain("ssc-1", Engine::Mysql, T0).await?;
    // 12 MiB in 5 MiB parts: UploadPartCopy; the log: one CopyObject.
    let full = env
        .upstream
        .emit(&env.source, &chain.full(12 * MIB))
        .await?;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(5 * MIN, 4096))
        .await?;
    let svc = env.create("ssc-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_service(&svc.id, "RUNNING with both synced", |s| {
        state(s) == pb::ServiceState::Running && s.synced_backups == 2
    })
    .await?;
    let prefix = layout::service_prefix(TENANT_A, "ssc-1", &svc.id);
    let mut total = 0;
    for backup in [&full, &log] {
        let manifest = env
            .target
            .get(&Path::from(layout::manifest_key(
                &prefix,
                &backup.backup_id,
            )))
            .await?
            .bytes()
            .await?;
        let manifest =
            xregion_domain::manifest::Manifest::from_json(&manifest).map_err(anyhow::Error::msg)?;
        assert_eq!(manifest.files.len(), backup.files.len());
        for f in &backup.files {
            let key = layout::backup_file_key(&prefix, &backup.backup_id, &f.key);
            let copied = env.target.get(&Path::from(key)).await?.bytes().await?;
            assert_eq!(copied.len() as u64, f.size, "{}", f.key);
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&copied)),
                f.sha256,
                "{}",
                f.key
            );
            assert!(manifest.files.iter().any(|m| m.sha256 == f.sha256));
            total += f.size;
        }
    }
    // Every byte was copied inside Garage; none streamed through the worker.
    let inside = stack
        .metric(WORKER, "xregion_transfer_server_side_bytes_total", "")
        .await?;
    assert_eq!(inside, total as f64);
    let through = stack
        .metric(WORKER, "xregion_transfer_bytes_total", "")
        .await?;
    assert_eq!(through, 0.0, "bytes streamed through the worker");
    let files = stack
        .metric(
            WORKER,
            "xregion_transfer_files_total",
            "path=\"server_side\"",
        )
        .await?;
    assert_eq!(files, 2.0);
    // The multipart copy's upload was recorded while it ran (so cleanup
    // could abort it) and forgotten once completed: no record is left.
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    let uploads = js.get_key_value(stack.ns().uploads_bucket()).await?;
    let mut keys = uploads.keys().await?;
    while let Some(key) = futures::StreamExt::next(&mut keys).await {
        let key = key?;
        assert!(
            !xregion_bus::UploadsBucket::is_of_service(&key, &svc.id),
            "upload record {key} left after the copy"
        );
    }

    // A source that no longer matches its descriptor: nothing committed.
    let mut chain = env.chain("ssc-bad", Engine::Mysql, T0).await?;
    let (bad, corrupt) = env.corrupted_full("ssc-bad", chain.full(5000)).await?;
    let degraded = env.wait_state(&bad.id, pb::ServiceState::Degraded).await?;
    assert!(
        degraded.last_error.contains("sha256"),
        "{}",
        degraded.last_error
    );
    assert_eq!(degraded.synced_backups, 0);
    let prefix = layout::service_prefix(TENANT_A, "ssc-bad", &bad.id);
    let manifest = layout::manifest_key(&prefix, &corrupt.backup_id);
    assert!(env.target.head(&Path::from(manifest)).await.is_err());
    for f in &corrupt.files {
        let key = layout::backup_file_key(&prefix, &corrupt.backup_id, &f.key);
        assert!(
            env.target.head(&Path::from(key)).await.is_err(),
            "the mismatching copy was deleted"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pair_on_different_endpoints_is_refused_at_start() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        services: Vec::new(),
        ..Default::default()
    })
    .await?;
    // A region like r1 but on another endpoint.
    let mut far = stack.region("r1")?.clone();
    far.id = "far".into();
    far.options
        .insert("aws_endpoint".into(), "http://127.0.0.1:9".into());
    // No service runs on this stack: its configuration is ours to extend.
    let config = std::fs::read_to_string(&stack.config_path)?;
    let far = toml::to_string(&far)?.replace("[options]", "[regions.options]");
    std::fs::write(
        &stack.config_path,
        format!("{config}\n[[regions]]\n{far}\n"),
    )?;
    let out = stack
        .refused_start(
            "worker-far",
            WORKER,
            "worker.server_side_copy=[{source=\"r1\",target=\"far\"}]",
        )
        .await?;
    assert!(
        out.contains("worker.server_side_copy[0]") && out.contains("different endpoints"),
        "{out}"
    );
    // Opting a pair into a region that is not configured is refused too.
    let out = stack
        .refused_start(
            "worker-none",
            WORKER,
            "worker.server_side_copy=[{source=\"r1\",target=\"nowhere\"}]",
        )
        .await?;
    assert!(out.contains("region nowhere is not configured"), "{out}");
    Ok(())
}
