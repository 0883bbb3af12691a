//! The `xregion` CLI against the real stack: every subcommand, its output
//! and its exit status, errors included.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Command, Output, Stdio};

use sha2::Digest;
use std::time::Duration;

use xregion_domain::Engine;
use xregion_tests::restore::{restore_command, store_options};
use xregion_tests::stack::{bin_dir, TOKEN_A};
use xregion_tests::sync::SyncEnv;
use xregion_tests::StackOptions;

struct Cli {
    endpoint: String,
}

impl Cli {
    fn run(&self, token: &str, args: &[&str]) -> Output {
        Command::new(bin_dir().unwrap().join("xregion"))
            .args(args)
            .env("XREGION_ENDPOINT", &self.endpoint)
            .env("XREGION_TOKEN", token)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(TOKEN_A, args);
        assert!(
            out.status.success(),
            "xregion {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Fails with exit status `status` (the classes of `xregion --help`).
    fn err(&self, token: &str, args: &[&str], status: i32) -> String {
        let out = self.run(token, args);
        assert_eq!(
            out.status.code(),
            Some(status),
            "xregion {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

#[tokio::test]
async fn every_subcommand_against_the_real_stack() -> anyhow::Result<()> {
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let cli = Cli {
        endpoint: format!("http://{}", stack.grpc_addr),
    };
    let mut chain = env.chain("cli-1", Engine::Mysql, 1_760_000_000_000).await?;
    let full = env.upstream.emit(&env.source, &chain.full(20_000)).await?;
    let log = env
        .upstream
        .emit(&env.source, &chain.log(60_000, 1_000))
        .await?;

    assert!(cli.ok(&["regions"]).lines().any(|l| l.starts_with("r2 ")));
    assert_eq!(cli.json(&["regions"]).as_array().unwrap().len(), 3);
    assert!(cli
        .ok(&["instances", "--engine", "mysql", "--region", "r1"])
        .contains("cli-1"));
    assert_eq!(
        cli.json(&["instances", "--engine", "sqlserver", "--region", "r1"]),
        serde_json::json!([])
    );

    // `xregion create` of cli-1 from r1 to `target`.
    let create = |target| {
        let from = ["create", "--engine", "mysql", "--source-region", "r1"];
        [
            &from[..],
            &["--instance", "cli-1", "--target-region", target],
        ]
        .concat()
    };
    let id = cli
        .ok(&[create("r2"), vec!["-q"]].concat())
        .trim()
        .to_string();
    assert!(id.starts_with("svc-"), "{id}");
    let again = cli.err(TOKEN_A, &create("r2"), 4);
    assert!(
        again.contains("AlreadyExists") && again.contains(&id),
        "{again}"
    );
    let bad = cli.err(TOKEN_A, &create("r1"), 4);
    assert!(
        bad.contains("InvalidArgument") && bad.contains("target_region"),
        "{bad}"
    );

    env.wait_running(&id, 2).await?;
    let table = cli.ok(&["list"]);
    assert!(table.lines().next().unwrap().contains("LATEST DATA TIME"));
    assert!(table.contains(&id) && table.contains("RUNNING"), "{table}");
    let listed = cli.json(&["list"]);
    assert_eq!(
        listed[0]["id"],
        serde_json::json!(id),
        "a list of one service is still an array: {listed}"
    );
    assert_eq!(cli.json(&["get", &id])["state"], "RUNNING");
    let backups = cli.json(&["backups", &id]);
    assert_eq!(backups.as_array().unwrap().len(), 2);
    assert!(cli.ok(&["backups", &id]).contains(&full.backup_id));
    let window = cli.json(&["window", &id]);
    assert_eq!(window["latest"], "2025-10-09T08:54:20Z");
    assert!(cli.ok(&["window", &id]).contains("latest"));
    let plan = cli.json(&["plan", &id, "--time", "2025-10-09T08:54:00Z"]);
    assert_eq!(plan["full_backup_id"], serde_json::json!(full.backup_id));
    assert_eq!(plan["log_backup_ids"], serde_json::json!([log.backup_id]));
    let outside = cli.err(TOKEN_A, &["plan", &id, "--time", "2020-01-01T00:00:00Z"], 4);
    assert!(outside.contains("FailedPrecondition"), "{outside}");
    assert!(cli
        .err(TOKEN_A, &["plan", &id, "--time", "yesterday"], 2)
        .contains("RFC 3339"));
    let usage = cli.json(&["usage", &id]);
    assert_eq!(
        usage["days"][0]["bytes_transferred"],
        serde_json::json!(21_000)
    );
    assert_eq!(usage["price_plan"], "free-promotion");

    // watch: a live line per finished backup.
    let mut watch = tokio::process::Command::new(bin_dir()?.join("xregion"))
        .args(["watch", &id, "--output", "json"])
        .env("XREGION_ENDPOINT", &cli.endpoint)
        .env("XREGION_TOKEN", TOKEN_A)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = watch.stdout.take().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    // The first line says the server is subscribed: nothing is missed after it.
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await??
        .unwrap_or_default();
    assert!(first.contains("watching"), "{first}");
    let next = env
        .upstream
        .emit(&env.source, &chain.log(60_000, 1_000))
        .await?;
    let line = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("\"synced\"") {
                return anyhow::Ok(line);
            }
        }
        anyhow::bail!("watch ended")
    })
    .await??;
    assert!(line.contains(&next.backup_id), "{line}");
    watch.kill().await?;

    // Disaster recovery from the target store alone: the API endpoint is a
    // dead address, so nothing but the store is used.
    let region = stack.region("r2")?;
    let into = tempfile::tempdir()?;
    let out = restore_command(region, "cli-1", into.path())?.output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(into.path().join("plan.json"))?)?;
    assert_eq!(plan["full_backup_id"], serde_json::json!(full.backup_id));
    assert_eq!(plan["engine"], "mysql");
    for f in plan["files"].as_array().unwrap() {
        let bytes = std::fs::read(f["path"].as_str().unwrap())?;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            f["sha256"].as_str().unwrap()
        );
    }
    assert!(plan["files"].as_array().unwrap().len() >= 2);
    let missing = Command::new(bin_dir()?.join("xregion"))
        .args([
            "restore",
            "--region-store",
            &region.url,
            "--instance",
            "nope",
            "--into",
        ])
        .arg(into.path())
        .args(store_options(region))
        .output()?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no service of instance nope"));

    // Errors: unknown id, bad token, no endpoint.
    assert!(cli
        .err(TOKEN_A, &["get", "svc-nope"], 3)
        .contains("NotFound"));
    assert!(cli.err("wrong", &["list"], 6).contains("Unauthenticated"));
    let down = Command::new(bin_dir()?.join("xregion"))
        .args(["--endpoint", "http://127.0.0.1:1", "list"])
        .output()?;
    assert_eq!(
        down.status.code(),
        Some(5),
        "an endpoint that refuses: unavailable"
    );
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach"));
    let help = Command::new(bin_dir()?.join("xregion"))
        .arg("--help")
        .output()?;
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));

    let deleted = cli.json(&["delete", &id]);
    assert!(
        deleted["state"] == "DELETING" || deleted["state"] == "DELETED",
        "{deleted}"
    );
    Ok(())
}
