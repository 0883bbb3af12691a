//! What the target region stores about itself, so that a restore plan can be
//! computed from the target store alone: `service.json` and, per synced
//! backup, `manifests/<backup>.json` (the commit marker, written last).

use serde::{Deserialize, Serialize};

use crate::chain::{validate_position, ChainBackup, ChainPosition, Millis, RestorePlan};
use crate::encryption::FileEncryption;
use crate::engine::{BackupKind, Engine};
use crate::error::DomainError;
use crate::format::BackupFormat;
use crate::{ids, layout};

pub const FORMAT: u32 = 1;
/// The format of a manifest with any encrypted file: a reader that predates
/// encryption refuses it as unknown instead of restoring ciphertext.
pub const FORMAT_ENCRYPTED: u32 = 2;

/// The largest manifest or `service.json` read back from a store. A
/// manifest lists the files of one descriptor, itself one bus message
/// (NATS allows at most 64 MiB, 1 MiB by default), each file a few hundred
/// bytes of JSON: anything larger at such a key was not written by xregion.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Key in the target store.
    pub key: String,
    /// Key the file had in the source store.
    pub source_key: String,
    pub size: u64,
    /// Lower-case hex sha256, verified while copying.
    pub sha256: String,
    /// How the file is encrypted in the target, when its region encrypts;
    /// `size` and `sha256` above stay the plaintext's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<FileEncryption>,
}

impl ManifestFile {
    /// Bytes of the object in the target: the ciphertext's when encrypted.
    pub fn stored_size(&self) -> u64 {
        self.encryption
            .as_ref()
            .map_or(self.size, |e| e.stored_size)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub service_id: String,
    pub tenant_id: String,
    pub instance_id: String,
    pub engine: Engine,
    pub backup_id: String,
    pub kind: BackupKind,
    pub data_start: Millis,
    pub data_end: Millis,
    pub position: ChainPosition,
    pub files: Vec<ManifestFile>,
    pub synced_at: Millis,
    /// What the files are; absent when the upstream recorded none (and in
    /// manifests written before it was recorded): the engine's legacy
    /// format, see [`Manifest::backup_format`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_format: Option<BackupFormat>,
}

impl Manifest {
    pub fn chain_backup(&self) -> ChainBackup {
        ChainBackup {
            backup_id: self.backup_id.clone(),
            kind: self.kind,
            data_start: self.data_start,
            data_end: self.data_end,
            position: self.position.clone(),
        }
    }

    /// The format of the files: the recorded one, or the legacy meaning of
    /// none; an error when the recorded one does not fit the engine and kind
    /// (never for a manifest that passed [`Manifest::validate_for`]).
    pub fn backup_format(&self) -> Result<BackupFormat, String> {
        BackupFormat::resolve(self.engine, self.kind, self.backup_format)
    }

    pub fn bytes(&self) -> u64 {
        // Saturating: a forged manifest must not overflow (or panic).
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.size))
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let encrypted = m.files.iter().any(|f| f.encryption.is_some());
        match (m.format, encrypted) {
            (FORMAT, false) | (FORMAT_ENCRYPTED, true) => Ok(m),
            (FORMAT, true) => Err("a format 1 manifest records encrypted files".into()),
            (FORMAT_ENCRYPTED, false) => {
                Err("a format 2 manifest records no encrypted file".into())
            }
            (other, _) => Err(format!("unsupported manifest format {other}")),
        }
    }

    /// Checks a manifest read from `manifest_key` under `service_prefix`
    /// before anything trusts it: whoever can write to the store can write
    /// a manifest. Ids follow the id grammar and name the prefix it was read
    /// from, it sits at its own key, every file is in the backup's folder
    /// with a safe path of its own, checksums are sha256 hex, and the chain
    /// position fits the engine.
    pub fn validate_for(
        &self,
        service_prefix: &str,
        manifest_key: &str,
    ) -> Result<(), DomainError> {
        for (field, v) in [
            ("tenant_id", &self.tenant_id),
            ("instance_id", &self.instance_id),
            ("service_id", &self.service_id),
            ("backup_id", &self.backup_id),
        ] {
            ids::validate_id(field, v)?;
        }
        let own = layout::service_prefix(&self.tenant_id, &self.instance_id, &self.service_id);
        if own != service_prefix {
            return Err(DomainError::invalid(
                "service_id",
                format!("the manifest names {own:?} but was read from {service_prefix:?}"),
            ));
        }
        let expected_key = layout::manifest_key(service_prefix, &self.backup_id);
        if manifest_key != expected_key {
            return Err(DomainError::invalid(
                "backup_id",
                format!("backup {:?} belongs at {expected_key:?}", self.backup_id),
            ));
        }
        if self.files.is_empty() {
            return Err(DomainError::invalid(
                "files",
                "a backup has at least one file",
            ));
        }
        let folder = layout::backup_folder(service_prefix, &self.backup_id);
        let mut paths = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let path = f.key.strip_prefix(&folder).ok_or_else(|| {
                DomainError::invalid("files", format!("file {:?} is not under {folder:?}", f.key))
            })?;
            paths.push(path);
            let hex_ok = f.sha256.len() == 64
                && f.sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex_ok {
                return Err(DomainError::invalid(
                    "files",
                    format!("file {:?}: sha256 must be 64 lower-case hex digits", f.key),
                ));
            }
            if let Some(e) = &f.encryption {
                e.validate(f.size).map_err(|reason| {
                    DomainError::invalid("files", format!("file {:?}: {reason}", f.key))
                })?;
            }
        }
        layout::check_backup_paths(&paths)?;
        if self.data_start > self.data_end {
            return Err(DomainError::invalid(
                "data_start",
                "data_start is after data_end",
            ));
        }
        self.backup_format()
            .map_err(|reason| DomainError::invalid("backup_format", reason))?;
        validate_position(self.engine, self.kind, &self.position)
            .map_err(|reason| DomainError::invalid("position", reason))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDescriptor {
    pub format: u32,
    pub service_id: String,
    pub tenant_id: String,
    pub engine: Engine,
    pub source_region: String,
    pub instance_id: String,
    pub target_region: String,
    pub retention_days: u32,
    /// The deployment (bus namespace) that owns the service; cleanup leaves
    /// prefixes of other deployments sharing a bucket alone. Absent in
    /// descriptors written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One file of a restore plan, in the order a restore uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    pub backup_id: String,
    pub kind: BackupKind,
    pub file: ManifestFile,
}

