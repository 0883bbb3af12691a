use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Event};

use crate::error::{BusError, Result};

/// Connects, retrying for up to `timeout` so services can start in any
/// order; afterwards the client reconnects by itself and every connection
/// event is logged.
pub async fn connect(url: &str, name: &str, timeout: Duration) -> Result<Client> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        let options = ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|event| async move {
                match event {
                    Event::Connected => tracing::info!("nats connected"),
                    Event::Disconnected => tracing::warn!("nats disconnected"),
                    Event::SlowConsumer(sid) => tracing::warn!(sid, "nats slow consumer"),
                    other => tracing::info!(event = %other, "nats event"),
                }
            });
        match options.connect(url).await {
            Ok(client) => return Ok(client),
            Err(error) if Instant::now() + delay < deadline => {
                tracing::warn!(%error, url, "nats not reachable yet, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                return Err(BusError::Connect {
                    url: url.to_string(),
                    reason: error.to_string(),
                })
            }
        }
    }
}

/// Connects with the service's bus settings and declares the streams, as
/// every service does at start.
pub async fn bootstrap(
    cfg: &xregion_common::BusConfig,
    client_name: &str,
) -> Result<(Client, crate::names::Namespace)> {
    let ns = crate::names::Namespace::new(&cfg.namespace, &cfg.upstream_namespace)?;
    let client = connect(
        &cfg.url,
        client_name,
        Duration::from_secs(cfg.connect_timeout_secs),
    )
    .await?;
    let js = async_nats::jetstream::new(client.clone());
    let opts = crate::declare::StreamOptions {
        events_max_age: Duration::from_secs(cfg.events_max_age_days.max(1) * 24 * 3600),
        create_upstream: cfg.create_upstream_stream,
        ..Default::default()
    };
    crate::declare::declare_streams(&js, &ns, &opts).await?;
    Ok((client, ns))
}
