//! The region table: each region has one object store, configured once and
//! shared by all services.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use url::Url;
use xregion_domain::source_keys::{check_source_keys, SourceKeyPrefix};

use crate::encryption::RegionEncryption;
use crate::error::{Error, Result};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// `s3://bucket/prefix`, `file:///absolute/path` or `memory://`.
    pub url: String,
    /// Backend options, e.g. for S3: `endpoint`, `region`,
    /// `access_key_id`, `secret_access_key`, `allow_http`. An option
    /// `<name>_file` is the path of a file holding the value of `<name>`
    /// (secrets need not be written here).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Where an instance's backup files must lie in this region when it is
    /// a source, e.g. `"{instance}/"` or `"rds/{tenant}/{instance}/"`;
    /// descriptors listing files elsewhere are refused. Unset: anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_prefix: Option<String>,
    /// Encryption at rest of what is copied into this region (as a target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<RegionEncryption>,
}

/// Secret option values are hidden: configurations end up in logs.
impl std::fmt::Debug for RegionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionConfig")
            .field("id", &self.id)
            .field("display_name", &self.display_name)
            .field("url", &crate::redact::redact_url(&self.url))
            .field("options", &crate::redact::options_for_debug(&self.options))
            .field("source_key_prefix", &self.source_key_prefix)
            .field("encryption", &self.encryption)
            .finish()
    }
}

/// Options of object_store whose value is itself a file path.
const STORE_FILE_OPTIONS: [&str; 2] = ["azure_federated_token_file", "federated_token_file"];

/// The region's options with every `<name>_file` replaced by `<name>` and
/// the content of that file. Setting both is an error, as is a file that
/// cannot be read; both name the region and the option.
pub fn resolve_option_files(region: &RegionConfig) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (key, value) in &region.options {
        // object_store's own options that name a file stay as they are.
        let own = STORE_FILE_OPTIONS.contains(&key.as_str());
        let Some(name) = key.strip_suffix("_file").filter(|_| !own) else {
            out.insert(key.clone(), value.clone());
            continue;
        };
        if region.options.contains_key(name) {
            return Err(Error::Region {
                region: region.id.clone(),
                reason: format!("options {name} and {key} are both set; keep one"),
            });
        }
        let secret = crate::secret_file::read_secret_file(
            &format!("regions[{}].options.{key}", region.id),
            std::path::Path::new(value),
        )?;
        out.insert(name.to_string(), secret);
    }
    Ok(out)
}

/// The configured regions, validated, with their stores built once.
#[derive(Clone, Default)]
pub struct Regions {
    regions: Vec<RegionConfig>,
    stores: BTreeMap<String, Arc<dyn ObjectStore>>,
    multipart: BTreeMap<String, Multipart>,
    local_roots: BTreeMap<String, std::path::PathBuf>,
    source_prefixes: BTreeMap<String, SourceKeyPrefix>,
}

/// Direct access to a region's multipart uploads (S3), for transfers that
/// must resume after a crash; keys are relative to the region's root like
/// everywhere else.
#[derive(Clone)]
pub struct Multipart {
    store: Arc<dyn MultipartStore>,
    prefix: String,
}

impl Multipart {
    pub fn new(store: Arc<dyn MultipartStore>, prefix: &str) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    pub fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    pub fn store(&self) -> &Arc<dyn MultipartStore> {
        &self.store
    }
}

impl std::fmt::Debug for Regions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regions")
            .field("regions", &self.ids())
            .finish()
    }
}

