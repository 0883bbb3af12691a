//! The timed requests: the tenant API through the gateway (one client,
//! requests one after another, so each figure is a latency), and
//! BackupSynced through the catalog's own handler in process.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::Rng;
use tonic::transport::Channel;
use xregion_catalog::Catalog;
use xregion_proto::convert::timestamp;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::cross_region_backup_service_client::CrossRegionBackupServiceClient as Api;
use xregion_tests::stack::{authed, TOKEN_A};

use crate::seed::{Member, LOG_MS};

/// Latencies of one kind of request, in milliseconds.
#[derive(Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    pub fn p50(&self) -> f64 {
        self.percentile(0.5)
    }

    pub fn p99(&self) -> f64 {
        self.percentile(0.99)
    }

    async fn time<T, F: std::future::Future<Output = anyhow::Result<T>>>(
        &mut self,
        f: F,
    ) -> anyhow::Result<T> {
        let start = Instant::now();
        let out = f.await?;
        self.0.push(start.elapsed().as_secs_f64() * 1000.0);
        Ok(out)
    }
}

/// Every page of ListSyncServices, `walks` times over: all pages, and the
/// deepest tenth of them.
pub async fn list_pages(
    api: &mut Api<Channel>,
    walks: usize,
) -> anyhow::Result<(Samples, Samples)> {
    let (mut all, mut deep) = (Samples::default(), Samples::default());
    for _ in 0..walks {
        let mut token = String::new();
        let mut pages = Vec::new();
        loop {
            let req = pb::ListSyncServicesRequest {
                page_size: 100,
                page_token: token.clone(),
                ..Default::default()
            };
            let mut one = Samples::default();
            let page = one
                .time(async {
                    Ok(api
                        .list_sync_services(authed(TOKEN_A, req))
                        .await?
                        .into_inner())
                })
                .await?;
            anyhow::ensure!(!page.services.is_empty(), "an empty page");
            pages.push(one.0[0]);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let deep_from = pages.len() - pages.len().div_ceil(10);
        deep.0.extend(&pages[deep_from..]);
        all.0.extend(pages);
    }
    Ok((all, deep))
}

pub struct Reads {
    pub service: Samples,
    pub window: Samples,
    pub plan: Samples,
}

/// GetSyncService, GetRestoreWindow and GetRestorePlan (a time inside the
/// window) for `n` services drawn from `members`.
pub async fn reads(
    api: &mut Api<Channel>,
    members: &[Member],
    n: usize,
    rng: &mut StdRng,
) -> anyhow::Result<Reads> {
    let mut r = Reads {
        service: Samples::default(),
        window: Samples::default(),
        plan: Samples::default(),
    };
    for _ in 0..n {
        let m = &members[rng.gen_range(0..members.len())];
        let id = m.service_id.clone();
        let got = r
            .service
            .time(async {
                let req = pb::GetSyncServiceRequest { id: id.clone() };
                Ok(api
                    .get_sync_service(authed(TOKEN_A, req))
                    .await?
                    .into_inner())
            })
            .await?;
        anyhow::ensure!(got.id == id, "another service");
        let window = r
            .window
            .time(async {
                let req = pb::GetRestoreWindowRequest {
                    service_id: id.clone(),
                };
                Ok(api
                    .get_restore_window(authed(TOKEN_A, req))
                    .await?
                    .into_inner())
            })
            .await?;
        anyhow::ensure!(window.earliest.is_some(), "no window for {id}");
        // Anywhere from the first FULL to the newest log.
        let first = m.origin + LOG_MS / 2;
        let last = m.origin + m.last_binlog as i64 * LOG_MS;
        let at = rng.gen_range(first..=last);
        let plan = r
            .plan
            .time(async {
                let req = pb::GetRestorePlanRequest {
                    service_id: id.clone(),
                    restore_time: Some(timestamp(at)),
                };
                Ok(api
                    .get_restore_plan(authed(TOKEN_A, req))
                    .await?
                    .into_inner())
            })
            .await?;
        anyhow::ensure!(!plan.files.is_empty(), "an empty plan");
    }
    Ok(r)
}

/// The catalog's handling of one BackupSynced: the next LOG of `m`.
pub async fn next_copy(
    catalog: &Catalog,
    m: &mut Member,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    m.last_binlog += 1;
    let d = m.log(m.last_binlog);
    let e = pb::BackupSynced {
        service: Some(m.service_ref()),
        manifest_key: xregion_domain::layout::manifest_key(
            &m.service_ref().target_prefix,
            &d.backup_id,
        ),
        bytes: d.files.iter().map(|f| f.size).sum(),
        synced_at: Some(timestamp(catalog.now())),
        duration_ms: 1,
        backup: Some(d),
    };
    samples
        .time(async { Ok(catalog.backup_synced(&e).await?) })
        .await
}

/// `rounds` copies to each of `members`, one service after the other so
/// both see the same machine.
pub async fn copies(
    catalog: &Catalog,
    members: &mut [Member],
    rounds: usize,
) -> anyhow::Result<Vec<Samples>> {
    let mut out: Vec<Samples> = members.iter().map(|_| Samples::default()).collect();
    for _ in 0..rounds {
        for (m, s) in members.iter_mut().zip(out.iter_mut()) {
            next_copy(catalog, m, s).await?;
        }
    }
    Ok(out)
}

/// Where a plan over `m`'s copies goes, in process: the database's answer
/// (rows of manifest JSON), parsing it, the plan, and the catalog's whole
/// GetRestorePlan.
pub struct PlanCost {
    pub fetch: Samples,
    pub parse: Samples,
    pub plan: Samples,
    pub whole: Samples,
}

pub async fn plan_cost(catalog: &Catalog, m: &Member, n: usize) -> anyhow::Result<PlanCost> {
    use sqlx::Row;
    use xregion_domain::manifest::Manifest;
    let mut c = PlanCost {
        fetch: Samples::default(),
        parse: Samples::default(),
        plan: Samples::default(),
        whole: Samples::default(),
    };
    let at = m.origin + (m.last_binlog as i64 - 1) * LOG_MS;
    let sql = crate::copies_sql(&m.service_id);
    for _ in 0..n {
        let rows = c
            .fetch
            .time(async { Ok(sqlx::query(&sql).fetch_all(&catalog.db.pool).await?) })
            .await?;
        let manifests: Vec<Manifest> = c
            .parse
            .time(async {
                rows.iter()
                    .map(|r| {
                        let json: Vec<u8> = r.try_get("descriptor")?;
                        Manifest::from_json(&json).map_err(anyhow::Error::msg)
                    })
                    .collect()
            })
            .await?;
        c.plan
            .time(async { Ok(xregion_common::target::plan_of(&manifests, at)?) })
            .await?;
        let req = pb::GetRestorePlanRequest {
            service_id: m.service_id.clone(),
            restore_time: Some(timestamp(at)),
        };
        c.whole
            .time(async { Ok(catalog.plan(crate::seed::TENANT, &req).await?) })
            .await?;
    }
    Ok(c)
}
