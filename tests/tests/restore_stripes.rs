//! Files of one backup never collide in the target: a striped SQL Server
//! FULL (`stripe1/db.bak`, `stripe2/db.bak`, different contents) is synced
//! by the real stack under two keys that keep the stripe folders; the API's
//! plan lists both, and `xregion restore` from the target store alone
//! brings both back with their own contents.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use sha2::Digest;
use xregion_domain::Engine;
use xregion_proto::convert::millis;
use xregion_tests::restore::restore_command;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::SyncEnv;
use xregion_tests::StackOptions;

#[tokio::test(flavor = "multi_thread")]
async fn striped_files_keep_their_folders_in_plan_and_restore() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let mut chain = env
        .chain("stripes-1", Engine::Sqlserver, 1_760_000_000_000)
        .await?;
    let mut full = chain.full(0);
    let id = full.descriptor.backup_id.clone();
    // About 4 MiB each, so the restore's time (README) means something.
    let stripe1 = b"stripe one: pages 1, 3, 5".repeat(160_000);
    let stripe2 = b"STRIPE TWO: pages 2, 4, 6".repeat(170_000);
    let mut file = full.descriptor.files[0].clone();
    full.descriptor.files = ["stripe1", "stripe2"]
        .iter()
        .map(|stripe| {
            file.key = format!("stripes-1/{id}/{stripe}/db.bak");
            file.clone()
        })
        .collect();
    full.contents = vec![stripe1.clone(), stripe2.clone()];
    let full = env.upstream.emit(&env.source, &full).await?;
    let svc = env
        .create("stripes-1", Engine::Sqlserver, "r1", "r2")
        .await?;
    env.wait_running(&svc.id, 1).await?;

    let at = full.data_end_time.as_ref().map(millis).unwrap();
    let plan = env.plan(&svc.id, at).await?;
    let keys: Vec<&str> = plan.files.iter().map(|f| f.key.as_str()).collect();
    let folder = format!("{TENANT_A}/stripes-1/{}/backups/{id}", svc.id);
    assert_eq!(
        keys,
        [
            format!("{folder}/stripe1/db.bak"),
            format!("{folder}/stripe2/db.bak")
        ],
        "two distinct keys that keep the stripe folders"
    );
    let shas: Vec<&str> = plan.files.iter().map(|f| f.sha256.as_str()).collect();
    assert_eq!(
        shas,
        [
            hex::encode(sha2::Sha256::digest(&stripe1)),
            hex::encode(sha2::Sha256::digest(&stripe2))
        ]
    );

    let into = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let out = restore_command(stack.region("r2")?, "stripes-1", into.path())?.output()?;
    eprintln!(
        "sql server restore of a 2-stripe FULL ({} bytes): plan, download, verify, restore.sql in {:?}",
        stripe1.len() + stripe2.len(),
        started.elapsed()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = into.path().join(&id);
    assert_eq!(std::fs::read(restored.join("stripe1/db.bak"))?, stripe1);
    assert_eq!(std::fs::read(restored.join("stripe2/db.bak"))?, stripe2);
    let plan_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(into.path().join("plan.json"))?)?;
    let relative: Vec<_> = plan_json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["relative_path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(relative, ["stripe1/db.bak", "stripe2/db.bak"]);
    // SQL Server: restore.sql restores both stripes in one statement.
    let script = std::fs::read_to_string(into.path().join("restore.sql"))?;
    for stripe in ["stripe1", "stripe2"] {
        let disk = format!(
            "DISK = N'{}'",
            restored.join(stripe).join("db.bak").display()
        );
        assert_eq!(script.matches(&disk).count(), 1, "{disk} in {script}");
    }
    assert!(script.contains("RESTORE DATABASE [stripes-1]"), "{script}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sqlcmd -S <server> -E -i "));
    Ok(())
}
