//! A delivery that completed its multipart upload but could not forget the
//! record (NATS down at that moment) leaves a record naming an upload the
//! store no longer knows, with every part recorded. The next delivery must
//! find the file landed, not count the upload as lost (counted on a
//! message's last delivery, that dead-lettered a FULL that had landed);
//! and must not take another object of the same size for it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use object_store::multipart::PartId;
use object_store::path::Path;
use xregion_domain::parts::{part_count, part_range};
use xregion_domain::Engine;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::metrics::counter;
use xregion_tests::sync::{parts_recorded, throttled_sync_config, SyncEnv};
use xregion_tests::{Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;
const MIB: usize = 1024 * 1024;

/// A 40 MiB FULL whose worker was killed mid-copy, after which the upload
/// was completed behind its back and every part recorded, as the dead
/// delivery would have left it had it lived to complete the upload and
/// then failed to forget; the worker is left stopped.
struct Completed {
    instance: &'static str,
    stack: Stack,
    env: SyncEnv,
    svc: pb::SyncService,
    full: BackupDescriptor,
    /// The upload record's key in the uploads bucket.
    record: String,
    /// The file's key in the target region.
    target_key: String,
    parts: u64,
}

async fn completed_behind_the_workers_back(instance: &'static str) -> anyhow::Result<Completed> {
    // 40 MiB at 4 MiB/s: about 10 s, time to stop the worker mid-copy.
    let (mut stack, env) = SyncEnv::start(StackOptions {
        extra_config: throttled_sync_config(4, 4 * MIB as u64),
        ..Default::default()
    })
    .await?;
    let mut chain = env.chain(instance, Engine::Mysql, T0).await?;
    let full = env
        .upstream
        .emit(&env.source, &chain.full(40 * MIB))
        .await?;
    let uploads = stack.uploads().await?;
    let svc = env.create(instance, Engine::Mysql, "r1", "r2").await?;
    let record = xregion_bus::Namespace::upload_key(&svc.id, &full.backup_id, 0);
    parts_recorded(&uploads, &record, 2, Duration::from_secs(120)).await?;
    stack.kill("transfer-worker");

    let mut state: serde_json::Value =
        serde_json::from_slice(&uploads.get(&record).await?.unwrap())?;
    let part_size = state["part_size"].as_u64().unwrap();
    let upload_id = state["upload_id"].as_str().unwrap().to_string();
    let mp = xregion_common::regions::build_region(stack.region("r2")?)?
        .multipart
        .unwrap();
    let target_key = state["target_key"].as_str().unwrap().to_string();
    let target = mp.path(&target_key);
    let file = &full.files[0];
    let data = env
        .source
        .get(&Path::from(file.key.as_str()))
        .await?
        .bytes()
        .await?;
    let mut parts: Vec<PartId> = state["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| PartId {
            content_id: id.as_str().unwrap().to_string(),
        })
        .collect();
    let total = part_count(file.size, part_size);
    assert!((parts.len() as u64) < total, "killed mid-copy");
    for i in parts.len() as u64..total {
        let range = part_range(file.size, part_size, i);
        let body = data.slice(range.start as usize..range.end as usize);
        parts.push(
            mp.store()
                .put_part(&target, &upload_id, i as usize, body.into())
                .await?,
        );
    }
    mp.store()
        .complete_multipart(&target, &upload_id, parts.clone())
        .await?;
    state["parts"] = parts.iter().map(|p| p.content_id.clone()).collect();
    uploads
        .put(&record, serde_json::to_vec(&state)?.into())
        .await?;
    Ok(Completed {
        instance,
        stack,
        env,
        svc,
        full,
        record,
        target_key,
        parts: total,
    })
}

impl Completed {
    /// Starts the worker again and waits until the FULL is synced and its
    /// bytes are in the target.
    async fn resume(&mut self) -> anyhow::Result<()> {
        self.stack.start_service("transfer-worker", &[]).await?;
        let running = self
            .env
            .wait_state(&self.svc.id, pb::ServiceState::Running)
            .await?;
        assert_eq!(running.synced_backups, 1);
        self.env
            .assert_landed(self.instance, &self.svc.id, &self.full)
            .await
    }
}

/// What the worker counted: lost uploads, parts sent, parts reused.
async fn counted(stack: &Stack) -> anyhow::Result<(u64, u64, u64)> {
    let worker = stack.metrics("transfer-worker").await?;
    Ok((
        counter(
            &worker,
            "xregion_transfer_failures_total",
            "reason=\"upload_gone\"",
        ),
        counter(&worker, "xregion_transfer_parts_uploaded_total", ""),
        counter(&worker, "xregion_transfer_parts_reused_total", ""),
    ))
}

#[tokio::test]
async fn an_upload_completed_before_its_record_was_forgotten_is_not_copied_again(
) -> anyhow::Result<()> {
    let mut c = completed_behind_the_workers_back("done-1").await?;
    c.resume().await?;
    let uploads = c.stack.uploads().await?;
    assert!(
        uploads.get(&c.record).await?.is_none(),
        "the record is forgotten"
    );
    assert_eq!(
        counted(&c.stack).await?,
        (0, 0, c.parts),
        "no lost upload counted, nothing sent again, every part reused"
    );
    Ok(())
}

/// Wrong input: the object at the key has the right size but is another
/// write (one PUT of other bytes, not the recorded parts completed). It
/// is not taken for the upload: the upload counts as lost and the file is
/// copied again over it.
#[tokio::test]
async fn an_object_of_the_same_size_is_not_taken_for_the_completed_upload() -> anyhow::Result<()> {
    let mut c = completed_behind_the_workers_back("done-2").await?;
    let other = vec![7u8; c.full.files[0].size as usize];
    c.env
        .target
        .put(&Path::from(c.target_key.as_str()), other.into())
        .await?;
    c.resume().await?;
    let (gone, uploaded, _) = counted(&c.stack).await?;
    assert_eq!((gone, uploaded), (1, c.parts), "counted lost, copied again");
    Ok(())
}
