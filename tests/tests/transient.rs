//! Transient is not poison: a dependency outage longer than
//! `max_deliver` × backoff dead-letters nothing and the work completes once
//! the dependency is back; a panicking handler is dead-lettered after
//! `max_deliver` instead of looping; `xregion admin dead-letters` lists a
//! dead letter and replays it into the system.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use async_nats::HeaderMap;
use prost::Message;
use tokio_util::sync::CancellationToken;
use xregion_bus::deadletter::{self, ATTEMPTS_HEADER, ORIGINAL_SUBJECT_HEADER, REASON_HEADER};
use xregion_bus::{
    declare_streams, run_consumer, ConsumerSpec, Delivery, Handler, Namespace, Outcome,
    RetryPolicy, StreamOptions, UpstreamEvent,
};
use xregion_domain::Engine;
use xregion_proto::convert::{engine_to_rds, timestamp};
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::api::{self, Api};
use xregion_tests::metrics::counter;
use xregion_tests::nats::NatsServer;
use xregion_tests::net::random_suffix;
use xregion_tests::stack::{bin_dir, TENANT_A, TOKEN_A};
use xregion_tests::sync::{latest_ms, state, SyncEnv};
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

/// `max_deliver` of the harness's configuration.
const MAX_DELIVER: u64 = 3;

/// Whether MySQL instance `id` in `region` is eligible for tenant A.
async fn eligible(api: &Api, id: &str, region: &str) -> anyhow::Result<bool> {
    let ids = api::eligible(api, TOKEN_A, pb::Engine::Mysql, region).await?;
    Ok(ids.iter().any(|i| i == id))
}

/// Waits until `durable` has found a dependency unavailable more than
/// `max_deliver` times (or, as the old code did, dead-lettered something).
async fn outage_outlasts_max_deliver(
    stack: &Stack,
    service: &str,
    durable: &str,
) -> anyhow::Result<()> {
    let js = jetstream::new(stack.nats.client().await?);
    let ns = stack.ns();
    let label = format!("durable=\"{durable}\"");
    wait_until(
        &format!("{durable} to retry past max_deliver"),
        WAIT,
        || async {
            let metrics = stack.metrics(service).await?;
            let rounds = counter(&metrics, "xregion_bus_unavailable_total", &label);
            let dead = deadletter::list(&js, &ns).await?;
            Ok((rounds > 2 * MAX_DELIVER || !dead.is_empty()).then_some(()))
        },
    )
    .await?;
    let dead = deadletter::list(&js, &ns).await?;
    assert!(
        dead.is_empty(),
        "an outage dead-lettered {:?}",
        dead.iter().map(|d| &d.reason).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test]
async fn a_database_outage_dead_letters_nothing_and_the_instance_arrives_after_it(
) -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::api_only()).await?;
    let db = stack.db.as_ref().expect("the stack runs on PostgreSQL");
    let upstream = stack.upstream().await?;
    let api = stack.grpc().await?;

    db.refuse_connections().await?;
    upstream
        .instance_created("outage-1", TENANT_A, Engine::Mysql, "r1", 1_700_000_000_000)
        .await?;
    let durable = stack.ns().durable("catalog-upstream");
    outage_outlasts_max_deliver(&stack, "catalog", &durable).await?;

    db.accept_connections().await?;
    wait_until("the instance to be eligible", WAIT, || async {
        Ok(eligible(&api, "outage-1", "r1").await?.then_some(()))
    })
    .await?;
    let js = jetstream::new(stack.nats.client().await?);
    assert!(deadletter::list(&js, &stack.ns()).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_catalog_outage_dead_letters_no_backup_and_it_syncs_after_it() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let mut chain = env
        .chain("mysql-1", Engine::Mysql, 1_760_000_000_000)
        .await?;
    let full = env.upstream.emit(&env.source, &chain.full(4096)).await?;
    let svc = env.create("mysql-1", Engine::Mysql, "r1", "r2").await?;
    let full_end = full
        .data_end_time
        .as_ref()
        .map(xregion_proto::convert::millis);
    env.wait_service(&svc.id, "RUNNING at the FULL", |s| {
        state(s) == pb::ServiceState::Running && latest_ms(s) == full_end
    })
    .await?;

    // No catalog: the watcher's LiveServices requests find no responder.
    stack.kill("catalog");
    let log = env
        .upstream
        .emit(&env.source, &chain.log(5 * 60_000, 4096))
        .await?;
    let durable = stack.ns().durable("watcher-backups");
    outage_outlasts_max_deliver(&stack, "backup-watcher", &durable).await?;

    stack.start_service("catalog", &[]).await?;
    let log_end = log
        .data_end_time
        .as_ref()
        .map(xregion_proto::convert::millis);
    env.wait_service(&svc.id, "the log synced after the outage", |s| {
        latest_ms(s) == log_end
    })
    .await?;
    let js = jetstream::new(stack.nats.client().await?);
    assert!(deadletter::list(&js, &stack.ns()).await?.is_empty());
    Ok(())
}

