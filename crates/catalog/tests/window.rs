//! The restore window the catalog keeps in the service's row: extended
//! copy by copy without reading the others in the common case, recomputed
//! from every copy otherwise, and always what the copies say.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use xregion_catalog::service::service_ref;
use xregion_catalog::store::{services, synced, window};
use xregion_catalog::testing::{Source, TestCatalog};
use xregion_domain::chain::{expirable, window_state, ChainBackup, WindowState};
use xregion_domain::Engine;
use xregion_proto::convert::{backup as conv, timestamp};
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

/// 2020-01-01T00:00:00Z: years before any run, so past retention.
const T0: i64 = 1_577_836_800_000;
const MIN: i64 = 60_000;

struct Env {
    t: TestCatalog,
    svc: pb::ServiceRef,
    source: Source,
}

async fn env() -> Env {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let source = Source::new("t1", "db-1", "r1");
    let svc = t.service(&source, "r2").await.unwrap();
    Env { t, svc, source }
}

impl Env {
    /// Binlog `n`, covering minutes `n - 1` to `n`.
    fn log(&self, n: u64) -> rds::BackupDescriptor {
        let end = T0 + n as i64 * MIN;
        self.source.log(&format!("log-{n}"), n, end - MIN, end)
    }

    /// A FULL at binlog `n`, consistent half a minute into it.
    fn full(&self, n: u64) -> rds::BackupDescriptor {
        let at = T0 + (n as i64 - 1) * MIN + MIN / 2;
        self.source.full(&format!("full-{n}"), n, at)
    }

    async fn synced(&self, d: &rds::BackupDescriptor) {
        let svc = self
            .t
            .catalog
            .get_service("t1", &self.svc.service_id)
            .await
            .unwrap();
        let e = pb::BackupSynced {
            service: Some(service_ref(&svc)),
            backup: Some(d.clone()),
            manifest_key: format!("m/{}", d.backup_id),
            bytes: 1,
            synced_at: Some(timestamp(T0)),
            duration_ms: 1,
        };
        self.t.catalog.backup_synced(&e).await.unwrap();
    }

    async fn stored(&self) -> Option<WindowState> {
        let mut conn = self.t.catalog.db.pool.acquire().await.unwrap();
        window::get(&mut conn, &self.svc.service_id).await.unwrap()
    }

    /// The state recomputed from every copy the catalog has.
    async fn recomputed(&self) -> WindowState {
        let mut conn = self.t.catalog.db.pool.acquire().await.unwrap();
        let rows = synced::for_service(&mut conn, &self.svc.service_id)
            .await
            .unwrap();
        let chain: Vec<ChainBackup> = rows.iter().map(|r| r.manifest.chain_backup()).collect();
        window_state(Engine::Mysql, &chain)
    }

    /// The window's ends as the service's row has them.
    async fn row_window(&self) -> (Option<i64>, Option<i64>) {
        let mut conn = self.t.catalog.db.pool.acquire().await.unwrap();
        let row = services::get(&mut conn, &self.svc.service_id)
            .await
            .unwrap()
            .unwrap();
        (row.earliest_data_time, row.latest_data_time)
    }

    async fn sql(&self, statement: &str) {
        sqlx::query(statement)
            .bind(self.svc.service_id.clone())
            .execute(&self.t.catalog.db.pool)
            .await
            .unwrap();
    }

    /// The stored state is the recompute's, and the row agrees with it.
    async fn assert_consistent(&self) {
        let recomputed = self.recomputed().await;
        assert_eq!(self.stored().await.as_ref(), Some(&recomputed));
        let ends = recomputed.window.as_ref().map(|w| (w.earliest, w.latest));
        let (earliest, latest) = self.row_window().await;
        assert_eq!(ends, earliest.zip(latest));
        // GetRestoreWindow answers from the row, as from every copy.
        let served = self
            .t
            .catalog
            .window("t1", &self.svc.service_id)
            .await
            .unwrap();
        let expected = recomputed.window.as_ref().map(conv::window_to_proto);
        assert_eq!(served, expected.unwrap_or_default());
    }
}

