//! The fleet, written straight into the catalog's own schema: instances,
//! one RUNNING service each, and each service's history as the catalog
//! would have recorded it (the upstream's descriptor in `backups`, the
//! manifest in `synced_backups`, the window and its tail in the service's
//! row), built with the catalog's own conversions, in batches of arrays.

use sqlx::PgPool;
use xregion_domain::chain::{window_state, ChainBackup};
use xregion_domain::layout;
use xregion_domain::manifest::Manifest;
use xregion_proto::convert::{backup as conv, timestamp};
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

pub const TENANT: &str = xregion_tests::stack::TENANT_A;
pub const SOURCE: &str = "r1";
pub const TARGET: &str = "r2";
/// One binlog (and one LOG) every five minutes.
pub const LOG_MS: i64 = 300_000;
/// A FULL once a day: every 288 binlogs.
const FULL_EVERY: u64 = 288;
const ROWS_PER_BATCH: usize = 5_000;

/// One service of the fleet and where its history stands.
#[derive(Debug, Clone)]
pub struct Member {
    pub service_id: String,
    pub instance_id: String,
    /// Data time of binlog 1's start.
    pub origin: i64,
    /// The last binlog synced; the next LOG is `last_binlog + 1`.
    pub last_binlog: u64,
}

impl Member {
    pub fn new(index: usize, copies: u64, now: i64) -> Self {
        let binlogs = binlogs_for(copies);
        Self {
            service_id: format!("svc-{index:05}"),
            instance_id: format!("db-{index:05}"),
            origin: now - binlogs as i64 * LOG_MS,
            last_binlog: binlogs,
        }
    }

    pub fn service_ref(&self) -> pb::ServiceRef {
        pb::ServiceRef {
            service_id: self.service_id.clone(),
            tenant_id: TENANT.into(),
            engine: pb::Engine::Mysql as i32,
            source_region: SOURCE.into(),
            instance_id: self.instance_id.clone(),
            target_region: TARGET.into(),
            retention_days: 7,
            target_prefix: layout::service_prefix(TENANT, &self.instance_id, &self.service_id),
        }
    }

    /// Binlog `n`'s LOG: five minutes of data.
    pub fn log(&self, n: u64) -> rds::BackupDescriptor {
        let end = self.origin + n as i64 * LOG_MS;
        self.descriptor(rds::BackupKind::Log, n, end - LOG_MS, end)
    }

    /// The FULL consistent halfway into binlog `n`.
    pub fn full(&self, n: u64) -> rds::BackupDescriptor {
        let at = self.origin + (n as i64 - 1) * LOG_MS + LOG_MS / 2;
        self.descriptor(rds::BackupKind::Full, n, at - 60_000, at)
    }

    /// Binlogs 1 to `last_binlog`, with a FULL before binlog 1, 289, ...
    pub fn history(&self) -> Vec<rds::BackupDescriptor> {
        let mut out = Vec::new();
        for n in 1..=self.last_binlog {
            if n % FULL_EVERY == 1 {
                out.push(self.full(n));
            }
            out.push(self.log(n));
        }
        out
    }

    fn descriptor(
        &self,
        kind: rds::BackupKind,
        binlog: u64,
        start: i64,
        end: i64,
    ) -> rds::BackupDescriptor {
        let name = if kind == rds::BackupKind::Full {
            "full"
        } else {
            "log"
        };
        let backup_id = format!("{}-{name}-{binlog:06}", self.instance_id);
        rds::BackupDescriptor {
            files: vec![rds::BackupFile {
                key: format!("{}/{backup_id}/data", self.instance_id),
                size: if kind == rds::BackupKind::Full {
                    1 << 30
                } else {
                    64 << 10
                },
                sha256: "ab".repeat(32),
            }],
            backup_id,
            instance_id: self.instance_id.clone(),
            tenant_id: TENANT.into(),
            engine: rds::Engine::Mysql as i32,
            region: SOURCE.into(),
            kind: kind as i32,
            data_start_time: Some(timestamp(start)),
            data_end_time: Some(timestamp(end)),
            position: Some(rds::backup_descriptor::Position::Mysql(
                rds::MysqlPosition {
                    binlog_file_number: binlog,
                    binlog_offset: 4,
                    ..Default::default()
                },
            )),
            created_at: Some(timestamp(end)),
            format: 0,
        }
    }
}

/// Binlogs whose LOGs and daily FULLs make `copies` copies.
fn binlogs_for(copies: u64) -> u64 {
    let mut binlogs = 0;
    let mut count = 0;
    while count < copies {
        binlogs += 1;
        count += if binlogs % FULL_EVERY == 1 { 2 } else { 1 };
    }
    binlogs
}

/// A service's row: its window's ends, counts and kept state.
struct ServiceCols {
    service_id: String,
    instance_id: String,
    earliest: i64,
    latest: i64,
    copies: i64,
    bytes: i64,
    window_state: String,
}

/// One copy: its upstream record (`backups`) and its manifest
/// (`synced_backups`).
struct CopyCols {
    backup_id: String,
    instance_id: String,
    service_id: String,
    kind: String,
    start: i64,
    end: i64,
    bytes: i64,
    manifest_key: String,
    descriptor: Vec<u8>,
    manifest: Vec<u8>,
}

