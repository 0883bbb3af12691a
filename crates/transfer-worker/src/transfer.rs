//! One TransferRequested: copy every file, verify, write the manifest last,
//! announce BackupSynced. Failures are announced too and retried by the bus
//! up to its limit; the last one is marked permanent.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::ObjectStore;
use xregion_bus::{Delivery, Outcome, Publisher, TryHandler, UploadsBucket};
use xregion_common::Regions;
use xregion_domain::layout;
use xregion_domain::manifest::Manifest;
use xregion_proto::convert::backup as conv;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

use crate::commit::{self, Committed};
use crate::copy::{copy_streamed, copy_whole, CopyError, Ends};
use crate::direct_put::copy_whole_direct;
use crate::liveness::{self, Liveness};
use crate::local::{copy_local, Files};
use crate::progress::Progress;
use crate::resumable::{copy_resumable, Upload};
use crate::server_side::copy_server_side;
use crate::strategy::{choose_path, server_side_path, CopyPath, FileCopy, Region};

#[derive(Clone)]
pub struct Transfers {
    pub regions: Regions,
    pub publisher: Publisher,
    pub part_size: usize,
    /// Caps of the adaptive windows (`inflight`).
    pub parts_in_flight: usize,
    pub files_in_flight: usize,
    /// Where each route's windows settled.
    pub learned: Arc<crate::inflight::Learned>,
    /// Region pairs (source, target) copied inside their S3 endpoint.
    pub server_side: Arc<std::collections::BTreeMap<(String, String), crate::server_side::S3Pair>>,
    /// Target regions a file copied whole is PUT to straight from its
    /// source's stream, checked by the store (`direct_put`).
    pub direct: Arc<std::collections::BTreeMap<String, crate::direct_put::DirectTarget>>,
    /// How often a long copy tells the server it is still working.
    pub heartbeat: Duration,
    pub catalog: xregion_bus::CatalogClient,
    pub throttle: Arc<crate::throttle::Throttle>,
    /// Keys of the target regions that encrypt, read at start.
    pub keyrings: Arc<std::collections::BTreeMap<String, xregion_crypt::Keyring>>,
    /// The memory files copied whole share, whichever lane they are in.
    pub whole_budget: Arc<crate::budget::WholeBudget>,
    /// LOG files copied in parts at once (each holds a window of parts):
    /// many small logs may be in flight, not as many large ones.
    pub large_logs: Arc<tokio::sync::Semaphore>,
    /// Multipart uploads in progress, for resuming after a crash.
    pub uploads: async_nats::jetstream::kv::Store,
    /// The most a FULL's windows keep while logs copy; none: no yielding.
    pub full_beside_logs: Option<crate::priority::Keep>,
    pub clock: xregion_common::SharedClock,
}

/// Where a transfer's bytes go, and the bandwidth they share.
struct Route<'a> {
    source_region: &'a str,
    source: &'a Arc<dyn ObjectStore>,
    target: &'a Arc<dyn ObjectStore>,
    target_region: &'a str,
    throttle: Arc<crate::throttle::Bucket>,
    /// The transfer's data key, when the target region encrypts.
    sealing: Option<Arc<crate::seal::Sealing>>,
    /// Set when a file's PUT had to be tried again: the copy's time then
    /// says how the link failed, not how long a copy takes.
    tried_again: &'a AtomicBool,
}

impl Failure {
    /// What the service's owner may read (BackupSyncFailed becomes the
    /// service's last error): store, file-system and messaging errors name
    /// endpoints, buckets and paths of the deployment, so they are
    /// summarised; the details stay in this worker's log.
    pub(crate) fn for_tenants(&self) -> String {
        match self {
            Failure::Store(_) | Failure::Copy(CopyError::Store(_)) => {
                "the object store failed the request (details in the transfer-worker log)".into()
            }
            Failure::Copy(CopyError::Io(_)) | Failure::Copy(CopyError::State(_)) => {
                "the copy could not be written (details in the transfer-worker log)".into()
            }
            Failure::Bus(_) | Failure::Unknown => {
                "xregion's messaging is unavailable (details in the transfer-worker log)".into()
            }
            Failure::Region(_) | Failure::Target(_) => {
                "the regions are misconfigured (details in the transfer-worker log)".into()
            }
            other => other.to_string(),
        }
    }

