use thiserror::Error;

/// What stops a drill pass; the pass is tried again on the next tick. A
/// drill that ran and failed is not an error here: it is reported.
#[derive(Debug, Error)]
pub enum DrillError {
    #[error("catalog: {0}")]
    Catalog(#[from] xregion_bus::BusError),
    #[error("service {service_id} copies into region {region}, which this configuration lacks")]
    UnknownRegion { service_id: String, region: String },
    #[error("{0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, DrillError>;
