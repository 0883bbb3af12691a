//! `plan.json`, what a restore leaves next to the files for the database
//! tooling: the files in replay order (where each landed, its size and
//! sha256), each backup's chain position, where replay stops, and the
//! manifests skipped as untrusted. Field names are a contract with scripts
//! (and tests): rename nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xregion_common::target::RejectedManifest;
use xregion_domain::chain::{ChainPosition, Millis, RestorePlan};
use xregion_domain::manifest::Manifest;
use xregion_domain::{BackupFormat, BackupKind, Engine};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanJson {
    /// `<tenant>/<instance>/<service>` in the store.
    pub service_prefix: String,
    pub engine: Engine,
    pub stop_at_ms: Millis,
    pub full_backup_id: String,
    /// What the FULL's files are (MySQL: an SQL dump, or an xbstream whose
    /// files concatenated in order are the stream).
    pub full_format: BackupFormat,
    pub log_backup_ids: Vec<String>,
    /// In replay order: the FULL's files, then each log's.
    pub files: Vec<RestoredFile>,
    /// The plan's backups, FULL first, with their chain positions.
    pub backups: Vec<BackupPoint>,
    pub skipped_manifests: Vec<SkippedManifest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredFile {
    pub backup_id: String,
    pub kind: BackupKind,
    /// Below the backup's folder, as in the store.
    pub relative_path: String,
    /// Where it landed: `<into>/<backup_id>/<relative_path>`.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPoint {
    pub backup_id: String,
    pub kind: BackupKind,
    pub data_start_ms: Millis,
    pub data_end_ms: Millis,
    pub position: ChainPosition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedManifest {
    pub key: String,
    pub reason: String,
}

/// Where binlog replay starts when the FULL does not say: just after the
/// binlog file's 4-byte magic header.
const BINLOG_START: u64 = 4;

impl PlanJson {
    /// The document for `plan`, computed from `manifests`, whose files are
    /// now at `files`.
    pub fn new(
        service_prefix: String,
        engine: Engine,
        plan: &RestorePlan,
        manifests: &[Manifest],
        files: Vec<RestoredFile>,
        rejected: &[RejectedManifest],
    ) -> Self {
        let by_id: BTreeMap<&str, &Manifest> = manifests
            .iter()
            .map(|m| (m.backup_id.as_str(), m))
            .collect();
        let backups = std::iter::once(&plan.full_backup_id)
            .chain(&plan.log_backup_ids)
            .filter_map(|id| by_id.get(id.as_str()))
            .map(|m| BackupPoint {
                backup_id: m.backup_id.clone(),
                kind: m.kind,
                data_start_ms: m.data_start,
                data_end_ms: m.data_end,
                position: m.position.clone(),
            })
            .collect();
        let full_format = super::apply::full_format(engine, manifests, &plan.full_backup_id);
        PlanJson {
            service_prefix,
            engine,
            stop_at_ms: plan.stop_at,
            full_backup_id: plan.full_backup_id.clone(),
            full_format,
            log_backup_ids: plan.log_backup_ids.clone(),
            files,
            backups,
            skipped_manifests: rejected
                .iter()
                .map(|r| SkippedManifest {
                    key: r.key.clone(),
                    reason: r.reason.clone(),
                })
                .collect(),
        }
    }

    /// The FULL's files in order: the parts of an xbstream.
    pub fn full_files(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|f| f.kind == BackupKind::Full)
            .map(|f| f.path.clone())
            .collect()
    }

    /// The binlog file number of the FULL's consistent point.
    pub fn replay_start_file(&self) -> Option<u64> {
        self.backups
            .iter()
            .find(|b| b.backup_id == self.full_backup_id)
            .and_then(|b| match b.position {
                ChainPosition::Mysql { file_number, .. } => Some(file_number),
                ChainPosition::Sqlserver { .. } => None,
            })
    }

    /// The FULL's (first) file: the SQL dump of a MySQL plan.
    pub fn full_file(&self) -> Option<&Path> {
        self.files
            .iter()
            .find(|f| f.kind == BackupKind::Full)
            .map(|f| f.path.as_path())
    }

    /// The logs' files in replay order: a MySQL plan's binlogs.
    pub fn log_files(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|f| f.kind == BackupKind::Log)
            .map(|f| f.path.clone())
            .collect()
    }

    /// The binlog offset of the FULL's consistent point, where replay starts.
    pub fn replay_start(&self) -> u64 {
        self.backups
            .iter()
            .find(|b| b.backup_id == self.full_backup_id)
            .and_then(|b| match b.position {
                ChainPosition::Mysql { offset, .. } => Some(offset),
                ChainPosition::Sqlserver { .. } => None,
            })
            .unwrap_or(BINLOG_START)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(backup_id: &str, kind: BackupKind, name: &str) -> RestoredFile {
        RestoredFile {
            backup_id: backup_id.into(),
            kind,
            relative_path: name.into(),
            path: PathBuf::from("/into").join(backup_id).join(name),
            size: 3,
            sha256: "ab".into(),
        }
    }

    fn plan() -> PlanJson {
        PlanJson {
            service_prefix: "t/i/svc-1".into(),
            engine: Engine::Mysql,
            stop_at_ms: 1_000,
            full_backup_id: "full-1".into(),
            full_format: BackupFormat::SqlDump,
            log_backup_ids: vec!["log-1".into()],
            files: vec![
                file("full-1", BackupKind::Full, "dump.sql"),
                file("log-1", BackupKind::Log, "binlog.000002"),
            ],
            backups: vec![BackupPoint {
                backup_id: "full-1".into(),
                kind: BackupKind::Full,
                data_start_ms: 0,
                data_end_ms: 500,
                position: ChainPosition::Mysql {
                    file_number: 1,
                    offset: 1234,
                },
            }],
            skipped_manifests: vec![SkippedManifest {
                key: "t/i/svc-1/manifests/x.json".into(),
                reason: "not JSON".into(),
            }],
        }
    }

    #[test]
    fn plan_json_keeps_the_names_scripts_read() {
        let v = serde_json::to_value(plan()).unwrap();
        assert_eq!(v["engine"], "mysql");
        assert_eq!(v["full_backup_id"], "full-1");
        assert_eq!(v["full_format"], "sql_dump");
        assert_eq!(v["stop_at_ms"], 1_000);
        assert_eq!(v["files"][0]["path"], "/into/full-1/dump.sql");
        assert_eq!(v["files"][0]["kind"], "full");
        assert_eq!(v["files"][1]["relative_path"], "binlog.000002");
        assert_eq!(v["backups"][0]["data_end_ms"], 500);
        assert_eq!(v["backups"][0]["position"]["offset"], 1234);
        assert_eq!(v["skipped_manifests"][0]["reason"], "not JSON");
        let back: PlanJson = serde_json::from_value(v).unwrap();
        assert_eq!(back, plan());
    }

    #[test]
    fn the_mysql_replay_starts_at_the_full_and_reads_the_logs() {
        let p = plan();
        assert_eq!(p.full_file(), Some(Path::new("/into/full-1/dump.sql")));
        assert_eq!(p.log_files(), [PathBuf::from("/into/log-1/binlog.000002")]);
        assert_eq!(p.replay_start(), 1234);
        assert_eq!(p.replay_start_file(), Some(1));
        assert_eq!(p.full_files(), [PathBuf::from("/into/full-1/dump.sql")]);
        let without = PlanJson {
            backups: vec![],
            ..plan()
        };
        assert_eq!(without.replay_start(), BINLOG_START);
    }
}
