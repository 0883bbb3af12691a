//! Nothing deletes a copy without positive knowledge: the orphan sweep, the
//! purge and the worker each act only on the catalog's own record, and stop
//! when the answer is missing, foreign or too sweeping. Checked against the
//! Garage buckets with the real services.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path;
use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine, Lane};
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{eager_cleanup, fast_sync_without_cleanup, service_ref, state, SyncEnv};
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

const T0: i64 = 1_760_000_000_000;

/// Waits until `label` has finished `n` more sweeps than it had now.
async fn sweeps(stack: &Stack, label: &str, n: f64) -> anyhow::Result<()> {
    let name = "xregion_cleanup_sweeps_total";
    let start = stack.metric(label, name, "").await?;
    wait_until(&format!("{n} sweeps of {label}"), WAIT, || async {
        Ok((stack.metric(label, name, "").await? >= start + n).then_some(()))
    })
    .await
}

/// Folders cleanup's last sweep left alone for `reason`.
async fn left_alone(stack: &Stack, reason: &str) -> anyhow::Result<f64> {
    let label = format!("reason=\"{reason}\"");
    stack
        .metric("cleanup", "xregion_cleanup_folders_left_alone", &label)
        .await
}

/// Starts a second catalog, "catalog-empty", on an empty database of its
/// own: it knows no service at all.
async fn start_empty_catalog(stack: &mut Stack) -> anyhow::Result<()> {
    let empty = format!(
        "catalog.database_url=sqlite://{}?mode=rwc",
        stack.dir.path().join("empty.db").display()
    );
    stack
        .start_service_as("catalog-empty", "catalog", &["--set", &empty])
        .await
}

/// A service of `instance` whose FULL (one part: one GET, one PUT, no
/// multipart upload for a purge to abort) is being copied slowly: its
/// in-progress marker is in the target. Returns the service, the FULL and
/// the service's prefix.
async fn slow_full_under_way(
    env: &SyncEnv,
    instance: &str,
) -> anyhow::Result<(
    pb::SyncService,
    xregion_proto::rds::v1::BackupDescriptor,
    String,
)> {
    let svc = env.seeding(instance).await?;
    env.probe.limit_full_lane("r1", "r2", 512 << 10).await?;
    let mut chain = ChainGen::new(instance, TENANT_A, "r1", Engine::Mysql, T0);
    let full = env
        .upstream
        .emit(&env.source, &chain.full(4 * 1024 * 1024))
        .await?;
    let prefix = layout::service_prefix(TENANT_A, instance, &svc.id);
    let marker = Path::from(layout::in_progress_key(&prefix, &full.backup_id));
    wait_until("the copy under way", WAIT, || async {
        Ok(env.target.head(&marker).await.ok().map(|_| ()))
    })
    .await?;
    Ok((svc, full, prefix))
}

#[tokio::test]
async fn an_empty_catalog_on_the_same_bus_makes_cleanup_delete_nothing() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (_, prefix) = env.running_service("keep-me", T0).await?;
    // A second catalog on an empty database joins the same queue group: it
    // answers about half of the calls, and knows no service at all.
    start_empty_catalog(&mut stack).await?;
    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    sweeps(&stack, "cleanup", 6.0).await?;
    assert_eq!(env.objects_under(&prefix).await?, 5);
    // Then the empty catalog alone answers.
    stack.kill("catalog");
    sweeps(&stack, "cleanup", 3.0).await?;
    assert_eq!(env.objects_under(&prefix).await?, 5);
    Ok(())
}

#[tokio::test]
async fn unknown_folders_are_left_alone_and_reported() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (_, prefix) = env.running_service("live-1", T0).await?;
    // A folder whose service id the catalog never issued.
    let ghost = Path::from(format!("{TENANT_A}/ghost/svc-ghost/backups/b/f"));
    env.target.put(&ghost, b"whose?".to_vec().into()).await?;
    // A file of the live service whose backup has no manifest.
    let headless = Path::from(format!("{prefix}/backups/cut-short/f"));
    env.target
        .put(&headless, b"half expired".to_vec().into())
        .await?;
    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    wait_until("headless file collected", WAIT, || async {
        Ok(env.target.head(&headless).await.is_err().then_some(()))
    })
    .await?;
    sweeps(&stack, "cleanup", 2.0).await?;
    assert!(
        env.target.head(&ghost).await.is_ok(),
        "unknown folder deleted"
    );
    assert_eq!(left_alone(&stack, "unknown").await?, 1.0);
    assert_eq!(env.objects_under(&prefix).await?, 5);
    Ok(())
}

