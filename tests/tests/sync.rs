//! Continuous sync end to end over the real services, Garage regions, NATS
//! and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use object_store::path::Path;
use sha2::Digest;
use tonic::Code;
use xregion_domain::{layout, Engine};
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{fast_sync_without_cleanup, latest_ms, state, SyncEnv};
use xregion_tests::{Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;

fn end_of(d: &xregion_proto::rds::v1::BackupDescriptor) -> i64 {
    d.data_end_time.as_ref().map(millis).unwrap_or_default()
}

async fn seeds_then_follows(engine: Engine) -> anyhow::Result<()> {
    let (_stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let instance = format!("{}-1", engine.as_str());
    let mut chain = env.chain(&instance, engine, T0).await?;
    // An older FULL that seeding must skip, then the FULL and logs it copies.
    let old_full = env.upstream.emit(&env.source, &chain.full(1000)).await?;
    env.upstream
        .emit(&env.source, &chain.log(5 * MIN, 2000))
        .await?;
    let full = env.upstream.emit(&env.source, &chain.full(300_000)).await?;
    let mut logs = Vec::new();
    for _ in 0..3 {
        logs.push(
            env.upstream
                .emit(&env.source, &chain.log(5 * MIN, 4096))
                .await?,
        );
    }

    // The watcher has seen these events while no service existed: they are
    // seeding's to choose from, not jobs (a watcher lagging behind them
    // would copy the older chain too).
    env.probe
        .wait_consumer_idle(&env.probe.ns.upstream_stream(), "watcher-backups")
        .await?;
    let svc = env.create(&instance, engine, "r1", "r2").await?;
    let last = end_of(logs.last().expect("logs"));
    let running = env
        .wait_service(&svc.id, "RUNNING at the last log", |s| {
            state(s) == pb::ServiceState::Running && latest_ms(s) == Some(last)
        })
        .await?;
    assert_eq!(
        running.synced_backups, 4,
        "the newest FULL and its 3 logs, not the older chain"
    );
    assert!(running.lag_seconds.is_some());

    // New backups after creation extend the window.
    for _ in 0..2 {
        logs.push(
            env.upstream
                .emit(&env.source, &chain.log(5 * MIN, 4096))
                .await?,
        );
    }
    let last = end_of(logs.last().expect("logs"));
    env.wait_service(&svc.id, "window extended by new logs", |s| {
        latest_ms(s) == Some(last)
    })
    .await?;

    // Byte-identical copies in the target, under the documented layout.
    let prefix = layout::service_prefix(TENANT_A, &instance, &svc.id);
    for d in std::iter::once(&full).chain(logs.iter()) {
        for f in &d.files {
            let key = layout::backup_file_key(&prefix, &d.backup_id, &f.key);
            let bytes = env.target.get(&Path::from(key)).await?.bytes().await?;
            assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), f.sha256);
        }
        env.target
            .head(&Path::from(layout::manifest_key(&prefix, &d.backup_id)))
            .await?;
    }
    assert!(env
        .target
        .head(&Path::from(layout::manifest_key(
            &prefix,
            &old_full.backup_id
        )))
        .await
        .is_err());
    env.target
        .head(&Path::from(layout::service_descriptor_key(&prefix)))
        .await?;

    // Window and plans; the plan from the target store alone is the same.
    let window = env.window(&svc.id).await?;
    assert_eq!(window.earliest.as_ref().map(millis), Some(end_of(&full)));
    assert_eq!(window.latest.as_ref().map(millis), Some(last));
    assert!(window.gaps.is_empty());
    let t = end_of(&logs[1]) - MIN;
    let plan = env.plan(&svc.id, t).await?;
    assert_eq!(plan.full_backup_id, full.backup_id);
    assert_eq!(
        plan.log_backup_ids,
        vec![logs[0].backup_id.clone(), logs[1].backup_id.clone()]
    );
    assert_eq!(plan.target_region, "r2");
    let (store_plan, store_files) =
        xregion_common::target::plan_from_store(env.target.as_ref(), &prefix, t).await?;
    assert_eq!(store_plan.full_backup_id, plan.full_backup_id);
    assert_eq!(store_plan.log_backup_ids, plan.log_backup_ids);
    let api_files: Vec<_> = plan
        .files
        .iter()
        .map(|f| (f.key.clone(), f.size, f.sha256.clone()))
        .collect();
    let st_files: Vec<_> = store_files
        .iter()
        .map(|f| (f.file.key.clone(), f.file.size, f.file.sha256.clone()))
        .collect();
    assert_eq!(api_files, st_files);
    let before = env
        .plan(&svc.id, end_of(&full) - 1)
        .await
        .expect_err("before the window");
    assert_eq!(before.code(), Code::FailedPrecondition);
    let after = env
        .plan(&svc.id, last + MIN)
        .await
        .expect_err("after the window");
    assert_eq!(after.code(), Code::FailedPrecondition);

    let logs_only = pb::ListSyncedBackupsRequest {
        service_id: svc.id.clone(),
        kind: pb::BackupKindFilter::Log as i32,
        ..Default::default()
    };
    let listed = env.synced_backups(logs_only).await?;
    assert_eq!(listed.backups.len(), 5);
    Ok(())
}

