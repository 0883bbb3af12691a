//! Retention, orphan collection, crash-safe purge and usage metering, over
//! the real services, checked by listing the Garage target bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use object_store::path::Path;
use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine};
use xregion_proto::convert::millis;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{eager_cleanup, fast_sync_without_cleanup, state, SyncEnv};
use xregion_tests::{now_ms, wait_until, Stack, StackOptions, WAIT};

const DAY: i64 = 24 * 3600 * 1000;

fn end_of(d: &BackupDescriptor) -> i64 {
    d.data_end_time.as_ref().map(millis).unwrap()
}

/// A service whose whole history (3 FULLs, 19 LOGs, 20 days) is synced.
async fn long_history(
    env: &SyncEnv,
    instance: &str,
) -> anyhow::Result<(pb::SyncService, Vec<BackupDescriptor>)> {
    let svc = env.seeding(instance).await?;
    let mut chain = ChainGen::new(instance, TENANT_A, "r1", Engine::Mysql, now_ms() - 20 * DAY);
    let mut all = vec![env.upstream.emit(&env.source, &chain.full(3000)).await?];
    for _ in 0..10 {
        all.push(env.upstream.emit(&env.source, &chain.log(DAY, 200)).await?);
    }
    all.push(env.upstream.emit(&env.source, &chain.full(3000)).await?);
    for _ in 0..7 {
        all.push(env.upstream.emit(&env.source, &chain.log(DAY, 200)).await?);
    }
    all.push(env.upstream.emit(&env.source, &chain.full(3000)).await?);
    for _ in 0..2 {
        all.push(env.upstream.emit(&env.source, &chain.log(DAY, 200)).await?);
    }
    let n = all.len() as u64;
    let svc = env
        .wait_service(&svc.id, "whole history synced", |s| {
            s.synced_backups == n && state(s) == pb::ServiceState::Running
        })
        .await?;
    Ok((svc, all))
}

/// Waits until exactly `n` BackupExpired events are out; returns their
/// backup ids in order.
async fn expired_events(env: &SyncEnv, what: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let all = |e: &[pb::BackupExpired]| e.len() == n;
    let events = env
        .probe
        .wait_events(what, EventSubject::BackupExpired, all)
        .await?;
    Ok(events.into_iter().map(|e| e.backup_id).collect())
}

async fn every_point_restorable(env: &SyncEnv, id: &str) -> anyhow::Result<()> {
    let w = env.window(id).await?;
    let (from, to) = (
        millis(w.earliest.as_ref().unwrap()),
        millis(w.latest.as_ref().unwrap()),
    );
    assert!(w.gaps.is_empty());
    let mut t = from;
    while t <= to {
        env.plan(id, t)
            .await
            .map_err(|s| anyhow::anyhow!("no plan at {t}: {s:?}"))?;
        t += DAY / 2;
    }
    env.plan(id, to).await?;
    Ok(())
}

