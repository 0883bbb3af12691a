//! What scripts rely on in the `xregion` CLI, against the real API: a list
//! is a JSON array whatever its length, `watch -o json` is one JSON object
//! per line (NDJSON), and the exit status says the class of an error (the
//! table in `xregion --help`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use xregion_domain::Engine;
use xregion_tests::stack::{bin_dir, TOKEN_A};
use xregion_tests::sync::SyncEnv;
use xregion_tests::{Stack, StackOptions};

const LINE_WAIT: Duration = Duration::from_secs(30);

struct Cli {
    endpoint: String,
}

impl Cli {
    fn command(&self, token: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin_dir().unwrap().join("xregion"));
        c.args(args)
            .env("XREGION_ENDPOINT", &self.endpoint)
            .env("XREGION_TOKEN", token);
        c
    }

    fn run(&self, token: &str, args: &[&str]) -> Output {
        self.command(token, args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(TOKEN_A, &[args, &["--output", "json"]].concat());
        assert!(out.status.success(), "xregion {args:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The exit status of a failing command, and what it said.
    fn fails(&self, token: &str, args: &[&str]) -> (Option<i32>, String) {
        let out = self.run(token, args);
        assert!(!out.status.success(), "xregion {args:?} succeeded");
        (out.status.code(), text(&out))
    }
}

use xregion_tests::process::output_text as text;

#[tokio::test]
async fn lists_are_arrays_watch_is_ndjson_and_exit_status_names_the_error() -> anyhow::Result<()> {
    // The API alone: the service stays CREATING, which is all this needs.
    let stack = Stack::start(StackOptions {
        services: vec!["catalog", "api-gateway"],
        ..Default::default()
    })
    .await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let cli = Cli {
        endpoint: format!("http://{}", stack.grpc_addr),
    };

    // Lists: an array with none, and with exactly one.
    assert_eq!(cli.json(&["list"]), serde_json::json!([]));
    env.instance("shape-1", Engine::Mysql, "r1").await?;
    let create = [
        "create",
        "--engine",
        "mysql",
        "--source-region",
        "r1",
        "--instance",
        "shape-1",
        "--target-region",
    ];
    let created = cli.json(&[&create[..], &["r2"]].concat());
    let id = created["id"].as_str().expect("one service is an object");
    let listed = cli.json(&["list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], id);
    let regions = cli.json(&["regions"]);
    assert_eq!(regions.as_array().map(Vec::len), Some(3), "{regions}");
    let dead_letters = Command::new(bin_dir()?.join("xregion"))
        .args(["admin", "dead-letters", "list", "--output", "json"])
        .args(["--nats-url", &stack.nats.url])
        .args(["--namespace", &stack.namespace])
        .output()?;
    assert!(dead_letters.status.success(), "{}", text(&dead_letters));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&dead_letters.stdout)?,
        serde_json::json!([])
    );

    // Exit status by class.
    let (status, said) = cli.fails(TOKEN_A, &["get", "svc-nope"]);
    assert_eq!(status, Some(3), "not found: {said}");
    assert!(said.contains("NotFound"), "{said}");
    let (status, said) = cli.fails(TOKEN_A, &[&create[..], &["r1"]].concat());
    assert_eq!(status, Some(4), "invalid argument: {said}");
    assert!(said.contains("InvalidArgument"), "{said}");
    let (status, said) = cli.fails("wrong-token", &["list"]);
    assert_eq!(status, Some(6), "unauthenticated: {said}");
    let (status, said) = cli.fails(TOKEN_A, &["wait", id, "--timeout-secs", "1"]);
    assert_eq!(status, Some(5), "wait timed out: {said}");
    assert!(said.contains("did not reach RUNNING"), "{said}");
    let (status, said) = cli.fails(TOKEN_A, &["list", "--state", "sleepy"]);
    assert_eq!(status, Some(2), "usage: {said}");
    let help = cli.run(TOKEN_A, &["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit status:"));

    // watch -o json: every line one JSON object, from the first on.
    let mut watch =
        tokio::process::Command::from(cli.command(TOKEN_A, &["watch", id, "-o", "json"]))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(LINE_WAIT, lines.next_line())
        .await??
        .unwrap_or_default();
    let first: serde_json::Value = serde_json::from_str(&first)?;
    assert_eq!(first, serde_json::json!({ "watching": id }));
    // Deleting the service is a state change the watch reports.
    let deleted = cli.json(&["delete", id]);
    assert!(deleted.is_object(), "{deleted}");
    let change = tokio::time::timeout(LINE_WAIT, async {
        while let Some(line) = lines.next_line().await? {
            let event: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| anyhow::anyhow!("not one JSON object per line: {line:?}: {e}"))?;
            if let Some(change) = event.get("state_changed") {
                return anyhow::Ok(change.clone());
            }
        }
        anyhow::bail!("the watch ended")
    })
    .await??;
    assert_eq!(change["service_id"], id);
    assert_eq!(change["to"], "DELETING", "{change}");
    watch.kill().await?;
    Ok(())
}
