//! Throttled progress: at most one TransferProgress a second per transfer,
//! and one at the end.

use std::time::{Duration, Instant};

use xregion_bus::Publisher;
use xregion_proto::xregion::v1::TransferProgress;

pub struct Progress {
    publisher: Publisher,
    subject: String,
    state: TransferProgress,
    started: Instant,
    last_sent: Option<Instant>,
}

impl Progress {
    pub fn new(
        publisher: Publisher,
        service_id: &str,
        backup_id: &str,
        bytes_total: u64,
        files_total: u32,
    ) -> Self {
        let subject = publisher
            .namespace()
            .progress_subject(service_id, backup_id);
        Self {
            publisher,
            subject,
            state: TransferProgress {
                service_id: service_id.to_string(),
                backup_id: backup_id.to_string(),
                bytes_total,
                files_total,
                ..Default::default()
            },
            started: Instant::now(),
            last_sent: None,
        }
    }

    pub fn set(&mut self, bytes_done: u64, files_done: u32) {
        self.state.bytes_done = bytes_done;
        self.state.files_done = files_done;
    }

    fn rate(&self) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            (self.state.bytes_done as f64 / secs) as u64
        } else {
            0
        }
    }

    /// Publishes if a second has passed since the last report.
    pub async fn tick(&mut self) {
        if self
            .last_sent
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.send().await;
    }

    pub async fn finish(&mut self) {
        self.state.done = true;
        self.send().await;
    }

    async fn send(&mut self) {
        self.last_sent = Some(Instant::now());
        self.state.rate_bytes_per_sec = self.rate();
        if let Err(error) = self
            .publisher
            .publish_transient(self.subject.clone(), &self.state)
            .await
        {
            tracing::debug!(%error, "progress not published");
        }
    }
}
