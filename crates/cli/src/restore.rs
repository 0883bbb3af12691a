//! `xregion restore`: disaster recovery from the target region's store
//! alone — no catalog, no NATS. Finds the instance's service in the store,
//! computes the restore plan from its manifests, downloads every file of the
//! plan and verifies its sha256, and writes `plan.json` (files in replay
//! order, chain positions, where replay stops) for the database tooling.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

use anyhow::Context as _;
use futures::StreamExt;
use object_store::path::Path;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use xregion_common::target::{plan_of, read_manifests, service_prefixes, window_of};
use xregion_common::RegionConfig;
use xregion_domain::manifest::Manifest;

/// Where and what to restore: shared by `restore` and `drill`.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The target region's store URL (s3://bucket/prefix, file:///path).
    #[arg(long)]
    pub region_store: String,
    /// Store option KEY=VALUE (S3: aws_endpoint, aws_region, …); repeatable.
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
    };
    let store = xregion_common::regions::build_store(&region)?;
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
    let manifests = read_manifests(store.as_ref(), &prefix).await?;
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
    let mut local = Vec::new();
    for f in &files {
        let dest = into
            .join(&f.backup_id)
            .join(f.file.key.rsplit('/').next().unwrap_or("file"));
        download_verified(
            store.as_ref(),
            &f.file.key,
            &dest,
            &f.file.sha256,
            f.file.size,
        )
        .await?;
        local.push(serde_json::json!({"backup_id": f.backup_id, "kind": f.kind.as_str(), "path": dest, "size": f.file.size, "sha256": f.file.sha256}));
    }
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
            .skip(1)
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
    Ok(())
}

async fn download_verified(
    store: &dyn object_store::ObjectStore,
    key: &str,
    dest: &FsPath,
    sha256: &str,
    size: u64,
) -> anyhow::Result<()> {
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let partial = dest.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial).await?;
    let mut stream = store
        .get(&Path::from(key))
        .await
        .with_context(|| format!("reading {key}"))?
        .into_stream();
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        n += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    let actual = hex::encode(hasher.finalize());
    if n != size || actual != sha256 {
        let _ = tokio::fs::remove_file(&partial).await;
        anyhow::bail!("{key}: got {n} bytes with sha256 {actual}, the manifest says {size} bytes with {sha256}");
    }
    tokio::fs::rename(&partial, dest).await?;
    Ok(())
}
