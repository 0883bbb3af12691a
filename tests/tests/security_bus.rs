//! Defence in depth behind the bus: whatever a process on NATS publishes,
//! the catalog records a copy only when the target shows it, forgets one
//! only when cleanup asks, and the worker writes only under the prefix of
//! the catalog's own record of a live service.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use object_store::path::Path;
use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine, Lane};
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::{TENANT_A, TENANT_B};
use xregion_tests::sync::{fast_sync_without_cleanup, service_ref, SyncEnv};
use xregion_tests::{now_ms, wait_until, WAIT};

const T0: i64 = 1_760_000_000_000;

#[tokio::test]
async fn forged_synced_and_expired_events_change_nothing() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let probe = &env.probe;
    let (svc, prefix) = env.running_service("forge-1", T0).await?;
    let before = env.synced_ids(&svc.id).await?;
    assert_eq!(before.len(), 2);
    let dead = probe.dead_letter_count().await?;

    // A BackupSynced for a backup that was never copied: no manifest.
    let mut chain = ChainGen::new("forge-1", TENANT_A, "r1", Engine::Mysql, T0);
    let _ = (chain.full(50_000), chain.log(60_000, 500));
    let never = chain.log(60_000, 500).descriptor;
    let service_ref = service_ref(&svc, "forge-1");
    let forged = pb::BackupSynced {
        service: Some(service_ref.clone()),
        backup: Some(never.clone()),
        manifest_key: layout::manifest_key(&prefix, &never.backup_id),
        bytes: 500,
        synced_at: None,
        duration_ms: 1,
    };
    let ns = stack.ns();
    probe
        .publish_raw(
            ns.event_subject(EventSubject::BackupSynced),
            "forged-synced",
            &forged,
        )
        .await?;
    // A BackupExpired for a copy that is there.
    let expired = pb::BackupExpired {
        service_id: svc.id.clone(),
        tenant_id: TENANT_A.into(),
        backup_id: before[0].clone(),
        expired_at: None,
    };
    probe
        .publish_raw(
            ns.event_subject(EventSubject::BackupExpired),
            "forged-expired",
            &expired,
        )
        .await?;
    wait_until("the forged BackupSynced dead-lettered", WAIT, || async {
        Ok((probe.dead_letter_count().await? > dead).then_some(()))
    })
    .await?;
    assert_eq!(env.synced_ids(&svc.id).await?, before);
    let s = env.get(&svc.id).await?;
    assert_eq!(s.synced_backups, 2);
    Ok(())
}

#[tokio::test]
async fn a_forged_job_writes_nothing_outside_its_services_record() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let probe = &env.probe;
    let (svc, prefix) = env.running_service("job-1", T0).await?;
    let dead = probe.dead_letter_count().await?;
    let mut chain = ChainGen::new("job-1", TENANT_A, "r1", Engine::Mysql, T0);
    let _ = (chain.full(50_000), chain.log(60_000, 500));
    let next = env
        .upstream
        .emit(&env.source, &chain.log(60_000, 500))
        .await?;
    // Reconciliation copies `next` normally; the forged jobs below name the
    // same service but another tenant's folder, or a backup of another
    // tenant.
    let honest = service_ref(&svc, "job-1");
    let foreign_prefix = layout::service_prefix(TENANT_B, "job-1", &svc.id);
    let mut into_b = honest.clone();
    into_b.tenant_id = TENANT_B.into();
    into_b.target_prefix = foreign_prefix.clone();
    let mut from_b = next.clone();
    from_b.tenant_id = TENANT_B.into();
    from_b.backup_id = "job-1-log-forged".into();
    let subject = stack.ns().transfer_subject("r2", Lane::Log);
    for (i, (service, backup)) in [(into_b, next.clone()), (honest.clone(), from_b)]
        .into_iter()
        .enumerate()
    {
        let job = pb::TransferRequested {
            service: Some(service),
            backup: Some(backup),
            lane: pb::Lane::Log as i32,
            requested_at: None,
        };
        probe
            .publish_raw(subject.clone(), &format!("forged-job-{i}"), &job)
            .await?;
    }
    wait_until("both forged jobs dead-lettered", WAIT, || async {
        Ok((probe.dead_letter_count().await? >= dead + 2).then_some(()))
    })
    .await?;
    assert_eq!(env.objects_under(&foreign_prefix).await?, 0);
    let forged_manifest = Path::from(layout::manifest_key(&prefix, "job-1-log-forged"));
    assert!(env.target.head(&forged_manifest).await.is_err());
    // The honest copy still happens, and the forged jobs degraded nothing.
    let s = env
        .wait_service(&svc.id, "the real LOG synced", |s| s.synced_backups == 3)
        .await?;
    assert_eq!(
        pb::ServiceState::try_from(s.state)?,
        pb::ServiceState::Running
    );
    assert_eq!(s.last_error, "");
    Ok(())
}

