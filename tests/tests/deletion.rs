//! Deleting a service deletes its data in the target region; deleting the
//! source instance deletes its service. Checked by listing the Garage bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine};
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::{authed, TENANT_A, TOKEN_A};
use xregion_tests::sync::{state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::upstream::Upstream;
use xregion_tests::{wait_until, Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;

async fn objects_under(env: &SyncEnv, prefix: &str) -> anyhow::Result<usize> {
    env.objects_under(prefix).await
}

async fn running_service(
    env: &SyncEnv,
    instance: &str,
) -> anyhow::Result<(pb::SyncService, String)> {
    env.running_service(instance, T0).await
}

#[tokio::test]
async fn deleting_a_service_purges_its_target_data_and_frees_the_instance() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        extra_config: FAST_SYNC_CONFIG.into(),
        ..Default::default()
    })
    .await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let (svc, prefix) = running_service(&env, "del-1").await?;
    // A neighbour's data must survive.
    let (other, other_prefix) = running_service(&env, "keep-1").await?;

    env.delete(&svc.id).await?;
    env.wait_service(&svc.id, "DELETED", |s| {
        state(s) == pb::ServiceState::Deleted
    })
    .await?;
    assert_eq!(objects_under(&env, &prefix).await?, 0);
    assert_eq!(objects_under(&env, &other_prefix).await?, 5);
    assert_eq!(state(&env.get(&other.id).await?), pb::ServiceState::Running);

    // Hidden from the list unless asked for; the instance is eligible again.
    let list = env
        .api
        .clone()
        .list_sync_services(authed(TOKEN_A, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner();
    assert_eq!(
        list.services
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        [other.id.as_str()]
    );
    let all = env
        .api
        .clone()
        .list_sync_services(authed(
            TOKEN_A,
            pb::ListSyncServicesRequest {
                include_deleted: true,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert_eq!(all.services.len(), 2);
    let eligible = env
        .api
        .clone()
        .list_eligible_instances(authed(
            TOKEN_A,
            pb::ListEligibleInstancesRequest {
                engine: pb::Engine::Mysql as i32,
                source_region: "r1".into(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(
        eligible
            .instances
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        ["del-1"]
    );
    let again = env.create("del-1", Engine::Mysql, "r1", "r2").await?;
    assert_ne!(again.id, svc.id);

    let up = Upstream::connect(&stack.nats.url, stack.ns()).await?;
    let purged = up
        .events::<pb::ServiceDataPurged>(EventSubject::ServicePurged)
        .await?;
    assert_eq!(purged.iter().filter(|p| p.service_id == svc.id).count(), 1);
    Ok(())
}

#[tokio::test]
async fn deleting_the_source_instance_deletes_its_service_and_data() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        extra_config: FAST_SYNC_CONFIG.into(),
        ..Default::default()
    })
    .await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let (svc, prefix) = running_service(&env, "src-gone").await?;
    env.upstream
        .instance_deleted("src-gone", TENANT_A, "r1", T0)
        .await?;
    let deleted = env
        .wait_service(&svc.id, "DELETED", |s| {
            state(s) == pb::ServiceState::Deleted
        })
        .await?;
    assert_eq!(deleted.id, svc.id);
    assert_eq!(objects_under(&env, &prefix).await?, 0);

    // Also while still seeding (no FULL yet).
    env.instance("seeding-gone", Engine::Mysql, "r1").await?;
    let seeding = env
        .create("seeding-gone", Engine::Mysql, "r1", "r2")
        .await?;
    env.wait_service(&seeding.id, "SEEDING", |s| {
        state(s) == pb::ServiceState::Seeding
    })
    .await?;
    env.upstream
        .instance_deleted("seeding-gone", TENANT_A, "r1", T0)
        .await?;
    env.wait_service(&seeding.id, "DELETED", |s| {
        state(s) == pb::ServiceState::Deleted
    })
    .await?;
    let p = layout::service_prefix(TENANT_A, "seeding-gone", &seeding.id);
    wait_until(
        "no object left",
        std::time::Duration::from_secs(10),
        || async { Ok((objects_under(&env, &p).await? == 0).then_some(())) },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn deleting_a_service_mid_copy_stops_the_copy_and_leaves_nothing() -> anyhow::Result<()> {
    use futures::StreamExt;
    use prost::Message;
    let stack = Stack::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}ack_wait_secs = 3\n"),
        ..Default::default()
    })
    .await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let ns = stack.ns();
    let nats = stack.nats.client().await?;
    let js = async_nats::jetstream::new(nats.clone());
    // Slow enough to be deleted half-way.
    let limits = js.get_key_value(ns.limits_bucket()).await?;
    limits
        .put(
            xregion_bus::Namespace::bandwidth_key("r1", "r2", false),
            (8u64 << 20).to_string().into(),
        )
        .await?;
    env.instance("cut-1", Engine::Mysql, "r1").await?;
    let svc = env.create("cut-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_service(&svc.id, "SEEDING", |s| {
        state(s) == pb::ServiceState::Seeding
    })
    .await?;
    let mut progress = nats.subscribe(ns.progress_filter(Some(&svc.id))).await?;
    let mut chain = ChainGen::new("cut-1", TENANT_A, "r1", Engine::Mysql, T0);
    let full = env
        .upstream
        .emit(&env.source, &chain.full(200 << 20))
        .await?;
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(msg) = progress.next().await {
            let p = pb::TransferProgress::decode(msg.payload.as_ref())?;
            if p.bytes_done > 0 && !p.done {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("no progress")
    })
    .await??;

    env.delete(&svc.id).await?;
    env.wait_service(&svc.id, "DELETED", |s| {
        state(s) == pb::ServiceState::Deleted
    })
    .await?;
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
    assert_eq!(objects_under(&env, &prefix).await?, 0);
    let up = Upstream::connect(&stack.nats.url, stack.ns()).await?;
    let synced = up
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