#[derive(Default)]
struct Batch {
    services: Vec<ServiceCols>,
    copies: Vec<CopyCols>,
}

/// Writes `members` and their histories; returns the copies written.
pub async fn seed(pool: &PgPool, members: &[Member], now: i64) -> anyhow::Result<u64> {
    let mut batch = Batch::default();
    let mut copies = 0u64;
    for m in members {
        let svc = m.service_ref();
        let mut chain: Vec<ChainBackup> = Vec::new();
        let mut bytes = 0i64;
        for d in m.history() {
            let manifest: Manifest = conv::manifest(&d, &svc, now).expect("complete descriptor");
            chain.push(manifest.chain_backup());
            let size = manifest.bytes() as i64;
            bytes += size;
            batch.copies.push(CopyCols {
                backup_id: d.backup_id.clone(),
                instance_id: m.instance_id.clone(),
                service_id: m.service_id.clone(),
                kind: manifest.kind.as_str().to_string(),
                start: manifest.data_start,
                end: manifest.data_end,
                bytes: size,
                manifest_key: layout::manifest_key(&svc.target_prefix, &d.backup_id),
                descriptor: prost::Message::encode_to_vec(&d),
                manifest: manifest.to_json(),
            });
            copies += 1;
        }
        let state = window_state(xregion_domain::Engine::Mysql, &chain);
        let window = state.window.as_ref().expect("a FULL");
        batch.services.push(ServiceCols {
            service_id: m.service_id.clone(),
            instance_id: m.instance_id.clone(),
            earliest: window.earliest,
            latest: window.latest,
            copies: chain.len() as i64,
            bytes,
            window_state: serde_json::to_string(&state)?,
        });
        if batch.copies.len() >= ROWS_PER_BATCH {
            flush(pool, std::mem::take(&mut batch), now).await?;
        }
    }
    flush(pool, batch, now).await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(copies)
}

fn column<T, R: Clone>(rows: &[T], f: impl Fn(&T) -> R) -> Vec<R> {
    rows.iter().map(f).collect()
}

async fn flush(pool: &PgPool, b: Batch, now: i64) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let s = &b.services;
    sqlx::query(
        "INSERT INTO instances (instance_id, tenant_id, engine, region, created_at) \
         SELECT i, $2, 'mysql', $3, $4 FROM UNNEST($1::text[]) AS i",
    )
    .bind(column(s, |r| r.instance_id.clone()))
    .bind(TENANT)
    .bind(SOURCE)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO services (service_id, tenant_id, engine, source_region, instance_id, target_region, \
         retention_days, state, live_instance, created_at, updated_at, earliest_data_time, latest_data_time, \
         synced_backups, synced_bytes, window_state) \
         SELECT s, $3, 'mysql', $4, i, $5, 7, 'RUNNING', i, $6, $6, e, l, c, b, w \
         FROM UNNEST($1::text[], $2::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::text[]) \
         AS t(s, i, e, l, c, b, w)",
    )
    .bind(column(s, |r| r.service_id.clone()))
    .bind(column(s, |r| r.instance_id.clone()))
    .bind(TENANT)
    .bind(SOURCE)
    .bind(TARGET)
    .bind(now)
    .bind(column(s, |r| r.earliest))
    .bind(column(s, |r| r.latest))
    .bind(column(s, |r| r.copies))
    .bind(column(s, |r| r.bytes))
    .bind(column(s, |r| r.window_state.clone()))
    .execute(&mut *tx)
    .await?;
    let k = &b.copies;
    sqlx::query(
        "INSERT INTO backups (backup_id, instance_id, tenant_id, kind, data_start, data_end, bytes, descriptor, created_at) \
         SELECT id, i, $8, k, ds, de, b, d, $9 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::bytea[]) \
         AS t(id, i, k, ds, de, b, d)",
    )
    .bind(column(k, |r| r.backup_id.clone()))
    .bind(column(k, |r| r.instance_id.clone()))
    .bind(column(k, |r| r.kind.clone()))
    .bind(column(k, |r| r.start))
    .bind(column(k, |r| r.end))
    .bind(column(k, |r| r.bytes))
    .bind(column(k, |r| r.descriptor.clone()))
    .bind(TENANT)
    .bind(now)
    .execute(&mut *tx)
    .await?;

    sqlx::query(
        "INSERT INTO synced_backups (backup_id, service_id, kind, data_start, data_end, bytes, files, manifest_key, synced_at, descriptor) \
         SELECT id, s, k, ds, de, b, 1, m, $9, d \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::text[], $8::bytea[]) \
         AS t(id, s, k, ds, de, b, m, d)",
    )
    .bind(column(k, |r| r.backup_id.clone()))
    .bind(column(k, |r| r.service_id.clone()))
    .bind(column(k, |r| r.kind.clone()))
    .bind(column(k, |r| r.start))
    .bind(column(k, |r| r.end))
    .bind(column(k, |r| r.bytes))
    .bind(column(k, |r| r.manifest_key.clone()))
    .bind(column(k, |r| r.manifest.clone()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
