//! `xregion completions` and `xregion man` from the real binary: they need no
//! server or config (the endpoint points at a closed port and there is no
//! token), exit 0, and cover every subcommand; a shell clap does not know is
//! a usage error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Command, Output};

use xregion_tests::stack::bin_dir;

/// Runs `xregion` with nothing to connect to: port 1 refuses connections.
fn xregion(args: &[&str]) -> Output {
    Command::new(bin_dir().unwrap().join("xregion"))
        .args(args)
        .env("XREGION_ENDPOINT", "http://127.0.0.1:1")
        .env_remove("XREGION_TOKEN")
        .output()
        .unwrap()
}

fn stdout_ok(args: &[&str]) -> String {
    let out = xregion(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "xregion {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const SUBCOMMANDS: [&str; 5] = ["update", "admin", "restore", "drill", "wait"];

#[test]
fn bash_completion_offers_the_subcommands() {
    let script = stdout_ok(&["completions", "bash"]);
    assert!(script.contains("complete -F"), "not a bash script");
    for name in SUBCOMMANDS {
        assert!(script.contains(name), "bash completion lacks {name}");
    }
}

#[test]
fn every_shell_gets_a_script() {
    let zsh = stdout_ok(&["completions", "zsh"]);
    assert!(
        zsh.starts_with("#compdef xregion"),
        "{}",
        &zsh[..80.min(zsh.len())]
    );
    for shell in ["fish", "elvish", "powershell"] {
        let script = stdout_ok(&["completions", shell]);
        assert!(script.contains("update"), "{shell} completion lacks update");
    }
}

#[test]
fn man_covers_every_subcommand() {
    let roff = stdout_ok(&["man"]);
    assert!(roff.starts_with(".ie"), "not roff");
    assert!(roff.contains(".TH xregion 1"), "no top page");
    for name in SUBCOMMANDS {
        assert!(
            roff.contains(&format!(".TH xregion-{name} 1")),
            "no page for {name}"
        );
    }
    assert!(
        roff.contains(".TH xregion-admin-dead-letters-replay 1"),
        "nested page missing"
    );
}

#[test]
fn man_out_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let listed = stdout_ok(&["man", "--out-dir", out_dir.to_str().unwrap()]);
    for name in [
        "xregion",
        "xregion-update",
        "xregion-admin-dead-letters-list",
    ] {
        let page = std::fs::read_to_string(out_dir.join(format!("{name}.1"))).unwrap();
        assert!(
            page.contains(&format!(".TH {name} 1")),
            "{name}.1 is not its page"
        );
        assert!(listed.contains(&format!("{name}.1")), "{name}.1 not listed");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = xregion(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}
