//! Continuous sync, as the catalog sees it: the backup inventory, what each
//! service still needs, synced copies, the restore window, state and lag.

use std::collections::BTreeSet;

use sqlx::AnyConnection;
use xregion_bus::LagCrossing;
use xregion_domain::chain::{pending, ChainBackup, RestoreWindow};
use xregion_domain::source_keys::check_source_keys;
use xregion_domain::{BackupKind, ServiceState};
use xregion_proto::convert::backup as conv;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

use crate::error::{CatalogError, Result};
use crate::metrics::ServiceGauges;
use crate::paging::{self, page_size};
use crate::service::{enqueue_state_change, service_ref, Catalog};
use crate::store::services::{self, ServiceRow};
use crate::store::{backups, instances, outbox, synced, usage};

/// Descriptors one PendingBackups request may carry (about 300 KiB).
pub const MAX_DISCOVERED: usize = 1000;
const DEFAULT_PENDING_PAGE: usize = 200;
const DEFAULT_LIVE_PAGE: usize = 500;
/// Live services read per query by the lag check.
const LAG_PASS_PAGE: i64 = 1000;

impl Catalog {
    /// Records an upstream backup; invalid descriptors are refused whole
    /// (FailedPrecondition, with the reason): out-of-range sizes or times,
    /// files outside the region's `source_key_prefix`, or a tenant, region
    /// or engine other than the recorded instance's.
    pub async fn record_backup(&self, d: &BackupDescriptor) -> Result<bool> {
        let (engine, kind) =
            conv::validate_at(d, self.now()).map_err(CatalogError::precondition)?;
        let chain = conv::chain_backup(d)
            .ok_or_else(|| CatalogError::precondition("incomplete descriptor"))?;
        check_source_keys(
            self.source_key_prefix(&d.region),
            &d.tenant_id,
            &d.instance_id,
            d.files.iter().map(|f| f.key.as_str()),
        )
        .map_err(|e| CatalogError::precondition(e.to_string()))?;
        let mut conn = self.db.pool.acquire().await?;
        if let Some(instance) = instances::get(&mut conn, &d.instance_id).await? {
            if (&instance.tenant_id, &instance.region, instance.engine)
                != (&d.tenant_id, &d.region, engine)
            {
                return Err(CatalogError::precondition(format!(
                    "descriptor names tenant {:?}, region {:?}, engine {}, but instance {:?} is tenant {:?}'s {} instance in region {:?}",
                    d.tenant_id,
                    d.region,
                    engine.as_str(),
                    d.instance_id,
                    instance.tenant_id,
                    instance.engine.as_str(),
                    instance.region
                )));
            }
        }
        backups::insert(
            &mut conn,
            d,
            kind.as_str(),
            chain.data_start,
            chain.data_end,
            self.now(),
        )
        .await
    }

    async fn live_service(
        &self,
        conn: &mut AnyConnection,
        service_id: &str,
    ) -> Result<Option<ServiceRow>> {
        Ok(only_live(services::get(conn, service_id).await?))
    }

