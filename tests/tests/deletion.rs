//! Deleting a service deletes its data in the target region; deleting the
//! source instance deletes its service. Checked by listing the Garage bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine};
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::api::eligible;
use xregion_tests::probe::copy_under_way;
use xregion_tests::stack::{TENANT_A, TOKEN_A};
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{wait_until, StackOptions};

const T0: i64 = 1_760_000_000_000;

#[tokio::test]
async fn deleting_a_service_purges_its_target_data_and_frees_the_instance() -> anyhow::Result<()> {
    let (_stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let (svc, prefix) = env.running_service("del-1", T0).await?;
    // A neighbour's data must survive.
    let (other, other_prefix) = env.running_service("keep-1", T0).await?;

    env.delete(&svc.id).await?;
    env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
    assert_eq!(env.objects_under(&prefix).await?, 0);
    assert_eq!(env.objects_under(&other_prefix).await?, 5);
    assert_eq!(
        env.get(&other.id).await?.state,
        pb::ServiceState::Running as i32
    );

    // Hidden from the list unless asked for; the instance is eligible again.
    let list = env.list(pb::ListSyncServicesRequest::default()).await?;
    let listed: Vec<&str> = list.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(listed, [other.id.as_str()]);
    let all = pb::ListSyncServicesRequest {
        include_deleted: true,
        ..Default::default()
    };
    assert_eq!(env.list(all).await?.services.len(), 2);
    assert_eq!(
        eligible(&env.api, TOKEN_A, pb::Engine::Mysql, "r1").await?,
        ["del-1"]
    );
    let again = env.create("del-1", Engine::Mysql, "r1", "r2").await?;
    assert_ne!(again.id, svc.id);

    let purged = env
        .probe
        .events::<pb::ServiceDataPurged>(EventSubject::ServicePurged)
        .await?;
    assert_eq!(purged.iter().filter(|p| p.service_id == svc.id).count(), 1);
    Ok(())
}

#[tokio::test]
async fn deleting_the_source_instance_deletes_its_service_and_data() -> anyhow::Result<()> {
    let (_stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let (svc, prefix) = env.running_service("src-gone", T0).await?;
    env.upstream
        .instance_deleted("src-gone", TENANT_A, "r1", T0)
        .await?;
    let deleted = env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
    assert_eq!(deleted.id, svc.id);
    assert_eq!(env.objects_under(&prefix).await?, 0);

    // Also while still seeding (no FULL yet).
    let seeding = env.seeding("seeding-gone").await?;
    env.upstream
        .instance_deleted("seeding-gone", TENANT_A, "r1", T0)
        .await?;
    env.wait_state(&seeding.id, pb::ServiceState::Deleted)
        .await?;
    let p = layout::service_prefix(TENANT_A, "seeding-gone", &seeding.id);
    wait_until(
        "no object left",
        std::time::Duration::from_secs(10),
        || async { Ok((env.objects_under(&p).await? == 0).then_some(())) },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn deleting_a_service_mid_copy_stops_the_copy_and_leaves_nothing() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}ack_wait_secs = 3\n"),
        ..Default::default()
    })
    .await?;
    let ns = stack.ns();
    let nats = stack.nats.client().await?;
    let js = async_nats::jetstream::new(nats.clone());
    // Slow enough to be deleted half-way.
    env.probe.limit_full_lane("r1", "r2", 8 << 20).await?;
    let svc = env.seeding("cut-1").await?;
    let mut progress = nats.subscribe(ns.progress_filter(Some(&svc.id))).await?;
    let mut chain = ChainGen::new("cut-1", TENANT_A, "r1", Engine::Mysql, T0);
    let full = env
        .upstream
        .emit(&env.source, &chain.full(200 << 20))
        .await?;
    copy_under_way(&mut progress, &full.backup_id).await?;

    env.delete(&svc.id).await?;
    env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
    // The job is settled (acked, not retried), its upload aborted, nothing left.
    let uploads = js.get_key_value(ns.uploads_bucket()).await?;
    wait_until(
        "job settled and upload gone",
        std::time::Duration::from_secs(30),
        || async {
            let pending = js
                .get_stream(ns.transfers_stream())
                .await?
                .info()
                .await?
                .state
                .messages;
            let open = uploads
                .get(xregion_bus::Namespace::upload_key(
                    &svc.id,
                    &full.backup_id,
                    0,
                ))
                .await?
                .is_some();
            Ok((pending == 0 && !open).then_some(()))
        },
    )
    .await?;
    let prefix = layout::service_prefix(TENANT_A, "cut-1", &svc.id);
    assert_eq!(env.objects_under(&prefix).await?, 0);
    let synced = env
        .probe
        .events::<pb::BackupSynced>(EventSubject::BackupSynced)
        .await?;
    assert!(
        synced.iter().all(|e| e
            .service
            .as_ref()
            .map(|s| s.service_id != svc.id)
            .unwrap_or(true)),
        "a deleted service's copy completed"
    );
    Ok(())
}
