//! The self-describing target-region layout:
//! `<tenant>/<instance>/<service>/{service.json, backups/<backup>/<path>, manifests/<backup>.json}`.
//! Every id segment is validated by [`crate::ids`] and every `<path>` by
//! [`check_backup_paths`], so keys cannot escape their prefix and a
//! restore can turn them into local paths.

use std::collections::BTreeSet;

use crate::error::{DomainError, Result};

pub fn service_prefix(tenant: &str, instance: &str, service: &str) -> String {
    format!("{tenant}/{instance}/{service}")
}

pub fn service_descriptor_key(prefix: &str) -> String {
    format!("{prefix}/service.json")
}

/// Every service id the catalog issues starts with this; the orphan sweep
/// looks only at such folders.
pub const SERVICE_ID_PREFIX: &str = "svc-";

/// A copy in progress: the worker keeps this object fresh while it copies a
/// backup, so the orphan sweep leaves the backup's early files alone.
pub fn in_progress_key(prefix: &str, backup_id: &str) -> String {
    format!("{prefix}/inprogress/{backup_id}.json")
}

pub fn in_progress_prefix(prefix: &str) -> String {
    format!("{prefix}/inprogress")
}

pub fn backups_prefix(prefix: &str) -> String {
    format!("{prefix}/backups")
}

pub fn manifests_prefix(prefix: &str) -> String {
    format!("{prefix}/manifests")
}

pub fn manifest_key(prefix: &str, backup_id: &str) -> String {
    format!("{prefix}/manifests/{backup_id}.json")
}

/// The folder holding one backup's files, with the trailing slash.
pub fn backup_folder(prefix: &str, backup_id: &str) -> String {
    format!("{prefix}/backups/{backup_id}/")
}

/// The paths of a backup's files below its folder: each source key without
/// the longest folder prefix all of them share. A single file keeps just its
/// name; files in sibling folders (`…/stripe1/db.bak`, `…/stripe2/db.bak`)
/// keep the folders that tell them apart, so two files never land on one key.
pub fn backup_relative_paths<S: AsRef<str>>(source_keys: &[S]) -> Vec<String> {
    let split: Vec<Vec<&str>> = source_keys
        .iter()
        .map(|k| k.as_ref().split('/').collect())
        .collect();
    let folders = |segments: &[&str]| segments.len().saturating_sub(1);
    let common = split
        .iter()
        .map(|s| folders(s))
        .min()
        .map_or(0, |shortest| {
            let first = split.first().map(Vec::as_slice).unwrap_or_default();
            (0..shortest)
                .take_while(|&i| split.iter().all(|s| s[i] == first[i]))
                .count()
        });
    split.iter().map(|s| s[common..].join("/")).collect()
}

/// The target keys of a backup's files, in the order of `source_keys`.
pub fn backup_file_keys<S: AsRef<str>>(
    prefix: &str,
    backup_id: &str,
    source_keys: &[S],
) -> Vec<String> {
    let folder = backup_folder(prefix, backup_id);
    backup_relative_paths(source_keys)
        .into_iter()
        .map(|rel| format!("{folder}{rel}"))
        .collect()
}

/// The target key of the file of a single-file backup (its name below the
/// backup's folder). Backups with several files: [`backup_file_keys`].
pub fn backup_file_key(prefix: &str, backup_id: &str, source_key: &str) -> String {
    let name = source_key.rsplit('/').next().unwrap_or(source_key);
    format!("{}{name}", backup_folder(prefix, backup_id))
}

/// Checks the paths of one backup's files below its folder: each is a
/// relative path of plain segments (not empty, `.` or `..`, no backslash or
/// control character), no two are equal, and none is a folder of another —
/// so each file has its own key and its own local file when restored.
pub fn check_backup_paths<S: AsRef<str>>(paths: &[S]) -> Result<()> {
    let invalid = |reason: String| DomainError::invalid("files", reason);
    let mut seen = BTreeSet::new();
    for path in paths {
        let path = path.as_ref();
        let bad_segment = path.split('/').any(|s| {
            s.is_empty() || s == "." || s == ".." || s.chars().any(|c| c == '\\' || c.is_control())
        });
        if bad_segment {
            return Err(invalid(format!(
                "unsafe file path {path:?} (empty, '.' or '..' segment, backslash or control character)"
            )));
        }
        if !seen.insert(path) {
            return Err(invalid(format!("two files map to the same key {path:?}")));
        }
    }
    for path in &seen {
        let mut folder = String::new();
        for segment in path.split('/') {
            if !folder.is_empty() && seen.contains(folder.as_str()) {
                return Err(invalid(format!(
                    "file {folder:?} is also a folder of {path:?}"
                )));
            }
            if !folder.is_empty() {
                folder.push('/');
            }
            folder.push_str(segment);
        }
    }
    Ok(())
}