    /// The seed set and everything after it that is not synced yet
    /// ([`xregion_domain::chain::pending`]), one page at a time in
    /// (data end, backup id) order.
    pub async fn pending_backups(
        &self,
        req: &pb::PendingBackupsRequest,
    ) -> Result<pb::PendingBackupsResponse> {
        if req.discovered.len() > MAX_DISCOVERED {
            return Err(xregion_domain::DomainError::invalid(
                "discovered",
                format!(
                    "{} descriptors; send at most {MAX_DISCOVERED} per request",
                    req.discovered.len()
                ),
            )
            .into());
        }
        let limit = page_size(req.page_size, DEFAULT_PENDING_PAGE);
        let bound = paging::Binding::of(&[&req.service_id]);
        let after = paging::PENDING_BACKUPS.parse(&bound, &req.page_token)?;
        for d in &req.discovered {
            if let Err(error) = self.record_backup(d).await {
                tracing::warn!(backup_id = %d.backup_id, %error, "discovered backup refused");
            }
        }
        let mut conn = self.db.pool.acquire().await?;
        let Some(svc) = self.live_service(&mut conn, &req.service_id).await? else {
            return Ok(pb::PendingBackupsResponse::default());
        };
        // Only the service's own tenant and source region: a descriptor
        // recorded before its instance was known may name others.
        let mut inventory: Vec<(BackupDescriptor, ChainBackup)> =
            backups::for_instance(&mut conn, &svc.instance_id)
                .await?
                .into_iter()
                .filter(|d| d.tenant_id == svc.tenant_id && d.region == svc.source_region)
                .filter_map(|d| conv::chain_backup(&d).map(|c| (d, c)))
                .collect();
        // The page order, in Rust rather than the database's collation.
        inventory.sort_by(|(a, ca), (b, cb)| {
            (ca.data_end, &a.backup_id).cmp(&(cb.data_end, &b.backup_id))
        });
        let chain: Vec<ChainBackup> = inventory.iter().map(|(_, c)| c.clone()).collect();
        let synced_rows = synced::for_service(&mut conn, &svc.service_id).await?;
        let have: Vec<ChainBackup> = synced_rows
            .iter()
            .map(|r| r.manifest.chain_backup())
            .collect();
        let wanted: BTreeSet<String> = pending(svc.engine, &chain, &have).into_iter().collect();
        let candidates: Vec<&(BackupDescriptor, ChainBackup)> = inventory
            .iter()
            .filter(|(d, c)| {
                wanted.contains(&d.backup_id)
                    && after
                        .as_ref()
                        .is_none_or(|a| a.precedes(c.data_end, &d.backup_id))
            })
            .take(limit + 1)
            .collect();
        let (page, next_page_token) =
            paging::PENDING_BACKUPS.page(&bound, candidates, limit, |(d, c)| {
                paging::BackupPosition {
                    data_end: c.data_end,
                    backup_id: d.backup_id.clone(),
                }
            });
        Ok(pb::PendingBackupsResponse {
            service: Some(service_ref(&svc)),
            backups: page.into_iter().map(|(d, _)| d.clone()).collect(),
            has_full: chain.iter().any(|c| c.kind == BackupKind::Full),
            next_page_token,
        })
    }

    /// Live services (of one instance, or all), one page at a time in
    /// creation order; the token is the last service's sequence number.
    pub async fn live_services(
        &self,
        req: &pb::LiveServicesRequest,
    ) -> Result<(Vec<pb::ServiceRef>, String)> {
        let limit = page_size(req.page_size, DEFAULT_LIVE_PAGE);
        let bound = paging::Binding::of(&[&req.instance_id]);
        let after = paging::LIVE_SERVICES
            .parse(&bound, &req.page_token)?
            .unwrap_or(0);
        let instance = (!req.instance_id.is_empty()).then_some(req.instance_id.as_str());
        let mut conn = self.db.pool.acquire().await?;
        let rows = services::live_page(&mut conn, instance, after, limit as i64 + 1).await?;
        let (rows, next) = paging::LIVE_SERVICES.page(&bound, rows, limit, |r| r.seq);
        Ok((rows.iter().map(service_ref).collect(), next))
    }

    /// CREATING → SEEDING, once seeding jobs are queued (or cannot be yet).
    pub async fn mark_seeding(&self, service_id: &str, waiting_reason: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        let Some(svc) = self.live_service(&mut tx, service_id).await? else {
            return Ok(());
        };
        let now = self.now();
        if svc.state == ServiceState::Creating {
            transition(&mut tx, &svc, ServiceState::Seeding, "seeding started", now).await?;
        }
        let error = (!waiting_reason.is_empty()).then_some(waiting_reason);
        if let Some(reason) = error {
            services::set_failure(&mut tx, service_id, None, reason, now).await?;
        }
        self.commit(tx).await
    }

