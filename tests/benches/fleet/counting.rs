//! An `ObjectStore` that counts the listings made through it: the sweep
//! runs on it unchanged, and the benchmark checks that no listing was a
//! recursive one of the whole bucket.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOpts,
    PutOptions, PutPayload, PutResult, Result,
};

#[derive(Debug, Default)]
pub struct Counts {
    /// Recursive listings (`list`), of any prefix.
    pub recursive: AtomicU64,
    /// Recursive listings of the bucket's root: a whole-bucket listing.
    pub whole_bucket: AtomicU64,
    /// One level with a delimiter (`list_with_delimiter`).
    pub delimited: AtomicU64,
    pub gets: AtomicU64,
    pub deletes: AtomicU64,
}

impl Counts {
    pub fn lists(&self) -> u64 {
        self.recursive.load(Relaxed) + self.delimited.load(Relaxed)
    }
}

#[derive(Debug)]
pub struct Counting {
    pub inner: Arc<dyn ObjectStore>,
    pub counts: Arc<Counts>,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

fn is_root(prefix: Option<&Path>) -> bool {
    prefix.is_none_or(|p| p.as_ref().is_empty())
}

#[async_trait::async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOpts,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.counts.gets.fetch_add(1, Relaxed);
        self.inner.get_opts(location, options).await
    }

    async fn delete(&self, location: &Path) -> Result<()> {
        self.counts.deletes.fetch_add(1, Relaxed);
        self.inner.delete(location).await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'_, Result<ObjectMeta>> {
        self.counts.recursive.fetch_add(1, Relaxed);
        if is_root(prefix) {
            self.counts.whole_bucket.fetch_add(1, Relaxed);
        }
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'_, Result<ObjectMeta>> {
        self.counts.recursive.fetch_add(1, Relaxed);
        if is_root(prefix) {
            self.counts.whole_bucket.fetch_add(1, Relaxed);
        }
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.counts.delimited.fetch_add(1, Relaxed);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}
