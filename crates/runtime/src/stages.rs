//! The tasks of a service, in stop stages: intake tasks (consumers, request
//! servers, loops) are asked to stop first and awaited, then the last stage.
//! A task that ends on its own before it is asked to stops the service.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::supervise::{supervise, wait_for_stop, Named};

/// When a task is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// With the consumers, servers and loops, first.
    Intake,
    /// Once every intake task has ended (e.g. the outbox relay, which must
    /// publish what in-flight work committed).
    Last,
}

#[derive(Default)]
pub struct Stages {
    fatal: CancellationToken,
    intake: CancellationToken,
    last: CancellationToken,
    intake_tasks: Vec<Named>,
    last_tasks: Vec<Named>,
}

impl Stages {
    /// A core task of `stage`; `task` gets the token that asks it to stop.
    pub fn spawn<F, Fut, E>(&mut self, stage: Stage, name: impl Into<String>, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let (stop, tasks) = match stage {
            Stage::Intake => (&self.intake, &mut self.intake_tasks),
            Stage::Last => (&self.last, &mut self.last_tasks),
        };
        let name = name.into();
        let fut = task(stop.clone());
        let handle = supervise(name.clone(), &self.fatal, stop, async move {
            fut.await.map_err(|e| e.to_string())
        });
        tasks.push(Named { name, handle });
    }

    /// Calls `tick` every `period` (first after one period) until stop; a
    /// tick under way when the stop comes is finished, not cut off.
    pub fn every<F, Fut>(&mut self, name: &'static str, period: Duration, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(Stage::Intake, name, move |stop| async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return Ok::<(), std::convert::Infallible>(()),
                    _ = tokio::time::sleep(period) => {}
                }
                tick().await;
            }
        });
    }

    /// Waits for `shutdown` or a failed task; true when a task failed.
    pub async fn until_stop(&self, shutdown: &CancellationToken) -> bool {
        wait_for_stop(shutdown, &self.fatal).await
    }

    /// Stops the intake stage and waits for it, then the last stage.
    pub async fn stop_in_order(self) {
        self.intake.cancel();
        for task in self.intake_tasks {
            task.join().await;
        }
        self.last.cancel();
        for task in self.last_tasks {
            task.join().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn the_last_stage_stops_only_after_every_intake_task_ended() {
        let mut stages = Stages::default();
        let intake_done = Arc::new(AtomicUsize::new(0));
        for name in ["consumer-a", "consumer-b"] {
            let done = intake_done.clone();
            stages.spawn(Stage::Intake, name, move |stop| async move {
                stop.cancelled().await;
                // In-flight work finishing after the stop request.
                tokio::task::yield_now().await;
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<(), String>(())
            });
        }
        let seen_by_last = Arc::new(AtomicUsize::new(usize::MAX));
        let seen = seen_by_last.clone();
        let done = intake_done.clone();
        stages.spawn(Stage::Last, "relay", move |stop| async move {
            stop.cancelled().await;
            seen.store(done.load(Ordering::SeqCst), Ordering::SeqCst);
            Ok::<(), String>(())
        });
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        assert!(!stages.until_stop(&shutdown).await, "no task failed");
        stages.stop_in_order().await;
        assert_eq!(seen_by_last.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_task_failing_on_its_own_stops_the_service() {
        let mut stages = Stages::default();
        stages.spawn(Stage::Intake, "consumer", |_stop| async {
            Err::<(), _>("stream deleted")
        });
        let never = CancellationToken::new();
        assert!(
            stages.until_stop(&never).await,
            "the failure must end the wait"
        );
        stages.stop_in_order().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_periodic_tick_runs_every_period_until_stop() {
        let mut stages = Stages::default();
        let ticks = Arc::new(AtomicUsize::new(0));
        let counted = ticks.clone();
        stages.every("tick", Duration::from_secs(10), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::ready(())
        });
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        stages.stop_in_order().await;
        let after = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), after, "no tick after stop");
    }
}
