//! `xregion watch` across a gateway restart: the CLI reconnects on its own
//! and resumes after the last event it showed, so a backup synced while the
//! gateway was down is shown once, and nothing shown before is shown again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::{bin_dir, TOKEN_A};
use xregion_tests::sync::SyncEnv;
use xregion_tests::StackOptions;

/// The next line that contains `needle` (and `kind`, when not empty),
/// within 60 s.
async fn line_with(
    lines: &mut mpsc::UnboundedReceiver<String>,
    kind: &str,
    needle: &str,
) -> String {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.recv().await {
            if line.contains(needle) && line.contains(kind) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        Ok(None) => panic!("watch ended before a line with {needle}"),
        Err(_) => panic!("no line with {needle} within 60 s"),
    }
}

const SYNCED: &str = "{\"synced\":";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_by_itself_after_the_gateway_restarts() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let mut chain = env.chain("wr-1", Engine::Mysql, 1_760_000_000_000).await?;
    env.upstream.emit(&env.source, &chain.full(20_000)).await?;
    let svc = env.create("wr-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;

    let stderr = std::fs::File::create(stack.dir.path().join("watch.stderr"))?;
    let mut watch = tokio::process::Command::new(bin_dir()?.join("xregion"))
        .args(["watch", &svc.id, "--output", "json"])
        .env("XREGION_ENDPOINT", format!("http://{}", stack.grpc_addr))
        .env("XREGION_TOKEN", TOKEN_A)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()?;
    let (tx, mut lines) = mpsc::unbounded_channel();
    let mut stdout = tokio::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let all = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = all.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            seen.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    line_with(&mut lines, "", "watching").await;
    let before = env
        .upstream
        .emit(&env.source, &chain.log(60_000, 1_000))
        .await?;
    line_with(&mut lines, SYNCED, &before.backup_id).await;

    // The gateway goes away; a backup syncs meanwhile; the gateway comes back.
    stack.kill("api-gateway");
    let during = env
        .upstream
        .emit(&env.source, &chain.log(120_000, 1_000))
        .await?;
    env.probe
        .wait_events::<pb::BackupSynced>(
            "the log emitted while the gateway is down to sync",
            EventSubject::BackupSynced,
            |events| {
                events.iter().any(|e| {
                    e.backup.as_ref().map(|b| b.backup_id.as_str())
                        == Some(during.backup_id.as_str())
                })
            },
        )
        .await?;
    stack.start_service("api-gateway", &[]).await?;

    let resumed = line_with(&mut lines, SYNCED, &during.backup_id).await;
    assert!(resumed.contains("\"cursor\""), "{resumed}");
    let after = env
        .upstream
        .emit(&env.source, &chain.log(180_000, 1_000))
        .await?;
    line_with(&mut lines, SYNCED, &after.backup_id).await;
    assert!(watch.try_wait()?.is_none(), "the watch must still run");
    watch.kill().await?;

    let shown = all.lock().unwrap().clone();
    for id in [&before.backup_id, &during.backup_id, &after.backup_id] {
        let synced = shown
            .iter()
            .filter(|l| l.contains(SYNCED) && l.contains(id.as_str()))
            .count();
        assert_eq!(synced, 1, "{id} shown {synced} times in {shown:#?}");
    }
    let said = std::fs::read_to_string(stack.dir.path().join("watch.stderr"))?;
    assert!(said.contains("reconnected after"), "{said}");
    Ok(())
}
