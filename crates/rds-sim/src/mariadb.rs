//! A real upstream adapter for MariaDB: FULL backups with `mariadb-dump
//! --single-transaction --master-data=2` (the consistent point's binlog file
//! and offset are read from the dump), LOG backups as the binlog files closed
//! by `FLUSH BINARY LOGS`, each with its real file number. Data times are
//! given by the caller (the clock of the workload), so restores to a time are
//! exact.

use std::path::{Path, PathBuf};
use std::process::Command;

use xregion_domain::{BackupKind, Engine};
use xregion_proto::convert::{engine_to_rds, kind_to_rds, timestamp};
use xregion_proto::rds::v1 as rds;

use crate::chain::GeneratedBackup;

/// Runs SQL as root over the server's socket; returns tab-separated rows.
pub fn sql(socket: &Path, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("mariadb")
        .arg(format!("--socket={}", socket.display()))
        .args(["-uroot", "-N", "-B", "-e", sql])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

pub struct MariaDbSource {
    pub socket: PathBuf,
    pub datadir: PathBuf,
    pub instance: String,
    pub tenant: String,
    pub region: String,
    seq: u64,
    /// First binlog not shipped yet.
    next_log: Option<u64>,
    last_end_ms: Option<i64>,
}

fn binlog_number(name: &str) -> Option<u64> {
    name.rsplit('.').next()?.parse().ok()
}

impl MariaDbSource {
    pub fn new(
        socket: PathBuf,
        datadir: PathBuf,
        instance: &str,
        tenant: &str,
        region: &str,
    ) -> Self {
        Self {
            socket,
            datadir,
            instance: instance.into(),
            tenant: tenant.into(),
            region: region.into(),
            seq: 0,
            next_log: None,
            last_end_ms: None,
        }
    }

    fn sql(&self, statement: &str) -> anyhow::Result<String> {
        sql(&self.socket, statement)
    }

    fn descriptor(
        &mut self,
        kind: BackupKind,
        name: &str,
        start: i64,
        end: i64,
        position: rds::MysqlPosition,
    ) -> rds::BackupDescriptor {
        self.seq += 1;
        let backup_id = format!("{}-{}-{:05}", self.instance, kind.as_str(), self.seq);
        rds::BackupDescriptor {
            backup_id: backup_id.clone(),
            instance_id: self.instance.clone(),
            tenant_id: self.tenant.clone(),
            engine: engine_to_rds(Engine::Mysql) as i32,
            region: self.region.clone(),
            kind: kind_to_rds(kind) as i32,
            files: vec![rds::BackupFile {
                key: format!("{}/{backup_id}/{name}", self.instance),
                size: 0,
                sha256: String::new(),
            }],
            data_start_time: Some(timestamp(start)),
            data_end_time: Some(timestamp(end)),
            position: Some(rds::backup_descriptor::Position::Mysql(position)),
            created_at: Some(timestamp(end)),
        }
    }

    /// A FULL of `databases`, consistent at `at_ms` on the workload's clock.
    pub fn full(&mut self, databases: &[&str], at_ms: i64) -> anyhow::Result<GeneratedBackup> {
        let out = Command::new("mariadb-dump")
            .arg(format!("--socket={}", self.socket.display()))
            .args([
                "-uroot",
                "--single-transaction",
                "--master-data=2",
                "--routines",
                "--databases",
            ])
            .args(databases)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "mariadb-dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = out.stdout;
        let text = String::from_utf8_lossy(&dump[..dump.len().min(64 * 1024)]).to_string();
        let line = text
            .lines()
            .find(|l| l.contains("CHANGE MASTER TO"))
            .ok_or_else(|| anyhow::anyhow!("no binlog position in the dump"))?;
        let field = |name: &str| {
            line.split(name).nth(1).map(|r| {
                r.trim_start_matches('=')
                    .trim_start_matches('\'')
                    .split(['\'', ',', ';'])
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
        };
        let file = field("MASTER_LOG_FILE")
            .ok_or_else(|| anyhow::anyhow!("no MASTER_LOG_FILE in {line}"))?;
        let pos: u64 = field("MASTER_LOG_POS")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no MASTER_LOG_POS in {line}"))?;
        let number =
            binlog_number(&file).ok_or_else(|| anyhow::anyhow!("bad binlog name {file}"))?;
        if self.next_log.is_none() {
            self.next_log = Some(number);
        }
        self.last_end_ms.get_or_insert(at_ms);
        let position = rds::MysqlPosition {
            binlog_file_number: number,
            binlog_offset: pos,
            binlog_file_name: file,
        };
        let descriptor = self.descriptor(BackupKind::Full, "dump.sql", at_ms, at_ms, position);
        Ok(GeneratedBackup {
            descriptor,
            contents: vec![dump],
        })
    }

    /// Closes the current binlog and returns every closed one not shipped
    /// yet, the last of them ending at `at_ms`.
    pub fn logs(&mut self, at_ms: i64) -> anyhow::Result<Vec<GeneratedBackup>> {
        self.sql("FLUSH BINARY LOGS")?;
        let current = self
            .sql("SHOW MASTER STATUS")?
            .split_whitespace()
            .next()
            .and_then(binlog_number)
            .ok_or_else(|| anyhow::anyhow!("no current binlog"))?;
        let first = self.next_log.unwrap_or(current);
        let mut out = Vec::new();
        for n in first..current {
            let name = format!("mysql-bin.{n:06}");
            let bytes = std::fs::read(self.datadir.join(&name))?;
            let start = self.last_end_ms.unwrap_or(at_ms);
            let position = rds::MysqlPosition {
                binlog_file_number: n,
                binlog_offset: bytes.len() as u64,
                binlog_file_name: name.clone(),
            };
            let descriptor = self.descriptor(BackupKind::Log, &name, start, at_ms, position);
            out.push(GeneratedBackup {
                descriptor,
                contents: vec![bytes],
            });
            self.last_end_ms = Some(at_ms);
        }
        self.next_log = Some(current);
        Ok(out)
    }
}
