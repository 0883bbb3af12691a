//! What the orphan sweep may do with one service folder it found in a store:
//! a pure decision from the folder's own `service.json` and the catalog's
//! answer about that id. Deleting needs positive knowledge: a DELETED record
//! that names this very folder. Anything else is left alone.

use xregion_domain::layout;
use xregion_domain::manifest::ServiceDescriptor;
use xregion_domain::ServiceState;
use xregion_proto::convert::state_from_api;
use xregion_proto::xregion::v1 as pb;

/// A `<tenant>/<instance>/<service>` folder found in a region's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPrefix {
    pub tenant: String,
    pub instance: String,
    pub service: String,
}

impl FoundPrefix {
    pub fn path(&self) -> String {
        layout::service_prefix(&self.tenant, &self.instance, &self.service)
    }
}

/// Why a folder is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// `service.json` names another deployment sharing the bucket.
    OtherDeployment,
    /// The catalog has no record of the id: reported, never deleted.
    Unknown,
    /// The catalog's record names another folder or region.
    Mismatch,
    /// The purge is under way; it owns the folder.
    Purging,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::OtherDeployment => "other_deployment",
            Skip::Unknown => "unknown",
            Skip::Mismatch => "mismatch",
            Skip::Purging => "purging",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Skip(Skip),
    /// The catalog says DELETED: everything older than the grace period goes.
    RemoveAll,
    /// A live service: only files of backups without a manifest, past the
    /// grace period and not being copied, go.
    Live,
}

pub fn verdict(
    found: &FoundPrefix,
    region: &str,
    namespace: &str,
    descriptor: Option<&ServiceDescriptor>,
    status: Option<&pb::ServiceStatus>,
) -> Verdict {
    if let Some(ns) = descriptor.and_then(|d| d.namespace.as_deref()) {
        if ns != namespace {
            return Verdict::Skip(Skip::OtherDeployment);
        }
    }
    let Some(status) = status.filter(|s| s.known && s.service_id == found.service) else {
        return Verdict::Skip(Skip::Unknown);
    };
    let Some(record) = status.service.as_ref() else {
        return Verdict::Skip(Skip::Unknown);
    };
    if record.service_id != found.service
        || record.tenant_id != found.tenant
        || record.instance_id != found.instance
        || record.target_region != region
    {
        return Verdict::Skip(Skip::Mismatch);
    }
    match state_from_api(status.state) {
        Some(ServiceState::Deleted) => Verdict::RemoveAll,
        Some(ServiceState::Deleting) => Verdict::Skip(Skip::Purging),
        Some(s) if s.is_live() => Verdict::Live,
        _ => Verdict::Skip(Skip::Unknown),
    }
}

/// The circuit breaker: may a sweep remove `removing` of the `found` service
/// folders of one region? Never more than `max_share` of them, except that
/// one folder is always allowed (a small region would otherwise never heal).
pub fn within_share(removing: usize, found: usize, max_share: f64) -> bool {
    if removing == 0 {
        return true;
    }
    let share = if max_share.is_finite() {
        max_share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let allowed = ((found as f64) * share).floor() as usize;
    removing <= allowed.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xregion_proto::convert::state_to_api;

    fn found() -> FoundPrefix {
        FoundPrefix {
            tenant: "t".into(),
            instance: "i".into(),
            service: "svc-1".into(),
        }
    }

    fn status(state: ServiceState) -> pb::ServiceStatus {
        pb::ServiceStatus {
            service_id: "svc-1".into(),
            known: true,
            state: state_to_api(state) as i32,
            service: Some(pb::ServiceRef {
                service_id: "svc-1".into(),
                tenant_id: "t".into(),
                instance_id: "i".into(),
                target_region: "r2".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn descriptor(ns: Option<&str>) -> ServiceDescriptor {
        ServiceDescriptor {
            format: 1,
            service_id: "svc-1".into(),
            tenant_id: "t".into(),
            engine: xregion_domain::Engine::Mysql,
            source_region: "r1".into(),
            instance_id: "i".into(),
            target_region: "r2".into(),
            retention_days: 7,
            namespace: ns.map(String::from),
        }
    }

    #[test]
    fn only_a_deleted_record_of_this_folder_removes_it() {
        let f = found();
        let deleted = status(ServiceState::Deleted);
        assert_eq!(
            verdict(&f, "r2", "ns", None, Some(&deleted)),
            Verdict::RemoveAll
        );
        assert_eq!(
            verdict(
                &f,
                "r2",
                "ns",
                Some(&descriptor(Some("ns"))),
                Some(&deleted)
            ),
            Verdict::RemoveAll
        );
        // No answer, or "unknown": left alone.
        assert_eq!(
            verdict(&f, "r2", "ns", None, None),
            Verdict::Skip(Skip::Unknown)
        );
        let unknown = pb::ServiceStatus {
            service_id: "svc-1".into(),
            ..Default::default()
        };
        assert_eq!(
            verdict(&f, "r2", "ns", None, Some(&unknown)),
            Verdict::Skip(Skip::Unknown)
        );
        // Another deployment's folder, whatever our catalog says.
        assert_eq!(
            verdict(
                &f,
                "r2",
                "ns",
                Some(&descriptor(Some("other"))),
                Some(&deleted)
            ),
            Verdict::Skip(Skip::OtherDeployment)
        );
        // The record names another tenant, instance or region.
        for (tenant, instance, region) in [("x", "i", "r2"), ("t", "x", "r2"), ("t", "i", "r3")] {
            let f = FoundPrefix {
                tenant: tenant.into(),
                instance: instance.into(),
                service: "svc-1".into(),
            };
            assert_eq!(
                verdict(&f, region, "ns", None, Some(&deleted)),
                Verdict::Skip(Skip::Mismatch)
            );
        }
        // An answer about another id does not count.
        let mut other = deleted.clone();
        other.service_id = "svc-2".into();
        assert_eq!(
            verdict(&f, "r2", "ns", None, Some(&other)),
            Verdict::Skip(Skip::Unknown)
        );
    }

    #[test]
    fn states_other_than_deleted_keep_the_folder() {
        let f = found();
        assert_eq!(
            verdict(&f, "r2", "ns", None, Some(&status(ServiceState::Deleting))),
            Verdict::Skip(Skip::Purging)
        );
        for s in [
            ServiceState::Creating,
            ServiceState::Seeding,
            ServiceState::Running,
            ServiceState::Degraded,
        ] {
            assert_eq!(
                verdict(&f, "r2", "ns", None, Some(&status(s))),
                Verdict::Live
            );
        }
    }

    #[test]
    fn the_breaker_allows_one_folder_and_the_share() {
        assert!(within_share(0, 0, 0.1));
        assert!(within_share(1, 1, 0.1));
        assert!(!within_share(2, 2, 0.1));
        assert!(within_share(10, 100, 0.1));
        assert!(!within_share(11, 100, 0.1));
        assert!(!within_share(2, 100, 0.0));
        assert!(!within_share(2, 10, f64::NAN));
        assert!(within_share(100, 100, 1.0));
    }
}
