//! Sync under faults and observation: a worker killed mid-copy, live
//! progress through WatchSyncService, lag alerts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path;
use prost::Message;
use sha2::Digest;
use sqlx::Row;
use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine};
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::metrics::counter;
use xregion_tests::probe::copy_under_way;
use xregion_tests::stack::{TENANT_A, TOKEN_A, TOKEN_B};
use xregion_tests::sync::{latest_ms, throttled_sync_config, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{now_ms, wait_until, Stack, StackOptions, WAIT};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;

fn end_of(d: &xregion_proto::rds::v1::BackupDescriptor) -> i64 {
    d.data_end_time.as_ref().map(millis).unwrap_or_default()
}

/// Bytes the worker copied on the FULL lane so far.
#[tokio::test]
async fn a_worker_killed_mid_copy_resumes_and_leaves_exactly_one_verified_copy(
) -> anyhow::Result<()> {
    const MIB: usize = 1024 * 1024;
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}ack_wait_secs = 4\nparts_in_flight = 2\n"),
        ..Default::default()
    })
    .await?;
    let mut chain = env.chain("big-1", Engine::Mysql, T0).await?;
    let full = env
        .upstream
        .emit(&env.source, &chain.full(400 * MIB))
        .await?;
    let total_parts = (400 / 5) as u64;
    let uploads = stack.uploads().await?;
    let svc = env.create("big-1", Engine::Mysql, "r1", "r2").await?;
    let key = xregion_bus::Namespace::upload_key(&svc.id, &full.backup_id, 0);
    // Kill the worker once some parts are recorded as completed.
    xregion_tests::sync::parts_recorded(&uploads, &key, 10, Duration::from_secs(120)).await?;
    stack.kill("transfer-worker");
    let recorded: serde_json::Value = serde_json::from_slice(&uploads.get(&key).await?.unwrap())?;
    let persisted = recorded["parts"].as_array().unwrap().len() as u64;
    assert!(persisted < total_parts, "killed mid-copy");
    stack.start_service("transfer-worker", &[]).await?;

    let running = env.wait_state(&svc.id, pb::ServiceState::Running).await?;
    assert_eq!(running.synced_backups, 1);
    // The new worker uploaded only what was not recorded; Garage saw at most
    // two parts twice (those in flight at the kill).
    let worker = stack.metrics("transfer-worker").await?;
    assert_eq!(
        counter(&worker, "xregion_transfer_parts_uploaded_total", ""),
        total_parts - persisted,
        "{worker}"
    );
    assert_eq!(
        counter(&worker, "xregion_transfer_parts_reused_total", ""),
        persisted
    );
    let garage = stack.garage.metrics().await?;
    let upload_parts = counter(&garage, "api_s3_request_counter", "UploadPart");
    assert!(
        upload_parts >= total_parts,
        "garage counted {upload_parts} UploadPart requests: {}",
        garage
            .lines()
            .filter(|l| l.contains("UploadPart"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        upload_parts - total_parts <= 2,
        "{} parts were sent again",
        upload_parts - total_parts
    );
    assert!(
        uploads.get(&key).await?.is_none(),
        "upload state removed once complete"
    );

    let db_url = stack.db.as_ref().unwrap().url.clone();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url).await?;
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM synced_backups WHERE service_id = $1")
        .bind(&svc.id)
        .fetch_one(&mut conn)
        .await?
        .try_get("n")?;
    assert_eq!(rows, 1);
    let prefix = layout::service_prefix(TENANT_A, "big-1", &svc.id);
    let object = layout::backup_file_key(&prefix, &full.backup_id, &full.files[0].key);
    let bytes = env.target.get(&Path::from(object)).await?.bytes().await?;
    assert_eq!(bytes.len() as u64, full.files[0].size);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        full.files[0].sha256
    );
    Ok(())
}

