//! Small object-store operations every service shares.

use object_store::path::Path;
use object_store::ObjectStore;

/// Deletes `key`; an object already gone is not an error (every deleting
/// step is retried, so it must be idempotent).
pub async fn delete_if_present(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<(), object_store::Error> {
    match store.delete(&Path::from(key)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