    /// Records a verified copy and recomputes the window, state and lag.
    pub async fn backup_synced(&self, e: &pb::BackupSynced) -> Result<()> {
        let (Some(svc_ref), Some(d)) = (e.service.as_ref(), e.backup.as_ref()) else {
            return Err(CatalogError::precondition(
                "BackupSynced without service or backup",
            ));
        };
        // The worker copied what the catalog recorded; a descriptor that
        // fails the checks now is forged or corrupt.
        conv::validate(d).map_err(CatalogError::precondition)?;
        let synced_at = e
            .synced_at
            .as_ref()
            .map(xregion_proto::convert::millis)
            .unwrap_or_else(|| self.now());
        // The catalog's own record, not the event's, says whose copy it is,
        // and the target must show it; checked before the service's row is
        // locked, since reading a store may take a while.
        {
            let mut conn = self.db.pool.acquire().await?;
            let Some(svc) = self.live_service(&mut conn, &svc_ref.service_id).await? else {
                tracing::info!(service_id = %svc_ref.service_id, backup_id = %d.backup_id, "copy for a service no longer live, ignored");
                return Ok(());
            };
            drop(conn);
            if d.tenant_id != svc.tenant_id || d.instance_id != svc.instance_id {
                return Err(CatalogError::precondition(format!(
                    "backup {} of {}/{} announced for service {} of {}/{}",
                    d.backup_id,
                    d.tenant_id,
                    d.instance_id,
                    svc.service_id,
                    svc.tenant_id,
                    svc.instance_id
                )));
            }
            let manifest = conv::manifest(d, &service_ref(&svc), synced_at)
                .ok_or_else(|| CatalogError::precondition("incomplete descriptor"))?;
            if let Some(targets) = self.targets() {
                crate::verify::manifest_in_target(targets, &svc, &e.manifest_key, &manifest)
                    .await?;
            }
        }
        let mut tx = self.db.pool.begin().await?;
        // Serialises concurrent copies of one service so the window is
        // always computed from every committed copy.
        let Some(svc) = only_live(services::lock(&mut tx, &svc_ref.service_id).await?) else {
            tracing::info!(service_id = %svc_ref.service_id, backup_id = %d.backup_id, "copy for a service no longer live, ignored");
            return Ok(());
        };
        let manifest = conv::manifest(d, &service_ref(&svc), synced_at)
            .ok_or_else(|| CatalogError::precondition("incomplete descriptor"))?;
        if !synced::insert(&mut tx, &manifest, &e.manifest_key).await? {
            return Ok(()); // a redelivery
        }
        let now = self.now();
        let bytes = i64::try_from(manifest.bytes()).unwrap_or(i64::MAX);
        let objects = manifest.files.len() as i64;
        let added = CopyChange::Added {
            copy: &manifest.chain_backup(),
            bytes,
            objects,
            at: synced_at,
        };
        let window = copies_changed(&mut tx, &svc, added, now).await?;
        if window.is_some() && matches!(svc.state, ServiceState::Creating | ServiceState::Seeding) {
            let reason = Some("first restorable point synced");
            clear_failure(&mut tx, &svc, reason, now).await?;
        } else if svc.failed_backup_id.as_deref() == Some(d.backup_id.as_str()) {
            // The backup the last error was about is copied now: DEGRADED
            // ends, and a RUNNING service's stale error goes away.
            let reason = (svc.state == ServiceState::Degraded).then_some("failed backup synced");
            clear_failure(&mut tx, &svc, reason, now).await?;
        }
        // The lag as of the window just recorded, in the same transaction:
        // a crossing's event commits with the copy that caused it, and a
        // copy costs no second transaction.
        let recorded = ServiceRow {
            latest_data_time: window.as_ref().map(|w| w.latest),
            ..svc
        };
        let crossed = self.lag_crossed(&mut tx, &recorded, now).await?;
        self.commit(tx).await?;
        tracing::info!(service_id = %recorded.service_id, backup_id = %d.backup_id, latest = ?recorded.latest_data_time, "copy recorded");
        log_crossing(&recorded, crossed);
        Ok(())
    }