    /// A store or NATS is unavailable (retried for as long as it lasts, never
    /// dead-lettered), as opposed to this backup being at fault.
    fn is_unavailable(&self) -> bool {
        use xregion_common::unavailable::store_unavailable;
        match self {
            Failure::Store(e) | Failure::Copy(CopyError::Store(e)) => store_unavailable(e),
            Failure::Copy(CopyError::State(_)) => true,
            Failure::Copy(CopyError::Io(e)) => e.kind() != std::io::ErrorKind::NotFound,
            Failure::Bus(e) => e.is_unavailable(),
            Failure::Unknown | Failure::Region(_) | Failure::Replaced(_) => true,
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("{0}")]
    Copy(#[from] CopyError),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("publish: {0}")]
    Bus(#[from] xregion_bus::BusError),
    #[error("the service was deleted")]
    Cancelled,
    #[error("a copied file is not in the target: {0}")]
    Landed(String),
    #[error("a copied file was written over by another delivery of the job: {0}")]
    Replaced(String),
    /// Another job message is copying this backup: wait, not a failure.
    #[error("{0}")]
    Busy(String),
    #[error("target: {0}")]
    Target(String),
    /// The job is not what the catalog's record says: forged or stale.
    #[error("{0}")]
    Forged(String),
    #[error("the catalog does not know the service; nothing removed, retried later")]
    Unknown,
    #[error("{0}")]
    Region(String),
}

#[async_trait::async_trait]
impl TryHandler for Transfers {
    async fn try_handle(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let job: pb::TransferRequested = d.decode()?;
        let (Some(service), Some(backup)) = (job.service, job.backup) else {
            return Err(Outcome::Reject(
                "TransferRequested without service or backup".into(),
            ));
        };
        let started = Instant::now();
        let result = self.transfer(&service, &backup, d).await;
        Ok(match result.inspect_err(crate::metrics::count_failure) {
            Ok(bytes) => {
                tracing::info!(service_id = %service.service_id, backup_id = %backup.backup_id, bytes, elapsed_ms = started.elapsed().as_millis() as u64, "backup synced");
                Outcome::Ack
            }
            // Nothing is lost by dropping it: that copy's own message is
            // redelivered should its worker die, and the watcher queues a
            // backup the catalog never recorded again (reconciliation).
            // Retrying it instead would pile up deliveries for as long as
            // that copy runs (hours for a large FULL).
            Err(Failure::Busy(reason)) => {
                tracing::info!(service_id = %service.service_id, backup_id = %backup.backup_id, %reason, "another job message is copying this backup; this one is dropped");
                Outcome::Ack
            }
            Err(Failure::Bus(e)) if e.is_unavailable() => Outcome::Unavailable(e.to_string()),
            Err(Failure::Bus(e)) => Outcome::Retry(e.to_string()),
            Err(Failure::Cancelled) => {
                let mp = self.regions.multipart(&service.target_region);
                let uploads = UploadsBucket::new(self.uploads.clone());
                for index in 0..backup.files.len() {
                    for key in [
                        xregion_bus::Namespace::upload_key(
                            &service.service_id,
                            &backup.backup_id,
                            index,
                        ),
                        xregion_bus::Namespace::sealed_upload_key(
                            &service.service_id,
                            &backup.backup_id,
                            index,
                        ),
                    ] {
                        uploads.discard(&key, mp.as_ref()).await;
                    }
                }
                tracing::info!(service_id = %service.service_id, backup_id = %backup.backup_id, "service deleted mid-copy, copy stopped");
                Outcome::Ack
            }
            Err(Failure::Forged(reason)) => {
                // Nothing is announced for the service the job names: a
                // forged job must not degrade a service it does not own.
                tracing::warn!(service_id = %service.service_id, backup_id = %backup.backup_id, %reason, "job refused");
                Outcome::Reject(reason)
            }
            Err(Failure::Invalid(reason)) => {
                self.announce_failure(&service, &backup.backup_id, &reason, d.attempt, true)
                    .await;
                Outcome::Reject(reason)
            }
            Err(failure) => {
                let reason = failure.to_string();
                let unavailable = failure.is_unavailable();
                tracing::warn!(service_id = %service.service_id, backup_id = %backup.backup_id, error = %reason, unavailable, "transfer attempt failed");
                self.announce_failure(
                    &service,
                    &backup.backup_id,
                    &failure.for_tenants(),
                    d.attempt,
                    d.is_last_attempt() && !unavailable,
                )
                .await;
                if unavailable {
                    Outcome::Unavailable(reason)
                } else {
                    Outcome::Retry(reason)
                }
            }
        })
    }
}

impl Transfers {
    #[tracing::instrument(skip_all, fields(service_id = %service.service_id, backup_id = %backup.backup_id, attempt = d.attempt))]
    async fn transfer(
        &self,
        service: &pb::ServiceRef,
        backup: &BackupDescriptor,
        d: &Delivery,
    ) -> Result<u64, Failure> {
        conv::validate_at(backup, self.clock.now_ms()).map_err(Failure::Invalid)?;
        self.regions
            .check_source_keys(
                &backup.region,
                &backup.tenant_id,
                &backup.instance_id,
                backup.files.iter().map(|f| f.key.as_str()),
            )
            .map_err(Failure::Invalid)?;
        let source = self.regions.store(&backup.region).ok_or_else(|| {
            Failure::Region(format!("source region {} is not configured", backup.region))
        })?;
        let target = self.regions.store(&service.target_region).ok_or_else(|| {
            Failure::Region(format!(
                "target region {} is not configured",
                service.target_region
            ))
        })?;
        let manifest_key = layout::manifest_key(&service.target_prefix, &backup.backup_id);
        let manifest = conv::manifest(backup, service, self.clock.now_ms())
            .ok_or_else(|| Failure::Invalid("incomplete descriptor".into()))?;

        // A job of a service deleted since it was queued is dropped: copying
        // it would only leave data for cleanup to collect. An earlier
        // attempt may have left an upload state (recorded after cleanup
        // purged the service): dropping goes through the cancelled path,
        // which lets go of it. The job must be what the catalog's record
        // says before anything is written.
        //
        // What an earlier delivery left at the manifest key is read while
        // the catalog answers (two reads, one wait); it is judged, and its
        // files read, only once the job is known to be the catalog's.
        let keyring = self.keyrings.get(&service.target_region);
        let (liveness, earlier) = tokio::join!(
            liveness::ask(&self.catalog, &service.service_id),
            self.read_committed(&service.target_region, target.as_ref(), &manifest_key),
        );
        let record = match liveness? {
            Liveness::Live(record) => record,
            Liveness::Gone => {
                tracing::info!("service no longer live, job dropped");
                return Err(Failure::Cancelled);
            }
            Liveness::Unknown => return Err(Failure::Unknown),
        };
        crate::ownership::job_matches_record(&record, service, backup).map_err(Failure::Forged)?;

        // Already committed by an earlier delivery: announce it again (the
        // event id makes that a no-op downstream) once its files are checked
        // in the target. A damaged copy is made again over it, the manifest
        // rewritten last; a manifest of other files is left alone.
        let earlier = earlier?;
        match commit::judge_committed(target.as_ref(), &manifest_key, earlier, &manifest, keyring)
            .await?
        {
            Committed::Absent => {}
            Committed::Sound(m) => {
                self.ensure_service_descriptor(&target, service).await?;
                self.announce_synced(service, backup, &manifest_key, m.bytes(), m.synced_at, 0)
                    .await?;
                return Ok(m.bytes());
            }
            Committed::Differs(reason) => return Err(Failure::Invalid(reason)),
            Committed::Damaged(reason) => {
                tracing::warn!(%reason, "committed copy failed its check; copying again");
                metrics::counter!(crate::metrics::RECOPIED).increment(1);
            }
        }
        // The in-progress marker keeps the orphan sweep off a long copy. A
        // LOG's is first written at its first heartbeat: until then its
        // files are kept by their own age (`cleanup.orphan_grace_hours`, far
        // longer than a heartbeat), so a log copied within one (most) spends
        // no round trips on it. Before its first marker, a copy makes sure
        // no other job message is copying this backup (`marker`): if one
        // is, this message is dropped.
        let log = manifest.kind == xregion_domain::BackupKind::Log;
        // An earlier attempt of this message may have left a marker.
        let retried = d.attempt > 1;
        let mut own_marker = false;
        if !log {
            self.wait_for_another_copy(target.as_ref(), service, backup, d)
                .await?;
            crate::marker::mark(
                target.as_ref(),
                &service.target_prefix,
                &backup.backup_id,
                self.clock.now_ms(),
                d.sequence,
            )
            .await?;
            own_marker = true;
        }
        let total: u64 = manifest.files.iter().map(|f| f.size).sum();
        let bytes_done = Arc::new(AtomicU64::new(0));
        let files_done = Arc::new(AtomicU32::new(0));
        let mut progress = Progress::new(
            self.publisher.clone(),
            self.clock.clone(),
            service,
            &backup.backup_id,
            total,
            manifest.files.len() as u32,
        );
        let started = Instant::now();
        let presence = self.throttle.presence().clone();
        let beside_at_start = (presence.fulls_running(), presence.logs_copying());
        // A fresh data key per transfer (resumed uploads keep theirs).
        let sealing =
            crate::seal::Sealing::fresh(keyring, &service.target_prefix, &backup.backup_id)
                .map_err(CopyError::from)?;
        // Held until the transfer ends: while it runs, this worker counts
        // among those sharing the lane's limit, and a log among those FULLs
        // yield to (`priority`).
        let lane = self
            .throttle
            .for_transfer(&backup.region, &service.target_region, log);
        let tried_again = AtomicBool::new(false);
        let route = Route {
            source_region: &backup.region,
            source: &source,
            target: &target,
            target_region: &service.target_region,
            throttle: lane.bucket.clone(),
            sealing: sealing.clone(),
            tried_again: &tried_again,
        };
        // service.json is needed before the commit, not before the files:
        // it is checked (a GET, a PUT when missing) while they copy.
        let copy_all = async {
            tokio::try_join!(
                self.copy_files(route, &manifest, bytes_done.clone(), files_done.clone()),
                self.ensure_service_descriptor(&target, service),
            )
            .map(|(written, ())| written)
        };
        let mut copy_all = Box::pin(copy_all);
        // The heartbeat runs beside the copy, not in a select arm: the copy
        // goes on being polled while the heartbeat waits on the catalog,
        // NATS or the store. It ends only to stop the copy.
        let heartbeat = async {
            // The first tick a second in: a copy done sooner (most logs)
            // reports once, at its end, not also at 0 bytes.
            let second = Duration::from_secs(1);
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + second, second);
            let mut last_ack = Instant::now();
            loop {
                ticker.tick().await;
                progress.set(
                    bytes_done.load(Ordering::Relaxed),
                    files_done.load(Ordering::Relaxed),
                );
                progress.tick().await;
                if last_ack.elapsed() < self.heartbeat {
                    continue;
                }
                // The job's lease first: a catalog slow to answer must not
                // let the message be redelivered beside this copy.
                d.in_progress().await;
                // A service deleted mid-copy stops its copy here. An answer
                // later than half a heartbeat counts as none (asked again
                // at the next), so heartbeats stay within the ack wait.
                let ask = liveness::ask(&self.catalog, &service.service_id);
                if let Ok(Ok(Liveness::Gone)) = tokio::time::timeout(self.heartbeat / 2, ask).await
                {
                    return Failure::Cancelled;
                }
                if !own_marker {
                    if let Err(failure) = self
                        .wait_for_another_copy(target.as_ref(), service, backup, d)
                        .await
                    {
                        return failure;
                    }
                }
                let written = crate::marker::mark(
                    target.as_ref(),
                    &service.target_prefix,
                    &backup.backup_id,
                    self.clock.now_ms(),
                    d.sequence,
                )
                .await;
                match written {
                    // A LOG's first marker must be there: from now on its
                    // files may outlive their own grace.
                    Err(error) if !(retried || own_marker) => return error.into(),
                    Err(error) => tracing::warn!(%error, "in-progress marker not refreshed"),
                    Ok(()) => own_marker = true,
                }
                last_ack = Instant::now();
            }
        };
        let stopped = tokio::select! {
            r = &mut copy_all => Ok(r),
            stop = heartbeat => Err(stop),
        };
        let copied = match stopped {
            Ok(copied) => copied,
            Err(stop) => {
                // The copy is dropped before anything is removed: streams
                // end, a copy in the kernel stops at its next chunk or
                // before its rename.
                drop(copy_all);
                if matches!(stop, Failure::Cancelled) {
                    self.remove_copy(&target, service, &manifest).await;
                }
                return Err(stop);
            }
        };
        let written = copied?;
        // The manifest says which key sealed each file.
        let manifest = match &sealing {
            Some(s) => s.apply(&manifest)?,
            None => manifest.clone(),
        };
        // The commit marker, and the check that every file is where it
        // says (service.json is there already), at once: one round trip a
        // copy fewer. Even a file this attempt PUT itself is checked, as an
        // orphan sweep with no grace period may have taken it since. Unless
        // both succeed, the marker is taken back out (if it is still the
        // one this attempt wrote) before anything announces the copy, and
        // the attempt fails: its retry finds no commit and copies again.
        let body = bytes::Bytes::from(manifest.to_json());
        let manifest_path = Path::from(manifest_key.as_str());
        let (landed, put) = tokio::join!(
            commit::own_files_landed(target.as_ref(), &manifest, keyring, &written),
            target.put(&manifest_path, body.clone().into()),
        );
        let committed = match (landed, put) {
            (Ok(Ok(())), Ok(_)) => Ok(()),
            // Another delivery wrote over this one's file: not this job's
            // fault, and retried uncounted, so the manifest withdrawn below
            // is always written again by a retry (never left out because
            // this was the job's last delivery).
            (Ok(Err(mismatch)), _) if mismatch.replaced => {
                Err(Failure::Replaced(mismatch.to_string()))
            }
            (Ok(Err(mismatch)), _) => Err(Failure::Landed(mismatch.to_string())),
            (Err(e), _) | (Ok(Ok(())), Err(e)) => Err(Failure::from(e)),
        };
        if let Err(failure) = committed {
            // A PUT that failed may still have been stored.
            if let Err(error) =
                commit::withdraw_manifest(target.as_ref(), &manifest_key, &body).await
            {
                tracing::warn!(%error, "unchecked manifest not withdrawn; the next delivery checks it");
            }
            return Err(failure);
        }
        // No copy lands after its service was deleted: asked once the
        // manifest is there, removing what was written. Asking before it
        // too would add nothing: a deletion after this answer finds the
        // manifest for the purge, one before it is seen here (and a long
        // copy asks at every heartbeat). One catalog request a log fewer.
        self.still_live(&target, service, &manifest).await?;
        if retried || own_marker {
            crate::marker::clear(target.as_ref(), &service.target_prefix, &backup.backup_id)
                .await?;
        }
        progress.set(total, manifest.files.len() as u32);
        progress.finish().await;
        metrics::histogram!(crate::metrics::COPY_DURATION, "kind" => crate::metrics::lane_of(manifest.kind))
            .record(started.elapsed().as_secs_f64());
        // A log whose PUT was tried again timed the link's failure.
        let timed = !tried_again.load(Ordering::Relaxed);
        if let (Some(pace), true, true) = (self.pace(), log, timed) {
            // Counted at both ends: what copied beside the log for a while.
            let beside = crate::priority::Beside {
                full: beside_at_start.0 || presence.fulls_running(),
                logs: beside_at_start.1.max(presence.logs_copying()),
            };
            pace.log_copied(&service.target_region, total, started.elapsed(), beside);
        }
        self.announce_synced(
            service,
            backup,
            &manifest_key,
            total,
            manifest.synced_at,
            started.elapsed().as_millis() as u64,
        )
        .await?;
        Ok(total)
    }

    /// What an earlier delivery left at the manifest key. Nothing there
    /// (most jobs) took a round trip to the target to tell, which paces
    /// FULLs beside logs.
    async fn read_committed(
        &self,
        region: &str,
        target: &dyn ObjectStore,
        key: &str,
    ) -> Result<xregion_common::objects::Small, object_store::Error> {
        let asked = Instant::now();
        let read = commit::read_committed(target, key).await;
        if let (Some(pace), Ok(xregion_common::objects::Small::Absent)) = (self.pace(), &read) {
            pace.round_trip(region, asked.elapsed());
        }
        read
    }

    fn pace(&self) -> Option<&crate::priority::Pace> {
        match &self.full_beside_logs {
            Some(crate::priority::Keep::Paced(pace)) => Some(pace),
            _ => None,
        }
    }

    /// Fails as [`Failure::Busy`] while the backup's marker shows another
    /// job message copying it (refreshed within two ack waits and 5 s: a
    /// live copy rewrites it every heartbeat, a third of one, plus half a
    /// heartbeat for the catalog's answer): this message is then dropped.
    /// A marker that cannot be read holds nothing back.
    async fn wait_for_another_copy(
        &self,
        target: &dyn ObjectStore,
        service: &pb::ServiceRef,
        backup: &BackupDescriptor,
        d: &Delivery,
    ) -> Result<(), Failure> {
        let fresh_ms = i64::try_from(6 * self.heartbeat.as_millis())
            .unwrap_or(i64::MAX)
            .saturating_add(5_000);
        let other = crate::marker::other_copy(
            target,
            &service.target_prefix,
            &backup.backup_id,
            d.sequence,
            self.clock.now_ms(),
            fresh_ms,
        )
        .await;
        match other {
            Ok(Some(reason)) => Err(Failure::Busy(reason)),
            Ok(None) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "in-progress marker not read; copying");
                Ok(())
            }
        }
    }

