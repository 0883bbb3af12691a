//! `RecordDrill`: the drill role's report of one restore drill. A success
//! moves the service's latest verified restorable point; a failure makes a
//! RUNNING service DEGRADED naming the drill, and a later success ends a
//! DEGRADED only a drill caused (a failed backup keeps its own cause). The
//! record and its `DrillCompleted` event commit together; a repeat of the
//! same drill id, or a drill older than the last one recorded, changes
//! nothing.

use xregion_domain::ids::is_valid_id;
use xregion_domain::{DomainError, ServiceState};
use xregion_proto::convert::{millis, timestamp};
use xregion_proto::xregion::v1 as pb;

use crate::error::{CatalogError, Result};
use crate::service::Catalog;
use crate::store::services::{self, DrillColumns};
use crate::store::{drills, outbox};
use crate::sync::transition;

/// A drill's error is kept to this many characters.
pub const MAX_DRILL_ERROR: usize = 1000;
/// Longer than a week is not a restore time but a broken clock.
const MAX_RTO_MS: u64 = 7 * 24 * 3600 * 1000;
/// How far a drill's start may lie in the drill role's future (clock skew)
/// or in the past.
const SKEW_MS: i64 = 5 * 60 * 1000;
const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;

/// A report that passed [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDrill {
    pub started_at: i64,
    /// Set when the drill succeeded.
    pub restored_to: Option<i64>,
    pub rto_ms: i64,
    pub error: String,
}

/// Checks a report from the drill role (which read it from a child's
/// output: untrusted) at `now`.
pub fn validate(req: &pb::RecordDrillRequest, now: i64) -> Result<ValidDrill> {
    let invalid = |field, reason: &str| CatalogError::from(DomainError::invalid(field, reason));
    if !is_valid_id(&req.service_id) {
        return Err(invalid("service_id", "must be a valid id"));
    }
    if !is_valid_id(&req.drill_id) {
        return Err(invalid("drill_id", "must be a valid id"));
    }
    let started_at = req
        .started_at
        .as_ref()
        .map(millis)
        .ok_or_else(|| invalid("started_at", "must be set"))?;
    if started_at > now.saturating_add(SKEW_MS) || started_at < now.saturating_sub(MAX_AGE_MS) {
        return Err(invalid("started_at", "must be within the last 7 days"));
    }
    if req.rto_ms > MAX_RTO_MS {
        return Err(invalid("rto_ms", "must be at most 7 days"));
    }
    let restored_to = match (req.success, req.restored_to.as_ref().map(millis)) {
        (true, Some(at)) if at > 0 && at <= now.saturating_add(SKEW_MS) => Some(at),
        (true, _) => {
            return Err(invalid(
                "restored_to",
                "a successful drill names the point it restored, not in the future",
            ))
        }
        (false, _) => None,
    };
    let error = if req.success {
        String::new()
    } else {
        let error = clean(&req.error);
        if error.is_empty() {
            "drill failed without a reason".to_string()
        } else {
            error
        }
    };
    Ok(ValidDrill {
        started_at,
        restored_to,
        rto_ms: i64::try_from(req.rto_ms).unwrap_or(i64::MAX),
        error,
    })
}

/// At most [`MAX_DRILL_ERROR`] characters, control characters as spaces.
fn clean(error: &str) -> String {
    error
        .trim()
        .chars()
        .take(MAX_DRILL_ERROR)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Catalog {
    pub async fn record_drill(&self, req: &pb::RecordDrillRequest) -> Result<()> {
        let now = self.now();
        let drill = validate(req, now)?;
        let mut tx = self.db.pool.begin().await?;
        let Some(svc) = services::lock(&mut tx, &req.service_id).await? else {
            return Err(CatalogError::NotFound(
                xregion_domain::Reason::ServiceNotFound,
                format!("service {} is unknown", req.service_id),
            ));
        };
        if !svc.state.is_live() {
            tracing::info!(service_id = %svc.service_id, drill_id = %req.drill_id, "drill of a service no longer live, ignored");
            return Ok(());
        }
        if svc.drill.last_drill_id.as_deref() == Some(req.drill_id.as_str())
            || svc
                .drill
                .last_drill_at
                .is_some_and(|at| at > drill.started_at)
        {
            return Ok(()); // a repeat, or overtaken by a later drill
        }
        if let (Some(at), Some(latest)) = (drill.restored_to, svc.latest_data_time) {
            if at > latest {
                return Err(DomainError::invalid(
                    "restored_to",
                    "after the service's latest data time point",
                )
                .into());
            }
        }
        let message = format!("drill {} failed: {}", req.drill_id, drill.error);
        let mut record = DrillColumns {
            verified_point: drill.restored_to.or(svc.drill.verified_point),
            last_drill_id: Some(req.drill_id.clone()),
            last_drill_at: Some(drill.started_at),
            // A failed drill restored nothing: the RTO stays the last success's.
            last_drill_rto_ms: match drill.restored_to {
                Some(_) => Some(drill.rto_ms),
                None => svc.drill.last_drill_rto_ms,
            },
            last_drill_error: drill.error.clone(),
            drill_degraded: svc.drill.drill_degraded,
        };
        match (drill.restored_to.is_some(), svc.state) {
            (true, ServiceState::Degraded) if svc.drill.drill_degraded => {
                let reason = format!("drill {} succeeded", req.drill_id);
                transition(&mut tx, &svc, ServiceState::Running, &reason, now).await?;
                services::set_failure(&mut tx, &svc.service_id, None, "", now).await?;
                record.drill_degraded = false;
            }
            (false, ServiceState::Running) => {
                services::set_failure(&mut tx, &svc.service_id, None, &message, now).await?;
                transition(&mut tx, &svc, ServiceState::Degraded, &message, now).await?;
                record.drill_degraded = true;
            }
            (false, ServiceState::Degraded) if svc.drill.drill_degraded => {
                // Still degraded by drills: name the latest one.
                services::set_failure(&mut tx, &svc.service_id, None, &message, now).await?;
            }
            _ => {}
        }
        drills::record(&mut tx, &svc.service_id, &record, now).await?;
        let event = pb::DrillCompleted {
            service_id: svc.service_id.clone(),
            tenant_id: svc.tenant_id.clone(),
            drill_id: req.drill_id.clone(),
            success: drill.restored_to.is_some(),
            restored_to: drill.restored_to.map(timestamp),
            rto_ms: req.rto_ms,
            error: drill.error.clone(),
            started_at: Some(timestamp(drill.started_at)),
            completed_at: Some(timestamp(now)),
        };
        outbox::enqueue(&mut tx, &event, now).await?;
        self.commit(tx).await?;
        tracing::info!(service_id = %svc.service_id, drill_id = %req.drill_id, success = event.success, rto_ms = req.rto_ms, error = %drill.error, "drill recorded");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "drill_tests.rs"]
mod tests;
