//! Any message a watcher of xregion may see, decoded from its subject and
//! payload, with what every one of them says about itself: its protobuf
//! type, its service, its tenant and its time. The gateway's watch and the
//! JSON mirror read events through this, so both agree on who owns an event.

use prost::Message;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::Timestamp;

use crate::names::{EventSubject, Namespace};

/// An event (`<ns>.events.*`) or a progress report (`<ns>.progress.*.*`).
// One is decoded per message and handed on by value, as the generated
// `WatchEvent` oneof does: boxing the large ones would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    Created(pb::ServiceCreated),
    Deleted(pb::ServiceDeleted),
    Purged(pb::ServiceDataPurged),
    StateChanged(pb::ServiceStateChanged),
    LagExceeded(pb::LagExceeded),
    LagRecovered(pb::LagRecovered),
    Synced(pb::BackupSynced),
    Failed(pb::BackupSyncFailed),
    Expired(pb::BackupExpired),
    SweepHalted(pb::SweepHalted),
    Drill(pb::DrillCompleted),
    Progress(pb::TransferProgress),
}

impl AnyEvent {
    /// The message a subject carries; `None` for another subject or a
    /// payload that does not decode.
    pub fn decode(ns: &Namespace, subject: &str, payload: &[u8]) -> Option<Self> {
        fn de<M: Message + Default>(payload: &[u8], wrap: fn(M) -> AnyEvent) -> Option<AnyEvent> {
            M::decode(payload).ok().map(wrap)
        }
        let Some(kind) = ns.event_of(subject) else {
            return ns
                .is_progress_subject(subject)
                .then(|| de(payload, Self::Progress))
                .flatten();
        };
        match kind {
            EventSubject::ServiceCreated => de(payload, Self::Created),
            EventSubject::ServiceDeleted => de(payload, Self::Deleted),
            EventSubject::ServicePurged => de(payload, Self::Purged),
            EventSubject::ServiceStateChanged => de(payload, Self::StateChanged),
            EventSubject::LagExceeded => de(payload, Self::LagExceeded),
            EventSubject::LagRecovered => de(payload, Self::LagRecovered),
            EventSubject::BackupSynced => de(payload, Self::Synced),
            EventSubject::BackupFailed => de(payload, Self::Failed),
            EventSubject::BackupExpired => de(payload, Self::Expired),
            EventSubject::SweepHalted => de(payload, Self::SweepHalted),
            EventSubject::DrillCompleted => de(payload, Self::Drill),
        }
    }