/// An upload aborted behind the worker's back (a lifecycle rule, an
/// operator) while its record stands: the resume's parts get NoSuchUpload,
/// the record is forgotten, and the next delivery copies afresh, instead of
/// every delivery resuming a dead upload until the copy is dead-lettered.
#[tokio::test]
async fn an_upload_aborted_outside_the_worker_is_started_again() -> anyhow::Result<()> {
    const MIB: usize = 1024 * 1024;
    // 40 MiB at 4 MiB/s: about 10 s, time to stop the worker mid-copy.
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: throttled_sync_config(4, 4 * MIB as u64),
        ..Default::default()
    })
    .await?;
    let mut chain = env.chain("gone-1", Engine::Mysql, T0).await?;
    let full = env
        .upstream
        .emit(&env.source, &chain.full(40 * MIB))
        .await?;
    let uploads = stack.uploads().await?;
    let svc = env.create("gone-1", Engine::Mysql, "r1", "r2").await?;
    let key = xregion_bus::Namespace::upload_key(&svc.id, &full.backup_id, 0);
    xregion_tests::sync::parts_recorded(&uploads, &key, 2, Duration::from_secs(120)).await?;
    stack.kill("transfer-worker");
    let recorded: serde_json::Value = serde_json::from_slice(&uploads.get(&key).await?.unwrap())?;
    let parts = recorded["parts"].as_array().unwrap().len();
    assert!(parts < 8, "killed mid-copy ({parts} of 8 parts)");
    let (target_key, upload_id) = (
        recorded["target_key"].as_str().unwrap(),
        recorded["upload_id"].as_str().unwrap(),
    );
    let mp = xregion_common::regions::build_region(stack.region("r2")?)?
        .multipart
        .unwrap();
    mp.store()
        .abort_multipart(&mp.path(target_key), &upload_id.to_string())
        .await?;

    stack.start_service("transfer-worker", &[]).await?;
    let running = env.wait_state(&svc.id, pb::ServiceState::Running).await?;
    assert_eq!(running.synced_backups, 1);
    env.assert_landed("gone-1", &svc.id, &full).await?;
    assert!(
        uploads.get(&key).await?.is_none(),
        "the dead upload's record is gone, and so is the new one's"
    );
    let worker = stack.metrics("transfer-worker").await?;
    assert_eq!(
        counter(&worker, "xregion_transfer_parts_reused_total", ""),
        0,
        "nothing of the aborted upload was reused"
    );
    Ok(())
}

/// A catalog that does not answer (stopped: its requests time out rather
/// than fail) stalls no copy: the heartbeat asks it beside the copy, the
/// job's lease is renewed before the question, and an answer later than
/// half a heartbeat counts as none. Bytes keep moving at the lane's limit
/// and the job is not redelivered beside the running copy.
#[tokio::test]
async fn a_catalog_that_does_not_answer_stalls_no_copy() -> anyhow::Result<()> {
    const MIB: f64 = 1024.0 * 1024.0;
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: throttled_sync_config(3, 4 * 1024 * 1024),
        ..Default::default()
    })
    .await?;
    let mut chain = env.chain("calm-1", Engine::Mysql, T0).await?;
    let full = env
        .upstream
        .emit(&env.source, &chain.full(120 * 1024 * 1024))
        .await?;
    let total_parts = 120 / 5;
    let svc = env.create("calm-1", Engine::Mysql, "r1", "r2").await?;
    let catalog = stack.service("catalog")?.pid().unwrap().to_string();
    let moved = || stack.full_bytes_moved();
    let before = wait_until("the FULL under way", WAIT, || async {
        let b = moved().await.unwrap_or(0.0);
        Ok((b >= 10.0 * MIB).then_some(b))
    })
    .await?;
    std::process::Command::new("kill")
        .args(["-STOP", &catalog])
        .status()?;
    // 4 MiB/s for up to 15 s; a copy waiting on the catalog at every
    // heartbeat (10 s request timeout) moves a part or two.
    let going = wait_until(
        "30 MiB moved with the catalog stopped",
        Duration::from_secs(15),
        || async { Ok((moved().await? >= before + 30.0 * MIB).then_some(())) },
    )
    .await;
    std::process::Command::new("kill")
        .args(["-CONT", &catalog])
        .status()?;
    going?;
    let running = env.wait_state(&svc.id, pb::ServiceState::Running).await?;
    assert_eq!(running.synced_backups, 1);
    let worker = stack.metrics("transfer-worker").await?;
    assert_eq!(
        counter(&worker, "xregion_transfer_parts_uploaded_total", ""),
        total_parts as u64,
        "a part was sent twice: the job was redelivered beside its copy"
    );
    env.assert_landed("calm-1", &svc.id, &full).await?;
    Ok(())
}

