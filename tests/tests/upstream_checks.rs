//! Upstream input is checked before anything acts on it: an InstanceDeleted
//! naming another tenant or region deletes nothing, a descriptor listing a
//! file outside the region's `source_key_prefix` or ending 10 years from now
//! is never copied; each is dead-lettered with the reason. Also: a non-zero
//! price plan prices usage end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use xregion_bus::UpstreamEvent;
use xregion_domain::Engine;
use xregion_proto::convert::timestamp;
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::probe::BusProbe;
use xregion_tests::stack::{TENANT_A, TENANT_B};
use xregion_tests::sync::{state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{now_ms, wait_until, StackOptions};

const T0: i64 = 1_760_000_000_000;
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// Publishes an InstanceDeleted with its own message id (the simulator's
/// ids would make a second InstanceDeleted of one instance a duplicate).
async fn publish_deleted(
    probe: &BusProbe,
    msg_id: &str,
    event: rds::InstanceDeleted,
) -> anyhow::Result<()> {
    let subject = probe
        .ns
        .upstream_subject(&event.region, UpstreamEvent::InstanceDeleted);
    probe.publish_raw(subject, msg_id, &event).await
}

fn deleted(instance: &str, tenant: &str, region: &str) -> rds::InstanceDeleted {
    rds::InstanceDeleted {
        instance_id: instance.into(),
        tenant_id: tenant.into(),
        region: region.into(),
        deleted_at: None,
    }
}

#[tokio::test]
async fn instance_deleted_for_another_tenant_or_region_deletes_nothing() -> anyhow::Result<()> {
    let (_stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let (svc, prefix) = env.running_service("idel-1", T0).await?;

    // Right instance id, wrong tenant; then right tenant, wrong region.
    let probe = &env.probe;
    publish_deleted(probe, "forged-1", deleted("idel-1", TENANT_B, "r1")).await?;
    publish_deleted(probe, "forged-2", deleted("idel-1", TENANT_A, "r3")).await?;
    let reason = probe
        .wait_dead_letter(".r1.instance.deleted", TENANT_B)
        .await?;
    assert!(
        reason.contains("belongs to tenant \"tenant-a\""),
        "{reason}"
    );
    let reason = probe
        .wait_dead_letter(".r3.instance.deleted", "\"r3\"")
        .await?;
    assert!(reason.contains("in region \"r1\""), "{reason}");

    // Both were handled (dead-lettered) and nothing changed.
    let now = env.get(&svc.id).await?;
    assert_eq!(state(&now), pb::ServiceState::Running, "{now:?}");
    assert_eq!(env.objects_under(&prefix).await?, 5);

    // The real deletion still deletes.
    publish_deleted(probe, "real-1", deleted("idel-1", TENANT_A, "r1")).await?;
    env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
    assert_eq!(env.objects_under(&prefix).await?, 0);
    Ok(())
}

const PRICED: &str = "\n[catalog.price_plan]\nname = \"test-plan\"\ncurrency = \"CNY\"\n\
                      per_gb_transferred = 2.5\nper_gb_day_stored = 0.5\n";

#[tokio::test]
async fn descriptors_outside_the_source_prefix_or_from_the_future_are_never_copied(
) -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}{PRICED}"),
        source_key_prefixes: vec![("r1".into(), "{instance}/".into())],
        ..Default::default()
    })
    .await?;
    let mut chain = env.chain("chk-1", Engine::Mysql, T0).await?;
    env.upstream.emit(&env.source, &chain.full(40_000)).await?;
    let svc = env.create("chk-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;

    // A file of another instance, written where the worker could read it.
    let mut outside = chain.log(60_000, 700);
    let outside_id = outside.descriptor.backup_id.clone();
    outside.descriptor.files[0].key = format!("victim-1/{outside_id}/binlog");
    env.upstream.emit(&env.source, &outside).await?;
    // Data that ends 10 years from now.
    let mut future = chain.log(60_000, 800);
    let future_id = future.descriptor.backup_id.clone();
    let ten_years = now_ms() + 10 * YEAR_MS;
    future.descriptor.data_end_time = Some(timestamp(ten_years));
    env.upstream.emit(&env.source, &future).await?;
    let good = env
        .upstream
        .emit(&env.source, &chain.log(60_000, 900))
        .await?;

    let reason = env
        .probe
        .wait_dead_letter("backup.created", "outside the instance's source folder")
        .await?;
    assert!(reason.contains(&outside_id), "{reason}");
    let reason = env
        .probe
        .wait_dead_letter("backup.created", "more than a day after now")
        .await?;
    assert!(reason.contains(&future_id), "{reason}");
    env.wait_service(&svc.id, "the good log synced", |s| s.synced_backups == 2)
        .await?;
    // Reconciliation finds both in the source listing and the catalog
    // refuses them again: they are never queued.
    wait_until(
        "reconciliation refused both",
        Duration::from_secs(60),
        || {
            let log = stack.services.get("catalog").map(|c| c.log_text());
            let (a, b) = (outside_id.clone(), future_id.clone());
            async move {
                let log = log.unwrap_or_default();
                let refused = |id: &str| {
                    log.lines()
                        .any(|l| l.contains("discovered backup refused") && l.contains(id))
                };
                Ok((refused(&a) && refused(&b)).then_some(()))
            }
        },
    )
    .await?;
    let ids = env.synced_ids(&svc.id).await?;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert!(ids.contains(&good.backup_id.as_str()), "{ids:?}");
    assert!(!ids.contains(&outside_id.as_str()), "{ids:?}");
    assert!(!ids.contains(&future_id.as_str()), "{ids:?}");
    let prefix = xregion_domain::layout::service_prefix(TENANT_A, "chk-1", &svc.id);
    for id in [&outside_id, &future_id] {
        let folder = xregion_domain::layout::backup_folder(&prefix, id);
        assert_eq!(env.objects_under(&folder).await?, 0, "{folder}");
    }
    let now = env.get(&svc.id).await?;
    assert!(
        xregion_tests::sync::latest_ms(&now).unwrap() < now_ms(),
        "no future data time reached the service: {now:?}"
    );

    // Usage priced by the configured (non-zero) plan.
    let usage = env.usage(&svc.id).await?;
    assert_eq!(usage.price_plan, "test-plan");
    let transferred: u64 = usage.days.iter().map(|d| d.bytes_transferred).sum();
    assert_eq!(transferred, now.synced_bytes);
    let gb_days: f64 = usage.days.iter().map(|d| d.gb_days).sum();
    let expected = transferred as f64 / 1e9 * 2.5 + gb_days * 0.5;
    assert!(usage.amount > 0.0, "{usage:?}");
    assert!((usage.amount - expected).abs() < 1e-12, "{usage:?}");
    Ok(())
}
