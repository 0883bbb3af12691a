//! What xregion publishes, as types: each message names its subject and
//! builds its `Nats-Msg-Id` here and nowhere else.
//!
//! The ids are the dedupe keys of the streams: a republish with the same id
//! within the dedupe window is dropped, which is what makes a redelivered
//! handler or a relay restarted after a crash harmless. Changing a format
//! changes which repeats are dropped, so every one is pinned by a test below
//! (and listed in the README's "Message broker contracts").

use xregion_domain::Lane;
use xregion_proto::convert::{opt_millis, state_from_api};
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

use crate::error::{BusError, Result};
use crate::names::{EventSubject, Namespace};

/// A message published to a JetStream stream: where it goes and the id that
/// makes a repeat of it a no-op.
pub trait Publishable: prost::Message + Default {
    fn subject(&self, ns: &Namespace) -> Result<String>;
    fn msg_id(&self) -> String;
}

/// An event on `<ns>.events.*` (the `XREGION_EVENTS` stream).
pub trait Event: Publishable {
    const SUBJECT: EventSubject;
}

/// One line per event: its subject and its message id.
macro_rules! events {
    ($($ty:ty => $subject:ident, |$e:ident| $id:expr;)*) => {$(
        impl Event for $ty {
            const SUBJECT: EventSubject = EventSubject::$subject;
        }

        impl Publishable for $ty {
            fn subject(&self, ns: &Namespace) -> Result<String> {
                Ok(ns.event_subject(Self::SUBJECT))
            }

            fn msg_id(&self) -> String {
                let $e = self;
                $id
            }
        }
    )*};
}

events! {
    pb::ServiceCreated => ServiceCreated, |e| format!("created:{}", service_id(&e.service));
    pb::ServiceDeleted => ServiceDeleted, |e| format!("deleted:{}", service_id(&e.service));
    pb::ServiceDataPurged => ServicePurged, |e| format!("purged:{}", e.service_id);
    // The change's time is part of the id: a service may pass through the
    // same pair of states again later. An update (UpdateSyncService: same
    // state, updated_fields set) adds the new retention, so two updates in
    // one millisecond stay two events.
    pb::ServiceStateChanged => ServiceStateChanged, |e| {
        let id = format!(
            "state:{}:{}:{}:{}",
            e.service_id,
            state_name(e.from),
            state_name(e.to),
            opt_millis(e.changed_at.as_ref()).unwrap_or(0)
        );
        if e.updated_fields.is_empty() {
            id
        } else {
            format!("{id}:retention:{}", e.retention_days)
        }
    };
    // One crossing per latest data time and direction (a service with no
    // data yet: per detection).
    pb::LagExceeded => LagExceeded, |e| format!(
        "lag:{}:exceeded:{}",
        e.service_id,
        lag_point(&e.latest_data_time, &e.detected_at)
    );
    pb::LagRecovered => LagRecovered, |e| format!(
        "lag:{}:recovered:{}",
        e.service_id,
        lag_point(&e.latest_data_time, &e.detected_at)
    );
    pb::BackupSynced => BackupSynced, |e| format!(
        "synced:{}:{}",
        service_id(&e.service),
        backup_id(&e.backup)
    );
    // Each attempt's failure is its own event.
    pb::BackupSyncFailed => BackupFailed, |e| format!(
        "failed:{}:{}:{}",
        service_id(&e.service),
        e.backup_id,
        e.attempt
    );
    pb::BackupExpired => BackupExpired, |e| format!("expired:{}:{}", e.service_id, e.backup_id);
    // One outcome per drill: the drill role's id of the run.
    pb::DrillCompleted => DrillCompleted, |e| format!("drill:{}:{}", e.service_id, e.drill_id);
    // One event per region and hour is enough to alert on.
    pb::SweepHalted => SweepHalted, |e| format!(
        "halted:{}:{}",
        e.region,
        opt_millis(e.halted_at.as_ref()).unwrap_or(0) / 3_600_000
    );
}

