//! The drill role (#18 point 4) on a real stack with a real MariaDB: a
//! synced MySQL service is drilled from its target store alone; the API,
//! the CLI, the events and the catalog's metrics show the verified point
//! and the RTO; a damaged target makes the next drill fail and the service
//! DEGRADED with the drill's reason, and a repaired one ends it. A drill
//! binary that prints garbage or hangs is a failed drill, never a crash.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use object_store::{ObjectStore, PutPayload};
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::mariadb::MariaDbSource;
use xregion_tests::mariadb::MariaDb;
use xregion_tests::stack::{bin_dir, TENANT_A, TOKEN_A};
use xregion_tests::sync::{latest_ms, state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::wait::wait_until;
use xregion_tests::{Stack, StackOptions};

/// A drill restores into a fresh server: give each step room for a few.
const DRILL_WAIT: Duration = Duration::from_secs(180);

/// Drills back to back (due again one second after the last), and a short
/// lease so a restarted drill role takes over at once.
const DRILL_ARGS: [&str; 6] = [
    "--set",
    "drill.tick_secs=1",
    "--set",
    "drill.interval_secs=1",
    "--set",
    "bus.lease_ttl_secs=3",
];

fn fake_cli(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

async fn start_drill(stack: &mut Stack, extra: &[&str]) -> anyhow::Result<()> {
    let mut args = DRILL_ARGS.to_vec();
    args.extend_from_slice(extra);
    stack.start_service("drill", &args).await
}

/// The service as `xregion get -o json` shows it.
fn cli_get(stack: &Stack, id: &str) -> serde_json::Value {
    let out = Command::new(bin_dir().unwrap().join("xregion"))
        .args(["get", id, "--output", "json"])
        .env("XREGION_ENDPOINT", format!("http://{}", stack.grpc_addr))
        .env("XREGION_TOKEN", TOKEN_A)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn drills_prove_a_service_restorable_and_a_broken_target_degrades_it() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        regions: vec!["r2".into()],
        file_regions: vec!["src".into()],
        extra_config: FAST_SYNC_CONFIG.into(),
        ..Default::default()
    })
    .await?;
    // The per-service gauges are refreshed with each lag check.
    stack.kill("catalog");
    stack
        .start_service("catalog", &["--set", "catalog.lag_check_interval_secs=1"])
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
    let base = chrono::Utc::now().timestamp() - 600;
    source_db.sql(&format!(
        "SET TIMESTAMP={base}; CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY); INSERT INTO shop.items VALUES (1)"
    ))?;
    env.upstream
        .emit(&env.source, &adapter.full(&["shop"], (base + 5) * 1000)?)
        .await?;
    source_db.sql(&format!(
        "SET TIMESTAMP={}; INSERT INTO shop.items VALUES (2)",
        base + 10
    ))?;
    for log in adapter.logs((base + 15) * 1000)? {
        env.upstream.emit(&env.source, &log).await?;
    }
    let synced = env
        .wait_service(&svc.id, "RUNNING with the binlog synced", |s| {
            state(s) == pb::ServiceState::Running && latest_ms(s) == Some((base + 15) * 1000)
        })
        .await?;
    assert_eq!(
        synced.last_drill_time, None,
        "no drill before the role runs"
    );

    // A successful drill: the verified point is the latest data time.
    start_drill(&mut stack, &[]).await?;
    let drilled = wait_until("a successful drill", DRILL_WAIT, || async {
        let s = env.get(&svc.id).await?;
        Ok(s.verified_restorable_time.is_some().then_some(s))
    })
    .await?;
    assert_eq!(drilled.verified_restorable_time, synced.latest_data_time);
    assert!(drilled.last_drill_rto_ms > 0, "{drilled:?}");
    assert_eq!(drilled.last_drill_error, "");
    assert_eq!(state(&drilled), pb::ServiceState::Running);
    let events = env
        .probe
        .wait_events(
            "DrillCompleted",
            EventSubject::DrillCompleted,
            |e: &[pb::DrillCompleted]| e.iter().any(|d| d.success),
        )
        .await?;
    let ok = events.iter().find(|d| d.success).unwrap();
    assert_eq!(
        (ok.service_id.as_str(), ok.tenant_id.as_str()),
        (svc.id.as_str(), TENANT_A)
    );
    assert_eq!(ok.restored_to, synced.latest_data_time);
    let shown = cli_get(&stack, &svc.id);
    assert_eq!(
        shown["latest_data_time"], shown["verified_restorable_time"],
        "{shown}"
    );
    assert!(shown["last_drill_rto_ms"].as_u64().unwrap() > 0, "{shown}");
    let latest_s = millis(synced.latest_data_time.as_ref().unwrap()) as f64 / 1000.0;
    let label = format!("service_id=\"{}\"", svc.id);
    wait_until("the verified point and RTO gauges", DRILL_WAIT, || async {
        let verified = stack
            .metric(
                "catalog",
                "xregion_service_verified_restorable_time_seconds",
                &label,
            )
            .await?;
        let rto = stack
            .metric("catalog", "xregion_service_drill_rto_seconds", &label)
            .await?;
        Ok((verified == latest_s && rto > 0.0).then_some(()))
    })
    .await?;

    // Damage the target: every data file of the service (not its manifests).
    let prefix = xregion_domain::layout::service_prefix(TENANT_A, "maria-1", &svc.id);
    let mut originals = Vec::new();
    for key in env.keys_under(&prefix).await? {
        if !key.ends_with(".json") {
            let key = object_store::path::Path::from(key);
            let bytes = env.target.get(&key).await?.bytes().await?;
            env.target
                .put(&key, PutPayload::from(vec![b'x'; bytes.len()]))
                .await?;
            originals.push((key, bytes));
        }
    }
    assert!(!originals.is_empty(), "no data file under {prefix}");
    let degraded = env
        .wait_service(&svc.id, "DEGRADED by a failed drill", |s| {
            state(s) == pb::ServiceState::Degraded
        })
        .await?;
    assert!(
        degraded.last_error.contains("drill"),
        "{}",
        degraded.last_error
    );
    assert!(!degraded.last_drill_error.is_empty());
    assert_eq!(
        degraded.verified_restorable_time, synced.latest_data_time,
        "the last verified point stays"
    );
    let shown = cli_get(&stack, &svc.id);
    assert_eq!(shown["state"], "DEGRADED", "{shown}");
    assert!(
        shown["last_error"].as_str().unwrap().contains("drill"),
        "{shown}"
    );
    wait_until("the failed-drill gauge", DRILL_WAIT, || async {
        let failed = stack
            .metric("catalog", "xregion_service_drill_failed", &label)
            .await?;
        Ok((failed == 1.0).then_some(()))
    })
    .await?;
    env.probe
        .wait_events(
            "a failed DrillCompleted",
            EventSubject::DrillCompleted,
            |e: &[pb::DrillCompleted]| e.iter().any(|d| !d.success && !d.error.is_empty()),
        )
        .await?;

    // Repaired: the next drill succeeds and ends the DEGRADED it caused.
    for (key, bytes) in originals {
        env.target.put(&key, PutPayload::from(bytes)).await?;
    }
    let repaired = wait_until("RUNNING after a successful drill", DRILL_WAIT, || async {
        let s = env.get(&svc.id).await?;
        Ok((state(&s) == pb::ServiceState::Running && s.last_drill_error.is_empty()).then_some(s))
    })
    .await?;
    assert_eq!(repaired.last_error, "");

    // Hostile drill binaries: garbage, then one that hangs past the limit.
    let fakes = tempfile::tempdir()?;
    let garbage = fake_cli(
        fakes.path(),
        "garbage",
        "printf '\\377\\376{not json'; exit 0",
    );
    let hangs = fake_cli(fakes.path(), "hangs", "sleep 600");
    for (cli, timeout, why) in [
        (&garbage, "60", "unreadable drill report"),
        (&hangs, "2", "timed out"),
    ] {
        stack.kill("drill");
        let cli = format!("drill.cli={}", cli.display());
        let timeout = format!("drill.timeout_secs={timeout}");
        start_drill(&mut stack, &["--set", &cli, "--set", &timeout]).await?;
        let s = wait_until(why, DRILL_WAIT, || async {
            let s = env.get(&svc.id).await?;
            Ok(s.last_drill_error.contains(why).then_some(s))
        })
        .await?;
        assert_eq!(state(&s), pb::ServiceState::Degraded, "{why}");
        assert!(s.last_error.contains(why), "{why}: {}", s.last_error);
        assert!(
            stack.service("drill")?.is_running(),
            "{why}: the drill role stopped"
        );
    }
    Ok(())
}

