//! What the target region stores about itself, so that a restore plan can be
//! computed from the target store alone: `service.json` and, per synced
//! backup, `manifests/<backup>.json` (the commit marker, written last).

use serde::{Deserialize, Serialize};

use crate::chain::{ChainBackup, ChainPosition, Millis, RestorePlan};
use crate::engine::{BackupKind, Engine};

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Key in the target store.
    pub key: String,
    /// Key the file had in the source store.
    pub source_key: String,
    pub size: u64,
    /// Lower-case hex sha256, verified while copying.
    pub sha256: String,
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

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if m.format != FORMAT {
            return Err(format!("unsupported manifest format {}", m.format));
        }
        Ok(m)
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
}

/// One file of a restore plan, in the order a restore uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    pub backup_id: String,
    pub kind: BackupKind,
    pub file: ManifestFile,
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
                sha256: "00".into(),
            }],
            synced_at: 11,
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
}
