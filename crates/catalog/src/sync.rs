//! Continuous sync, as the catalog sees it: the backup inventory, what each
//! service still needs, synced copies, the restore window, state and lag.

use std::collections::BTreeSet;

use prost::Message;
use sqlx::AnyConnection;
use xregion_bus::EventSubject;
use xregion_domain::chain::{restore_window, seed_set, ChainBackup};
use xregion_domain::{BackupKind, ServiceState};
use xregion_proto::convert::backup as conv;
use xregion_proto::convert::timestamp;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

use crate::error::{CatalogError, Result};
use crate::service::{enqueue_state_change, service_ref, Catalog};
use crate::store::services::{self, ServiceRow};
use crate::store::{backups, outbox, synced};

impl Catalog {
    /// Records an upstream backup; invalid descriptors are refused whole.
    pub async fn record_backup(&self, d: &BackupDescriptor) -> Result<bool> {
        let (_, kind) = conv::validate(d).map_err(CatalogError::FailedPrecondition)?;
        let chain = conv::chain_backup(d)
            .ok_or_else(|| CatalogError::FailedPrecondition("incomplete descriptor".into()))?;
        let mut conn = self.db.pool.acquire().await?;
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
        Ok(services::get(conn, service_id)
            .await?
            .filter(|s| s.state.is_live()))
    }

    /// The seed set and everything after it that is not synced yet.
    pub async fn pending_backups(
        &self,
        req: &pb::PendingBackupsRequest,
    ) -> Result<pb::PendingBackupsResponse> {
        for d in &req.discovered {
            if let Err(error) = self.record_backup(d).await {
                tracing::warn!(backup_id = %d.backup_id, %error, "discovered backup refused");
            }
        }
        let mut conn = self.db.pool.acquire().await?;
        let Some(svc) = self.live_service(&mut conn, &req.service_id).await? else {
            return Ok(pb::PendingBackupsResponse::default());
        };
        let inventory: Vec<BackupDescriptor> = backups::for_instance(&mut conn, &svc.instance_id)
            .await?
            .into_iter()
            .filter(|d| d.tenant_id == svc.tenant_id)
            .collect();
        let chain: Vec<ChainBackup> = inventory.iter().filter_map(conv::chain_backup).collect();
        let seed: BTreeSet<String> = seed_set(svc.engine, &chain).into_iter().collect();
        let synced_rows = synced::for_service(&mut conn, &svc.service_id).await?;
        let done: BTreeSet<&str> = synced_rows
            .iter()
            .map(|r| r.manifest.backup_id.as_str())
            .collect();
        let oldest_full = synced_rows
            .iter()
            .filter(|r| r.manifest.kind == BackupKind::Full)
            .map(|r| r.manifest.data_start)
            .min();
        let backups = inventory
            .iter()
            .zip(chain.iter())
            .filter(|(d, c)| {
                seed.contains(&d.backup_id) || oldest_full.is_some_and(|start| c.data_end >= start)
            })
            .filter(|(d, _)| !done.contains(d.backup_id.as_str()))
            .map(|(d, _)| d.clone())
            .collect();
        Ok(pb::PendingBackupsResponse {
            service: Some(service_ref(&svc)),
            backups,
            has_full: chain.iter().any(|c| c.kind == BackupKind::Full),
        })
    }

    pub async fn live_services(&self, instance_id: &str) -> Result<Vec<pb::ServiceRef>> {
        let mut conn = self.db.pool.acquire().await?;
        let rows =
            services::live(&mut conn, (!instance_id.is_empty()).then_some(instance_id)).await?;
        Ok(rows.iter().map(service_ref).collect())
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
        tx.commit().await?;
        self.wake_relay();
        Ok(())
    }

    /// Records a verified copy and recomputes the window, state and lag.
    pub async fn backup_synced(&self, e: &pb::BackupSynced) -> Result<()> {
        let (Some(svc_ref), Some(d)) = (e.service.as_ref(), e.backup.as_ref()) else {
            return Err(CatalogError::FailedPrecondition(
                "BackupSynced without service or backup".into(),
            ));
        };
        let synced_at = e
            .synced_at
            .as_ref()
            .map(xregion_proto::convert::millis)
            .unwrap_or_else(|| self.now());
        let manifest = conv::manifest(d, svc_ref, synced_at)
            .ok_or_else(|| CatalogError::FailedPrecondition("incomplete descriptor".into()))?;
        let mut tx = self.db.pool.begin().await?;
        // Serialises concurrent copies of one service so the window is
        // always computed from every committed copy.
        services::lock(&mut tx, &svc_ref.service_id).await?;
        let Some(svc) = self.live_service(&mut tx, &svc_ref.service_id).await? else {
            tracing::info!(service_id = %svc_ref.service_id, backup_id = %d.backup_id, "copy for a service no longer live, ignored");
            return Ok(());
        };
        if !synced::insert(&mut tx, &manifest, &e.manifest_key).await? {
            return Ok(()); // a redelivery
        }
        let window = current_window(&mut tx, &svc).await?;
        let now = self.now();
        let bytes = i64::try_from(manifest.bytes()).unwrap_or(i64::MAX);
        services::record_copy_change(&mut tx, &svc.service_id, 1, bytes, window.as_ref(), now)
            .await?;
        crate::store::usage::add_transfer(
            &mut tx,
            &svc.service_id,
            synced_at,
            bytes,
            manifest.files.len() as i64,
        )
        .await?;
        crate::store::usage::set_stored(
            &mut tx,
            &svc.service_id,
            synced_at,
            svc.synced_bytes.saturating_add(bytes),
        )
        .await?;
        if window.is_some() && matches!(svc.state, ServiceState::Creating | ServiceState::Seeding) {
            transition(
                &mut tx,
                &svc,
                ServiceState::Running,
                "first restorable point synced",
                now,
            )
            .await?;
            services::set_failure(&mut tx, &svc.service_id, None, "", now).await?;
        } else if svc.state == ServiceState::Degraded
            && services::failed_backup(&mut tx, &svc.service_id)
                .await?
                .as_deref()
                == Some(d.backup_id.as_str())
        {
            transition(
                &mut tx,
                &svc,
                ServiceState::Running,
                "failed backup synced",
                now,
            )
            .await?;
            services::set_failure(&mut tx, &svc.service_id, None, "", now).await?;
        }
        tx.commit().await?;
        tracing::info!(service_id = %svc.service_id, backup_id = %d.backup_id, latest = ?window.as_ref().map(|w| w.latest), "copy recorded");
        self.check_lag(&svc.service_id).await?;
        self.wake_relay();
        Ok(())
    }

