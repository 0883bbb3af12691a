//! Disaster recovery with a real MariaDB from a physical FULL: back up a
//! running server with `mariabackup --stream=xbstream` (split into three
//! files) plus closed binlogs, sync through the five services to a Garage
//! region, lose NATS, the catalog and the source region's store, then
//! restore new datadirs at three times from the target store alone
//! (`xregion restore --mariadb-datadir`) and compare content; the drill
//! does the same. A datadir holding anything is refused and left as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use xregion_domain::{BackupFormat, BackupKind, Engine};
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::mariadb::MariaDbSource;
use xregion_tests::mariadb::{rfc3339_seconds, MariaDb};
use xregion_tests::restore::{files_below, restore_command, store_options, HandLayout, LocalStore};
use xregion_tests::stack::{bin_dir, TENANT_A};
use xregion_tests::sync::{latest_ms, state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{Stack, StackOptions};

/// The source's root password: the harness and the adapter log in with it
/// (MYSQL_PWD, read by mariadb, mariadb-dump and mariabackup); xregion is
/// run without it, as an operator who never knew it would.
const SOURCE_ROOT_PASSWORD: &str = "source-root-pw";

fn xregion() -> Command {
    let mut cmd = Command::new(bin_dir().unwrap().join("xregion"));
    cmd.env_remove("MYSQL_PWD");
    cmd
}

#[tokio::test]
async fn a_physical_full_comes_back_in_the_target_region_at_three_points_in_time(
) -> anyhow::Result<()> {
    // Before any thread of this test's own spawns a process (nextest runs
    // each test in a process of its own).
    std::env::set_var("MYSQL_PWD", SOURCE_ROOT_PASSWORD);
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
        "maria-phys-1",
        TENANT_A,
        "src",
    );
    env.instance("maria-phys-1", Engine::Mysql, "src").await?;
    let svc = env
        .create("maria-phys-1", Engine::Mysql, "src", "r2")
        .await?;
    env.wait_service(&svc.id, "SEEDING", |s| {
        state(s) == pb::ServiceState::Seeding
    })
    .await?;

    // The workload's clock: one step every 10 s of event time, set per
    // session, so restore times fall exactly between steps.
    let base = chrono::Utc::now().timestamp() - 3600;
    // The copy's grants lock out a root without the password: the restore
    // must not log in with them.
    source_db.sql(&format!(
        "ALTER USER root@localhost IDENTIFIED BY '{SOURCE_ROOT_PASSWORD}'"
    ))?;
    source_db.sql(&format!("SET TIMESTAMP={base}; CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, v INT NOT NULL)"))?;
    let mut expected: BTreeMap<i64, String> = BTreeMap::new();
    let mut full_files = 0;
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
            let full = adapter.full_physical(at_ms, 3)?;
            full_files = full.descriptor.files.len();
            env.upstream.emit(&env.source, &full).await?;
        }
        if k % 3 == 0 && k > 3 {
            for log in adapter.logs(at_ms)? {
                env.upstream.emit(&env.source, &log).await?;
            }
        }
    }
    assert_eq!(full_files, 3, "the physical FULL is a multi-file backup");
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
    let restore = |time: &str, into: &Path| {
        let mut cmd = xregion();
        cmd.args([
            "restore",
            "--region-store",
            &target.url,
            "--instance",
            "maria-phys-1",
            "--time",
            time,
            "--into",
        ])
        .arg(into)
        .args(store_options(&target));
        cmd
    };

    // The wrong tool for the format is refused before any download.
    let into = tempfile::tempdir()?;
    let loader = MariaDb::start(stack.dir.path()).await?;
    let out = restore("latest", into.path())
        .arg("--mariadb-socket")
        .arg(&loader.socket)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--mariadb-datadir"), "{err}");
    assert!(!into.path().join("plan.json").exists());
    drop(loader);

    for (label, time, step) in [
        ("mid-log", rfc3339_seconds((base + 45) * 1000)?, 4i64),
        ("another", rfc3339_seconds((base + 85) * 1000)?, 8),
        ("latest", "latest".to_string(), 12),
    ] {
        let into = tempfile::tempdir()?;
        let datadir = into.path().join("datadir");
        let started = std::time::Instant::now();
        let out = restore(&time, &into.path().join("files"))
            .arg("--mariadb-datadir")
            .arg(&datadir)
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{label}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let took = started.elapsed();
        let restored = MariaDb::start_on(&datadir, stack.dir.path()).await?;
        let rows = restored.sql("SELECT id, v FROM shop.items ORDER BY id")?;
        assert_eq!(
            restored.checksum("shop.items")?,
            expected[&step],
            "{label}: restored content differs from the source at step {step}: {rows}"
        );
        let no_password = Command::new("mariadb")
            .env_remove("MYSQL_PWD")
            .arg(format!("--socket={}", restored.socket.display()))
            .args(["-uroot", "-e", "SELECT 1"])
            .output()?;
        assert!(
            !no_password.status.success(),
            "{label}: the restored grants are the source's (root needs its password)"
        );
        let count = restored.sql("SELECT COUNT(*) FROM shop.items")?;
        assert_eq!(count.trim(), step.to_string(), "{label}");
        let steps = stdout
            .lines()
            .find(|l| l.contains("restored the MariaDB datadir"))
            .unwrap_or_default();
        assert!(
            steps.contains("--innodb_page_size=16384"),
            "{label}: the next command starts with the copy's InnoDB settings: {steps}"
        );
        let temporary =
            restored.sql("SELECT COUNT(*) FROM mysql.user WHERE user LIKE 'xregion\\_%'")?;
        assert_eq!(
            temporary.trim(),
            "0",
            "{label}: the restore's account was dropped"
        );
        eprintln!("{label}: physical restore to step {step} in {took:?}: {steps}");
    }

    // The drill: the same from the target store alone, into a throwaway datadir.
    let started = std::time::Instant::now();
    let out = xregion()
        .args([
            "drill",
            "--region-store",
            &target.url,
            "--instance",
            "maria-phys-1",
            "--output",
            "json",
        ])
        .args(store_options(&target))
        .output()?;
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
    assert_eq!(report["restored_to_ms"], latest, "{report}");
    eprintln!("drill (physical) in {:?}: {report}", started.elapsed());
    Ok(())
}

