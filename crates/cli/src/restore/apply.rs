//! What a restore goes on to do with the files once downloaded, checked
//! against the FULL's format before anything is downloaded.

use xregion_domain::manifest::Manifest;
use xregion_domain::{BackupFormat, BackupKind, Engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyTo {
    /// Download only (the drill decides from `plan.json`; SQL Server scripts).
    Files,
    /// Load into a running server (`--mariadb-socket`): an SQL dump.
    Socket,
    /// Into a new datadir (`--mariadb-datadir`): an xbstream.
    Datadir,
}

/// The format of the FULL `full_id` among `manifests` (they passed
/// validate_for, so theirs fits); the engine's legacy FULL format for a
/// manifest without one.
pub fn full_format(engine: Engine, manifests: &[Manifest], full_id: &str) -> BackupFormat {
    manifests
        .iter()
        .find(|m| m.backup_id == full_id)
        .and_then(|m| m.backup_format().ok())
        .unwrap_or(BackupFormat::legacy(engine, BackupKind::Full))
}

pub fn check_apply(
    engine: Engine,
    full_id: &str,
    format: BackupFormat,
    to: ApplyTo,
) -> anyhow::Result<()> {
    let mysql_only = |flag: &str| {
        anyhow::ensure!(
            engine == Engine::Mysql,
            "{flag} applies MySQL plans only (this one is {})",
            engine.as_str()
        );
        Ok(())
    };
    match (to, format) {
        (ApplyTo::Socket, BackupFormat::Xbstream) => anyhow::bail!(
            "the FULL {full_id} is a physical copy (xbstream): restore it into a new datadir with --mariadb-datadir DIR, not into a running server with --mariadb-socket"
        ),
        (ApplyTo::Socket, _) => mysql_only("--mariadb-socket"),
        (ApplyTo::Datadir, BackupFormat::Xbstream) => mysql_only("--mariadb-datadir"),
        (ApplyTo::Datadir, other) => anyhow::bail!(
            "the FULL {full_id} is not a physical copy but {}: --mariadb-datadir restores xbstream FULLs; load an SQL dump into a running server with --mariadb-socket",
            other.as_str()
        ),
        (ApplyTo::Files, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_full_format_goes_only_where_it_can_be_restored() {
        let says = |engine, format, to, what: &str| {
            let err = check_apply(engine, "full-1", format, to)
                .unwrap_err()
                .to_string();
            assert!(err.contains(what), "{err}");
        };
        let (mysql, xb, dump) = (Engine::Mysql, BackupFormat::Xbstream, BackupFormat::SqlDump);
        says(
            mysql,
            xb,
            ApplyTo::Socket,
            "--mariadb-datadir DIR, not into a running server",
        );
        says(
            mysql,
            dump,
            ApplyTo::Datadir,
            "not a physical copy but sql_dump",
        );
        let native = BackupFormat::SqlserverNative;
        says(
            Engine::Sqlserver,
            native,
            ApplyTo::Socket,
            "MySQL plans only",
        );
        says(
            Engine::Sqlserver,
            native,
            ApplyTo::Datadir,
            "not a physical copy",
        );
        assert!(check_apply(mysql, "full-1", xb, ApplyTo::Datadir).is_ok());
        assert!(check_apply(mysql, "full-1", dump, ApplyTo::Socket).is_ok());
        assert!(check_apply(mysql, "full-1", xb, ApplyTo::Files).is_ok());
        assert!(check_apply(Engine::Sqlserver, "full-1", native, ApplyTo::Files).is_ok());
    }
}