impl PlanFile {
    /// The file's path below its backup's folder in `service_prefix`;
    /// `None` for a key elsewhere (never for a manifest that passed
    /// [`Manifest::validate_for`]).
    pub fn relative_path(&self, service_prefix: &str) -> Option<&str> {
        self.file
            .key
            .strip_prefix(&layout::backup_folder(service_prefix, &self.backup_id))
    }
}

/// The files of `plan`: the FULL's files, then each LOG's, in order. `None`
/// when a backup of the plan has no manifest among `manifests`.
pub fn plan_files(plan: &RestorePlan, manifests: &[Manifest]) -> Option<Vec<PlanFile>> {
    let find = |id: &str| manifests.iter().find(|m| m.backup_id == id);
    let mut out = Vec::new();
    for id in std::iter::once(&plan.full_backup_id).chain(plan.log_backup_ids.iter()) {
        let m = find(id)?;
        out.extend(m.files.iter().map(|f| PlanFile {
            backup_id: m.backup_id.clone(),
            kind: m.kind,
            file: f.clone(),
        }));
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn manifest(id: &str, kind: BackupKind, n: u64) -> Manifest {
        Manifest {
            format: FORMAT,
            service_id: "s".into(),
            tenant_id: "t".into(),
            instance_id: "i".into(),
            engine: Engine::Mysql,
            backup_id: id.into(),
            kind,
            data_start: 0,
            data_end: 10,
            position: ChainPosition::Mysql {
                file_number: n,
                offset: 4,
            },
            files: vec![ManifestFile {
                key: format!("t/i/s/backups/{id}/f"),
                source_key: "src/f".into(),
                size: n,
                sha256: "ab".repeat(32),
                encryption: None,
            }],
            synced_at: 11,
            backup_format: None,
        }
    }

    #[test]
    fn json_round_trips_and_rejects_other_formats() {
        let m = manifest("b1", BackupKind::Full, 3);
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
        let mut other = m.clone();
        other.format = 99;
        assert!(Manifest::from_json(&other.to_json()).is_err());
        assert!(Manifest::from_json(b"{").is_err());
    }

    #[test]
    fn the_backup_format_is_optional_and_must_fit() {
        let legacy = manifest("b1", BackupKind::Full, 3);
        let json = String::from_utf8(legacy.to_json()).unwrap();
        assert!(!json.contains("backup_format"), "{json}");
        assert_eq!(legacy.backup_format(), Ok(BackupFormat::SqlDump));
        let mut physical = legacy.clone();
        physical.backup_format = Some(BackupFormat::Xbstream);
        let json = String::from_utf8(physical.to_json()).unwrap();
        assert!(json.contains("\"backup_format\": \"xbstream\""), "{json}");
        assert_eq!(Manifest::from_json(json.as_bytes()).unwrap(), physical);
        let key = "t/i/s/manifests/b1.json";
        physical.validate_for("t/i/s", key).unwrap();
        let mut wrong = physical.clone();
        wrong.kind = BackupKind::Log;
        let err = wrong.validate_for("t/i/s", key).unwrap_err().to_string();
        assert!(err.contains("backup_format"), "{err}");
        let unknown = json.replace("\"xbstream\"", "\"tarball\"");
        assert!(Manifest::from_json(unknown.as_bytes()).is_err());
    }

    #[test]
    fn plan_files_follow_plan_order() {
        let ms = vec![
            manifest("l2", BackupKind::Log, 2),
            manifest("f", BackupKind::Full, 1),
            manifest("l1", BackupKind::Log, 1),
        ];
        let plan = RestorePlan {
            full_backup_id: "f".into(),
            log_backup_ids: vec!["l1".into(), "l2".into()],
            stop_at: 5,
        };
        let ids: Vec<_> = plan_files(&plan, &ms)
            .unwrap()
            .into_iter()
            .map(|p| p.backup_id)
            .collect();
        assert_eq!(ids, ["f", "l1", "l2"]);
        let missing = RestorePlan {
            full_backup_id: "nope".into(),
            log_backup_ids: vec![],
            stop_at: 0,
        };
        assert!(plan_files(&missing, &ms).is_none());
    }

    #[test]
    fn a_stored_manifest_must_describe_the_place_it_was_read_from() {
        let good = manifest("b1", BackupKind::Full, 3);
        let key = "t/i/s/manifests/b1.json";
        good.validate_for("t/i/s", key).unwrap();
        let says = |m: &Manifest, prefix: &str, key: &str, what: &str| {
            let err = m.validate_for(prefix, key).unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        };
        let mut m = good.clone();
        m.backup_id = "../../../../tmp/x".into();
        says(&m, "t/i/s", key, "backup_id");
        let mut m = good.clone();
        m.backup_id = "/etc".into();
        says(&m, "t/i/s", key, "backup_id");
        says(&good, "t/i/other", key, "read from");
        says(&good, "t/i/s", "t/i/s/manifests/b2.json", "belongs at");
        let mut m = good.clone();
        m.instance_id = "i/..".into();
        says(&m, "t/i/s", key, "instance_id");
        let mut m = good.clone();
        m.files[0].key = "t/i/s/backups/b2/f".into();
        says(&m, "t/i/s", key, "not under");
        let mut m = good.clone();
        m.files[0].key = "t/i/s/backups/b1/../../../../../root/.ssh/authorized_keys".into();
        says(&m, "t/i/s", key, "unsafe");
        let mut m = good.clone();
        m.files.push(m.files[0].clone());
        says(&m, "t/i/s", key, "same key");
        let mut m = good.clone();
        m.files.clear();
        says(&m, "t/i/s", key, "at least one file");
        let mut m = good.clone();
        m.files[0].sha256 = "AB".repeat(32);
        says(&m, "t/i/s", key, "sha256");
        let mut m = good.clone();
        m.files[0].encryption = Some(crate::encryption::FileEncryption {
            algorithm: crate::encryption::ALGORITHM.into(),
            key_id: "k1".into(),
            wrapped_key: "A".repeat(80),
            chunk_size: crate::encryption::CHUNK_SIZE,
            stored_size: 3 + 16,
        });
        m.validate_for("t/i/s", key).unwrap();
        assert_eq!(m.files[0].stored_size(), 19);
        // Encrypted files only in a format 2 manifest (an older reader
        // refuses it), format 2 only with encrypted files; 1 still reads.
        assert!(Manifest::from_json(&m.to_json()).is_err());
        m.format = FORMAT_ENCRYPTED;
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
        assert!(Manifest::from_json(&good.to_json()).is_ok());
        let mut plain2 = good.clone();
        plain2.format = FORMAT_ENCRYPTED;
        assert!(Manifest::from_json(&plain2.to_json()).is_err());
        m.files[0].encryption.as_mut().unwrap().stored_size = 3;
        says(&m, "t/i/s", key, "stored size");
        let mut m = good.clone();
        m.data_start = 11;
        says(&m, "t/i/s", key, "data_start");
        let mut m = good.clone();
        m.position = ChainPosition::Sqlserver {
            first_lsn: "1".into(),
            last_lsn: "2".into(),
        };
        assert!(m.validate_for("t/i/s", key).is_err());
    }

    #[test]
    fn plan_files_know_their_path_in_the_backup() {
        let m = manifest("b1", BackupKind::Full, 3);
        let p = PlanFile {
            backup_id: m.backup_id.clone(),
            kind: m.kind,
            file: m.files[0].clone(),
        };
        assert_eq!(p.relative_path("t/i/s"), Some("f"));
        assert_eq!(p.relative_path("t/i/x"), None);
    }
}