#[tokio::test]
async fn mysql_seeds_then_follows_new_backups() -> anyhow::Result<()> {
    seeds_then_follows(Engine::Mysql).await
}

#[tokio::test]
async fn sqlserver_seeds_then_follows_new_backups() -> anyhow::Result<()> {
    seeds_then_follows(Engine::Sqlserver).await
}

#[tokio::test]
async fn a_missing_log_stops_the_window_and_filling_it_extends_it() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::fast_sync()).await?;
    let env = SyncEnv::new(&stack, "r1", "r3").await?;
    let mut chain = env.chain("gappy", Engine::Mysql, T0).await?;
    let svc = env.create("gappy", Engine::Mysql, "r1", "r3").await?;
    env.wait_service(&svc.id, "SEEDING without a full", |s| {
        state(s) == pb::ServiceState::Seeding && s.last_error.contains("waiting for a full")
    })
    .await?;
    env.upstream.emit(&env.source, &chain.full(10_000)).await?;
    let l1 = env.upstream.emit(&env.source, &chain.log(MIN, 100)).await?;
    let skipped = chain.log(MIN, 100); // fault: the upstream skips this LOG for now
    let l3 = env.upstream.emit(&env.source, &chain.log(MIN, 100)).await?;
    env.wait_service(&svc.id, "RUNNING, stopped at the gap", |s| {
        state(s) == pb::ServiceState::Running
            && latest_ms(s) == Some(end_of(&l1))
            && s.synced_backups == 3
    })
    .await?;
    let window = env.window(&svc.id).await?;
    assert_eq!(window.latest.as_ref().map(millis), Some(end_of(&l1)));
    assert_eq!(window.gaps.len(), 1, "{window:?}");
    let gap = env
        .plan(&svc.id, end_of(&l3))
        .await
        .expect_err("beyond the gap");
    assert_eq!(gap.code(), Code::FailedPrecondition);

    env.upstream.emit(&env.source, &skipped).await?;
    env.wait_service(&svc.id, "window extended past the filled gap", |s| {
        latest_ms(s) == Some(end_of(&l3))
    })
    .await?;
    assert!(env.window(&svc.id).await?.gaps.is_empty());
    env.plan(&svc.id, end_of(&l3)).await?;
    Ok(())
}

#[tokio::test]
async fn a_corrupted_source_file_is_never_synced_and_the_service_says_why() -> anyhow::Result<()> {
    let (_stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let mut chain = env.chain("corrupt-1", Engine::Mysql, T0).await?;
    let (svc, full) = env.corrupted_full("corrupt-1", chain.full(5000)).await?;
    let degraded = env.wait_state(&svc.id, pb::ServiceState::Degraded).await?;
    assert!(
        degraded.last_error.contains(&full.backup_id),
        "{}",
        degraded.last_error
    );
    assert!(
        degraded.last_error.contains("sha256"),
        "{}",
        degraded.last_error
    );
    assert_eq!(degraded.synced_backups, 0);
    assert!(degraded.latest_data_time.is_none());
    let prefix = layout::service_prefix(TENANT_A, "corrupt-1", &svc.id);
    assert!(env
        .target
        .head(&Path::from(layout::manifest_key(&prefix, &full.backup_id)))
        .await
        .is_err());
    for f in &full.files {
        assert!(env
            .target
            .head(&Path::from(layout::backup_file_key(
                &prefix,
                &full.backup_id,
                &f.key
            )))
            .await
            .is_err());
    }
    Ok(())
}

/// A file copied whole into a target whose store checks sha256 goes in one
/// PUT straight from the source's stream, signed with the descriptor's
/// sha256 (`direct_put`); `a_corrupted_source_file_is_never_synced_and_the_service_says_why`
/// is the store refusing other bytes.
#[tokio::test]
async fn files_copied_whole_go_straight_from_the_source_into_the_target() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let mut chain = env.chain("direct-1", Engine::Mysql, T0).await?;
    // A name as MySQL's doublewrite files have: object_store percent-encodes
    // `#`, `~` and `%` in its keys, and the direct PUT must name the object
    // it reads back.
    let mut full = chain.full(300_000);
    let first = &mut full.descriptor.files[0].key;
    *first = format!("{}/#ib_16384_0 ~%.dblwr", first.rsplit_once('/').unwrap().0);
    let full = env.upstream.emit(&env.source, &full).await?;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(MIN, 4096))
        .await?;
    let svc = env.create("direct-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_service(&svc.id, "RUNNING at the log", |s| {
        latest_ms(s) == Some(end_of(&log))
    })
    .await?;
    for b in [&full, &log] {
        env.assert_landed("direct-1", &svc.id, b).await?;
    }
    let direct = stack
        .metric(
            "transfer-worker",
            "xregion_transfer_files_total",
            "path=\"direct\"",
        )
        .await?;
    assert_eq!(direct, (full.files.len() + log.files.len()) as f64);
    Ok(())
}

