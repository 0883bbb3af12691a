//! A region pair's bandwidth limit holds for all transfer-workers together
//! (#15 point 4): three workers copying at once share it through their
//! presence in the WORKERS key-value bucket, and the aggregate rate stays
//! within 10 % of the limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::Operation;
use futures::StreamExt;
use prost::Message;
use xregion_bus::{EventSubject, Namespace};
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{wait_until, StackOptions, WAIT};

const MIB: u64 = 1024 * 1024;
/// The pair's limit: 4 MiB/s.
const LIMIT: u64 = 4 * MIB;
/// 12 FULLs of 6 MiB: 72 MiB, about 18 s at the limit, so start-up bursts
/// and the last upload weigh little in the measured rate.
const BACKUPS: usize = 12;
const SIZE: usize = 6 * MIB as usize;
const WORKERS: [&str; 3] = ["transfer-worker", "transfer-worker-2", "transfer-worker-3"];
const SHARE_GAUGE: &str = "xregion_worker_bandwidth_share_bytes_per_second";
const T0: i64 = 1_760_000_000_000;

/// What the WORKERS bucket said, in order: (key, put or not).
type Presence = Arc<Mutex<Vec<(String, bool)>>>;

/// Records every presence put and delete from now on.
async fn record_presence(kv: async_nats::jetstream::kv::Store) -> anyhow::Result<Presence> {
    let log: Presence = Arc::default();
    let mut watch = kv.watch_all().await?;
    let seen = log.clone();
    tokio::spawn(async move {
        while let Some(Ok(entry)) = watch.next().await {
            let put = matches!(entry.operation, Operation::Put);
            seen.lock().unwrap().push((entry.key, put));
        }
    });
    Ok(log)
}

/// The most workers present at once on `lane`, and the keys whose last
/// word was a delete (withdrawn, not expired: an expiry is not announced).
fn presence_summary(log: &[(String, bool)], lane: &str) -> (usize, BTreeSet<String>, usize) {
    let mut present = BTreeSet::new();
    let mut most = 0;
    let mut last: BTreeMap<String, bool> = BTreeMap::new();
    for (key, put) in log {
        if Namespace::presence_of(key).map(|(l, _)| l) != Some(lane) {
            continue;
        }
        if *put {
            present.insert(key.clone());
        } else {
            present.remove(key);
        }
        most = most.max(present.len());
        last.insert(key.clone(), *put);
    }
    let withdrawn = last
        .iter()
        .filter(|(_, put)| !**put)
        .map(|(k, _)| k.clone());
    (most, withdrawn.collect(), last.len())
}

#[tokio::test]
async fn three_workers_copying_at_once_hold_the_pairs_limit_together() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: format!(
            "{FAST_SYNC_CONFIG}bandwidth = [{{ source = \"r1\", target = \"r2\", bytes_per_sec = {LIMIT} }}]\n"
        ),
        ..Default::default()
    })
    .await?;
    for label in &WORKERS[1..] {
        stack
            .start_service_as(label, "transfer-worker", &[])
            .await?;
    }
    let ns = stack.ns();
    let lane = Namespace::bandwidth_key("r1", "r2", false);
    let label = format!("key=\"{lane}\"");
    // Every worker follows the limit from the configuration; alone on the
    // lane (nothing copies yet), each has all of it.
    for worker in WORKERS {
        wait_until(&format!("{worker} to follow the limit"), WAIT, || async {
            let share = stack.metric(worker, SHARE_GAUGE, &label).await?;
            Ok((share == LIMIT as f64).then_some(()))
        })
        .await?;
    }
    let text = stack.metrics(WORKERS[0]).await?;
    assert!(
        text.contains(&format!("# HELP {SHARE_GAUGE} ")),
        "the share gauge has no HELP:\n{text}"
    );

    let probe = stack.probe().await?;
    let presence = record_presence(probe.js.get_key_value(ns.workers_bucket()).await?).await?;

    // Every service waits for its FULL before any is written (reconciliation
    // would find a written one on its own), so the jobs arrive within the
    // few seconds it takes to write them and every worker takes some.
    for i in 0..BACKUPS {
        env.seeding(&format!("bw-{i}")).await?;
    }
    let nats = stack.nats.client().await?;
    let mut synced = nats
        .subscribe(ns.event_subject(EventSubject::BackupSynced))
        .await?;
    for i in 0..BACKUPS {
        let mut chain = ChainGen::new(&format!("bw-{i}"), TENANT_A, "r1", Engine::Mysql, T0);
        env.upstream.emit(&env.source, &chain.full(SIZE)).await?;
    }

    // Each copy's end is when its BackupSynced arrives, its start that less
    // the duration the worker measured.
    let mut copies: HashMap<String, (Instant, u64, Duration)> = HashMap::new();
    tokio::time::timeout(Duration::from_secs(240), async {
        while copies.len() < BACKUPS {
            let msg = synced
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("events ended"))?;
            let arrived = Instant::now();
            let e = pb::BackupSynced::decode(msg.payload.as_ref())?;
            let id = e.backup.map(|b| b.backup_id).unwrap_or_default();
            copies
                .entry(id)
                .or_insert((arrived, e.bytes, Duration::from_millis(e.duration_ms)));
        }
        anyhow::Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("only {} of {BACKUPS} copies synced", copies.len()))??;

    let first_start = copies
        .values()
        .map(|(end, _, took)| *end - *took)
        .min()
        .unwrap();
    let last_end = copies.values().map(|(end, _, _)| *end).max().unwrap();
    let bytes: u64 = copies.values().map(|(_, b, _)| *b).sum();
    assert_eq!(bytes, BACKUPS as u64 * SIZE as u64);
    let window = last_end - first_start;
    let rate = bytes as f64 / window.as_secs_f64();
    let summary = format!(
        "{:.2} MiB in {:.1} s: {:.2} MiB/s against a limit of {:.2} MiB/s",
        bytes as f64 / MIB as f64,
        window.as_secs_f64(),
        rate / MIB as f64,
        LIMIT as f64 / MIB as f64
    );
    eprintln!("{summary}");
    assert!(
        (rate - LIMIT as f64).abs() <= 0.1 * LIMIT as f64,
        "the aggregate rate is not within 10 % of the limit: {summary}"
    );

    // The three copied, at the same time.
    let mut copied = Vec::new();
    for worker in WORKERS {
        let n = stack
            .metric(worker, "xregion_transfer_bytes_total", "")
            .await?;
        copied.push((worker, n as u64));
    }
    assert!(
        copied.iter().filter(|(_, n)| *n > 0).count() > 1,
        "one worker copied everything: {copied:?}"
    );
    assert_eq!(
        copied.iter().map(|(_, n)| n).sum::<u64>(),
        bytes,
        "{copied:?}"
    );
    // Once the last copy is over every worker withdraws from the lane.
    let (most, withdrawn, keys) = wait_until("every worker to withdraw", WAIT, || async {
        let summary = presence_summary(&presence.lock().unwrap(), &lane);
        Ok((summary.1.len() == summary.2).then_some(summary))
    })
    .await?;
    assert_eq!(
        most, 3,
        "three workers were never on the lane at once ({copied:?})"
    );
    assert_eq!(keys, 3, "one presence key per worker: {withdrawn:?}");
    Ok(())
}