/// Where the upstream keeps each backup's descriptor in the source region's
/// store (protobuf `rds.v1.BackupDescriptor`), so reconciliation can find
/// backups whose event never arrived.
pub fn source_descriptors_prefix(instance: &str) -> String {
    format!("descriptors/{instance}")
}

pub fn source_descriptor_key(instance: &str, backup_id: &str) -> String {
    format!("descriptors/{instance}/{backup_id}.pb")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let p = service_prefix("t1", "i1", "s1");
        assert_eq!(p, "t1/i1/s1");
        assert_eq!(service_descriptor_key(&p), "t1/i1/s1/service.json");
        assert_eq!(manifest_key(&p, "b1"), "t1/i1/s1/manifests/b1.json");
        assert_eq!(
            backup_file_key(&p, "b1", "mysql/i1/full/b1/data.xbstream"),
            "t1/i1/s1/backups/b1/data.xbstream"
        );
        assert_eq!(
            backup_file_key(&p, "b1", "flat"),
            "t1/i1/s1/backups/b1/flat"
        );
    }

    #[test]
    fn a_single_file_keeps_its_name() {
        assert_eq!(
            backup_file_keys("t/i/s", "b1", &["mysql/i1/full/b1/data.xbstream"]),
            ["t/i/s/backups/b1/data.xbstream"]
        );
        assert_eq!(backup_relative_paths(&["flat"]), ["flat"]);
    }

    #[test]
    fn stripes_keep_the_folders_that_tell_them_apart() {
        assert_eq!(
            backup_file_keys("t/i/s", "b", &["x/b/stripe1/db.bak", "x/b/stripe2/db.bak"]),
            [
                "t/i/s/backups/b/stripe1/db.bak",
                "t/i/s/backups/b/stripe2/db.bak"
            ]
        );
        assert_eq!(
            backup_relative_paths(&["x/b/f1", "x/b/f2"]),
            ["f1", "f2"],
            "files of one folder keep the layout they always had"
        );
        assert_eq!(
            backup_relative_paths(&["x/a/f", "x/a/deeper/f", "y/f"]),
            ["x/a/f", "x/a/deeper/f", "y/f"]
        );
        assert!(backup_relative_paths::<&str>(&[]).is_empty());
    }

    #[test]
    fn unsafe_or_colliding_paths_are_refused() {
        assert!(check_backup_paths(&["db.bak", "stripe2/db.bak"]).is_ok());
        for (paths, says) in [
            (vec!["a", "a"], "same key"),
            (vec!["a", "a/b"], "also a folder"),
            (vec!["a/b", "a", "a-b"], "also a folder"),
            (vec!["../x"], "unsafe"),
            (vec!["a/./b"], "unsafe"),
            (vec!["a//b"], "unsafe"),
            (vec![""], "unsafe"),
            (vec!["/abs"], "unsafe"),
            (vec!["a\\..\\b"], "unsafe"),
            (vec!["a\nb"], "unsafe"),
        ] {
            let err = check_backup_paths(&paths).unwrap_err().to_string();
            assert!(err.contains(says), "{paths:?}: {err}");
        }
    }

    proptest! {
        /// Distinct source keys (valid descriptor keys) never share a
        /// target key, and their paths pass the check.
        #[test]
        fn distinct_source_keys_get_distinct_safe_paths(
            keys in proptest::collection::btree_set("[a-c]{1,2}(/[a-c]{1,2}){0,3}", 1..6)
        ) {
            let keys: Vec<String> = keys.into_iter().collect();
            // A key that is a folder of another is refused upstream too.
            let folders = keys.iter().any(|a| keys.iter().any(|b| b.starts_with(&format!("{a}/"))));
            prop_assume!(!folders);
            let rel = backup_relative_paths(&keys);
            prop_assert!(check_backup_paths(&rel).is_ok(), "{keys:?} -> {rel:?}");
            for (k, r) in keys.iter().zip(&rel) {
                prop_assert!(k.ends_with(r.as_str()));
            }
        }
    }
}