#[tokio::test]
async fn a_sweep_that_would_remove_too_much_halts_and_says_so() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    // Cleanup purges deleted services but does not sweep yet.
    stack.start_service("cleanup", &[]).await?;
    let (_, live) = env.running_service("stay-1", T0).await?;
    let mut gone = Vec::new();
    for instance in ["gone-1", "gone-2"] {
        let (svc, prefix) = env.running_service(instance, T0).await?;
        env.delete(&svc.id).await?;
        env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
        // A late copy of the deleted service: only cleanup can remove it.
        let late = Path::from(format!("{prefix}/backups/late/f"));
        env.target.put(&late, b"late".to_vec().into()).await?;
        gone.push(late);
    }
    // 2 of 3 folders would go: more than 10 % (and more than one).
    stack.kill("cleanup");
    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    let some = |e: &[pb::SweepHalted]| !e.is_empty();
    let halted = env
        .probe
        .wait_events("sweep halted event", EventSubject::SweepHalted, some)
        .await?;
    let e = &halted[0];
    assert_eq!(
        (e.region.as_str(), e.folders_found, e.folders_to_remove),
        ("r2", 3, 2)
    );
    let halted = stack
        .metric(
            "cleanup",
            "xregion_cleanup_sweep_halted_total",
            "region=\"r2\"",
        )
        .await?;
    assert!(halted >= 1.0);
    for late in &gone {
        assert!(
            env.target.head(late).await.is_ok(),
            "{late} removed by a halted sweep"
        );
    }
    // An operator who agrees raises the share: the deleted services' folders
    // go, the live one stays whole, and the source region (no live service
    // copies into it) is never swept, even where it holds such a folder.
    for late in &gone {
        env.source.put(late, b"late".to_vec().into()).await?;
    }
    stack.kill("cleanup");
    stack
        .start_service(
            "cleanup",
            &eager_cleanup(&["--set", "cleanup.max_removal_share=1.0"]),
        )
        .await?;
    wait_until("late copies of deleted services removed", WAIT, || async {
        let mut left = 0;
        for late in &gone {
            left += usize::from(env.target.head(late).await.is_ok());
        }
        Ok((left == 0).then_some(()))
    })
    .await?;
    assert_eq!(env.objects_under(&live).await?, 5);
    sweeps(&stack, "cleanup", 2.0).await?;
    for late in &gone {
        assert!(
            env.source.head(late).await.is_ok(),
            "{late} swept in the source region"
        );
    }
    Ok(())
}

#[tokio::test]
async fn forged_service_deleted_events_delete_nothing() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let (svc, prefix) = env.running_service("forged-1", T0).await?;
    let before = env.probe.dead_letter_count().await?;
    let forged = [
        (svc.id.as_str(), "//".to_string()),
        (svc.id.as_str(), format!("{TENANT_A}//")),
        (svc.id.as_str(), format!("{TENANT_A}/forged-1/")),
        (svc.id.as_str(), String::new()),
        (svc.id.as_str(), prefix.clone()),
        ("svc-never-issued", prefix.clone()),
    ];
    let subject = stack.ns().event_subject(EventSubject::ServiceDeleted);
    for (i, (id, target_prefix)) in forged.iter().enumerate() {
        let event = pb::ServiceDeleted {
            service: Some(pb::ServiceRef {
                service_id: id.to_string(),
                tenant_id: TENANT_A.into(),
                target_region: "r2".into(),
                target_prefix: target_prefix.clone(),
                ..Default::default()
            }),
            reason: pb::DeleteReason::UserRequest as i32,
            deleted_at: None,
        };
        env.probe
            .publish_raw(subject.clone(), &format!("forged-{i}"), &event)
            .await?;
    }
    // Each is refused (the service is live, or unknown) and dead-lettered.
    wait_until("forged events dead-lettered", WAIT, || async {
        let n = env.probe.dead_letter_count().await?;
        Ok((n >= before + forged.len() as u64).then_some(()))
    })
    .await?;
    assert_eq!(env.objects_under(&prefix).await?, 5);
    assert_eq!(state(&env.get(&svc.id).await?), pb::ServiceState::Running);
    Ok(())
}

