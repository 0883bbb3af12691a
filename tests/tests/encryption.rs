//! Encryption at rest in a target region (#18 point 3), end to end over the
//! real services and Garage: r2 encrypts under a key file. What lands in r2
//! is not the plaintext; `xregion restore` with the key gives the source's
//! bytes back; rotation keeps old backups restorable while their key is
//! given; a missing key or a flipped stored byte fails the restore clearly,
//! with nothing left that looks restored.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::os::unix::fs::PermissionsExt;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;

use object_store::path::Path;
use object_store::ObjectStore;
use sha2::Digest;
use xregion_domain::encryption::{stored_size, CHUNK_SIZE};
use xregion_domain::layout;
use xregion_domain::manifest::Manifest;
use xregion_domain::Engine;
use xregion_proto::convert::millis;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_tests::restore::store_options;
use xregion_tests::stack::{bin_dir, TENANT_A};
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;
const MIB: usize = 1024 * 1024;

fn key_file(dir: &FsPath, name: &str) -> PathBuf {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let path = dir.join(name);
    std::fs::write(&path, hex::encode(key)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn encryption_config(current: (&str, &FsPath), previous: Option<(&str, &FsPath)>) -> String {
    let mut s = format!(
        "[regions.encryption]\nkey_id = \"{}\"\nkey_file = \"{}\"\n",
        current.0,
        current.1.display()
    );
    if let Some((id, path)) = previous {
        s.push_str(&format!(
            "\n[[regions.encryption.previous]]\nkey_id = \"{id}\"\nkey_file = \"{}\"\n",
            path.display()
        ));
    }
    s
}

/// `xregion restore` of the instance at `time` with `keys` (`ID=PATH`).
fn restore(
    stack: &Stack,
    instance: &str,
    time: &str,
    into: &FsPath,
    keys: &[String],
) -> std::process::Output {
    let region = stack.region("r2").unwrap();
    let mut cmd = Command::new(bin_dir().unwrap().join("xregion"));
    cmd.args([
        "--endpoint",
        "http://127.0.0.1:1",
        "restore",
        "--region-store",
        &region.url,
    ])
    .args(["--instance", instance, "--time", time, "--into"])
    .arg(into)
    .args(store_options(region));
    for k in keys {
        cmd.args(["--key-file", k]);
    }
    cmd.output().unwrap()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

fn end_of(d: &BackupDescriptor) -> i64 {
    d.data_end_time.as_ref().map(millis).unwrap_or_default()
}

async fn manifest(env: &SyncEnv, prefix: &str, backup_id: &str) -> Manifest {
    let key = layout::manifest_key(prefix, backup_id);
    let bytes = env
        .target
        .get(&Path::from(key))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    Manifest::from_json(&bytes).unwrap()
}

/// Regions r1 and r2, r2 encrypting under k1 (`k1`), the fast sync
/// settings, then `worker` lines for `[worker]`.
fn encrypted_r2(k1: &FsPath, worker: &str) -> StackOptions {
    StackOptions {
        regions: vec!["r1".into(), "r2".into()],
        extra_config: format!(
            "{}\n{FAST_SYNC_CONFIG}{worker}",
            encryption_config(("k1", k1), None)
        ),
        ..StackOptions::fast_sync()
    }
}

/// Restores the latest point of `instance` with k1 into `into` and checks
/// that each of `backups` comes back as the source's bytes.
async fn restores_identically_with_k1(
    stack: &Stack,
    env: &SyncEnv,
    instance: &str,
    k1: &FsPath,
    backups: &[BackupDescriptor],
    into: &FsPath,
) {
    let out = restore(
        stack,
        instance,
        "latest",
        into,
        &[format!("k1={}", k1.display())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in backups {
        restored_identically(env, d, into).await;
    }
}

/// Every file of `d` restored under `into` is the source's bytes.
async fn restored_identically(env: &SyncEnv, d: &BackupDescriptor, into: &FsPath) {
    for f in &d.files {
        let source = env
            .source
            .get(&Path::from(f.key.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let name = f.key.rsplit('/').next().unwrap();
        let restored = std::fs::read(into.join(&d.backup_id).join(name)).unwrap();
        assert!(
            restored == source.as_ref(),
            "{} differs from the source",
            f.key
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypting_region_stores_ciphertext_restores_with_keys_and_rotates(
) -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let (k1, k2) = (
        key_file(keys.path(), "k1.hex"),
        key_file(keys.path(), "k2.hex"),
    );
    // r2 is the last region, so [regions.encryption] is r2's.
    let opts = StackOptions {
        regions: vec!["r1".into(), "r2".into()],
        extra_config: format!(
            "{}\n{FAST_SYNC_CONFIG}",
            encryption_config(("k1", &k1), None)
        ),
        ..StackOptions::fast_sync()
    };
    let mut stack = Stack::start(opts).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let instance = "mysql-enc";
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    // 12 MiB: past the 5 MiB part size, the resumable multipart path.
    let full = env
        .upstream
        .emit(&env.source, &chain.full(12 * MIB + 7))
        .await?;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(5 * MIN, 3000))
        .await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 2).await?;
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);

    // In r2: ciphertext of the formula's size, no plaintext in it.
    for d in [&full, &log] {
        let m = manifest(&env, &prefix, &d.backup_id).await;
        for (f, mf) in d.files.iter().zip(&m.files) {
            let enc = mf.encryption.as_ref().expect("an encryption record");
            assert_eq!(enc.key_id, "k1");
            assert_eq!((mf.size, mf.sha256.as_str()), (f.size, f.sha256.as_str()));
            let key = layout::backup_file_key(&prefix, &d.backup_id, &f.key);
            let stored = env.target.get(&Path::from(key)).await?.bytes().await?;
            assert_eq!(
                stored.len() as u64,
                stored_size(f.size, CHUNK_SIZE).unwrap()
            );
            assert_ne!(hex::encode(sha2::Sha256::digest(&stored)), f.sha256);
            let source = env
                .source
                .get(&Path::from(f.key.as_str()))
                .await?
                .bytes()
                .await?;
            let sample = &source[..64.min(source.len())];
            assert!(
                !stored.windows(sample.len()).any(|w| w == sample),
                "plaintext in {}",
                f.key
            );
        }
    }

    // Restored with the key: the source's bytes.
    let dir = tempfile::tempdir()?;
    let k1_arg = format!("k1={}", k1.display());
    let into = dir.path().join("with-key");
    let out = restore(
        &stack,
        instance,
        "latest",
        &into,
        std::slice::from_ref(&k1_arg),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    restored_identically(&env, &full, &into).await;
    restored_identically(&env, &log, &into).await;

    // Without it: a clear error naming the key id, exit 4, nothing written.
    let into = dir.path().join("no-key");
    let out = restore(&stack, instance, "latest", &into, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("\"k1\"") && stderr.contains("--key-file"),
        "{stderr}"
    );
    assert!(!into.join("plan.json").exists() && !into.join(&full.backup_id).exists());

    // Rotation: the worker restarts with k2 current and k1 kept.
    let config = std::fs::read_to_string(&stack.config_path)?;
    let rotated = config.replace(
        &encryption_config(("k1", &k1), None),
        &encryption_config(("k2", &k2), Some(("k1", &k1))),
    );
    assert_ne!(config, rotated);
    std::fs::write(&stack.config_path, rotated)?;
    stack.kill("transfer-worker");
    stack.start_service("transfer-worker", &[]).await?;
    let full2 = env.upstream.emit(&env.source, &chain.full(2 * MIB)).await?;
    env.wait_running(&svc.id, 3).await?;
    let m2 = manifest(&env, &prefix, &full2.backup_id).await;
    assert_eq!(m2.files[0].encryption.as_ref().unwrap().key_id, "k2");
    let k2_arg = format!("k2={}", k2.display());
    let both = [k1_arg.clone(), k2_arg.clone()];
    let into = dir.path().join("new");
    let out = restore(&stack, instance, "latest", &into, &both);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    restored_identically(&env, &full2, &into).await;
    let old_time = rfc3339(end_of(&full));
    let into = dir.path().join("old");
    let out = restore(&stack, instance, &old_time, &into, &both);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    restored_identically(&env, &full, &into).await;
    // The old key dropped: the old backup no longer restores, naming k1.
    let into = dir.path().join("old-without-k1");
    let out = restore(
        &stack,
        instance,
        &old_time,
        &into,
        std::slice::from_ref(&k2_arg),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("\"k1\""),
        "{stderr}"
    );

    // A flipped byte in a stored object: detected, nothing restored.
    let f = &full.files[0];
    let key = Path::from(layout::backup_file_key(&prefix, &full.backup_id, &f.key));
    let mut stored = env.target.get(&key).await?.bytes().await?.to_vec();
    let at = stored.len() / 2;
    stored[at] ^= 0x01;
    env.target.put(&key, stored.into()).await?;
    let into = dir.path().join("flipped");
    let out = restore(&stack, instance, &old_time, &into, &both);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("failed authentication"), "{stderr}");
    let name = f.key.rsplit('/').next().unwrap();
    assert!(!into.join(&full.backup_id).join(name).exists());
    assert!(!into.join("plan.json").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_upload_resumes_under_the_recorded_key() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let k1 = key_file(keys.path(), "k1.hex");
    let opts = encrypted_r2(&k1, "ack_wait_secs = 4\nparts_in_flight = 2\n");
    let mut stack = Stack::start(opts).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let instance = "big-enc";
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    let full = env
        .upstream
        .emit(&env.source, &chain.full(60 * MIB))
        .await?;
    let total_parts = 60 / 5;
    let uploads = stack.uploads().await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    // Encrypted upload states lie under their own key.
    let key = xregion_bus::Namespace::sealed_upload_key(&svc.id, &full.backup_id, 0);
    let within = std::time::Duration::from_secs(120);
    xregion_tests::sync::parts_recorded(&uploads, &key, 3, within).await?;
    stack.kill("transfer-worker");
    let state: serde_json::Value = serde_json::from_slice(&uploads.get(&key).await?.unwrap())?;
    let persisted = state["parts"].as_array().unwrap().len();
    assert!(persisted < total_parts, "killed mid-copy");
    // The state keeps the wrapped key only: 60 bytes in base64, under k1.
    assert_eq!(state["encryption"]["key_id"], "k1");
    assert_eq!(
        state["encryption"]["wrapped_key"].as_str().unwrap().len(),
        80
    );
    assert_eq!(state["encryption"].as_object().unwrap().len(), 2);
    stack.start_service("transfer-worker", &[]).await?;
    // Longer than the harness's usual wait: the rest of the file is sealed
    // and hashed by a debug build on a shared machine.
    xregion_tests::wait_until(
        "the resumed copy synced",
        std::time::Duration::from_secs(300),
        || async {
            let s = env.get(&svc.id).await?;
            Ok((s.synced_backups == 1).then_some(()))
        },
    )
    .await?;
    let worker = stack.metrics("transfer-worker").await?;
    assert_eq!(
        xregion_tests::metrics::counter(&worker, "xregion_transfer_parts_reused_total", ""),
        persisted as u64,
        "{worker}"
    );

    // The parts sent before and after the kill open as one file.
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);
    let dir = tempfile::tempdir()?;
    let into = dir.path().join("resumed");
    let out = restore(
        &stack,
        instance,
        "latest",
        &into,
        &[format!("k1={}", k1.display())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = full.files[0].key.rsplit('/').next().unwrap();
    let restored = std::fs::read(into.join(&full.backup_id).join(name))?;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&restored)),
        full.files[0].sha256
    );
    let m = manifest(&env, &prefix, &full.backup_id).await;
    assert_eq!(m.files[0].encryption.as_ref().unwrap().key_id, "k1");
    Ok(())
}

/// A resumed encrypted upload seals part i again only if its plaintext is
/// what was sealed before (one nonce never seals two plaintexts). Here the
/// recorded hash of the next part says it changed: the upload is aborted
/// in the store and the copy starts over, whole, under a new data key.
#[tokio::test(flavor = "multi_thread")]
async fn a_part_changed_since_it_was_sealed_aborts_the_upload_and_starts_over() -> anyhow::Result<()>
{
    use object_store::PutPayload;
    let keys = tempfile::tempdir()?;
    let k1 = key_file(keys.path(), "k1.hex");
    let opts = encrypted_r2(&k1, "ack_wait_secs = 4\nparts_in_flight = 1\n");
    let mut stack = Stack::start(opts).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    // Slow enough to stop the worker between parts.
    env.probe
        .limit_full_lane("r1", "r2", 4 * MIB as u64)
        .await?;
    let instance = "changed-enc";
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    let full = env
        .upstream
        .emit(&env.source, &chain.full(30 * MIB))
        .await?;
    let total_parts = 30 / 5;
    let uploads = stack.uploads().await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    let key = xregion_bus::Namespace::sealed_upload_key(&svc.id, &full.backup_id, 0);
    xregion_tests::sync::parts_recorded(&uploads, &key, 2, xregion_tests::WAIT).await?;
    stack.kill("transfer-worker");
    let mut state: serde_json::Value = serde_json::from_slice(&uploads.get(&key).await?.unwrap())?;
    let persisted = state["parts"].as_array().unwrap().len();
    assert!(persisted < total_parts, "stopped mid-copy");
    // The next part was sealed and sent with other plaintext than the
    // source holds now.
    state["sent"][persisted.to_string()] = "00".repeat(32).into();
    uploads
        .put(&key, serde_json::to_vec(&state)?.into())
        .await?;
    let (old_id, old_key) = (
        state["upload_id"].as_str().unwrap().to_string(),
        state["target_key"].as_str().unwrap().to_string(),
    );
    let old_wrapped = state["encryption"]["wrapped_key"]
        .as_str()
        .unwrap()
        .to_string();
    env.probe.limit_full_lane("r1", "r2", 0).await?;
    stack.start_service("transfer-worker", &[]).await?;
    xregion_tests::wait_until(
        "the copy made again synced",
        std::time::Duration::from_secs(300),
        || async {
            let s = env.get(&svc.id).await?;
            Ok((s.synced_backups == 1).then_some(()))
        },
    )
    .await?;
    // Nothing of the first upload was reused, and it is gone from the store.
    let worker = stack.metrics("transfer-worker").await?;
    let counter = |name| xregion_tests::metrics::counter(&worker, name, "");
    assert_eq!(
        counter("xregion_transfer_parts_reused_total"),
        0,
        "{worker}"
    );
    assert_eq!(
        counter("xregion_transfer_parts_uploaded_total"),
        total_parts as u64
    );
    let regions = xregion_common::Regions::build(&stack.regions)?;
    let mp = regions.multipart("r2").unwrap();
    let late = mp
        .store()
        .put_part(
            &mp.path(&old_key),
            &old_id,
            7,
            PutPayload::from_static(b"x"),
        )
        .await;
    assert!(late.is_err(), "the aborted upload still takes parts");
    // A new data key sealed it, and it restores to the source's bytes.
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);
    let m = manifest(&env, &prefix, &full.backup_id).await;
    assert_ne!(
        m.files[0].encryption.as_ref().unwrap().wrapped_key,
        old_wrapped
    );
    let dir = tempfile::tempdir()?;
    let into = dir.path().join("again");
    restores_identically_with_k1(&stack, &env, instance, &k1, &[full], &into).await;
    Ok(())
}

/// The commit knows an encrypted file it just wrote by the ETag its PUT
/// got, on a real store too: no sealed log is read back before the commit.
/// Each log costs the reads a plain one does (its source file, the
/// committed check, service.json, the catalog's check of the manifest).
#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_log_is_not_read_back_before_its_commit() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let k1 = key_file(keys.path(), "k1.hex");
    let opts = StackOptions {
        // Without cleanup: only the copies touch the stores.
        services: xregion_tests::sync::fast_sync_without_cleanup().services,
        ..encrypted_r2(&k1, "")
    };
    let stack = Stack::start(opts).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let instance = "etag-enc";
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    env.upstream.emit(&env.source, &chain.full(50_000)).await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;
    const LOGS: u64 = 4;
    let (logs, requests) = env
        .logs_counted(&stack, &mut chain, &svc.id, 1, LOGS)
        .await?;
    assert_eq!(requests.of("HeadObject"), LOGS, "each file looked at once");
    assert_eq!(
        requests.of("GetObject"),
        4 * LOGS,
        "no sealed file read back"
    );
    // Sealed, and each opens to the source's bytes.
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);
    for log in &logs {
        let m = manifest(&env, &prefix, &log.backup_id).await;
        assert_eq!(m.files[0].encryption.as_ref().unwrap().key_id, "k1");
    }
    let dir = tempfile::tempdir()?;
    let into = dir.path().join("logs");
    restores_identically_with_k1(&stack, &env, instance, &k1, &logs, &into).await;
    Ok(())
}
