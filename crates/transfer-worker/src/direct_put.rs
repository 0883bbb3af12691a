//! A file copied whole into an S3 target in one PUT whose body is the
//! source's stream, verified by the target store itself: the request is
//! signed with the sha256 the descriptor gives (SigV4's
//! `x-amz-content-sha256`, which a store must check before it keeps the
//! object) and carries it as the object's sha256 checksum too. A body that
//! is not the file the descriptor names is refused (400) and nothing is
//! stored. So the bytes pass through this worker once, the read overlaps
//! the write, and none of them is hashed here (object_store would hash
//! them twice: to check them, and for its own checksum header).
//!
//! The store's word is checked too: one that kept the object answers with
//! the checksum it verified (`x-amz-checksum-sha256`, as AWS, Garage and
//! MinIO do). An answer without it, from a store that ignores the
//! header, is not taken on trust: the stored object is read back and
//! hashed here before the copy counts.
//!
//! Used for unencrypted files (a sealed file's ciphertext has no known
//! sha256) to S3 targets whose operator declared that the store checks
//! sha256 checksums (`aws_checksum_algorithm = "sha256"`, as for every
//! part object_store sends) and that have static credentials and
//! path-style requests, as server-side copy needs; other targets go
//! through object_store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use object_store::path::Path;
use xregion_common::regions::RegionConfig;
use xregion_common::verify::Verifier;

use crate::copy::{open_source, refuse_other_size, CopyError, Ends};
use crate::server_side::{failed, failed_answer, tag, Bucket, ClientSettings, Endpoint};
use crate::sigv4;
use crate::strategy::FileCopy;

/// An S3 target region this worker PUTs to directly.
#[derive(Clone)]
pub struct DirectTarget {
    /// The region's id: the label of the retries counted.
    region: String,
    client: reqwest::Client,
    endpoint: Endpoint,
    host: String,
    bucket: Bucket,
    /// Set once the store has kept a PUT without confirming its checksum
    /// (warned about once).
    unconfirmed: Arc<AtomicBool>,
}

/// A file PUT directly: the ETag the store gave it, and whether a try
/// failed on the way (its copy time then says how the link failed).
pub struct DirectPut {
    pub e_tag: Option<String>,
    pub tried_again: bool,
}

/// What a PUT the store accepted answered.
struct Stored {
    e_tag: Option<String>,
    /// The store echoed the checksum it was sent: it checked the bytes.
    confirmed: bool,
}

