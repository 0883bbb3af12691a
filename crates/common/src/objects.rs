//! Small object-store operations every service shares.

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;
use xregion_domain::ids::is_valid_id;

/// What a bounded read of a small object xregion wrote itself (a manifest,
/// `service.json`) found. Whatever lies at such a key is untrusted: one far
/// larger than anything written there is refused before its body is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Small {
    Absent,
    /// Larger than the limit (its size): not read.
    TooLarge(u64),
    Read(Bytes),
}

/// Reads `key` whole when it is at most `limit` bytes.
pub async fn read_small(
    store: &dyn ObjectStore,
    key: &str,
    limit: u64,
) -> Result<Small, object_store::Error> {
    read_small_at(store, &Path::from(key), limit).await
}

/// As `read_small`, at a location as a listing names it.
pub async fn read_small_at(
    store: &dyn ObjectStore,
    location: &Path,
    limit: u64,
) -> Result<Small, object_store::Error> {
    let got = match store.get(location).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(Small::Absent),
        Err(e) => return Err(e),
    };
    let size = got.meta.size as u64;
    if size > limit {
        return Ok(Small::TooLarge(size));
    }
    Ok(Small::Read(got.bytes().await?))
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn a_small_read_refuses_what_is_over_its_limit_and_tells_absent_apart() {
        let store = InMemory::new();
        store
            .put(&Path::from("a/m.json"), vec![b'x'; 10].into())
            .await
            .unwrap();
        assert_eq!(
            read_small(&store, "a/m.json", 10).await.unwrap(),
            Small::Read(Bytes::from(vec![b'x'; 10]))
        );
        assert_eq!(
            read_small(&store, "a/m.json", 9).await.unwrap(),
            Small::TooLarge(10)
        );
        assert_eq!(
            read_small(&store, "a/none.json", 9).await.unwrap(),
            Small::Absent
        );
    }
}
