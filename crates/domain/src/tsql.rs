//! The T-SQL script that restores a SQL Server plan from its downloaded
//! files: the FULL's stripes in one `RESTORE DATABASE … NORECOVERY`, each
//! LOG backup in its own `RESTORE LOG … NORECOVERY`, the last one with
//! `STOPAT` and `RECOVERY`. Pure text: `sqlcmd -i` runs it.

use crate::calendar::utc_parts;
use crate::chain::Millis;
use crate::engine::BackupKind;
use crate::error::{DomainError, Result};

/// One downloaded file of the plan, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    pub backup_id: String,
    pub kind: BackupKind,
    /// Where the file landed, as the server running the script reads it
    /// (absolute: `<dir>/<backup_id>/stripe1/db.bak`).
    pub path: String,
}

/// What to restore, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptInput<'a> {
    pub database: &'a str,
    pub stop_at: Millis,
    /// The FULL's files, then each LOG's, in plan order.
    pub files: &'a [ScriptFile],
}

/// The script, or an error for a name or path that cannot be written safely
/// (control characters), a plan without a FULL, or a FULL after a LOG.
pub fn restore_script(input: &ScriptInput<'_>) -> Result<String> {
    refuse_control("database", input.database)?;
    if input.database.is_empty() {
        return Err(DomainError::invalid("database", "must not be empty"));
    }
    let groups = group(input.files)?;
    let (full, logs) = groups
        .split_first()
        .filter(|(full, _)| full.kind == BackupKind::Full)
        .ok_or_else(|| DomainError::invalid("files", "the plan must start with a FULL"))?;
    let stop = utc_text(input.stop_at)?;
    let db = format!("[{}]", input.database.replace(']', "]]"));
    let mut out = format!(
        "-- xregion restore of {db}: FULL {} + {} LOG backups, stops at {stop} UTC\n\
         -- run with: sqlcmd -S <server> -E -i restore.sql\n",
        full.backup_id,
        logs.len()
    );
    let full_with = if logs.is_empty() {
        "RECOVERY, REPLACE"
    } else {
        "NORECOVERY, REPLACE"
    };
    out += &statement("DATABASE", &db, &disks(full)?, full_with);
    for (i, log) in logs.iter().enumerate() {
        let with = if i + 1 == logs.len() {
            format!("STOPAT = '{stop}', RECOVERY")
        } else {
            "NORECOVERY".to_owned()
        };
        out += &statement("LOG", &db, &disks(log)?, &with);
    }
    Ok(out)
}

/// Consecutive files of one backup.
struct Group<'a> {
    backup_id: &'a str,
    kind: BackupKind,
    files: Vec<&'a ScriptFile>,
}

fn group(files: &[ScriptFile]) -> Result<Vec<Group<'_>>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for f in files {
        match out.last_mut() {
            Some(g) if g.backup_id == f.backup_id => g.files.push(f),
            _ => {
                if f.kind == BackupKind::Full && !out.is_empty() {
                    return Err(DomainError::invalid("files", "one FULL, before every LOG"));
                }
                out.push(Group {
                    backup_id: &f.backup_id,
                    kind: f.kind,
                    files: vec![f],
                });
            }
        }
    }
    Ok(out)
}

fn statement(what: &str, db: &str, disks: &str, with: &str) -> String {
    format!("RESTORE {what} {db}\n  FROM {disks}\n  WITH {with};\nGO\n")
}

fn disks(g: &Group<'_>) -> Result<String> {
    let mut parts = Vec::new();
    for f in &g.files {
        refuse_control("backup_id", &f.backup_id)?;
        refuse_control("path", &f.path)?;
        parts.push(format!("DISK = N'{}'", f.path.replace('\'', "''")));
    }
    Ok(parts.join(",\n       "))
}

fn refuse_control(field: &'static str, s: &str) -> Result<()> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(DomainError::invalid(
            field,
            format!("contains the control character {c:?}"),
        )),
        None => Ok(()),
    }
}

/// `yyyy-mm-ddThh:mm:ss.fff` of unix `ms`, UTC (what `STOPAT` parses).
pub fn utc_text(ms: Millis) -> Result<String> {
    if ms < 0 {
        return Err(DomainError::invalid("stop_at", "before 1970"));
    }
    let t = utc_parts(ms);
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.milli
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_is_what_stopat_reads() {
        assert_eq!(utc_text(0).unwrap(), "1970-01-01T00:00:00.000");
        assert_eq!(
            utc_text(951_782_400_001).unwrap(),
            "2000-02-29T00:00:00.001"
        );
        assert_eq!(
            utc_text(1_760_000_000_123).unwrap(),
            "2025-10-09T08:53:20.123"
        );
        assert!(utc_text(-1).is_err());
    }
}