    pub async fn backup_failed(&self, e: &pb::BackupSyncFailed) -> Result<()> {
        let Some(svc_ref) = e.service.as_ref() else {
            return Err(CatalogError::FailedPrecondition(
                "BackupSyncFailed without service".into(),
            ));
        };
        let mut tx = self.db.pool.begin().await?;
        services::lock(&mut tx, &svc_ref.service_id).await?;
        let Some(svc) = self.live_service(&mut tx, &svc_ref.service_id).await? else {
            return Ok(());
        };
        let now = self.now();
        let message = format!("backup {}: {}", e.backup_id, e.reason);
        services::set_failure(&mut tx, &svc.service_id, Some(&e.backup_id), &message, now).await?;
        if e.permanent && svc.state != ServiceState::Degraded {
            transition(&mut tx, &svc, ServiceState::Degraded, &message, now).await?;
        }
        tx.commit().await?;
        self.wake_relay();
        Ok(())
    }

    /// Publishes LagExceeded / LagRecovered when the service crosses the
    /// threshold.
    pub async fn check_lag(&self, service_id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        let Some(svc) = self.live_service(&mut tx, service_id).await? else {
            return Ok(());
        };
        let Some(latest) = svc.latest_data_time else {
            return Ok(());
        };
        let now = self.now();
        let lag = (now - latest).max(0) / 1000;
        let exceeded = lag > self.lag_threshold_secs;
        if exceeded == services::lag_alerted(&mut tx, service_id).await? {
            return Ok(());
        }
        services::set_lag_alerted(&mut tx, service_id, exceeded).await?;
        let (kind, tag, payload) = if exceeded {
            let e = pb::LagExceeded {
                service_id: svc.service_id.clone(),
                tenant_id: svc.tenant_id.clone(),
                lag_seconds: lag,
                threshold_seconds: self.lag_threshold_secs,
                latest_data_time: Some(timestamp(latest)),
            };
            (EventSubject::LagExceeded, "exceeded", e.encode_to_vec())
        } else {
            let e = pb::LagRecovered {
                service_id: svc.service_id.clone(),
                tenant_id: svc.tenant_id.clone(),
                lag_seconds: lag,
                threshold_seconds: self.lag_threshold_secs,
                latest_data_time: Some(timestamp(latest)),
            };
            (EventSubject::LagRecovered, "recovered", e.encode_to_vec())
        };
        outbox::enqueue(
            &mut tx,
            kind,
            &format!("lag:{}:{tag}:{latest}", svc.service_id),
            payload,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(service_id = %svc.service_id, lag_seconds = lag, exceeded, "lag threshold crossed");
        self.wake_relay();
        Ok(())
    }

    pub async fn check_all_lags(&self) -> Result<()> {
        let rows = {
            let mut conn = self.db.pool.acquire().await?;
            services::live_with_data(&mut conn).await?
        };
        for row in rows {
            self.check_lag(&row.service_id).await?;
        }
        Ok(())
    }
}

/// The service's restore window from every copy recorded so far.
async fn current_window(
    conn: &mut AnyConnection,
    svc: &ServiceRow,
) -> Result<Option<xregion_domain::chain::RestoreWindow>> {
    let all = synced::for_service(conn, &svc.service_id).await?;
    let chain: Vec<ChainBackup> = all.iter().map(|r| r.manifest.chain_backup()).collect();
    Ok(restore_window(svc.engine, &chain))
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
        tx.commit().await?;
        self.wake_relay();
        Ok(())
    }
}

impl Catalog {
    /// Forgets an expired copy; the window's earliest point moves forward.
    pub async fn backup_expired(&self, e: &pb::BackupExpired) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        services::lock(&mut tx, &e.service_id).await?;
        let Some(svc) = services::get(&mut tx, &e.service_id).await? else {
            return Ok(());
        };
        let Some(bytes) = synced::delete(&mut tx, &svc.service_id, &e.backup_id).await? else {
            return Ok(()); // a redelivery
        };
        let window = current_window(&mut tx, &svc).await?;
        let now = self.now();
        services::record_copy_change(&mut tx, &svc.service_id, -1, -bytes, window.as_ref(), now)
            .await?;
        crate::store::usage::set_stored(
            &mut tx,
            &svc.service_id,
            now,
            svc.synced_bytes.saturating_sub(bytes),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(service_id = %svc.service_id, backup_id = %e.backup_id, earliest = ?window.as_ref().map(|w| w.earliest), "expired copy forgotten");
        Ok(())
    }
}
