//! Throttled progress: at most one TransferProgress a second per transfer,
//! and one at the end.

use std::time::{Duration, Instant};

use xregion_bus::Publisher;
use xregion_common::SharedClock;
use xregion_proto::convert::timestamp;
use xregion_proto::xregion::v1::{ServiceRef, TransferProgress};

pub struct Progress {
    publisher: Publisher,
    // Stamps each report: a dashboard shows how fresh a figure is.
    clock: SharedClock,
    subject: String,
    state: TransferProgress,
    started: Instant,
    last_sent: Option<Instant>,
}

impl Progress {
    pub fn new(
        publisher: Publisher,
        clock: SharedClock,
        service: &ServiceRef,
        backup_id: &str,
        bytes_total: u64,
        files_total: u32,
    ) -> Self {
        let subject = publisher
            .namespace()
            .progress_subject(&service.service_id, backup_id);
        Self {
            publisher,
            clock,
            subject,
            state: TransferProgress {
                service_id: service.service_id.clone(),
                tenant_id: service.tenant_id.clone(),
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
        self.state.sent_at = Some(timestamp(self.clock.now_ms()));
        if let Err(error) = self
            .publisher
            .publish_transient(self.subject.clone(), &self.state)
            .await
        {
            tracing::debug!(%error, "progress not published");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use xregion_bus::Namespace;
    use xregion_common::clock::FixedClock;

    use super::*;

    #[tokio::test]
    async fn every_report_names_its_tenant_and_time() {
        let ns = Namespace::new("t", "rds").unwrap();
        let (publisher, recorded) = Publisher::recording(ns.clone());
        let clock = FixedClock::at(1_700_000_000_000);
        let service = ServiceRef {
            service_id: "s1".into(),
            tenant_id: "tenant-a".into(),
            ..Default::default()
        };
        let mut progress = Progress::new(publisher, clock.clone(), &service, "b1", 100, 2);
        progress.set(40, 1);
        progress.tick().await;
        clock.advance_ms(1_500);
        progress.set(100, 2);
        progress.finish().await;
        let sent: Vec<TransferProgress> = recorded
            .on(&ns.progress_subject("s1", "b1"))
            .iter()
            .map(|s| s.decode().unwrap())
            .collect();
        assert_eq!(sent.len(), 2);
        for (p, at) in sent.iter().zip([1_700_000_000_000, 1_700_000_001_500]) {
            assert_eq!(p.tenant_id, "tenant-a");
            assert_eq!(p.sent_at, Some(timestamp(at)));
        }
        assert!(sent[1].done);
    }
}
