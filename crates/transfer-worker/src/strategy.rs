//! Which way one file travels, decided only from what the two regions are
//! and how large the file is: a pure choice, so every rule has a test.
//!
//! - both regions `file://` and both keys plain file names: the kernel
//!   copies (`copy_file_range`), several times faster than streaming;
//! - a target with resumable multipart uploads (S3) and a file larger than
//!   a part: parts recorded as they complete, so a crash resumes;
//! - a file no larger than a part: one GET and one PUT (a multipart upload
//!   would cost two more requests);
//! - anything else: streamed through a multipart upload, never more than a
//!   few parts in memory.

use std::path::{Path, PathBuf};

use xregion_common::regions::Multipart;
use xregion_common::verify::Verifier;
use xregion_common::Regions;
use xregion_domain::manifest::ManifestFile;
use xregion_domain::parts;

use crate::copy::CopyError;

/// One file to copy: where it is read, where it is written, and the size
/// and sha256 the descriptor says it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCopy {
    pub source_key: String,
    pub target_key: String,
    pub size: u64,
    pub sha256: String,
    /// Sealed on the way when the target region encrypts.
    pub encrypt: Option<crate::seal::Encrypt>,
}

impl FileCopy {
    pub fn of(file: &ManifestFile) -> Self {
        Self {
            source_key: file.source_key.clone(),
            target_key: file.key.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
            encrypt: None,
        }
    }

    /// The file as file `index` of a transfer sealing under `sealing`.
    pub fn encrypted(
        mut self,
        sealing: Option<&std::sync::Arc<crate::seal::Sealing>>,
        index: usize,
    ) -> Result<Self, CopyError> {
        if let Some(s) = sealing {
            // The index is part of every chunk's nonce: never clamp it.
            let index = u32::try_from(index).map_err(|_| {
                CopyError::State(format!(
                    "{}: file index {index} is out of range",
                    self.target_key
                ))
            })?;
            self.encrypt = Some(crate::seal::Encrypt {
                sealing: s.clone(),
                index,
                target_key: self.target_key.clone(),
            });
        }
        Ok(self)
    }

    /// What went through against the descriptor; a mismatch names the
    /// source key and what differed.
    pub fn check(&self, seen: Verifier) -> Result<(), CopyError> {
        seen.finish(self.size, &self.sha256)
            .map_err(|mismatch| CopyError::mismatch(&self.source_key, mismatch))
    }
}

/// What a region's store lets a copy do.
#[derive(Clone, Copy)]
pub enum Region<'a> {
    /// `file://`: a folder the kernel can copy files in.
    Folder(&'a Path),
    /// An object store whose multipart uploads can be resumed (S3).
    Resumable(&'a Multipart),
    /// Any other object store.
    Store,
}

impl<'a> Region<'a> {
    /// What `id` is in the region table, given its multipart handle (the
    /// table hands out owned copies, so the caller keeps it). An unknown id
    /// is a plain store: the transfer has refused those already.
    pub fn of(regions: &'a Regions, id: &str, multipart: Option<&'a Multipart>) -> Self {
        match (regions.local_root(id), multipart) {
            (Some(root), _) => Region::Folder(root),
            (None, Some(mp)) => Region::Resumable(mp),
            (None, None) => Region::Store,
        }
    }
}

/// The way one file is copied, with what that way needs.
#[derive(Clone)]
pub enum CopyPath<'a> {
    Kernel {
        source: PathBuf,
        target: PathBuf,
    },
    /// One GET, one PUT.
    Whole,
    Resumable {
        target: &'a Multipart,
        part_size: u64,
    },
    Streamed {
        part_size: usize,
    },
}

impl std::fmt::Debug for CopyPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyPath::Kernel { source, target } => f
                .debug_struct("Kernel")
                .field("source", source)
                .field("target", target)
                .finish(),
            CopyPath::Whole => f.write_str("Whole"),
            CopyPath::Resumable { part_size, .. } => f
                .debug_struct("Resumable")
                .field("part_size", part_size)
                .finish_non_exhaustive(),
            CopyPath::Streamed { part_size } => f
                .debug_struct("Streamed")
                .field("part_size", part_size)
                .finish(),
        }
    }
}

impl CopyPath<'_> {
    /// The `path` label of `xregion_transfer_files_total`.
    pub fn label(&self) -> &'static str {
        match self {
            CopyPath::Kernel { .. } => "kernel",
            CopyPath::Resumable { .. } => "resumable",
            CopyPath::Whole | CopyPath::Streamed { .. } => "stream",
        }
    }
}

