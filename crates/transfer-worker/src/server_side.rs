//! Server-side copy between two buckets of one S3 endpoint, for region
//! pairs opted in (`worker.server_side_copy`): CopyObject for a file of one
//! part, UploadPartCopy with `x-amz-copy-source-range` for larger ones, so
//! the bytes never pass through the worker. object_store copies within one
//! bucket only, so these requests are signed here (`sigv4`).
//!
//! Verification: the size by HEAD; the sha256 from CopyObject's
//! `ChecksumSHA256` when the store returns a full-object one (Garage 2.x
//! does when asked with `x-amz-checksum-algorithm`), otherwise — multipart
//! copies, whose checksums are composite — by reading the copied object
//! back and hashing it: bytes come into the worker, none go out. A mismatch
//! deletes the copy, as a streamed copy leaves nothing behind.
//!
//! Not resumable: a redelivered job copies every part again, which costs
//! the store a copy but no transfer. The multipart upload is still recorded
//! in the uploads bucket while it runs (no parts), so one left behind — the
//! service deleted mid-copy, a sibling file failed, the worker died — is
//! aborted by the cancelled path or by cleanup like any other.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use tokio::task::JoinSet;
use url::Url;
use xregion_common::regions::{resolve_option_files, RegionConfig};
use xregion_common::verify::Verifier;

use xregion_bus::UploadsBucket;
use xregion_common::clock::Clock;
use xregion_domain::parts::UploadState;

use crate::copy::{CopyError, Ends};
use crate::sigv4::{self, Credentials};
use crate::strategy::{FileCopy, ServerSidePath};

/// A bucket and the prefix a region's keys live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    name: String,
    prefix: String,
}

impl Bucket {
    pub(crate) fn of(region: &RegionConfig) -> Result<Self, String> {
        let url = Url::parse(&region.url).map_err(|e| format!("bad url: {e}"))?;
        if !matches!(url.scheme(), "s3" | "s3a") {
            return Err(format!("region {} is not S3", region.id));
        }
        let name = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("region {} names no bucket", region.id))?;
        Ok(Self {
            name: name.to_string(),
            prefix: url.path().trim_matches('/').to_string(),
        })
    }

    /// `/<bucket>/<key>`, encoded for a path-style URL, naming the object
    /// object_store names: the key under the prefix as an object_store
    /// `Path` (whose segments percent-encode `#`, `%`, `~` and the like, as
    /// MySQL's `#ib_…` files have them), encoded once more for the URL.
    pub(crate) fn path(&self, key: &str) -> String {
        let key = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        let key = object_store::path::Path::from(key.as_str());
        format!("/{}/{}", self.name, sigv4::encode(key.as_ref(), false))
    }
}

/// What signs and where the requests go: the same for both regions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Endpoint {
    pub(crate) base: String,
    pub(crate) region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// How the client talks to the endpoint, from the region's client options
/// (object_store's defaults otherwise): a hung request fails instead of
/// holding the job forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientSettings {
    allow_http: bool,
    connect_timeout: Duration,
    timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            allow_http: false,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }
}

impl ClientSettings {
    pub(crate) fn client(&self) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .build()
            .map_err(|e| format!("http client: {e}"))
    }
}

/// A duration as object_store's options spell it: `30s`, `500ms`, `2m`,
/// `1h`, or plain seconds.
fn duration(region: &str, key: &str, value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("region {region}: {key} {value:?} is not a duration"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" | "sec" | "secs" => Duration::from_secs(n),
        "m" | "min" | "mins" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "region {region}: {key} {value:?} is not a duration"
            ))
        }
    };
    if d.is_zero() {
        return Err(format!("region {region}: {key} must be above zero"));
    }
    Ok(d)
}

