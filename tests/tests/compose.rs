//! docker-compose.yml cannot run on machines without a Docker engine; this
//! keeps it valid: it parses, every dependency exists, every xregion service
//! (the restore drill too, in its own image) is there, and the shared
//! configuration it mounts loads for each service.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn compose_file_is_consistent() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let services = doc
        .get("services")
        .and_then(|s| s.as_mapping())
        .ok_or_else(|| anyhow::anyhow!("no services"))?;
    let names: BTreeSet<String> = services
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    for required in [
        "nats",
        "postgres",
        "catalog",
        "api-gateway",
        "backup-watcher",
        "transfer-worker",
        "cleanup",
        "drill",
    ] {
        assert!(names.contains(required), "missing service {required}");
    }
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        let merged = svc.get("<<").cloned().unwrap_or(serde_yaml::Value::Null);
        let has_image = svc.get("image").is_some()
            || svc.get("build").is_some()
            || merged.get("image").is_some();
        assert!(has_image || svc.get("<<").is_some(), "{name} has no image");
        let deps = svc.get("depends_on").or_else(|| merged.get("depends_on"));
        if let Some(deps) = deps.and_then(|d| d.as_sequence()) {
            for d in deps {
                let d = d.as_str().unwrap_or_default();
                assert!(names.contains(d), "{name} depends on unknown {d}");
            }
        }
    }
    assert!(root().join("deploy/Dockerfile").is_file());
    Ok(())
}

#[test]
fn compose_config_loads_for_every_service() -> anyhow::Result<()> {
    let file = root().join("deploy/xregion.compose.toml");
    let catalog: xregion_catalog::CatalogConfig = xregion_common::load(Some(&file), &[])?;
    assert!(catalog.catalog.database_url.starts_with("postgres://"));
    assert_eq!(catalog.common.regions.len(), 2);
    let gateway: xregion_api_gateway::GatewayConfig = xregion_common::load(Some(&file), &[])?;
    assert_eq!(gateway.gateway.tokens.len(), 1);
    // The gateway refuses plaintext on 0.0.0.0 unless told; compose tells it
    // and publishes the port on the host's loopback only.
    assert!(gateway.gateway.allow_plaintext || gateway.gateway.tls.cert_file.is_some());
    let compose = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    assert!(
        compose.contains("\"127.0.0.1:50051:50051\""),
        "the plaintext gRPC port must be published on loopback only"
    );
    // Every region's options are known to the S3 client.
    xregion_common::Regions::build(&catalog.common.regions)?;
    Ok(())
}

