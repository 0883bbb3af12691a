//! Catalog request/reply: the request is a `CatalogCall` (tenant + encoded API
//! request) on `<ns>.catalog.v1.<Method>` (internal methods on
//! `<ns>.catalog.internal.v1.<Method>`); the reply is a `CatalogReply` that
//! carries either the encoded response or an error code and message.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, HeaderMap};
use futures::StreamExt;
use prost::Message;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use xregion_proto::xregion::v1::{
    catalog_reply, CatalogCall, CatalogError, CatalogReply, ErrorCode,
};

use crate::error::{BusError, Result};
use crate::names::Namespace;
use crate::propagation::{inject_current, set_parent_from};

/// An error a handler returns; it travels back to the caller as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Clone)]
pub struct CatalogClient {
    client: Client,
    ns: Namespace,
    timeout: Duration,
}

impl CatalogClient {
    pub fn new(client: Client, ns: Namespace, timeout: Duration) -> Self {
        Self {
            client,
            ns,
            timeout,
        }
    }

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
        let call = CatalogCall {
            tenant_id: tenant_id.to_string(),
            request: request.encode_to_vec(),
        };
        let mut headers = HeaderMap::new();
        inject_current(&mut headers);
        let subject = self.ns.catalog_subject(method);
        let fut = self
            .client
            .request_with_headers(subject, headers, call.encode_to_vec().into());
        let reply = match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => {
                return Err(BusError::Timeout {
                    method: method.to_string(),
                })
            }
            Ok(Err(e)) => {
                use async_nats::RequestErrorKind;
                return Err(match e.kind() {
                    RequestErrorKind::NoResponders => BusError::NoResponders {
                        method: method.to_string(),
                    },
                    RequestErrorKind::TimedOut => BusError::Timeout {
                        method: method.to_string(),
                    },
                    RequestErrorKind::Other => BusError::Request {
                        method: method.to_string(),
                        reason: e.to_string(),
                    },
                });
            }
            Ok(Ok(reply)) => reply,
        };
        let reply = CatalogReply::decode(reply.payload.as_ref()).map_err(|e| BusError::Decode {
            what: "catalog reply",
            reason: e.to_string(),
        })?;
        match reply.result {
            Some(catalog_reply::Result::Ok(bytes)) => {
                Resp::decode(bytes.as_slice()).map_err(|e| BusError::Decode {
                    what: "catalog response",
                    reason: e.to_string(),
                })
            }
            Some(catalog_reply::Result::Error(err)) => Err(BusError::Remote {
                code: ErrorCode::try_from(err.code).unwrap_or(ErrorCode::Internal),
                message: err.message,
            }),
            None => Err(BusError::Decode {
                what: "catalog reply",
                reason: "empty reply".into(),
            }),
        }
    }
}

#[async_trait::async_trait]
pub trait RpcHandler: Send + Sync + 'static {
    /// Handles one call; returns the encoded response message.
    async fn call(&self, method: &str, call: CatalogCall)
        -> std::result::Result<Vec<u8>, RpcError>;
}

/// Serves catalog requests in a queue group until `shutdown`, then waits for
/// the requests in flight to be answered.
pub async fn serve_rpc<H: RpcHandler>(
    client: Client,
    ns: Namespace,
    handler: Arc<H>,
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
        let misplaced = crate::names::methods::is_internal(&method) != internal_subject;
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
                    Ok(call) => handler.call(&method, call).await,
                    Err(e) => Err(RpcError::new(
                        ErrorCode::InvalidArgument,
                        format!("undecodable request: {e}"),
                    )),
                };
                let reply = CatalogReply {
                    result: Some(match result {
                        Ok(bytes) => catalog_reply::Result::Ok(bytes),
                        Err(err) => {
                            tracing::debug!(code = ?err.code, message = %err.message, "rpc error");
                            catalog_reply::Result::Error(CatalogError {
                                code: err.code as i32,
                                message: err.message,
                            })
                        }
                    }),
                };
                if let Err(error) = client.publish(reply_to, reply.encode_to_vec().into()).await {
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
