//! deploy/k8s cannot be applied to a cluster here; this keeps it valid
//! offline: each kustomization renders (`kubectl kustomize`, else
//! `kustomize build`), every object passes `kubernetes-validate --strict`
//! (schemas bundled, no cluster), and the rendered objects hold what the
//! deployment relies on: replicas, probes, a locked-down pod, a PDB each,
//! the restore drill (one replica, its own image, a scratch volume), a
//! 3-node NATS, default-deny networking, placeholder-only Secrets, and a
//! configuration that loads. Without the tools the test is skipped, except
//! under CI=true where it fails naming what is missing (.ci/run installs
//! kubernetes-validate).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;
use xregion_tests::stack::SERVICES;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The renderer's command line, or None when neither is installed.
fn renderer() -> Option<Vec<&'static str>> {
    if runs("kubectl", &["version", "--client"]) {
        return Some(vec!["kubectl", "kustomize"]);
    }
    runs("kustomize", &["version"]).then(|| vec!["kustomize", "build"])
}

/// True when the tools are there; otherwise skips, or fails under CI.
fn tools_present() -> bool {
    let mut missing = Vec::new();
    if renderer().is_none() {
        missing.push("kubectl (for `kubectl kustomize`) or kustomize");
    }
    if !runs("kubernetes-validate", &["--version"]) {
        missing.push("kubernetes-validate (`pip install kubernetes-validate`)");
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "deploy/k8s cannot be validated: missing {}",
        missing.join(", ")
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    false
}

/// Renders one kustomization, checks it with kubernetes-validate --strict
/// and returns its objects.
fn render_and_validate(dir: &str) -> Vec<Value> {
    let renderer = renderer().unwrap();
    let out = Command::new(renderer[0])
        .args(&renderer[1..])
        .arg(root().join(dir))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{dir} does not render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rendered.yaml");
    std::fs::write(&file, &text).unwrap();
    let check = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{dir} fails kubernetes-validate --strict:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> BTreeMap<String, &'a Value> {
    objects
        .iter()
        .filter(|o| o["kind"].as_str() == Some(kind))
        .map(|o| (o["metadata"]["name"].as_str().unwrap().to_string(), o))
        .collect()
}

fn probe_path(container: &Value, probe: &str) -> String {
    container[probe]["httpGet"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no {probe} httpGet path"))
        .to_string()
}

fn pdb_covers(pdbs: &BTreeMap<String, &Value>, workload: &Value) -> bool {
    let labels = &workload["spec"]["selector"]["matchLabels"];
    pdbs.values()
        .any(|p| &p["spec"]["selector"]["matchLabels"] == labels)
}

/// The pod shape every xregion Deployment shares: non-root, probed on the
/// health port, bounded, its own NATS user and password (group-readable).
fn locked_down_with_its_own_identity(service: &str, d: &Value) {
    let pod = &d["spec"]["template"]["spec"];
    let security = &pod["securityContext"];
    assert_eq!(security["runAsNonRoot"], Value::from(true), "{service}");
    assert_eq!(security["runAsUser"], Value::from(10001), "{service}");
    assert_eq!(security["fsGroup"], Value::from(10001), "{service}");
    assert_eq!(
        security["seccompProfile"]["type"],
        Value::from("RuntimeDefault")
    );
    let containers = pod["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1, "{service}");
    let c = &containers[0];
    assert_eq!(probe_path(c, "livenessProbe"), "/livez", "{service}");
    assert_eq!(probe_path(c, "readinessProbe"), "/readyz", "{service}");
    let cs = &c["securityContext"];
    assert_eq!(cs["readOnlyRootFilesystem"], Value::from(true));
    assert_eq!(cs["allowPrivilegeEscalation"], Value::from(false));
    assert_eq!(
        cs["capabilities"]["drop"],
        serde_yaml::from_str::<Value>("[ALL]").unwrap()
    );
    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                !c["resources"][bound][resource].is_null(),
                "{service} has no {bound}.{resource}"
            );
        }
    }
    // Its own NATS identity and password, readable by the pod's group.
    let env = format!("{:?}", c["env"]);
    assert!(env.contains("XREGION_BUS__USER") && env.contains(service));
    let volumes = pod["volumes"].as_sequence().unwrap();
    let secrets: Vec<&Value> = volumes.iter().filter(|v| !v["secret"].is_null()).collect();
    assert!(secrets
        .iter()
        .any(|v| v["secret"]["secretName"].as_str() == Some(&format!("xregion-nats-{service}"))));
    for v in secrets {
        assert_eq!(v["secret"]["defaultMode"], Value::from(0o440), "{service}");
    }
}

