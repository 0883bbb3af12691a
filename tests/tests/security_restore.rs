//! Restore runs SQL from the store, which whoever can write the bucket
//! controls. The MariaDB client loads it in sandbox mode: a dump carrying
//! the client's shell escape (`\!`, `system`) stops with an error and the
//! command never runs on the restore host, while an ordinary dump restores.
//! The store is a `file://` folder written by hand; the server is a private
//! MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use object_store::local::LocalFileSystem;
use xregion_domain::BackupKind;
use xregion_tests::mariadb::MariaDb;
use xregion_tests::restore::{restore_command, HandLayout, LocalStore};

const T0: i64 = 1_760_000_000_000;

/// One instance with one FULL whose dump is `dump`.
async fn instance_with_dump(
    store: &LocalFileSystem,
    instance: &str,
    dump: &str,
) -> anyhow::Result<()> {
    let svc = HandLayout::new("tenant-a", instance, &format!("svc-{instance}"));
    svc.put_service_json(store).await?;
    let (size, sha) = svc
        .put_file(store, "full-1", "dump.sql", dump.as_bytes())
        .await?;
    let full = svc.manifest(
        "full-1",
        BackupKind::Full,
        (T0, T0),
        1,
        &[("dump.sql", size, sha)],
    );
    svc.put_manifest_bytes(store, "full-1", full.to_json())
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_dump_with_a_shell_escape_does_not_run_it_and_a_normal_dump_restores(
) -> anyhow::Result<()> {
    let LocalStore { dir, store, region } = LocalStore::new()?;

    let marker_bang = dir.path().join("pwned-by-bang");
    let marker_system = dir.path().join("pwned-by-system");
    instance_with_dump(
        &store,
        "evil-bang",
        &format!(
            "CREATE DATABASE evil_bang;\n\\! touch {}\nCREATE TABLE evil_bang.after_escape (a INT);\n",
            marker_bang.display()
        ),
    )
    .await?;
    instance_with_dump(
        &store,
        "evil-system",
        &format!(
            "CREATE DATABASE evil_system;\nsystem touch {}\nCREATE TABLE evil_system.after_escape (a INT);\n",
            marker_system.display()
        ),
    )
    .await?;
    instance_with_dump(
        &store,
        "good",
        "CREATE DATABASE shop;\nCREATE TABLE shop.items (id INT PRIMARY KEY, v INT NOT NULL);\n\
         INSERT INTO shop.items VALUES (1, 10), (2, 20), (3, 30);\n",
    )
    .await?;

    let server = MariaDb::start(dir.path()).await?;
    for (instance, marker, database) in [
        ("evil-bang", &marker_bang, "evil_bang"),
        ("evil-system", &marker_system, "evil_system"),
    ] {
        let into = dir.path().join(format!("into-{instance}"));
        let out = restore_command(&region, instance, &into)?
            .arg("--mariadb-socket")
            .arg(&server.socket)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{instance}: a dump with a shell escape must fail to load: {stderr}"
        );
        assert!(
            stderr.contains("sandbox"),
            "{instance}: the error names the sandbox: {stderr}"
        );
        assert!(
            !marker.exists(),
            "{instance}: the shell command ran on the restore host ({})",
            marker.display()
        );
        // Loading stopped at the escape: nothing after it ran either.
        let after = server.sql(&format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{database}'"
        ))?;
        assert_eq!(after.trim(), "0", "{instance}");
    }

    let into = dir.path().join("into-good");
    let out = restore_command(&region, "good", &into)?
        .arg("--mariadb-socket")
        .arg(&server.socket)
        .output()?;
    assert!(
        out.status.success(),
        "an ordinary dump restores: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server.sql("SELECT SUM(v) FROM shop.items")?.trim(),
        "60",
        "the ordinary dump's rows are in the server"
    );
    Ok(())
}