    /// The full protobuf name of the message, e.g. `xregion.v1.BackupSynced`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Created(_) => "xregion.v1.ServiceCreated",
            Self::Deleted(_) => "xregion.v1.ServiceDeleted",
            Self::Purged(_) => "xregion.v1.ServiceDataPurged",
            Self::StateChanged(_) => "xregion.v1.ServiceStateChanged",
            Self::LagExceeded(_) => "xregion.v1.LagExceeded",
            Self::LagRecovered(_) => "xregion.v1.LagRecovered",
            Self::Synced(_) => "xregion.v1.BackupSynced",
            Self::Failed(_) => "xregion.v1.BackupSyncFailed",
            Self::Expired(_) => "xregion.v1.BackupExpired",
            Self::SweepHalted(_) => "xregion.v1.SweepHalted",
            Self::Drill(_) => "xregion.v1.DrillCompleted",
            Self::Progress(_) => "xregion.v1.TransferProgress",
        }
    }

    /// The service the event is about; empty for a region's sweep.
    pub fn service_id(&self) -> &str {
        self.owner().0
    }

    /// The tenant owning the service; empty for a region's sweep (no
    /// tenant's) and for a message that left it out.
    pub fn tenant_id(&self) -> &str {
        self.owner().1
    }

    fn owner(&self) -> (&str, &str) {
        fn of_ref(r: &Option<pb::ServiceRef>) -> (&str, &str) {
            r.as_ref()
                .map_or(("", ""), |r| (r.service_id.as_str(), r.tenant_id.as_str()))
        }
        match self {
            Self::Created(e) => of_ref(&e.service),
            Self::Deleted(e) => of_ref(&e.service),
            Self::Synced(e) => of_ref(&e.service),
            Self::Failed(e) => of_ref(&e.service),
            Self::Purged(e) => (&e.service_id, &e.tenant_id),
            Self::StateChanged(e) => (&e.service_id, &e.tenant_id),
            Self::LagExceeded(e) => (&e.service_id, &e.tenant_id),
            Self::LagRecovered(e) => (&e.service_id, &e.tenant_id),
            Self::Expired(e) => (&e.service_id, &e.tenant_id),
            Self::Drill(e) => (&e.service_id, &e.tenant_id),
            Self::Progress(e) => (&e.service_id, &e.tenant_id),
            Self::SweepHalted(_) => ("", ""),
        }
    }

    /// When it happened (not the time of the data it is about).
    pub fn time(&self) -> Option<&Timestamp> {
        match self {
            Self::Created(e) => e.created_at.as_ref(),
            Self::Deleted(e) => e.deleted_at.as_ref(),
            Self::Purged(e) => e.purged_at.as_ref(),
            Self::StateChanged(e) => e.changed_at.as_ref(),
            Self::LagExceeded(e) => e.detected_at.as_ref(),
            Self::LagRecovered(e) => e.detected_at.as_ref(),
            Self::Synced(e) => e.synced_at.as_ref(),
            Self::Failed(e) => e.failed_at.as_ref(),
            Self::Expired(e) => e.expired_at.as_ref(),
            Self::SweepHalted(e) => e.halted_at.as_ref(),
            Self::Drill(e) => e.completed_at.as_ref(),
            Self::Progress(e) => e.sent_at.as_ref(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use xregion_proto::convert::timestamp;

    use super::*;
    use crate::events::Publishable;

    fn ns() -> Namespace {
        Namespace::new("xregion", "rds").unwrap()
    }

    fn svc() -> Option<pb::ServiceRef> {
        Some(pb::ServiceRef {
            service_id: "s1".into(),
            tenant_id: "t1".into(),
            ..Default::default()
        })
    }

    fn at() -> Option<Timestamp> {
        Some(timestamp(1_700_000_000_000))
    }

    /// Publishes as the bus would and reads it back as a watcher would.
    fn round_trip<M: Publishable>(m: &M) -> AnyEvent {
        AnyEvent::decode(&ns(), &m.subject(&ns()).unwrap(), &m.encode_to_vec()).unwrap()
    }

    #[test]
    fn every_event_names_its_type_service_tenant_and_time() {
        let events = [
            round_trip(&pb::ServiceCreated {
                service: svc(),
                created_at: at(),
            }),
            round_trip(&pb::ServiceDeleted {
                service: svc(),
                deleted_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::ServiceDataPurged {
                service_id: "s1".into(),
                tenant_id: "t1".into(),
                purged_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::ServiceStateChanged {
                service_id: "s1".into(),
                tenant_id: "t1".into(),
                changed_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::LagExceeded {
                service_id: "s1".into(),
                tenant_id: "t1".into(),
                detected_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::LagRecovered {
                service_id: "s1".into(),
                tenant_id: "t1".into(),
                detected_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::BackupSynced {
                service: svc(),
                synced_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::BackupSyncFailed {
                service: svc(),
                failed_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::BackupExpired {
                service_id: "s1".into(),
                tenant_id: "t1".into(),
                expired_at: at(),
                ..Default::default()
            }),
            round_trip(&pb::DrillCompleted {
                service_id: "s1".into(),
                tenant_id: "t1".into(),
                completed_at: at(),
                ..Default::default()
            }),
        ];
        let mut types: Vec<_> = events.iter().map(AnyEvent::type_name).collect();
        types.dedup();
        assert_eq!(types.len(), events.len());
        for e in &events {
            assert_eq!((e.service_id(), e.tenant_id()), ("s1", "t1"), "{e:?}");
            assert_eq!(e.time(), at().as_ref(), "{e:?}");
        }
    }

    #[test]
    fn progress_is_read_from_its_own_subjects_only() {
        let p = pb::TransferProgress {
            service_id: "s1".into(),
            tenant_id: "t1".into(),
            sent_at: at(),
            ..Default::default()
        };
        let bytes = p.encode_to_vec();
        let read = AnyEvent::decode(&ns(), &ns().progress_subject("s1", "b1"), &bytes).unwrap();
        assert_eq!(read, AnyEvent::Progress(p));
        assert_eq!(read.type_name(), "xregion.v1.TransferProgress");
        assert_eq!((read.tenant_id(), read.time()), ("t1", at().as_ref()));
        for other in [
            "xregion.transfer.r1.log",
            "xregion.progress.s1",
            "other.progress.s1.b1",
        ] {
            assert_eq!(AnyEvent::decode(&ns(), other, &bytes), None, "{other}");
        }
    }

    #[test]
    fn a_sweep_is_nobodys_and_garbage_is_nothing() {
        let halted = round_trip(&pb::SweepHalted {
            region: "r1".into(),
            halted_at: at(),
            ..Default::default()
        });
        assert_eq!((halted.service_id(), halted.tenant_id()), ("", ""));
        assert_eq!(halted.time(), at().as_ref());
        let subject = ns().event_subject(EventSubject::BackupSynced);
        assert_eq!(AnyEvent::decode(&ns(), &subject, &[0xff, 0xff]), None);
    }
}
