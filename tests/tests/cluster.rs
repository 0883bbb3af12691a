//! Streams on a JetStream cluster and who may change them: xregion's own
//! streams and buckets get `bus.replicas`; the upstream's stream is created
//! only when missing and allowed, never modified; xregion's own streams are
//! verified at every start and a difference is reported, not rewritten.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;
use std::time::Duration;

use async_nats::jetstream::stream::{Config, StorageType};
use futures::TryStreamExt;
use object_store::path::Path;
use sha2::Digest;
use xregion_domain::{layout, Engine};
use xregion_tests::nats::NatsServer;
use xregion_tests::net::free_port;
use xregion_tests::process::ChildProcess;
use xregion_tests::stack::{bin_dir, http_get, SERVICES, TENANT_A};
use xregion_tests::sync::SyncEnv;
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;
const DRIFT: &str = "xregion_bus_stream_drift";

async fn stream_config(stack: &Stack, name: &str) -> anyhow::Result<Config> {
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    Ok(js.get_stream(name).await?.cached_info().config.clone())
}

/// Every stream on the server (buckets are streams `KV_<bucket>`).
async fn stream_names(stack: &Stack) -> anyhow::Result<Vec<String>> {
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    Ok(js.stream_names().try_collect().await?)
}

#[tokio::test]
async fn on_a_three_node_cluster_every_stream_and_bucket_has_three_replicas_and_a_backup_syncs(
) -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions {
        nats_cluster: true,
        ..StackOptions::fast_sync()
    })
    .await?;
    assert_eq!(stack.nats.node_urls().len(), 3);
    assert_eq!(stack.nats.url.split(',').count(), 3, "{}", stack.nats.url);

    let instance = "cl-1";
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    let full = env.upstream.emit(&env.source, &chain.full(300_000)).await?;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(5 * MIN, 4096))
        .await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 2).await?;
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);
    for d in [&full, &log] {
        for f in &d.files {
            let key = layout::backup_file_key(&prefix, &d.backup_id, &f.key);
            let bytes = env.target.get(&Path::from(key)).await?.bytes().await?;
            assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), f.sha256);
        }
    }

    let ns = stack.ns();
    let names = stream_names(&stack).await?;
    for wanted in [
        ns.events_stream(),
        ns.transfers_stream(),
        ns.dead_letter_stream(),
        ns.upstream_stream(),
        format!("KV_{}", ns.limits_bucket()),
        format!("KV_{}", ns.uploads_bucket()),
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    for name in &names {
        let config = stream_config(&stack, name).await?;
        assert_eq!(config.num_replicas, 3, "replicas of {name}");
    }
    // Streams created with these settings match them: no drift reported.
    for name in [ns.events_stream(), ns.transfers_stream()] {
        let label = format!("stream=\"{name}\"");
        let metrics = stack.metrics("catalog").await?;
        assert!(metrics.contains(&label), "no {DRIFT} for {name}");
        assert_eq!(stack.metric("catalog", DRIFT, &label).await?, 0.0);
    }
    Ok(())
}

#[tokio::test]
async fn an_existing_upstream_stream_is_never_modified() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: Vec::new(),
        ..Default::default()
    })
    .await?;
    let ns = stack.ns();
    let theirs = Config {
        name: ns.upstream_stream(),
        subjects: vec![ns.upstream_filter_all(), "elsewhere.audit.>".into()],
        max_age: Duration::from_secs(7200),
        duplicate_window: Duration::from_secs(600),
        storage: StorageType::File,
        description: Some("the upstream's own settings".into()),
        ..Default::default()
    };
    let js = async_nats::jetstream::new(stack.nats.upstream_client().await?);
    js.create_stream(theirs.clone()).await?;
    let before = stream_config(&stack, &theirs.name).await?;

    // Every service starts (and declares the streams) with
    // `bus.create_upstream_stream = true`, the default.
    for service in SERVICES {
        stack.start_service(service, &[]).await?;
    }
    let after = stream_config(&stack, &theirs.name).await?;
    assert_eq!(after.subjects, theirs.subjects);
    assert_eq!(after.max_age, theirs.max_age);
    assert_eq!(after.duplicate_window, theirs.duplicate_window);
    assert_eq!(after.description, theirs.description);
    assert_eq!(after.num_replicas, before.num_replicas);
    // Every other field too (compared as JSON: metadata is a map).
    assert_eq!(
        serde_json::to_value(&after)?,
        serde_json::to_value(&before)?
    );
    assert_ne!(
        after.max_age,
        xregion_bus::StreamOptions::default().events_max_age,
        "xregion's own setting would have been visible"
    );
    Ok(())
}

