//! A service with no restorable point yet lags from its creation: one stuck
//! SEEDING (its first FULL never copied) alerts like one that fell behind.

use xregion_bus::AnyEvent;
use xregion_common::clock::FixedClock;

use crate::service::Catalog;
use crate::testing::{relayed_events, Source, TestCatalog};

const HOUR: i64 = 3_600_000;

/// The lag events the outbox holds, in order.
async fn lag_events(catalog: &Catalog) -> Vec<AnyEvent> {
    relayed_events(catalog)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e, AnyEvent::LagExceeded(_) | AnyEvent::LagRecovered(_)))
        .collect()
}

#[tokio::test]
async fn a_service_that_never_seeds_lags_from_its_creation() {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let service = t
        .service(&Source::new("t1", "db-1", "r1"), "r2")
        .await
        .unwrap();
    // The same database, on a clock that moves when told (threshold 1 h).
    let clock = FixedClock::at(t.catalog.now());
    let catalog = Catalog::new(
        t.catalog.db.clone(),
        clock.clone(),
        ["r1", "r2"].map(String::from),
        None,
        3600,
    );
    catalog.check_lag(&service.service_id).await.unwrap();
    assert!(lag_events(&catalog).await.is_empty(), "just created");

    clock.advance_ms(2 * HOUR);
    catalog.check_lag(&service.service_id).await.unwrap();
    catalog.check_lag(&service.service_id).await.unwrap();
    let events = lag_events(&catalog).await;
    let [AnyEvent::LagExceeded(e)] = events.as_slice() else {
        panic!("one LagExceeded expected: {events:?}");
    };
    assert_eq!(e.service_id, service.service_id);
    assert_eq!(e.latest_data_time, None, "no data: no point to name");
    assert!((2 * 3600..2 * 3600 + 60).contains(&e.lag_seconds), "{e:?}");
    assert_eq!(e.threshold_seconds, 3600);
}
