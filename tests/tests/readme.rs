//! Runs the README walkthrough's commands, in order, against a running demo
//! (the simulator's demo workload on a real stack), so the README cannot
//! drift from the program.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;

use xregion_tests::stack::bin_dir;
use xregion_tests::{Stack, StackOptions};

fn walkthrough() -> Vec<String> {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("walkthrough start marker");
    let end = readme
        .find("<!-- walkthrough:end -->")
        .expect("walkthrough end marker");
    readme[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn the_readme_walkthrough_runs_against_the_demo() -> anyhow::Result<()> {
    let commands = walkthrough();
    assert!(commands.len() >= 6, "{commands:?}");
    let stack = Stack::start(StackOptions {
        regions: ["cn-north-1", "cn-east-2", "cn-south-1"]
            .map(String::from)
            .to_vec(),
        tokens: vec![
            ("demo-token-a".into(), "tenant-a".into()),
            ("demo-token-b".into(), "tenant-b".into()),
        ],
        extra_config: "\n[watcher]\nreconcile_interval_secs = 5\n".into(),
        ..Default::default()
    })
    .await?;
    let sim = Command::new(bin_dir()?.join("xregion-rds-sim"))
        .arg("--config")
        .arg(&stack.config_path)
        .args([
            "demo",
            "--until-caught-up",
            "--speed",
            "50000",
            "--full-size",
            "200000",
            "--log-size",
            "2000",
        ])
        .output()?;
    assert!(
        sim.status.success(),
        "simulator: {}",
        String::from_utf8_lossy(&sim.stderr)
    );

    let mut script = String::from("set -euo pipefail\n");
    for c in &commands {
        script.push_str(&format!("echo '>>> {}'\n", c.replace('\'', "")));
        if c.contains("xregion watch") {
            // watch runs until Ctrl-C; a few seconds of it are enough here.
            script.push_str(&format!("timeout 5 {c} || true\n"));
        } else {
            script.push_str(&format!("{c}\n"));
        }
    }
    let path = format!(
        "{}:{}",
        bin_dir()?.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("XREGION_ENDPOINT", format!("http://{}", stack.grpc_addr))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walkthrough failed\n{stdout}\n{stderr}"
    );
    for expected in [
        "cn-east-2",
        "mysql-prod-1",
        "RUNNING",
        "earliest",
        "restore from region cn-east-2",
    ] {
        assert!(
            stdout.contains(expected),
            "walkthrough output lacks {expected:?}:\n{stdout}"
        );
    }
    Ok(())
}
