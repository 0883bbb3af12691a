//! Which service to drill next: pure, from the catalog's answers.

use std::time::Duration;

use xregion_domain::Engine;
use xregion_proto::convert::{engine_from_api, millis};
use xregion_proto::xregion::v1 as pb;

/// A live service as the catalog described it (`ServiceStates`).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub service: pb::ServiceRef,
    pub engine: Option<Engine>,
    pub state: pb::ServiceState,
    pub latest_data_time: Option<i64>,
    pub last_drill_at: Option<i64>,
}

impl Candidate {
    /// `None` for an id the catalog does not know (any more).
    pub fn of(status: &pb::ServiceStatus) -> Option<Self> {
        let service = status.service.clone().filter(|_| status.known)?;
        Some(Self {
            engine: engine_from_api(service.engine),
            state: pb::ServiceState::try_from(status.state).unwrap_or_default(),
            latest_data_time: status.latest_data_time.as_ref().map(millis),
            last_drill_at: status.last_drill_time.as_ref().map(millis),
            service,
        })
    }
}

/// The candidates whose target region this deployment knows, and the ids
/// of the others: those cannot be drilled here, and must not stay first in
/// line for ever while the rest wait.
pub fn in_regions(candidates: Vec<Candidate>, regions: &[&str]) -> (Vec<Candidate>, Vec<String>) {
    let (known, unknown): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|c| regions.contains(&c.service.target_region.as_str()));
    (
        known,
        unknown.into_iter().map(|c| c.service.service_id).collect(),
    )
}

/// A DEGRADED service (a failed drill, or a failed copy) is drilled again
/// after at most this long: a repaired target should not wait a whole
/// interval to show it.
pub const DEGRADED_RETRY: Duration = Duration::from_secs(3600);

