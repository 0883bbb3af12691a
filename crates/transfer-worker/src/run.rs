use xregion_runtime::Context;

use crate::config::WorkerConfig;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bus(#[from] xregion_bus::BusError),
    #[error(transparent)]
    Config(#[from] xregion_common::Error),
}

pub async fn run(cx: Context<WorkerConfig>) -> Result<(), Error> {
    let _regions = xregion_common::Regions::build(&cx.config.common.regions)?;
    cx.health.set_ready(true);
    tracing::info!(namespace = cx.ns.prefix(), "ready");
    cx.shutdown.cancelled().await;
    cx.health.set_ready(false);
    tracing::info!("stopped");
    Ok(())
}
