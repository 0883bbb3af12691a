//! Catalog request/reply: the request is a `CatalogCall` (tenant + encoded API
//! request) on `<ns>.catalog.v1.<Method>` (internal methods on
//! `<ns>.catalog.internal.v1.<Method>`); the reply is a `CatalogReply` that
//! carries either the encoded response or an error code and message.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use prost::Message;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use xregion_proto::xregion::v1::{
    catalog_reply, CatalogCall, CatalogError, CatalogReply, ErrorCode,
};

use crate::contract::{dispatch, is_internal, is_known, CatalogService};
use crate::error::{BusError, Result};
use crate::names::Namespace;
use crate::propagation::set_parent_from;
use crate::transport::{CatalogTransport, InProcess, NatsTransport};

/// An error a handler returns; it travels back to the caller as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    /// The stable reason ([`xregion_domain::Reason`]); `None` leaves it to
    /// the code.
    pub reason: Option<xregion_domain::Reason>,
    /// The request field at fault (INVALID_ARGUMENT), else empty.
    pub field: String,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
            field: String::new(),
        }
    }

    pub fn with_reason(mut self, reason: xregion_domain::Reason) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn with_field(mut self, field: &str) -> Self {
        self.field = field.to_string();
        self
    }
}

/// The one way to ask the catalog: typed requests ([`CatalogClient::request`])
/// over a [`CatalogTransport`], NATS in the services, in process in tests.
#[derive(Clone)]
pub struct CatalogClient {
    transport: Arc<dyn CatalogTransport>,
}

impl CatalogClient {
    /// A client over NATS: requests time out after `timeout`.
    pub fn new(client: Client, ns: Namespace, timeout: Duration) -> Self {
        Self::with_transport(Arc::new(NatsTransport {
            client,
            ns,
            timeout,
        }))
    }

    pub fn with_transport(transport: Arc<dyn CatalogTransport>) -> Self {
        Self { transport }
    }

    /// A client whose requests `service` answers in this process.
    pub fn in_process<S: CatalogService>(service: Arc<S>) -> Self {
        Self::with_transport(Arc::new(InProcess(service)))
    }

    /// Sends `request` on `method` untyped; callers use
    /// [`CatalogClient::request`], tests probing the wire use this.
    pub async fn call<Req, Resp>(
        &self,
        method: &str,
        tenant_id: &str,
        request: &Req,
    ) -> Result<Resp>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let bytes = self
            .transport
            .call(method, tenant_id, request.encode_to_vec())
            .await?;
        Resp::decode(bytes.as_slice()).map_err(|e| BusError::Decode {
            what: "catalog response",
            reason: e.to_string(),
        })
    }
}

