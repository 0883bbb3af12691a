//! Lag alerts. A service with no restorable point yet lags from its
//! creation: one stuck SEEDING (its first FULL never copied) alerts like one
//! that fell behind. A copy that moves the lag across the threshold
//! enqueues the crossing with its own record, and a crossing is enqueued
//! once however the copy and the lag pass interleave.

use xregion_bus::AnyEvent;
use xregion_common::clock::Clock;
use xregion_proto::convert::timestamp;

use crate::service::Catalog;
use crate::store::services;
use crate::testing::{relayed_events, synced, TestCatalog};

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
    let (t, _, service) = TestCatalog::with_one_service().await.unwrap();
    let (catalog, clock) = t.on_fixed_clock();
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

#[tokio::test]
async fn a_copy_that_moves_the_lag_across_the_threshold_enqueues_the_crossing_with_its_record() {
    let (t, source, service) = TestCatalog::with_one_service().await.unwrap();
    let (catalog, clock) = t.on_fixed_clock();
    let now = clock.now_ms();
    let synced = |d| synced(&service, d, now);
    // A FULL of two hours ago: the copy itself says the service lags, with
    // no lag pass run.
    let full = source.full("f1", 1, now - 2 * HOUR);
    t.backup(&full).await.unwrap();
    catalog.backup_synced(&synced(&full)).await.unwrap();
    let events = lag_events(&catalog).await;
    let [AnyEvent::LagExceeded(e)] = events.as_slice() else {
        panic!("one LagExceeded expected: {events:?}");
    };
    assert_eq!(e.latest_data_time, Some(timestamp(now - 2 * HOUR)));
    assert_eq!(e.lag_seconds, 2 * 3600);

    // Its binlog up to now: recovered; a second delivery of it says nothing.
    let log = source.log("l1", 1, now - 2 * HOUR, now);
    t.backup(&log).await.unwrap();
    catalog.backup_synced(&synced(&log)).await.unwrap();
    catalog.backup_synced(&synced(&log)).await.unwrap();
    let events = lag_events(&catalog).await;
    let [AnyEvent::LagRecovered(r)] = events.as_slice() else {
        panic!("one LagRecovered expected: {events:?}");
    };
    assert_eq!(r.latest_data_time, Some(timestamp(now)));
    assert_eq!(r.lag_seconds, 0);
}

#[tokio::test]
async fn a_row_read_before_the_flag_flipped_does_not_enqueue_the_crossing_again() {
    let (t, _, service) = TestCatalog::with_one_service().await.unwrap();
    let (catalog, clock) = t.on_fixed_clock();
    let get = || async {
        let mut conn = catalog.db.pool.acquire().await.unwrap();
        services::get(&mut conn, &service.service_id)
            .await
            .unwrap()
            .unwrap()
    };
    clock.advance_ms(2 * HOUR);
    // Read as a copy would, then the lag pass flips the flag first.
    let stale = get().await;
    assert!(!stale.lag_alerted);
    catalog.check_lag(&service.service_id).await.unwrap();
    assert!(get().await.lag_alerted);
    let mut conn = catalog.db.pool.acquire().await.unwrap();
    let crossed = catalog
        .lag_crossed(&mut conn, &stale, clock.now_ms())
        .await
        .unwrap();
    drop(conn);
    assert_eq!(crossed, None);
    let events = lag_events(&catalog).await;
    let [AnyEvent::LagExceeded(_)] = events.as_slice() else {
        panic!("one LagExceeded expected: {events:?}");
    };
}