#[tokio::test]
async fn a_withheld_event_is_caught_by_reconciliation() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::fast_sync()).await?;
    let env = SyncEnv::new(&stack, "r2", "r1").await?;
    let mut chain = env.chain("quiet-1", Engine::Sqlserver, T0).await?;
    env.upstream.emit(&env.source, &chain.full(1000)).await?;
    let l1 = env.upstream.emit(&env.source, &chain.log(MIN, 100)).await?;
    let svc = env.create("quiet-1", Engine::Sqlserver, "r2", "r1").await?;
    env.wait_service(&svc.id, "RUNNING", |s| latest_ms(s) == Some(end_of(&l1)))
        .await?;
    // Fault: the files and descriptor are written, the event never sent.
    let withheld = env
        .upstream
        .write_backup(&env.source, &chain.log(MIN, 100))
        .await?;
    env.wait_service(&svc.id, "reconciliation copied the withheld log", |s| {
        latest_ms(s) == Some(end_of(&withheld))
    })
    .await?;
    Ok(())
}

/// Over a WAN a log's time is its round trips to the target: one copied
/// within a heartbeat writes its file and its manifest, and nothing else
/// (no in-progress marker to write and remove); its file is still looked
/// at once before the commit.
#[tokio::test]
async fn a_log_costs_two_writes_in_the_target_and_no_marker() -> anyhow::Result<()> {
    // Without cleanup: only the copies touch the stores.
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let instance = "mysql-trips";
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    env.upstream.emit(&env.source, &chain.full(50_000)).await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;
    const LOGS: u64 = 5;
    let (logs, requests) = env
        .logs_counted(&stack, &mut chain, &svc.id, 1, LOGS)
        .await?;
    assert_eq!(
        requests.of("PutObject"),
        2 * LOGS,
        "a file and a manifest a log"
    );
    assert_eq!(requests.of("DeleteObject"), 0, "no marker removed");
    assert_eq!(requests.of("HeadObject"), LOGS, "each file looked at once");
    // What the requests saved did not cost the copy: each log is there,
    // byte for byte, and committed.
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);
    for log in &logs {
        let key = layout::manifest_key(&prefix, &log.backup_id);
        env.target.head(&Path::from(key)).await?;
        for f in &log.files {
            let key = layout::backup_file_key(&prefix, &log.backup_id, &f.key);
            let bytes = env.target.get(&Path::from(key)).await?.bytes().await?;
            assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), f.sha256);
        }
    }
    Ok(())
}

/// A LOG slower than a heartbeat marks itself in progress (the orphan
/// sweep's sign to keep off) and clears the marker once committed.
#[tokio::test]
async fn a_log_slower_than_a_heartbeat_is_marked_in_progress_until_committed() -> anyhow::Result<()>
{
    let mut opts = fast_sync_without_cleanup();
    // A heartbeat a second.
    opts.extra_config.push_str("ack_wait_secs = 3\n");
    let (_stack, env) = SyncEnv::start(opts).await?;
    let instance = "mysql-slow-log";
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    env.upstream.emit(&env.source, &chain.full(50_000)).await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;
    // About six seconds for 3 MiB.
    env.probe.limit_log_lane("r1", "r2", 512 << 10).await?;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(5 * MIN, 3 << 20))
        .await?;
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);
    let marker = Path::from(layout::in_progress_key(&prefix, &log.backup_id));
    xregion_tests::wait::wait_until("the slow log's marker", Duration::from_secs(30), || async {
        Ok(env.target.head(&marker).await.ok().map(|_| ()))
    })
    .await?;
    env.wait_running(&svc.id, 2).await?;
    let manifest = Path::from(layout::manifest_key(&prefix, &log.backup_id));
    env.target.head(&manifest).await?;
    assert!(
        env.target.head(&marker).await.is_err(),
        "the marker outlived the commit"
    );
    Ok(())
}