    pub async fn backup_failed(&self, e: &pb::BackupSyncFailed) -> Result<()> {
        let Some(svc_ref) = e.service.as_ref() else {
            return Err(CatalogError::precondition(
                "BackupSyncFailed without service",
            ));
        };
        let mut tx = self.db.pool.begin().await?;
        let Some(svc) = only_live(services::lock(&mut tx, &svc_ref.service_id).await?) else {
            return Ok(());
        };
        // A failure of a backup that is not the instance's (a forged or
        // stale job) must not degrade the service.
        if !crate::store::backups::exists(&mut tx, &svc.instance_id, &e.backup_id).await? {
            tracing::warn!(service_id = %svc.service_id, backup_id = %e.backup_id, "failure of a backup the instance does not have, ignored");
            return Ok(());
        }
        let now = self.now();
        let message = format!("backup {}: {}", e.backup_id, e.reason);
        // A DEGRADED service keeps the failure that degraded it: later
        // failures (often transient, of other backups) must not move the
        // backup whose copy ends DEGRADED (they are announced as events).
        // A permanent one takes over from a failed drill, so that a later
        // successful drill does not end DEGRADED while this backup fails.
        if svc.state == ServiceState::Degraded && svc.drill.drill_degraded && e.permanent {
            services::set_failure(&mut tx, &svc.service_id, Some(&e.backup_id), &message, now)
                .await?;
            crate::store::drills::set_degraded(&mut tx, &svc.service_id, false).await?;
            return self.commit(tx).await;
        }
        if svc.state == ServiceState::Degraded {
            self.commit(tx).await?;
            tracing::info!(service_id = %svc.service_id, backup_id = %e.backup_id, reason = %e.reason, "copy failed while degraded");
            return Ok(());
        }
        services::set_failure(&mut tx, &svc.service_id, Some(&e.backup_id), &message, now).await?;
        if e.permanent {
            transition(&mut tx, &svc, ServiceState::Degraded, &message, now).await?;
        }
        self.commit(tx).await
    }

    /// Publishes LagExceeded / LagRecovered when the service crosses the
    /// threshold. A service with no restorable point yet (its first FULL
    /// not copied: stuck SEEDING, or an instance that never backs up) lags
    /// from its creation, so it alerts too instead of never.
    pub async fn check_lag(&self, service_id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        let Some(svc) = self.live_service(&mut tx, service_id).await? else {
            return Ok(());
        };
        let crossed = self.lag_crossed(&mut tx, &svc, self.now()).await?;
        if crossed.is_some() {
            self.commit(tx).await?;
        }
        log_crossing(&svc, crossed);
        Ok(())
    }

    /// Flips the service's lag alert when its lag at `now` (from `svc`'s
    /// latest data time) is on the other side of the threshold, and
    /// enqueues the crossing's event; returns the lag in seconds and
    /// whether it now exceeds the threshold, if it crossed.
    pub(crate) async fn lag_crossed(
        &self,
        conn: &mut AnyConnection,
        svc: &ServiceRow,
        now: i64,
    ) -> Result<Option<(i64, bool)>> {
        let lag = lag_ms(svc, now) / 1000;
        let exceeded = lag > self.lag_threshold_secs;
        // The row may be older than the flag (the lag pass takes no lock):
        // only the update that flips it enqueues the crossing.
        if exceeded == svc.lag_alerted
            || !services::set_lag_alerted(conn, &svc.service_id, exceeded).await?
        {
            return Ok(None);
        }
        let crossing = LagCrossing {
            service_id: svc.service_id.clone(),
            tenant_id: svc.tenant_id.clone(),
            lag_seconds: lag,
            threshold_seconds: self.lag_threshold_secs,
            latest_data_time_ms: svc.latest_data_time,
            detected_at_ms: now,
        };
        if exceeded {
            outbox::enqueue(conn, &crossing.event::<pb::LagExceeded>(), now).await?;
        } else {
            outbox::enqueue(conn, &crossing.event::<pb::LagRecovered>(), now).await?;
        }
        Ok(Some((lag, exceeded)))
    }

