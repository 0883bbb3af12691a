//! Finding service folders (`<tenant>/<instance>/svc-…`) in a store one
//! level at a time, so no sweep ever holds a whole bucket's listing: each
//! level's folder names are listed with a delimiter, and objects are only
//! ever streamed below one service's own prefix.

use object_store::path::Path;
use object_store::ObjectStore;
use xregion_common::objects::id_folders;
use xregion_domain::layout;

use crate::verdict::FoundPrefix;

/// Every service folder of the store, in key order.
pub async fn service_folders(
    store: &dyn ObjectStore,
) -> Result<Vec<FoundPrefix>, object_store::Error> {
    let mut out = Vec::new();
    for tenant in id_folders(store, None).await? {
        let tenant_path = Path::from(tenant.as_str());
        for instance in id_folders(store, Some(&tenant_path)).await? {
            let instance_path = tenant_path.child(instance.as_str());
            for service in id_folders(store, Some(&instance_path)).await? {
                if service.starts_with(layout::SERVICE_ID_PREFIX) {
                    out.push(FoundPrefix {
                        tenant: tenant.clone(),
                        instance: instance.clone(),
                        service,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn finds_service_folders_only() {
        let store = InMemory::new();
        for key in [
            "t/i/svc-a/service.json",
            "t/i/svc-a/backups/b/f",
            "t/j/svc-b/manifests/b.json",
            "u/i/svc-c/backups/b/f",
            "t/i/not-a-service/f",
            "descriptors/i/b.pb",
            "i/b/file",
            "top-level-file",
        ] {
            store
                .put(&Path::from(key), b"x".to_vec().into())
                .await
                .unwrap();
        }
        let found: Vec<String> = service_folders(&store)
            .await
            .unwrap()
            .iter()
            .map(FoundPrefix::path)
            .collect();
        assert_eq!(found, ["t/i/svc-a", "t/j/svc-b", "u/i/svc-c"]);
    }
}
