//! The in-progress marker `inprogress/<backup>.json` in the target: written
//! when a FULL's copy starts (a LOG's at its first heartbeat) and at every
//! heartbeat, removed after the manifest. It keeps the orphan sweep off a
//! copy still running, and it names the job message copying (its stream
//! sequence), so a second message for the same backup — the watcher's
//! re-queue once the stream's duplicate window has passed, a re-announced
//! backup — waits while that copy is alive instead of copying beside it.

use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use serde::Deserialize;
use xregion_common::objects::delete_if_present;
use xregion_domain::layout;

/// A marker is a few dozen bytes; anything longer is not one of ours.
const MAX_MARKER_BYTES: usize = 4096;

pub async fn mark(
    store: &dyn ObjectStore,
    prefix: &str,
    backup_id: &str,
    now_ms: i64,
    job: u64,
) -> Result<(), object_store::Error> {
    let body = serde_json::json!({ "backup_id": backup_id, "at": now_ms, "job": job });
    store
        .put(
            &Path::from(layout::in_progress_key(prefix, backup_id)),
            PutPayload::from(body.to_string().into_bytes()),
        )
        .await
        .map(|_| ())
}

pub async fn clear(
    store: &dyn ObjectStore,
    prefix: &str,
    backup_id: &str,
) -> Result<(), object_store::Error> {
    delete_if_present(store, &layout::in_progress_key(prefix, backup_id)).await
}

#[derive(Deserialize)]
struct Body {
    job: Option<u64>,
}

/// The job a marker names: None when it names none (a marker of an older
/// worker) or is not a marker at all (read from the store: untrusted).
pub fn job_of(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > MAX_MARKER_BYTES {
        return None;
    }
    serde_json::from_slice::<Body>(bytes).ok()?.job
}

/// Whether a marker `age_ms` old naming `marked_job` says another job
/// message is copying the backup than `mine` (0: this delivery's sequence
/// is unknown, and nothing is held back). A marker older than `fresh_ms`
/// is a copy that stopped; one naming `mine` is an earlier delivery of this
/// very message, which JetStream redelivered because it stopped.
pub fn held_by_another(marked_job: Option<u64>, age_ms: i64, fresh_ms: i64, mine: u64) -> bool {
    mine != 0 && age_ms < fresh_ms && marked_job != Some(mine)
}

/// Why this delivery must wait, if the backup's marker shows another job
/// message copying it within `fresh_ms` of `now_ms`.
pub async fn other_copy(
    store: &dyn ObjectStore,
    prefix: &str,
    backup_id: &str,
    mine: u64,
    now_ms: i64,
    fresh_ms: i64,
) -> Result<Option<String>, object_store::Error> {
    // This delivery's sequence unknown: nothing is held back (and nothing read).
    if mine == 0 {
        return Ok(None);
    }
    let got = match store
        .get(&Path::from(layout::in_progress_key(prefix, backup_id)))
        .await
    {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let age_ms = now_ms.saturating_sub(got.meta.last_modified.timestamp_millis());
    // Not one of ours if larger than a marker: not read at all.
    let job = match got.meta.size <= MAX_MARKER_BYTES {
        true => job_of(&got.bytes().await?),
        false => None,
    };
    Ok(held_by_another(job, age_ms, fresh_ms, mine).then(|| {
        format!(
            "backup {backup_id} is being copied by another job message ({}), its marker {} s old",
            job.map_or("unnamed".to_string(), |j| format!("sequence {j}")),
            age_ms.max(0) / 1000
        )
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn a_fresh_marker_of_another_message_holds_the_backup() {
        let fresh = 60_000;
        assert!(held_by_another(Some(7), 1_000, fresh, 9));
        assert!(held_by_another(None, 1_000, fresh, 9), "an older worker's");
        assert!(!held_by_another(Some(9), 1_000, fresh, 9), "this message's");
        assert!(
            !held_by_another(Some(7), 60_000, fresh, 9),
            "stale: stopped"
        );
        assert!(
            !held_by_another(Some(7), 1_000, fresh, 0),
            "own sequence unknown"
        );
        // A marker from the future (a store clock ahead) holds too, until
        // it is older than fresh by the worker's clock.
        assert!(held_by_another(Some(7), -5_000, fresh, 9));
    }

    #[test]
    fn only_a_small_json_marker_names_a_job() {
        assert_eq!(job_of(br#"{"backup_id":"b","at":1,"job":42}"#), Some(42));
        assert_eq!(job_of(br#"{"backup_id":"b","at":1}"#), None);
        assert_eq!(job_of(b"not json"), None);
        assert_eq!(job_of(br#"{"job":-1}"#), None);
        let long = format!(r#"{{"job":1,"pad":"{}"}}"#, "x".repeat(MAX_MARKER_BYTES));
        assert_eq!(job_of(long.as_bytes()), None);
    }

    #[tokio::test]
    async fn the_marker_written_names_its_job_and_is_read_back() {
        let store = InMemory::new();
        let now = chrono::Utc::now().timestamp_millis();
        assert_eq!(
            other_copy(&store, "t/i/s", "b1", 9, now, 60_000)
                .await
                .unwrap(),
            None
        );
        mark(&store, "t/i/s", "b1", now, 7).await.unwrap();
        let held = other_copy(&store, "t/i/s", "b1", 9, now, 60_000)
            .await
            .unwrap();
        assert!(held.unwrap().contains("sequence 7"));
        assert_eq!(
            other_copy(&store, "t/i/s", "b1", 7, now, 60_000)
                .await
                .unwrap(),
            None
        );
        let later = now + 61_000;
        assert_eq!(
            other_copy(&store, "t/i/s", "b1", 9, later, 60_000)
                .await
                .unwrap(),
            None
        );
        clear(&store, "t/i/s", "b1").await.unwrap();
        assert_eq!(
            other_copy(&store, "t/i/s", "b1", 9, now, 60_000)
                .await
                .unwrap(),
            None
        );
    }
}
