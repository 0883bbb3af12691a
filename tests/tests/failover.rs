//! Failover on the fleet topology: a 3-node JetStream cluster with R3
//! streams and buckets, PostgreSQL, two replicas of every service. While
//! backups keep arriving, one NATS node and one replica of each service are
//! killed with SIGKILL and later restarted; every backup still ends up
//! synced exactly once, byte-identical, with the right latest data time and
//! no dead letters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;
use sha2::Digest;
use sqlx::Row;
use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine};
use xregion_proto::convert::millis;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::{ChainGen, GeneratedBackup, Upstream};
use xregion_tests::net::free_port;
use xregion_tests::stack::{SERVICES, TENANT_A};
use xregion_tests::sync::{latest_ms, state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::wait::WAIT;
use xregion_tests::{wait_until, Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;
const INSTANCES: [&str; 2] = ["fo-1", "fo-2"];
/// Logs per instance over the whole run: before, during and after the faults.
const LOGS: usize = 20;

/// Announces a backup as the upstream would through a failover: the files
/// are written once, the event is republished (same message id, so the
/// stream keeps one) until the cluster acknowledges it.
async fn announce(
    upstream: &Upstream,
    source: &Arc<dyn ObjectStore>,
    backup: &GeneratedBackup,
) -> anyhow::Result<BackupDescriptor> {
    let d = upstream.write_backup(source, backup).await?;
    wait_until(
        &format!("the upstream to announce {}", d.backup_id),
        WAIT,
        || async { Ok(upstream.backup_created(&d).await.ok()) },
    )
    .await?;
    Ok(d)
}

/// The continuous workload: logs of every instance, one after another as
/// fast as the cluster acknowledges them, until `total` per instance; the
/// count so far is in `announced`.
async fn keep_logging(
    upstream: Upstream,
    source: Arc<dyn ObjectStore>,
    mut chains: Vec<ChainGen>,
    total: usize,
    announced: Arc<AtomicUsize>,
) -> anyhow::Result<BTreeMap<String, Vec<BackupDescriptor>>> {
    let mut emitted: BTreeMap<String, Vec<BackupDescriptor>> = BTreeMap::new();
    for _ in 0..total {
        for chain in chains.iter_mut() {
            let d = announce(&upstream, &source, &chain.log(5 * MIN, 64 * 1024)).await?;
            emitted
                .entry(chain.instance_id.clone())
                .or_default()
                .push(d);
            announced.fetch_add(1, Ordering::SeqCst);
        }
    }
    Ok(emitted)
}

/// Waits until the workload has announced `n` more logs than `from`.
async fn announced_more(announced: &AtomicUsize, from: usize, n: usize) -> anyhow::Result<usize> {
    wait_until(&format!("{n} more logs announced"), WAIT, || async {
        let now = announced.load(Ordering::SeqCst);
        Ok((now >= from + n).then_some(now))
    })
    .await
}

#[tokio::test]
async fn a_nats_node_and_one_replica_of_each_service_die_and_nothing_is_lost_or_doubled(
) -> anyhow::Result<()> {
    let (mut stack, mut env) = SyncEnv::start(StackOptions {
        nats_cluster: true,
        extra_config: format!("{FAST_SYNC_CONFIG}ack_wait_secs = 6\n"),
        ..Default::default()
    })
    .await?;
    // The second replica of every service; the second gateway on its own port.
    let second_grpc = format!("127.0.0.1:{}", free_port()?);
    for service in SERVICES {
        let label = format!("{service}-2");
        let args: Vec<&str> = if service == "api-gateway" {
            vec!["--grpc-listen", &second_grpc]
        } else {
            Vec::new()
        };
        stack.start_service_as(&label, service, &args).await?;
    }

    let mut chains = Vec::new();
    let mut fulls = BTreeMap::new();
    let mut services = BTreeMap::new();
    for instance in INSTANCES {
        let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
        let full = announce(&env.upstream, &env.source, &chain.full(6 * 1024 * 1024)).await?;
        fulls.insert(instance.to_string(), full);
        let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
        services.insert(instance.to_string(), svc.id);
        chains.push(chain);
    }
    let announced = Arc::new(AtomicUsize::new(0));
    let workload = tokio::spawn(keep_logging(
        env.upstream.clone(),
        env.source.clone(),
        chains,
        LOGS,
        announced.clone(),
    ));
    let seen = announced_more(&announced, 0, 6).await?;

    // Faults while backups keep coming: the NATS node leading the transfers
    // stream, one replica of each service, all without a chance to clean up.
    let leader = transfers_leader(&stack).await?;
    stack.nats.kill_node(leader)?;
    for service in SERVICES {
        stack.kill(service);
    }
    env.api = xregion_tests::sync::Api::connect(format!("http://{second_grpc}")).await?;
    let seen = announced_more(&announced, seen, 6).await?;

    // Back again while the workload goes on, and more backups after that.
    stack.nats.restart_node(leader).await?;
    for service in SERVICES {
        stack.start_service(service, &[]).await?;
    }
    announced_more(&announced, seen, 1).await?;
    let mut emitted = workload.await??;
    for (instance, full) in fulls {
        emitted.entry(instance).or_default().insert(0, full);
    }

    for (instance, backups) in &emitted {
        let id = &services[instance];
        let last = backups
            .last()
            .and_then(|d| d.data_end_time.as_ref())
            .map(millis);
        let total = backups.len() as u64;
        let done = env
            .wait_service(id, &format!("{instance} synced up to its last log"), |s| {
                state(s) == pb::ServiceState::Running
                    && s.synced_backups == total
                    && latest_ms(s) == last
            })
            .await?;
        assert_eq!(done.synced_backups, total, "{instance}");
        // Byte-identical copies under the documented layout.
        let prefix = layout::service_prefix(TENANT_A, instance, id);
        for d in backups {
            for f in &d.files {
                let key = layout::backup_file_key(&prefix, &d.backup_id, &f.key);
                let bytes = env.target.get(&Path::from(key)).await?.bytes().await?;
                assert_eq!(
                    hex::encode(sha2::Sha256::digest(&bytes)),
                    f.sha256,
                    "{}",
                    d.backup_id
                );
            }
        }
    }

    // Exactly once: one BackupSynced and one catalog row per backup.
    let synced: Vec<pb::BackupSynced> = env.probe.events(EventSubject::BackupSynced).await?;
    let mut per_backup: BTreeMap<String, usize> = BTreeMap::new();
    for e in &synced {
        let id = e
            .backup
            .as_ref()
            .map(|b| b.backup_id.clone())
            .unwrap_or_default();
        *per_backup.entry(id).or_default() += 1;
    }
    let expected: usize = emitted.values().map(Vec::len).sum();
    assert_eq!(per_backup.len(), expected, "every backup synced");
    assert!(
        per_backup.values().all(|n| *n == 1),
        "a backup synced more than once: {per_backup:?}"
    );
    let db_url = stack.db.as_ref().expect("postgres").url.clone();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url).await?;
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM synced_backups")
        .fetch_one(&mut conn)
        .await?
        .try_get("n")?;
    assert_eq!(rows as usize, expected);
    assert_eq!(env.probe.dead_letter_count().await?, 0, "no dead letters");
    Ok(())
}

/// The index of the node leading the transfers stream (`n<i>`).
async fn transfers_leader(stack: &Stack) -> anyhow::Result<usize> {
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    let mut stream = js.get_stream(stack.ns().transfers_stream()).await?;
    let info = stream.info().await?;
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .ok_or_else(|| anyhow::anyhow!("the transfers stream has no leader: {:?}", info.cluster))?;
    Ok(leader.trim_start_matches('n').parse()?)
}
