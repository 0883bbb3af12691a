//! The worker's metrics: names, their `# HELP`, the bounded failure
//! reasons, and the backlog of each lane read from its durable consumer.

use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use xregion_domain::{BackupKind, Lane};

use crate::copy::CopyError;
use crate::transfer::Failure;

pub use crate::inflight::GAUGE as IN_FLIGHT;
pub use crate::priority::ALLOWANCE_GAUGE as FULL_BESIDE_LOGS;
pub use crate::throttle::SHARE_GAUGE as BANDWIDTH_SHARE;

pub const BYTES: &str = "xregion_transfer_bytes_total";
pub const FILES: &str = "xregion_transfer_files_total";
pub const PARTS_UPLOADED: &str = "xregion_transfer_parts_uploaded_total";
pub const PARTS_REUSED: &str = "xregion_transfer_parts_reused_total";
pub const RECOPIED: &str = "xregion_transfer_recopied_total";
pub const CANCELLED: &str = "xregion_transfer_cancelled_total";
pub const COPY_DURATION: &str = "xregion_transfer_copy_duration_seconds";
pub const FAILURES: &str = "xregion_transfer_failures_total";
pub const BACKLOG: &str = "xregion_transfer_backlog_jobs";
pub const SERVER_SIDE_BYTES: &str = "xregion_transfer_server_side_bytes_total";
pub const PUT_RETRIES: &str = "xregion_transfer_put_retries_total";

/// Every name this crate exports, for the dashboard and alert checks.
pub const NAMES: [&str; 14] = [
    BYTES,
    FILES,
    PARTS_UPLOADED,
    PARTS_REUSED,
    RECOPIED,
    CANCELLED,
    COPY_DURATION,
    FAILURES,
    BACKLOG,
    BANDWIDTH_SHARE,
    IN_FLIGHT,
    FULL_BESIDE_LOGS,
    SERVER_SIDE_BYTES,
    PUT_RETRIES,
];

/// The `reason` label of [`FAILURES`]: every value [`Failure::reason`]
/// gives for a counted failure.
pub const REASONS: [&str; 16] = [
    "store",
    "io",
    "upload_state",
    "upload_gone",
    "missing",
    "size",
    "checksum",
    "invalid",
    "bus",
    "landed",
    "replaced",
    "target",
    "forged",
    "catalog_unknown",
    "region",
    "encryption",
];

/// How often the backlog of each lane is read from NATS.
pub const BACKLOG_EVERY: Duration = Duration::from_secs(5);

pub fn describe() {
    describe_counter!(
        BYTES,
        Unit::Bytes,
        "bytes copied, counted per chunk or part as they move (not when the backup ends), by lane"
    );
    describe_counter!(
        FILES,
        Unit::Count,
        "files copied, by path (kernel, stream, direct, resumable, server_side)"
    );
    describe_counter!(
        PARTS_UPLOADED,
        Unit::Count,
        "multipart parts uploaded by resumable copies"
    );
    describe_counter!(
        PARTS_REUSED,
        Unit::Count,
        "multipart parts a resumed copy found already uploaded"
    );
    describe_counter!(
        RECOPIED,
        Unit::Count,
        "committed copies that failed their check and were copied again"
    );
    describe_counter!(
        CANCELLED,
        Unit::Count,
        "copies stopped because their service was deleted"
    );
    describe_histogram!(
        COPY_DURATION,
        Unit::Seconds,
        "duration of a backup's copy from its first byte to BackupSynced, by kind (full, log)"
    );
    describe_counter!(
        FAILURES,
        Unit::Count,
        "failed copy attempts, by reason (one of a fixed set: REASONS in crates/transfer-worker/src/metrics.rs)"
    );
    describe_gauge!(
        BACKLOG,
        "jobs of a lane waiting or being copied (its durable consumer's pending plus unacknowledged), by lane and durable; every worker sharing the durable reports the same value"
    );
    describe_gauge!(
        BANDWIDTH_SHARE,
        "This worker's share of a bandwidth lane's limit (label key: bw.<source>.<target>[.log]): \
         the limit divided by the workers copying on the lane; 0 when unlimited"
    );
    describe_counter!(
        SERVER_SIDE_BYTES,
        Unit::Bytes,
        "bytes copied inside the store (server-side copy between buckets of one S3 endpoint), not through the worker"
    );
    describe_gauge!(
        IN_FLIGHT,
        "How many requests the last copy on a route keeps in flight, adapted to the route's \
         bandwidth-delay product within the configured cap (label level: parts of a file, files of a backup; \
         labels source, target: regions)"
    );
    describe_gauge!(
        FULL_BESIDE_LOGS,
        "With worker.full_beside_logs = \"paced\": the most requests (files, and parts of each) a FULL \
         to the target region keeps in flight while any log copies on this worker, paced by the logs to \
         that region; a FULL's whole window (parts_in_flight or files_in_flight, the larger) while they \
         are within their budget (label target: region)"
    );
    describe_counter!(
        PUT_RETRIES,
        Unit::Count,
        "direct PUTs (files up to a part) tried again within their attempt after the connection, a \
         server error or a busy store failed them (label target: region)"
    );
    // At 0 from the start: an idle lane has a rate of 0, not no rate, and
    // the first failure of a reason is an increase.
    for lane in Lane::ALL {
        metrics::counter!(BYTES, "lane" => lane.as_str()).increment(0);
    }
    metrics::counter!(SERVER_SIDE_BYTES).increment(0);
    for reason in REASONS {
        metrics::counter!(FAILURES, "reason" => reason).increment(0);
    }
}

