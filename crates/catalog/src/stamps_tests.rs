//! Every event the catalog writes names its tenant and its time: the
//! outbox relayed to a recording publisher and read back as a watcher
//! would (`xregion_bus::AnyEvent`).

use xregion_bus::AnyEvent;
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;

use crate::testing::{relayed_events, synced, Source, TestCatalog};

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn every_event_the_catalog_writes_names_its_tenant_and_time() {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let before = t.catalog.now();
    let source = Source::new("t1", "db-1", "r1");
    let service = t.service(&source, "r2").await.unwrap();
    // FULLs 20, 10 and 2 days old: far behind, and the oldest past the 7
    // days of retention (the one of 10 days anchors the window).
    let old = source.full("f-old", 1, before - 20 * DAY);
    let mid = source.full("f-mid", 5, before - 10 * DAY);
    let new = source.full("f-new", 9, before - 2 * DAY);
    for d in [&old, &mid, &new] {
        t.backup(d).await.unwrap();
        t.catalog
            .backup_synced(&synced(&service, d, before))
            .await
            .unwrap();
    }
    t.catalog.check_lag(&service.service_id).await.unwrap();
    let expire = pb::ExpireBackupRequest {
        service_id: service.service_id.clone(),
        backup_id: old.backup_id.clone(),
    };
    t.catalog.expire_backup(&expire).await.unwrap();
    t.delete_and_purge(&service).await.unwrap();
    let after = t.catalog.now();

    let events = relayed_events(&t.catalog).await.unwrap();
    let mut kinds: Vec<&str> = events.iter().map(AnyEvent::type_name).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in [
        "xregion.v1.ServiceCreated",
        "xregion.v1.ServiceStateChanged",
        "xregion.v1.LagExceeded",
        "xregion.v1.BackupExpired",
        "xregion.v1.ServiceDeleted",
    ] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }
    for e in &events {
        assert_eq!(e.tenant_id(), "t1", "{e:?}");
        assert_eq!(e.service_id(), service.service_id, "{e:?}");
        let at = millis(e.time().unwrap_or_else(|| panic!("no time: {e:?}")));
        assert!(
            (before..=after).contains(&at),
            "{at} outside the test: {e:?}"
        );
    }
}
