//! Generated code for the contracts in `proto/`.

pub mod rds {
    pub mod v1 {
        tonic::include_proto!("rds.v1");
    }
}

pub mod xregion {
    pub mod v1 {
        tonic::include_proto!("xregion.v1");
    }
}

/// The encoded file descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("xregion_descriptor");

pub mod convert;

pub use prost;
pub use prost_types::Timestamp;
