//! Generated code for the contracts in `proto/`.

#[allow(
    clippy::large_enum_variant,
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items
)]
pub mod rds {
    pub mod v1 {
        tonic::include_proto!("rds.v1");
    }
}

#[allow(
    clippy::large_enum_variant,
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items
)]
pub mod xregion {
    pub mod v1 {
        tonic::include_proto!("xregion.v1");
    }
}

/// The encoded file descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("xregion_descriptor");

pub mod convert;

/// Response metadata of `Watch`: the cursor the watch starts after, so a
/// client that reconnects resumes there. Set by the gateway, read by the CLI.
pub const WATCH_CURSOR_HEADER: &str = "xregion-watch-cursor";

pub use prost;
pub use prost_types::Timestamp;
