//! A job names a service and a backup; before writing anything under the
//! service's prefix the worker holds them against the catalog's record, so a
//! forged or stale job cannot write into another tenant's folder or copy
//! another instance's files.

use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

/// `Ok` when the job's service is the catalog's `record` and the backup is
/// of its instance, tenant and source region.
pub fn job_matches_record(
    record: &pb::ServiceRef,
    job: &pb::ServiceRef,
    backup: &BackupDescriptor,
) -> Result<(), String> {
    let fields = [
        ("service", &job.service_id, &record.service_id),
        ("tenant", &job.tenant_id, &record.tenant_id),
        ("instance", &job.instance_id, &record.instance_id),
        ("source region", &job.source_region, &record.source_region),
        ("target region", &job.target_region, &record.target_region),
        ("target prefix", &job.target_prefix, &record.target_prefix),
        ("backup tenant", &backup.tenant_id, &record.tenant_id),
        ("backup instance", &backup.instance_id, &record.instance_id),
        ("backup region", &backup.region, &record.source_region),
    ];
    for (what, got, recorded) in fields {
        if got != recorded {
            return Err(format!(
                "job's {what} {got:?} differs from the catalog's {recorded:?}; nothing copied"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> pb::ServiceRef {
        pb::ServiceRef {
            service_id: "svc-1".into(),
            tenant_id: "t".into(),
            instance_id: "i".into(),
            source_region: "r1".into(),
            target_region: "r2".into(),
            target_prefix: "t/i/svc-1".into(),
            ..Default::default()
        }
    }

    fn backup() -> BackupDescriptor {
        BackupDescriptor {
            tenant_id: "t".into(),
            instance_id: "i".into(),
            region: "r1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn every_field_must_match() {
        assert!(job_matches_record(&record(), &record(), &backup()).is_ok());
        let mut other = record();
        other.target_prefix = "t2/i/svc-1".into();
        assert!(job_matches_record(&record(), &other, &backup()).is_err());
        let mut other = record();
        other.tenant_id = "t2".into();
        assert!(job_matches_record(&record(), &other, &backup()).is_err());
        for change in [
            |b: &mut BackupDescriptor| b.tenant_id = "t2".into(),
            |b: &mut BackupDescriptor| b.instance_id = "i2".into(),
            |b: &mut BackupDescriptor| b.region = "r3".into(),
        ] {
            let mut b = backup();
            change(&mut b);
            let e = job_matches_record(&record(), &record(), &b).unwrap_err();
            assert!(e.contains("backup"), "{e}");
        }
    }
}
