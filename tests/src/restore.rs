//! Helpers for restore tests: a target-region layout written by hand
//! (`service.json`, manifests, files) and the `xregion restore` command.

use std::path::Path as FsPath;
use std::process::Command;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use sha2::Digest;
use xregion_common::RegionConfig;
use xregion_domain::chain::ChainPosition;
use xregion_domain::manifest::{Manifest, ManifestFile, FORMAT};
use xregion_domain::{layout, BackupKind, Engine};

use crate::stack::bin_dir;

/// One MySQL service's place in a target store.
pub struct HandLayout {
    pub tenant: String,
    pub instance: String,
    pub service: String,
}

impl HandLayout {
    pub fn new(tenant: &str, instance: &str, service: &str) -> Self {
        Self {
            tenant: tenant.into(),
            instance: instance.into(),
            service: service.into(),
        }
    }

    pub fn prefix(&self) -> String {
        layout::service_prefix(&self.tenant, &self.instance, &self.service)
    }

    pub async fn put_service_json(&self, store: &dyn ObjectStore) -> anyhow::Result<()> {
        let json = serde_json::json!({
            "format": FORMAT, "service_id": self.service, "tenant_id": self.tenant,
            "engine": "mysql", "source_region": "r1", "instance_id": self.instance,
            "target_region": "r2", "retention_days": 7,
        });
        let key = Path::from(layout::service_descriptor_key(&self.prefix()));
        store.put(&key, serde_json::to_vec(&json)?.into()).await?;
        Ok(())
    }

    /// A manifest of `backup_id` whose files are `(name, size, sha256)` in
    /// the backup's folder; MySQL positions (a FULL at binlog `binlog`, or
    /// the LOG that is binlog `binlog`).
    pub fn manifest(
        &self,
        backup_id: &str,
        kind: BackupKind,
        data: (i64, i64),
        binlog: u64,
        files: &[(&str, u64, String)],
    ) -> Manifest {
        Manifest {
            format: FORMAT,
            service_id: self.service.clone(),
            tenant_id: self.tenant.clone(),
            instance_id: self.instance.clone(),
            engine: Engine::Mysql,
            backup_id: backup_id.into(),
            kind,
            data_start: data.0,
            data_end: data.1,
            position: ChainPosition::Mysql {
                file_number: binlog,
                offset: 4,
            },
            files: files
                .iter()
                .map(|(name, size, sha256)| ManifestFile {
                    key: format!("{}/backups/{backup_id}/{name}", self.prefix()),
                    source_key: format!("src/{name}"),
                    size: *size,
                    sha256: sha256.clone(),
                    encryption: None,
                })
                .collect(),
            synced_at: data.1,
            backup_format: None,
        }
    }

    /// Stores `bytes` at `manifests/<name>.json`, whatever they are.
    pub async fn put_manifest_bytes(
        &self,
        store: &dyn ObjectStore,
        name: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        let key = Path::from(layout::manifest_key(&self.prefix(), name));
        store.put(&key, bytes.into()).await?;
        Ok(())
    }

    /// Stores a small file in `backup_id`'s folder; returns (size, sha256).
    pub async fn put_file(
        &self,
        store: &dyn ObjectStore,
        backup_id: &str,
        name: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(u64, String)> {
        let key = format!("{}{name}", layout::backup_folder(&self.prefix(), backup_id));
        store.put(&Path::from(key), bytes.to_vec().into()).await?;
        Ok((bytes.len() as u64, hex::encode(sha2::Sha256::digest(bytes))))
    }
}

/// `xregion restore` against `region` (its URL and options) into `into`,
/// with the API endpoint a dead address: nothing but the store is used.
pub fn restore_command(
    region: &RegionConfig,
    instance: &str,
    into: &FsPath,
) -> anyhow::Result<Command> {
    let mut cmd = Command::new(bin_dir()?.join("xregion"));
    cmd.args([
        "--endpoint",
        "http://127.0.0.1:1",
        "restore",
        "--region-store",
        &region.url,
        "--instance",
        instance,
        "--time",
        "latest",
        "--into",
    ])
    .arg(into)
    .args(store_options(region));
    Ok(cmd)
}

/// `--store-option key=value` for each of `region`'s options.
pub fn store_options(region: &RegionConfig) -> Vec<String> {
    let options = region.options.iter();
    options
        .flat_map(|(k, v)| ["--store-option".to_string(), format!("{k}={v}")])
        .collect()
}

/// An empty `file://` store in a temporary folder, and the region that
/// names it (id `target`); the folder goes when the store drops.
pub struct LocalStore {
    pub dir: tempfile::TempDir,
    pub store: LocalFileSystem,
    pub region: RegionConfig,
}

impl LocalStore {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("store");
        std::fs::create_dir_all(&root)?;
        let store = LocalFileSystem::new_with_prefix(&root)?;
        let url = url::Url::from_directory_path(&root).map_err(|()| anyhow::anyhow!("bad path"))?;
        let region =
            serde_json::from_value(serde_json::json!({"id": "target", "url": url.as_str()}))?;
        Ok(Self { dir, store, region })
    }
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &FsPath) -> Vec<String> {
    fn walk(base: &FsPath, dir: &FsPath, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if let Ok(rel) = path.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