/// With the shipped NATS users and permissions the drill role works on its
/// own identity and the catalog may announce the outcome (a drill binary
/// that reports the latest point stands in for a database here).
#[tokio::test]
async fn the_drill_role_reports_on_its_own_nats_identity() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: FAST_SYNC_CONFIG.into(),
        nats_permissions: true,
        ..Default::default()
    })
    .await?;
    let t0 = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let (svc, _) = env.running_service("db-1", t0).await?;
    let latest = latest_ms(&svc).unwrap();
    let fakes = tempfile::tempdir()?;
    let cli = fake_cli(
        fakes.path(),
        "reports",
        // It takes 2 s and reports 1.5: the role believes the report up to
        // the time it measured.
        &format!(r#"sleep 2; echo '{{"success":true,"seconds":1.5,"restored_to_ms":{latest}}}'"#),
    );
    let cli = format!("drill.cli={}", cli.display());
    start_drill(&mut stack, &["--set", &cli]).await?;
    let drilled = wait_until("a drill recorded", DRILL_WAIT, || async {
        let s = env.get(&svc.id).await?;
        Ok(s.last_drill_time.is_some().then_some(s))
    })
    .await?;
    assert_eq!(drilled.verified_restorable_time, svc.latest_data_time);
    assert_eq!(drilled.last_drill_rto_ms, 1_500);
    env.probe
        .wait_events(
            "DrillCompleted under permissions",
            EventSubject::DrillCompleted,
            |e: &[pb::DrillCompleted]| e.iter().any(|d| d.success && d.service_id == svc.id),
        )
        .await?;
    Ok(())
}

