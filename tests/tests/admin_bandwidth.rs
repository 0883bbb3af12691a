//! `xregion admin bandwidth`: an operator sets, lists and lifts a region
//! pair's limit in the deployment's LIMITS bucket, which every worker
//! follows at runtime (`sync_faults` proves the workers follow it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Command, Output};

use xregion_bus::Namespace;
use xregion_tests::stack::{bin_dir, Stack, StackOptions};

fn admin(stack: &Stack, args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(bin_dir()?.join("xregion"))
        .args(["admin", "bandwidth"])
        .args(args)
        .args(["--nats-url", &stack.nats.url])
        .args(["--namespace", &stack.namespace])
        .output()?)
}

fn listed(stack: &Stack) -> anyhow::Result<serde_json::Value> {
    let out = admin(stack, &["list", "--output", "json"])?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test]
async fn an_operator_sets_lists_and_lifts_a_pairs_limit() -> anyhow::Result<()> {
    // The workers create the bucket.
    let stack = Stack::start(StackOptions::default()).await?;
    assert_eq!(listed(&stack)?, serde_json::json!([]));

    for args in [
        &["set", "--source", "r1", "--target", "r2", "1234"][..],
        &["set", "--source", "r1", "--target", "r2", "--log", "99"],
    ] {
        let out = admin(&stack, args)?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        listed(&stack)?,
        serde_json::json!([
            {"source": "r1", "target": "r2", "lane": "full", "bytes_per_sec": 1234},
            {"source": "r1", "target": "r2", "lane": "log", "bytes_per_sec": 99},
        ])
    );
    // What the workers read.
    let kv = stack
        .probe()
        .await?
        .js
        .get_key_value(stack.ns().limits_bucket())
        .await?;
    let full = kv.get(Namespace::bandwidth_key("r1", "r2", false)).await?;
    assert_eq!(full.as_deref(), Some(&b"1234"[..]));

    let out = admin(&stack, &["lift", "--source", "r1", "--target", "r2"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = listed(&stack)?;
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["lane"], "log");

    // A region id that would change another key, and a zero rate, are
    // usage errors: nothing is written.
    for bad in [
        &["set", "--source", "r1.x", "--target", "r2", "10"][..],
        &["set", "--source", "r1", "--target", "r*", "10"],
        &["set", "--source", "r1", "--target", "r2", "0"],
    ] {
        let out = admin(&stack, bad)?;
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    assert_eq!(listed(&stack)?, left);
    Ok(())
}