#[tokio::test]
async fn the_catalog_forgets_no_copy_retention_still_needs() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    // Data of now: well within the default retention.
    let (svc, _) = env.running_service("keep-1", now_ms() - 3_600_000).await?;
    let before = env.synced_ids(&svc.id).await?;
    let catalog = xregion_bus::CatalogClient::new(
        stack.nats.client().await?,
        stack.ns(),
        Duration::from_secs(5),
    );
    let req = pb::ExpireBackupRequest {
        service_id: svc.id.clone(),
        backup_id: before[0].clone(),
    };
    let refused = catalog
        .call::<_, pb::Empty>(xregion_bus::methods::EXPIRE_BACKUP, "", &req)
        .await
        .expect_err("a copy inside retention was forgotten");
    assert!(refused.to_string().contains("retention"), "{refused}");
    assert_eq!(env.synced_ids(&svc.id).await?, before);
    Ok(())
}

/// The uploads bucket is a boundary too: a record under a service's key
/// that names an upload of someone else's file is refused whole (here by
/// cleanup's sweep of stale records), and one found where a copy would
/// resume that names another file, even of the same backup, is written
/// over, not aborted: both uploads survive.
#[tokio::test]
async fn a_forged_upload_record_aborts_no_upload_it_does_not_own() -> anyhow::Result<()> {
    use object_store::PutPayload;
    const MIB: usize = 1024 * 1024;
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (svc, prefix) = env.running_service("upl-1", T0).await?;
    let mut chain = ChainGen::new("upl-1", TENANT_A, "r1", Engine::Mysql, T0);
    let _ = (chain.full(50_000), chain.log(60_000, 500));
    let generated = chain.full(12 * MIB);
    let next_full = generated.descriptor.clone();

    // Someone else's upload in the same bucket, one part sent.
    let regions = xregion_common::Regions::build(&stack.regions)?;
    let mp = regions.multipart("r2").expect("r2 is multipart");
    let victim_key = format!("{TENANT_B}/other/not-a-service/backups/b/keep.bin");
    let victim = mp.path(&victim_key);
    let upload_id = mp.store().create_multipart(&victim).await?;
    let body = vec![7u8; 5 * MIB];
    let part = mp
        .store()
        .put_part(&victim, &upload_id, 0, PutPayload::from(body.clone()))
        .await?;

    // An upload of another file in the very folder the next FULL copies to.
    let folder = layout::backup_folder(&prefix, &next_full.backup_id);
    let sibling_key = format!("{folder}other.bin");
    let sibling = mp.path(&sibling_key);
    let sibling_id = mp.store().create_multipart(&sibling).await?;

    // Records naming them: a long-idle one naming the other tenant's
    // upload, which only cleanup's sweep reaches, and one naming the
    // sibling where the next FULL's copy looks for one to resume.
    let uploads = stack.uploads().await?;
    let forged = |key: &str, id: &str| {
        serde_json::to_vec(&serde_json::json!({
            "upload_id": id, "target_region": "r2", "target_key": key,
            "size": 12 * MIB, "part_size": 5 * MIB, "parts": [],
            "started_at_ms": 0, "updated_at_ms": 0,
        }))
    };
    let at_copy = xregion_bus::Namespace::upload_key(&svc.id, &next_full.backup_id, 0);
    let idle = xregion_bus::Namespace::upload_key(&svc.id, "upl-1-gone", 0);
    uploads
        .put(&at_copy, forged(&sibling_key, &sibling_id)?.into())
        .await?;
    uploads
        .put(&idle, forged(&victim_key, &upload_id)?.into())
        .await?;

    env.upstream.emit(&env.source, &generated).await?;
    env.wait_running(&svc.id, 3).await?;
    let copied = layout::backup_file_key(&prefix, &next_full.backup_id, &next_full.files[0].key);
    let meta = env.target.head(&Path::from(copied)).await?;
    assert_eq!(meta.size as u64, next_full.files[0].size);
    stack
        .start_service("cleanup", &xregion_tests::sync::eager_cleanup(&[]))
        .await?;
    wait_until("both forged records forgotten", WAIT, || async {
        let left = [&at_copy, &idle].len()
            - futures::future::join_all([uploads.get(&at_copy), uploads.get(&idle)])
                .await
                .into_iter()
                .filter(|r| matches!(r, Ok(None)))
                .count();
        Ok((left == 0).then_some(()))
    })
    .await?;

    // The copy did not abort its sibling's upload: it still takes parts.
    mp.store()
        .put_part(&sibling, &sibling_id, 0, PutPayload::from_static(b"x"))
        .await?;
    mp.store().abort_multipart(&sibling, &sibling_id).await?;
    // Cleanup did not abort the other tenant's: it completes whole.
    mp.store()
        .complete_multipart(&victim, &upload_id, vec![part])
        .await?;
    let read = env
        .target
        .get(&Path::from(victim_key.as_str()))
        .await?
        .bytes()
        .await?;
    assert_eq!(read.as_ref(), body.as_slice());
    Ok(())
}
