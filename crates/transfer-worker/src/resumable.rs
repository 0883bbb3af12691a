//! Large files into S3: parts read from the source with ranged reads, in
//! parallel but hashed in order, uploaded as multipart parts in parallel, and
//! the upload id with the completed parts kept in the uploads bucket after
//! each part, so a redelivered job resumes after the last completed part
//! instead of starting again. How many parts are in flight adapts to the
//! route (`inflight`). Memory: at most that many parts being uploaded plus
//! half as many being read ahead, never more than `parts_in_flight` (the
//! cap) and half of it.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{Future, StreamExt};
use object_store::multipart::PartId;
use object_store::path::Path;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use xregion_bus::UploadsBucket;
use xregion_common::clock::Clock;
use xregion_common::regions::Multipart;
use xregion_common::verify::Verifier;
use xregion_domain::parts::{part_count, part_range, UploadState};

use crate::copy::{reading, CopyError, Ends};
use crate::strategy::FileCopy;

/// Where a resumable upload goes and where its progress is recorded.
pub struct Upload<'a> {
    pub target: &'a Multipart,
    pub target_region: &'a str,
    pub part_size: u64,
    /// The uploads bucket, and this file's key in it.
    pub uploads: &'a UploadsBucket,
    pub state_key: String,
    /// Stamps the recorded state, so cleanup can tell a stale upload.
    pub clock: &'a dyn Clock,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resumed {
    pub parts_uploaded: u64,
    pub parts_reused: u64,
    /// What the completed upload's ETag is, if the store said.
    pub e_tag: Option<String>,
}

/// Each upload says which part it was, its size and how long it took.
type PartUploads = JoinSet<(u64, u64, std::time::Duration, object_store::Result<PartId>)>;

pub async fn copy_resumable(
    file: &FileCopy,
    ends: &Ends,
    upload: Upload<'_>,
    on_bytes: impl Fn(u64),
) -> Result<Resumed, CopyError> {
    let copy = Session {
        target_path: upload.target.path(&file.target_key),
        file,
        ends,
        upload,
    };
    let mut state = copy.open_or_resume().await?;
    let seal = crate::seal::for_upload(file, &state)?;
    let reused = state.parts.len() as u64;
    let mut seen = Verifier::new();
    copy.rehash_recorded_prefix(reused, &mut seen, &on_bytes)
        .await?;
    let uploaded = copy
        .upload_remaining(&mut state, &mut seen, &on_bytes, seal.as_ref())
        .await?;
    let stored_size = seal.as_ref().map_or(file.size, |s| s.record.stored_size);
    let e_tag = copy.complete(state, seen, stored_size).await?;
    metrics::counter!(crate::metrics::PARTS_REUSED).increment(reused);
    Ok(Resumed {
        parts_uploaded: uploaded,
        parts_reused: reused,
        e_tag,
    })
}

/// One file's resumable copy.
struct Session<'a> {
    file: &'a FileCopy,
    ends: &'a Ends,
    upload: Upload<'a>,
    target_path: Path,
}

