//! The `xregion` CLI's config file against the real gateway: a profile
//! supplies endpoint and token file, flags and environment override it, and
//! a bad file or profile is a usage error (exit 2) naming what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::Path;
use std::process::{Command, Output};

use xregion_tests::stack::{bin_dir, Stack, TOKEN_A};
use xregion_tests::StackOptions;

/// The binary with none of the caller's XREGION_* settings leaking in.
fn xregion(config: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(bin_dir().unwrap().join("xregion"));
    for var in [
        "XREGION_ENDPOINT",
        "XREGION_TOKEN",
        "XREGION_PROFILE",
        "XREGION_CA_CERT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("XREGION_CONFIG", config)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn profiles_select_endpoint_and_token_file() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::api_only()).await?;
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("token-a");
    std::fs::write(&token, format!("{TOKEN_A}\n"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600))?;
    }
    let config = dir.path().join("config.toml");
    // `current` points at a dead port, so only a working selection succeeds;
    // the token file is relative: resolved against the config's directory.
    std::fs::write(
        &config,
        format!(
            "current = \"dead\"\n\
             [profiles.dead]\nendpoint = \"http://127.0.0.1:9\"\ntoken_file = \"token-a\"\n\
             [profiles.live]\nendpoint = \"http://{}\"\ntoken_file = \"token-a\"\n\
             [profiles.anonymous]\nendpoint = \"http://{}\"\n",
            stack.grpc_addr, stack.grpc_addr
        ),
    )?;

    let out = xregion(
        &config,
        &[],
        &["--profile", "live", "regions", "-o", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let regions: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(regions.as_array().map(Vec::len), Some(3));
    assert!(
        !stderr(&out).contains(TOKEN_A),
        "token printed: {}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("warning"),
        "0600 file warned about: {}",
        stderr(&out)
    );

    // XREGION_PROFILE selects like the flag.
    let out = xregion(&config, &[("XREGION_PROFILE", "live")], &["regions"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Without a selection `current` (the dead port) is used: unavailable (5).
    let out = xregion(&config, &[], &["regions"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));

    // The flag beats the profile's endpoint, the env token the missing one.
    let live = format!("http://{}", stack.grpc_addr);
    let out = xregion(&config, &[], &["--endpoint", &live, "regions"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = xregion(&config, &[], &["--profile", "anonymous", "regions"]);
    assert_eq!(out.status.code(), Some(6), "no token: {}", stderr(&out));
    let out = xregion(
        &config,
        &[("XREGION_TOKEN", TOKEN_A)],
        &["--profile", "anonymous", "regions"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // A missing profile: usage error naming it and the known ones.
    let out = xregion(&config, &[], &["--profile", "qa", "regions"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"qa\"") && stderr(&out).contains("anonymous, dead, live"),
        "{}",
        stderr(&out)
    );

    // An unknown key: usage error naming the key and the file.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[profiles.live]\nendpoint = \"x\"\ntoken = \"secret\"\n",
    )?;
    let out = xregion(&bad, &[], &["--profile", "live", "regions"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("token") && err.contains(&bad.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("secret"), "value echoed: {err}");
    Ok(())
}
