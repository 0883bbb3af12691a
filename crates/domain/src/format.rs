//! What the bytes of a backup are, so a restore knows which tool reads them.
//! Upstream descriptors and manifests written before the format was
//! recorded carry none: they mean the engine's legacy format (MySQL: an SQL
//! dump FULL and binlog LOGs; SQL Server: native `.bak`/`.trn`).

use serde::{Deserialize, Serialize};

use crate::engine::{BackupKind, Engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupFormat {
    /// MySQL FULL: SQL text (`mariadb-dump`, `mysqldump`), loaded with the client.
    SqlDump,
    /// MySQL FULL: a physical copy streamed by `mariabackup --stream=xbstream`
    /// (or xtrabackup); its files concatenated in order are one stream.
    Xbstream,
    /// MySQL LOG: one closed binlog file.
    Binlog,
    /// SQL Server: native `BACKUP DATABASE` (`.bak`) or `BACKUP LOG` (`.trn`).
    SqlserverNative,
}

impl BackupFormat {
    pub const ALL: [BackupFormat; 4] = [
        BackupFormat::SqlDump,
        BackupFormat::Xbstream,
        BackupFormat::Binlog,
        BackupFormat::SqlserverNative,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackupFormat::SqlDump => "sql_dump",
            BackupFormat::Xbstream => "xbstream",
            BackupFormat::Binlog => "binlog",
            BackupFormat::SqlserverNative => "sqlserver_native",
        }
    }

    /// What a backup without a recorded format is (the legacy meaning).
    pub fn legacy(engine: Engine, kind: BackupKind) -> Self {
        match (engine, kind) {
            (Engine::Mysql, BackupKind::Full) => BackupFormat::SqlDump,
            (Engine::Mysql, BackupKind::Log) => BackupFormat::Binlog,
            (Engine::Sqlserver, _) => BackupFormat::SqlserverNative,
        }
    }

    /// Whether a backup of `engine` and `kind` can be in this format.
    pub fn fits(self, engine: Engine, kind: BackupKind) -> bool {
        matches!(
            (self, engine, kind),
            (
                BackupFormat::SqlDump | BackupFormat::Xbstream,
                Engine::Mysql,
                BackupKind::Full
            ) | (BackupFormat::Binlog, Engine::Mysql, BackupKind::Log)
                | (BackupFormat::SqlserverNative, Engine::Sqlserver, _)
        )
    }

    /// The format a backup is in: the recorded one when it fits the engine
    /// and kind, the legacy one when none is recorded; else why not.
    pub fn resolve(
        engine: Engine,
        kind: BackupKind,
        recorded: Option<BackupFormat>,
    ) -> Result<BackupFormat, String> {
        match recorded {
            None => Ok(Self::legacy(engine, kind)),
            Some(f) if f.fits(engine, kind) => Ok(f),
            Some(f) => Err(format!(
                "a {} {} backup cannot be in format {}",
                engine.as_str(),
                kind.as_str(),
                f.as_str()
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ENGINES: [Engine; 2] = [Engine::Mysql, Engine::Sqlserver];
    const KINDS: [BackupKind; 2] = [BackupKind::Full, BackupKind::Log];

    #[test]
    fn a_backup_without_a_format_keeps_its_legacy_meaning() {
        let mysql_full = BackupFormat::resolve(Engine::Mysql, BackupKind::Full, None);
        assert_eq!(mysql_full, Ok(BackupFormat::SqlDump));
        let mysql_log = BackupFormat::resolve(Engine::Mysql, BackupKind::Log, None);
        assert_eq!(mysql_log, Ok(BackupFormat::Binlog));
        for kind in KINDS {
            let sqlserver = BackupFormat::resolve(Engine::Sqlserver, kind, None);
            assert_eq!(sqlserver, Ok(BackupFormat::SqlserverNative));
        }
    }

    #[test]
    fn a_format_that_does_not_fit_is_refused_with_the_reason() {
        let err = BackupFormat::resolve(
            Engine::Sqlserver,
            BackupKind::Full,
            Some(BackupFormat::Xbstream),
        )
        .unwrap_err();
        assert_eq!(err, "a sqlserver full backup cannot be in format xbstream");
        assert!(BackupFormat::resolve(
            Engine::Mysql,
            BackupKind::Log,
            Some(BackupFormat::Xbstream)
        )
        .is_err());
        assert!(
            BackupFormat::resolve(Engine::Mysql, BackupKind::Full, Some(BackupFormat::Binlog))
                .is_err()
        );
        assert_eq!(
            BackupFormat::resolve(
                Engine::Mysql,
                BackupKind::Full,
                Some(BackupFormat::Xbstream)
            ),
            Ok(BackupFormat::Xbstream)
        );
    }

    #[test]
    fn json_names_are_snake_case_and_round_trip() {
        for f in BackupFormat::ALL {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(serde_json::from_str::<BackupFormat>(&json).unwrap(), f);
        }
        assert!(serde_json::from_str::<BackupFormat>("\"tarball\"").is_err());
    }

    proptest! {
        /// The legacy format always fits, and resolve agrees with fits.
        #[test]
        fn resolve_agrees_with_fits(e in 0usize..2, k in 0usize..2, f in 0usize..4) {
            let (engine, kind, format) = (ENGINES[e], KINDS[k], BackupFormat::ALL[f]);
            prop_assert!(BackupFormat::legacy(engine, kind).fits(engine, kind));
            let resolved = BackupFormat::resolve(engine, kind, Some(format));
            prop_assert_eq!(resolved.is_ok(), format.fits(engine, kind));
            if let Ok(got) = resolved {
                prop_assert_eq!(got, format);
            }
        }
    }
}