#[test]
fn a_datadir_holding_anything_is_refused_and_left_untouched() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let datadir = dir.path().join("datadir");
    std::fs::create_dir(&datadir)?;
    std::fs::write(datadir.join("ibdata1"), b"someone's data")?;
    let into = dir.path().join("files");
    let out = xregion()
        .args([
            "restore",
            "--region-store",
            "file:///nonexistent-store",
            "--instance",
            "maria-phys-1",
            "--into",
        ])
        .arg(&into)
        .arg("--mariadb-datadir")
        .arg(&datadir)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(std::fs::read(datadir.join("ibdata1"))?, b"someone's data");
    assert_eq!(std::fs::read_dir(&datadir)?.count(), 1);
    assert!(!into.exists(), "nothing was downloaded");
    Ok(())
}

/// An xbstream made by `mbstream -c` of `names` (relative to `cwd`).
fn xbstream(cwd: &Path, names: &[&str]) -> Vec<u8> {
    let out = Command::new("mbstream")
        .arg("-c")
        .args(names)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn a_hostile_or_inconsistent_stream_is_refused_and_leaves_nothing() -> anyhow::Result<()> {
    const T0: i64 = 1_760_000_000_000;
    let LocalStore { dir, store, region } = LocalStore::new()?;
    let work = dir.path().join("made/a/b");
    std::fs::create_dir_all(&work)?;
    std::fs::write(dir.path().join("made/evil.txt"), b"planted")?;
    std::fs::write(work.join("hello.txt"), b"hello")?;
    std::fs::write(
        work.join("xtrabackup_binlog_info"),
        b"mysql-bin.000009\t99\t0-1-1\n",
    )?;
    for (instance, names, says) in [
        (
            "inst-evil",
            vec!["../../evil.txt"],
            "complained about the FULL's stream",
        ),
        ("inst-nopos", vec!["hello.txt"], "no xtrabackup_binlog_info"),
        (
            "inst-otherpos",
            vec!["xtrabackup_binlog_info"],
            "its manifest says",
        ),
    ] {
        let svc = HandLayout::new("tenant-a", instance, "svc-1");
        svc.put_service_json(&store).await?;
        let stream = xbstream(&work, &names);
        let (size, sha) = svc
            .put_file(&store, "full-1", "backup.xbstream.000", &stream)
            .await?;
        let mut full = svc.manifest(
            "full-1",
            BackupKind::Full,
            (T0, T0),
            1,
            &[("backup.xbstream.000", size, sha)],
        );
        full.backup_format = Some(BackupFormat::Xbstream);
        svc.put_manifest_bytes(&store, "full-1", full.to_json())
            .await?;

        let out_dir = dir.path().join(format!("out-{instance}"));
        let (into, datadir) = (out_dir.join("files"), out_dir.join("datadir"));
        let out = restore_command(&region, instance, &into)?
            .arg("--mariadb-datadir")
            .arg(&datadir)
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{instance}: {err}");
        assert!(err.contains(says), "{instance}: {err}");
        assert!(
            !datadir.exists(),
            "{instance}: the failed restore left its datadir"
        );
        let left = files_below(&into);
        assert_eq!(
            left,
            ["full-1/backup.xbstream.000", "plan.json"],
            "{instance}"
        );
    }
    // Nothing was written beside the planted file or above the outputs.
    assert_eq!(std::fs::read(dir.path().join("made/evil.txt"))?, b"planted");
    assert!(!dir.path().join("evil.txt").exists());
    assert!(!dir.path().join("out-inst-evil/evil.txt").exists());
    Ok(())
}
