//! NATS' max_payload (1 MiB) cannot break the control plane: 10,000 live
//! services page through LiveServices and one reconciliation pass reaches
//! them all; an instance with 5,000 backup descriptors still reconciles.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path;
use prost::Message;
use xregion_bus::{methods, CatalogClient};
use xregion_domain::{layout, Engine};
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{fast_sync_without_cleanup, SyncEnv};
use xregion_tests::{wait_until, Stack};

const T0: i64 = 1_760_000_000_000;
const MAX_PAYLOAD: usize = 1024 * 1024;
const SLOW: Duration = Duration::from_secs(300);

fn no_payload_trouble(stack: &Stack) {
    let log = stack.services["backup-watcher"].log_text();
    for bad in ["maximum payload", "reconciliation failed"] {
        assert!(!log.contains(bad), "the watcher logged {bad:?}");
    }
}

#[tokio::test]
async fn ten_thousand_live_services_page_and_reconcile() -> anyhow::Result<()> {
    let stack = Stack::start(fast_sync_without_cleanup()).await?;
    let mut db = stack.db.as_ref().expect("postgres").connect().await?;
    sqlx::query(
        "INSERT INTO instances (instance_id, tenant_id, engine, region, created_at) \
         SELECT 'bulk-' || i, 'tenant-b', 'mysql', 'r1', 0 FROM generate_series(1, 10000) i",
    )
    .execute(&mut db)
    .await?;
    sqlx::query(
        "INSERT INTO services (service_id, tenant_id, engine, source_region, instance_id, \
         target_region, retention_days, state, live_instance, created_at, updated_at) \
         SELECT 'svc-bulk-' || i, 'tenant-b', 'mysql', 'r1', 'bulk-' || i, 'r2', 7, 'RUNNING', \
         'bulk-' || i, 0, 0 FROM generate_series(1, 10000) i",
    )
    .execute(&mut db)
    .await?;

    // Through NATS, page by page: each of the 10,000 exactly once.
    let catalog = CatalogClient::new(
        stack.nats.client().await?,
        stack.ns(),
        Duration::from_secs(10),
    );
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let req = pb::LiveServicesRequest {
            page_token: token,
            ..Default::default()
        };
        let page: pb::LiveServicesResponse = catalog.call(methods::LIVE_SERVICES, "", &req).await?;
        assert!(page.services.len() <= 500, "the default page is 500");
        assert!(page.encoded_len() < MAX_PAYLOAD);
        seen.extend(page.services.into_iter().map(|s| s.service_id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no service twice");
    assert_eq!(seen.len(), 10_000);
    assert_eq!(pages, 20);
    let biggest = pb::LiveServicesRequest {
        page_size: 1000,
        ..Default::default()
    };
    let page: pb::LiveServicesResponse = catalog.call(methods::LIVE_SERVICES, "", &biggest).await?;
    assert_eq!(page.services.len(), 1000);
    // Above the maximum is served as the maximum, so a page stays under
    // NATS' max_payload whatever is asked.
    let greedy = pb::LiveServicesRequest {
        page_size: u32::MAX,
        ..Default::default()
    };
    let page: pb::LiveServicesResponse = catalog.call(methods::LIVE_SERVICES, "", &greedy).await?;
    assert_eq!(page.services.len(), 1000);
    assert!(!page.next_page_token.is_empty());
    let forged = pb::LiveServicesRequest {
        page_token: "forged".into(),
        ..Default::default()
    };
    let answer: Result<pb::LiveServicesResponse, _> =
        catalog.call(methods::LIVE_SERVICES, "", &forged).await;
    assert!(answer.is_err(), "a forged token is refused");

    // A real service after all of them: a backup withheld from the events
    // is found only by a reconciliation pass that got through 10,000 others.
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let mut chain = env.chain("tail-1", Engine::Mysql, T0).await?;
    env.upstream.emit(&env.source, &chain.full(20_000)).await?;
    let svc = env.create("tail-1", Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;
    env.upstream
        .write_backup(&env.source, &chain.log(60_000, 500))
        .await?;
    wait_until("reconciliation queued the withheld log", SLOW, || async {
        Ok((env.get(&svc.id).await?.synced_backups == 2).then_some(()))
    })
    .await?;
    no_payload_trouble(&stack);
    Ok(())
}

/// An instance id long enough that 5,000 descriptors exceed 1 MiB.
const BIG: &str = "instance-with-five-thousand-backup-descriptors";

#[tokio::test]
async fn five_thousand_descriptors_of_one_instance_reconcile() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    // 5,000 old logs, before the FULL the service seeds from: recorded in
    // the inventory by reconciliation, never copied.
    let mut chain = env.chain(BIG, Engine::Mysql, T0).await?;
    let old: Vec<_> = (0..5000)
        .map(|_| {
            let mut d = chain.log(1_000, 10).descriptor;
            for f in &mut d.files {
                f.sha256 = "0".repeat(64);
            }
            d
        })
        .collect();
    let total: usize = old.iter().map(|d| d.encoded_len()).sum();
    assert!(
        total > MAX_PAYLOAD,
        "{total} bytes: one request could not carry them"
    );
    let source = env.source.clone();
    futures::stream::iter(old)
        .map(|d| {
            let source = source.clone();
            async move {
                let key = layout::source_descriptor_key(&d.instance_id, &d.backup_id);
                source.put(&Path::from(key), d.encode_to_vec().into()).await
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;

    env.upstream.emit(&env.source, &chain.full(20_000)).await?;
    let svc = env.create(BIG, Engine::Mysql, "r1", "r2").await?;
    env.wait_running(&svc.id, 1).await?;
    // A log written without its event: only reconciliation finds it, in a
    // listing of 5,002 descriptors.
    let missing = env
        .upstream
        .write_backup(&env.source, &chain.log(60_000, 500))
        .await?;
    wait_until("reconciliation queued the missing log", SLOW, || async {
        Ok((env.get(&svc.id).await?.synced_backups == 2).then_some(()))
    })
    .await?;
    let prefix = layout::service_prefix(TENANT_A, BIG, &svc.id);
    let manifest = layout::manifest_key(&prefix, &missing.backup_id);
    assert!(env.target.head(&Path::from(manifest)).await.is_ok());
    assert_eq!(
        env.get(&svc.id).await?.synced_backups,
        2,
        "no old log copied"
    );
    no_payload_trouble(&stack);
    Ok(())
}
