//! `xregion restore`: disaster recovery from the target region's store
//! alone — no catalog, no NATS. Finds the instance's service in the store,
//! computes the restore plan from its manifests (each validated; a bad one
//! is reported and skipped), downloads every file of the plan in ranges,
//! resumably, and verifies its sha256, and writes `plan.json` (files in
//! replay order, chain positions, where replay stops) for the database
//! tooling (and, for SQL Server, `restore.sql`). Files land at `<into>/<backup_id>/<path below the backup's
//! folder>` and nowhere else.

mod apply;
mod download;
mod keys;
mod local;
mod plan_json;
mod progress;
mod tsql_script;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use object_store::ObjectStore;
use xregion_common::target::{plan_of, scan_manifests, service_prefixes, window_of};
use xregion_common::RegionConfig;
use xregion_domain::ids;
use xregion_domain::manifest::PlanFile;
use xregion_domain::Engine;

use crate::args::TimeArg;
use crate::mariadb_apply::Login;
use apply::{check_apply, ApplyTo};
use download::{Fetcher, Wanted};
pub use plan_json::PlanJson;
use plan_json::RestoredFile;

/// Where and what to restore: shared by `restore` and `drill`.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The target region's store URL (s3://bucket/prefix, file:///path).
    #[arg(long)]
    pub region_store: String,
    /// Store option KEY=VALUE (S3: aws_endpoint, aws_region, …; `timeout`
    /// per request, default 30s, must cover one range); repeatable. Also
    /// from XREGION_STORE_OPTIONS, one KEY=VALUE a line, which keeps
    /// secrets out of the process list (the drill role passes them so).
    #[arg(
        long = "store-option",
        value_parser = parse_kv,
        env = "XREGION_STORE_OPTIONS",
        value_delimiter = '\n',
        hide_env_values = true
    )]
    pub store_options: Vec<(String, String)>,
    #[arg(long)]
    pub instance: String,
    /// Which service, when the store holds several for the instance.
    #[arg(long)]
    pub service: Option<String>,
    /// RFC 3339, `latest` or `earliest`.
    #[arg(long, default_value = "latest")]
    pub time: TimeArg,
    /// Ranged GETs in flight per file (memory: this many ranges).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub parallel: u64,
    /// MiB per ranged GET: each must finish within the store client's
    /// per-request `timeout` (`--store-option timeout=…`, default 30s).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub range_mib: u64,
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Keys for encrypted copies: `--key-file ID=PATH` (32 bytes or 64 hex
/// digits, mode 600) and `--key-env ID=VAR`; repeatable, any number.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    #[arg(long = "key-file", value_parser = parse_kv)]
    pub key_files: Vec<(String, String)>,
    #[arg(long = "key-env", value_parser = parse_kv)]
    pub key_envs: Vec<(String, String)>,
}

/// `KEY=VALUE`; an error never repeats the text (a store option's value
/// may be a secret, and errors reach logs and drill reports).
fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| "expected KEY=VALUE (an '=' after the key)".to_string())
}

#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Folder to download into; `plan.json` is written there.
    #[arg(long)]
    pub into: PathBuf,
    /// Also restore into this fresh MariaDB server (its socket): load
    /// the FULL (an SQL dump), replay binlogs up to the time.
    #[arg(long)]
    pub mariadb_socket: Option<PathBuf>,
    /// Also restore a physical FULL (xbstream) into this new or empty
    /// MariaDB datadir: extract, prepare, move back, replay binlogs up to
    /// the time in a private server, stop it cleanly.
    #[arg(long, conflicts_with = "mariadb_socket")]
    pub mariadb_datadir: Option<PathBuf>,
    /// SQL Server: the database `restore.sql` restores (default: the
    /// instance id).
    #[arg(long)]
    pub database: Option<String>,
}

