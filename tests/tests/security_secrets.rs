//! Secrets never leak and can come from files: `--dump-config` of every
//! binary shows no secret value however it was given (file, environment,
//! flag); a whole stack whose S3 secret key and database URL come from
//! files syncs a backup; a secret file that cannot be read stops start-up
//! with an error naming the key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;

use xregion_tests::net::random_suffix;
use xregion_tests::stack::{bin_dir, SERVICES};
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{Stack, StackOptions};

use xregion_tests::stack::BINARIES;

#[test]
fn dump_config_of_every_binary_shows_no_secret() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tag = random_suffix();
    let secrets = [
        format!("natspw{tag}"),
        format!("dbpw{tag}"),
        format!("s3secret{tag}"),
        format!("s3session{tag}"),
        format!("envdbpw{tag}"),
        format!("flags3{tag}"),
    ];
    let config = dir.path().join("xregion.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[bus]
url = "nats://svc:{nats}@127.0.0.1:4222"

[catalog]
database_url = "postgres://xregion:{db}@db.example:5432/xregion?sslmode=verify-full"

[[regions]]
id = "r1"
url = "s3://bucket-1"
[regions.options]
aws_access_key_id = "AKIDVISIBLE"
aws_secret_access_key = "{s3}"
aws_session_token = "{session}"

[[regions]]
id = "r2"
url = "s3://bucket-2"
[regions.options]
aws_access_key_id = "AKIDVISIBLE"
aws_secret_access_key_file = "/run/secrets/s3-r2"
"#,
            nats = secrets[0],
            db = secrets[1],
            s3 = secrets[2],
            session = secrets[3],
        ),
    )?;
    for bin in BINARIES {
        for (how, env, extra) in [
            ("file", None, vec![]),
            (
                "environment",
                Some(format!(
                    "postgres://xregion:{}@db.example/xregion",
                    secrets[4]
                )),
                vec![],
            ),
            (
                "flag",
                None,
                vec![
                    "--nats-url".to_string(),
                    format!("nats://{}@127.0.0.1:4222", secrets[5]),
                ],
            ),
        ] {
            let mut cmd = Command::new(bin_dir()?.join(bin));
            cmd.arg("--config")
                .arg(&config)
                .args(&extra)
                .arg("--dump-config");
            if bin == "xregion-rds-sim" {
                cmd.arg("demo"); // it wants a command; --dump-config exits first
            }
            if let Some(url) = &env {
                cmd.env("XREGION_CATALOG__DATABASE_URL", url);
            }
            let out = cmd.output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{bin} --dump-config ({how}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{bin} ({how}) shows a secret: {text}"
                );
            }
            // What is not secret is still there to debug with.
            for shown in [
                "aws_secret_access_key",
                "AKIDVISIBLE",
                "/run/secrets/s3-r2",
                "127.0.0.1:4222",
            ] {
                assert!(text.contains(shown), "{bin} ({how}) hides {shown}: {text}");
            }
            if bin == "xregion-catalog" {
                assert!(
                    text.contains("db.example"),
                    "{bin} ({how}) hides the database host: {text}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_stack_with_its_s3_key_and_database_url_from_files_syncs() -> anyhow::Result<()> {
    let secrets = tempfile::tempdir()?;
    let mut stack = Stack::start(StackOptions {
        regions: vec!["r1".into(), "r2".into()],
        services: vec![],
        extra_config: FAST_SYNC_CONFIG.into(),
        ..Default::default()
    })
    .await?;
    // The regions' secret key only as a file: the stack's regions (and the
    // test's own stores) get `aws_secret_access_key_file` instead.
    let s3_secret = stack.region("r1")?.options["aws_secret_access_key"].clone();
    let s3_file = secrets.path().join("s3-secret");
    std::fs::write(&s3_file, format!("{s3_secret}\n"))?;
    let mut regions = stack.regions.clone();
    for region in &mut regions {
        region.options.remove("aws_secret_access_key");
        region.options.insert(
            "aws_secret_access_key_file".into(),
            s3_file.display().to_string(),
        );
    }
    stack.regions = regions.clone();
    let mut config = std::fs::read_to_string(&stack.config_path)?;
    let config_before = config.clone();
    config = config.replace(
        &format!("aws_secret_access_key = \"{s3_secret}\""),
        &format!("aws_secret_access_key_file = \"{}\"", s3_file.display()),
    );
    assert_ne!(config, config_before, "the secret key was in the config");
    assert!(!config.contains(&s3_secret), "{config}");
    // The database URL only as a file; the one in the config is a dead end.
    let db_file = secrets.path().join("database-url");
    std::fs::write(&db_file, format!("{}\n", stack.database_url))?;
    config = config.replace(
        &format!("database_url = \"{}\"", stack.database_url),
        &format!(
            "database_url = \"postgres://nobody@127.0.0.1:1/nothing\"\ndatabase_url_file = \"{}\"",
            db_file.display()
        ),
    );
    assert!(!config.contains(&stack.database_url), "{config}");
    std::fs::write(&stack.config_path, &config)?;

    for service in SERVICES {
        stack.start_service(service, &[]).await?;
    }
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    env.running_service("mysql-files-1", 1_760_000_000_000)
        .await?;

    // A secret file that cannot be read stops start-up and names the key.
    let missing = secrets.path().join("missing");
    let setting = format!("catalog.database_url_file={}", missing.display());
    let log = stack
        .refused_start("catalog-missing-secret", "catalog", &setting)
        .await?;
    assert!(
        log.contains("catalog.database_url_file") && log.contains("missing"),
        "the error names the key and the file: {log}"
    );
    Ok(())
}