impl Session<'_> {
    /// The recorded upload of this very file (same size, part size and
    /// target), or a new one; a recorded upload of anything else is aborted.
    async fn open_or_resume(&self) -> Result<UploadState, CopyError> {
        let (file, upload) = (self.file, &self.upload);
        let mp = upload.target.store();
        // A record that cannot be read is as good as none: start again.
        match upload.uploads.load(&upload.state_key).await.ok().flatten() {
            Some(s)
                if s.size == file.size
                    && s.part_size == upload.part_size
                    && s.target_key == file.target_key
                    && crate::seal::state_fits(file, &s) =>
            {
                return Ok(s)
            }
            // An earlier upload of this very file that cannot be resumed
            // here (size, part size, key not in the keyring, or no longer
            // encrypted): let it go. A record under this file's key that
            // names another file is not this copy's to abort; it is
            // written over.
            Some(stale) if stale.target_key == file.target_key => {
                if let Some(k) = &stale.encryption {
                    tracing::warn!(target = %stale.target_key, key_id = %k.key_id, encrypted_now = file.encrypt.is_some(), "recorded encrypted upload does not fit this copy; aborted, starting over");
                }
                let _ = mp
                    .abort_multipart(&upload.target.path(&stale.target_key), &stale.upload_id)
                    .await;
            }
            Some(other) => {
                tracing::warn!(recorded = %other.target_key, file = %file.target_key, "upload record names another file; not aborted, written over");
            }
            None => {}
        }
        let state = UploadState {
            upload_id: mp.create_multipart(&self.target_path).await?,
            target_region: upload.target_region.to_string(),
            target_key: file.target_key.clone(),
            size: file.size,
            part_size: upload.part_size,
            parts: Vec::new(),
            started_at_ms: upload.clock.now_ms(),
            updated_at_ms: upload.clock.now_ms(),
            encryption: file.encrypt.as_ref().map(|e| e.upload_key()),
            sent: Default::default(),
        };
        self.record(&state).await?;
        Ok(state)
    }

    /// Part `i` of the source.
    fn read_part(&self, i: u64) -> impl Future<Output = Result<(u64, Bytes), CopyError>> {
        let source = self.ends.source.clone();
        let key = self.file.source_key.clone();
        let range = part_range(self.file.size, self.upload.part_size, i);
        async move {
            let path = Path::from(key.as_str());
            source
                .get_range(&path, range.start as usize..range.end as usize)
                .await
                .map(|bytes| (i, bytes))
                .map_err(reading(&key))
        }
    }

    /// Completed parts are read again (same region, cheap) only to hash them.
    async fn rehash_recorded_prefix(
        &self,
        parts: u64,
        seen: &mut Verifier,
        on_bytes: &impl Fn(u64),
    ) -> Result<(), CopyError> {
        let mut done = futures::stream::iter(0..parts)
            .map(|i| self.read_part(i))
            .buffered(self.ends.parts.window());
        while let Some(part) = done.next().await {
            let (_, data) = part?;
            seen.update(&data);
            on_bytes(data.len() as u64);
        }
        Ok(())
    }

    /// Reads, hashes and uploads the parts after the recorded prefix,
    /// recording the prefix as it grows; returns how many were uploaded.
    async fn upload_remaining(
        &self,
        state: &mut UploadState,
        seen: &mut Verifier,
        on_bytes: &impl Fn(u64),
        seal: Option<&crate::seal::FileSeal>,
    ) -> Result<u64, CopyError> {
        let mp = self.upload.target.store();
        let mut completed: BTreeMap<u64, PartId> = BTreeMap::new();
        let mut uploads = PartUploads::new();
        let mut uploaded = 0;
        let n = part_count(self.file.size, self.upload.part_size);
        let mut next = state.parts.len() as u64;
        let mut reads = FuturesOrdered::new();
        loop {
            // A part read must wait for an upload slot anyway; reading
            // further ahead than half the slots only holds memory.
            let read_ahead = (self.ends.parts.window() / 2).max(1);
            while next < n && reads.len() < read_ahead {
                reads.push_back(self.read_part(next));
                next += 1;
            }
            let Some(part) = reads.next().await else {
                break;
            };
            let (i, data) = part?;
            seen.update(&data);
            // Progress counts what passed the bandwidth limit.
            self.ends.throttle.acquire(data.len() as u64).await;
            on_bytes(data.len() as u64);
            // Part i sealed again after a crash is the same bytes: the same
            // recorded key, whole chunks from the same offset, and the same
            // plaintext, checked against the hash recorded before it was
            // first sent (else one nonce would seal two plaintexts).
            if seal.is_some() {
                let sha = hex::encode(Sha256::digest(&data));
                if !state.may_send(i, &sha) {
                    self.abandon(state).await?;
                    return Err(CopyError::State(format!(
                        "{}: part {i} changed since it was sealed; the encrypted upload is aborted and starts over under a new data key",
                        self.file.target_key
                    )));
                }
                if state.sent.insert(i, sha).is_none() {
                    self.record(state).await?;
                }
            }
            let data = crate::seal::maybe(seal, i * self.upload.part_size, data)?;
            // A sliding window over the recorded prefix, not just a count in
            // flight: at most `parts_in_flight` parts are ever unrecorded, so a
            // crash sends at most that many again.
            let window = self.ends.parts.window() as u64;
            while !uploads.is_empty()
                && (uploads.len() as u64 >= window || i >= state.parts.len() as u64 + window)
            {
                self.settle_one(&mut uploads, &mut completed, state).await?;
            }
            let (mp, path, id) = (
                mp.clone(),
                self.target_path.clone(),
                state.upload_id.clone(),
            );
            uploads.spawn(async move {
                let (len, started) = (data.len() as u64, std::time::Instant::now());
                let part = mp.put_part(&path, &id, i as usize, data.into()).await;
                (i, len, started.elapsed(), part)
            });
            uploaded += 1;
            metrics::counter!(crate::metrics::PARTS_UPLOADED).increment(1);
        }
        while !uploads.is_empty() {
            self.settle_one(&mut uploads, &mut completed, state).await?;
        }
        Ok(uploaded)
    }

    /// Waits for one upload; records the contiguous prefix of completed parts.
    async fn settle_one(
        &self,
        uploads: &mut PartUploads,
        completed: &mut BTreeMap<u64, PartId>,
        state: &mut UploadState,
    ) -> Result<(), CopyError> {
        let Some(joined) = uploads.join_next().await else {
            return Ok(());
        };
        let (i, len, took, part) = joined.map_err(|e| CopyError::State(e.to_string()))?;
        let part = match part {
            Ok(part) => part,
            Err(e) => {
                self.ends.parts.failed();
                return Err(self.gone_or(state, e).await);
            }
        };
        self.ends.parts.done(len, took);
        completed.insert(i, part);
        let before = state.parts.len();
        while let Some(p) = completed.remove(&(state.parts.len() as u64)) {
            state.parts.push(p.content_id);
        }
        state.prune_sent();
        if state.parts.len() > before {
            state.updated_at_ms = self.upload.clock.now_ms();
            self.record(state).await?;
        }
        Ok(())
    }

    async fn record(&self, state: &UploadState) -> Result<(), CopyError> {
        let upload = &self.upload;
        upload
            .uploads
            .save(&upload.state_key, state)
            .await
            .map_err(|e| CopyError::State(e.to_string()))
    }

    /// Completes the upload if the bytes verify, otherwise aborts it; the
    /// record is forgotten either way. `stored_size`: the bytes the
    /// completed object holds (the ciphertext's when sealed).
    async fn complete(
        &self,
        state: UploadState,
        seen: Verifier,
        stored_size: u64,
    ) -> Result<Option<String>, CopyError> {
        let mp = self.upload.target.store();
        let uploads = self.upload.uploads;
        if let Err(mismatch) = self.file.check(seen) {
            self.abandon(&state).await?;
            return Err(mismatch);
        }
        let parts = state
            .parts
            .iter()
            .map(|content_id| PartId {
                content_id: content_id.clone(),
            })
            .collect();
        let e_tag = match mp
            .complete_multipart(&self.target_path, &state.upload_id, parts)
            .await
        {
            Ok(done) => done.e_tag,
            Err(e @ object_store::Error::NotFound { .. }) => {
                if !self.completed_earlier(&state, stored_size).await? {
                    return Err(self.gone_or(&state, e).await);
                }
                // No ETag: the commit checks this file as one it did not
                // write (an encrypted one's last chunk is opened).
                None
            }
            Err(e) => return Err(self.gone_or(&state, e).await),
        };
        self.forget(uploads).await?;
        Ok(e_tag)
    }

    /// The store no longer knows an upload whose every part is recorded:
    /// an earlier delivery may have completed it and then failed only to
    /// forget the record (NATS was down). Copying it again would be waste,
    /// or, counted as a lost upload on a delivery that is the last, a dead
    /// letter for a file that landed. It is known completed only when the
    /// object at the file's key has the size of the recorded parts and the
    /// ETag S3 gives their completion (the MD5 of their MD5s, `-<parts>`),
    /// so no other write of the same size passes for it; a store whose
    /// ETags are made otherwise gets the copy started over, as before.
    async fn completed_earlier(
        &self,
        state: &UploadState,
        stored_size: u64,
    ) -> Result<bool, CopyError> {
        // The ETag names how many parts completed it: every one recorded.
        let Some(expected) = completed_e_tag(&state.parts) else {
            return Ok(false);
        };
        let at = Path::from(self.file.target_key.as_str());
        let meta = match self.ends.target.head(&at).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let e_tag = meta.e_tag.as_deref().map(|t| t.trim_matches('"'));
        if meta.size as u64 != stored_size || e_tag != Some(expected.as_str()) {
            return Ok(false);
        }
        tracing::info!(target = %self.file.target_key, upload_id = %state.upload_id, "the upload was completed by an earlier delivery");
        Ok(true)
    }

    /// A store that no longer knows the upload (`NoSuchUpload`, 404: aborted
    /// outside this copy, by a lifecycle rule or an operator) would fail
    /// every resume of it: its record is forgotten (while it still names
    /// that upload) and the attempt fails (counted), so the next delivery
    /// starts a new upload, under a data key of its own when encrypted (this
    /// attempt's key has sealed parts already). Other errors pass through.
    async fn gone_or(&self, state: &UploadState, e: object_store::Error) -> CopyError {
        if !matches!(e, object_store::Error::NotFound { .. }) {
            return e.into();
        }
        let key = &self.file.target_key;
        match self
            .upload
            .uploads
            .forget_upload(&self.upload.state_key, &state.upload_id)
            .await
        {
            Ok(forgotten) => {
                tracing::warn!(target = %key, upload_id = %state.upload_id, forgotten, "the target no longer knows the upload; the copy starts over");
                CopyError::UploadGone(format!(
                    "{key}: multipart upload {} is gone from the target (aborted outside xregion, e.g. by a lifecycle rule); the copy starts over",
                    state.upload_id
                ))
            }
            Err(error) => CopyError::State(format!(
                "{key}: upload {} is gone from the target, and its record is not forgotten: {error}",
                state.upload_id
            )),
        }
    }

    async fn forget(&self, uploads: &UploadsBucket) -> Result<(), CopyError> {
        uploads
            .forget(&self.upload.state_key)
            .await
            .map_err(|e| CopyError::State(format!("forgetting the upload state: {e}")))
    }

    /// Aborts the upload, then forgets its record. An abort that fails
    /// keeps the record (cleanup aborts it later; a resume still sees the
    /// recorded hashes), a forget that fails is an error.
    async fn abandon(&self, state: &UploadState) -> Result<(), CopyError> {
        self.upload
            .target
            .store()
            .abort_multipart(&self.target_path, &state.upload_id)
            .await?;
        self.forget(self.upload.uploads).await
    }
}

