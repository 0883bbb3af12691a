use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Mysql,
    Sqlserver,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Mysql => "mysql",
            Engine::Sqlserver => "sqlserver",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mysql" => Some(Engine::Mysql),
            "sqlserver" | "sql-server" | "mssql" => Some(Engine::Sqlserver),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    Full,
    Log,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Full => "full",
            BackupKind::Log => "log",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(BackupKind::Full),
            "log" => Some(BackupKind::Log),
            _ => None,
        }
    }

    /// A full never delays a log: each kind waits in its own lane.
    pub fn lane(self) -> Lane {
        match self {
            BackupKind::Full => Lane::Full,
            BackupKind::Log => Lane::Log,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Log,
    Full,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Log, Lane::Full];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Log => "log",
            Lane::Full => "full",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_round_trips() {
        for e in [Engine::Mysql, Engine::Sqlserver] {
            assert_eq!(Engine::parse(e.as_str()), Some(e));
        }
        assert_eq!(Engine::parse("oracle"), None);
    }

    #[test]
    fn kinds_map_to_their_own_lane() {
        assert_eq!(BackupKind::Full.lane(), Lane::Full);
        assert_eq!(BackupKind::Log.lane(), Lane::Log);
        assert_eq!(BackupKind::parse("log"), Some(BackupKind::Log));
    }
}
