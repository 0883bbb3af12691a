//! What `deploy/` ships for monitoring (#16 point 3): the Prometheus alert
//! rules pass `promtool check rules` and their unit tests (`promtool test
//! rules`, Debian's `prometheus` package; CI installs it), and the Grafana
//! dashboard is JSON whose every query, like every rule, names only metrics
//! the services export (the names consts of each crate's `metrics.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every metric name the services export.
fn exported() -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.extend(xregion_bus::metrics::NAMES);
    names.extend(xregion_catalog::metrics::NAMES);
    names.extend(xregion_transfer_worker::metrics::NAMES);
    names.extend(xregion_backup_watcher::metrics::NAMES);
    names.extend(xregion_cleanup::metrics::NAMES);
    names.insert("xregion_ready");
    names
}

/// The `xregion_…` metric names in a query; a histogram's series
/// (`_bucket`, `_sum`, `_count`) count as the histogram.
fn names_in(query: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("xregion_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        found.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    found
}

fn unknown_names(query: &str, exported: &BTreeSet<&str>) -> Vec<String> {
    names_in(query)
        .into_iter()
        .filter(|n| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n);
            !exported.contains(n.as_str()) && !exported.contains(base)
        })
        .collect()
}

fn promtool() -> PathBuf {
    let path = Path::new("/usr/bin/promtool");
    assert!(
        path.exists(),
        "promtool is missing: install Debian's prometheus package \
         (apt-get install -y --no-install-recommends prometheus); .ci/run does"
    );
    path.to_path_buf()
}

fn run(args: &[&str]) {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(deploy().join("prometheus"))
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    run(&["check", "rules", "alerts.yml"]);
    run(&["test", "rules", "alerts_test.yml"]);
}

#[test]
fn every_alert_rule_has_a_unit_test_and_queries_exported_metrics() {
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    let tests = std::fs::read_to_string(deploy().join("prometheus/alerts_test.yml")).unwrap();
    let exported = exported();
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap().to_string();
            let expr = rule["expr"].as_str().unwrap();
            assert!(
                !names_in(expr).is_empty(),
                "{name} queries no xregion metric"
            );
            assert_eq!(
                unknown_names(expr, &exported),
                Vec::<String>::new(),
                "{name}"
            );
            // Fired at least once and quiet at least once in the unit tests.
            let evals = tests.matches(&format!("alertname: {name}\n")).count();
            assert!(
                evals >= 2,
                "{name} is evaluated {evals} times in alerts_test.yml"
            );
            alerts.push(name);
        }
    }
    for must in [
        "XregionLagOverPromise",
        "XregionServiceDegraded",
        "XregionDeadLetters",
        "XregionTransfersStalled",
    ] {
        assert!(alerts.iter().any(|a| a == must), "no {must} in {alerts:?}");
    }
}

#[test]
fn the_dashboard_parses_and_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(deploy().join("grafana/xregion-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let exported = exported();
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut queried = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "panel ids repeat"
        );
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap();
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert_eq!(
                unknown_names(expr, &exported),
                Vec::<String>::new(),
                "{title}: {expr}"
            );
            queried.extend(names_in(expr));
        }
    }
    // What the issue asks the dashboard to show.
    for name in [
        "xregion_service_lag_seconds",
        "xregion_service_state",
        "xregion_transfer_backlog_jobs",
        "xregion_transfer_bytes_total",
        "xregion_transfer_failures_total",
        "xregion_transfer_copy_duration_seconds_bucket",
        "xregion_dead_letters_total",
        "xregion_cleanup_sweep_halted_total",
    ] {
        assert!(queried.contains(name), "the dashboard does not show {name}");
    }
    // The 12 h promise is drawn on the lag panel.
    assert!(text.contains("43200"), "no 12 h threshold on the dashboard");
}

#[test]
fn an_unknown_metric_name_is_caught() {
    let exported = exported();
    assert_eq!(
        unknown_names("rate(xregion_transfer_bytes_totl[5m])", &exported),
        ["xregion_transfer_bytes_totl"]
    );
    assert!(unknown_names(
        "histogram_quantile(0.9, rate(xregion_transfer_copy_duration_seconds_bucket[5m]))",
        &exported
    )
    .is_empty());
}
