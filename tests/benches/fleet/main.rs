//! Fleet benchmark: a PostgreSQL catalog holding 10,000 instances with a
//! RUNNING service each and 1,000,000 synced copies (100 a service: a daily
//! FULL and five-minute LOGs), served by the release catalog and gateway;
//! p50/p99 of the tenant reads, and the catalog's cost of one BackupSynced
//! for a service with 10 copies against one with 10,000; then one
//! reconciliation pass of the release watcher over the fleet, one cleanup
//! sweep of its target region, and the end-to-end throughput of 50,000
//! small logs between `file://` regions, in the same run.
//!
//!   cargo xtask bench fleet
//!   XREGION_BENCH_SCALE=0.05 cargo xtask bench fleet      (500 instances, 50,000 copies)
//!
//! Needs release binaries (`cargo build --release --bins`, done by xtask),
//! nats-server and garage (the harness's stack), and PostgreSQL
//! (`DATABASE_URL`, or a throwaway cluster as the tests make).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a panic is a failure report

mod counting;
mod probe;
mod procfs;
mod reconcile;
mod seed;
mod sweep;
mod throughput;

use std::sync::Arc;
use std::time::Instant;

use probe::Samples;
use rand::SeedableRng;
use seed::Member;
use xregion_catalog::clock::{Clock, SystemClock};
use xregion_catalog::store::Db;
use xregion_catalog::Catalog;
use xregion_tests::stack::{Stack, StackOptions};

/// Copies of an ordinary service (1,000,000 over 10,000 services).
const COPIES: u64 = 100;
const SHORT: u64 = 10;
const LONG: u64 = 10_000;
const TARGET_MS: f64 = 50.0;