#[tokio::test]
async fn retention_expires_old_backups_without_breaking_the_window() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (svc, all) = long_history(&env, "ret-1").await?;
    let prefix = layout::service_prefix(TENANT_A, "ret-1", &svc.id);
    assert_eq!(env.keys_under(&prefix).await?.len(), 1 + 2 * all.len());

    // Usage matches what was copied.
    let usage = env.usage(&svc.id).await?;
    let copied: u64 = all
        .iter()
        .flat_map(|d| d.files.iter().map(|f| f.size))
        .sum();
    assert_eq!(
        usage.days.iter().map(|d| d.bytes_transferred).sum::<u64>(),
        copied
    );
    assert_eq!(
        usage
            .days
            .iter()
            .map(|d| d.objects_transferred)
            .sum::<u64>(),
        all.len() as u64
    );
    assert_eq!(usage.days.last().unwrap().bytes_stored, copied);
    assert_eq!(usage.amount, 0.0);

    // A folder of a service id the catalog never issued: left alone.
    let orphan = Path::from(format!("{TENANT_A}/ghost/svc-ghost/backups/b/f"));
    env.target
        .put(&orphan, b"left behind".to_vec().into())
        .await?;
    // And a file of the live service whose manifest is gone (retention cut short).
    let headless = Path::from(format!("{prefix}/backups/cut-short/f"));
    env.target
        .put(&headless, b"half expired".to_vec().into())
        .await?;

    // Retention 7 days on the real clock: the first chain (FULL + 10 logs) goes.
    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    let first_chain: Vec<&BackupDescriptor> = all[..11].iter().collect();
    let expired = expired_events(&env, "first chain expired", first_chain.len()).await?;
    assert_eq!(
        expired,
        first_chain
            .iter()
            .map(|d| d.backup_id.clone())
            .collect::<Vec<_>>()
    );
    let left = env.keys_under(&prefix).await?;
    for d in &first_chain {
        assert!(
            !left
                .iter()
                .any(|k| k.contains(&format!("/{}/", d.backup_id))
                    || k.ends_with(&format!("/{}.json", d.backup_id))),
            "{} left",
            d.backup_id
        );
    }
    // Files without a manifest are collected after retention, in the same
    // sweep; the unknown folder stays (deleting needs positive knowledge).
    wait_until("headless files collected", WAIT, || async {
        Ok(env.target.head(&headless).await.is_err().then_some(()))
    })
    .await?;
    assert!(
        env.target.head(&orphan).await.is_ok(),
        "unknown folder deleted"
    );
    let svc_now = env
        .wait_service(&svc.id, "earliest moved", |s| s.synced_backups == 11)
        .await?;
    assert_eq!(
        env.window(&svc.id).await?.earliest.as_ref().map(millis),
        Some(end_of(&all[11]))
    );
    every_point_restorable(&env, &svc.id).await?;
    assert_eq!(state(&svc_now), pb::ServiceState::Running);

    // Five days later (for the catalog too, which checks retention again
    // before it forgets a copy): the second chain goes too; the newest
    // stays whole.
    stack.kill("cleanup");
    stack.kill("catalog");
    stack
        .start_service("catalog", &["--set", "catalog.clock_offset_secs=432000"])
        .await?;
    stack
        .start_service(
            "cleanup",
            &[
                "--set",
                "cleanup.sweep_interval_secs=1",
                "--set",
                "cleanup.clock_offset_secs=432000",
            ],
        )
        .await?;
    expired_events(&env, "second chain expired", 19).await?;
    env.wait_service(&svc.id, "only the newest chain", |s| s.synced_backups == 3)
        .await?;
    assert_eq!(
        env.window(&svc.id).await?.earliest.as_ref().map(millis),
        Some(end_of(&all[19]))
    );
    assert_eq!(env.keys_under(&prefix).await?.len(), 1 + 2 * 3);
    every_point_restorable(&env, &svc.id).await?;
    Ok(())
}

#[tokio::test]
async fn cleanup_killed_mid_purge_finishes_after_restart() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let fail = ["--set", "cleanup.fail_after_deletes=10"];
    let ack_wait = ["--set", "cleanup.purge_ack_wait_secs=3"];
    stack
        .start_service("cleanup", &[&fail[..], &ack_wait[..]].concat())
        .await?;
    let (svc, all) = long_history(&env, "purge-1").await?;
    let prefix = layout::service_prefix(TENANT_A, "purge-1", &svc.id);
    let before = env.keys_under(&prefix).await?.len();
    assert_eq!(before, 1 + 2 * all.len());

    env.delete(&svc.id).await?;
    stack.wait_exited("cleanup", "killed mid-purge").await?;
    let half = env.keys_under(&prefix).await?;
    assert_eq!(half.len(), before - 10, "killed after 10 deletions");
    // Manifests go first: no backup lost a file while its manifest (the
    // commit marker) still says it is restorable.
    let manifests = half.iter().filter(|k| k.contains("/manifests/")).count();
    let files = half.iter().filter(|k| k.contains("/backups/")).count();
    assert_eq!((manifests, files), (all.len() - 10, all.len()), "{half:?}");
    assert_eq!(state(&env.get(&svc.id).await?), pb::ServiceState::Deleting);
    assert!(env
        .probe
        .events::<pb::ServiceDataPurged>(EventSubject::ServicePurged)
        .await?
        .is_empty());

    // Same consumer settings; only the fault is gone.
    stack.start_service("cleanup", &ack_wait).await?;
    env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
    assert!(env.keys_under(&prefix).await?.is_empty());
    let purged = env
        .probe
        .events::<pb::ServiceDataPurged>(EventSubject::ServicePurged)
        .await?;
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].service_id, svc.id);
    Ok(())
}