impl Regions {
    /// Validates ids and builds every store; a bad region stops start-up with
    /// a message naming it instead of failing on first use.
    pub fn build(configs: &[RegionConfig]) -> Result<Self> {
        let mut stores = BTreeMap::new();
        let mut multipart = BTreeMap::new();
        let mut local_roots = BTreeMap::new();
        let mut source_prefixes = BTreeMap::new();
        for region in configs {
            xregion_domain::ids::validate_id("region id", &region.id).map_err(|e| {
                Error::Region {
                    region: region.id.clone(),
                    reason: e.to_string(),
                }
            })?;
            if stores.contains_key(&region.id) {
                return Err(Error::Region {
                    region: region.id.clone(),
                    reason: "configured twice".into(),
                });
            }
            if let Some(template) = &region.source_key_prefix {
                let parsed = SourceKeyPrefix::parse(template).map_err(|e| Error::Region {
                    region: region.id.clone(),
                    reason: e.to_string(),
                })?;
                source_prefixes.insert(region.id.clone(), parsed);
            }
            if let Some(enc) = &region.encryption {
                enc.validate(&region.id)?;
            }
            let built = build_region(region)?;
            stores.insert(region.id.clone(), built.store);
            if let Some(root) = built.local_root {
                local_roots.insert(region.id.clone(), root);
            }
            if let Some(mp) = built.multipart {
                multipart.insert(region.id.clone(), mp);
            }
        }
        Ok(Self {
            regions: configs.to_vec(),
            stores,
            multipart,
            local_roots,
            source_prefixes,
        })
    }

    /// The region's source key prefix template, if it has one.
    pub fn source_key_prefix(&self, id: &str) -> Option<&SourceKeyPrefix> {
        self.source_prefixes.get(id)
    }

    /// Whether a backup of `instance` taken in `region` may list these
    /// source keys (the region's `source_key_prefix`); the reason when not.
    pub fn check_source_keys<'k>(
        &self,
        region: &str,
        tenant: &str,
        instance: &str,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> std::result::Result<(), String> {
        check_source_keys(self.source_key_prefix(region), tenant, instance, keys)
            .map_err(|e| e.to_string())
    }

    pub fn ids(&self) -> Vec<&str> {
        self.regions.iter().map(|r| r.id.as_str()).collect()
    }

    pub fn configs(&self) -> &[RegionConfig] {
        &self.regions
    }

    pub fn contains(&self, id: &str) -> bool {
        self.stores.contains_key(id)
    }

    pub fn store(&self, id: &str) -> Option<Arc<dyn ObjectStore>> {
        self.stores.get(id).cloned()
    }

    /// The keyring of every region that encrypts, its keys read now: for
    /// the services that encrypt, at start, so a bad key stops them there.
    pub fn keyrings(&self) -> Result<BTreeMap<String, xregion_crypt::Keyring>> {
        self.regions
            .iter()
            .filter_map(|r| Some((&r.id, r.encryption.as_ref()?)))
            .map(|(id, enc)| Ok((id.clone(), enc.keyring(id)?)))
            .collect()
    }

    /// The region's multipart uploads, where the backend has them (S3).
    pub fn multipart(&self, id: &str) -> Option<Multipart> {
        self.multipart.get(id).cloned()
    }

    /// Whether an ETag the region gave a write names that write alone: an
    /// S3 ETag is the MD5 of the bytes (or of an upload's parts), a memory
    /// store's a counter. A `file://` region's is the file's inode, mtime
    /// and size, which a file written over within one mtime tick, on a
    /// reused inode, repeats; there an unchanged ETag proves nothing.
    pub fn etags_name_writes(&self, id: &str) -> bool {
        self.contains(id) && !self.local_roots.contains_key(id)
    }

    /// The folder of a `file://` region, for copies that can stay in the
    /// kernel instead of going through the object store's streams.
    pub fn local_root(&self, id: &str) -> Option<&std::path::Path> {
        self.local_roots.get(id).map(|p| p.as_path())
    }
}

/// The least time a multipart request of an S3 region may take. A part is
/// one PUT, timed from connecting to the end of the answer, and parts grow
/// with the file (10,000 at most: 64 MiB for a 640 GB file, 525 MiB at
/// 5 TiB), so the client's default 30 s would need 2 and 18 MB/s on one
/// connection; 15 minutes needs 0.07 and 0.6.
pub const PART_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The timeout of a region's multipart requests: its `timeout` option when
/// that is longer, else [`PART_REQUEST_TIMEOUT`].
pub fn part_request_timeout(region_timeout: Option<std::time::Duration>) -> std::time::Duration {
    region_timeout.map_or(PART_REQUEST_TIMEOUT, |t| t.max(PART_REQUEST_TIMEOUT))
}

