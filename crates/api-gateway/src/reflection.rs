//! What gRPC reflection shows: the public API and the files it needs, not
//! the internal catalog contract (its service-only methods and payloads are
//! no business of a tenant's).

use std::collections::BTreeSet;

use prost::Message;
use prost_types::FileDescriptorSet;

/// The file of the public service; reflection shows it and its imports.
const PUBLIC_ROOT: &str = "xregion/v1/api.proto";

pub fn public_descriptors(encoded: &[u8]) -> Result<FileDescriptorSet, prost::DecodeError> {
    let all = FileDescriptorSet::decode(encoded)?;
    let mut keep = BTreeSet::new();
    let mut todo = vec![PUBLIC_ROOT.to_string()];
    while let Some(name) = todo.pop() {
        if let Some(file) = all.file.iter().find(|f| f.name() == name) {
            todo.extend(file.dependency.iter().cloned());
        }
        keep.insert(name);
    }
    Ok(FileDescriptorSet {
        file: all
            .file
            .into_iter()
            .filter(|f| keep.contains(f.name()))
            .collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_api_and_its_imports_are_shown() {
        let set = public_descriptors(xregion_proto::FILE_DESCRIPTOR_SET).unwrap();
        let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
        assert!(names.contains(&PUBLIC_ROOT), "{names:?}");
        assert!(names.contains(&"xregion/v1/types.proto"), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("catalog")), "{names:?}");
        let services: Vec<&str> = set
            .file
            .iter()
            .flat_map(|f| f.service.iter().map(|s| s.name()))
            .collect();
        assert_eq!(services, vec!["CrossRegionBackupService"]);
        // Every import of a shown file is shown too, so clients resolve it.
        for f in &set.file {
            for dep in &f.dependency {
                assert!(
                    names.contains(&dep.as_str()) || dep.starts_with("google/protobuf/"),
                    "{} imports {dep}, which is not shown",
                    f.name()
                );
            }
        }
    }
}