/// Serves catalog requests in a queue group until `shutdown`, then waits for
/// the requests in flight to be answered. With `limit` requests in flight, a
/// request is answered UNAVAILABLE at once (its caller retries as for any
/// unavailable catalog) rather than queued without bound.
pub async fn serve_rpc<H: CatalogService>(
    client: Client,
    ns: Namespace,
    handler: Arc<H>,
    limit: usize,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut sub = client
        .queue_subscribe(ns.catalog_filter(), ns.catalog_queue_group())
        .await
        .map_err(|e| BusError::js("subscribe", e))?;
    let mut in_flight = JoinSet::new();
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            msg = sub.next() => match msg { Some(m) => m, None => break },
        };
        while in_flight.try_join_next().is_some() {}
        let Some(reply_to) = msg.reply.clone() else {
            tracing::warn!(subject = %msg.subject, "catalog request without reply subject");
            continue;
        };
        let (method, internal_subject) = ns
            .catalog_method(msg.subject.as_str())
            .map(|(m, internal)| (m.to_string(), internal))
            .unwrap_or_default();
        // NATS permissions decide who may publish on which kind of subject;
        // a method on the other kind would get around them.
        let misplaced = is_internal(&method) != internal_subject;
        if in_flight.len() >= limit {
            // The label only ever takes a method the catalog serves: a
            // subject made up by a client makes no series of its own.
            let label = if is_known(&method) {
                method.clone()
            } else {
                "unknown".into()
            };
            metrics::counter!(crate::metrics::RPC_SHED, "method" => label).increment(1);
            let busy = error_reply(RpcError::new(
                ErrorCode::Unavailable,
                format!("catalog busy: {limit} requests in flight; retry"),
            ));
            if let Err(error) = client.publish(reply_to, busy.encode_to_vec().into()).await {
                tracing::warn!(%error, "cannot send catalog reply");
            }
            continue;
        }
        let handler = handler.clone();
        let client = client.clone();
        let span = tracing::info_span!("rpc", method = %method);
        set_parent_from(&span, msg.headers.as_ref());
        in_flight.spawn(
            async move {
                let result = match CatalogCall::decode(msg.payload.as_ref()) {
                    Ok(_) if misplaced => Err(RpcError::new(
                        ErrorCode::PermissionDenied,
                        format!("{method} is not served on {}", msg.subject),
                    )),
                    Ok(call) => dispatch(handler.as_ref(), &method, call).await,
                    Err(e) => Err(RpcError::new(
                        ErrorCode::InvalidArgument,
                        format!("undecodable request: {e}"),
                    )),
                };
                let reply = match result {
                    Ok(bytes) => CatalogReply {
                        result: Some(catalog_reply::Result::Ok(bytes)),
                    },
                    Err(err) => {
                        tracing::debug!(code = ?err.code, message = %err.message, "rpc error");
                        error_reply(err)
                    }
                };
                let max = client.server_info().max_payload;
                let bytes = within_payload(reply, &method, max);
                if let Err(error) = client.publish(reply_to, bytes.into()).await {
                    tracing::warn!(%error, "cannot send catalog reply");
                }
            }
            .instrument(span),
        );
    }
    let _ = sub.unsubscribe().await;
    while in_flight.join_next().await.is_some() {}
    let _ = client.flush().await;
    Ok(())
}

/// The reply encoded, or, when it is larger than the bus carries in one
/// message (`max`: the server's max_payload), an error saying so: a reply
/// NATS refused would leave its caller waiting for its timeout instead.
fn within_payload(reply: CatalogReply, method: &str, max: usize) -> Vec<u8> {
    let bytes = reply.encode_to_vec();
    if max == 0 || bytes.len() <= max {
        return bytes;
    }
    tracing::warn!(
        method,
        bytes = bytes.len(),
        max,
        "catalog reply over the bus's message limit"
    );
    error_reply(RpcError::new(
        ErrorCode::FailedPrecondition,
        format!(
            "the answer to {method} is {} bytes, over the bus's limit of {max} \
             (NATS max_payload): ask for less (an earlier restore time, a smaller page), \
             or restore from the target store alone (xregion restore --region-store)",
            bytes.len()
        ),
    ))
    .encode_to_vec()
}

/// The reply carrying `err`.
fn error_reply(err: RpcError) -> CatalogReply {
    CatalogReply {
        result: Some(catalog_reply::Result::Error(CatalogError {
            code: err.code as i32,
            message: err.message,
            reason: err.reason.map(|r| r.to_string()).unwrap_or_default(),
            field: err.field,
        })),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ok(n: usize) -> CatalogReply {
        CatalogReply {
            result: Some(catalog_reply::Result::Ok(vec![7u8; n])),
        }
    }

    #[test]
    fn a_reply_over_the_bus_limit_becomes_an_error_naming_it() {
        let small = within_payload(ok(100), "GetRestorePlan", 1024);
        assert_eq!(small, ok(100).encode_to_vec());
        let big = within_payload(ok(5000), "GetRestorePlan", 1024);
        assert!(big.len() <= 1024);
        let Some(catalog_reply::Result::Error(e)) =
            CatalogReply::decode(big.as_slice()).unwrap().result
        else {
            panic!("an error expected");
        };
        assert_eq!(e.code, ErrorCode::FailedPrecondition as i32);
        assert!(
            e.message.contains("GetRestorePlan") && e.message.contains("1024"),
            "{}",
            e.message
        );
        // No limit known: sent as it is.
        assert_eq!(
            within_payload(ok(5000), "m", 0).len(),
            ok(5000).encode_to_vec().len()
        );
    }
}
