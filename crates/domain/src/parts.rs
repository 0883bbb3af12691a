//! How a large file is cut into multipart-upload parts: at least 5 MiB each
//! (S3's minimum for all but the last), never more than 10,000 parts.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A multipart upload in progress, as kept in the uploads bucket: enough to
/// resume it after the last completed part, or for cleanup to abort it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub upload_id: String,
    pub target_region: String,
    pub target_key: String,
    pub size: u64,
    pub part_size: u64,
    /// Content ids of parts 0..parts.len(), all completed.
    pub parts: Vec<String>,
    pub started_at_ms: i64,
    /// Last progress; an upload idle past the grace period is stale.
    pub updated_at_ms: i64,
    /// The wrapped data key of an encrypted upload (never the key itself),
    /// so a resumed upload seals its remaining parts under the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<UploadKey>,
    /// Encrypted uploads: the plaintext sha256 of each part after the
    /// recorded prefix, written BEFORE the part is sent. A resumed upload
    /// seals a part again only if its plaintext is the same, so no nonce
    /// ever seals two plaintexts under one key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sent: BTreeMap<u64, String>,
}

impl UploadState {
    /// May part `i`, whose plaintext hashes to `sha256` now, be sealed and
    /// sent: never sent before, or sent with this very plaintext?
    pub fn may_send(&self, i: u64, sha256: &str) -> bool {
        !matches!(self.sent.get(&i), Some(h) if h != sha256)
    }

    /// Forgets the hashes of parts now in the recorded prefix (they are
    /// never sent again).
    pub fn prune_sent(&mut self) {
        let prefix = self.parts.len() as u64;
        self.sent.retain(|i, _| *i >= prefix);
    }
}

/// A data key as an upload state keeps it: wrapped by the KEK `key_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadKey {
    pub key_id: String,
    /// Standard base64.
    pub wrapped_key: String,
}

pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;

/// The part size for a file: the preferred size, raised to the minimum and
/// to whatever keeps the part count within the maximum.
pub fn part_size(file_size: u64, preferred: u64) -> u64 {
    preferred
        .max(MIN_PART_SIZE)
        .max(file_size.div_ceil(MAX_PARTS))
}

pub fn part_count(file_size: u64, part_size: u64) -> u64 {
    if part_size == 0 {
        return 0;
    }
    file_size.div_ceil(part_size)
}

/// Byte range of part `index`.
pub fn part_range(file_size: u64, part_size: u64, index: u64) -> Range<u64> {
    let start = (index * part_size).min(file_size);
    start..(start + part_size).min(file_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_and_huge_files() {
        assert_eq!(part_size(1, 8 << 20), 8 << 20);
        assert_eq!(part_size(1, 1), MIN_PART_SIZE);
        let five_tib = 5u64 << 40;
        let p = part_size(five_tib, 8 << 20);
        assert!(part_count(five_tib, p) <= MAX_PARTS);
        assert_eq!(part_range(10, 4, 2), 8..10);
        assert_eq!(part_count(0, 4), 0);
    }

    #[test]
    fn a_sent_part_is_sent_again_only_with_the_same_plaintext() {
        let mut s = UploadState {
            upload_id: "u".into(),
            target_region: "r".into(),
            target_key: "k".into(),
            size: 30,
            part_size: 10,
            parts: vec![],
            started_at_ms: 0,
            updated_at_ms: 0,
            encryption: None,
            sent: BTreeMap::new(),
        };
        assert!(s.may_send(0, "aa"));
        s.sent.insert(0, "aa".into());
        s.sent.insert(1, "bb".into());
        assert!(s.may_send(0, "aa"));
        assert!(!s.may_send(1, "cc"), "changed plaintext under a used nonce");
        assert!(s.may_send(2, "cc"));
        // Survives the uploads bucket's encoding.
        let back: UploadState = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert!(!back.may_send(1, "cc"));
        s.parts.push("p0".into());
        s.prune_sent();
        assert_eq!(s.sent.keys().copied().collect::<Vec<_>>(), vec![1]);
    }

    proptest! {
        #[test]
        fn parts_cover_the_file_exactly(size in 0u64..(1u64 << 44), preferred in 0u64..(64u64 << 20)) {
            let p = part_size(size, preferred);
            prop_assert!(p >= MIN_PART_SIZE);
            let n = part_count(size, p);
            prop_assert!(n <= MAX_PARTS);
            if n > 0 {
                prop_assert_eq!(part_range(size, p, 0).start, 0);
                prop_assert_eq!(part_range(size, p, n - 1).end, size);
                prop_assert!(!part_range(size, p, n - 1).is_empty());
            }
        }
    }
}