    /// Copies every file the way `choose_path` says, counting progress;
    /// several at once when the route's bandwidth-delay product calls for
    /// it (`inflight`), each with its own window of parts.
    async fn copy_files(
        &self,
        route: Route<'_>,
        manifest: &Manifest,
        bytes: Arc<AtomicU64>,
        files: Arc<AtomicU32>,
    ) -> Result<commit::Written, Failure> {
        use crate::inflight::Level;
        let adapt = crate::inflight::Route::new(
            self.learned.clone(),
            route.source_region,
            route.target_region,
        );
        let part = self.part_size as u64;
        let yields = self
            .full_beside_logs
            .clone()
            .filter(|_| manifest.kind == xregion_domain::BackupKind::Full)
            .map(|keep| crate::priority::Yield {
                transfers: self.throttle.presence().clone(),
                keep,
                target: route.target_region.to_string(),
            });
        let parts_window = || {
            Arc::new(adapt.window_yielding(
                Level::Parts,
                self.parts_in_flight,
                part,
                yields.clone(),
            ))
        };
        let uploads = UploadsBucket::new(self.uploads.clone());
        let multipart = self.regions.multipart(route.target_region);
        let from = Region::of(&self.regions, route.source_region, None);
        let to = Region::of(&self.regions, route.target_region, multipart.as_ref());
        // Counted as they move: a long copy shows as a rate, not a spike.
        let moved = metrics::counter!(crate::metrics::BYTES, "lane" => crate::metrics::lane_of(manifest.kind));
        let (uploads, adapt, target_region) = (&uploads, &adapt, route.target_region);
        // Only an ETag that names one write lets the commit skip opening a
        // sealed file's last chunk (`commit::own_files_landed`).
        let etags_vouch = self.regions.etags_name_writes(target_region);
        let (source, target, throttle) = (route.source, route.target, &route.throttle);
        let server_side = self
            .server_side
            .get(&(route.source_region.to_string(), target_region.to_string()));
        let copy_one = |index: usize, f: &'_ xregion_domain::manifest::ManifestFile| {
            let (bytes, moved) = (bytes.clone(), moved.clone());
            let file = FileCopy::of(f).encrypted(route.sealing.as_ref(), index);
            async move {
                let file = file?;
                let started = Instant::now();
                // Sealing needs the bytes in this worker: never server-side
                // when the file is encrypted (config refuses such a pair too).
                if let (Some(pair), None) = (server_side, &file.encrypt) {
                    let ends = Ends {
                        source: source.clone(),
                        target: target.clone(),
                        throttle: throttle.clone(),
                        parts: parts_window(),
                    };
                    let way = server_side_path(&file, self.part_size);
                    // Progress only: no byte passes through this worker.
                    let progress = move |n| {
                        bytes.fetch_add(n, Ordering::Relaxed);
                    };
                    // Recorded while it runs, so a dropped copy's
                    // multipart upload is aborted (cancelled path, cleanup).
                    let record = crate::server_side::Record {
                        uploads,
                        state_key: xregion_bus::Namespace::upload_key(
                            &manifest.service_id,
                            &manifest.backup_id,
                            index,
                        ),
                        target_region,
                        clock: self.clock.as_ref(),
                    };
                    copy_server_side(&file, pair, &ends, way, record, progress).await?;
                    metrics::counter!(crate::metrics::FILES, "path" => "server_side").increment(1);
                    return Ok((file.size, started.elapsed(), None, false));
                }
                let path = choose_path(from, to, &file, self.part_size);
                let counted = move |n| {
                    bytes.fetch_add(n, Ordering::Relaxed);
                    moved.increment(n);
                };
                // Its own window of parts, starting where the route's last
                // file settled.
                let ends = Ends {
                    source: source.clone(),
                    target: target.clone(),
                    throttle: throttle.clone(),
                    parts: parts_window(),
                };
                let direct = match (&path, self.direct.get(target_region), &file.encrypt) {
                    (CopyPath::Whole, Some(direct), None) => Some(direct),
                    _ => None,
                };
                let label = if direct.is_some() {
                    "direct"
                } else {
                    path.label()
                };
                // Memory first, then the clock: waiting for it is not the
                // route's latency. A sealed file is held twice (plaintext
                // and ciphertext). A direct PUT buffers nothing but holds
                // its size too: the budget also bounds how many whole files
                // share the link at once, each try within the region's timeout.
                let _memory = match path {
                    CopyPath::Whole => {
                        let copies = if file.encrypt.is_some() { 2 } else { 1 };
                        self.whole_budget.hold(copies * file.size).await
                    }
                    CopyPath::Streamed { .. } | CopyPath::Resumable { .. }
                        if manifest.kind == xregion_domain::BackupKind::Log =>
                    {
                        // Never closed.
                        self.large_logs.acquire().await.ok()
                    }
                    _ => None,
                };
                let started = Instant::now();
                let mut tried_again = false;
                let e_tag = match path {
                    CopyPath::Kernel { source, target } => {
                        let files = Files { source, target };
                        copy_local(&file, files, ends.throttle.clone(), counted).await?;
                        None
                    }
                    CopyPath::Whole => match direct {
                        Some(direct) => {
                            let put = copy_whole_direct(&file, &ends, direct, counted).await?;
                            tried_again = put.tried_again;
                            put.e_tag
                        }
                        None => copy_whole(&file, &ends, counted).await?,
                    },
                    CopyPath::Streamed { part_size } => {
                        copy_streamed(&file, &ends, part_size, counted).await?
                    }
                    CopyPath::Resumable { target, part_size } => {
                        let upload = Upload {
                            target,
                            target_region,
                            part_size,
                            uploads,
                            // Encrypted states under their own key: an
                            // older worker never resumes one.
                            state_key: if file.encrypt.is_some() {
                                xregion_bus::Namespace::sealed_upload_key(
                                    &manifest.service_id,
                                    &manifest.backup_id,
                                    index,
                                )
                            } else {
                                xregion_bus::Namespace::upload_key(
                                    &manifest.service_id,
                                    &manifest.backup_id,
                                    index,
                                )
                            },
                            clock: self.clock.as_ref(),
                        };
                        let resumed = copy_resumable(&file, &ends, upload, counted).await?;
                        if resumed.parts_reused > 0 {
                            tracing::info!(file = %file.target_key, reused = resumed.parts_reused, uploaded = resumed.parts_uploaded, "upload resumed");
                        }
                        resumed.e_tag
                    }
                };
                metrics::counter!(crate::metrics::FILES, "path" => label).increment(1);
                let written = e_tag
                    .filter(|_| etags_vouch)
                    .map(|e| (file.target_key.clone(), e));
                Ok::<_, Failure>((file.size, started.elapsed(), written, tried_again))
            }
        };
        let count = manifest.files.len().max(1) as u64;
        let mean = manifest.files.iter().map(|f| f.size).sum::<u64>() / count;
        let window =
            adapt.window_yielding(Level::Files, self.files_in_flight, mean, yields.clone());
        let mut pending = manifest.files.iter().enumerate();
        let mut running = futures::stream::FuturesUnordered::new();
        let mut written = commit::Written::new();
        loop {
            while running.len() < window.window() {
                let Some((index, f)) = pending.next() else {
                    break;
                };
                running.push(copy_one(index, f));
            }
            let Some(done) = futures::StreamExt::next(&mut running).await else {
                break;
            };
            match done {
                Ok((size, took, e_tag, tried_again)) => {
                    if tried_again {
                        route.tried_again.store(true, Ordering::Relaxed);
                        window.failed();
                    } else {
                        window.done(size, took);
                    }
                    written.extend(e_tag);
                }
                Err(failure) => {
                    window.failed();
                    return Err(failure);
                }
            }
            files.fetch_add(1, Ordering::Relaxed);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file another delivery wrote over is retried without counting
    /// toward dead-lettering: the retry must come, since the failing
    /// attempt withdrew its manifest. A file lost is this job's failure.
    #[test]
    fn a_rewrite_by_another_delivery_is_retried_uncounted_a_loss_is_counted() {
        assert!(Failure::Replaced("k: does not open".into()).is_unavailable());
        assert!(!Failure::Landed("k: missing in the target".into()).is_unavailable());
        // An upload aborted outside xregion restarts the copy, counted: a
        // lifecycle rule quicker than the copy ends in a dead letter.
        assert!(!Failure::Copy(CopyError::UploadGone("k: gone".into())).is_unavailable());
    }

    #[test]
    fn tenants_read_no_endpoint_bucket_or_path() {
        let store = object_store::Error::Generic {
            store: "S3",
            source: "error sending request for url (http://10.1.2.3:3900/secret-bucket/t/i/x)"
                .into(),
        };
        for failure in [
            Failure::Store(store),
            Failure::Copy(CopyError::Io(std::io::Error::other(
                "/var/lib/xregion/r2/t/i",
            ))),
            Failure::Region("target region r9 is not configured".into()),
        ] {
            let told = failure.for_tenants();
            assert!(
                !told.contains("10.1.2.3")
                    && !told.contains("secret-bucket")
                    && !told.contains("/var/lib"),
                "{told}"
            );
            assert!(
                told.contains("details in the transfer-worker log"),
                "{told}"
            );
        }
        // What is about the tenant's own backup stays precise.
        let mismatch = Failure::Copy(CopyError::ChecksumMismatch {
            key: "i/b/f".into(),
            expected: "a".into(),
            actual: "b".into(),
        });
        assert!(mismatch.for_tenants().contains("i/b/f"));
    }
}
