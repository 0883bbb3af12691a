//! Configuration is strict: a key no service reads stops the binary that
//! reads its section, with a message naming the key, the section and where
//! it was set, whether it came from the shared file, an `XREGION_` variable
//! or `--set`; a value outside its limits names its key; other services'
//! sections in the shared file are accepted; the shipped configuration
//! loads in every binary and `--dump-config` output loads again unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::Path;
use std::process::{Command, Output};

use xregion_tests::stack::bin_dir;

use xregion_tests::stack::BINARIES;

/// A shared file with every service's section, as deployments write it.
const SHARED: &str = r#"
[bus]
url = "nats://127.0.0.1:4222"
backoff_ms = [200, 500, 1000]
max_deliver = 3

[catalog]
database_url = "sqlite://catalog.db?mode=rwc"
relay_interval_ms = 200

[gateway]
listen = "127.0.0.1:50051"
tokens = [{ sha256 = "00", tenant = "tenant-a" }]

[watcher]
reconcile_interval_secs = 2

[worker]
part_size_mib = 5
ack_wait_secs = 4

[cleanup]
sweep_interval_secs = 1
orphan_grace_hours = 0

[[regions]]
id = "r1"
url = "memory://"
"#;

/// `bin --config file --dump-config [args]` with `env` set.
fn dump(bin: &str, file: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin_dir().unwrap().join(bin));
    cmd.arg("--config")
        .arg(file)
        .arg("--dump-config")
        .args(args);
    if bin == "xregion-rds-sim" {
        cmd.arg("demo"); // it wants a command; --dump-config exits first
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_misspelt_key_stops_the_service_that_reads_its_section() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.toml",
        &SHARED.replace(
            "sweep_interval_secs = 1",
            "sweep_interval_secs = 1\nsweep_intervall_secs = 5",
        ),
    );
    let out = dump("xregion-cleanup", &file, &[], &[]);
    let err = stderr(&out);
    assert!(!out.status.success(), "cleanup accepted a typo: {err}");
    assert!(
        err.contains("unknown key `cleanup.sweep_intervall_secs` (section `cleanup`)"),
        "{err}"
    );
    assert!(err.contains(&file.display().to_string()), "{err}");
    // The services that do not read [cleanup] still start on the same file.
    for bin in BINARIES.iter().filter(|b| **b != "xregion-cleanup") {
        let out = dump(bin, &file, &[], &[]);
        assert!(out.status.success(), "{bin}: {}", stderr(&out));
    }
}

#[test]
fn an_unknown_section_stops_every_binary() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "section.toml",
        &format!("{SHARED}\n[transfer]\nlog_concurrency = 8\n"),
    );
    for bin in BINARIES {
        let out = dump(bin, &file, &[], &[]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{bin} accepted [transfer]");
        assert!(err.contains("unknown section `transfer`"), "{bin}: {err}");
    }
}

#[test]
fn environment_and_flag_typos_are_named_where_they_were_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "shared.toml", SHARED);
    let out = dump(
        "xregion-transfer-worker",
        &file,
        &[],
        &[("XREGION_WORKER__PART_SIZE_MB", "8")],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("unknown key `worker.part_size_mb` (section `worker`)")
            && err.contains("XREGION_WORKER__PART_SIZE_MB"),
        "{err}"
    );
    let out = dump(
        "xregion-catalog",
        &file,
        &["--set", "catalog.max_conections=4"],
        &[],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("unknown key `catalog.max_conections` (section `catalog`)")
            && err.contains("command line"),
        "{err}"
    );
    // Variables without `__` are not settings (XREGION_CONFIG, the CLI's).
    let out = dump(
        "xregion-catalog",
        &file,
        &[],
        &[("XREGION_TOKEN", "t"), ("XREGION_NATS_URL", "nats://x:1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_value_outside_its_limits_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "shared.toml", SHARED);
    for (bin, set, key) in [
        (
            "xregion-cleanup",
            "cleanup.max_removal_share=1.5",
            "cleanup.max_removal_share",
        ),
        (
            "xregion-transfer-worker",
            "worker.part_size_mib=4",
            "worker.part_size_mib",
        ),
        (
            "xregion-backup-watcher",
            "watcher.max_in_flight=0",
            "watcher.max_in_flight",
        ),
        (
            "xregion-catalog",
            "bus.request_timeout_secs=0",
            "bus.request_timeout_secs",
        ),
    ] {
        let out = dump(bin, &file, &["--set", set], &[]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{bin} accepted {set}");
        assert!(err.contains(&format!("`{key}`")), "{bin} {set}: {err}");
    }
}

#[test]
fn shipped_and_dumped_configurations_load_in_every_binary() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let compose = root.join("deploy/xregion.compose.toml");
    let shared = write(dir.path(), "shared.toml", SHARED);
    for bin in BINARIES {
        for file in [&compose, &shared] {
            let out = dump(bin, file, &[], &[]);
            assert!(out.status.success(), "{bin} {file:?}: {}", stderr(&out));
            // What --dump-config prints is a configuration that loads again
            // to the same effective values.
            let dumped = write(
                dir.path(),
                "dumped.toml",
                &String::from_utf8(out.stdout).unwrap(),
            );
            let again = dump(bin, &dumped, &[], &[]);
            assert!(again.status.success(), "{bin} dumped: {}", stderr(&again));
            assert_eq!(
                std::fs::read_to_string(&dumped).unwrap(),
                String::from_utf8(again.stdout).unwrap(),
                "{bin} {file:?}"
            );
        }
    }
}