/// A transfer job, on `<ns>.transfer.<target_region>.<lane>` (the
/// `XREGION_TRANSFERS` work queue): one per backup and service.
impl Publishable for pb::TransferRequested {
    fn subject(&self, ns: &Namespace) -> Result<String> {
        let region = self
            .service
            .as_ref()
            .map(|s| s.target_region.as_str())
            .filter(|r| !r.is_empty());
        match (region, lane_from_api(self.lane)) {
            (Some(region), Some(lane)) => Ok(ns.transfer_subject(region, lane)),
            _ => Err(BusError::InvalidName {
                name: self.msg_id(),
                reason: "a transfer job names its service's target region and its lane",
            }),
        }
    }

    fn msg_id(&self) -> String {
        format!(
            "xfer:{}:{}",
            service_id(&self.service),
            backup_id(&self.backup)
        )
    }
}

/// The fields `LagExceeded` and `LagRecovered` share, so both are built by
/// one function ([`LagCrossing::event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagCrossing {
    pub service_id: String,
    pub tenant_id: String,
    pub lag_seconds: i64,
    pub threshold_seconds: i64,
    /// None while the service has no restorable point (it lags from its
    /// creation).
    pub latest_data_time_ms: Option<i64>,
    /// When the crossing was seen.
    pub detected_at_ms: i64,
}

/// What a lag crossing's id is of: the latest data time point, or, with
/// none yet, `none:<when it was detected>`.
fn lag_point(
    latest: &Option<xregion_proto::Timestamp>,
    detected: &Option<xregion_proto::Timestamp>,
) -> String {
    match opt_millis(latest.as_ref()) {
        Some(ms) => ms.to_string(),
        None => format!("none:{}", opt_millis(detected.as_ref()).unwrap_or(0)),
    }
}

/// `LagExceeded` or `LagRecovered`.
pub trait LagEvent: Event {
    fn from_crossing(c: &LagCrossing) -> Self;
}

macro_rules! lag_events {
    ($($ty:ty),*) => {$(
        impl LagEvent for $ty {
            fn from_crossing(c: &LagCrossing) -> Self {
                Self {
                    service_id: c.service_id.clone(),
                    tenant_id: c.tenant_id.clone(),
                    lag_seconds: c.lag_seconds,
                    threshold_seconds: c.threshold_seconds,
                    latest_data_time: c.latest_data_time_ms.map(xregion_proto::convert::timestamp),
                    detected_at: Some(xregion_proto::convert::timestamp(c.detected_at_ms)),
                }
            }
        }
    )*};
}

lag_events!(pb::LagExceeded, pb::LagRecovered);

impl LagCrossing {
    pub fn event<E: LagEvent>(&self) -> E {
        E::from_crossing(self)
    }
}

/// The id of a message moved to the dead-letter stream: a fresh one, since
/// the original is already in the dedupe window. `origin` is the stream
/// sequence of the original, or its subject when the server did not say.
pub fn dead_letter_msg_id(durable: &str, origin: impl std::fmt::Display) -> String {
    format!("dl:{durable}:{origin}")
}

/// The id of a replayed dead letter, derived from the entry so a replay
/// repeated after a failed removal is dropped as a duplicate.
pub fn replay_msg_id(dead_letter_stream: &str, seq: u64) -> String {
    format!("replay:{dead_letter_stream}:{seq}")
}

fn service_id(service: &Option<pb::ServiceRef>) -> &str {
    service.as_ref().map_or("", |s| s.service_id.as_str())
}

fn backup_id(backup: &Option<rds::BackupDescriptor>) -> &str {
    backup.as_ref().map_or("", |b| b.backup_id.as_str())
}

/// The catalog's spelling of a state (`RUNNING`), as ids always had it.
fn state_name(api_state: i32) -> &'static str {
    state_from_api(api_state).map_or("UNSPECIFIED", |s| s.as_str())
}

fn lane_from_api(lane: i32) -> Option<Lane> {
    match pb::Lane::try_from(lane).ok()? {
        pb::Lane::Log => Some(Lane::Log),
        pb::Lane::Full => Some(Lane::Full),
        pb::Lane::Unspecified => None,
    }
}

