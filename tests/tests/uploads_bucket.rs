//! The uploads bucket on a real nats-server forgets a record only while it
//! names the upload asked about: a record of another upload, or one that
//! fails the bucket's check (a forged target), is kept.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use xregion_bus::{declare_bucket, BucketSpec, Namespace, UploadsBucket};
use xregion_tests::nats::NatsServer;
use xregion_tests::net::random_suffix;

fn record(upload_id: &str, target_key: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "upload_id": upload_id, "target_region": "r2", "target_key": target_key,
        "size": 12, "part_size": 5, "parts": [],
        "started_at_ms": 0, "updated_at_ms": 0,
    }))
    .unwrap()
}

#[tokio::test]
async fn an_upload_record_is_forgotten_only_while_it_names_that_upload() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let nats = NatsServer::start(dir.path()).await?;
    let js = async_nats::jetstream::new(nats.client().await?);
    let spec = BucketSpec {
        name: format!("T{}_UPLOADS", random_suffix().to_ascii_uppercase()),
        history: 1,
        max_age: Duration::from_secs(3600),
    };
    let kv = declare_bucket(&js, &spec, 1).await?;
    let uploads = UploadsBucket::new(kv.clone());
    let key = Namespace::upload_key("svc-1", "b-2", 0);
    let own = "t/i/svc-1/backups/b-2/f";

    // Nothing recorded: nothing of u-1 is left.
    assert!(uploads.forget_upload(&key, "u-1").await?);
    // Another upload's record, and a forged one naming u-1: both kept.
    for (id, target) in [("u-2", own), ("u-1", "t/i/svc-9/backups/b-2/f")] {
        kv.put(&key, record(id, target).into()).await?;
        assert!(!uploads.forget_upload(&key, "u-1").await?, "{id} {target}");
        assert!(kv.get(&key).await?.is_some(), "{id} {target} kept");
    }
    // Its own record: forgotten.
    kv.put(&key, record("u-1", own).into()).await?;
    assert!(uploads.forget_upload(&key, "u-1").await?);
    assert!(uploads.load(&key).await?.is_none());
    Ok(())
}
