//! The deduplicated, validated view of a backup list that every rule uses.

use super::position::{normalize, Pos};
use super::walk::{Chain, LogIndex};
use super::{ChainBackup, ChainPosition, Millis};
use crate::engine::{BackupKind, Engine};

/// One usable backup: its position is valid for the engine.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<'a> {
    pub id: &'a str,
    pub data_end: Millis,
    pub pos: Pos,
}

/// A backup left out of every chain, with the reason.
#[derive(Debug)]
pub(super) struct Invalid<'a> {
    pub backup: &'a ChainBackup,
    pub reason: String,
}

pub(super) struct Inventory<'a> {
    /// One chain per usable FULL, newest first (consistent time, then
    /// position, then id).
    pub chains: Vec<Chain<'a>>,
    /// Usable LOGs in chain order (position, then id).
    pub logs: Vec<Entry<'a>>,
    /// Backups whose position is unusable, by id.
    pub invalid: Vec<Invalid<'a>>,
    pub index: LogIndex<'a>,
}

impl<'a> Inventory<'a> {
    pub fn new(engine: Engine, backups: &'a [ChainBackup]) -> Self {
        let mut all: Vec<(&ChainBackup, Result<Pos, String>)> = backups
            .iter()
            .map(|b| (b, normalize(engine, b.kind, &b.position)))
            .collect();
        // The same backup may be listed twice (retries, re-listing). Keep one
        // record per id, chosen by content rather than by input order so the
        // answer is deterministic; a usable record wins over an unusable one.
        all.sort_by(|(a, pa), (b, pb)| {
            a.backup_id
                .cmp(&b.backup_id)
                .then(pa.is_err().cmp(&pb.is_err()))
                .then_with(|| record_key(a).cmp(&record_key(b)))
        });
        all.dedup_by(|later, kept| later.0.backup_id == kept.0.backup_id);

        let mut fulls = Vec::new();
        let mut logs = Vec::new();
        let mut invalid = Vec::new();
        for (backup, pos) in all {
            match pos {
                Ok(pos) => {
                    let entry = Entry {
                        id: &backup.backup_id,
                        data_end: backup.data_end,
                        pos,
                    };
                    match backup.kind {
                        BackupKind::Full => fulls.push(entry),
                        BackupKind::Log => logs.push(entry),
                    }
                }
                Err(reason) => invalid.push(Invalid { backup, reason }),
            }
        }
        fulls.sort_by(|a, b| {
            b.data_end
                .cmp(&a.data_end)
                .then(b.pos.cmp(&a.pos))
                .then(a.id.cmp(b.id))
        });
        logs.sort_by(|a, b| a.pos.cmp(&b.pos).then(a.id.cmp(b.id)));

        let index = LogIndex::new(&logs);
        let chains = fulls.into_iter().map(|f| index.chain_from(f)).collect();
        Inventory {
            chains,
            logs,
            invalid,
            index,
        }
    }

    /// The time of the latest data any chain reaches, if there is a FULL.
    pub fn latest(&self) -> Option<Millis> {
        self.chains.iter().map(|c| c.end).max()
    }
}

/// Every field of a record, so equal keys mean identical records.
type RecordKey<'b> = (bool, Millis, Millis, u8, u64, u64, &'b str, &'b str);

fn record_key(b: &ChainBackup) -> RecordKey<'_> {
    let full = b.kind == BackupKind::Full;
    match &b.position {
        ChainPosition::Mysql {
            file_number,
            offset,
        } => (
            full,
            b.data_start,
            b.data_end,
            0,
            *file_number,
            *offset,
            "",
            "",
        ),
        ChainPosition::Sqlserver {
            first_lsn,
            last_lsn,
        } => (full, b.data_start, b.data_end, 1, 0, 0, first_lsn, last_lsn),
    }
}

/// Whether `log` holds data after the consistent point of `full`: MySQL
/// binlog `full.file` already does, SQL Server logs must end past it.
pub(super) fn log_after_full(log: Pos, full: Pos) -> bool {
    match (log, full) {
        (Pos::Mysql { file: l, .. }, Pos::Mysql { file: f, .. }) => l >= f,
        (Pos::Sqlserver { last: l, .. }, Pos::Sqlserver { last: f, .. }) => l > f,
        _ => false,
    }
}