/// The way `file` goes from `source` to `target`, with parts of about
/// `preferred_part_size` bytes.
pub fn choose_path<'a>(
    source: Region<'_>,
    target: Region<'a>,
    file: &FileCopy,
    preferred_part_size: usize,
) -> CopyPath<'a> {
    // Ciphertext cannot take the kernel's copy, and a resumable upload's
    // parts must be whole chunks to be sealed again identically.
    let encrypted = file.encrypt.is_some();
    if let (Region::Folder(from), Region::Folder(to), false) = (source, target, encrypted) {
        if let (Some(source), Some(target)) = (
            fs_path(from, &file.source_key),
            fs_path(to, &file.target_key),
        ) {
            return CopyPath::Kernel { source, target };
        }
    }
    if let Region::Resumable(mp) = target {
        // Raised to S3's minimum and to what keeps within its part count.
        let mut part_size = parts::part_size(file.size, preferred_part_size as u64);
        if encrypted {
            let chunk = xregion_crypt::CHUNK_SIZE;
            part_size = part_size.div_ceil(chunk).saturating_mul(chunk);
        }
        if file.size > part_size {
            return CopyPath::Resumable {
                target: mp,
                part_size,
            };
        }
    }
    if file.size <= preferred_part_size as u64 {
        CopyPath::Whole
    } else {
        CopyPath::Streamed {
            part_size: preferred_part_size.max(1),
        }
    }
}

/// How a file of a region pair opted in for server-side copy is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSidePath {
    /// One CopyObject.
    Object,
    /// UploadPartCopy parts of `part_size` bytes (the last one shorter).
    Parts { part_size: u64 },
}

/// The server-side way for `file`: whole when it fits in one part (S3's
/// minimum and part count apply as to uploads), else in parts.
pub fn server_side_path(file: &FileCopy, preferred_part_size: usize) -> ServerSidePath {
    let part_size = parts::part_size(file.size, preferred_part_size as u64);
    if file.size <= part_size {
        ServerSidePath::Object
    } else {
        ServerSidePath::Parts { part_size }
    }
}