/// A handler that finds its dependency unavailable a number of times, then
/// fails or panics on every delivery.
struct Scripted {
    calls: AtomicU32,
    unavailable_first: u32,
    panic: bool,
}

#[async_trait::async_trait]
impl Handler for Scripted {
    async fn handle(&self, _d: &Delivery) -> Outcome {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.unavailable_first {
            return Outcome::Unavailable("database: connection refused".into());
        }
        if self.panic {
            panic!("boom at delivery {n}");
        }
        Outcome::Retry("sha256 differs from the descriptor's".into())
    }
}

struct BusEnv {
    _dir: tempfile::TempDir,
    _nats: NatsServer,
    js: jetstream::Context,
    ns: Namespace,
    stop: CancellationToken,
}

impl Drop for BusEnv {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A real nats-server with the streams declared and `handler` consuming the
/// upstream InstanceCreated subject, then one message published to it.
async fn consume_one(handler: Arc<Scripted>) -> anyhow::Result<BusEnv> {
    let dir = tempfile::tempdir()?;
    let nats = NatsServer::start(dir.path()).await?;
    let js = jetstream::new(nats.client().await?);
    let ns = Namespace::new(&format!("t{}", &random_suffix()[..10]), "rds")?;
    declare_streams(&js, &ns, &StreamOptions::default()).await?;
    let stop = CancellationToken::new();
    let spec = ConsumerSpec {
        stream: ns.upstream_stream(),
        durable: ns.durable("scripted"),
        filter_subjects: vec![ns.upstream_filter(UpstreamEvent::InstanceCreated)],
        max_in_flight: 1,
        ack_wait: Duration::from_secs(2),
        deliver_policy: DeliverPolicy::All,
    };
    let retry = RetryPolicy {
        max_deliver: MAX_DELIVER as u32,
        backoff: vec![Duration::from_millis(20), Duration::from_millis(100)],
    };
    tokio::spawn(run_consumer(
        js.clone(),
        ns.clone(),
        spec,
        retry,
        handler,
        stop.clone(),
    ));
    js.publish(
        ns.upstream_subject("r1", UpstreamEvent::InstanceCreated),
        b"payload".to_vec().into(),
    )
    .await?
    .await?;
    Ok(BusEnv {
        _dir: dir,
        _nats: nats,
        js,
        ns,
        stop,
    })
}

/// The one dead letter, once the consumer has nothing outstanding.
async fn settled_dead_letter(env: &BusEnv) -> anyhow::Result<deadletter::DeadLetter> {
    wait_until("a dead letter, nothing left to redeliver", WAIT, || async {
        let dead = deadletter::list(&env.js, &env.ns).await?;
        let mut consumer: jetstream::consumer::Consumer<pull::Config> = env
            .js
            .get_stream(env.ns.upstream_stream())
            .await?
            .get_consumer(&env.ns.durable("scripted"))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let info = consumer.info().await?;
        let settled = info.num_ack_pending == 0 && info.num_pending == 0;
        Ok((settled && dead.len() == 1).then(|| dead[0].clone()))
    })
    .await
}

#[tokio::test]
async fn a_panicking_handler_is_dead_lettered_after_max_deliver() -> anyhow::Result<()> {
    let handler = Arc::new(Scripted {
        calls: AtomicU32::new(0),
        unavailable_first: 0,
        panic: true,
    });
    let env = consume_one(handler.clone()).await?;
    let dead = settled_dead_letter(&env).await?;
    assert!(
        dead.reason.contains("panicked") && dead.reason.contains("boom"),
        "{}",
        dead.reason
    );
    assert_eq!(dead.attempts, MAX_DELIVER as u32);
    assert_eq!(handler.calls.load(Ordering::SeqCst), MAX_DELIVER as u32);
    assert_eq!(dead.payload.as_ref(), b"payload");
    Ok(())
}

#[tokio::test]
async fn unavailable_deliveries_do_not_count_toward_max_deliver() -> anyhow::Result<()> {
    // Twice as many outage rounds as deliveries allowed, then a real failure:
    // still max_deliver attempts before the dead letter.
    let outage = 2 * MAX_DELIVER as u32;
    let handler = Arc::new(Scripted {
        calls: AtomicU32::new(0),
        unavailable_first: outage,
        panic: false,
    });
    let env = consume_one(handler.clone()).await?;
    let dead = settled_dead_letter(&env).await?;
    assert!(dead.reason.contains("sha256"), "{}", dead.reason);
    assert_eq!(dead.attempts, MAX_DELIVER as u32);
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        outage + MAX_DELIVER as u32
    );
    Ok(())
}