fn line(name: &str, s: &Samples) -> String {
    format!(
        "{name:<58} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests; target p99 <= {TARGET_MS} ms: {})",
        s.p50(),
        s.p99(),
        s.0.len(),
        if s.p99() <= TARGET_MS { "met" } else { "MISSED" }
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::set_var("XREGION_QUIET_LOGS", "1");
    let scale: f64 = std::env::var("XREGION_BENCH_SCALE")
        .unwrap_or_else(|_| "1".into())
        .parse()?;
    let instances = ((10_000.0 * scale) as usize).max(20);
    let now = SystemClock::default().now_ms();
    // The fleet, then one short and one long history at the end of it.
    let mut fleet: Vec<Member> = (1..=instances - 2)
        .map(|i| Member::new(i, COPIES, now))
        .collect();
    let short = Member::new(instances - 1, SHORT, now);
    let long = Member::new(instances, LONG, now);
    fleet.extend([short.clone(), long.clone()]);

    let mut stack = Stack::start(StackOptions {
        regions: vec!["r1".into(), "r2".into()],
        file_regions: vec!["fsrc".into(), "fdst".into()],
        services: vec![],
        ..Default::default()
    })
    .await?;
    let db = Db::connect(&stack.database_url, 4).await?;
    db.migrate().await?; // the schema, by the catalog's own migrations
    let pool = sqlx::PgPool::connect(&stack.database_url).await?;
    let started = Instant::now();
    let copies = seed::seed(&pool, &fleet, now).await?;
    let seeding = started.elapsed().as_secs_f64();
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&pool)
        .await?;
    println!(
        "fleet: {instances} instances and services, {copies} synced copies ({COPIES} a service; one of {SHORT}, one of {LONG}), scale {scale}; seeded in {seeding:.0} s, database {} MiB",
        size >> 20
    );

    stack.start_service("catalog", &[]).await?;
    stack.start_service("api-gateway", &[]).await?;
    let mut api = stack.grpc().await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    probe::reads(&mut api, &fleet, 20, &mut rng).await?; // warm-up
    let walks = if instances >= 5_000 { 3 } else { 10 };
    let (pages, deep) = probe::list_pages(&mut api, walks).await?;
    let reads = probe::reads(&mut api, &fleet, 1000, &mut rng).await?;
    let long_reads = probe::reads(&mut api, std::slice::from_ref(&long), 50, &mut rng).await?;

    // The catalog's handler in process, on the same database: the cost of
    // a copy without NATS, the gateway or the target store around it.
    let catalog = Catalog::new(
        db,
        Arc::new(SystemClock::default()),
        ["r1".to_string(), "r2".to_string()],
        None,
        3600,
    );
    let mut pair = [short.clone(), long.clone()];
    probe::copies(&catalog, &mut pair, 5).await?; // warm-up
    let timed = probe::copies(&catalog, &mut pair, 100).await?;
    let [_, mut long] = pair;
    // What every copy cost before the window was kept: the long service's
    // window recomputed from all its copies.
    let mut recompute = Samples::default();
    for _ in 0..10 {
        sqlx::query("UPDATE services SET window_state = NULL WHERE service_id = $1")
            .bind(&long.service_id)
            .execute(&pool)
            .await?;
        probe::next_copy(&catalog, &mut long, &mut recompute).await?;
    }

    println!();
    println!(
        "{}",
        line("ListSyncServices, page of 100, every page", &pages)
    );
    println!(
        "{}",
        line("ListSyncServices, page of 100, deepest tenth", &deep)
    );
    println!("{}", line("GetSyncService", &reads.service));
    println!("{}", line("GetRestoreWindow", &reads.window));
    println!("{}", line("GetRestorePlan", &reads.plan));
    println!(
        "{}",
        line(
            &format!("GetRestoreWindow, service with {LONG} copies"),
            &long_reads.window
        )
    );
    println!(
        "{}",
        line(
            &format!("GetRestorePlan, service with {LONG} copies"),
            &long_reads.plan
        )
    );
    let (s, l) = (&timed[0], &timed[1]);
    println!();
    println!("BackupSynced, catalog's handling of the next LOG (in process, same database):");
    // Each gets 105 copies more during the run (5 to warm up).
    println!(
        "  service with {SHORT} to {} copies: p50 {:.2} ms, p99 {:.2} ms",
        SHORT + 105,
        s.p50(),
        s.p99()
    );
    println!(
        "  service with {LONG} to {} copies: p50 {:.2} ms, p99 {:.2} ms",
        LONG + 105,
        l.p50(),
        l.p99()
    );
    println!(
        "  ratio long / short (p50) = {:.2} (target ~1: independent of the history's length)",
        l.p50() / s.p50()
    );
    println!(
        "  the same copy recomputing the window from every copy (as before it was kept): p50 {:.2} ms, p99 {:.2} ms",
        recompute.p50(),
        recompute.p99()
    );
    let cost = probe::plan_cost(&catalog, &long, 20).await?;
    println!();
    println!("GetRestorePlan over the {LONG} copies, in process (p50 / p99 ms):");
    for (what, s) in [
        (
            "the database's rows (index scan, 7 MB of manifest JSON)",
            &cost.fetch,
        ),
        ("parsing the manifests", &cost.parse),
        ("the plan (chains, window, files)", &cost.plan),
        ("the catalog's GetRestorePlan, all of it", &cost.whole),
    ] {
        println!("  {what:<58} {:>7.2} / {:>7.2}", s.p50(), s.p99());
    }
    println!();
    // The pass first (it writes each folder's service.json), then the old
    // way, one service at a time, for comparison.
    let passes = [
        reconcile::one_pass(&mut stack, 16).await?,
        reconcile::one_pass(&mut stack, 1).await?,
    ];
    let swept = sweep::one_sweep(&stack, &fleet).await?;
    let logs = ((50_000.0 * scale) as usize).max(500);
    let moved = throughput::run(&mut stack, &pool, logs).await?;
    println!("Reconciliation pass over {instances} services (release watcher, Garage regions):");
    for p in &passes {
        reconcile::print(p, 60.0);
    }
    sweep::print(&swept);
    throughput::print(&moved, 200.0);
    println!();
    let deep_seq = (instances as i64 * 9) / 10;
    for (what, sql) in [
        (
            "a deep page of ListSyncServices",
            format!(
                "SELECT * FROM services WHERE tenant_id = '{}' AND seq > {deep_seq} \
                 AND state <> 'DELETED' ORDER BY seq LIMIT 101",
                seed::TENANT
            ),
        ),
        (
            "the copies of a service (GetRestorePlan)",
            copies_sql(&fleet[0].service_id),
        ),
        (
            "the copies of the long service (GetRestorePlan)",
            copies_sql(&long.service_id),
        ),
    ] {
        println!("EXPLAIN ANALYZE, {what}:");
        let rows: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
            .fetch_all(&pool)
            .await?;
        for row in rows {
            println!("    {row}");
        }
    }
    println!();
    println!("machine: {}", xregion_tests::machine::machine());
    println!(
        "date: {}",
        chrono::DateTime::from_timestamp_millis(SystemClock::default().now_ms())
            .unwrap()
            .format("%Y-%m-%d %H:%M UTC")
    );
    Ok(())
}

/// The catalog's query for a service's copies (`store::synced::for_service`).
fn copies_sql(service_id: &str) -> String {
    format!(
        "SELECT manifest_key, descriptor FROM synced_backups WHERE service_id = '{service_id}' \
         ORDER BY data_end, backup_id"
    )
}
