//! Conversions between the wire types and the pure domain types.

use prost_types::Timestamp;
use xregion_domain::{BackupKind, Engine, Lane, ServiceState};

use crate::rds::v1 as rds;
use crate::xregion::v1 as api;

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn millis(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos) / 1_000_000)
}

pub fn opt_millis(ts: Option<&Timestamp>) -> Option<i64> {
    ts.map(millis)
}

pub fn engine_from_api(value: i32) -> Option<Engine> {
    match api::Engine::try_from(value).ok()? {
        api::Engine::Mysql => Some(Engine::Mysql),
        api::Engine::Sqlserver => Some(Engine::Sqlserver),
        api::Engine::Unspecified => None,
    }
}

pub fn engine_to_api(engine: Engine) -> api::Engine {
    match engine {
        Engine::Mysql => api::Engine::Mysql,
        Engine::Sqlserver => api::Engine::Sqlserver,
    }
}

pub fn engine_from_rds(value: i32) -> Option<Engine> {
    match rds::Engine::try_from(value).ok()? {
        rds::Engine::Mysql => Some(Engine::Mysql),
        rds::Engine::Sqlserver => Some(Engine::Sqlserver),
        rds::Engine::Unspecified => None,
    }
}

pub fn engine_to_rds(engine: Engine) -> rds::Engine {
    match engine {
        Engine::Mysql => rds::Engine::Mysql,
        Engine::Sqlserver => rds::Engine::Sqlserver,
    }
}

pub fn kind_from_rds(value: i32) -> Option<BackupKind> {
    match rds::BackupKind::try_from(value).ok()? {
        rds::BackupKind::Full => Some(BackupKind::Full),
        rds::BackupKind::Log => Some(BackupKind::Log),
        rds::BackupKind::Unspecified => None,
    }
}

pub fn kind_to_rds(kind: BackupKind) -> rds::BackupKind {
    match kind {
        BackupKind::Full => rds::BackupKind::Full,
        BackupKind::Log => rds::BackupKind::Log,
    }
}

pub fn lane_to_api(lane: Lane) -> api::Lane {
    match lane {
        Lane::Log => api::Lane::Log,
        Lane::Full => api::Lane::Full,
    }
}

pub fn state_to_api(state: ServiceState) -> api::ServiceState {
    match state {
        ServiceState::Creating => api::ServiceState::Creating,
        ServiceState::Seeding => api::ServiceState::Seeding,
        ServiceState::Running => api::ServiceState::Running,
        ServiceState::Degraded => api::ServiceState::Degraded,
        ServiceState::Deleting => api::ServiceState::Deleting,
        ServiceState::Deleted => api::ServiceState::Deleted,
    }
}

pub fn state_from_api(value: i32) -> Option<ServiceState> {
    Some(match api::ServiceState::try_from(value).ok()? {
        api::ServiceState::Creating => ServiceState::Creating,
        api::ServiceState::Seeding => ServiceState::Seeding,
        api::ServiceState::Running => ServiceState::Running,
        api::ServiceState::Degraded => ServiceState::Degraded,
        api::ServiceState::Deleting => ServiceState::Deleting,
        api::ServiceState::Deleted => ServiceState::Deleted,
        api::ServiceState::Unspecified => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_negative() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(millis(&timestamp(ms)), ms);
        }
    }

    #[test]
    fn enums_round_trip() {
        for e in [Engine::Mysql, Engine::Sqlserver] {
            assert_eq!(engine_from_api(engine_to_api(e) as i32), Some(e));
            assert_eq!(engine_from_rds(engine_to_rds(e) as i32), Some(e));
        }
        for s in ServiceState::ALL {
            assert_eq!(state_from_api(state_to_api(s) as i32), Some(s));
        }
        assert_eq!(engine_from_api(0), None);
        assert_eq!(engine_from_api(77), None);
    }
}