/// Restores; returns the point restored to (the plan's stop, unix ms).
pub async fn run(args: RestoreArgs) -> anyhow::Result<i64> {
    let RestoreArgs {
        target: t,
        into,
        mariadb_socket,
        mariadb_datadir,
        database,
    } = args;
    // Before any download: a datadir holding anything is never touched.
    if let Some(datadir) = &mariadb_datadir {
        crate::mariadb_physical::ensure_fresh(datadir)?;
        crate::mariadb_physical::check_places(&into, datadir)?;
    }
    let store = open_store(&t)?;
    let prefix = find_service(store.as_ref(), &t).await?;
    let scan = scan_manifests(store.as_ref(), &prefix).await?;
    for bad in &scan.rejected {
        eprintln!("skipping manifest {}: {}", bad.key, bad.reason);
    }
    let manifests = &scan.manifests;
    let (engine, window) = manifests
        .first()
        .map(|m| m.engine)
        .zip(window_of(manifests))
        .ok_or_else(|| anyhow::anyhow!("nothing restorable in {prefix}"))?;
    let time = match t.time {
        TimeArg::Latest => window.latest,
        TimeArg::Earliest => window.earliest,
        TimeArg::At(ms) => ms,
    };
    let (plan, files) = plan_of(manifests, time)?;
    let to = match (&mariadb_socket, &mariadb_datadir) {
        (Some(_), _) => ApplyTo::Socket,
        (None, Some(_)) => ApplyTo::Datadir,
        (None, None) => ApplyTo::Files,
    };
    check_apply(
        engine,
        &plan.full_backup_id,
        apply::full_format(engine, manifests, &plan.full_backup_id),
        to,
    )?;
    // Every key is unwrapped before a byte is downloaded.
    let ring = keys::keyring(&t.keys.key_files, &t.keys.key_envs)?;
    let ciphers = keys::ciphers(&ring, manifests, &files)?;
    tokio::fs::create_dir_all(&into).await?;
    let fetcher = Fetcher {
        range_size: t.range_mib * 1024 * 1024,
        parallel: usize::try_from(t.parallel)?,
        attempts: 6,
    };
    let restored = download(store.as_ref(), &fetcher, &prefix, &files, &ciphers, &into).await?;
    let plan_json = PlanJson::new(prefix, engine, &plan, manifests, restored, &scan.rejected);
    tokio::fs::write(
        into.join("plan.json"),
        serde_json::to_vec_pretty(&plan_json)?,
    )
    .await?;
    if engine == Engine::Sqlserver {
        let db = database.as_deref().unwrap_or(&t.instance);
        let script = tsql_script::write(&plan_json, &into, db)?;
        println!(
            "wrote {}; run it with: sqlcmd -S <server> -E -i {}",
            script.display(),
            script.display()
        );
    }
    if let Some(socket) = &mariadb_socket {
        apply_to_mariadb(&plan_json, &Login::root(socket))?;
        println!("applied to the MariaDB server at {}", socket.display());
    }
    if let Some(datadir) = &mariadb_datadir {
        let started = std::time::Instant::now();
        let done = crate::mariadb_physical::restore(&plan_json, datadir, &into)?;
        let options: String = done
            .server_options
            .iter()
            .map(|o| format!(" {o}"))
            .collect();
        println!(
            "restored the MariaDB datadir {} in {:.1} s ({}); start a server on it: chown -R mysql:mysql {0} && mariadbd --datadir={0} --user=mysql{options}",
            datadir.display(),
            started.elapsed().as_secs_f64(),
            done.timings
        );
    }
    println!(
        "restored {} files (1 FULL + {} LOG backups) of {} into {}; replay stops at {}",
        plan_json.files.len(),
        plan_json.log_backup_ids.len(),
        plan_json.service_prefix,
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
    Ok(plan.stop_at)
}

fn open_store(t: &TargetArgs) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let region = RegionConfig {
        id: "target".into(),
        display_name: String::new(),
        url: t.region_store.clone(),
        options: t.store_options.iter().cloned().collect::<BTreeMap<_, _>>(),
        source_key_prefix: None,
        encryption: None,
    };
    Ok(xregion_common::regions::build_store(&region)?)
}