/// The file behind `key` in a region rooted at `root`, for keys made of
/// plain segments only; anything else takes the object-store path, which
/// knows how to encode it.
pub fn fs_path(root: &Path, key: &str) -> Option<PathBuf> {
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-=+".contains(&b))
    };
    key.split('/').all(plain).then(|| root.join(key))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use object_store::memory::InMemory;
    use xregion_domain::parts::MIN_PART_SIZE;

    const MIB: u64 = 1024 * 1024;
    const PART: usize = 8 * MIB as usize;

    fn file(size: u64) -> FileCopy {
        FileCopy {
            source_key: "t/i/b/f".into(),
            target_key: "t/i/svc/backups/b/f".into(),
            size,
            sha256: String::new(),
            encrypt: None,
        }
    }

    fn s3() -> Multipart {
        Multipart::new(Arc::new(InMemory::new()), "")
    }

    fn label(source: Region<'_>, target: Region<'_>, size: u64, part: usize) -> String {
        match choose_path(source, target, &file(size), part) {
            CopyPath::Resumable { part_size, .. } => format!("resumable {part_size}"),
            CopyPath::Streamed { part_size } => format!("streamed {part_size}"),
            CopyPath::Whole => "whole".into(),
            CopyPath::Kernel { .. } => "kernel".into(),
        }
    }

    #[test]
    fn two_folders_copy_in_the_kernel_whatever_the_size() {
        let (a, b) = (Path::new("/a"), Path::new("/b"));
        for size in [0, 1, PART as u64, 10 << 30] {
            let path = choose_path(Region::Folder(a), Region::Folder(b), &file(size), PART);
            let CopyPath::Kernel { source, target } = path else {
                panic!("{size}: {path:?}")
            };
            assert_eq!(source, Path::new("/a/t/i/b/f"));
            assert_eq!(target, Path::new("/b/t/i/svc/backups/b/f"));
        }
    }

    #[test]
    fn an_encrypted_file_never_takes_the_kernel_and_its_parts_are_whole_chunks() {
        let (sealing, _) = crate::seal::test_sealing();
        let (a, b) = (Path::new("/a"), Path::new("/b"));
        let sealed = file(1).encrypted(Some(&sealing), 0).unwrap();
        let path = choose_path(Region::Folder(a), Region::Folder(b), &sealed, PART);
        assert!(matches!(path, CopyPath::Whole), "{path:?}");
        let mp = s3();
        let big = file(100 * MIB).encrypted(Some(&sealing), 0).unwrap();
        let odd = 5 * MIB as usize + 3;
        let CopyPath::Resumable { part_size, .. } =
            choose_path(Region::Store, Region::Resumable(&mp), &big, odd)
        else {
            panic!("not resumable");
        };
        assert_eq!(part_size, 6 * MIB);
    }

    #[test]
    fn a_key_that_is_no_plain_file_name_goes_through_the_store() {
        let (a, b) = (Path::new("/a"), Path::new("/b"));
        let odd = FileCopy {
            source_key: "t/i/b/a b".into(),
            ..file(1)
        };
        let path = choose_path(Region::Folder(a), Region::Folder(b), &odd, PART);
        assert!(matches!(path, CopyPath::Whole), "{path:?}");
        let path = choose_path(Region::Folder(a), Region::Store, &file(1), PART);
        assert!(matches!(path, CopyPath::Whole), "{path:?}");
    }

    #[test]
    fn s3_targets_resume_files_larger_than_a_part() {
        let mp = s3();
        let s3 = Region::Resumable(&mp);
        let part = PART as u64;
        assert_eq!(
            label(Region::Store, s3, part + 1, PART),
            format!("resumable {part}")
        );
        // Exactly one part is one PUT; an empty file too.
        assert_eq!(label(Region::Store, s3, part, PART), "whole");
        assert_eq!(label(Region::Store, s3, 0, PART), "whole");
        // From a folder source as well: only two folders use the kernel.
        let a = Path::new("/a");
        assert_eq!(
            label(Region::Folder(a), s3, part + 1, PART),
            format!("resumable {part}")
        );
    }

    #[test]
    fn resumable_parts_respect_s3_minimum_and_part_count() {
        let mp = s3();
        let s3 = Region::Resumable(&mp);
        // A 1 MiB preference is raised to 5 MiB: a 3 MiB file is no larger
        // than a part there, yet larger than the preferred part.
        assert_eq!(
            label(Region::Store, s3, 3 * MIB, MIB as usize),
            format!("streamed {MIB}")
        );
        assert_eq!(
            label(Region::Store, s3, MIN_PART_SIZE + 1, MIB as usize),
            format!("resumable {MIN_PART_SIZE}")
        );
        let huge = 1u64 << 40;
        let CopyPath::Resumable { part_size, .. } =
            choose_path(Region::Store, s3, &file(huge), PART)
        else {
            panic!("a TiB file resumes")
        };
        assert!(huge.div_ceil(part_size) <= parts::MAX_PARTS);
    }

    #[test]
    fn other_stores_stream_what_is_larger_than_a_part() {
        let part = PART as u64;
        assert_eq!(label(Region::Store, Region::Store, 0, PART), "whole");
        assert_eq!(label(Region::Store, Region::Store, part, PART), "whole");
        assert_eq!(
            label(Region::Store, Region::Store, part + 1, PART),
            format!("streamed {part}")
        );
        // A folder target without a folder source streams too.
        let b = Path::new("/b");
        assert_eq!(
            label(Region::Store, Region::Folder(b), part + 1, PART),
            format!("streamed {part}")
        );
        // A part size of zero still makes progress.
        assert_eq!(label(Region::Store, Region::Store, 1, 0), "streamed 1");
    }

    #[test]
    fn server_side_copies_one_object_up_to_a_part_and_parts_beyond() {
        let part = PART as u64;
        assert_eq!(server_side_path(&file(0), PART), ServerSidePath::Object);
        assert_eq!(server_side_path(&file(part), PART), ServerSidePath::Object);
        assert_eq!(
            server_side_path(&file(part + 1), PART),
            ServerSidePath::Parts { part_size: part }
        );
        // S3's 5 MiB minimum: a 3 MiB preference copies 5 MiB as one object.
        assert_eq!(
            server_side_path(&file(MIN_PART_SIZE), MIB as usize),
            ServerSidePath::Object
        );
        let huge = 1u64 << 40;
        let ServerSidePath::Parts { part_size } = server_side_path(&file(huge), PART) else {
            panic!("a TiB file is copied in parts")
        };
        assert!(huge.div_ceil(part_size) <= parts::MAX_PARTS);
    }

    #[test]
    fn only_plain_keys_map_to_files() {
        let root = Path::new("/r");
        assert_eq!(
            fs_path(root, "t/i/svc-1/backups/b/mysql-bin.000001"),
            Some(PathBuf::from("/r/t/i/svc-1/backups/b/mysql-bin.000001"))
        );
        for bad in ["", "a//b", "../x", "a/./b", "a b", "a%2F", "/abs"] {
            assert_eq!(fs_path(root, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_metric_label_keeps_whole_and_streamed_together() {
        let mp = s3();
        let labels: Vec<_> = [
            CopyPath::Kernel {
                source: "/a".into(),
                target: "/b".into(),
            },
            CopyPath::Whole,
            CopyPath::Resumable {
                target: &mp,
                part_size: 1,
            },
            CopyPath::Streamed { part_size: 1 },
        ]
        .iter()
        .map(CopyPath::label)
        .collect();
        assert_eq!(labels, ["kernel", "stream", "resumable", "stream"]);
    }
}