/// A second job message for a backup whose copy is running (the watcher's
/// re-queue once the stream's duplicate window has passed, a re-announced
/// backup) is dropped instead of copying beside it: the running copy's
/// marker names its message. Every part is sent once, one copy is made, and
/// both messages are acked.
#[tokio::test]
async fn a_second_job_for_a_backup_being_copied_is_dropped_not_copied_beside_it(
) -> anyhow::Result<()> {
    const MIB: usize = 1024 * 1024;
    let (stack, env) = SyncEnv::start(StackOptions {
        extra_config: throttled_sync_config(3, 4 * MIB as u64),
        ..Default::default()
    })
    .await?;
    let mut chain = env.chain("twice-1", Engine::Mysql, T0).await?;
    let full = env
        .upstream
        .emit(&env.source, &chain.full(40 * MIB))
        .await?;
    let svc = env.create("twice-1", Engine::Mysql, "r1", "r2").await?;
    wait_until("the FULL under way", WAIT, || async {
        let moved = stack.full_bytes_moved().await?;
        Ok((moved >= 10.0 * MIB as f64).then_some(()))
    })
    .await?;
    let seeding = env.get(&svc.id).await?;
    let job = pb::TransferRequested {
        service: Some(xregion_tests::sync::service_ref(&seeding, "twice-1")),
        backup: Some(full.clone()),
        lane: pb::Lane::Full as i32,
        requested_at: None,
    };
    env.probe
        .publish_raw(
            stack
                .ns()
                .transfer_subject("r2", xregion_domain::Lane::Full),
            "twice-again",
            &job,
        )
        .await?;
    let running = env.wait_state(&svc.id, pb::ServiceState::Running).await?;
    assert_eq!(running.synced_backups, 1);
    wait_until("both job messages acked", WAIT, || async {
        let jobs = stack
            .metric(
                "transfer-worker",
                "xregion_transfer_backlog_jobs",
                "lane=\"full\"",
            )
            .await?;
        Ok((jobs == 0.0).then_some(()))
    })
    .await?;
    let worker = stack.metrics("transfer-worker").await?;
    assert_eq!(
        counter(&worker, "xregion_transfer_parts_uploaded_total", ""),
        8,
        "a part was sent twice: the second message copied beside the first"
    );
    env.assert_landed("twice-1", &svc.id, &full).await?;
    Ok(())
}

#[tokio::test]
async fn watch_streams_progress_and_state_changes_only_to_the_owner() -> anyhow::Result<()> {
    let (_stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let svc = env.seeding("watched").await?;

    let mut one = env.watch(TOKEN_A, &svc.id).await?;
    let mut all = env.watch(TOKEN_A, "").await?;
    let mut other = env.watch(TOKEN_B, "").await?;
    let denied = env.watch(TOKEN_B, &svc.id).await;
    assert_eq!(denied.err().map(|s| s.code()), Some(tonic::Code::NotFound));

    let mut chain = ChainGen::new("watched", TENANT_A, "r1", Engine::Mysql, T0);
    env.upstream.emit(&env.source, &chain.full(10_000)).await?;

    for (name, stream) in [("one", &mut one), ("all", &mut all)] {
        let (mut done, mut synced, mut running) = (false, false, false);
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(ev) = stream.next().await {
                match ev?.event {
                    Some(pb::watch_event::Event::Progress(p)) => {
                        done |= p.done && p.bytes_done == p.bytes_total
                    }
                    Some(pb::watch_event::Event::Synced(_)) => synced = true,
                    Some(pb::watch_event::Event::StateChanged(c)) => {
                        running |= c.to == pb::ServiceState::Running as i32
                    }
                    _ => {}
                }
                if done && synced && running {
                    return anyhow::Ok(());
                }
            }
            anyhow::bail!("stream ended")
        })
        .await
        .map_err(|_| {
            anyhow::anyhow!("{name}: progress {done}, synced {synced}, running {running}")
        })??;
    }
    // Tenant B saw nothing of tenant A's service.
    let leaked = tokio::time::timeout(Duration::from_millis(500), other.next()).await;
    assert!(leaked.is_err(), "tenant B received {leaked:?}");
    Ok(())
}

#[tokio::test]
async fn lag_past_the_threshold_raises_and_then_clears_an_alert() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec![
            "api-gateway",
            "backup-watcher",
            "transfer-worker",
            "cleanup",
        ],
        ..StackOptions::fast_sync()
    })
    .await?;
    stack
        .start_service(
            "catalog",
            &[
                "--set",
                "catalog.lag_threshold_secs=3600",
                "--set",
                "catalog.lag_check_interval_secs=1",
            ],
        )
        .await?;
    lag_events(&stack).await
}

async fn lag_events(stack: &Stack) -> anyhow::Result<()> {
    let env = SyncEnv::new(stack, "r1", "r2").await?;
    let five_hours_ago = now_ms() - 5 * 3600 * 1000;
    let mut chain = env.chain("laggy", Engine::Mysql, five_hours_ago).await?;
    env.upstream.emit(&env.source, &chain.full(1000)).await?;
    let svc = env.create("laggy", Engine::Mysql, "r1", "r2").await?;
    env.wait_state(&svc.id, pb::ServiceState::Running).await?;
    let some = |e: &[pb::LagExceeded]| !e.is_empty();
    let exceeded = env
        .probe
        .wait_events("LagExceeded", EventSubject::LagExceeded, some)
        .await?;
    assert_eq!(exceeded.len(), 1);
    assert_eq!(exceeded[0].service_id, svc.id);
    assert!(exceeded[0].lag_seconds > 3600);
    // A log bringing the data up to now clears it.
    let span = now_ms() - chain.now_ms;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(span, 100))
        .await?;
    env.wait_service(&svc.id, "caught up", |s| latest_ms(s) == Some(end_of(&log)))
        .await?;
    let some = |e: &[pb::LagRecovered]| !e.is_empty();
    let recovered = env
        .probe
        .wait_events("LagRecovered", EventSubject::LagRecovered, some)
        .await?;
    assert_eq!(recovered[0].service_id, svc.id);
    assert!(recovered[0].lag_seconds < 3600);
    Ok(())
}