#[tokio::test]
async fn without_create_upstream_stream_a_missing_upstream_stream_stays_missing_and_the_catalog_is_not_ready(
) -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        services: Vec::new(),
        ..Default::default()
    })
    .await?;
    let ns = stack.ns();
    let port = free_port()?;
    let mut cmd = Command::new(bin_dir()?.join("xregion-catalog"));
    cmd.arg("--config")
        .arg(&stack.config_path)
        .args(["--http-listen", &format!("127.0.0.1:{port}")])
        .args(["--set", "bus.create_upstream_stream=false"]);
    let mut catalog = ChildProcess::spawn("catalog-no-upstream", cmd, stack.dir.path())?;

    // The catalog declares its own streams, then meets the missing upstream
    // stream when it sets up its consumer on it: it names the stream and
    // does not serve (it stops with an error for a supervisor to restart
    // it, or waits for the stream without being ready).
    let upstream = ns.upstream_stream();
    wait_until(
        "the catalog to name the missing upstream stream and not be ready",
        WAIT,
        || {
            let named = catalog.log_text().contains(&upstream);
            let running = catalog.is_running();
            async move {
                let ready = running
                    && http_get(port, "/healthz")
                        .await
                        .map(|(code, _)| code == 200)
                        .unwrap_or(false);
                Ok((named && !ready).then_some(()))
            }
        },
    )
    .await?;
    let names = stream_names(&stack).await?;
    assert!(names.contains(&ns.events_stream()), "{names:?}");
    assert!(
        !names.contains(&upstream),
        "created without bus.create_upstream_stream: {names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_changed_own_stream_is_reported_as_drift_and_left_as_it_is() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec!["catalog"],
        ..Default::default()
    })
    .await?;
    let events = stack.ns().events_stream();
    let label = format!("stream=\"{events}\"");
    assert!(stack.metrics("catalog").await?.contains(&label));
    assert_eq!(stack.metric("catalog", DRIFT, &label).await?, 0.0);

    // An operator shortens the events' retention on the server.
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    let mut changed = stream_config(&stack, &events).await?;
    let declared = changed.max_age;
    changed.max_age = Duration::from_secs(2 * 86_400);
    assert_ne!(changed.max_age, declared);
    js.update_stream(changed.clone()).await?;

    stack.kill("catalog");
    stack.start_service("catalog", &[]).await?;
    let have = stream_config(&stack, &events).await?;
    assert_eq!(have.max_age, changed.max_age, "changed back by the service");
    assert_eq!(stack.metric("catalog", DRIFT, &label).await?, 1.0);
    let transfers = format!("stream=\"{}\"", stack.ns().transfers_stream());
    assert_eq!(stack.metric("catalog", DRIFT, &transfers).await?, 0.0);
    let log = stack.service("catalog")?.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("stream setting differs") && l.contains("max_age")),
        "no drift warning naming max_age in the catalog's log"
    );
    Ok(())
}

/// The harness itself: a SIGKILLed node comes back on its ports and store
/// and the replicated stream stays whole, as the failover test relies on.
#[tokio::test]
async fn a_killed_node_restarts_and_its_stream_replica_catches_up() -> anyhow::Result<()> {
    use async_nats::jetstream::context::Publish;
    let dir = tempfile::tempdir()?;
    let mut nats = NatsServer::start_cluster(dir.path(), 3).await?;
    let js = async_nats::jetstream::new(nats.client().await?);
    let stream = js
        .create_stream(Config {
            name: "HARNESS_R3".into(),
            subjects: vec!["harness.r3.>".into()],
            num_replicas: 3,
            ..Default::default()
        })
        .await?;
    assert_eq!(stream.cached_info().config.num_replicas, 3);
    // Each write is acknowledged by the stream; its id makes a retried one
    // count once.
    let write = |id: String| {
        let js = js.clone();
        async move {
            let publish = Publish::build()
                .payload(id.clone().into_bytes().into())
                .message_id(&id);
            let ack = js.send_publish("harness.r3.x", publish).await?;
            anyhow::Ok(ack.await.map(|_| ()).ok())
        }
    };
    for i in 0..3 {
        wait_until("a write", WAIT, || write(format!("before-{i}"))).await?;
    }

    nats.kill_node(1)?;
    // Two of three nodes still hold the stream: it takes writes.
    for i in 0..3 {
        wait_until("a write with node 1 down", WAIT, || {
            write(format!("down-{i}"))
        })
        .await?;
    }

    nats.restart_node(1).await?;
    wait_until("node 1's replica to catch up", WAIT, || async {
        let mut stream = js.get_stream("HARNESS_R3").await?;
        let info = stream.info().await?;
        let cluster = info.cluster.clone().unwrap_or_default();
        let current =
            cluster.replicas.len() == 2 && cluster.replicas.iter().all(|p| p.current && !p.offline);
        Ok((current && info.state.messages == 6).then_some(()))
    })
    .await?;
    Ok(())
}
