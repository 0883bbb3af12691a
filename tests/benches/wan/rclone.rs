//! `rclone copy`, tuned, from the source bucket (Garage, direct) to the
//! target bucket through the same WAN proxy the worker's target region uses.

use std::path::PathBuf;

use xregion_tests::stack::Stack;

use crate::measure::{timed, Case, CpuMeter};

/// Why these flags: at a RTT of 40–150 ms and 32 MB/s per connection, a copy
/// is as fast as the connections it keeps busy. `--transfers 32` copies 32
/// files at once (many small logs: each PUT waits a round trip);
/// `--s3-upload-concurrency 8` with `--s3-chunk-size 16M` sends a large file
/// over 8 connections (rclone's default is 4 × 5 MiB); `--checkers 32` and
/// `--fast-list` keep the listing and comparing ahead of the transfers (one
/// recursive listing, not one per folder: fewer round trips).
pub const TUNED: [&str; 9] = [
    "--transfers",
    "32",
    "--checkers",
    "32",
    "--s3-upload-concurrency",
    "8",
    "--s3-chunk-size",
    "16M",
    "--fast-list",
];

pub struct Rclone {
    conf: PathBuf,
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
    pub fn new(stack: &Stack, src: &str, dst: &str) -> anyhow::Result<Self> {
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
        args.extend(TUNED.iter().map(|s| s.to_string()));
        timed(name, bytes, meter, "rclone", &args)
    }
}
