//! `xregion restore`: disaster recovery from the target region's store
//! alone — no catalog, no NATS. Finds the instance's service in the store,
//! computes the restore plan from its manifests (each validated; a bad one
//! is reported and skipped), downloads every file of the plan in ranges,
//! resumably, and verifies its sha256, and writes `plan.json` (files in
//! replay order, chain positions, where replay stops) for the database
//! tooling. Files land at `<into>/<backup_id>/<path below the backup's
//! folder>` and nowhere else.

mod download;
mod local;
mod progress;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use xregion_common::target::{plan_of, scan_manifests, service_prefixes, window_of};
use xregion_common::RegionConfig;
use xregion_domain::ids;
use xregion_domain::manifest::Manifest;

use download::{Fetcher, Wanted};

/// Where and what to restore: shared by `restore` and `drill`.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The target region's store URL (s3://bucket/prefix, file:///path).
    #[arg(long)]
    pub region_store: String,
    /// Store option KEY=VALUE (S3: aws_endpoint, aws_region, …; `timeout`
    /// per request, default 30s, must cover one range); repeatable.
    #[arg(long = "store-option", value_parser = parse_kv)]
    pub store_options: Vec<(String, String)>,
    #[arg(long)]
    pub instance: String,
    /// Which service, when the store holds several for the instance.
    #[arg(long)]
    pub service: Option<String>,
    /// RFC 3339, `latest` or `earliest`.
    #[arg(long, default_value = "latest")]
    pub time: String,
    /// Ranged GETs in flight per file (memory: this many ranges).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub parallel: u64,
    /// MiB per ranged GET: each must finish within the store client's
    /// per-request `timeout` (`--store-option timeout=…`, default 30s).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub range_mib: u64,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

pub struct RestoreArgs {
    pub target: TargetArgs,
    pub into: PathBuf,
    /// Apply the plan to this (fresh) MariaDB server's socket.
    pub mariadb_socket: Option<PathBuf>,
}

pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let RestoreArgs {
        target: t,
        into,
        mariadb_socket,
    } = args;
    let region = RegionConfig {
        id: "target".into(),
        display_name: String::new(),
        url: t.region_store.clone(),
        options: t.store_options.iter().cloned().collect::<BTreeMap<_, _>>(),
        source_key_prefix: None,
    };
    let store = xregion_common::regions::build_store(&region)?;
    ids::validate_id("--instance", &t.instance)?;
    if let Some(svc) = &t.service {
        ids::validate_id("--service", svc)?;
    }
    let prefixes = service_prefixes(store.as_ref(), &t.instance).await?;
    let prefix = match (&t.service, prefixes.as_slice()) {
        (Some(svc), _) => prefixes
            .iter()
            .find(|p| p.ends_with(&format!("/{svc}")))
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!("no service {svc} of instance {} in this store", t.instance)
            })?,
        (None, [one]) => one.clone(),
        (None, []) => anyhow::bail!("no service of instance {} in this store", t.instance),
        (None, many) => anyhow::bail!(
            "several services of instance {} in this store, choose one with --service: {}",
            t.instance,
            many.join(", ")
        ),
    };
    let scan = scan_manifests(store.as_ref(), &prefix).await?;
    for bad in &scan.rejected {
        eprintln!("skipping manifest {}: {}", bad.key, bad.reason);
    }
    let manifests = scan.manifests;
    let window =
        window_of(&manifests).ok_or_else(|| anyhow::anyhow!("nothing restorable in {prefix}"))?;
    let time = match t.time.as_str() {
        "latest" => window.latest,
        "earliest" => window.earliest,
        t => chrono::DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--time {t:?} is not RFC 3339, latest or earliest"))?
            .timestamp_millis(),
    };
    let (plan, files) = plan_of(&manifests, time)?;
    tokio::fs::create_dir_all(&into).await?;
    let fetcher = Fetcher {
        range_size: t.range_mib * 1024 * 1024,
        parallel: usize::try_from(t.parallel)?,
        attempts: 6,
    };
    // Sizes come from manifests in the store: summed without overflow.
    let total: u64 = files
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.file.size));
    eprintln!(
        "restoring {} files ({total} bytes) of {prefix} into {}",
        files.len(),
        into.display()
    );
    let mut local = Vec::new();
    let (mut fetched, mut kept) = (0u64, 0u64);
    for f in &files {
        let relative = f
            .relative_path(&prefix)
            .ok_or_else(|| anyhow::anyhow!("{} is not under {prefix}", f.file.key))?;
        let paths = local::local_paths(&into, &f.backup_id, relative)?;
        let label = format!("{}/{relative}", f.backup_id);
        let want = Wanted {
            key: &f.file.key,
            size: f.file.size,
            sha256: &f.file.sha256,
            label: &label,
        };
        let got = fetcher
            .fetch(store.as_ref(), &want, &paths.dest, &paths.partial)
            .await
            .with_context(|| format!("restoring {label}"))?;
        fetched += got.fetched;
        kept += got.resumed;
        local.push(serde_json::json!({"backup_id": f.backup_id, "kind": f.kind.as_str(), "relative_path": relative, "path": paths.dest, "size": f.file.size, "sha256": f.file.sha256}));
    }
    // Only empty folders are left there once every file is in place.
    let _ = std::fs::remove_dir_all(into.join(local::PARTIAL_DIR));
    eprintln!("all files verified: fetched {fetched} bytes, kept {kept} bytes from an earlier run");
    let by_id: BTreeMap<&str, &Manifest> = manifests
        .iter()
        .map(|m| (m.backup_id.as_str(), m))
        .collect();
    let positions: Vec<_> = std::iter::once(&plan.full_backup_id)
        .chain(plan.log_backup_ids.iter())
        .filter_map(|id| by_id.get(id.as_str()).map(|m| serde_json::json!({"backup_id": id, "kind": m.kind.as_str(), "data_start_ms": m.data_start, "data_end_ms": m.data_end, "position": m.position})))
        .collect();
    let engine = manifests
        .first()
        .map(|m| m.engine.as_str())
        .unwrap_or_default();
    let plan_json = serde_json::json!({
        "service_prefix": prefix, "engine": engine, "stop_at_ms": plan.stop_at,
        "full_backup_id": plan.full_backup_id, "log_backup_ids": plan.log_backup_ids, "files": local, "backups": positions,
        "skipped_manifests": scan.rejected.iter().map(|r| serde_json::json!({"key": r.key, "reason": r.reason})).collect::<Vec<_>>(),
    });
    tokio::fs::write(
        into.join("plan.json"),
        serde_json::to_vec_pretty(&plan_json)?,
    )
    .await?;
    if let Some(socket) = &mariadb_socket {
        anyhow::ensure!(
            engine == "mysql",
            "--mariadb-socket applies MySQL plans only (this one is {engine})"
        );
        let full = local
            .first()
            .and_then(|f| f["path"].as_str())
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("plan without a FULL"))?;
        let start = by_id
            .get(plan.full_backup_id.as_str())
            .map(|m| match &m.position {
                xregion_domain::chain::ChainPosition::Mysql { offset, .. } => *offset,
                _ => 4,
            });
        let binlogs: Vec<PathBuf> = local
            .iter()
            .filter(|f| f["kind"] == "log")
            .filter_map(|f| f["path"].as_str().map(PathBuf::from))
            .collect();
        crate::mariadb_apply::apply(socket, &full, start.unwrap_or(4), &binlogs, plan.stop_at)?;
        println!("applied to the MariaDB server at {}", socket.display());
    }
    println!(
        "restored {} files ({} FULL + {} LOG backups) of {prefix} into {}; replay stops at {}",
        files.len(),
        1,
        plan.log_backup_ids.len(),
        into.display(),
        chrono::DateTime::from_timestamp_millis(plan.stop_at)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default()
    );
    if !scan.rejected.is_empty() {
        println!(
            "skipped {} manifests that cannot be trusted (see above and plan.json)",
            scan.rejected.len()
        );
    }
    Ok(())
}