#[tokio::test]
async fn stale_multipart_uploads_are_aborted() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        extra_config: String::new(),
        ..fast_sync_without_cleanup()
    })
    .await?;
    let regions = xregion_common::Regions::build(&stack.regions)?;
    let mp = regions.multipart("r2").expect("garage regions are S3");
    let key = "tenant-a/i/svc-x/backups/b/big";
    let path = mp.path(key);
    let id = mp.store().create_multipart(&path).await?;
    let part = mp
        .store()
        .put_part(&path, &id, 0, vec![7u8; 5 * 1024 * 1024].into())
        .await?;
    let state = xregion_domain::parts::UploadState {
        upload_id: id.clone(),
        target_region: "r2".into(),
        target_key: key.into(),
        size: 20 << 20,
        part_size: 5 << 20,
        parts: vec![part.content_id.clone()],
        started_at_ms: 0,
        updated_at_ms: 0,
        encryption: None,
        sent: Default::default(),
    };
    let js = async_nats::jetstream::new(stack.nats.client().await?);
    let uploads = js.get_key_value(stack.ns().uploads_bucket()).await?;
    uploads
        .put("svc-x.b.0", serde_json::to_vec(&state)?.into())
        .await?;

    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    wait_until("stale upload forgotten", WAIT, || async {
        Ok(uploads.get("svc-x.b.0").await?.is_none().then_some(()))
    })
    .await?;
    // Aborted in Garage: the upload can no longer be completed.
    let completed = mp.store().complete_multipart(&path, &id, vec![part]).await;
    assert!(completed.is_err(), "the upload should have been aborted");
    Ok(())
}

/// Every copy the catalog lists still has its manifest and files in the
/// target; returns how many it lists.
async fn catalog_copies_are_whole(env: &SyncEnv, service_id: &str) -> anyhow::Result<usize> {
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let req = pb::ListSyncedBackupsRequest {
            service_id: service_id.into(),
            page_token: page_token.clone(),
            page_size: 1000,
            ..Default::default()
        };
        let page = env.synced_backups(req).await?;
        listed.extend(page.backups);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    for b in &listed {
        let bytes = env
            .target
            .get(&Path::from(b.manifest_key.as_str()))
            .await
            .map_err(|e| anyhow::anyhow!("{} listed, manifest gone: {e}", b.backup_id))?
            .bytes()
            .await?;
        let m = xregion_domain::manifest::Manifest::from_json(&bytes)
            .map_err(|e| anyhow::anyhow!(e))?;
        for f in &m.files {
            env.target
                .head(&Path::from(f.key.as_str()))
                .await
                .map_err(|e| anyhow::anyhow!("{} listed, {} gone: {e}", b.backup_id, f.key))?;
        }
    }
    Ok(listed.len())
}

/// Starts an eager cleanup that stops itself at `fail_point` (a `--set`
/// value) and waits until it has.
async fn crash_at(stack: &mut Stack, fail_point: &'static str) -> anyhow::Result<()> {
    let args = eager_cleanup(&["--set", fail_point]);
    stack.start_service("cleanup", &args).await?;
    stack.wait_exited("cleanup", fail_point).await
}

