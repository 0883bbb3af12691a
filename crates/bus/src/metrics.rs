//! The bus's metrics (every service has them): names and their `# HELP`.
//! `describe` is called once at start by `xregion_runtime`.

use metrics::{describe_counter, describe_gauge, Unit};

pub use crate::drift::DRIFT_GAUGE as STREAM_DRIFT;

pub const PUBLISHED: &str = "xregion_bus_published_total";
pub const HANDLED: &str = "xregion_bus_handled_total";
pub const HANDLER_PANICS: &str = "xregion_bus_handler_panics_total";
pub const UNAVAILABLE: &str = "xregion_bus_unavailable_total";
pub const DEAD_LETTERS: &str = "xregion_dead_letters_total";
pub const CONSUMERS_RECREATED: &str = "xregion_bus_consumers_recreated_total";
pub const STREAMS_RECREATED: &str = "xregion_bus_streams_recreated_total";
pub const LEASE_HELD: &str = "xregion_lease_held";
pub const LEASE_TICKS: &str = "xregion_lease_ticks_total";
pub const RPC_SHED: &str = "xregion_catalog_requests_shed_total";

/// Every name this crate (and the runtime's leased loops) exports.
pub const NAMES: [&str; 11] = [
    PUBLISHED,
    HANDLED,
    HANDLER_PANICS,
    UNAVAILABLE,
    DEAD_LETTERS,
    CONSUMERS_RECREATED,
    STREAMS_RECREATED,
    STREAM_DRIFT,
    LEASE_HELD,
    LEASE_TICKS,
    RPC_SHED,
];

pub fn describe() {
    describe_counter!(
        PUBLISHED,
        Unit::Count,
        "messages published to a JetStream stream and acknowledged by it, by stream"
    );
    describe_counter!(
        HANDLED,
        Unit::Count,
        "deliveries handled, by durable consumer and outcome (ack, retry, unavailable, reject)"
    );
    describe_counter!(
        HANDLER_PANICS,
        Unit::Count,
        "deliveries whose handler panicked (counted as a failed attempt), by durable"
    );
    describe_counter!(
        UNAVAILABLE,
        Unit::Count,
        "deliveries put back because a dependency was unavailable (not counted as attempts), by durable"
    );
    describe_counter!(
        DEAD_LETTERS,
        Unit::Count,
        "messages moved to the dead-letter stream after their last attempt or a rejection, by the stream they came from and durable"
    );
    describe_counter!(
        CONSUMERS_RECREATED,
        Unit::Count,
        "durable consumers declared again after they were lost, by durable"
    );
    describe_counter!(
        STREAMS_RECREATED,
        Unit::Count,
        "streams declared again after they were deleted, by stream"
    );
    describe_gauge!(
        STREAM_DRIFT,
        "settings of an xregion stream that differ on the server from what xregion declares (0: none); they are reported, never changed back"
    );
    describe_gauge!(
        LEASE_HELD,
        "1 while this replica holds the lease (one replica runs the loop), 0 otherwise"
    );
    describe_counter!(
        LEASE_TICKS,
        Unit::Count,
        "ticks of a leased loop run by this replica, by lease"
    );
    describe_counter!(
        RPC_SHED,
        Unit::Count,
        "catalog requests answered UNAVAILABLE at once because catalog.max_requests_in_flight were being answered, by method"
    );
}
