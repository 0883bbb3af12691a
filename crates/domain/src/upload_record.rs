//! What an upload record read back from the uploads bucket may name. The
//! bucket is a boundary: a record there decides which multipart upload a
//! worker resumes or aborts and which one cleanup aborts, so a record that
//! names another service's file, or is out of range, is refused whole and
//! nothing is done to the upload it names.

use crate::error::{DomainError, Result};
use crate::ids::validate_id;
use crate::layout::check_backup_paths;
use crate::parts::{UploadState, MAX_PARTS};

/// S3 returns upload ids of a few hundred bytes; anything longer is not one.
const MAX_UPLOAD_ID_LEN: usize = 1024;
/// S3's largest part.
const MAX_PART_SIZE: u64 = 5 << 30;

/// Checks that `state`, found under the record key of `service_id`'s backup
/// `backup_id`, names a file of that backup (`<tenant>/<instance>/<service>/
/// backups/<backup>/<path>`) and holds values a real upload can have.
pub fn check_upload_record(state: &UploadState, service_id: &str, backup_id: &str) -> Result<()> {
    let invalid = |field, reason: String| Err(DomainError::invalid(field, reason));
    let mut segments = state.target_key.splitn(6, '/');
    let mut next = || segments.next().unwrap_or_default();
    let (tenant, instance, service, backups, backup, path) =
        (next(), next(), next(), next(), next(), next());
    validate_id("target_key", tenant)?;
    validate_id("target_key", instance)?;
    if service != service_id || backups != "backups" || backup != backup_id {
        return invalid(
            "target_key",
            format!(
                "{:?} is not a file of backup {backup_id} of service {service_id}",
                state.target_key
            ),
        );
    }
    check_backup_paths(&[path])?;
    validate_id("target_region", &state.target_region)?;
    let id = &state.upload_id;
    if id.is_empty() || id.len() > MAX_UPLOAD_ID_LEN || id.chars().any(char::is_control) {
        return invalid(
            "upload_id",
            format!("must be 1..={MAX_UPLOAD_ID_LEN} printable characters"),
        );
    }
    if state.part_size == 0 || state.part_size > MAX_PART_SIZE {
        return invalid(
            "part_size",
            format!("{} is not in 1..={MAX_PART_SIZE}", state.part_size),
        );
    }
    let parts = state.size.div_ceil(state.part_size);
    if parts > MAX_PARTS {
        return invalid("size", format!("{parts} parts, more than {MAX_PARTS}"));
    }
    if state.parts.len() as u64 > parts {
        return invalid(
            "parts",
            format!("{} completed of a file of {parts}", state.parts.len()),
        );
    }
    if let Some((&i, _)) = state.sent.iter().find(|(&i, _)| i >= parts) {
        return invalid("sent", format!("part {i} of a file of {parts}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::layout::{backup_file_keys, service_prefix};

    fn record(target_key: &str) -> UploadState {
        UploadState {
            upload_id: "VXBsb2FkIElE".into(),
            target_region: "r2".into(),
            target_key: target_key.into(),
            size: 30 << 20,
            part_size: 10 << 20,
            parts: vec!["p0".into()],
            started_at_ms: 0,
            updated_at_ms: 0,
            encryption: None,
            sent: BTreeMap::new(),
        }
    }

    const OWN: &str = "t/i/svc-a/backups/b1/stripe1/db.bak";

    #[test]
    fn a_file_of_its_own_backup_passes() {
        check_upload_record(&record(OWN), "svc-a", "b1").unwrap();
    }

    #[test]
    fn a_key_outside_its_backup_is_refused() {
        for key in [
            "t/i/svc-b/backups/b1/stripe1/db.bak",
            "t/i/svc-a/backups/b2/db.bak",
            "t/i/svc-a/manifests/b1.json",
            "t/i/svc-a/backups/b1",
            "t/i/svc-a/backups/b1/",
            "t/i/svc-a/backups/b1/../../svc-b/service.json",
            "t/i/svc-a/service.json",
            "../i/svc-a/backups/b1/f",
            "",
        ] {
            let err = check_upload_record(&record(key), "svc-a", "b1").unwrap_err();
            assert!(
                err.to_string().contains("target_key") || err.to_string().contains("files"),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn values_no_upload_has_are_refused() {
        type Spoil = fn(&mut UploadState);
        let bad: [(&str, Spoil); 7] = [
            ("upload_id", |s| s.upload_id.clear()),
            ("upload_id", |s| s.upload_id = "x".repeat(2000)),
            ("upload_id", |s| s.upload_id = "a\nb".into()),
            ("part_size", |s| s.part_size = 0),
            ("size", |s| s.size = u64::MAX),
            ("parts", |s| s.parts = vec!["p".into(); 4]),
            ("sent", |s| {
                s.sent.insert(3, "aa".into());
            }),
        ];
        for (field, spoil) in bad {
            let mut s = record(OWN);
            spoil(&mut s);
            let err = check_upload_record(&s, "svc-a", "b1").unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        let mut s = record(OWN);
        s.target_region = "r2/../x".into();
        assert!(check_upload_record(&s, "svc-a", "b1").is_err());
    }

    proptest! {
        #[test]
        fn every_key_the_layout_makes_passes_and_no_other_backups(
            names in proptest::collection::btree_set("[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", 1..4),
            other in "[a-z0-9]{1,8}",
        ) {
            let names: Vec<String> = names.into_iter().collect();
            let prefix = service_prefix("t", "i", "svc-a");
            for key in backup_file_keys(&prefix, "b1", &names) {
                prop_assert!(check_upload_record(&record(&key), "svc-a", "b1").is_ok(), "{}", key);
                if other != "b1" {
                    prop_assert!(check_upload_record(&record(&key), "svc-a", &other).is_err());
                }
                prop_assert!(check_upload_record(&record(&key), "svc-b", "b1").is_err());
            }
        }
    }
}