fn boolean(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

impl Endpoint {
    pub(crate) fn credentials(&self) -> Credentials {
        Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
        }
    }

    /// `host[:port]` of the endpoint, as signed.
    pub(crate) fn host(&self) -> Result<String, String> {
        let url = Url::parse(&self.base).map_err(|e| format!("bad endpoint: {e}"))?;
        match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => Ok(format!("{h}:{p}")),
            (Some(h), None) => Ok(h.to_string()),
            (None, _) => Err(format!("endpoint {} names no host", self.base)),
        }
    }

    pub(crate) fn of(region: &RegionConfig) -> Result<(Self, ClientSettings), String> {
        use object_store::aws::AmazonS3ConfigKey as K;
        use object_store::ClientConfigKey as C;
        let mut settings = ClientSettings::default();
        let mut endpoint = Endpoint {
            base: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: None,
        };
        let options = resolve_option_files(region).map_err(|e| e.to_string())?;
        for (key, value) in options {
            match key.parse::<K>() {
                Ok(K::Endpoint) => endpoint.base = value.trim_end_matches('/').to_string(),
                Ok(K::Region) => endpoint.region = value,
                Ok(K::AccessKeyId) => endpoint.access_key_id = value,
                Ok(K::SecretAccessKey) => endpoint.secret_access_key = value,
                Ok(K::Token) => endpoint.session_token = Some(value),
                Ok(K::Client(C::AllowHttp)) => settings.allow_http = boolean(&value),
                Ok(K::Client(C::Timeout)) => settings.timeout = duration(&region.id, &key, &value)?,
                Ok(K::Client(C::ConnectTimeout)) => {
                    settings.connect_timeout = duration(&region.id, &key, &value)?
                }
                Ok(K::VirtualHostedStyleRequest) if boolean(&value) => {
                    return Err(format!(
                        "region {} uses virtual-hosted-style requests; server-side copy signs path-style ones",
                        region.id
                    ))
                }
                _ => {}
            }
        }
        if endpoint.base.is_empty() {
            endpoint.base = format!("https://s3.{}.amazonaws.com", endpoint.region);
        }
        if endpoint.access_key_id.is_empty() || endpoint.secret_access_key.is_empty() {
            return Err(format!(
                "region {} has no static credentials (access_key_id, secret_access_key)",
                region.id
            ));
        }
        if endpoint.base.starts_with("http://") && !settings.allow_http {
            return Err(format!(
                "region {}: endpoint {} is http:// but aws_allow_http is not true",
                region.id, endpoint.base
            ));
        }
        Ok((endpoint, settings))
    }
}

/// Whether `source` → `target` can be copied server-side: both S3, one
/// endpoint, one signing region, one set of credentials (so what writes
/// the target can read the source). The reason when not.
pub fn check_pair(source: &RegionConfig, target: &RegionConfig) -> Result<(), String> {
    S3Pair::new(source, target).map(|_| ())
}

/// Two buckets of one S3 endpoint, and the client that copies between them.
#[derive(Clone)]
pub struct S3Pair {
    client: reqwest::Client,
    endpoint: Endpoint,
    host: String,
    source: Bucket,
    target: Bucket,
}

impl std::fmt::Debug for S3Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Pair")
            .field("endpoint", &self.endpoint.base)
            .field("source", &self.source.name)
            .field("target", &self.target.name)
            .finish_non_exhaustive()
    }
}

/// A failed request, as object_store would say it (so the transfer's retry
/// rules apply unchanged): refused credentials, server errors, a store
/// asking to slow down (429) or timing out the request (408) are an
/// unavailable store, retried for as long as it lasts; another 4xx is this
/// request's fault, retried up to the limit.
pub(crate) fn failed(status: Option<reqwest::StatusCode>, what: String) -> object_store::Error {
    match status.map(|s| s.as_u16()) {
        Some(401) | Some(403) => object_store::Error::PermissionDenied {
            path: String::new(),
            source: what.into(),
        },
        Some(408) | Some(429) => object_store::Error::Generic {
            store: "S3",
            source: what.into(),
        },
        Some(400..=499) => object_store::Error::Precondition {
            path: String::new(),
            source: what.into(),
        },
        _ => object_store::Error::Generic {
            store: "S3",
            source: what.into(),
        },
    }
}

/// An error answer of the store, by its S3 code where that says the store
/// is busy or timed the request out whatever the status (a body that
/// stalled is `400 RequestTimeout`; a 200 may carry `SlowDown`), else as
/// [`failed`] says by the status.
pub(crate) fn failed_answer(
    status: reqwest::StatusCode,
    code: &str,
    what: String,
) -> object_store::Error {
    match code {
        "RequestTimeout" | "SlowDown" | "InternalError" | "ServiceUnavailable" => {
            failed(None, what)
        }
        _ => failed(Some(status), what),
    }
}

