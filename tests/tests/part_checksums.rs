//! Per-part checksums: with `aws_checksum_algorithm = "sha256"` every
//! multipart part the worker uploads carries `x-amz-checksum-sha256` of that
//! part's bytes, which the store verifies. A recording proxy in front of
//! Garage shows what went over the wire.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{Stack, StackOptions};

const MIB: usize = 1024 * 1024;

/// Request heads (request line and headers, lowercased names) seen.
type Heads = Arc<Mutex<Vec<String>>>;

/// Forwards every connection to the upstream sent later on the returned
/// channel (the proxy's address must be in the stack's configuration before
/// Garage's is known), keeping each HTTP/1.1 request's head; bodies are
/// passed on by their Content-Length.
async fn recording_proxy() -> anyhow::Result<(String, Heads, watch::Sender<String>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = format!("http://{}", listener.local_addr()?);
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    let (set_upstream, upstream) = watch::channel(String::new());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let mut upstream = upstream.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(target) = upstream
                    .wait_for(|u| !u.is_empty())
                    .await
                    .map(|u| u.clone())
                else {
                    return;
                };
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    // One head, then its body.
                    let end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match cr.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    seen.lock().unwrap().push(head);
                    while buf.len() < end + length {
                        match cr.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let rest = buf.split_off(end + length);
                    if sw.write_all(&buf).await.is_err() {
                        return;
                    }
                    buf = rest;
                }
            });
        }
    });
    Ok((addr, heads, set_upstream))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_uploaded_part_carries_the_sha256_of_its_bytes() -> anyhow::Result<()> {
    let (proxy, heads, set_upstream) = recording_proxy().await?;
    let options = StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}\n"),
        s3_options: vec![("aws_endpoint".into(), proxy)],
        services: Vec::new(),
        ..Default::default()
    };
    let mut stack = Stack::start(options).await?;
    set_upstream.send(
        stack
            .garage
            .endpoint
            .trim_start_matches("http://")
            .to_string(),
    )?;
    for name in xregion_tests::stack::SERVICES {
        stack.start_service(name, &[]).await?;
    }
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    env.instance("parts-1", Engine::Mysql, "r1").await?;
    let mut chain = ChainGen::new("parts-1", TENANT_A, "r1", Engine::Mysql, 1_760_000_000_000);
    // 12 MiB in parts of 5 MiB (FAST_SYNC_CONFIG): three parts.
    let generated = chain.full(12 * MIB);
    let content = generated.contents[0].clone();
    let full = env.upstream.emit(&env.source, &generated).await?;
    let svc = env.create("parts-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_service(&svc.id, "RUNNING", |s| {
        state(s) == pb::ServiceState::Running && s.synced_backups == 1
    })
    .await?;
    let parts: Vec<String> = heads
        .lock()
        .unwrap()
        .iter()
        .filter(|h| {
            h.starts_with("put ")
                && h.contains("partnumber=")
                && h.contains(&full.backup_id.to_lowercase())
        })
        .cloned()
        .collect();
    assert_eq!(parts.len(), 3, "three parts uploaded: {parts:?}");
    for head in &parts {
        let number: usize = head
            .split(['?', '&', ' '])
            .find_map(|p| p.strip_prefix("partnumber="))
            .and_then(|n| n.parse().ok())
            .expect("part number");
        let start = (number - 1) * 5 * MIB;
        let bytes = &content[start..(start + 5 * MIB).min(content.len())];
        let expected = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(bytes))
            .to_lowercase();
        let sent = head
            .lines()
            .find_map(|l| l.strip_prefix("x-amz-checksum-sha256:"))
            .map(|v| v.trim().to_string());
        assert_eq!(
            sent.as_deref(),
            Some(expected.as_str()),
            "part {number}: {head}"
        );
    }
    Ok(())
}