impl std::fmt::Debug for DirectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectTarget")
            .field("endpoint", &self.endpoint.base)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl DirectTarget {
    /// The region as a direct target; the reason when it cannot be one.
    pub fn of(region: &RegionConfig) -> Result<Self, String> {
        let (endpoint, settings): (Endpoint, ClientSettings) = Endpoint::of(region)?;
        Ok(Self {
            region: region.id.clone(),
            client: settings.client()?,
            host: endpoint.host()?,
            endpoint,
            bucket: Bucket::of(region)?,
            unconfirmed: Arc::default(),
        })
    }

    /// PUTs `size` bytes from `body` at `key`, to be kept only if they hash
    /// to `sha256` (lower-case hex, checked by the caller's descriptor
    /// validation).
    async fn put(
        &self,
        key: &str,
        sha256: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<Stored, CopyError> {
        let digest = hex::decode(sha256).map_err(|_| CopyError::ChecksumMismatch {
            key: key.to_string(),
            expected: sha256.to_string(),
            actual: "a descriptor sha256 that is not hex".into(),
        })?;
        let checksum = base64::engine::general_purpose::STANDARD.encode(digest);
        let length = size.to_string();
        let path = self.bucket.path(key);
        let headers = [
            ("content-length", length.as_str()),
            ("x-amz-checksum-sha256", checksum.as_str()),
        ];
        let request = sigv4::Request {
            method: "PUT",
            host: &self.host,
            path: &path,
            query: &[],
            headers: &headers,
            payload_sha256: sha256,
        };
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let signed = sigv4::sign(
            &request,
            &self.endpoint.credentials(),
            &self.endpoint.region,
            &amz_date,
        );
        let url = format!("{}{path}", self.endpoint.base);
        let mut req = self.client.put(&url).body(body);
        for (k, v) in signed.iter().filter(|(k, _)| k != "host") {
            req = req.header(k.as_str(), v.as_str());
        }
        let response = req.send().await.map_err(|e| failed(None, e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
            return Ok(Stored {
                e_tag: header(reqwest::header::ETAG.as_str()).map(str::to_string),
                confirmed: header("x-amz-checksum-sha256") == Some(checksum.as_str()),
            });
        }
        let text = response.text().await.unwrap_or_default();
        let code = tag(&text, "Code").unwrap_or_default();
        // What a store answers when the body does not hash to what the
        // request was signed with (AWS, Garage, MinIO): the source's bytes
        // are not the descriptor's file.
        if matches!(
            code.as_str(),
            "BadDigest" | "InvalidDigest" | "XAmzContentSHA256Mismatch"
        ) {
            return Err(CopyError::ChecksumMismatch {
                key: key.to_string(),
                expected: sha256.to_string(),
                actual: format!("other bytes (the target store answered {code})"),
            });
        }
        Err(failed_answer(status, &code, format!("PUT {key}: {status} {code}")).into())
    }
}

/// Tries of one file's PUT within an attempt. A connection dropped on a long
/// link, or a store asking to slow down, costs a short wait here instead
/// of the job's redelivery (its backoff, its lookups again, and a failure
/// shown on the service), as object_store's own retries spare its
/// requests.
const PUT_TRIES: u32 = 4;
/// The wait before the second try; each next one waits four times longer.
const FIRST_WAIT: Duration = Duration::from_millis(100);

/// As `copy::copy_whole`, the source's stream PUT straight into `direct`.
/// `on_bytes` sees the length once the store has kept the file.
pub async fn copy_whole_direct(
    file: &FileCopy,
    ends: &Ends,
    direct: &DirectTarget,
    on_bytes: impl Fn(u64),
) -> Result<DirectPut, CopyError> {
    let mut wait = FIRST_WAIT;
    let mut tried = 1;
    let stored = loop {
        // The body is the source's stream: a try reads it again.
        let got = open_source(file, ends).await?;
        ends.throttle.acquire(file.size).await;
        let body = reqwest::Body::wrap_stream(got.into_stream());
        match direct
            .put(&file.target_key, &file.sha256, file.size, body)
            .await
        {
            Ok(stored) => break stored,
            Err(error) if tried < PUT_TRIES && passing(&error) => {
                tracing::info!(key = %file.target_key, tried, %error, "direct put tried again");
                metrics::counter!(crate::metrics::PUT_RETRIES, "target" => direct.region.clone())
                    .increment(1);
                tokio::time::sleep(wait).await;
                wait *= 4;
                tried += 1;
            }
            Err(error) => return Err(error),
        }
    };
    if !stored.confirmed {
        if !direct.unconfirmed.swap(true, Ordering::Relaxed) {
            tracing::warn!(endpoint = %direct.endpoint.base, "the target store kept a PUT without confirming its sha256 checksum; such files are read back to check them (unset aws_checksum_algorithm for a store that does not check it)");
        }
        read_back(file, ends).await?;
    }
    on_bytes(file.size);
    Ok(DirectPut {
        e_tag: stored.e_tag,
        tried_again: tried > 1,
    })
}

/// A failure another try may not meet: the connection, the store's
/// server errors and its requests to slow down (see `server_side::failed`);
/// never the store's refusal of the bytes.
fn passing(error: &CopyError) -> bool {
    matches!(error, CopyError::Store(object_store::Error::Generic { .. }))
}

/// The file as the target store keeps it, hashed here: the check a store
/// that did not confirm the checksum may have skipped. A mismatch fails
/// the copy before any manifest lists the file (its retry writes over it).
async fn read_back(file: &FileCopy, ends: &Ends) -> Result<(), CopyError> {
    let key = format!("{} (read back from the target)", file.target_key);
    let got = ends
        .target
        .get(&Path::from(file.target_key.as_str()))
        .await?;
    refuse_other_size(&key, file, got.meta.size as u64)?;
    let mut stream = got.into_stream();
    let mut seen = Verifier::new();
    while let Some(chunk) = stream.next().await {
        seen.update(&chunk?);
    }
    seen.finish(file.size, &file.sha256)
        .map_err(|mismatch| CopyError::mismatch(&key, mismatch))
}

/// The regions of `regions` that can be PUT to directly.
pub fn direct_targets(
    regions: &[RegionConfig],
) -> std::collections::BTreeMap<String, DirectTarget> {
    regions
        .iter()
        .filter(|r| checks_sha256(r))
        .filter_map(|r| DirectTarget::of(r).ok().map(|d| (r.id.clone(), d)))
        .collect()
}

/// Does the region's configuration say its store checks sha256 checksums?
fn checks_sha256(region: &RegionConfig) -> bool {
    use object_store::aws::AmazonS3ConfigKey as K;
    region.options.iter().any(|(key, value)| {
        matches!(key.parse::<K>(), Ok(K::Checksum)) && value.trim().eq_ignore_ascii_case("sha256")
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use object_store::ObjectStore;

    fn region(id: &str, options: &[(&str, &str)]) -> RegionConfig {
        RegionConfig {
            id: id.into(),
            display_name: String::new(),
            url: format!("s3://bucket-{id}"),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source_key_prefix: None,
            encryption: None,
        }
    }

    const STATIC: [(&str, &str); 4] = [
        ("aws_endpoint", "http://127.0.0.1:3900"),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "GK1"),
        ("aws_secret_access_key", "s"),
    ];

    #[test]
    fn only_targets_declared_to_check_sha256_are_put_to_directly() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut o = STATIC.to_vec();
            o.extend_from_slice(extra);
            o
        };
        let regions = [
            region("checks", &with(&[("aws_checksum_algorithm", "SHA256")])),
            region("plain", &with(&[])),
            region("crc", &with(&[("aws_checksum_algorithm", "crc32")])),
            // No static credentials: object_store finds them, this cannot.
            region("env", &[("aws_checksum_algorithm", "sha256")]),
        ];
        let direct = direct_targets(&regions);
        assert_eq!(direct.keys().collect::<Vec<_>>(), ["checks"]);
        assert_eq!(
            direct["checks"].bucket.path("a/b c"),
            "/bucket-checks/a/b%20c"
        );
    }

    #[test]
    fn only_the_link_or_a_busy_store_is_tried_again_within_the_attempt() {
        use reqwest::StatusCode as S;
        let store = |status| CopyError::Store(crate::server_side::failed(status, "x".into()));
        for status in [
            None,
            Some(S::SERVICE_UNAVAILABLE),
            Some(S::INTERNAL_SERVER_ERROR),
            Some(S::TOO_MANY_REQUESTS),
        ] {
            assert!(passing(&store(status)), "{status:?}");
        }
        for status in [Some(S::FORBIDDEN), Some(S::BAD_REQUEST), Some(S::NOT_FOUND)] {
            assert!(!passing(&store(status)), "{status:?}");
        }
        let refused = CopyError::ChecksumMismatch {
            key: "k".into(),
            expected: "a".into(),
            actual: "other bytes (the target store answered BadDigest)".into(),
        };
        assert!(!passing(&refused), "the store refused the bytes themselves");
    }

    /// What an unchecking store answers in `x-amz-checksum-sha256`.
    #[derive(Clone, Copy)]
    enum Echo {
        Nothing,
        /// What it was sent, as a checking store does.
        Same,
        /// Some other checksum.
        Other,
    }

    /// An S3 endpoint that keeps every PUT without checking it, answering
    /// as `echo` says.
    async fn unchecking_store(echo: Echo) -> String {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut socket = BufReader::new(socket);
                    loop {
                        let (mut length, mut checksum) = (0usize, None);
                        let mut request_line = String::new();
                        if socket.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        assert!(
                            request_line.starts_with("PUT /bucket-t/b/f "),
                            "{request_line}"
                        );
                        loop {
                            let mut line = String::new();
                            socket.read_line(&mut line).await.unwrap();
                            let Some((name, value)) = line.trim_end().split_once(':') else {
                                break;
                            };
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap(),
                                "x-amz-checksum-sha256" => {
                                    checksum = Some(value.trim().to_string())
                                }
                                _ => {}
                            }
                        }
                        let mut body = vec![0; length];
                        socket.read_exact(&mut body).await.unwrap();
                        let echoed = match (echo, checksum) {
                            (Echo::Same, Some(c)) => format!("x-amz-checksum-sha256: {c}\r\n"),
                            (Echo::Other, _) => "x-amz-checksum-sha256: AAAA\r\n".to_string(),
                            _ => String::new(),
                        };
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\netag: \"kept\"\r\n{echoed}content-length: 0\r\n\r\n"
                        );
                        socket.get_mut().write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        format!("http://{address}")
    }

    /// Copies `DATA` to `b/f` through a store at `endpoint`, with `kept`
    /// standing for what that store then holds at `b/f`.
    async fn copy_through(
        endpoint: &str,
        kept: Option<&[u8]>,
    ) -> Result<Option<String>, CopyError> {
        const DATA: &[u8] = b"a log backup";
        let mut options = STATIC.to_vec();
        options[0].1 = endpoint;
        let direct = DirectTarget::of(&region("t", &options)).unwrap();
        let ends = crate::copy::test_ends();
        ends.source
            .put(&Path::from("a/f"), DATA.to_vec().into())
            .await
            .unwrap();
        if let Some(kept) = kept {
            ends.target
                .put(&Path::from("b/f"), kept.to_vec().into())
                .await
                .unwrap();
        }
        let file = FileCopy {
            source_key: "a/f".into(),
            target_key: "b/f".into(),
            size: DATA.len() as u64,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(DATA)),
            encrypt: None,
        };
        copy_whole_direct(&file, &ends, &direct, |_| {})
            .await
            .map(|put| put.e_tag)
    }

    #[tokio::test]
    async fn a_store_that_does_not_confirm_the_checksum_has_the_file_read_back() {
        for echo in [Echo::Nothing, Echo::Other] {
            let unconfirming = unchecking_store(echo).await;
            // It kept the file's bytes: the copy counts.
            assert_eq!(
                copy_through(&unconfirming, Some(b"a log backup"))
                    .await
                    .unwrap()
                    .as_deref(),
                Some("\"kept\"")
            );
            // It kept other bytes, more bytes, or none: the copy fails,
            // naming the target.
            let other = copy_through(&unconfirming, Some(b"a log backuq"))
                .await
                .unwrap_err();
            assert!(
                matches!(&other, CopyError::ChecksumMismatch { key, .. } if key.contains("read back")),
                "{other:?}"
            );
            let longer = copy_through(&unconfirming, Some(b"a log backup!"))
                .await
                .unwrap_err();
            assert!(
                matches!(&longer, CopyError::SizeMismatch { key, actual: 13, .. } if key.contains("read back")),
                "{longer:?}"
            );
            let none = copy_through(&unconfirming, None).await.unwrap_err();
            assert!(
                matches!(none, CopyError::Store(object_store::Error::NotFound { .. })),
                "{none:?}"
            );
        }
        // A store that echoes the checksum checked the bytes: nothing is
        // read back (here, nothing could be).
        let confirming = unchecking_store(Echo::Same).await;
        let confirmed = copy_through(&confirming, None).await;
        assert!(confirmed.is_ok(), "{confirmed:?}");
    }
}
