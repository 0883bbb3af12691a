//! Disaster recovery with a real MariaDB: back up a running server (dump +
//! closed binlogs), sync through the five services to a Garage region, lose
//! NATS, the catalog and the source region's store, then restore into fresh
//! servers at three times from the target store alone and compare content.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::process::Command;

use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::mariadb::MariaDbSource;
use xregion_tests::mariadb::{rfc3339_seconds, MariaDb};
use xregion_tests::restore::store_options;
use xregion_tests::stack::{bin_dir, TENANT_A};
use xregion_tests::sync::{latest_ms, state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{Stack, StackOptions};

#[tokio::test]
async fn a_database_comes_back_in_the_target_region_at_three_points_in_time() -> anyhow::Result<()>
{
    let mut stack = Stack::start(StackOptions {
        regions: vec!["r2".into()],
        file_regions: vec!["src".into()],
        extra_config: FAST_SYNC_CONFIG.into(),
        ..Default::default()
    })
    .await?;
    let env = SyncEnv::new(&stack, "src", "r2").await?;
    let source_db = MariaDb::start(stack.dir.path()).await?;
    let mut adapter = MariaDbSource::new(
        source_db.socket.clone(),
        source_db.datadir.clone(),
        "maria-1",
        TENANT_A,
        "src",
    );
    env.instance("maria-1", Engine::Mysql, "src").await?;
    let svc = env.create("maria-1", Engine::Mysql, "src", "r2").await?;
    env.wait_service(&svc.id, "SEEDING", |s| {
        state(s) == pb::ServiceState::Seeding
    })
    .await?;

    // The workload's clock: one step every 10 s of event time, set per
    // session, so restore times fall exactly between steps.
    let base = chrono::Utc::now().timestamp() - 3600;
    source_db.sql(&format!("SET TIMESTAMP={base}; CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, v INT NOT NULL)"))?;
    let mut expected: BTreeMap<i64, String> = BTreeMap::new();
    for k in 1..=12i64 {
        source_db.sql(&format!(
            "SET TIMESTAMP={}; INSERT INTO shop.items VALUES ({k}, {}); UPDATE shop.items SET v = v + 1 WHERE id = {};",
            base + k * 10,
            k * 100,
            k - 1
        ))?;
        expected.insert(k, source_db.checksum("shop.items")?);
        let at_ms = (base + k * 10 + 5) * 1000;
        if k == 3 {
            env.upstream
                .emit(&env.source, &adapter.full(&["shop"], at_ms)?)
                .await?;
        }
        if k % 3 == 0 && k > 3 {
            for log in adapter.logs(at_ms)? {
                env.upstream.emit(&env.source, &log).await?;
            }
        }
    }
    let latest = (base + 125) * 1000;
    env.wait_service(&svc.id, "synced up to the last binlog", |s| {
        latest_ms(s) == Some(latest)
    })
    .await?;

    // The source region is lost: NATS, the catalog and the source store.
    stack.kill("catalog");
    stack.nats.process.kill();
    std::fs::rename(
        stack.dir.path().join("regions/src"),
        stack.dir.path().join("regions/src-lost"),
    )?;

    let target = stack.region("r2")?.clone();
    for (label, time, step) in [
        ("mid-log", rfc3339_seconds((base + 45) * 1000)?, 4i64),
        ("another", rfc3339_seconds((base + 85) * 1000)?, 8),
        ("latest", "latest".to_string(), 12),
    ] {
        let fresh = MariaDb::start(stack.dir.path()).await?;
        let into = tempfile::tempdir()?;
        let mut restore = Command::new(bin_dir()?.join("xregion"));
        restore
            .args([
                "restore",
                "--region-store",
                &target.url,
                "--instance",
                "maria-1",
                "--time",
                &time,
                "--into",
            ])
            .arg(into.path())
            .arg("--mariadb-socket")
            .arg(&fresh.socket)
            .args(store_options(&target));
        let started = std::time::Instant::now();
        let out = restore.output()?;
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let restored_rows = fresh.sql("SELECT id, v FROM shop.items ORDER BY id")?;
        assert_eq!(
            fresh.checksum("shop.items")?,
            expected[&step],
            "{label}: restored content differs from the source at step {step}: {restored_rows}"
        );
        let rows = fresh.sql("SELECT COUNT(*) FROM shop.items")?;
        assert_eq!(rows.trim(), step.to_string(), "{label}");
        eprintln!(
            "{label}: restored to step {step} in {:?}",
            started.elapsed()
        );
    }
    // The drill: the same from the target store alone, into a throwaway server.
    let mut drill = Command::new(bin_dir()?.join("xregion"));
    drill.args([
        "drill",
        "--region-store",
        &target.url,
        "--instance",
        "maria-1",
        "--output",
        "json",
    ]);
    let out = drill.args(store_options(&target)).output()?;
    assert!(
        out.status.success(),
        "drill: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default(),
    )?;
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(report["tables"], 1, "{report}");
    assert!(report["seconds"].as_f64().unwrap() > 0.0);
    Ok(())
}