/// Services due together are drilled back to back in one pass, not one a
/// tick: with a 10 s tick, three due services drilled one a tick would be
/// 20 s apart.
#[tokio::test]
async fn overdue_services_are_drilled_back_to_back() -> anyhow::Result<()> {
    const TICK_MS: i64 = 10_000;
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: FAST_SYNC_CONFIG.into(),
        ..Default::default()
    })
    .await?;
    let t0 = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let mut services = Vec::new();
    for db in ["db-1", "db-2", "db-3"] {
        services.push(env.running_service(db, t0).await?.0);
    }
    let latest = latest_ms(&services[0]).unwrap();
    assert!(
        services.iter().all(|s| latest_ms(s) == Some(latest)),
        "one chain shape: one point to report"
    );
    let fakes = tempfile::tempdir()?;
    let cli = fake_cli(
        fakes.path(),
        "reports",
        &format!(r#"echo '{{"success":true,"seconds":0.1,"restored_to_ms":{latest}}}'"#),
    );
    let cli = format!("drill.cli={}", cli.display());
    let tick = format!("drill.tick_secs={}", TICK_MS / 1000);
    stack
        .start_service(
            "drill",
            &[
                "--set",
                &tick,
                "--set",
                "drill.interval_secs=3600",
                "--set",
                "bus.lease_ttl_secs=3",
                "--set",
                &cli,
            ],
        )
        .await?;
    let drilled = wait_until("three drills recorded", DRILL_WAIT, || async {
        let mut times = Vec::new();
        for s in &services {
            let s = env.get(&s.id).await?;
            let Some(at) = s.last_drill_time else {
                return Ok(None);
            };
            assert_eq!(s.verified_restorable_time, s.latest_data_time, "{s:?}");
            times.push(millis(&at));
        }
        Ok(Some(times))
    })
    .await?;
    let spread = drilled.iter().max().unwrap() - drilled.iter().min().unwrap();
    assert!(
        spread < TICK_MS,
        "the three drills started {spread} ms apart: one a tick, not back to back"
    );
    Ok(())
}
