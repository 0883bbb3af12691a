//! The self-describing target-region layout:
//! `<tenant>/<instance>/<service>/{service.json, backups/<backup>/<file>, manifests/<backup>.json}`.
//! Every segment is an id validated by [`crate::ids`], so keys cannot escape
//! their prefix.

pub fn service_prefix(tenant: &str, instance: &str, service: &str) -> String {
    format!("{tenant}/{instance}/{service}")
}

pub fn service_descriptor_key(prefix: &str) -> String {
    format!("{prefix}/service.json")
}

pub fn manifests_prefix(prefix: &str) -> String {
    format!("{prefix}/manifests")
}

pub fn manifest_key(prefix: &str, backup_id: &str) -> String {
    format!("{prefix}/manifests/{backup_id}.json")
}

/// The target key of one backup file: the source key's last segment below
/// the backup's folder, so copies stay byte-identical and easy to find.
pub fn backup_file_key(prefix: &str, backup_id: &str, source_key: &str) -> String {
    let name = source_key.rsplit('/').next().unwrap_or(source_key);
    format!("{prefix}/backups/{backup_id}/{name}")
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
mod tests {
    use super::*;

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
}
