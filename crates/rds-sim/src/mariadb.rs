//! A real upstream adapter for MariaDB: logical FULL backups with
//! `mariadb-dump --single-transaction --master-data=2` (the consistent
//! point's binlog file and offset are read from the dump), physical ones
//! with `mariabackup --backup --stream=xbstream` (the position is what
//! mariabackup reports), LOG backups as the binlog files closed by `FLUSH
//! BINARY LOGS`, each with its real file number. Data times are given by the
//! caller (the clock of the workload), so restores to a time are exact.

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

/// The consistent point mariabackup reports: `MySQL binlog position:
/// filename 'mysql-bin.000002', position '607', GTID of the last change …`.
fn backup_binlog_position(log: &str) -> Option<(String, u64)> {
    let line = log.lines().find(|l| l.contains("MySQL binlog position:"))?;
    let quoted = |after: &str| -> Option<String> {
        let rest = line.split(after).nth(1)?.strip_prefix('\'')?;
        Some(rest.split('\'').next()?.to_string())
    };
    let file = quoted("filename ")?;
    let pos = quoted("position ")?.parse().ok()?;
    Some((file, pos))
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
        let format = match kind {
            BackupKind::Full => rds::BackupFormat::SqlDump,
            BackupKind::Log => rds::BackupFormat::Binlog,
        };
        self.descriptor_of(kind, format, &[name], (start, end), position)
    }

    fn descriptor_of(
        &mut self,
        kind: BackupKind,
        format: rds::BackupFormat,
        names: &[&str],
        (start, end): (i64, i64),
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
            files: names
                .iter()
                .map(|name| rds::BackupFile {
                    key: format!("{}/{backup_id}/{name}", self.instance),
                    size: 0,
                    sha256: String::new(),
                })
                .collect(),
            data_start_time: Some(timestamp(start)),
            data_end_time: Some(timestamp(end)),
            position: Some(rds::backup_descriptor::Position::Mysql(position)),
            created_at: Some(timestamp(end)),
            format: format as i32,
        }
    }

    /// The chain position of a FULL consistent at binlog `file`:`pos`;
    /// the first FULL also starts the binlogs to ship and the data times.
    fn consistent_point(
        &mut self,
        file: String,
        pos: u64,
        at_ms: i64,
    ) -> anyhow::Result<rds::MysqlPosition> {
        let number =
            binlog_number(&file).ok_or_else(|| anyhow::anyhow!("bad binlog name {file}"))?;
        if self.next_log.is_none() {
            self.next_log = Some(number);
        }
        self.last_end_ms.get_or_insert(at_ms);
        Ok(rds::MysqlPosition {
            binlog_file_number: number,
            binlog_offset: pos,
            binlog_file_name: file,
        })
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
        let position = self.consistent_point(file, pos, at_ms)?;
        let descriptor = self.descriptor(BackupKind::Full, "dump.sql", at_ms, at_ms, position);
        Ok(GeneratedBackup {
            descriptor,
            contents: vec![dump],
        })
    }

    /// A physical FULL of the whole server (`mariabackup --backup
    /// --stream=xbstream`), consistent at `at_ms` on the workload's clock,
    /// split into `files` parts (a multi-file FULL: concatenated in order
    /// they are the stream again).
    pub fn full_physical(&mut self, at_ms: i64, files: usize) -> anyhow::Result<GeneratedBackup> {
        anyhow::ensure!((1..=999).contains(&files), "1 to 999 parts, not {files}");
        // --no-defaults: nothing from this host's my.cnf; the server tells
        // mariabackup its datadir.
        let out = Command::new("mariabackup")
            .arg("--no-defaults")
            .args(["--backup", "--stream=xbstream", "--user=root"])
            .arg(format!("--socket={}", self.socket.display()))
            .output()?;
        let log = String::from_utf8_lossy(&out.stderr);
        anyhow::ensure!(out.status.success(), "mariabackup --backup: {log}");
        let (file, pos) = backup_binlog_position(&log)
            .ok_or_else(|| anyhow::anyhow!("mariabackup reported no binlog position: {log}"))?;
        let position = self.consistent_point(file, pos, at_ms)?;
        let stream = out.stdout;
        let part = stream.len().div_ceil(files).max(1);
        let contents: Vec<Vec<u8>> = stream.chunks(part).map(<[u8]>::to_vec).collect();
        let names: Vec<String> = (0..contents.len())
            .map(|i| format!("backup.xbstream.{i:03}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let descriptor = self.descriptor_of(
            BackupKind::Full,
            rds::BackupFormat::Xbstream,
            &names,
            (at_ms, at_ms),
            position,
        );
        Ok(GeneratedBackup {
            descriptor,
            contents,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_position_mariabackup_reports() {
        let log = "[00] 2026-11-28 19:40:51 Streaming xtrabackup_binlog_info\n\
            [00] 2026-11-28 19:40:51 MySQL binlog position: filename 'mysql-bin.000002', \
            position '607', GTID of the last change '0-1-4'\n";
        assert_eq!(
            backup_binlog_position(log),
            Some(("mysql-bin.000002".to_string(), 607))
        );
        assert_eq!(backup_binlog_position("completed OK!"), None);
        assert_eq!(
            backup_binlog_position("MySQL binlog position: filename 'x', position 'y'"),
            None
        );
    }
}
