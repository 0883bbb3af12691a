//! NATS JetStream plumbing shared by every xregion service.
//!
//! Every subject, stream and durable name is built by [`names::Namespace`];
//! nothing else in the workspace spells one out.

pub mod any_event;
pub mod bus;
pub mod connect;
pub mod consume;
pub mod contract;
pub mod credentials;
pub mod deadletter;
pub mod declare;
pub mod drift;
pub mod error;
pub mod events;
pub mod internal;
pub mod json_mirror;
pub mod lease;
pub mod metrics;
pub mod names;
pub mod propagation;
pub mod publish;
pub mod recorded;
pub mod redeclare;
pub mod rpc;
pub mod transport;
pub mod uploads;

pub use any_event::AnyEvent;
pub use async_nats;
pub use bus::Bus;
pub use connect::{bootstrap, connect, connect_with};
pub use consume::{
    run_consumer, run_consumer_with, ConsumerSpec, Delivery, Handler, Outcome, RetryPolicy,
    TryHandler,
};
pub use contract::{CatalogMethod, CatalogService};
pub use credentials::Credentials;
pub use declare::{declare_bucket, declare_streams, BucketSpec, StreamOptions};
pub use error::{BusError, Result};
pub use events::{Event, LagCrossing, LagEvent, Publishable};
pub use lease::Lease;
pub use names::{methods, EventSubject, Namespace, UpstreamEvent};
pub use publish::{Published, Publisher};
pub use recorded::{Recorded, Sent};
pub use redeclare::{ConsumerReport, Recovery};
pub use rpc::{serve_rpc, CatalogClient, RpcError};
pub use transport::CatalogTransport;
pub use uploads::UploadsBucket;
