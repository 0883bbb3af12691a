use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for the system to reach a state before it fails:
/// generous, since two cores run several stacks at once; a passing test
/// never waits this long.
pub const WAIT: Duration = Duration::from_secs(90);

/// Polls `check` until it yields `Some`, or fails after `timeout` with
/// `what` in the message. The only way tests wait: never a bare sleep.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            match last_error {
                Some(e) => anyhow::bail!(
                    "timed out after {timeout:?} waiting for {what}; last error: {e:#}"
                ),
                None => anyhow::bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The wall clock in Unix milliseconds, as the services read it.
pub fn now_ms() -> i64 {
    use xregion_common::clock::Clock;
    xregion_common::SystemClock::default().now_ms()
}
