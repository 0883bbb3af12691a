//! Reading Prometheus text as the services and Garage expose it.

/// Sum of a counter over the label sets whose line contains `label` ("" for
/// all), counting every metric whose name starts with `name`.
/// Garage's count of S3 requests of `kind` (`PutObject`, ...).
pub fn s3_requests(metrics: &str, kind: &str) -> u64 {
    counter(
        metrics,
        "api_s3_request_counter",
        &format!("api_endpoint=\"{kind}\""),
    )
}

/// Garage's S3 requests between two readings of its metrics.
pub struct S3Delta {
    pub before: String,
    pub after: String,
}

impl S3Delta {
    /// Requests of `kind` (`GetObject`, `PutObject`, …) in between.
    pub fn of(&self, kind: &str) -> u64 {
        s3_requests(&self.after, kind) - s3_requests(&self.before, kind)
    }
}

pub fn counter(metrics: &str, name: &str, label: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
