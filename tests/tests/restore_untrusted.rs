//! `xregion restore` treats the store's contents as untrusted: a manifest
//! whose backup id climbs out of `--into`, one that is not JSON and one
//! whose file lies in another service's folder are reported and skipped,
//! nothing is written outside `--into`, and the good restore points are
//! still restored. The store is a `file://` folder written by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::{Component, Path, PathBuf};

use xregion_domain::BackupKind;
use xregion_tests::net::random_suffix;
use xregion_tests::restore::{files_below, restore_command, HandLayout, LocalStore};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;

/// `path` with `.` and `..` resolved by name, as the kernel would for
/// folders that are not links.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn a_hostile_or_broken_manifest_is_skipped_and_nothing_leaves_into() -> anyhow::Result<()> {
    let LocalStore { dir, store, region } = LocalStore::new()?;
    let svc = HandLayout::new("tenant-a", "inst-1", "svc-1");
    svc.put_service_json(&store).await?;

    // Two good restore points: a FULL and a LOG after it.
    let dump = b"-- the dump\nCREATE TABLE t (a INT);\n".to_vec();
    let binlog = b"binlog bytes".to_vec();
    let (dump_size, dump_sha) = svc.put_file(&store, "full-1", "dump.sql", &dump).await?;
    let (log_size, log_sha) = svc.put_file(&store, "log-1", "binlog", &binlog).await?;
    let full = svc.manifest(
        "full-1",
        BackupKind::Full,
        (T0, T0),
        1,
        &[("dump.sql", dump_size, dump_sha)],
    );
    let log = svc.manifest(
        "log-1",
        BackupKind::Log,
        (T0, T0 + MIN),
        1,
        &[("binlog", log_size, log_sha)],
    );
    svc.put_manifest_bytes(&store, "full-1", full.to_json())
        .await?;
    svc.put_manifest_bytes(&store, "log-1", log.to_json())
        .await?;

    // A later FULL (so a plan for `latest` would pick it) whose backup id
    // climbs out of --into; its file is in the store under a plain folder.
    let escape_name = format!("xregion-escape-{}", random_suffix());
    let evil_id = format!("../../../../../../../../tmp/{escape_name}");
    let payload = b"ssh-ed25519 AAAA attacker".to_vec();
    let (size, sha) = svc
        .put_file(&store, "evil", "authorized_keys", &payload)
        .await?;
    let mut evil = svc.manifest(
        "evil",
        BackupKind::Full,
        (T0 + 2 * MIN, T0 + 2 * MIN),
        2,
        &[("authorized_keys", size, sha)],
    );
    evil.backup_id = evil_id.clone();
    svc.put_manifest_bytes(&store, "evil", evil.to_json())
        .await?;

    let into = dir.path().join("into");
    let escape = lexical(&into.join(&evil_id));
    assert!(!escape.starts_with(&into), "{escape:?} lies outside --into");
    let _ = std::fs::remove_dir_all(&escape);

    let out = restore_command(&region, "inst-1", &into)?.output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !escape.exists(),
        "the restore wrote outside --into: {escape:?}"
    );
    assert!(
        stderr.contains("skipping manifest tenant-a/inst-1/svc-1/manifests/evil.json")
            && stderr.contains("backup_id"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(into.join("full-1/dump.sql"))?, dump);
    assert_eq!(std::fs::read(into.join("log-1/binlog"))?, binlog);
    assert_eq!(
        files_below(&into),
        ["full-1/dump.sql", "log-1/binlog", "plan.json"]
    );
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(into.join("plan.json"))?)?;
    assert_eq!(plan["full_backup_id"], "full-1");
    assert_eq!(plan["log_backup_ids"], serde_json::json!(["log-1"]));

    // A manifest that is not JSON and one whose file is another service's:
    // reported, skipped, the good points still restored.
    svc.put_manifest_bytes(&store, "broken", b"{\"format\": 1, \"backup_".to_vec())
        .await?;
    let other = HandLayout::new("tenant-b", "inst-9", "svc-9");
    let (size, sha) = other
        .put_file(&store, "b", "secret", b"tenant b's data")
        .await?;
    let mut foreign = svc.manifest(
        "foreign",
        BackupKind::Full,
        (T0 + 3 * MIN, T0 + 3 * MIN),
        3,
        &[("secret", size, sha)],
    );
    foreign.files[0].key = "tenant-b/inst-9/svc-9/backups/b/secret".into();
    svc.put_manifest_bytes(&store, "foreign", foreign.to_json())
        .await?;

    let into2 = dir.path().join("into2");
    let out = restore_command(&region, "inst-1", &into2)?.output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for bad in ["broken.json", "evil.json", "foreign.json"] {
        assert!(
            stderr.contains(&format!(
                "skipping manifest tenant-a/inst-1/svc-1/manifests/{bad}"
            )),
            "{bad} not reported: {stderr}"
        );
    }
    assert!(stderr.contains("is not under"), "{stderr}");
    assert!(!escape.exists());
    assert_eq!(
        files_below(&into2),
        ["full-1/dump.sql", "log-1/binlog", "plan.json"]
    );
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(into2.join("plan.json"))?)?;
    assert_eq!(plan["full_backup_id"], "full-1");
    assert_eq!(plan["skipped_manifests"].as_array().unwrap().len(), 3);
    // Nothing was written anywhere else in the test's folder either.
    let mut top: Vec<_> = std::fs::read_dir(dir.path())?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["into", "into2", "store"]);
    Ok(())
}
