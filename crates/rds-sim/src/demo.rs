//! The demo workload: instances of both engines for two tenants in every
//! region, each producing a FULL every `full_every_mins` and a LOG every
//! `log_every_mins` of simulated time. The simulated clock starts
//! `history_hours` in the past and runs `speed` times faster than real time
//! until it catches up with now, then follows real time. Optional faults
//! make drills: skip, corrupt or withhold every Nth log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use xregion_bus::Namespace;
use xregion_common::{CommonConfig, Regions};
use xregion_domain::Engine;

use crate::chain::ChainGen;
use crate::upstream::Upstream;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// Only the common sections; their limits are checked by the loader.
impl xregion_common::Validate for SimConfig {}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 240)]
    pub full_every_mins: i64,
    #[arg(long, default_value_t = 5)]
    pub log_every_mins: i64,
    #[arg(long, default_value_t = 6)]
    pub history_hours: i64,
    /// Simulated seconds per real second while catching up.
    #[arg(long, default_value_t = 600.0)]
    pub speed: f64,
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub full_size: usize,
    #[arg(long, default_value_t = 64 * 1024)]
    pub log_size: usize,
    /// Fault: every Nth log is never produced (0: never).
    #[arg(long, default_value_t = 0)]
    pub skip_every: u64,
    /// Fault: every Nth log is corrupted after its checksum was taken.
    #[arg(long, default_value_t = 0)]
    pub corrupt_every: u64,
    /// Fault: every Nth log is written but its event withheld.
    #[arg(long, default_value_t = 0)]
    pub withhold_every: u64,
    /// Stop once the simulated clock reaches now.
    #[arg(long)]
    pub until_caught_up: bool,
}

pub fn now_ms() -> i64 {
    use xregion_common::clock::Clock;
    xregion_common::SystemClock::default().now_ms()
}

pub async fn connect(config: &SimConfig) -> anyhow::Result<(Upstream, Regions)> {
    let bus = &config.common.bus;
    let (client, ns): (async_nats::Client, Namespace) =
        xregion_bus::bootstrap(bus, "xregion-rds-sim").await?;
    Ok((
        Upstream::new(client, ns),
        Regions::build(&config.common.regions)?,
    ))
}

struct Instance {
    chain: ChainGen,
    store: Arc<dyn ObjectStore>,
    next_full: i64,
    logs: u64,
}

/// The demo's instances: (id, tenant, engine, region index).
const INSTANCES: [(&str, &str, Engine, usize); 6] = [
    ("mysql-prod-1", "tenant-a", Engine::Mysql, 0),
    ("mssql-erp-1", "tenant-a", Engine::Sqlserver, 0),
    ("mysql-shop-1", "tenant-a", Engine::Mysql, 1),
    ("mssql-crm-1", "tenant-a", Engine::Sqlserver, 2),
    ("mysql-b-1", "tenant-b", Engine::Mysql, 2),
    ("mssql-b-1", "tenant-b", Engine::Sqlserver, 1),
];

pub async fn run(
    config: &SimConfig,
    args: &DemoArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (upstream, regions) = connect(config).await?;
    let ids = regions.ids();
    anyhow::ensure!(
        !ids.is_empty(),
        "the demo needs at least one region in the configuration"
    );
    let start = now_ms() - args.history_hours * 3600 * 1000;
    let mut instances = BTreeMap::new();
    for (id, tenant, engine, r) in INSTANCES {
        let region = ids[r % ids.len()].to_string();
        let store = regions
            .store(&region)
            .ok_or_else(|| anyhow::anyhow!("no store for {region}"))?;
        upstream
            .instance_created(id, tenant, engine, &region, start)
            .await?;
        instances.insert(
            id,
            Instance {
                chain: ChainGen::new(id, tenant, &region, engine, start),
                store,
                next_full: start,
                logs: 0,
            },
        );
        tracing::info!(instance = id, tenant, region = %region, engine = engine.as_str(), "instance created");
    }
    let step = args.log_every_mins * 60_000;
    let mut sim_now = start;
    loop {
        sim_now += step;
        for inst in instances.values_mut() {
            if inst.next_full <= inst.chain.now_ms {
                let d = upstream
                    .emit(&inst.store, &inst.chain.full(args.full_size))
                    .await?;
                tracing::info!(backup = %d.backup_id, "full backup");
                inst.next_full = inst.chain.now_ms + args.full_every_mins * 60_000;
            }
            inst.logs += 1;
            let log = inst.chain.log(sim_now - inst.chain.now_ms, args.log_size);
            let nth = |every: u64| every > 0 && inst.logs % every == 0;
            if nth(args.skip_every) {
                tracing::warn!(backup = %log.descriptor.backup_id, "fault: log skipped");
                continue;
            }
            let d = upstream.write_backup(&inst.store, &log).await?;
            if nth(args.corrupt_every) {
                upstream.corrupt(&inst.store, &d).await?;
                tracing::warn!(backup = %d.backup_id, "fault: log corrupted");
            }
            if nth(args.withhold_every) {
                tracing::warn!(backup = %d.backup_id, "fault: event withheld");
                continue;
            }
            upstream.backup_created(&d).await?;
        }
        // Catch up fast while the next step is in the past, then follow
        // real time.
        let ahead = sim_now + step - now_ms();
        if ahead > 0 && args.until_caught_up {
            tracing::info!("caught up with real time");
            return Ok(());
        }
        let wait = if ahead <= 0 {
            Duration::from_secs_f64(step as f64 / 1000.0 / args.speed.max(1.0))
        } else {
            Duration::from_millis(ahead as u64)
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