#[test]
fn compose_publishes_only_the_gateway_and_nats_runs_with_the_shipped_permissions(
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let services = doc["services"]
        .as_mapping()
        .ok_or_else(|| anyhow::anyhow!("no services"))?;
    let published: Vec<&str> = services
        .iter()
        .filter(|(_, svc)| svc.get("ports").is_some())
        .filter_map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(published, ["api-gateway"], "only the gateway is published");

    let nats = &services[&serde_yaml::Value::from("nats")];
    let volumes = format!("{:?}", nats["volumes"]);
    assert!(
        volumes.contains("./deploy/nats/nats-server.conf:/etc/nats/nats-server.conf"),
        "nats mounts the shipped configuration: {volumes}"
    );
    assert!(format!("{:?}", nats["command"]).contains("/etc/nats/nats-server.conf"));
    let secrets = doc["secrets"]
        .as_mapping()
        .ok_or_else(|| anyhow::anyhow!("no secrets"))?;
    let conf = std::fs::read_to_string(root().join("deploy/nats/nats-server.conf"))?;
    for name in [
        "catalog",
        "api-gateway",
        "backup-watcher",
        "transfer-worker",
        "cleanup",
        "drill",
    ] {
        let svc = &services[&serde_yaml::Value::from(name)];
        let command = format!("{:?}", svc["command"]);
        assert!(
            command.contains(&format!("bus.user={name}")),
            "{name} runs as its own NATS user: {command}"
        );
        assert!(
            conf.contains(&format!("{{ user: \"{name}\"")),
            "{name} is a user in deploy/nats/nats-server.conf"
        );
        let secret = format!("nats-{name}");
        assert!(
            format!("{:?}", svc["secrets"]).contains(&secret),
            "{name} gets {secret}"
        );
        assert!(secrets.contains_key(serde_yaml::Value::from(secret.as_str())));
    }

    // Compose knows when a service is ready, and every image is pinned.
    let template = &doc["x-xregion"];
    let probe = format!("{:?}", template["healthcheck"]["test"]);
    assert!(
        probe.contains("/readyz"),
        "services probed on /readyz: {probe}"
    );
    let postgres = &services[&serde_yaml::Value::from("postgres")];
    assert!(format!("{:?}", postgres["healthcheck"]).contains("pg_isready"));
    assert!(format!("{:?}", template["depends_on"]).contains("service_healthy"));
    for (name, svc) in services {
        // A service with `build` names the image compose builds (the
        // drill's, from deploy/Dockerfile, whose bases are checked below).
        if svc.get("build").is_some() {
            continue;
        }
        if let Some(image) = svc.get("image").and_then(|i| i.as_str()) {
            let (_, tag) = image
                .rsplit_once(':')
                .ok_or_else(|| anyhow::anyhow!("{name:?}: {image} has no tag"))?;
            assert!(
                tag != "latest" && (tag.contains('.') || tag.starts_with("RELEASE.")),
                "{name:?}: {image} is not pinned to a release"
            );
        }
    }
    let dockerfile_text = std::fs::read_to_string(root().join("deploy/Dockerfile"))?;
    for from in dockerfile_text.lines().filter(|l| l.starts_with("FROM ")) {
        assert!(
            from.contains('@')
                || from
                    .split(':')
                    .nth(1)
                    .is_some_and(|t| t.chars().any(|c| c.is_ascii_digit())),
            "base image not pinned: {from}"
        );
    }

    // The image holds binaries only: no configuration, no secrets.
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile"))?;
    let (_, final_stage) = dockerfile
        .rsplit_once("\nFROM ")
        .ok_or_else(|| anyhow::anyhow!("no final stage"))?;
    for line in final_stage.lines().filter(|l| l.starts_with("COPY")) {
        assert!(
            line.contains("--from=build") && line.contains("/release/xregion-"),
            "the image copies more than the binaries: {line}"
        );
    }
    // The operator's CLI is in the image.
    assert!(
        final_stage
            .lines()
            .any(|l| l.starts_with("COPY") && l.contains("/release/xregion ")),
        "the image lacks the xregion CLI"
    );
    let ignored = std::fs::read_to_string(root().join(".dockerignore"))?;
    assert!(ignored.lines().any(|l| l.trim() == "deploy/nats/secrets"));

    // Loaded as compose does: the shared file, then the service's flags.
    let file = root().join("deploy/xregion.compose.toml");
    let catalog: xregion_catalog::CatalogConfig =
        xregion_common::load(Some(&file), &[("bus.user".into(), "catalog".into())])?;
    assert_eq!(catalog.common.bus.user.as_deref(), Some("catalog"));
    assert!(!catalog.common.bus.create_upstream_stream);
    Ok(())
}

/// `${VAR:-default}` as compose interpolates it, from `vars`.
fn interpolate(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let (name, default) = rest[start + 2..end].split_once(":-").unwrap();
        let value = vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        out.push_str(value.unwrap_or(default));
        rest = &rest[end + 1..];
    }
    out + rest
}

#[cfg(unix)]
#[test]
fn image_runs_as_non_root_and_compose_secrets_stay_readable() -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;

    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile"))?;
    let (_, final_stage) = dockerfile
        .rsplit_once("\nFROM ")
        .ok_or_else(|| anyhow::anyhow!("no final stage"))?;
    let user = final_stage
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .ok_or_else(|| anyhow::anyhow!("the final stage has no USER: it runs as root"))?
        .trim();
    assert_eq!(user, "10001:10001", "numeric non-root USER, as deploy/k8s");

    // Every xregion service runs as the image's user by default, or as the
    // owner of the secret files when told (the documented way to run it).
    let text = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let template = doc["x-xregion"]["user"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("x-xregion has no user"))?;
    assert_eq!(interpolate(template, &[]), user);
    assert!(text.contains("XREGION_UID=$(id -u) XREGION_GID=$(id -g) docker compose up"));
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        if svc.get("secrets").is_some() {
            let merged = svc.get("user").or_else(|| svc["<<"].get("user"));
            assert_eq!(merged.and_then(|u| u.as_str()), Some(template), "{name:?}");
        }
    }

    // The secrets gen-secrets.sh makes are 0600 and owned by whoever ran it:
    // readable in the container exactly when it runs as that uid.
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("gen-secrets.sh");
    std::fs::copy(root().join("deploy/nats/gen-secrets.sh"), &script)?;
    let status = std::process::Command::new("sh")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .status()?;
    assert!(status.success());
    let secret = std::fs::metadata(dir.path().join("secrets/catalog.password"))?;
    assert_eq!(secret.mode() & 0o777, 0o600);
    let drill = std::fs::metadata(dir.path().join("secrets/drill.password"))?;
    assert_eq!(
        drill.mode() & 0o777,
        0o600,
        "the drill's secret is made too"
    );
    let (uid, gid) = (secret.uid().to_string(), secret.gid().to_string());
    let runs_as = interpolate(template, &[("XREGION_UID", &uid), ("XREGION_GID", &gid)]);
    assert_eq!(runs_as, format!("{uid}:{gid}"));
    Ok(())
}

