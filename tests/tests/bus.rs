//! Foundation contracts over real NATS: dead letters, one trace per backup
//! end to end, and the configuration layers of a real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;
use std::time::Duration;

use prost::Message;
use xregion_bus::{EventSubject, UpstreamEvent};
use xregion_domain::Engine;
use xregion_proto::rds::v1 as rds;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::{bin_dir, TENANT_A};
use xregion_tests::sync::SyncEnv;
use xregion_tests::{wait_until, Stack, StackOptions};

#[tokio::test]
async fn undecodable_messages_are_dead_lettered_not_dropped() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        services: vec!["catalog"],
        ..Default::default()
    })
    .await?;
    let ns = stack.ns();
    let probe = stack.probe().await?;
    probe
        .js
        .publish(
            ns.upstream_subject("r1", UpstreamEvent::BackupCreated),
            b"\xff\xffnot protobuf".to_vec().into(),
        )
        .await?
        .await?;
    let dead = wait_until("a dead letter", Duration::from_secs(30), || async {
        let m = probe
            .messages(&ns.dead_letter_stream(), ns.dead_letters_filter())
            .await?;
        Ok((!m.is_empty()).then_some(m))
    })
    .await?;
    let headers = dead[0].headers.clone().unwrap();
    assert_eq!(
        headers.get("Xregion-Original-Subject").map(|v| v.as_str()),
        Some(
            ns.upstream_subject("r1", UpstreamEvent::BackupCreated)
                .as_str()
        )
    );
    assert!(headers
        .get("Xregion-Reason")
        .unwrap()
        .as_str()
        .contains("undecodable"));
    assert_eq!(
        dead[0].subject.as_str(),
        ns.dead_letter_subject(&ns.durable("catalog-upstream"))
    );
    assert_eq!(dead[0].payload.as_ref(), b"\xff\xffnot protobuf");
    Ok(())
}

#[tokio::test]
async fn one_trace_follows_a_backup_from_upstream_to_synced() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    env.seeding("traced").await?;
    let mut chain = ChainGen::new("traced", TENANT_A, "r1", Engine::Mysql, 1_760_000_000_000);
    let d = env
        .upstream
        .write_backup(&env.source, &chain.full(1000))
        .await?;
    // The upstream starts the trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01").as_str(),
    );
    let ns = stack.ns();
    let event = rds::BackupCreated {
        backup: Some(d.clone()),
    };
    env.probe
        .js
        .publish_with_headers(
            ns.upstream_subject("r1", UpstreamEvent::BackupCreated),
            headers,
            event.encode_to_vec().into(),
        )
        .await?
        .await?;
    let synced = wait_until("BackupSynced", Duration::from_secs(30), || async {
        let m = env
            .probe
            .messages(
                &ns.events_stream(),
                ns.event_subject(EventSubject::BackupSynced),
            )
            .await?;
        Ok((!m.is_empty()).then_some(m))
    })
    .await?;
    let parent = synced[0]
        .headers
        .as_ref()
        .and_then(|h| h.get("traceparent"))
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    assert!(
        parent.contains(trace_id),
        "BackupSynced traceparent {parent:?} is not in the upstream's trace"
    );
    Ok(())
}

#[test]
fn configuration_layers_apply_in_order_and_dump() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[bus]\nnamespace = \"fromfile\"\nurl = \"nats://file:1\"\n[catalog]\nmax_connections = 2\n").unwrap();
    let out = Command::new(bin_dir().unwrap().join("xregion-catalog"))
        .arg("--config")
        .arg(&file)
        .args([
            "--dump-config",
            "--nats-url",
            "nats://flag:3",
            "--set",
            "catalog.max_connections=5",
        ])
        .env("XREGION_BUS__URL", "nats://env:2")
        .env("XREGION_BUS__UPSTREAM_NAMESPACE", "fromenv")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dumped: toml::Value = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(dumped["bus"]["namespace"].as_str(), Some("fromfile"));
    assert_eq!(
        dumped["bus"]["upstream_namespace"].as_str(),
        Some("fromenv")
    );
    assert_eq!(dumped["bus"]["url"].as_str(), Some("nats://flag:3"));
    assert_eq!(dumped["catalog"]["max_connections"].as_integer(), Some(5));
    assert_eq!(
        dumped["catalog"]["lag_threshold_secs"].as_integer(),
        Some(43_200)
    );
    let bad = Command::new(bin_dir().unwrap().join("xregion-catalog"))
        .args(["--config", "/nonexistent.toml", "--dump-config"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nonexistent"));
}

/// Catalog requests past `catalog.max_requests_in_flight` are answered
/// UNAVAILABLE at once ("catalog busy"), not queued without bound: with a
/// limit of 1 and 64 requests at once, some are shed, every request is
/// answered (none times out or fails otherwise), and the shed are counted.
#[tokio::test]
async fn a_catalog_at_its_request_limit_sheds_load_with_unavailable() -> anyhow::Result<()> {
    use xregion_proto::xregion::v1::{self as pb, ErrorCode};
    let (mut stack, _env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    stack.kill("catalog");
    stack
        .start_service("catalog", &["--set", "catalog.max_requests_in_flight=1"])
        .await?;
    let client = xregion_bus::CatalogClient::new(
        stack.nats.client().await?,
        stack.ns(),
        Duration::from_secs(10),
    );
    let list = pb::ListSyncServicesRequest::default();
    let calls = (0..64).map(|_| client.request(TENANT_A, &list));
    let results = futures::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let shed = results
        .iter()
        .filter(|r| {
            matches!(r, Err(xregion_bus::BusError::Remote { code: ErrorCode::Unavailable, message, .. })
                if message.contains("catalog busy"))
        })
        .count();
    assert_eq!(ok + shed, 64, "answered otherwise: {results:?}");
    assert!(ok > 0 && shed > 0, "{ok} answered, {shed} shed");
    // Only this method's: the watcher's own requests may be shed meanwhile.
    let counted = stack
        .metric(
            "catalog",
            "xregion_catalog_requests_shed_total",
            "method=\"ListSyncServices\"",
        )
        .await?;
    assert_eq!(counted, shed as f64);
    Ok(())
}
