//! How a [`crate::CatalogClient`] reaches the catalog: over NATS (what every
//! service does), or in process, calling the catalog's [`dispatch`] directly
//! (what unit tests do, without NATS). Both carry the same encoded request
//! and answer, so a test exercises the same decoding and handlers.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, HeaderMap};
use prost::Message;
use xregion_proto::xregion::v1::{catalog_reply, CatalogCall, CatalogReply, ErrorCode};

use crate::contract::{dispatch, CatalogService};
use crate::error::{BusError, Result};
use crate::names::Namespace;
use crate::propagation::inject_current;

/// Carries one encoded catalog request and brings back its encoded answer;
/// an error the catalog answered with comes back as [`BusError::Remote`].
#[async_trait::async_trait]
pub trait CatalogTransport: Send + Sync + 'static {
    async fn call(&self, method: &str, tenant_id: &str, request: Vec<u8>) -> Result<Vec<u8>>;
}

/// Request/reply on `<ns>.catalog[.internal].v1.<Method>`, with the trace
/// context in the headers and a deadline per request.
pub struct NatsTransport {
    pub client: Client,
    pub ns: Namespace,
    pub timeout: Duration,
}

#[async_trait::async_trait]
impl CatalogTransport for NatsTransport {
    async fn call(&self, method: &str, tenant_id: &str, request: Vec<u8>) -> Result<Vec<u8>> {
        let call = CatalogCall {
            tenant_id: tenant_id.to_string(),
            request,
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
            Some(catalog_reply::Result::Ok(bytes)) => Ok(bytes),
            Some(catalog_reply::Result::Error(err)) => Err(BusError::Remote {
                code: ErrorCode::try_from(err.code).unwrap_or(ErrorCode::Internal),
                message: err.message,
                reason: err.reason,
                field: err.field,
            }),
            None => Err(BusError::Decode {
                what: "catalog reply",
                reason: "empty reply".into(),
            }),
        }
    }
}

/// The catalog in this process: each request goes straight to its handler.
pub struct InProcess<S: ?Sized>(pub Arc<S>);

#[async_trait::async_trait]
impl<S: CatalogService + ?Sized> CatalogTransport for InProcess<S> {
    async fn call(&self, method: &str, tenant_id: &str, request: Vec<u8>) -> Result<Vec<u8>> {
        let call = CatalogCall {
            tenant_id: tenant_id.to_string(),
            request,
        };
        dispatch(self.0.as_ref(), method, call)
            .await
            .map_err(|e| BusError::Remote {
                code: e.code,
                message: e.message,
                reason: e.reason.map(|r| r.to_string()).unwrap_or_default(),
                field: e.field,
            })
    }
}