fn image(workload: &Value) -> &str {
    workload["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
}

#[test]
fn every_service_runs_twice_probed_locked_down_and_budgeted() {
    if !tools_present() {
        return;
    }
    let objects = render_and_validate("deploy/k8s/overlays/example");
    render_and_validate("deploy/k8s/base");
    let deployments = of_kind(&objects, "Deployment");
    let pdbs = of_kind(&objects, "PodDisruptionBudget");
    for service in SERVICES {
        let d = deployments
            .get(service)
            .unwrap_or_else(|| panic!("no Deployment {service}"));
        assert!(d["spec"]["replicas"].as_u64().unwrap() >= 2, "{service}");
        locked_down_with_its_own_identity(service, d);
        assert!(
            !image(d).contains("xregion-drill"),
            "{service} runs the general image"
        );
        assert!(pdb_covers(&pdbs, d), "no PodDisruptionBudget for {service}");
    }
    for pdb in pdbs.values() {
        assert!(pdb["spec"]["minAvailable"].as_u64().unwrap() >= 1);
    }
    let gateway = of_kind(&objects, "Service");
    assert!(
        gateway.contains_key("api-gateway"),
        "no Service api-gateway"
    );
}

/// True when the policy's podSelector selects a pod with these labels.
fn selects(policy: &Value, labels: &Value) -> bool {
    let selector = &policy["spec"]["podSelector"];
    let label = |key: &Value| labels.get(key).and_then(Value::as_str);
    let by_labels = selector["matchLabels"]
        .as_mapping()
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let by_expressions = selector["matchExpressions"].as_sequence().is_none_or(|es| {
        es.iter().all(|e| {
            assert_eq!(e["operator"].as_str(), Some("In"), "{e:?}");
            let values = e["values"].as_sequence().unwrap();
            label(&e["key"]).is_some_and(|l| values.iter().any(|v| v.as_str() == Some(l)))
        })
    });
    by_labels && by_expressions
}

/// `20Gi` as 20.
fn gibibytes(quantity: &str) -> u64 {
    if let Some(n) = quantity.strip_suffix("Ti") {
        return n.parse::<u64>().unwrap() * 1024;
    }
    let n = quantity.strip_suffix("Gi");
    n.unwrap_or_else(|| panic!("{quantity}: not in Gi or Ti"))
        .parse()
        .unwrap()
}

/// The restore drill (README "Scheduled drills"). Not in SERVICES, which
/// every test stack starts, but deployed like them: one replica, the same
/// locked-down pod, its own image with MariaDB's tools, a scratch volume
/// for a whole restore, and the network paths to NATS and the stores.
#[test]
fn the_drill_runs_once_locked_down_with_its_image_scratch_and_paths() {
    if !tools_present() {
        return;
    }
    for dir in ["deploy/k8s/base", "deploy/k8s/overlays/example"] {
        let objects = render_and_validate(dir);
        let deployments = of_kind(&objects, "Deployment");
        let d = deployments
            .get("drill")
            .unwrap_or_else(|| panic!("{dir}: no Deployment drill"));
        assert_eq!(d["spec"]["replicas"], Value::from(1), "one drill at a time");
        locked_down_with_its_own_identity("drill", d);
        let pod = &d["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["command"][0].as_str(), Some("xregion-drill"));
        // Its own image (deploy/Dockerfile --target drill), pinned.
        let (name, tag) = image(d).rsplit_once(':').unwrap();
        assert!(
            name == "xregion-drill" || name.ends_with("/xregion-drill"),
            "{dir}: the drill runs {}",
            image(d)
        );
        assert!(tag.chars().any(|c| c.is_ascii_digit()), "{}", image(d));
        let env = |name: &str| {
            c["env"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|e| e["name"].as_str() == Some(name))
                .and_then(|e| e["value"].as_str())
        };
        assert_eq!(env("XREGION_BUS__USER"), Some("drill"));
        // The root filesystem is read-only: TMPDIR, where each drill's
        // folder goes, is a writable emptyDir large enough for a restore.
        let tmpdir = env("TMPDIR").expect("the drill sets TMPDIR to its scratch");
        let mount = c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(tmpdir))
            .unwrap_or_else(|| panic!("nothing mounted at TMPDIR {tmpdir}"));
        assert_ne!(mount["readOnly"], Value::from(true), "{tmpdir}");
        let volume = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let size = volume["emptyDir"]["sizeLimit"]
            .as_str()
            .expect("the scratch is a sized emptyDir");
        assert!(gibibytes(size) >= 10, "scratch of {size}: too small");
        // One replica: no budget may keep it, or node drains would block.
        for pdb in of_kind(&objects, "PodDisruptionBudget").values() {
            if pdb["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"] {
                assert!(pdb["spec"]["minAvailable"].as_u64().unwrap_or(0) < 1);
            }
        }
        // Egress to NATS and to the object stores, as the worker has.
        let labels = &d["spec"]["template"]["metadata"]["labels"];
        let policies = of_kind(&objects, "NetworkPolicy");
        for port in [4222, 443] {
            assert!(
                policies.values().any(|p| selects(p, labels)
                    && format!("{:?}", p["spec"]["egress"]).contains(&format!("Number({port})"))),
                "{dir}: no egress policy lets the drill reach port {port}"
            );
        }
    }
}

#[test]
fn nats_is_three_pinned_nodes_with_a_store_and_the_shipped_configuration() {
    if !tools_present() {
        return;
    }
    let objects = render_and_validate("deploy/k8s/overlays/example");
    let sets = of_kind(&objects, "StatefulSet");
    let nats = sets.get("nats").expect("no StatefulSet nats");
    assert_eq!(nats["spec"]["replicas"], Value::from(3));
    assert!(pdb_covers(&of_kind(&objects, "PodDisruptionBudget"), nats));
    let image = nats["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    let tag = image.split_once(':').map(|(_, t)| t).unwrap_or("latest");
    assert!(
        tag.split(['.', '-'])
            .take(3)
            .all(|p| p.parse::<u32>().is_ok()),
        "NATS image not pinned to a version: {image}"
    );
    assert!(
        !nats["spec"]["volumeClaimTemplates"].is_null(),
        "no JetStream volume"
    );
    let volumes = format!("{:?}", nats["spec"]["template"]["spec"]["volumes"]);
    assert!(volumes.contains("nats-passwords") && volumes.contains("nats-route-tls"));
    // The ConfigMap holds deploy/nats's files as they are (no copy to drift).
    let maps = of_kind(&objects, "ConfigMap");
    let (_, config) = maps
        .iter()
        .find(|(name, _)| name.starts_with("nats-config"))
        .expect("no nats-config ConfigMap");
    for file in ["cluster.conf", "nats-server.conf"] {
        let shipped = std::fs::read_to_string(root().join("deploy/nats").join(file)).unwrap();
        assert_eq!(
            config["data"][file].as_str(),
            Some(shipped.as_str()),
            "{file}"
        );
    }
    // Default deny, then the allowed paths.
    let policies = of_kind(&objects, "NetworkPolicy");
    let deny = policies
        .get("default-deny")
        .expect("no default-deny policy");
    assert_eq!(
        deny["spec"]["podSelector"],
        serde_yaml::from_str::<Value>("{}").unwrap()
    );
    assert!(deny["spec"]["ingress"].is_null() && deny["spec"]["egress"].is_null());
    let ports = format!("{:?}", policies.values().collect::<Vec<_>>());
    for port in [4222, 6222, 5432, 443, 50051, 9100] {
        assert!(
            ports.contains(&format!("Number({port})")),
            "no policy for port {port}"
        );
    }
}

/// A value that looks like a real secret: a long run of key-like characters.
fn looks_real(value: &str) -> bool {
    value.contains("-----BEGIN")
        || value
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+'))
            .any(|run| run.len() >= 20)
}

#[test]
fn secrets_are_placeholders_and_the_configuration_loads() {
    if !tools_present() {
        return;
    }
    let objects = render_and_validate("deploy/k8s/overlays/example");
    let secrets = of_kind(&objects, "Secret");
    assert!(secrets.len() >= 7, "Secrets missing: {:?}", secrets.keys());
    for (name, secret) in &secrets {
        assert!(
            secret["data"].is_null(),
            "{name}: placeholders go in stringData"
        );
        for (key, value) in secret["stringData"].as_mapping().unwrap() {
            let value = value.as_str().unwrap();
            assert!(
                value.contains("change-me"),
                "{name}.{key:?} is no placeholder"
            );
            assert!(
                !looks_real(value),
                "{name}.{key:?} looks like a real secret"
            );
        }
    }
    // Every Secret a pod mounts has its placeholder, so the example shows all.
    for workload in of_kind(&objects, "Deployment").values() {
        for v in workload["spec"]["template"]["spec"]["volumes"]
            .as_sequence()
            .unwrap()
        {
            if let Some(name) = v["secret"]["secretName"].as_str() {
                assert!(secrets.contains_key(name), "no placeholder for {name}");
            }
        }
    }
    let database = secrets["xregion-catalog-database"]["stringData"]["url"]
        .as_str()
        .unwrap();
    assert!(database.starts_with("postgres://") && database.contains("sslmode=verify-full"));

    // The mounted configuration, loaded as the pods load it.
    let maps = of_kind(&objects, "ConfigMap");
    let (_, config) = maps
        .iter()
        .find(|(name, _)| name.starts_with("xregion-config"))
        .expect("no xregion-config ConfigMap");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("xregion.toml");
    std::fs::write(&file, config["data"]["xregion.toml"].as_str().unwrap()).unwrap();
    let user = |name: &str| [("bus.user".to_string(), name.to_string())];
    let catalog: xregion_catalog::CatalogConfig =
        xregion_common::load(Some(Path::new(&file)), &user("catalog")).unwrap();
    let bus = &catalog.common.bus;
    assert_eq!(bus.replicas, 3);
    assert!(!bus.create_upstream_stream);
    assert_eq!(bus.url.split(',').count(), 3, "{}", bus.url);
    assert!(bus.password_file.is_some());
    assert!(catalog.catalog.database_url_file.is_some());
    let gateway: xregion_api_gateway::GatewayConfig =
        xregion_common::load(Some(Path::new(&file)), &user("api-gateway")).unwrap();
    assert!(gateway.gateway.tls.cert_file.is_some() && !gateway.gateway.allow_plaintext);
    // The drill's defaults: mysql, and the xregion CLI beside it in its image.
    let drill: xregion_drill::DrillConfig =
        xregion_common::load(Some(Path::new(&file)), &user("drill")).unwrap();
    assert_eq!(drill.common.bus.user.as_deref(), Some("drill"));
    assert!(drill.common.bus.password_file.is_some());
    assert_eq!(drill.drill.engines(), [xregion_domain::Engine::Mysql]);
    assert!(drill.drill.cli.is_none());
}