#[cfg(test)]
mod tests {
    use xregion_domain::ServiceState;
    use xregion_proto::convert::{state_to_api, timestamp};

    use super::*;

    fn ns() -> Namespace {
        Namespace::new("xregion", "rds").unwrap()
    }

    fn service(id: &str) -> Option<pb::ServiceRef> {
        Some(pb::ServiceRef {
            service_id: id.into(),
            target_region: "cn-east-2".into(),
            ..Default::default()
        })
    }

    fn backup(id: &str) -> Option<rds::BackupDescriptor> {
        Some(rds::BackupDescriptor {
            backup_id: id.into(),
            ..Default::default()
        })
    }

    /// The subject and id of one message, as the bus would publish it.
    fn addressed<M: Publishable>(m: &M) -> (String, String) {
        (m.subject(&ns()).unwrap(), m.msg_id())
    }

    fn pair(subject: &str, id: &str) -> (String, String) {
        (subject.to_string(), id.to_string())
    }

    #[test]
    fn service_events() {
        let created = pb::ServiceCreated {
            service: service("s1"),
            created_at: Some(timestamp(5)),
        };
        assert_eq!(
            addressed(&created),
            pair("xregion.events.service.created", "created:s1")
        );
        let deleted = pb::ServiceDeleted {
            service: service("s1"),
            ..Default::default()
        };
        assert_eq!(
            addressed(&deleted),
            pair("xregion.events.service.deleted", "deleted:s1")
        );
        let purged = pb::ServiceDataPurged {
            service_id: "s1".into(),
            ..Default::default()
        };
        assert_eq!(
            addressed(&purged),
            pair("xregion.events.service.purged", "purged:s1")
        );
        let changed = pb::ServiceStateChanged {
            service_id: "s1".into(),
            from: state_to_api(ServiceState::Seeding) as i32,
            to: state_to_api(ServiceState::Running) as i32,
            changed_at: Some(timestamp(1_700_000_000_123)),
            ..Default::default()
        };
        assert_eq!(
            addressed(&changed),
            pair(
                "xregion.events.service.state",
                "state:s1:SEEDING:RUNNING:1700000000123"
            )
        );
        let updated = pb::ServiceStateChanged {
            service_id: "s1".into(),
            from: state_to_api(ServiceState::Running) as i32,
            to: state_to_api(ServiceState::Running) as i32,
            changed_at: Some(timestamp(1_700_000_000_123)),
            updated_fields: vec!["retention_days".into()],
            previous_retention_days: 7,
            retention_days: 3,
            ..Default::default()
        };
        assert_eq!(
            addressed(&updated),
            pair(
                "xregion.events.service.state",
                "state:s1:RUNNING:RUNNING:1700000000123:retention:3"
            )
        );
    }

    #[test]
    fn lag_events_share_one_builder_and_differ_in_subject_and_id() {
        let crossing = LagCrossing {
            service_id: "s1".into(),
            tenant_id: "t1".into(),
            lag_seconds: 700,
            threshold_seconds: 600,
            latest_data_time_ms: Some(1_700_000_000_000),
            detected_at_ms: 1_700_000_700_000,
        };
        let exceeded: pb::LagExceeded = crossing.event();
        let recovered: pb::LagRecovered = crossing.event();
        assert_eq!(exceeded.tenant_id, "t1");
        assert_eq!(recovered.detected_at, Some(timestamp(1_700_000_700_000)));
        assert_eq!(recovered.lag_seconds, 700);
        assert_eq!(
            addressed(&exceeded),
            pair(
                "xregion.events.service.lag.exceeded",
                "lag:s1:exceeded:1700000000000"
            )
        );
        assert_eq!(
            addressed(&recovered),
            pair(
                "xregion.events.service.lag.recovered",
                "lag:s1:recovered:1700000000000"
            )
        );
        // No data yet: no latest point, one crossing per detection.
        let none = LagCrossing {
            latest_data_time_ms: None,
            ..crossing
        };
        let exceeded: pb::LagExceeded = none.event();
        assert_eq!(exceeded.latest_data_time, None);
        assert_eq!(addressed(&exceeded).1, "lag:s1:exceeded:none:1700000700000");
    }