#[tokio::test]
async fn retention_forgets_a_copy_before_deleting_it_and_survives_a_crash_at_each_step(
) -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (svc, all) = long_history(&env, "ret-crash").await?;
    let prefix = layout::service_prefix(TENANT_A, "ret-crash", &svc.id);
    let first = &all[0];
    let manifest = Path::from(layout::manifest_key(&prefix, &first.backup_id));
    let first_files: Vec<String> = env
        .keys_under(&format!("{prefix}/backups/{}", first.backup_id))
        .await?;
    assert!(!first_files.is_empty());

    // Killed right after the catalog forgot the first expired copy: the
    // catalog no longer lists it, its manifest and files are all there.
    crash_at(&mut stack, "cleanup.fail_point=after_expire_recorded").await?;
    assert_eq!(
        catalog_copies_are_whole(&env, &svc.id).await?,
        all.len() - 1
    );
    assert!(env.target.head(&manifest).await.is_ok());

    // Killed right after the manifest went: the files are still there,
    // nothing the catalog lists is missing anything.
    crash_at(&mut stack, "cleanup.fail_point=after_manifest_removed").await?;
    assert!(env.target.head(&manifest).await.is_err());
    for f in &first_files {
        assert!(
            env.target.head(&Path::from(f.as_str())).await.is_ok(),
            "{f}"
        );
    }
    assert_eq!(
        catalog_copies_are_whole(&env, &svc.id).await?,
        all.len() - 1
    );

    // Without faults the first chain goes whole, and what is left is whole.
    let never = eager_cleanup(&["--set", "cleanup.fail_point=never"]);
    stack.start_service("cleanup", &never).await?;
    env.wait_service(&svc.id, "first chain expired", |s| s.synced_backups == 11)
        .await?;
    wait_until("the first backup's files collected", WAIT, || async {
        let left = env
            .keys_under(&format!("{prefix}/backups/{}", first.backup_id))
            .await?;
        Ok(left.is_empty().then_some(()))
    })
    .await?;
    assert_eq!(catalog_copies_are_whole(&env, &svc.id).await?, 11);
    every_point_restorable(&env, &svc.id).await?;
    Ok(())
}

/// A manifest that does not read blocks its service's retention (it could
/// be the link a restore needs): nothing of that service expires, the
/// gauge xregion_cleanup_retention_blocked_services says so (alert
/// XregionRetentionBlocked), and once the manifest reads again the first
/// chain expires as it should.
#[tokio::test]
async fn an_unreadable_manifest_blocks_retention_visibly_and_removes_nothing() -> anyhow::Result<()>
{
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (svc, all) = long_history(&env, "blocked-1").await?;
    let prefix = layout::service_prefix(TENANT_A, "blocked-1", &svc.id);
    let keys = env.keys_under(&prefix).await?;
    // The newest log's manifest, damaged.
    let damaged = Path::from(layout::manifest_key(
        &prefix,
        &all.last().unwrap().backup_id,
    ));
    let good = env.target.get(&damaged).await?.bytes().await?;
    env.target
        .put(&damaged, b"{ not a manifest".to_vec().into())
        .await?;

    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    wait_until("retention reported blocked", WAIT, || async {
        let n = stack
            .metric("cleanup", "xregion_cleanup_retention_blocked_services", "")
            .await?;
        Ok((n == 1.0).then_some(()))
    })
    .await?;
    // Sweeps went on (one a second) and removed nothing.
    wait_until("two more sweeps", WAIT, || async {
        let n = stack
            .metric("cleanup", "xregion_cleanup_sweeps_total", "outcome=\"ok\"")
            .await?;
        Ok((n >= 3.0).then_some(()))
    })
    .await?;
    assert_eq!(env.keys_under(&prefix).await?.len(), keys.len());
    assert!(env
        .probe
        .events::<pb::BackupExpired>(EventSubject::BackupExpired)
        .await?
        .is_empty());

    env.target.put(&damaged, good.into()).await?;
    expired_events(&env, "first chain expired once it reads", 11).await?;
    wait_until("retention no longer blocked", WAIT, || async {
        let n = stack
            .metric("cleanup", "xregion_cleanup_retention_blocked_services", "")
            .await?;
        Ok((n == 0.0).then_some(()))
    })
    .await?;
    Ok(())
}
