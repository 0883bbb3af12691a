//! The uploads bucket: one record per multipart upload in progress
//! (`UploadState`, keyed by [`Namespace::upload_key`]), written by the
//! transfer worker after each completed part so a redelivered copy resumes,
//! and aborted by cleanup when no copy will resume it. Both go through this
//! type, so the record's encoding and how an upload is let go live in one
//! place.

use async_nats::jetstream::kv::{Operation, Store};
use futures::{Stream, StreamExt};
use xregion_common::regions::Multipart;
use xregion_domain::parts::UploadState;
use xregion_domain::upload_record::check_upload_record;

use crate::error::{BusError, Result};
use crate::names::Namespace;

#[derive(Clone)]
pub struct UploadsBucket {
    kv: Store,
}

impl UploadsBucket {
    pub fn new(kv: Store) -> Self {
        Self { kv }
    }

    /// Whether `key` is one of `service_id`'s uploads.
    pub fn is_of_service(key: &str, service_id: &str) -> bool {
        key.starts_with(&Namespace::service_uploads_prefix(service_id))
    }

    /// The recorded upload under `key`, if any. A record that cannot be
    /// read, or that names anything but a file of the backup its key is of
    /// (`check_upload_record`), is a `Decode` error: nobody acts on it.
    pub async fn load(&self, key: &str) -> Result<Option<UploadState>> {
        let Some(bytes) = self
            .kv
            .get(key)
            .await
            .map_err(|e| BusError::js("uploads get", e))?
        else {
            return Ok(None);
        };
        Self::decode(key, &bytes).map(Some)
    }

    fn decode(key: &str, bytes: &[u8]) -> Result<UploadState> {
        let refused = |reason: String| BusError::Decode {
            what: "upload state",
            reason,
        };
        let state: UploadState =
            serde_json::from_slice(bytes).map_err(|e| refused(e.to_string()))?;
        let (service, backup) = Namespace::upload_key_owner(key)
            .ok_or_else(|| refused(format!("{key:?} is not an upload key")))?;
        check_upload_record(&state, service, backup).map_err(|e| refused(e.to_string()))?;
        Ok(state)
    }

    pub async fn save(&self, key: &str, state: &UploadState) -> Result<()> {
        let body = serde_json::to_vec(state).map_err(|e| BusError::Decode {
            what: "upload state",
            reason: e.to_string(),
        })?;
        self.kv
            .put(key, body.into())
            .await
            .map_err(|e| BusError::js("uploads put", e))?;
        Ok(())
    }

    /// Removes the record (the upload itself is left as it is).
    pub async fn forget(&self, key: &str) -> Result<()> {
        self.kv
            .delete(key)
            .await
            .map_err(|e| BusError::js("uploads delete", e))
    }

    /// Removes the record under `key` only while it still names
    /// `upload_id` (compared and deleted at one revision): a record naming
    /// another upload, or failing the check, is kept (false); one rewritten
    /// between the read and the delete is kept too (an error). True when
    /// nothing of `upload_id` is recorded any more.
    pub async fn forget_upload(&self, key: &str, upload_id: &str) -> Result<bool> {
        let entry = self
            .kv
            .entry(key)
            .await
            .map_err(|e| BusError::js("uploads get", e))?;
        let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
            return Ok(true);
        };
        match Self::decode(key, &entry.value) {
            Ok(state) if state.upload_id == upload_id => {}
            _ => return Ok(false),
        }
        self.kv
            .delete_expect_revision(key, Some(entry.revision))
            .await
            .map_err(|e| BusError::js("uploads delete", e))?;
        Ok(true)
    }

    /// Every key in the bucket; keys that cannot be read are skipped.
    pub async fn keys(&self) -> Result<impl Stream<Item = String>> {
        let keys = self
            .kv
            .keys()
            .await
            .map_err(|e| BusError::js("uploads keys", e))?;
        Ok(keys.filter_map(|key| async move { key.ok() }))
    }

    /// Aborts `state`'s upload in `target`, its region's multipart store (an
    /// upload the store no longer knows counts as aborted), then forgets it.
    pub async fn abort(
        &self,
        key: &str,
        state: &UploadState,
        target: Option<&Multipart>,
    ) -> Result<()> {
        if let Some(mp) = target {
            match mp
                .store()
                .abort_multipart(&mp.path(&state.target_key), &state.upload_id)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(BusError::Store {
                        op: "abort upload",
                        reason: e.to_string(),
                    })
                }
            }
        }
        self.forget(key).await
    }

    /// Lets go of whatever is recorded under `key`, as well as it can: for a
    /// copy that will not resume, where cleanup collects what is left.
    pub async fn discard(&self, key: &str, target: Option<&Multipart>) {
        if let Ok(Some(state)) = self.load(key).await {
            if self.abort(key, &state, target).await.is_ok() {
                return;
            }
        }
        let _ = self.forget(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_owns_exactly_its_upload_keys() {
        let key = Namespace::upload_key("svc-1", "b-2", 3);
        assert_eq!(key, "svc-1.b-2.3");
        assert!(UploadsBucket::is_of_service(&key, "svc-1"));
        // A service whose id is a prefix of another's owns none of its keys.
        assert!(!UploadsBucket::is_of_service(&key, "svc"));
        assert!(!UploadsBucket::is_of_service("svc-10.b.0", "svc-1"));
        // An encrypted upload's state lies apart (an older worker never
        // resumes it) and is still the service's.
        let sealed = Namespace::sealed_upload_key("svc-1", "b-2", 3);
        assert_ne!(sealed, key);
        assert!(UploadsBucket::is_of_service(&sealed, "svc-1"));
        assert_eq!(Namespace::upload_key_owner(&key), Some(("svc-1", "b-2")));
        assert_eq!(Namespace::upload_key_owner(&sealed), Some(("svc-1", "b-2")));
        for bad in [
            "svc-1.b-2",
            "svc-1.b-2.x",
            "svc-1.b-2.3.4",
            "svc-1.b-2.",
            "",
        ] {
            assert_eq!(Namespace::upload_key_owner(bad), None, "{bad}");
        }
    }

    fn record(target_key: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "upload_id": "u-1", "target_region": "r2", "target_key": target_key,
            "size": 12, "part_size": 5, "parts": [],
            "started_at_ms": 0, "updated_at_ms": 0,
        }))
        .unwrap()
    }

    #[test]
    fn a_record_naming_another_services_file_is_refused() {
        let key = Namespace::upload_key("svc-1", "b-2", 0);
        let own = UploadsBucket::decode(&key, &record("t/i/svc-1/backups/b-2/f")).unwrap();
        assert_eq!(own.upload_id, "u-1");
        for forged in [
            "t/i/svc-2/backups/b-2/f",
            "t/i/svc-1/backups/b-3/f",
            "t/i/svc-1/service.json",
        ] {
            let err = UploadsBucket::decode(&key, &record(forged)).unwrap_err();
            assert!(matches!(err, BusError::Decode { .. }), "{forged}: {err}");
        }
        assert!(UploadsBucket::decode("not-a-key", &record("t/i/svc-1/backups/b-2/f")).is_err());
        assert!(UploadsBucket::decode(&key, b"{").is_err());
    }
}
