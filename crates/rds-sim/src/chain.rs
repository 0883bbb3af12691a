//! Backups of one instance with correct chain positions: MySQL binlog file
//! numbers and offsets, SQL Server LSNs, and contiguous data times.

use xregion_domain::{BackupKind, Engine};
use xregion_proto::convert::{engine_to_rds, kind_to_rds, timestamp};
use xregion_proto::rds::v1 as rds;

/// A backup about to be written: its descriptor (files without checksums
/// yet) and the bytes of each file.
#[derive(Debug, Clone)]
pub struct GeneratedBackup {
    pub descriptor: rds::BackupDescriptor,
    pub contents: Vec<Vec<u8>>,
}

/// Generates the next FULL or LOG of one instance.
#[derive(Debug, Clone)]
pub struct ChainGen {
    pub instance_id: String,
    pub tenant_id: String,
    pub region: String,
    pub engine: Engine,
    /// Data time reached so far (ms).
    pub now_ms: i64,
    /// Next binlog file number (MySQL) or next LSN (SQL Server).
    next_log: u128,
    seq: u64,
}

impl ChainGen {
    pub fn new(
        instance_id: &str,
        tenant_id: &str,
        region: &str,
        engine: Engine,
        start_ms: i64,
    ) -> Self {
        Self {
            instance_id: instance_id.into(),
            tenant_id: tenant_id.into(),
            region: region.into(),
            engine,
            now_ms: start_ms,
            next_log: match engine {
                Engine::Mysql => 1,
                Engine::Sqlserver => 1_000_000_000_000_000_000_000, // 22 digits: beyond u64
            },
            seq: 0,
        }
    }

    fn id(&mut self, kind: BackupKind) -> String {
        self.seq += 1;
        format!("{}-{}-{:05}", self.instance_id, kind.as_str(), self.seq)
    }

    fn payload(&self, backup_id: &str, size: usize) -> Vec<u8> {
        let seed = format!("{backup_id}:");
        seed.bytes().cycle().take(size).collect()
    }

    /// A FULL whose consistent point is `now`, in the current binlog / LSN.
    pub fn full(&mut self, size: usize) -> GeneratedBackup {
        let backup_id = self.id(BackupKind::Full);
        let start = self.now_ms;
        let position = match self.engine {
            Engine::Mysql => rds::backup_descriptor::Position::Mysql(rds::MysqlPosition {
                binlog_file_number: self.next_log as u64,
                binlog_offset: 4 + (self.seq * 17) % 1000,
                binlog_file_name: format!("mysql-bin.{:06}", self.next_log),
            }),
            Engine::Sqlserver => {
                rds::backup_descriptor::Position::Sqlserver(rds::SqlServerPosition {
                    first_lsn: (self.next_log - 500).to_string(),
                    last_lsn: (self.next_log - 1).to_string(),
                })
            }
        };
        self.make(backup_id, BackupKind::Full, start, start, position, size)
    }

    /// The next LOG, covering `span_ms` of data after the previous one.
    pub fn log(&mut self, span_ms: i64, size: usize) -> GeneratedBackup {
        let backup_id = self.id(BackupKind::Log);
        let start = self.now_ms;
        self.now_ms += span_ms;
        let position = match self.engine {
            Engine::Mysql => {
                let n = self.next_log;
                self.next_log += 1;
                rds::backup_descriptor::Position::Mysql(rds::MysqlPosition {
                    binlog_file_number: n as u64,
                    binlog_offset: size as u64,
                    binlog_file_name: format!("mysql-bin.{n:06}"),
                })
            }
            Engine::Sqlserver => {
                let first = self.next_log - 1;
                self.next_log += 1000;
                rds::backup_descriptor::Position::Sqlserver(rds::SqlServerPosition {
                    first_lsn: first.to_string(),
                    last_lsn: (self.next_log - 1).to_string(),
                })
            }
        };
        let end = self.now_ms;
        self.make(backup_id, BackupKind::Log, start, end, position, size)
    }

    fn make(
        &self,
        backup_id: String,
        kind: BackupKind,
        start: i64,
        end: i64,
        position: rds::backup_descriptor::Position,
        size: usize,
    ) -> GeneratedBackup {
        let name = match (self.engine, kind) {
            (Engine::Mysql, BackupKind::Full) => "backup.xbstream",
            (Engine::Mysql, BackupKind::Log) => "binlog",
            (Engine::Sqlserver, BackupKind::Full) => "full.bak",
            (Engine::Sqlserver, BackupKind::Log) => "log.trn",
        };
        let contents = vec![self.payload(&backup_id, size)];
        let descriptor = rds::BackupDescriptor {
            backup_id: backup_id.clone(),
            instance_id: self.instance_id.clone(),
            tenant_id: self.tenant_id.clone(),
            engine: engine_to_rds(self.engine) as i32,
            region: self.region.clone(),
            kind: kind_to_rds(kind) as i32,
            files: vec![rds::BackupFile {
                key: format!("{}/{backup_id}/{name}", self.instance_id),
                size: size as u64,
                sha256: String::new(),
            }],
            data_start_time: Some(timestamp(start)),
            data_end_time: Some(timestamp(end)),
            position: Some(position),
            created_at: Some(timestamp(end)),
            format: 0,
        };
        GeneratedBackup {
            descriptor,
            contents,
        }
    }
}