/// The prefix of the instance's service in the store: the one there is, or
/// the one `--service` names.
async fn find_service(store: &dyn ObjectStore, t: &TargetArgs) -> anyhow::Result<String> {
    ids::validate_id("--instance", &t.instance)?;
    if let Some(svc) = &t.service {
        ids::validate_id("--service", svc)?;
    }
    let prefixes = service_prefixes(store, &t.instance).await?;
    match (&t.service, prefixes.as_slice()) {
        (Some(svc), _) => prefixes
            .iter()
            .find(|p| p.ends_with(&format!("/{svc}")))
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!("no service {svc} of instance {} in this store", t.instance)
            }),
        (None, [one]) => Ok(one.clone()),
        (None, []) => anyhow::bail!("no service of instance {} in this store", t.instance),
        (None, many) => anyhow::bail!(
            "several services of instance {} in this store, choose one with --service: {}",
            t.instance,
            many.join(", ")
        ),
    }
}

/// Fetches and verifies every file of the plan into `into`, in replay order.
async fn download(
    store: &dyn ObjectStore,
    fetcher: &Fetcher,
    prefix: &str,
    files: &[PlanFile],
    ciphers: &[Option<xregion_crypt::FileCipher>],
    into: &Path,
) -> anyhow::Result<Vec<RestoredFile>> {
    // Sizes come from manifests in the store: summed without overflow.
    let total: u64 = files
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.file.size));
    eprintln!(
        "restoring {} files ({total} bytes) of {prefix} into {}",
        files.len(),
        into.display()
    );
    let mut restored = Vec::new();
    let (mut fetched, mut kept) = (0u64, 0u64);
    for (f, cipher) in files.iter().zip(ciphers) {
        let relative = f
            .relative_path(prefix)
            .ok_or_else(|| anyhow::anyhow!("{} is not under {prefix}", f.file.key))?;
        let paths = local::local_paths(into, &f.backup_id, relative)?;
        let label = format!("{}/{relative}", f.backup_id);
        let want = Wanted {
            key: &f.file.key,
            size: f.file.size,
            sha256: &f.file.sha256,
            label: &label,
            cipher: cipher.as_ref(),
        };
        let got = fetcher
            .fetch(store, &want, &paths.dest, &paths.partial)
            .await
            .with_context(|| format!("restoring {label}"))?;
        fetched += got.fetched;
        kept += got.resumed;
        restored.push(RestoredFile {
            backup_id: f.backup_id.clone(),
            kind: f.kind,
            relative_path: relative.to_string(),
            path: paths.dest,
            size: f.file.size,
            sha256: f.file.sha256.clone(),
        });
    }
    // Only empty folders are left there once every file is in place.
    let _ = std::fs::remove_dir_all(into.join(local::PARTIAL_DIR));
    eprintln!("all files verified: fetched {fetched} bytes, kept {kept} bytes from an earlier run");
    Ok(restored)
}

/// Loads the FULL (an SQL dump) and replays the binlogs up to the plan's stop.
pub fn apply_to_mariadb(plan: &PlanJson, login: &Login) -> anyhow::Result<()> {
    anyhow::ensure!(
        plan.engine == Engine::Mysql,
        "--mariadb-socket applies MySQL plans only (this one is {})",
        plan.engine.as_str()
    );
    let full = plan
        .full_file()
        .ok_or_else(|| anyhow::anyhow!("plan without a FULL"))?;
    crate::mariadb_apply::apply(
        login,
        full,
        plan.replay_start(),
        &plan.log_files(),
        plan.stop_at_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_option_is_refused_without_repeating_it() {
        let err = parse_kv("aws_secret_access_key-s3cr3t").unwrap_err();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert_eq!(
            parse_kv("timeout=30s=x").unwrap(),
            ("timeout".to_string(), "30s=x".to_string())
        );
    }
}
