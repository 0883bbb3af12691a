//! Catalog replicas sharing one PostgreSQL database: migrations started at
//! once do not race (advisory lock around the run), and two outbox relays
//! draining at once publish every row once, in order (one batch at a time
//! under a transaction-scoped advisory lock).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Executor, Row};
use xregion_bus::{Namespace, Publisher};
use xregion_catalog::outbox::OutboxRelay;
use xregion_catalog::store::Db;
use xregion_tests::postgres::TestDatabase;

/// Two catalogs migrating the same fresh database at once both succeed, and
/// each version is recorded once. Several rounds, each on an emptied schema:
/// without the lock one of the two fails on a table the other created.
#[tokio::test]
async fn two_catalogs_migrating_one_fresh_database_both_succeed() -> anyhow::Result<()> {
    let pg = TestDatabase::create().await?;
    for round in 0..5 {
        let (a, b) = tokio::join!(
            async { Db::connect(&pg.url, 4).await?.migrate().await },
            async { Db::connect(&pg.url, 4).await?.migrate().await },
        );
        a.map_err(|e| anyhow::anyhow!("round {round}, first catalog: {e}"))?;
        b.map_err(|e| anyhow::anyhow!("round {round}, second catalog: {e}"))?;
        let mut conn = pg.connect().await?;
        let rows =
            sqlx::query("SELECT version, COUNT(*) AS n FROM xregion_schema GROUP BY version")
                .fetch_all(&mut conn)
                .await?;
        let counts: BTreeMap<i64, i64> = rows
            .iter()
            .map(|r| (r.get::<i64, _>("version"), r.get::<i64, _>("n")))
            .collect();
        assert!(!counts.is_empty(), "round {round}: no version recorded");
        assert!(
            counts.values().all(|&n| n == 1),
            "round {round}: a version recorded twice: {counts:?}"
        );
        // The lock is released after the run: nobody holds it any more.
        let held: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await?
        .get("n");
        assert_eq!(
            held, 0,
            "round {round}: the migration lock outlived the run"
        );
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            .await?;
    }
    Ok(())
}

/// Five drains in a row, as a woken relay would.
async fn drain(relay: &OutboxRelay) -> anyhow::Result<usize> {
    let mut n = 0;
    for _ in 0..5 {
        n += relay.drain().await?;
    }
    Ok(n)
}

/// Two relays on one database, draining at once while rows keep being
/// written: every row is published once (the drains' counts add up to the
/// rows, no id twice) and, overall, in `seq` order.
#[tokio::test]
async fn two_relays_on_one_database_publish_each_row_once_in_order() -> anyhow::Result<()> {
    let pg = TestDatabase::create().await?;
    let db = Db::connect(&pg.url, 8).await?;
    db.migrate().await?;
    let ns = Namespace::new("t", "rds")?;
    // One recording shared by both: what went out, in the order it did.
    let (publisher, recorded) = Publisher::recording(ns);
    let relay = |db: Db| OutboxRelay {
        db,
        publisher: publisher.clone(),
        wake: Arc::default(),
        interval: Duration::from_millis(50),
        clock: xregion_common::clock::system(),
    };
    let relays = [
        relay(Db::connect(&pg.url, 4).await?),
        relay(Db::connect(&pg.url, 4).await?),
    ];
    let mut conn = pg.connect().await?;
    let mut written = 0usize;
    let mut published = 0usize;
    for round in 0..20 {
        // Rows of this round are written while both relays drain.
        let write = async {
            for i in 0..30 {
                let n = round * 30 + i;
                sqlx::query(
                    "INSERT INTO outbox (event, msg_id, payload, created_at) \
                     VALUES ('service.created', $1, $2, 0)",
                )
                .bind(format!("m-{n}"))
                .bind(vec![n as u8])
                .execute(&mut conn)
                .await?;
            }
            anyhow::Ok(30usize)
        };
        let (w, a, b) = tokio::join!(write, drain(&relays[0]), drain(&relays[1]));
        written += w?;
        published += a? + b?;
    }
    // What the last round left (both may have found the other's lock).
    published += relays[0].drain().await?;
    assert_eq!(published, written, "each row published once, none twice");
    let pending: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&mut conn)
        .await?
        .get("n");
    assert_eq!(pending, 0);
    let in_seq_order: Vec<String> = sqlx::query("SELECT msg_id FROM outbox ORDER BY seq")
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(|r| r.get("msg_id"))
        .collect();
    let sent: Vec<String> = recorded
        .sent()
        .into_iter()
        .map(|s| s.msg_id.unwrap_or_default())
        .collect();
    assert_eq!(sent.len(), written);
    assert_eq!(sent, in_seq_order, "published in seq order overall");
    Ok(())
}