fn admin(stack: &Stack, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(bin_dir()?.join("xregion"))
        .args(["admin", "dead-letters"])
        .args(args)
        .args(["--output", "json", "--nats-url", &stack.nats.url])
        .args(["--namespace", &stack.namespace])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "xregion admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test]
async fn admin_dead_letters_lists_and_replays_into_the_catalog() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::api_only()).await?;
    let ns = stack.ns();
    let js = jetstream::new(stack.nats.client().await?);
    let api = stack.grpc().await?;

    // An InstanceCreated dead-lettered the way the consumer does it.
    let original = ns.upstream_subject("r1", UpstreamEvent::InstanceCreated);
    let event = rds::InstanceCreated {
        instance_id: "replayed-1".into(),
        tenant_id: TENANT_A.into(),
        engine: engine_to_rds(Engine::Mysql) as i32,
        region: "r1".into(),
        created_at: Some(timestamp(1_700_000_000_000)),
    };
    let durable = ns.durable("catalog-upstream");
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("dl:{durable}:1").as_str());
    headers.insert(ORIGINAL_SUBJECT_HEADER, original.as_str());
    headers.insert(REASON_HEADER, "database: pool timed out");
    headers.insert(ATTEMPTS_HEADER, "3");
    js.publish_with_headers(
        ns.dead_letter_subject(&durable),
        headers,
        event.encode_to_vec().into(),
    )
    .await?
    .await?;

    let listed = admin(&stack, &["list"])?;
    let entries = listed.as_array().expect("a list of dead letters");
    assert_eq!(entries.len(), 1, "{listed}");
    let entry = &entries[0];
    assert_eq!(entry["subject"], original.as_str());
    assert_eq!(entry["consumer"], durable.as_str());
    assert_eq!(entry["attempts"], 3);
    assert!(entry["reason"].as_str().unwrap().contains("pool timed out"));
    assert!(entry["time"].as_str().unwrap().ends_with('Z'));
    assert!(!eligible(&api, "replayed-1", "r1").await?);

    let seq = entry["seq"].as_u64().expect("seq").to_string();
    let replayed = admin(&stack, &["replay", "--seq", &seq])?;
    assert_eq!(replayed[0]["subject"], original.as_str());
    wait_until("the replayed instance to be eligible", WAIT, || async {
        Ok(eligible(&api, "replayed-1", "r1").await?.then_some(()))
    })
    .await?;
    let after = admin(&stack, &["list"])?;
    assert_eq!(after.as_array().map(Vec::len), Some(0));
    Ok(())
}
