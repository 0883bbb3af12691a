use std::time::{Duration, Instant};

use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event, ServerAddr};

use xregion_common::redact::redact_url;

use crate::credentials::Credentials;
use crate::error::{BusError, Result};

/// Connects anonymously, without TLS settings (tools pointed at a local or
/// development server); services use [`connect_with`].
pub async fn connect(url: &str, name: &str, timeout: Duration) -> Result<Client> {
    connect_with(url, name, &Credentials::anonymous(), timeout).await
}

/// The subject prefix of this client's reply inboxes: `_INBOX.<name>`, so
/// that a server's permissions can let each identity read its own replies
/// only (`xregion-catalog` → `_INBOX.catalog`).
pub fn inbox_prefix(name: &str) -> String {
    let short = name.strip_prefix("xregion-").unwrap_or(name);
    let token: String = short
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("_INBOX.{token}")
}

/// Connects with `credentials`, retrying for up to `timeout` while the
/// server cannot be reached, so services can start in any order; a refused
/// identity or a failed TLS handshake is not retried. Afterwards the client
/// reconnects by itself and every connection event is logged.
pub async fn connect_with(
    url: &str,
    name: &str,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<Client> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(100);
    let shown = redact_url(url);
    let servers = server_addrs(url).map_err(|reason| BusError::Connect {
        url: shown.clone(),
        reason,
    })?;
    loop {
        let options = credentials.apply(
            ConnectOptions::new()
                .name(name)
                .custom_inbox_prefix(inbox_prefix(name))
                .connection_timeout(Duration::from_secs(5))
                .event_callback(|event| async move {
                    match event {
                        Event::Connected => tracing::info!("nats connected"),
                        Event::Disconnected => tracing::warn!("nats disconnected"),
                        Event::SlowConsumer(sid) => tracing::warn!(sid, "nats slow consumer"),
                        // Permission violations arrive here: make them stand out.
                        Event::ServerError(error) => {
                            tracing::error!(%error, "nats server error")
                        }
                        other => tracing::info!(event = %other, "nats event"),
                    }
                }),
        )?;
        let error = match options.connect(servers.as_slice()).await {
            Ok(client) => return Ok(client),
            Err(error) => error,
        };
        let lasting = matches!(
            error.kind(),
            ConnectErrorKind::Authentication
                | ConnectErrorKind::AuthorizationViolation
                | ConnectErrorKind::Tls
        );
        if !lasting && Instant::now() + delay < deadline {
            tracing::warn!(%error, url = %shown, "nats not reachable yet, retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
            continue;
        }
        return Err(BusError::Connect {
            url: shown,
            reason: error.to_string(),
        });
    }
}

/// The servers of `bus.url`: one URL, or a comma-separated list of a
/// cluster's nodes (`nats://a:4222,nats://b:4222`), which async-nats takes
/// only as a list; the client then reconnects to any of them.
pub fn server_addrs(url: &str) -> std::result::Result<Vec<ServerAddr>, String> {
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<ServerAddr>().map_err(|e| e.to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err("no server URL given".to_string());
    }
    Ok(servers)
}

/// Connects with the service's bus settings and declares the streams, as
/// every service does at start.
pub async fn bootstrap(
    cfg: &xregion_common::BusConfig,
    client_name: &str,
) -> Result<(Client, crate::names::Namespace)> {
    let ns = crate::names::Namespace::new(&cfg.namespace, &cfg.upstream_namespace)?;
    let credentials = Credentials::from_config(cfg)?;
    let client = connect_with(&cfg.url, client_name, &credentials, cfg.connect_timeout).await?;
    let js = async_nats::jetstream::new(client.clone());
    let opts = crate::declare::StreamOptions::from_config(cfg);
    crate::declare::declare_streams(&js, &ns, &opts).await?;
    Ok((client, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_reads_replies_under_its_own_inbox() {
        assert_eq!(inbox_prefix("xregion-catalog"), "_INBOX.catalog");
        assert_eq!(inbox_prefix("xregion-api-gateway"), "_INBOX.api-gateway");
        assert_eq!(inbox_prefix("a b.c"), "_INBOX.a_b_c");
    }

    #[test]
    fn a_cluster_is_given_as_a_comma_separated_list() {
        let one = server_addrs("nats://127.0.0.1:4222").map_err(|e| e.to_string());
        assert_eq!(one.map(|s| s.len()), Ok(1));
        let list = server_addrs("nats://127.0.0.1:1, nats://127.0.0.1:2,nats://127.0.0.1:3")
            .unwrap_or_default();
        let ports: Vec<u16> = list.iter().map(|s| s.port()).collect();
        assert_eq!(ports, [1, 2, 3]);
        assert!(server_addrs("").is_err());
        assert!(server_addrs("nats://127.0.0.1:1,http://x").is_err());
    }
}