    /// Checks every live service's lag and refreshes the per-service gauges
    /// (`crate::metrics`) in one pass over the live services.
    pub async fn check_all_lags(&self) -> Result<()> {
        let now = self.now();
        let mut gauges = ServiceGauges::default();
        let mut after = 0;
        loop {
            // A connection per page, returned before check_lag takes its own.
            let page = {
                let mut conn = self.db.pool.acquire().await?;
                services::live_page(&mut conn, None, after, LAG_PASS_PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = last.seq;
            for svc in &page {
                // One service's failed check must not stop the others'
                // or leave every gauge stale: logged, retried next pass.
                if let Err(error) = self.check_lag(&svc.service_id).await {
                    tracing::warn!(service_id = %svc.service_id, %error, "lag check failed");
                }
                gauges.add(svc, now);
            }
            if page.len() < LAG_PASS_PAGE as usize {
                break;
            }
        }
        gauges.export();
        Ok(())
    }
}

/// Logs a crossing `lag_crossed` reported, once it is committed.
fn log_crossing(svc: &ServiceRow, crossed: Option<(i64, bool)>) {
    if let Some((lag_seconds, exceeded)) = crossed {
        tracing::warn!(service_id = %svc.service_id, lag_seconds, exceeded, "lag threshold crossed");
    }
}

/// The service, unless it is being deleted or gone.
fn only_live(row: Option<ServiceRow>) -> Option<ServiceRow> {
    row.filter(|s| s.state.is_live())
}

/// How far behind `svc` is at `now`: from its latest data time point, or
/// from its creation while it has none.
pub(crate) fn lag_ms(svc: &ServiceRow, now: i64) -> i64 {
    let since = svc.latest_data_time.unwrap_or(svc.created_at);
    now.saturating_sub(since).max(0)
}

/// A change of a service's copies.
pub(crate) enum CopyChange<'a> {
    /// A copy recorded: its place in the chain, its bytes and files, all
    /// transferred at `at`.
    Added {
        copy: &'a ChainBackup,
        bytes: i64,
        objects: i64,
        at: i64,
    },
    /// A copy of `bytes` forgotten (expired).
    Forgotten { bytes: i64 },
}

/// After `change`: the service's counts and restore window, and its usage
/// on the day of the change (what was transferred, what it stores).
/// Returns the window.
pub(crate) async fn copies_changed(
    conn: &mut AnyConnection,
    svc: &ServiceRow,
    change: CopyChange<'_>,
    now: i64,
) -> Result<Option<RestoreWindow>> {
    let (copies, bytes, added, at, transferred) = match change {
        CopyChange::Added {
            copy,
            bytes,
            objects,
            at,
        } => (
            1,
            bytes,
            Some(copy),
            at,
            usage::Transferred { bytes, objects },
        ),
        CopyChange::Forgotten { bytes } => (-1, -bytes, None, now, usage::Transferred::default()),
    };
    let window = crate::window::updated(conn, svc, added).await?;
    services::record_copy_change(conn, &svc.service_id, copies, bytes, window.as_ref(), now)
        .await?;
    let stored = svc.synced_bytes.saturating_add(bytes);
    usage::record_change(conn, &svc.service_id, at, transferred, stored).await?;
    Ok(window)
}

/// Clears the service's last error; with a reason, the service also
/// becomes RUNNING (where its state allows it).
async fn clear_failure(
    conn: &mut AnyConnection,
    svc: &ServiceRow,
    running_because: Option<&str>,
    now: i64,
) -> Result<()> {
    if let Some(reason) = running_because {
        transition(conn, svc, ServiceState::Running, reason, now).await?;
    }
    services::set_failure(conn, &svc.service_id, None, "", now).await
}

pub(crate) async fn transition(
    conn: &mut AnyConnection,
    svc: &ServiceRow,
    to: ServiceState,
    reason: &str,
    now: i64,
) -> Result<()> {
    if svc.state == to || !svc.state.can_transition_to(to) {
        return Ok(());
    }
    if services::set_state(conn, &svc.service_id, svc.state, to, now, None).await? {
        enqueue_state_change(conn, svc, svc.state, to, reason, now).await?;
        tracing::info!(service_id = %svc.service_id, from = svc.state.as_str(), to = to.as_str(), reason, "service state changed");
    }
    Ok(())
}

impl Catalog {
    /// DELETING → DELETED once cleanup removed the service's data.
    pub async fn service_purged(&self, e: &pb::ServiceDataPurged) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        let Some(svc) = services::get(&mut tx, &e.service_id).await? else {
            return Ok(());
        };
        if svc.state == ServiceState::Deleting {
            transition(
                &mut tx,
                &svc,
                ServiceState::Deleted,
                "target data purged",
                self.now(),
            )
            .await?;
        }
        self.commit(tx).await
    }
}

impl Catalog {
    /// Forgets an expired copy; the window's earliest point moves forward.
    /// The same as cleanup's `ExpireBackup` request; an unknown service is
    /// nothing to forget.
    pub async fn backup_expired(&self, e: &pb::BackupExpired) -> Result<()> {
        let req = pb::ExpireBackupRequest {
            service_id: e.service_id.clone(),
            backup_id: e.backup_id.clone(),
        };
        match self.expire_backup(&req).await {
            Err(CatalogError::NotFound(..)) => Ok(()),
            other => other,
        }
    }
}
