//! The life of a service process, shared by every binary so each `main.rs`
//! stays a few lines: load config (or dump it), start telemetry and the
//! health endpoint, connect to NATS and declare the streams, run the
//! service until SIGINT/SIGTERM, then stop the endpoint and flush telemetry.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use xregion_bus::Namespace;
use xregion_common::{CommonArgs, CommonConfig};
use xregion_telemetry::Health;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] xregion_common::Error),
    #[error(transparent)]
    Telemetry(#[from] xregion_telemetry::Error),
    #[error(transparent)]
    Bus(#[from] xregion_bus::BusError),
    #[error("{0}")]
    Service(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a service's `run` receives.
pub struct Context<C> {
    pub config: C,
    pub client: async_nats::Client,
    pub ns: Namespace,
    pub health: Health,
    /// Cancelled on the first SIGINT/SIGTERM.
    pub shutdown: CancellationToken,
}

pub trait HasCommon {
    fn common(&self) -> &CommonConfig;
}

pub async fn run_service<C, F, Fut, E>(
    name: &'static str,
    args: &CommonArgs,
    extra_overrides: Vec<(String, String)>,
    run: F,
) -> Result<()>
where
    C: Serialize + DeserializeOwned + Default + HasCommon,
    F: FnOnce(Context<C>) -> Fut,
    Fut: Future<Output = std::result::Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut overrides = args.overrides();
    overrides.extend(extra_overrides);
    let config: C = xregion_common::load(args.config.as_deref(), &overrides)?;
    if args.dump_config {
        print!("{}", xregion_common::config::dump(&config)?);
        return Ok(());
    }
    let common = config.common().clone();
    let telemetry = xregion_telemetry::init(name, &common.telemetry)?;
    let shutdown = xregion_common::shutdown::on_signal();
    let health = Health::default();
    let http_stop = CancellationToken::new();
    let http =
        xregion_telemetry::serve_http(&common.http.listen, name, health.clone(), http_stop.clone())
            .await?;
    let result = async {
        let (client, ns) = xregion_bus::bootstrap(&common.bus, name).await?;
        run(Context {
            config,
            client,
            ns,
            health,
            shutdown,
        })
        .await
        .map_err(|e| Error::Service(Box::new(e)))
    }
    .await;
    if let Err(error) = &result {
        tracing::error!(%error, "service failed");
    }
    http_stop.cancel();
    let _ = http.task.await;
    telemetry.shutdown();
    result
}

/// Spawns a core task of a service. If it ends on its own before shutdown
/// (an error, or a panic), `fatal` is cancelled so the service stops in
/// order and exits non-zero instead of living on half-alive.
pub fn supervise<F, T>(
    name: &'static str,
    fatal: &CancellationToken,
    stopping: &CancellationToken,
    fut: F,
) -> tokio::task::JoinHandle<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
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
                task = name,
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

/// The error of a worker service's `run` (catalog and gateway have their own).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Bus(#[from] xregion_bus::BusError),
    #[error(transparent)]
    Config(#[from] xregion_common::Error),
    #[error("a core task stopped unexpectedly")]
    TaskFailed,
    #[error("{0}")]
    Setup(String),
}

/// The end of an orderly stop: waits for the service's tasks (logging how
/// each ended), flushes what the client still buffers, and reports whether
/// the stop was caused by a failed task.
pub async fn finish<E: std::fmt::Display>(
    name: &'static str,
    tasks: Vec<tokio::task::JoinHandle<std::result::Result<(), E>>>,
    client: &async_nats::Client,
    failed: bool,
) -> std::result::Result<(), ServiceError> {
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "task stopped with error"),
            Err(error) => tracing::warn!(%error, "task failed"),
        }
    }
    let _ = client.flush().await;
    tracing::info!(service = name, "stopped");
    if failed {
        return Err(ServiceError::TaskFailed);
    }
    Ok(())
}
