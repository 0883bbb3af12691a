//! One handle on the bus for a service: the connection, its namespace, the
//! retry policy and the request timeout, from which publishers, the catalog
//! client and consumers are made the same way in every service.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::Client;
use tokio_util::sync::CancellationToken;

use crate::consume::{run_consumer_with, ConsumerSpec, Handler, RetryPolicy};
use crate::declare::{declare_bucket, BucketSpec, StreamOptions};
use crate::error::Result;
use crate::names::Namespace;
use crate::publish::Publisher;
use crate::redeclare::{ConsumerReport, Recovery};
use crate::rpc::CatalogClient;

#[derive(Clone)]
pub struct Bus {
    client: Client,
    js: Context,
    ns: Namespace,
    retry: RetryPolicy,
    request_timeout: Duration,
    replicas: usize,
    /// `bus.lease_ttl_secs`: how long a lease outlives its last renewal.
    lease_ttl: Duration,
    /// What the service declares at start, so that a consumer finding its
    /// stream deleted declares it again the same way.
    streams: StreamOptions,
}

impl Bus {
    pub fn new(client: Client, ns: Namespace, config: &xregion_common::BusConfig) -> Self {
        Self {
            js: async_nats::jetstream::new(client.clone()),
            client,
            ns,
            retry: RetryPolicy::from_config(config),
            request_timeout: config.request_timeout,
            replicas: config.replicas,
            lease_ttl: config.lease_ttl,
            streams: StreamOptions::from_config(config),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn jetstream(&self) -> &Context {
        &self.js
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// The bucket `spec`, created with this deployment's replicas when
    /// missing.
    pub async fn bucket(&self, spec: &BucketSpec) -> Result<async_nats::jetstream::kv::Store> {
        declare_bucket(&self.js, spec, self.replicas).await
    }

    /// How long a lease of this deployment outlives its last renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.client.clone(), self.ns.clone())
    }

    pub fn catalog(&self) -> CatalogClient {
        CatalogClient::new(self.client.clone(), self.ns.clone(), self.request_timeout)
    }

    /// Runs `handler` on the durable consumer `spec` until `stop`; a lost
    /// consumer or stream is declared again, and `report` hears whether the
    /// consumer is pulling.
    pub async fn consume<H: Handler>(
        &self,
        spec: ConsumerSpec,
        handler: Arc<H>,
        stop: CancellationToken,
        report: ConsumerReport,
    ) -> Result<()> {
        let recovery = Recovery {
            streams: Some(self.streams.clone()),
            report,
        };
        run_consumer_with(
            self.js.clone(),
            self.ns.clone(),
            spec,
            self.retry.clone(),
            handler,
            stop,
            recovery,
        )
        .await
    }
}
