//! What the catalog says about a job's service, in three answers: live (with
//! its record), known to be going or gone, or not known at all. Only the
//! second lets the worker stop a copy and remove what it wrote; an unknown
//! answer (a stray catalog on an empty database, say) removes nothing and
//! is retried like an outage.

use xregion_bus::{BusError, CatalogClient};
use xregion_domain::ServiceState;
use xregion_proto::convert::state_from_api;
use xregion_proto::xregion::v1 as pb;

#[derive(Debug, Clone, PartialEq)]
pub enum Liveness {
    Live(pb::ServiceRef),
    /// DELETING or DELETED in the catalog's own record.
    Gone,
    Unknown,
}

/// The answer about `service_id` among `statuses`.
pub fn liveness_of(service_id: &str, statuses: &[pb::ServiceStatus]) -> Liveness {
    let Some(status) = statuses
        .iter()
        .find(|s| s.known && s.service_id == service_id)
    else {
        return Liveness::Unknown;
    };
    match (state_from_api(status.state), &status.service) {
        (Some(ServiceState::Deleting | ServiceState::Deleted), _) => Liveness::Gone,
        (Some(s), Some(record)) if s.is_live() && record.service_id == service_id => {
            Liveness::Live(record.clone())
        }
        _ => Liveness::Unknown,
    }
}

pub async fn ask(catalog: &CatalogClient, service_id: &str) -> Result<Liveness, BusError> {
    let statuses = catalog.service_states(&[service_id.to_string()]).await?;
    Ok(liveness_of(service_id, &statuses))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xregion_proto::convert::state_to_api;

    fn status(id: &str, known: bool, state: ServiceState) -> pb::ServiceStatus {
        pb::ServiceStatus {
            service_id: id.into(),
            known,
            state: state_to_api(state) as i32,
            service: Some(pb::ServiceRef {
                service_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_known_deleting_or_deleted_record_is_gone() {
        use ServiceState::*;
        for s in [Creating, Seeding, Running, Degraded] {
            assert!(matches!(
                liveness_of("svc-1", &[status("svc-1", true, s)]),
                Liveness::Live(_)
            ));
        }
        for s in [Deleting, Deleted] {
            assert_eq!(
                liveness_of("svc-1", &[status("svc-1", true, s)]),
                Liveness::Gone
            );
        }
        assert_eq!(liveness_of("svc-1", &[]), Liveness::Unknown);
        assert_eq!(
            liveness_of("svc-1", &[status("svc-1", false, Deleted)]),
            Liveness::Unknown
        );
        assert_eq!(
            liveness_of("svc-1", &[status("svc-2", true, Deleted)]),
            Liveness::Unknown
        );
    }
}
