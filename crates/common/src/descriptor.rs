//! `service.json`, the target region's description of a service: what lets
//! a restore find the service with the control plane gone, and what tells
//! cleanup which deployment a prefix belongs to.

use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use xregion_domain::layout;
use xregion_domain::manifest::{ServiceDescriptor, MAX_MANIFEST_BYTES};

use crate::error::{Error, Result};
use crate::objects::{read_small, Small};

/// Writes `service.json` unless an identical one is there. Idempotent.
pub async fn ensure_service_descriptor(
    store: &dyn ObjectStore,
    prefix: &str,
    descriptor: &ServiceDescriptor,
) -> Result<()> {
    if read_service_descriptor(store, prefix)
        .await
        .ok()
        .flatten()
        .as_ref()
        == Some(descriptor)
    {
        return Ok(());
    }
    let body = serde_json::to_vec_pretty(descriptor).map_err(|e| Error::Manifest {
        key: layout::service_descriptor_key(prefix),
        reason: e.to_string(),
    })?;
    let key = Path::from(layout::service_descriptor_key(prefix));
    store.put(&key, PutPayload::from(body)).await?;
    Ok(())
}

/// `service.json` under `prefix`; `None` when there is none.
pub async fn read_service_descriptor(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Option<ServiceDescriptor>> {
    let key = layout::service_descriptor_key(prefix);
    let bytes = match read_small(store, &key, MAX_MANIFEST_BYTES).await? {
        Small::Read(bytes) => bytes,
        Small::Absent => return Ok(None),
        Small::TooLarge(size) => {
            return Err(Error::Manifest {
                key,
                reason: format!("{size} bytes, more than a service.json can be"),
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Manifest {
            key,
            reason: e.to_string(),
        })
}