/// The Dockerfile stage `FROM … AS <name>`, up to the next stage.
fn stage<'a>(dockerfile: &'a str, name: &str) -> Option<&'a str> {
    let suffix = format!(" AS {name}");
    let start = dockerfile
        .match_indices("FROM ")
        .map(|(i, _)| i)
        .find(|&i| {
            dockerfile[i..]
                .lines()
                .next()
                .is_some_and(|l| l.trim_end().ends_with(&suffix))
        })?;
    let rest = &dockerfile[start..];
    let end = rest[5..].find("\nFROM ").map_or(rest.len(), |e| e + 5);
    Some(&rest[..end])
}

/// The restore drill (README "Scheduled drills") runs in its own image:
/// the Dockerfile's stage `drill`, the general image plus MariaDB's tools,
/// non-root, with a scratch folder any uid can use; the last stage (what
/// `docker build` makes without --target) stays the general image, and
/// compose builds the drill's from its target with its own NATS secret.
#[test]
fn the_drill_runs_in_its_own_image_with_mariadb_and_a_scratch() -> anyhow::Result<()> {
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile"))?;
    let drill = stage(&dockerfile, "drill")
        .ok_or_else(|| anyhow::anyhow!("deploy/Dockerfile has no stage `AS drill`"))?;
    let install = drill
        .lines()
        .find(|l| l.contains("apt-get install"))
        .ok_or_else(|| anyhow::anyhow!("the drill stage installs nothing"))?;
    for package in [
        "--no-install-recommends",
        "ca-certificates",
        "mariadb-server",
        "mariadb-client",
        "mariadb-backup",
    ] {
        assert!(
            install.split_whitespace().any(|w| w == package),
            "{package}: {install}"
        );
    }
    let copies: Vec<&str> = drill.lines().filter(|l| l.starts_with("COPY")).collect();
    for line in &copies {
        assert!(
            line.contains("--from=build") && line.contains("/release/xregion-"),
            "the drill image copies more than the binaries: {line}"
        );
    }
    assert!(
        copies.iter().any(|l| l.contains("/release/xregion ")),
        "the drill runs the xregion CLI beside xregion-drill"
    );
    let user = drill
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back();
    assert_eq!(
        user.map(str::trim),
        Some("10001:10001"),
        "non-root, as deploy/k8s"
    );
    // TMPDIR: each drill's folder (backup, datadir, socket) goes below it.
    let tmpdir = drill
        .lines()
        .find_map(|l| l.strip_prefix("ENV TMPDIR="))
        .ok_or_else(|| anyhow::anyhow!("the drill image sets no TMPDIR"))?
        .trim();
    assert!(
        drill.contains(&format!("mkdir -m 1777 {tmpdir}")),
        "{tmpdir} is writable by any uid compose runs the image as"
    );
    assert!(drill.contains(&format!("VOLUME {tmpdir}")));
    let (_, last) = dockerfile
        .rsplit_once("\nFROM ")
        .ok_or_else(|| anyhow::anyhow!("no final stage"))?;
    assert!(
        !last.contains("mariadb") && !last.lines().next().unwrap_or("").contains(" AS drill"),
        "the default target stays the general image"
    );

    let text = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let services = doc["services"]
        .as_mapping()
        .ok_or_else(|| anyhow::anyhow!("no services"))?;
    let drill = &services[&serde_yaml::Value::from("drill")];
    assert_eq!(drill["build"]["target"].as_str(), Some("drill"));
    assert_eq!(
        drill["build"]["dockerfile"].as_str(),
        Some("deploy/Dockerfile")
    );
    let image = drill["image"].as_str().unwrap_or_default();
    assert!(image.starts_with("xregion-drill:"), "{image}");
    assert_eq!(drill["command"][0].as_str(), Some("xregion-drill"));
    let volumes = format!("{:?}", drill["volumes"]);
    assert!(
        volumes.contains(":/etc/xregion/xregion.toml:ro"),
        "{volumes}"
    );
    assert!(volumes.contains(&format!(":{tmpdir}\"")), "{volumes}");
    assert!(drill.get("ports").is_none());
    for (name, svc) in services {
        if svc.get("<<").is_some() && name.as_str() != Some("drill") {
            assert!(
                svc.get("build").is_none() && svc.get("image").is_none(),
                "{name:?} runs the general image"
            );
        }
    }

    // Loaded as compose does: the shared file, then its flags.
    let file = root().join("deploy/xregion.compose.toml");
    let config: xregion_drill::DrillConfig =
        xregion_common::load(Some(&file), &[("bus.user".into(), "drill".into())])?;
    assert_eq!(config.common.bus.user.as_deref(), Some("drill"));
    assert_eq!(config.drill.engines(), [xregion_domain::Engine::Mysql]);
    assert!(config.drill.cli.is_none(), "the CLI beside xregion-drill");
    Ok(())
}
