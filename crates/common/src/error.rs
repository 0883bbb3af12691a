use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(#[from] Box<figment::Error>),
    #[error(
        "configuration: unknown key `{key}` (section `{section}`) {origin}; expected {expected}"
    )]
    UnknownKey {
        key: String,
        section: String,
        /// Where it was set: a file, an environment variable, a flag.
        origin: String,
        expected: String,
    },
    #[error("configuration: unknown section `{section}` {origin}; known sections: {known}")]
    UnknownSection {
        section: String,
        origin: String,
        known: String,
    },
    #[error("configuration: {0}")]
    Invalid(#[from] crate::validate::Invalid),
    #[error("configuration: bad value for `{key}` (section `{section}`) {origin}: {reason}")]
    BadValue {
        key: String,
        section: String,
        origin: String,
        reason: String,
    },
    #[error("region {region}: {reason}")]
    Region { region: String, reason: String },
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("config dump: {0}")]
    Dump(#[from] toml::ser::Error),
    #[error("manifest {key}: {reason}")]
    Manifest { key: String, reason: String },
    #[error(transparent)]
    Plan(#[from] xregion_domain::chain::PlanError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{key}: cannot read {path:?}: {reason}")]
    SecretFile {
        key: String,
        path: std::path::PathBuf,
        reason: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