#[tokio::test]
async fn two_deployments_sharing_a_bucket_never_touch_each_other() -> anyhow::Result<()> {
    let mut a = Stack::start(fast_sync_without_cleanup()).await?;
    let mut b = Stack::start(StackOptions {
        shared_regions: Some(a.regions.clone()),
        ..fast_sync_without_cleanup()
    })
    .await?;
    assert_ne!(a.namespace, b.namespace);
    let env_a = SyncEnv::new(&a, "r1", "r2").await?;
    let env_b = SyncEnv::new(&b, "r1", "r2").await?;
    let (_, prefix_a) = env_a.running_service("dep-a", T0).await?;
    let (svc_b, prefix_b) = env_b.running_service("dep-b", T0).await?;
    // B keeps a live service in the bucket, so B's cleanup sweeps it.
    let (_, prefix_b_live) = env_b.running_service("dep-b-live", T0).await?;
    // service.json names the deployment.
    let descriptor =
        xregion_common::descriptor::read_service_descriptor(env_a.target.as_ref(), &prefix_a)
            .await?
            .expect("service.json");
    assert_eq!(descriptor.namespace.as_deref(), Some(a.namespace.as_str()));

    // B deletes its service and leaves a late copy; both cleanups sweep
    // eagerly with no breaker.
    a.start_service(
        "cleanup",
        &eager_cleanup(&["--set", "cleanup.max_removal_share=1.0"]),
    )
    .await?;
    b.start_service(
        "cleanup",
        &eager_cleanup(&["--set", "cleanup.max_removal_share=1.0"]),
    )
    .await?;
    env_b.delete(&svc_b.id).await?;
    env_b
        .wait_state(&svc_b.id, pb::ServiceState::Deleted)
        .await?;
    let late = Path::from(format!("{prefix_b}/backups/late/f"));
    env_b.target.put(&late, b"late".to_vec().into()).await?;
    wait_until("B's late copy removed by B", WAIT, || async {
        Ok(env_b.target.head(&late).await.is_err().then_some(()))
    })
    .await?;
    sweeps(&a, "cleanup", 2.0).await?;
    sweeps(&b, "cleanup", 2.0).await?;
    assert_eq!(env_a.objects_under(&prefix_a).await?, 5);
    assert_eq!(env_b.objects_under(&prefix_b_live).await?, 5);
    // B saw A's folder and left it alone as another deployment's.
    let foreign = left_alone(&b, "other_deployment").await?;
    assert_eq!(foreign, 1.0);
    Ok(())
}

#[tokio::test]
async fn no_copy_lands_after_its_service_is_deleted() -> anyhow::Result<()> {
    let mut opts = fast_sync_without_cleanup();
    // Heartbeats far apart: only the check once the manifest is written
    // can notice.
    opts.extra_config.push_str("ack_wait_secs = 300\n");
    opts.services.push("cleanup");
    let stack = Stack::start(opts).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let nats = stack.nats.client().await?;
    let ns = stack.ns();
    let mut synced = nats
        .subscribe(ns.event_subject(EventSubject::BackupSynced))
        .await?;
    let (svc, _, prefix) = slow_full_under_way(&env, "late-1").await?;
    env.delete(&svc.id).await?;
    env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
    // The copy finishes after the purge, finds its service gone and removes
    // what it wrote.
    wait_until("the late copy cancelled", WAIT, || async {
        let n = stack
            .metric("transfer-worker", "xregion_transfer_cancelled_total", "")
            .await?;
        Ok((n >= 1.0).then_some(()))
    })
    .await?;
    assert_eq!(env.objects_under(&prefix).await?, 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), synced.next())
            .await
            .is_err(),
        "BackupSynced announced for a deleted service"
    );
    Ok(())
}

/// A running service (as `running_service` makes it) whose service.json
/// is then lost; returns the service, its prefix and the lost key.
async fn without_service_json(
    env: &SyncEnv,
    instance: &str,
) -> anyhow::Result<(pb::SyncService, String, Path)> {
    let (svc, prefix) = env.running_service(instance, T0).await?;
    let key = Path::from(layout::service_descriptor_key(&prefix));
    env.target.delete(&key).await?;
    Ok((svc, prefix, key))
}

