//! Small object-store operations every service shares.

use object_store::path::Path;
use object_store::ObjectStore;
use xregion_domain::ids::is_valid_id;

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

/// The names of the folders directly below `parent` (the store's top level
/// when `None`) that are valid ids, sorted. One listing with a delimiter:
/// the objects below are never listed, so walking a bucket level by level
/// never holds more than one level's names.
pub async fn id_folders(
    store: &dyn ObjectStore,
    parent: Option<&Path>,
) -> Result<Vec<String>, object_store::Error> {
    let listing = store.list_with_delimiter(parent).await?;
    let mut names: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .filter(|name| is_valid_id(name))
        .collect();
    names.sort();
    Ok(names)
}
