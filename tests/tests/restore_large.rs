//! Restore of a large file: a 512 MiB FULL in Garage, read through a proxy
//! that holds the link to 96 MiB/s (so one GET of the whole file needs over
//! 5 s), restored by `xregion restore` with the store client's per-request
//! timeout at 2 s. Ranged GETs make that work; an interrupted restore
//! resumes from what it had downloaded instead of starting over.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xregion_domain::BackupKind;
use xregion_tests::garage::{self, Garage};
use xregion_tests::restore::{files_below, restore_command, HandLayout};
use xregion_tests::wait::wait_until;

const MIB: u64 = 1024 * 1024;
const SIZE: u64 = 512 * MIB;
const LINK_BYTES_PER_SEC: f64 = 96.0 * MIB as f64;
const T0: i64 = 1_760_000_000_000;

/// A TCP proxy to `upstream` whose answers share one link of
/// `LINK_BYTES_PER_SEC`, like a real WAN: requests pass unthrottled.
async fn slow_link(upstream: String) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = format!("http://{}", listener.local_addr()?);
    let next_free = Arc::new(Mutex::new(Instant::now()));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let next_free = next_free.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let at = {
                        let mut next = next_free.lock().unwrap();
                        let start = (*next).max(Instant::now());
                        *next = start + Duration::from_secs_f64(n as f64 / LINK_BYTES_PER_SEC);
                        start
                    };
                    tokio::time::sleep_until(at.into()).await;
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// Writes `SIZE` bytes of distinct 1 MiB blocks (so a misplaced range
/// changes the sha256) as a multipart upload; memory stays a few parts.
async fn put_large(store: &Arc<dyn ObjectStore>, key: &str) -> anyhow::Result<String> {
    use rand::RngCore;
    let mut block = vec![0u8; MIB as usize];
    rand::thread_rng().fill_bytes(&mut block);
    let upload = store.put_multipart(&Path::from(key)).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, 16 * MIB as usize);
    let mut sha = sha2::Sha256::new();
    for i in 0..SIZE / MIB {
        block[..8].copy_from_slice(&i.to_le_bytes());
        sha.update(&block);
        writer.wait_for_capacity(4).await?;
        writer.write(&block);
    }
    writer.finish().await?;
    Ok(hex::encode(sha.finalize()))
}

fn sha256_of(path: &std::path::Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut sha = sha2::Sha256::new();
    std::io::copy(&mut file, &mut sha)?;
    Ok(hex::encode(sha.finalize()))
}

/// The number after `what` in the line of `label` that contains it.
fn number_after(stderr: &str, what: &str) -> Option<u64> {
    let rest = &stderr[stderr.find(what)? + what.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_512_mib_full_restores_with_2s_requests_and_resumes_after_a_kill() -> anyhow::Result<()> {
    let logs = tempfile::tempdir()?;
    let garage = Garage::start(logs.path()).await?;
    let direct = garage.region("big")?;
    let store = garage::store(&direct)?;
    let svc = HandLayout::new("tenant-a", "big-1", "svc-big");
    svc.put_service_json(store.as_ref()).await?;
    let name = "backup.xbstream";
    let key = format!(
        "{}{name}",
        xregion_domain::layout::backup_folder(&svc.prefix(), "full-1")
    );
    let sha = put_large(&store, &key).await?;
    let full = svc.manifest(
        "full-1",
        BackupKind::Full,
        (T0, T0),
        1,
        &[(name, SIZE, sha.clone())],
    );
    svc.put_manifest_bytes(store.as_ref(), "full-1", full.to_json())
        .await?;

    // The restore reads through the slow link, each request limited to 2 s.
    let mut region = direct.clone();
    let proxy = slow_link(garage.endpoint.trim_start_matches("http://").to_string()).await?;
    region.options.insert("aws_endpoint".into(), proxy);
    region.options.insert("timeout".into(), "2s".into());

    let dir = tempfile::tempdir()?;
    let into = dir.path().join("whole");
    let started = Instant::now();
    let out = restore_command(&region, "big-1", &into)?.output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        started.elapsed() > Duration::from_secs(4),
        "the link is slow enough that one GET of the file exceeds the 2 s request timeout"
    );
    let restored = into.join("full-1").join(name);
    assert_eq!(std::fs::metadata(&restored)?.len(), SIZE);
    assert_eq!(sha256_of(&restored)?, sha);
    assert_eq!(files_below(&into), ["full-1/backup.xbstream", "plan.json"]);
    assert!(
        stderr.contains("MiB/s") && stderr.contains('%'),
        "progress on stderr: {stderr}"
    );
    assert_eq!(
        number_after(&stderr, "verified, fetched "),
        Some(SIZE),
        "{stderr}"
    );

    // Interrupted: killed once a part is on disk, then run again.
    let into = dir.path().join("resumed");
    let partial = into.join(".partial/full-1").join(name);
    let mut first = tokio::process::Command::from(restore_command(&region, "big-1", &into)?)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    wait_until(
        "a partial download of 64 MiB",
        Duration::from_secs(60),
        || async {
            let len = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
            Ok((len >= 64 * MIB).then_some(()))
        },
    )
    .await?;
    first.kill().await?;
    let kept = std::fs::metadata(&partial)?.len();
    assert!(kept < SIZE, "killed before the end");
    let out = restore_command(&region, "big-1", &into)?.output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        number_after(&stderr, "resuming, "),
        Some(kept),
        "resumes at what the killed run left: {stderr}"
    );
    assert_eq!(
        number_after(&stderr, "verified, fetched "),
        Some(SIZE - kept),
        "only the rest is fetched: {stderr}"
    );
    let restored = into.join("full-1").join(name);
    assert_eq!(sha256_of(&restored)?, sha);
    assert_eq!(files_below(&into), ["full-1/backup.xbstream", "plan.json"]);

    // Run once more: everything is there, nothing is fetched.
    let out = restore_command(&region, "big-1", &into)?.output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("already here"), "{stderr}");
    assert!(stderr.contains("fetched 0 bytes"), "{stderr}");
    Ok(())
}