#[tokio::test]
async fn a_log_queued_behind_a_full_in_flight_finishes_first() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let nats = stack.nats.client().await?;
    let ns = stack.ns();
    let mut synced_events = nats
        .subscribe(ns.event_subject(EventSubject::BackupSynced))
        .await?;
    let svc = env.seeding("lanes-1").await?;
    // The FULL lane is throttled so the FULL is surely still in flight when
    // the LOG arrives; the log lane has no limit of its own.
    env.probe.limit_full_lane("r1", "r2", 16 << 20).await?;
    let mut progress = nats.subscribe(ns.progress_filter(Some(&svc.id))).await?;
    let mut chain = ChainGen::new("lanes-1", TENANT_A, "r1", Engine::Mysql, T0);
    let full = env
        .upstream
        .emit(&env.source, &chain.full(160 * 1024 * 1024))
        .await?;
    // Wait until the FULL is visibly being copied.
    copy_under_way(&mut progress, &full.backup_id).await?;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(MIN, 4096))
        .await?;
    let order = tokio::time::timeout(Duration::from_secs(120), async {
        let mut order = Vec::new();
        while let Some(msg) = synced_events.next().await {
            let e = pb::BackupSynced::decode(msg.payload.as_ref())?;
            order.push(e.backup.map(|b| b.backup_id).unwrap_or_default());
            if order.len() == 2 {
                return anyhow::Ok(order);
            }
        }
        anyhow::bail!("events ended")
    })
    .await??;
    assert_eq!(
        order,
        vec![log.backup_id.clone(), full.backup_id.clone()],
        "the LOG must not wait for the FULL"
    );
    Ok(())
}

#[tokio::test]
async fn the_bandwidth_limit_changes_at_runtime_and_the_rate_follows() -> anyhow::Result<()> {
    const MIB: u64 = 1024 * 1024;
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let ns = stack.ns();
    let nats = stack.nats.client().await?;
    env.probe.limit_full_lane("r1", "r2", 4 * MIB).await?;
    let svc = env.seeding("bw-1").await?;
    let mut progress = nats.subscribe(ns.progress_filter(Some(&svc.id))).await?;
    let mut chain = ChainGen::new("bw-1", TENANT_A, "r1", Engine::Mysql, T0);
    env.upstream
        .emit(&env.source, &chain.full(64 * MIB as usize))
        .await?;

    // Phase 1: six seconds of progress under 4 MiB/s.
    let (t0, p0) = loop {
        let (t, p) = next_progress(&mut progress).await?;
        if p.bytes_done > 0 {
            break (t, p);
        }
    };
    let (t1, p1) = loop {
        let (t, p) = next_progress(&mut progress).await?;
        if t.duration_since(t0) >= Duration::from_secs(6) {
            break (t, p);
        }
    };
    let slow = (p1.bytes_done - p0.bytes_done) as f64 / t1.duration_since(t0).as_secs_f64();
    // Bytes pass the limiter a 5 MiB part at a time, so a window may hold
    // one part more than the limit allows.
    assert!(
        slow <= (4.0 + 5.0 / 6.0) * MIB as f64 * 1.1,
        "limited to 4 MiB/s, copied at {:.1} MiB/s",
        slow / MIB as f64
    );
    assert!(!p1.done);

    // Phase 2: raise the limit without restarting anything.
    env.probe.limit_full_lane("r1", "r2", 64 * MIB).await?;
    let (t2, p2) = loop {
        let (t, p) = next_progress(&mut progress).await?;
        if p.done {
            break (t, p);
        }
    };
    let fast = (p2.bytes_done - p1.bytes_done) as f64 / t2.duration_since(t1).as_secs_f64();
    assert!(
        fast >= 3.0 * slow,
        "after raising the limit: {:.1} MiB/s, before {:.1} MiB/s",
        fast / MIB as f64,
        slow / MIB as f64
    );
    Ok(())
}

async fn next_progress(
    sub: &mut async_nats::Subscriber,
) -> anyhow::Result<(std::time::Instant, pb::TransferProgress)> {
    let msg = tokio::time::timeout(Duration::from_secs(60), sub.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("progress ended"))?;
    Ok((
        std::time::Instant::now(),
        pb::TransferProgress::decode(msg.payload.as_ref())?,
    ))
}
