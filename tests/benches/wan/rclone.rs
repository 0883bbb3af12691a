//! `rclone copy`, tuned, from the source bucket (Garage, direct) to the
//! target bucket through the same WAN proxy the worker's target region uses.

use std::path::PathBuf;

use xregion_tests::stack::Stack;

use crate::measure::{timed, Case, CpuMeter};

/// Why these flags: at a RTT of 40–150 ms and 32 MB/s per connection, a copy
/// is as fast as the connections it keeps busy. `--transfers 128` (by
/// default; `XREGION_BENCH_RCLONE_TRANSFERS`) copies 128 files at once:
/// each small log's PUT waits a round trip, and at 150 ms 32 at once held
/// rclone to 25 MB/s where 128 reach 55 (at 0–40 ms and on large files
/// 128 did as well as 32 or better; docs/benchmarks.md, seventh session);
/// `--s3-upload-concurrency 8` with `--s3-chunk-size 16M` sends a large
/// file over 8 connections (rclone's default is 4 × 5 MiB); as many
/// `--checkers` as transfers and `--fast-list` keep the listing and
/// comparing ahead of the transfers (one recursive listing, not one per
/// folder: fewer round trips).
pub fn tuned(transfers: usize) -> Vec<String> {
    let transfers = transfers.to_string();
    [
        "--transfers",
        &transfers,
        "--checkers",
        &transfers,
        "--s3-upload-concurrency",
        "8",
        "--s3-chunk-size",
        "16M",
        "--fast-list",
    ]
    .map(String::from)
    .into()
}

/// Files rclone copies at once unless `XREGION_BENCH_RCLONE_TRANSFERS` says.
pub const TRANSFERS: usize = 128;

pub struct Rclone {
    conf: PathBuf,
    transfers: usize,
    src_bucket: String,
    dst_bucket: String,
}

fn bucket_of(stack: &Stack, region: &str) -> anyhow::Result<String> {
    let url = &stack.region(region)?.url;
    Ok(url.trim_start_matches("s3://").to_string())
}

impl Rclone {
    /// Remotes `src` (Garage) and `dst` (the target region's endpoint: the
    /// proxy).
    pub fn new(stack: &Stack, src: &str, dst: &str, transfers: usize) -> anyhow::Result<Self> {
        let remote = |name: &str, endpoint: &str| {
            format!(
                "[{name}]\ntype = s3\nprovider = Other\nendpoint = {endpoint}\naccess_key_id = {}\nsecret_access_key = {}\nregion = garage\nforce_path_style = true\n\n",
                stack.garage.key_id, stack.garage.secret
            )
        };
        let dst_endpoint = stack
            .region(dst)?
            .options
            .get("aws_endpoint")
            .cloned()
            .unwrap_or_else(|| stack.garage.endpoint.clone());
        let conf = stack.dir.path().join("rclone-wan.conf");
        std::fs::write(
            &conf,
            remote("src", &stack.garage.endpoint) + &remote("dst", &dst_endpoint),
        )?;
        Ok(Self {
            conf,
            transfers,
            src_bucket: bucket_of(stack, src)?,
            dst_bucket: bucket_of(stack, dst)?,
        })
    }

    /// Copies the instance's folder to `dest` in the target bucket.
    pub fn copy(
        &self,
        name: &str,
        meter: &CpuMeter,
        instance: &str,
        dest: &str,
        bytes: u64,
    ) -> anyhow::Result<Case> {
        let mut args: Vec<String> = vec![
            "--config".into(),
            self.conf.display().to_string(),
            "copy".into(),
            format!("src:{}/{instance}", self.src_bucket),
            format!("dst:{}/{dest}", self.dst_bucket),
            // Two remotes already rule out a server-side copy; say so anyway.
            "--disable".into(),
            "Copy".into(),
        ];
        args.extend(tuned(self.transfers));
        timed(name, bytes, meter, "rclone", &args)
    }
}
