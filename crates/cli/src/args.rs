//! Typed values of the flags shared by several commands, parsed by clap so
//! that a bad value is a usage error (exit status 2) before anything runs.

use std::str::FromStr;
use std::sync::LazyLock;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;
use xregion_domain::ServiceState;
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

/// `--state`: a state of the domain by its lower-case name (`running`), so
/// the flag offers exactly the domain's states. clap keeps the names it lists
/// for the life of the program, hence the static.
pub fn service_state() -> impl TypedValueParser<Value = ServiceState> {
    static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
        ServiceState::ALL
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect()
    });
    PossibleValuesParser::new(NAMES.iter().map(String::as_str)).try_map(|name| {
        ServiceState::parse(&name.to_ascii_uppercase()).ok_or("not a service state")
    })
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
    fn the_state_flag_takes_each_domain_state_by_its_lower_case_name() {
        let cmd = clap::Command::new("xregion");
        let parse = |s: &str| service_state().parse_ref(&cmd, None, s.as_ref()).ok();
        let names: Vec<_> = service_state()
            .possible_values()
            .into_iter()
            .flatten()
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(names.len(), ServiceState::ALL.len());
        for (state, name) in ServiceState::ALL.into_iter().zip(&names) {
            assert_eq!(*name, state.as_str().to_ascii_lowercase());
            assert_eq!(parse(name), Some(state));
        }
        assert_eq!(parse("sleepy"), None);
    }
}
