//! Named tasks of a service: a core task that ends on its own before it was
//! asked to stop (an error, or a panic) stops the whole service in order.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Spawns a core task of a service. If it ends on its own before shutdown
/// (an error, or a panic), `fatal` is cancelled so the service stops in
/// order and exits non-zero instead of living on half-alive.
pub fn supervise<F, T>(
    name: impl Into<String>,
    fatal: &CancellationToken,
    stopping: &CancellationToken,
    fut: F,
) -> JoinHandle<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let name = name.into();
    let fatal = fatal.clone();
    let stopping = stopping.clone();
    tokio::spawn(async move {
        // Dropped on return and on unwinding alike.
        let guard = fatal.clone().drop_guard();
        let out = fut.await;
        if stopping.is_cancelled() {
            guard.disarm();
        } else {
            tracing::error!(
                task = %name,
                "core task ended unexpectedly; stopping the service"
            );
        }
        out
    })
}

/// Waits for a shutdown signal or a failed core task; true when a task failed.
pub async fn wait_for_stop(shutdown: &CancellationToken, fatal: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = fatal.cancelled() => true,
    }
}

/// A named task whose outcome is logged when the service stops.
pub(crate) struct Named {
    pub name: String,
    pub handle: JoinHandle<Result<(), String>>,
}

impl Named {
    pub async fn join(self) {
        match self.handle.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(task = %self.name, %error, "task stopped with error"),
            Err(error) => tracing::warn!(task = %self.name, %error, "task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_ending_before_stop_trips_fatal_and_one_ending_after_does_not() {
        let fatal = CancellationToken::new();
        let stopping = CancellationToken::new();
        supervise("early", &fatal, &stopping, async {}).await.ok();
        assert!(
            fatal.is_cancelled(),
            "a task that ended on its own must stop the service"
        );

        let fatal = CancellationToken::new();
        let stopping = CancellationToken::new();
        let stop = stopping.clone();
        let task = supervise("orderly", &fatal, &stopping, async move {
            stop.cancelled().await
        });
        stopping.cancel();
        task.await.ok();
        assert!(
            !fatal.is_cancelled(),
            "a task that stopped when asked is no failure"
        );
    }

    #[tokio::test]
    async fn a_panicking_task_trips_fatal() {
        let fatal = CancellationToken::new();
        let stopping = CancellationToken::new();
        let task = supervise("panics", &fatal, &stopping, async {
            panic!("boom");
        });
        assert!(task.await.is_err());
        assert!(fatal.is_cancelled());
    }
}