    #[test]
    fn backup_events() {
        let synced = pb::BackupSynced {
            service: service("s1"),
            backup: backup("b1"),
            ..Default::default()
        };
        assert_eq!(
            addressed(&synced),
            pair("xregion.events.backup.synced", "synced:s1:b1")
        );
        let failed = pb::BackupSyncFailed {
            service: service("s1"),
            backup_id: "b1".into(),
            attempt: 3,
            ..Default::default()
        };
        assert_eq!(
            addressed(&failed),
            pair("xregion.events.backup.failed", "failed:s1:b1:3")
        );
        let expired = pb::BackupExpired {
            service_id: "s1".into(),
            backup_id: "b1".into(),
            ..Default::default()
        };
        assert_eq!(
            addressed(&expired),
            pair("xregion.events.backup.expired", "expired:s1:b1")
        );
    }

    #[test]
    fn a_drill_is_one_event_per_drill_id() {
        let drill = pb::DrillCompleted {
            service_id: "s1".into(),
            drill_id: "d1".into(),
            success: true,
            ..Default::default()
        };
        assert_eq!(
            addressed(&drill),
            pair("xregion.events.service.drill.completed", "drill:s1:d1")
        );
    }

    #[test]
    fn sweep_halted_is_one_per_region_and_hour() {
        let at = |ms| pb::SweepHalted {
            region: "r1".into(),
            halted_at: Some(timestamp(ms)),
            ..Default::default()
        };
        assert_eq!(
            addressed(&at(7_200_000 + 59 * 60_000)),
            pair("xregion.events.cleanup.sweep.halted", "halted:r1:2")
        );
        assert_eq!(at(7_200_000).msg_id(), at(10_799_999).msg_id());
        assert_ne!(at(7_200_000).msg_id(), at(10_800_000).msg_id());
    }

    #[test]
    fn transfer_jobs_go_to_their_region_and_lane() {
        let job = |lane: pb::Lane| pb::TransferRequested {
            service: service("s1"),
            backup: backup("b1"),
            lane: lane as i32,
            requested_at: None,
        };
        assert_eq!(
            addressed(&job(pb::Lane::Log)),
            pair("xregion.transfer.cn-east-2.log", "xfer:s1:b1")
        );
        assert_eq!(
            addressed(&job(pb::Lane::Full)),
            pair("xregion.transfer.cn-east-2.full", "xfer:s1:b1")
        );
        assert!(job(pb::Lane::Unspecified).subject(&ns()).is_err());
        let nowhere = pb::TransferRequested {
            service: None,
            ..job(pb::Lane::Log)
        };
        assert!(nowhere.subject(&ns()).is_err());
    }

    #[test]
    fn every_event_subject_has_its_type() {
        let typed = [
            pb::ServiceCreated::SUBJECT,
            pb::ServiceDeleted::SUBJECT,
            pb::ServiceDataPurged::SUBJECT,
            pb::ServiceStateChanged::SUBJECT,
            pb::LagExceeded::SUBJECT,
            pb::LagRecovered::SUBJECT,
            pb::BackupSynced::SUBJECT,
            pb::BackupSyncFailed::SUBJECT,
            pb::BackupExpired::SUBJECT,
            pb::SweepHalted::SUBJECT,
            pb::DrillCompleted::SUBJECT,
        ];
        for subject in EventSubject::ALL {
            assert_eq!(
                typed.iter().filter(|t| **t == subject).count(),
                1,
                "{subject:?}"
            );
        }
    }

    #[test]
    fn dead_letter_ids() {
        assert_eq!(
            dead_letter_msg_id("xregion-purge", 42),
            "dl:xregion-purge:42"
        );
        assert_eq!(
            replay_msg_id("XREGION_DEADLETTER", 7),
            "replay:XREGION_DEADLETTER:7"
        );
    }
}