/// The ETag S3 gives a multipart upload completed from parts with these
/// ids: the MD5 of their MD5s (binary), then `-<parts>`; `None` when a
/// part's ETag is not an MD5.
fn completed_e_tag(parts: &[String]) -> Option<String> {
    use md5::{Digest as _, Md5};
    let mut of_parts = Md5::new();
    for part in parts {
        let md5 = hex::decode(part_e_tag(part)).ok()?;
        if md5.len() != 16 {
            return None;
        }
        of_parts.update(&md5);
    }
    Some(format!(
        "{}-{}",
        hex::encode(of_parts.finalize()),
        parts.len()
    ))
}

/// A part's ETag, unquoted, from its id: the ETag itself, or (a store
/// asked for checksums) `<PartMetadata><e_tag>…</e_tag>…`.
fn part_e_tag(content_id: &str) -> &str {
    let tagged = content_id
        .split_once("<e_tag>")
        .and_then(|(_, rest)| rest.split_once("</e_tag>"))
        .map_or(content_id, |(e_tag, _)| e_tag);
    tagged
        .trim_matches('"')
        .trim_start_matches("&quot;")
        .trim_end_matches("&quot;")
}

#[cfg(test)]
mod tests {
    use super::completed_e_tag;

    #[test]
    fn the_completed_e_tag_is_the_md5_of_the_parts_md5s() {
        // Two parts of "a" and "b": MD5s 0cc175b9… and 92eb5ffe….
        let parts = [
            "\"0cc175b9c0f1b6a831c399e269772661\"".to_string(),
            "92eb5ffee6ae2fec3ad71c777531578f".to_string(),
        ];
        // As Python computes it: md5(bytes.fromhex(a) + bytes.fromhex(b)).
        assert_eq!(
            completed_e_tag(&parts).as_deref(),
            Some("96e024ba2074fe77e8e965ba43a704be-2")
        );
        let with_checksum = "<PartMetadata><e_tag>\"0cc175b9c0f1b6a831c399e269772661\"</e_tag><checksum_sha256>x=</checksum_sha256></PartMetadata>";
        let escaped = "&quot;92eb5ffee6ae2fec3ad71c777531578f&quot;";
        assert_eq!(
            completed_e_tag(&[with_checksum.into(), escaped.into()]).as_deref(),
            Some("96e024ba2074fe77e8e965ba43a704be-2"),
            "the same parts as ids of a store asked for checksums"
        );
        assert_eq!(completed_e_tag(&["not-hex".into()]), None);
        assert_eq!(completed_e_tag(&["abcd".into()]), None, "not 16 bytes");
    }
}
