//! Typed values of the flags shared by several commands, parsed by clap so
//! that a bad value is a usage error (exit status 2) before anything runs.

use std::str::FromStr;

use clap::ValueEnum;
use xregion_proto::xregion::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Mysql,
    Sqlserver,
}

impl From<EngineArg> for pb::Engine {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Mysql => pb::Engine::Mysql,
            EngineArg::Sqlserver => pb::Engine::Sqlserver,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Creating,
    Seeding,
    Running,
    Degraded,
    Deleting,
    Deleted,
}

impl From<StateArg> for pb::ServiceState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Creating => pb::ServiceState::Creating,
            StateArg::Seeding => pb::ServiceState::Seeding,
            StateArg::Running => pb::ServiceState::Running,
            StateArg::Degraded => pb::ServiceState::Degraded,
            StateArg::Deleting => pb::ServiceState::Deleting,
            StateArg::Deleted => pb::ServiceState::Deleted,
        }
    }
}

/// `--time`: RFC 3339, `latest` or `earliest` (of the restore window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    Latest,
    Earliest,
    /// Milliseconds since the epoch.
    At(i64),
}

impl FromStr for TimeArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "latest" => Ok(TimeArg::Latest),
            "earliest" => Ok(TimeArg::Earliest),
            _ => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| TimeArg::At(t.timestamp_millis()))
                .map_err(|_| {
                    format!("{s:?} is not RFC 3339 (e.g. 2026-11-26T09:30:00Z), latest or earliest")
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_an_end_of_the_window() {
        assert_eq!("latest".parse(), Ok(TimeArg::Latest));
        assert_eq!("earliest".parse(), Ok(TimeArg::Earliest));
        assert_eq!(
            "2025-10-09T08:53:20Z".parse(),
            Ok(TimeArg::At(1_760_000_000_000))
        );
        let err = "yesterday".parse::<TimeArg>().unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn every_state_flag_names_a_service_state() {
        for s in StateArg::value_variants() {
            let name = s.to_possible_value().map(|v| v.get_name().to_uppercase());
            let state = pb::ServiceState::from(*s).as_str_name();
            assert_eq!(
                Some(state.trim_start_matches("SERVICE_STATE_")),
                name.as_deref()
            );
        }
    }
}