impl S3Pair {
    pub fn new(source: &RegionConfig, target: &RegionConfig) -> Result<Self, String> {
        let ((from, _), (to, settings)) = (Endpoint::of(source)?, Endpoint::of(target)?);
        if from.base != to.base {
            return Err(format!(
                "regions {} and {} are on different endpoints",
                source.id, target.id
            ));
        }
        if from != to {
            return Err(format!(
                "regions {} and {} differ in signing region or credentials",
                source.id, target.id
            ));
        }
        let host = to.host()?;
        Ok(Self {
            client: settings.client()?,
            endpoint: to,
            host,
            source: Bucket::of(source)?,
            target: Bucket::of(target)?,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<String, object_store::Error> {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let e = &self.endpoint;
        let creds = e.credentials();
        let request = sigv4::Request {
            method: method.as_str(),
            host: &self.host,
            path,
            query,
            headers,
            payload_sha256: &sha,
        };
        let signed = sigv4::sign(&request, &creds, &e.region, &amz_date);
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", sigv4::encode(k, true), sigv4::encode(v, true)))
            .collect();
        let mut url = format!("{}{path}", e.base);
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let mut req = self.client.request(method, &url).body(body);
        for (k, v) in signed.iter().filter(|(k, _)| k != "host") {
            req = req.header(k.as_str(), v.as_str());
        }
        let response = req.send().await.map_err(|e| failed(None, e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| failed(Some(status), e.to_string()))?;
        // CopyObject and CompleteMultipartUpload may fail with a 200 whose
        // body is an error.
        if !status.is_success() || text.contains("<Error>") {
            let code = tag(&text, "Code").unwrap_or_default();
            if code == "NoSuchKey" && headers.iter().any(|(k, _)| *k == "x-amz-copy-source") {
                return Err(object_store::Error::NotFound {
                    path: String::new(),
                    source: "copy source".into(),
                });
            }
            return Err(failed_answer(status, &code, format!("{status} {code}")));
        }
        Ok(text)
    }

    /// CopyObject; the full-object sha256 (hex) when the store returns one.
    async fn copy_object(&self, file: &FileCopy) -> Result<Option<String>, object_store::Error> {
        let source = self.source.path(&file.source_key);
        let body = self
            .send(
                reqwest::Method::PUT,
                &self.target.path(&file.target_key),
                &[],
                &[
                    ("x-amz-copy-source", &source),
                    ("x-amz-checksum-algorithm", "SHA256"),
                ],
                String::new(),
            )
            .await?;
        Ok(tag(&body, "ChecksumSHA256").and_then(|b64| {
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            (raw.len() == 32).then(|| hex::encode(raw))
        }))
    }

    async fn create_multipart(&self, key: &str) -> Result<String, object_store::Error> {
        let body = self
            .send(
                reqwest::Method::POST,
                &self.target.path(key),
                &[("uploads", "")],
                &[],
                String::new(),
            )
            .await?;
        tag(&body, "UploadId").ok_or_else(|| failed(None, "no UploadId in the answer".into()))
    }

    /// UploadPartCopy of `range` (end exclusive) as part `number` (from 1);
    /// its ETag.
    async fn copy_part(
        &self,
        file: &FileCopy,
        upload_id: &str,
        number: u64,
        range: std::ops::Range<u64>,
    ) -> Result<String, object_store::Error> {
        let source = self.source.path(&file.source_key);
        let range = format!("bytes={}-{}", range.start, range.end.saturating_sub(1));
        let number = number.to_string();
        let body = self
            .send(
                reqwest::Method::PUT,
                &self.target.path(&file.target_key),
                &[("partNumber", &number), ("uploadId", upload_id)],
                &[
                    ("x-amz-copy-source", &source),
                    ("x-amz-copy-source-range", &range),
                ],
                String::new(),
            )
            .await?;
        tag(&body, "ETag").ok_or_else(|| failed(None, "no ETag in the answer".into()))
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), object_store::Error> {
        let parts: String = etags
            .iter()
            .enumerate()
            .map(|(i, etag)| {
                let etag = etag.replace('&', "&amp;").replace('"', "&quot;");
                format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
                    i + 1
                )
            })
            .collect();
        let body = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
        self.send(
            reqwest::Method::POST,
            &self.target.path(key),
            &[("uploadId", upload_id)],
            &[],
            body,
        )
        .await
        .map(|_| ())
    }

    /// Whether the upload is gone (aborted, or unknown to the store).
    async fn abort(&self, key: &str, upload_id: &str) -> bool {
        let path = self.target.path(key);
        let query = [("uploadId", upload_id)];
        let r = self
            .send(reqwest::Method::DELETE, &path, &query, &[], String::new())
            .await;
        match r {
            Ok(_) => true,
            Err(error) if error.to_string().contains("NoSuchUpload") => true,
            Err(error) => {
                tracing::warn!(%error, "server-side multipart copy not aborted; cleanup will");
                false
            }
        }
    }

    /// Aborts the upload; its record is forgotten only once it is gone, so
    /// cleanup still finds one the store kept.
    async fn abandon(&self, record: &Record<'_>, key: &str, upload_id: &str) {
        if self.abort(key, upload_id).await {
            let _ = record.uploads.forget(&record.state_key).await;
        }
    }

    /// Every part of `file`, at most the window of `ends.parts` at once.
    async fn copy_parts(
        &self,
        file: &FileCopy,
        ends: &Ends,
        part_size: u64,
        record: &Record<'_>,
    ) -> Result<(), CopyError> {
        // An upload an earlier attempt left under this key will not be
        // resumed: let it go before recording the new one over it.
        // One naming another file is not this copy's to abort.
        if let Ok(Some(old)) = record.uploads.load(&record.state_key).await {
            if old.target_key == file.target_key {
                self.abandon(record, &old.target_key, &old.upload_id).await;
            }
        }
        let upload_id = self.create_multipart(&file.target_key).await?;
        let now = record.clock.now_ms();
        let mut state = started(file, part_size, record.target_region, now, &upload_id);
        if let Err(e) = record.uploads.save(&record.state_key, &state).await {
            // Unrecorded, nothing would abort it if this copy were dropped.
            self.abort(&file.target_key, &upload_id).await;
            return Err(CopyError::State(e.to_string()));
        }
        let n = file.size.div_ceil(part_size.max(1));
        let mut etags = vec![String::new(); n as usize];
        let mut running: JoinSet<(u64, Duration, Result<String, object_store::Error>)> =
            JoinSet::new();
        let mut next = 0;
        let result: Result<(), CopyError> = async {
            while next < n || !running.is_empty() {
                while next < n && running.len() < ends.parts.window() {
                    let (pair, file, id) = (self.clone(), file.clone(), upload_id.clone());
                    let range = next * part_size..((next + 1) * part_size).min(file.size);
                    let i = next;
                    running.spawn(async move {
                        let started = Instant::now();
                        let etag = pair.copy_part(&file, &id, i + 1, range).await;
                        (i, started.elapsed(), etag)
                    });
                    next += 1;
                }
                let Some(joined) = running.join_next().await else {
                    break;
                };
                let (i, took, etag) = joined.map_err(|e| CopyError::State(e.to_string()))?;
                match etag {
                    Ok(etag) => {
                        let len = ((i + 1) * part_size).min(file.size) - i * part_size;
                        ends.parts.done(len, took);
                        etags[i as usize] = etag;
                        // Progress keeps a long copy from looking stale to
                        // cleanup; once a minute is plenty for its hours.
                        let now = record.clock.now_ms();
                        if now - state.updated_at_ms >= 60_000 {
                            state.updated_at_ms = now;
                            record
                                .uploads
                                .save(&record.state_key, &state)
                                .await
                                .map_err(|e| CopyError::State(e.to_string()))?;
                        }
                    }
                    Err(e) => {
                        ends.parts.failed();
                        return Err(missing_or(file, e));
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            running.abort_all();
            self.abandon(record, &file.target_key, &upload_id).await;
            return Err(e);
        }
        if let Err(e) = self.complete(&file.target_key, &upload_id, &etags).await {
            self.abandon(record, &file.target_key, &upload_id).await;
            return Err(e.into());
        }
        record
            .uploads
            .forget(&record.state_key)
            .await
            .map_err(|e| CopyError::State(format!("forgetting the upload state: {e}")))
    }
}

/// Where a multipart server-side copy records its upload while it runs.
pub struct Record<'a> {
    pub uploads: &'a UploadsBucket,
    /// `Namespace::upload_key` of the file.
    pub state_key: String,
    pub target_region: &'a str,
    pub clock: &'a dyn Clock,
}

/// The record of a multipart copy just started: what cleanup needs to abort
/// it (region, key, upload id), and no parts, so a resumable copy that finds
/// it later starts from the first part.
fn started(
    file: &FileCopy,
    part_size: u64,
    target_region: &str,
    now: i64,
    upload_id: &str,
) -> UploadState {
    UploadState {
        upload_id: upload_id.to_string(),
        target_region: target_region.to_string(),
        target_key: file.target_key.clone(),
        size: file.size,
        part_size,
        parts: Vec::new(),
        started_at_ms: now,
        updated_at_ms: now,
        encryption: None,
        sent: Default::default(),
    }
}

/// A copy source that is not there is the backup's fault.
fn missing_or(file: &FileCopy, e: object_store::Error) -> CopyError {
    match e {
        object_store::Error::NotFound { .. } => CopyError::Missing(file.source_key.clone()),
        e => CopyError::Store(e),
    }
}

/// The text of the first `<name>` element of an S3 answer, entities undone.
pub(crate) fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&amp;", "&"),
    )
}

/// Copies `file` inside the store the way `server_side_path` chose; verified, and deleted on a
/// mismatch. `on_bytes` sees the file's size once it is verified.
pub async fn copy_server_side(
    file: &FileCopy,
    pair: &S3Pair,
    ends: &Ends,
    way: ServerSidePath,
    record: Record<'_>,
    on_bytes: impl Fn(u64),
) -> Result<(), CopyError> {
    let source = Path::from(file.source_key.as_str());
    let size = ends
        .source
        .head(&source)
        .await
        .map_err(crate::copy::reading(&file.source_key))?
        .size as u64;
    if size != file.size {
        return Err(CopyError::SizeMismatch {
            key: file.source_key.clone(),
            expected: file.size,
            actual: size,
        });
    }
    let checksum = match way {
        ServerSidePath::Object => pair
            .copy_object(file)
            .await
            .map_err(|e| missing_or(file, e))?,
        ServerSidePath::Parts { part_size } => {
            pair.copy_parts(file, ends, part_size, &record).await?;
            None
        }
    };
    if let Err(e) = verify(file, ends, checksum).await {
        let _ = ends
            .target
            .delete(&Path::from(file.target_key.as_str()))
            .await;
        return Err(e);
    }
    metrics::counter!(crate::metrics::SERVER_SIDE_BYTES).increment(file.size);
    on_bytes(file.size);
    Ok(())
}

/// The copy's size by HEAD; its sha256 from the store's checksum, or by
/// reading it back.
async fn verify(file: &FileCopy, ends: &Ends, checksum: Option<String>) -> Result<(), CopyError> {
    let target = Path::from(file.target_key.as_str());
    let landed = ends.target.head(&target).await?.size as u64;
    if landed != file.size {
        return Err(CopyError::SizeMismatch {
            key: file.source_key.clone(),
            expected: file.size,
            actual: landed,
        });
    }
    if let Some(sha256) = checksum {
        if sha256.eq_ignore_ascii_case(&file.sha256) {
            return Ok(());
        }
        return Err(CopyError::ChecksumMismatch {
            key: file.source_key.clone(),
            expected: file.sha256.clone(),
            actual: sha256,
        });
    }
    let mut seen = Verifier::new();
    let mut stream = ends.target.get(&target).await?.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk?;
        seen.update(&chunk);
    }
    file.check(seen)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn region(id: &str, url: &str, endpoint: &str, key: &str) -> RegionConfig {
        let options: BTreeMap<String, String> = [
            ("aws_endpoint", endpoint),
            ("aws_region", "garage"),
            ("aws_access_key_id", key),
            ("aws_secret_access_key", "secret"),
            ("aws_allow_http", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut r: RegionConfig =
            serde_json::from_value(serde_json::json!({ "id": id, "url": url })).unwrap();
        r.options = options;
        r
    }

    #[test]
    fn only_buckets_of_one_endpoint_and_credentials_pair_up() {
        let a = region("a", "s3://one/p", "http://127.0.0.1:3900", "K");
        let b = region("b", "s3://two", "http://127.0.0.1:3900/", "K");
        let pair = S3Pair::new(&a, &b).unwrap();
        assert_eq!(pair.host, "127.0.0.1:3900");
        assert_eq!(pair.source.path("x/y z"), "/one/p/x/y%20z");
        assert_eq!(pair.target.path("x"), "/two/x");

        let far = region("b", "s3://two", "http://10.0.0.1:3900", "K");
        let err = check_pair(&a, &far).unwrap_err();
        assert!(err.contains("different endpoints"), "{err}");
        let other_key = region("b", "s3://two", "http://127.0.0.1:3900", "K2");
        let err = check_pair(&a, &other_key).unwrap_err();
        assert!(err.contains("credentials"), "{err}");
        let folder = region("b", "file:///tmp/x", "http://127.0.0.1:3900", "K");
        let err = check_pair(&a, &folder).unwrap_err();
        assert!(err.contains("not S3"), "{err}");
        let mut vhost = b.clone();
        vhost
            .options
            .insert("aws_virtual_hosted_style_request".into(), "true".into());
        assert!(check_pair(&a, &vhost).is_err());
    }

    #[test]
    fn a_refused_request_is_not_an_outage_but_a_server_error_is() {
        use reqwest::StatusCode as S;
        use xregion_common::unavailable::store_unavailable;
        let bad = failed(Some(S::BAD_REQUEST), "InvalidRequest".into());
        assert!(!store_unavailable(&bad), "{bad}");
        for status in [
            Some(S::FORBIDDEN),
            Some(S::SERVICE_UNAVAILABLE),
            Some(S::TOO_MANY_REQUESTS),
            Some(S::REQUEST_TIMEOUT),
            None,
        ] {
            let e = failed(status, "x".into());
            assert!(store_unavailable(&e), "{e}");
        }
        let stalled = failed_answer(S::BAD_REQUEST, "RequestTimeout", "x".into());
        assert!(store_unavailable(&stalled), "a stalled body: {stalled}");
        let refused = failed_answer(S::BAD_REQUEST, "InvalidArgument", "x".into());
        assert!(!store_unavailable(&refused), "{refused}");
    }

    #[test]
    fn the_client_takes_the_regions_timeouts_and_refuses_plain_http_unless_allowed() {
        let mut a = region("a", "s3://one", "http://127.0.0.1:3900", "K");
        let (_, settings) = Endpoint::of(&a).unwrap();
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert_eq!(settings.connect_timeout, Duration::from_secs(5));
        a.options.insert("timeout".into(), "2m".into());
        a.options
            .insert("aws_connect_timeout".into(), "500ms".into());
        let (_, settings) = Endpoint::of(&a).unwrap();
        assert_eq!(settings.timeout, Duration::from_secs(120));
        assert_eq!(settings.connect_timeout, Duration::from_millis(500));
        for bad in ["soon", "0s", "5 fortnights", ""] {
            a.options.insert("timeout".into(), bad.into());
            let err = Endpoint::of(&a).unwrap_err();
            assert!(err.contains("timeout"), "{bad}: {err}");
        }
        a.options.remove("timeout");

        a.options.remove("aws_allow_http");
        let err = check_pair(&a, &a).unwrap_err();
        assert!(err.contains("aws_allow_http"), "{err}");
        a.options.insert("aws_allow_http".into(), "false".into());
        assert!(check_pair(&a, &a).is_err());
        let tls = region("a", "s3://one", "https://s3.example.net", "K");
        let mut tls_only = tls.clone();
        tls_only.options.remove("aws_allow_http");
        assert!(check_pair(&tls_only, &tls_only).is_ok());
    }

    #[tokio::test]
    async fn a_started_copy_is_recorded_as_an_upload_cleanup_can_abort() {
        use object_store::memory::InMemory;
        use xregion_common::regions::Multipart;
        let file = FileCopy {
            source_key: "t/i/b/f".into(),
            target_key: "t/i/svc/backups/b/f".into(),
            size: 100,
            sha256: String::new(),
            encrypt: None,
        };
        // The copy's upload is made under the region's prefix, as the
        // signed path `/<bucket>/<prefix>/<key>` does.
        let mp = Multipart::new(std::sync::Arc::new(InMemory::new()), "p");
        let id = mp
            .store()
            .create_multipart(&mp.path(&file.target_key))
            .await
            .unwrap();
        let state = started(&file, 40, "eu", 7, &id);
        assert_eq!(
            (state.target_region.as_str(), state.target_key.as_str()),
            ("eu", "t/i/svc/backups/b/f")
        );
        assert_eq!(
            (state.size, state.part_size, state.updated_at_ms),
            (100, 40, 7)
        );
        assert!(state.parts.is_empty() && state.encryption.is_none());
        // What cleanup reads back and aborts (UploadsBucket::abort).
        let read: UploadState =
            serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
        mp.store()
            .abort_multipart(&mp.path(&read.target_key), &read.upload_id)
            .await
            .unwrap();
    }

    #[test]
    fn answers_are_read_by_tag() {
        let xml = "<CopyPartResult><ETag>&quot;abc&quot;</ETag></CopyPartResult>";
        assert_eq!(tag(xml, "ETag").as_deref(), Some("\"abc\""));
        assert_eq!(tag(xml, "UploadId"), None);
        assert_eq!(tag("<ETag>", "ETag"), None);
    }
}