/// Builds the object store of one region. Options are passed explicitly so
/// that ambient `AWS_*` variables never change where data goes.
pub fn build_store(region: &RegionConfig) -> Result<Arc<dyn ObjectStore>> {
    Ok(build_region(region)?.store)
}

/// One region's store, with what some callers use beside it.
pub struct BuiltRegion {
    pub store: Arc<dyn ObjectStore>,
    /// Direct multipart access (S3).
    pub multipart: Option<Multipart>,
    /// The folder of a `file://` region.
    pub local_root: Option<std::path::PathBuf>,
}

pub fn build_region(region: &RegionConfig) -> Result<BuiltRegion> {
    let err = |reason: String| Error::Region {
        region: region.id.clone(),
        reason,
    };
    let options = resolve_option_files(region)?;
    let url = Url::parse(&region.url).map_err(|e| err(format!("bad url {:?}: {e}", region.url)))?;
    if url.scheme() == "file" {
        let path = url
            .to_file_path()
            .map_err(|_| err(format!("bad file url {:?}", region.url)))?;
        std::fs::create_dir_all(&path).map_err(|e| err(format!("cannot create {path:?}: {e}")))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&path)?
            .with_automatic_cleanup(true);
        return Ok(BuiltRegion {
            store: Arc::new(store),
            multipart: None,
            local_root: Some(path),
        });
    }
    if matches!(url.scheme(), "s3" | "s3a") {
        // Every key must be known: a typo must not silently send data to the
        // wrong place or over the wrong protocol.
        let mut builder = object_store::aws::AmazonS3Builder::new().with_url(region.url.as_str());
        for (key, value) in &options {
            let key = key
                .parse::<object_store::aws::AmazonS3ConfigKey>()
                .map_err(|_| err(format!("unknown S3 option {key:?}")))?;
            builder = builder.with_config(key, value);
        }
        let open = |b: object_store::aws::AmazonS3Builder| {
            b.build()
                .map(Arc::new)
                .map_err(|e| err(format!("cannot open {:?}: {e}", region.url)))
        };
        let timeout = options
            .get("timeout")
            .map(|t| humantime::parse_duration(t).map_err(|e| err(format!("timeout {t:?}: {e}"))))
            .transpose()?;
        // Multipart requests (a part is one PUT) get their own client, whose
        // timeout fits a part on a slow link.
        let parts = open(builder.clone().with_config(
            object_store::aws::AmazonS3ConfigKey::Client(object_store::ClientConfigKey::Timeout),
            humantime::format_duration(part_request_timeout(timeout)).to_string(),
        ))?;
        let s3 = open(builder)?;
        let prefix = url.path().trim_matches('/').to_string();
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            s3.clone()
        } else {
            let base: Arc<dyn ObjectStore> = s3.clone();
            Arc::new(PrefixStore::new(base, Path::from(prefix.as_str())))
        };
        return Ok(BuiltRegion {
            store,
            multipart: Some(Multipart::new(parts, &prefix)),
            local_root: None,
        });
    }
    let (store, prefix) = object_store::parse_url_opts(&url, options.iter())
        .map_err(|e| err(format!("cannot open {:?}: {e}", region.url)))?;
    let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
        Arc::from(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    Ok(BuiltRegion {
        store,
        multipart: None,
        local_root: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn region(id: &str, url: &str) -> RegionConfig {
        RegionConfig {
            id: id.into(),
            display_name: id.into(),
            url: url.into(),
            options: BTreeMap::new(),
            source_key_prefix: None,
            encryption: None,
        }
    }

    #[test]
    fn source_key_prefixes_are_validated_and_checked() {
        let mut r = region("r", "memory://");
        r.source_key_prefix = Some("{region}/".into());
        assert!(Regions::build(&[r.clone()]).is_err(), "unknown placeholder");
        r.source_key_prefix = Some("{instance}/".into());
        let mut open = region("o", "memory://");
        open.source_key_prefix = None;
        let regions = Regions::build(&[r, open]).unwrap();
        assert!(regions.check_source_keys("r", "t", "db", ["db/f"]).is_ok());
        let err = regions
            .check_source_keys("r", "t", "db", ["other/f"])
            .unwrap_err();
        assert!(err.contains("outside"), "{err}");
        assert!(regions
            .check_source_keys("o", "t", "db", ["other/f"])
            .is_ok());
    }

    #[test]
    fn builds_file_and_memory_regions() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path().join("r1")).unwrap();
        let regions =
            Regions::build(&[region("r1", url.as_str()), region("r2", "memory://")]).unwrap();
        assert!(regions.contains("r1") && regions.contains("r2"));
        assert!(dir.path().join("r1").is_dir());
    }

    #[test]
    fn parts_get_at_least_fifteen_minutes_and_a_bad_timeout_is_refused() {
        let min = std::time::Duration::from_secs;
        assert_eq!(part_request_timeout(None), PART_REQUEST_TIMEOUT);
        assert_eq!(part_request_timeout(Some(min(2))), PART_REQUEST_TIMEOUT);
        assert_eq!(part_request_timeout(Some(min(7200))), min(7200));
        let mut s3 = region("s", "s3://bucket");
        s3.options.insert("timeout".into(), "soon".into());
        let e = Regions::build(&[s3]).unwrap_err().to_string();
        assert!(e.contains("timeout") && e.contains("soon"), "{e}");
    }

    #[test]
    fn only_a_file_regions_etags_may_repeat_across_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path().join("f")).unwrap();
        let mut s3 = region("s", "s3://bucket/prefix");
        s3.options
            .insert("aws_endpoint".into(), "http://127.0.0.1:1".into());
        let regions =
            Regions::build(&[region("f", url.as_str()), region("m", "memory://"), s3]).unwrap();
        assert!(!regions.etags_name_writes("f"), "inode, mtime and size");
        assert!(regions.etags_name_writes("m"));
        assert!(regions.etags_name_writes("s"));
        assert!(!regions.etags_name_writes("nowhere"), "not configured");
    }

    #[test]
    fn rejects_bad_ids_and_duplicates() {
        assert!(Regions::build(&[region("a/b", "memory://")]).is_err());
        assert!(Regions::build(&[region("r", "memory://"), region("r", "memory://")]).is_err());
        assert!(Regions::build(&[region("r", "not a url")]).is_err());
        let mut typo = region("r", "s3://bucket");
        typo.options.insert("alow_http".into(), "true".into());
        assert!(Regions::build(&[typo]).is_err());
    }

    #[test]
    fn options_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "from-the-file\n").unwrap();
        let mut r = region("r", "s3://bucket");
        r.options.insert(
            "aws_secret_access_key_file".into(),
            secret.display().to_string(),
        );
        let options = resolve_option_files(&r).unwrap();
        assert_eq!(options["aws_secret_access_key"], "from-the-file");
        assert!(!options.contains_key("aws_secret_access_key_file"));
        r.options.insert("aws_access_key_id".into(), "AKID".into());
        r.options.insert("aws_region".into(), "r".into());
        if let Err(e) = Regions::build(&[r.clone()]) {
            panic!("{e}");
        }

        r.options
            .insert("aws_secret_access_key".into(), "inline".into());
        let both = Regions::build(&[r.clone()]).unwrap_err().to_string();
        assert!(both.contains("both set"), "{both}");

        r.options.remove("aws_secret_access_key");
        r.options
            .insert("aws_secret_access_key_file".into(), "/nonexistent/s".into());
        let missing = Regions::build(&[r]).unwrap_err().to_string();
        assert!(
            missing.contains("regions[r].options.aws_secret_access_key_file")
                && missing.contains("/nonexistent/s"),
            "{missing}"
        );
    }

    #[test]
    fn the_stores_own_file_options_are_not_secret_files() {
        let mut r = region("r", "s3://bucket");
        r.options
            .insert("azure_federated_token_file".into(), "/var/run/token".into());
        let resolved = resolve_option_files(&r).unwrap();
        assert_eq!(
            resolved
                .get("azure_federated_token_file")
                .map(String::as_str),
            Some("/var/run/token")
        );
    }

    #[test]
    fn debug_hides_secret_options() {
        let mut r = region("r", "s3://bucket");
        r.options
            .insert("aws_secret_access_key".into(), "hunter2".into());
        r.options.insert("aws_access_key_id".into(), "AKID".into());
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("AKID"),
            "{shown}"
        );
    }
}
