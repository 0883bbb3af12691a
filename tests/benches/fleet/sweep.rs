//! One cleanup sweep of the fleet's target region, in process on the
//! cleanup's own code (retention for every live service, then orphans),
//! through a store that counts its listings. Each service folder holds the
//! `service.json` the watcher's pass wrote and one backup file.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectStore;
use xregion_bus::CatalogClient;
use xregion_cleanup::config::FailPoint;
use xregion_cleanup::orphans::{sweep_region, OrphanPolicy, RegionReport};
use xregion_cleanup::retention::expire_service;
use xregion_domain::layout;
use xregion_tests::{now_ms, Stack};

use crate::counting::{Counting, Counts};
use crate::procfs;
use crate::seed::{Member, TARGET};

pub struct Figures {
    pub folders: usize,
    pub retention_secs: f64,
    pub orphans_secs: f64,
    pub counts: Arc<Counts>,
    pub report: RegionReport,
    /// This process's peak RSS during the sweep, over what it held before.
    pub peak_mib: f64,
    pub before_mib: f64,
}

pub async fn one_sweep(stack: &Stack, fleet: &[Member]) -> anyhow::Result<Figures> {
    let target = xregion_tests::garage::store(stack.region(TARGET)?)?;
    futures::stream::iter(fleet)
        .map(|m| {
            let target = target.clone();
            let prefix = m.service_ref().target_prefix;
            let backup = m.log(m.last_binlog).backup_id;
            async move {
                let key = layout::backup_file_key(&prefix, &backup, "data");
                target.put(&Path::from(key), b"x".to_vec().into()).await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let counts = Arc::new(Counts::default());
    let store: Arc<dyn ObjectStore> = Arc::new(Counting {
        inner: target,
        counts: counts.clone(),
    });
    let catalog = CatalogClient::new(
        stack.nats.client().await?,
        stack.ns(),
        Duration::from_secs(30),
    );
    let ns = stack.ns();
    procfs::reset_own_peak();
    let before_mib = procfs::own_rss_mib();
    let now = now_ms();
    let started = Instant::now();
    // What `Sweeper::sweep` does, on the counting store.
    let live = catalog.live_services("").await?;
    for service in live.iter().filter(|s| s.target_region == TARGET) {
        expire_service(&store, &catalog, service, now, FailPoint::Never).await?;
    }
    let retention_secs = started.elapsed().as_secs_f64();
    let policy = OrphanPolicy {
        region: TARGET,
        namespace: ns.prefix(),
        older_than_ms: now - 24 * 3_600_000,
        max_share: 0.1,
    };
    let report = sweep_region(store.as_ref(), &catalog, &policy).await?;
    let orphans_secs = started.elapsed().as_secs_f64() - retention_secs;
    Ok(Figures {
        folders: report.folders,
        retention_secs,
        orphans_secs,
        counts,
        report,
        peak_mib: procfs::own_peak_mib(),
        before_mib,
    })
}

pub fn print(f: &Figures) {
    let c = &f.counts;
    println!(
        "Cleanup sweep of {} service folders (Garage S3, in process): {:.1} s (retention {:.1} s, orphans {:.1} s); {} listings ({} one level with a delimiter, {} recursive below a service folder), {} of the whole bucket (target 0: {}); {} reads, {} deletes; {} objects removed, halted: {}",
        f.folders,
        f.retention_secs + f.orphans_secs,
        f.retention_secs,
        f.orphans_secs,
        c.lists(),
        c.delimited.load(Relaxed),
        c.recursive.load(Relaxed),
        c.whole_bucket.load(Relaxed),
        if c.whole_bucket.load(Relaxed) == 0 { "met" } else { "MISSED" },
        c.gets.load(Relaxed),
        c.deletes.load(Relaxed),
        f.report.objects_removed,
        f.report.halted
    );
    println!(
        "  the benchmark process's peak RSS during the sweep: {:.0} MiB ({:.0} MiB before it)",
        f.peak_mib, f.before_mib
    );
}