/// The LOG at the chain's end, and a binlog landing beyond a missing one,
/// are applied to the stored window alone: a copy removed behind the
/// catalog's back goes unnoticed until a FULL beside the waiting binlog
/// makes it read every copy again.
#[tokio::test]
async fn a_log_at_the_chain_end_extends_the_stored_window_without_reading_the_copies() {
    let env = env().await;
    env.synced(&env.full(5)).await;
    env.synced(&env.log(5)).await;
    let full_at = T0 + 4 * MIN + MIN / 2;
    assert_eq!(env.row_window().await, (Some(full_at), Some(T0 + 5 * MIN)));
    env.sql("DELETE FROM synced_backups WHERE service_id = $1 AND backup_id = 'full-5'")
        .await;
    env.synced(&env.log(6)).await;
    assert_eq!(
        env.row_window().await,
        (Some(full_at), Some(T0 + 6 * MIN)),
        "extended from the stored state"
    );
    // Binlog 7 missing: binlog 8 waits beyond it in the stored tail.
    env.synced(&env.log(8)).await;
    assert_eq!(
        env.row_window().await,
        (Some(full_at), Some(T0 + 6 * MIN)),
        "binlog 8 waits beyond the hole"
    );
    // A FULL while a binlog waits: only the copies can say what it does.
    env.synced(&env.full(9)).await;
    let full_9 = T0 + 8 * MIN + MIN / 2;
    assert_eq!(
        env.row_window().await,
        (Some(full_9), Some(full_9)),
        "recomputed without full-5"
    );
    env.assert_consistent().await;
}

/// In order, out of order, FULLs after the end, holes filled, expiries:
/// after every step the stored state is what every copy says.
#[tokio::test]
async fn the_stored_window_is_the_recomputed_one_after_every_copy_and_expiry() {
    let env = env().await;
    let steps = [
        env.log(3),
        env.full(4),
        env.log(4),
        env.log(5),
        env.full(6), // after the end: a hole until binlog 6
        env.log(6),
        env.log(8), // out of order
        env.full(9),
        env.log(7), // fills the hole
        env.log(9),
        env.log(10),
    ];
    for d in &steps {
        env.synced(d).await;
        env.assert_consistent().await;
    }
    // Retention forgets what no restore point inside it needs (the data
    // is years old): the earliest point moves.
    let chain: Vec<ChainBackup> = {
        let mut conn = env.t.catalog.db.pool.acquire().await.unwrap();
        let rows = synced::for_service(&mut conn, &env.svc.service_id)
            .await
            .unwrap();
        rows.iter().map(|r| r.manifest.chain_backup()).collect()
    };
    let gone = expirable(Engine::Mysql, &chain, env.t.catalog.now());
    assert!(gone.contains(&"full-4".to_string()), "{gone:?}");
    let earliest_before = env.row_window().await.0;
    for backup_id in gone {
        let req = pb::ExpireBackupRequest {
            service_id: env.svc.service_id.clone(),
            backup_id,
        };
        env.t.catalog.expire_backup(&req).await.unwrap();
        env.assert_consistent().await;
    }
    assert!(env.row_window().await.0 > earliest_before);
}

/// A row written before the state existed (or with one unreadable) has its
/// state recomputed by the next copy.
#[tokio::test]
async fn a_row_without_a_stored_state_recomputes_it() {
    let env = env().await;
    env.synced(&env.full(5)).await;
    env.synced(&env.log(5)).await;
    for stored in ["NULL", "'{not json'"] {
        env.sql(&format!(
            "UPDATE services SET window_state = {stored} WHERE service_id = $1"
        ))
        .await;
        assert_eq!(env.stored().await, None);
        let next = 6 + u64::from(stored != "NULL");
        env.synced(&env.log(next)).await;
        env.assert_consistent().await;
        assert!(env.stored().await.unwrap().tail.is_some());
    }
}