/// The lane label of a backup's bytes.
pub fn lane_of(kind: BackupKind) -> &'static str {
    kind.lane().as_str()
}

impl Failure {
    /// The failure as a label value: one of a fixed set, never a message.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Failure::Copy(CopyError::Store(_)) | Failure::Store(_) => "store",
            Failure::Copy(CopyError::Io(_)) => "io",
            Failure::Copy(CopyError::State(_)) => "upload_state",
            Failure::Copy(CopyError::UploadGone(_)) => "upload_gone",
            Failure::Copy(CopyError::Missing(_)) => "missing",
            Failure::Copy(CopyError::SizeMismatch { .. }) => "size",
            Failure::Copy(CopyError::ChecksumMismatch { .. }) => "checksum",
            Failure::Invalid(_) => "invalid",
            Failure::Bus(_) => "bus",
            Failure::Cancelled => "cancelled",
            Failure::Landed(_) => "landed",
            Failure::Replaced(_) => "replaced",
            Failure::Busy(_) => "busy",
            Failure::Target(_) => "target",
            Failure::Forged(_) => "forged",
            Failure::Unknown => "catalog_unknown",
            Failure::Region(_) => "region",
            Failure::Copy(CopyError::Crypt(_)) => "encryption",
        }
    }
}

/// Counts a failed attempt by its reason; a copy stopped because its
/// service was deleted, or waiting for another copy of its backup, is not
/// a failure.
pub(crate) fn count_failure(failure: &Failure) {
    if !matches!(failure, Failure::Cancelled | Failure::Busy(_)) {
        metrics::counter!(FAILURES, "reason" => failure.reason()).increment(1);
    }
}

/// Sets the backlog gauge of each (lane, durable) this worker consumes.
pub async fn export_backlog(
    js: &async_nats::jetstream::Context,
    stream: &str,
    lanes: &[(Lane, String)],
) {
    for (lane, durable) in lanes {
        let consumer = js
            .get_consumer_from_stream::<pull::Config, _, _>(durable, stream)
            .await;
        // Waiting (pending) and being copied (delivered, not yet acked).
        let jobs = match consumer {
            // The lookup already fetched the consumer's info.
            Ok(c) => {
                let i = c.cached_info();
                Ok(i.num_pending as f64 + i.num_ack_pending as f64)
            }
            Err(e) => Err(e.to_string()),
        };
        match jobs {
            Ok(jobs) => {
                metrics::gauge!(BACKLOG, "lane" => lane.as_str(), "durable" => durable.clone())
                    .set(jobs);
            }
            // The consumer is being declared again: the gauge keeps its
            // last value rather than a false 0.
            Err(error) => tracing::debug!(durable, %error, "backlog not read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_are_labels_not_messages() {
        let failures = [
            Failure::Invalid("a very specific message".into()),
            Failure::Copy(CopyError::Missing("k".into())),
            Failure::Landed("x".into()),
            Failure::Replaced("y".into()),
            Failure::Unknown,
        ];
        let reasons: Vec<&str> = failures.iter().map(Failure::reason).collect();
        assert_eq!(
            reasons,
            [
                "invalid",
                "missing",
                "landed",
                "replaced",
                "catalog_unknown"
            ]
        );
        assert!(reasons.iter().all(|r| REASONS.contains(r)));
    }
}