/// The service to drill at `now`, if any: RUNNING or DEGRADED (a drill
/// needs a restorable point, and a DEGRADED one needs it most), with a
/// latest data time, of an engine in `engines`, never drilled or last
/// drilled at least `interval` ago (a DEGRADED one: the shorter of
/// `interval` and [`DEGRADED_RETRY`]). Never-drilled services first, then
/// the longest since their last drill; ties by service id, so replicas
/// agree.
pub fn next_due<'a>(
    candidates: &'a [Candidate],
    now: i64,
    interval: Duration,
    engines: &[Engine],
) -> Option<&'a Candidate> {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let (interval_ms, degraded_ms) = (ms(interval), ms(interval.min(DEGRADED_RETRY)));
    candidates
        .iter()
        .filter(|c| {
            matches!(
                c.state,
                pb::ServiceState::Running | pb::ServiceState::Degraded
            )
        })
        .filter(|c| c.latest_data_time.is_some())
        .filter(|c| c.engine.is_some_and(|e| engines.contains(&e)))
        .filter(|c| {
            let wait = match c.state {
                pb::ServiceState::Degraded => degraded_ms,
                _ => interval_ms,
            };
            c.last_drill_at
                .is_none_or(|at| now.saturating_sub(at) >= wait)
        })
        .min_by(|a, b| {
            (a.last_drill_at, &a.service.service_id).cmp(&(b.last_drill_at, &b.service.service_id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_700_000_000_000;

    fn candidate(id: &str, last_drill_hours_ago: Option<i64>) -> Candidate {
        Candidate {
            service: pb::ServiceRef {
                service_id: id.into(),
                engine: pb::Engine::Mysql as i32,
                ..Default::default()
            },
            engine: Some(Engine::Mysql),
            state: pb::ServiceState::Running,
            latest_data_time: Some(NOW - HOUR),
            last_drill_at: last_drill_hours_ago.map(|h| NOW - h * HOUR),
        }
    }

    fn next(c: &[Candidate]) -> Option<&str> {
        next_due(c, NOW, Duration::from_secs(24 * 3600), &[Engine::Mysql])
            .map(|c| c.service.service_id.as_str())
    }

    #[test]
    fn never_drilled_first_then_the_longest_ago_and_none_before_the_interval() {
        let recent = candidate("s-recent", Some(2));
        let old = candidate("s-old", Some(30));
        let older = candidate("s-older", Some(48));
        let never = candidate("s-never", None);
        assert_eq!(
            next(&[recent.clone(), old.clone(), never, older.clone()]),
            Some("s-never")
        );
        assert_eq!(next(&[recent.clone(), old.clone(), older]), Some("s-older"));
        assert_eq!(next(&[recent.clone(), old]), Some("s-old"));
        assert_eq!(next(&[recent]), None);
        // Exactly one interval ago is due.
        assert_eq!(next(&[candidate("s-day", Some(24))]), Some("s-day"));
        // Ties go by id.
        assert_eq!(
            next(&[candidate("s-b", None), candidate("s-a", None)]),
            Some("s-a")
        );
    }

    #[test]
    fn only_restorable_services_of_drillable_engines() {
        let seeding = Candidate {
            state: pb::ServiceState::Seeding,
            ..candidate("s-seeding", None)
        };
        let no_data = Candidate {
            latest_data_time: None,
            ..candidate("s-empty", None)
        };
        let sqlserver = Candidate {
            engine: Some(Engine::Sqlserver),
            ..candidate("s-mssql", None)
        };
        let unknown_engine = Candidate {
            engine: None,
            ..candidate("s-what", None)
        };
        let deleting = Candidate {
            state: pb::ServiceState::Deleting,
            ..candidate("s-del", None)
        };
        let degraded = Candidate {
            state: pb::ServiceState::Degraded,
            ..candidate("s-degraded", Some(25))
        };
        let all = [
            seeding,
            no_data,
            sqlserver.clone(),
            unknown_engine,
            deleting,
            degraded,
        ];
        assert_eq!(next(&all), Some("s-degraded"));
        assert_eq!(next(&all[..5]), None);
        let only = [sqlserver];
        let both = next_due(
            &only,
            NOW,
            Duration::from_secs(1),
            &[Engine::Mysql, Engine::Sqlserver],
        );
        assert_eq!(both.map(|c| c.service.service_id.as_str()), Some("s-mssql"));
    }

    #[test]
    fn a_degraded_service_is_drilled_again_within_the_hour() {
        let degraded = |id, hours| Candidate {
            state: pb::ServiceState::Degraded,
            ..candidate(id, Some(hours))
        };
        assert_eq!(next(&[degraded("s-failed", 1)]), Some("s-failed"));
        assert_eq!(next(&[degraded("s-failed", 0)]), None);
        assert_eq!(next(&[candidate("s-ok", Some(1))]), None);
        // Never later than the interval itself.
        let mut recent = degraded("s-failed", 0);
        recent.last_drill_at = Some(NOW - 2_000);
        let recent = [recent];
        let short = next_due(&recent, NOW, Duration::from_secs(1), &[Engine::Mysql]);
        assert!(short.is_some());
    }

    #[test]
    fn services_of_unknown_regions_are_set_aside() {
        let mut elsewhere = candidate("s-elsewhere", None);
        elsewhere.service.target_region = "r9".into();
        let mut here = candidate("s-here", Some(30));
        here.service.target_region = "r2".into();
        let (known, unknown) = in_regions(vec![elsewhere, here], &["r1", "r2"]);
        assert_eq!(next(&known), Some("s-here"));
        assert_eq!(unknown, ["s-elsewhere"]);
    }

    #[test]
    fn unknown_ids_are_no_candidates() {
        let status = pb::ServiceStatus {
            service_id: "s1".into(),
            known: false,
            ..Default::default()
        };
        assert_eq!(Candidate::of(&status), None);
        let known = pb::ServiceStatus {
            known: true,
            state: pb::ServiceState::Running as i32,
            service: Some(candidate("s1", None).service),
            latest_data_time: Some(xregion_proto::convert::timestamp(NOW)),
            ..status
        };
        let c = Candidate::of(&known).unwrap_or_else(|| panic!("known"));
        assert_eq!(
            (c.engine, c.latest_data_time, c.last_drill_at),
            (Some(Engine::Mysql), Some(NOW), None)
        );
    }
}