#[tokio::test]
async fn a_lost_service_json_is_written_again_before_the_next_copy() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (svc, prefix, _) = without_service_json(&env, "svcjson-1").await?;
    let mut chain = ChainGen::new("svcjson-1", TENANT_A, "r1", Engine::Mysql, T0);
    // The same chain as running_service made, then one more LOG.
    let _ = (chain.full(50_000), chain.log(60_000, 500));
    env.upstream
        .emit(&env.source, &chain.log(60_000, 500))
        .await?;
    env.wait_service(&svc.id, "third backup synced", |s| s.synced_backups == 3)
        .await?;
    // A restore finds the service from the store alone.
    let found = xregion_common::target::service_prefixes(env.target.as_ref(), "svcjson-1").await?;
    assert_eq!(found, vec![prefix.clone()]);
    let descriptor =
        xregion_common::descriptor::read_service_descriptor(env.target.as_ref(), &prefix)
            .await?
            .expect("service.json");
    assert_eq!(descriptor.service_id, svc.id);
    assert_eq!(
        descriptor.namespace.as_deref(),
        Some(stack.namespace.as_str())
    );
    Ok(())
}

#[tokio::test]
async fn a_committed_copy_missing_a_file_is_copied_again() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let mut chain = env.chain("recopy-1", Engine::Mysql, T0).await?;
    let full = env.upstream.emit(&env.source, &chain.full(50_000)).await?;
    let svc = env.create("recopy-1", Engine::Mysql, "r1", "r2").await?;
    let svc = env.wait_running(&svc.id, 1).await?;
    let prefix = layout::service_prefix(TENANT_A, "recopy-1", &svc.id);
    let manifest = env
        .target
        .get(&Path::from(layout::manifest_key(&prefix, &full.backup_id)))
        .await?
        .bytes()
        .await?;
    let manifest =
        xregion_domain::manifest::Manifest::from_json(&manifest).map_err(|e| anyhow::anyhow!(e))?;
    let file = Path::from(manifest.files[0].key.as_str());
    env.target.delete(&file).await?;
    // The job again, as a redelivery or a reconciliation would bring it.
    let job = pb::TransferRequested {
        service: Some(service_ref(&svc, "recopy-1")),
        backup: Some(full.clone()),
        lane: pb::Lane::Full as i32,
        requested_at: None,
    };
    env.probe
        .publish_raw(
            stack.ns().transfer_subject("r2", Lane::Full),
            "again-1",
            &job,
        )
        .await?;
    wait_until("the missing file copied again", WAIT, || async {
        Ok(env.target.head(&file).await.ok())
    })
    .await
    .map(|meta| assert_eq!(meta.size as u64, full.files[0].size))?;
    let recopied = stack
        .metric("transfer-worker", "xregion_transfer_recopied_total", "")
        .await?;
    assert_eq!(recopied, 1.0);
    Ok(())
}

#[tokio::test]
async fn reconciliation_writes_a_missing_service_json() -> anyhow::Result<()> {
    let (_stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (_, prefix, key) = without_service_json(&env, "svcjson-2").await?;
    // No new backup: only the periodic pass can bring it back.
    wait_until("service.json written again", WAIT, || async {
        Ok(env.target.head(&key).await.ok().map(|_| ()))
    })
    .await?;
    let found = xregion_common::target::service_prefixes(env.target.as_ref(), "svcjson-2").await?;
    assert_eq!(found, vec![prefix]);
    Ok(())
}

#[tokio::test]
async fn a_catalog_that_does_not_know_the_service_removes_nothing_mid_copy() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let (svc, full, prefix) = slow_full_under_way(&env, "unknown-1").await?;
    // Only a catalog on an empty database answers while the copy ends.
    stack.kill("catalog");
    start_empty_catalog(&mut stack).await?;
    let files = format!("{prefix}/backups/{}", full.backup_id);
    wait_until("the copied file in the target", WAIT, || async {
        Ok((env.objects_under(&files).await? > 0).then_some(()))
    })
    .await?;
    let unavailable = "xregion_bus_unavailable_total";
    let rounds = stack.metric("transfer-worker", unavailable, "").await?;
    wait_until("the job retried as an outage", WAIT, || async {
        let n = stack.metric("transfer-worker", unavailable, "").await?;
        Ok((n >= rounds + 2.0).then_some(()))
    })
    .await?;
    assert!(env.objects_under(&files).await? > 0, "copied file removed");
    // The real catalog is back: the copy completes.
    stack.kill("catalog-empty");
    stack.start_service("catalog", &[]).await?;
    env.wait_running(&svc.id, 1).await?;
    let cancelled = stack
        .metric("transfer-worker", "xregion_transfer_cancelled_total", "")
        .await?;
    assert_eq!(cancelled, 0.0);
    Ok(())
}
