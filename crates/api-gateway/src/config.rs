use serde::{Deserialize, Serialize};
use xregion_common::CommonConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub gateway: GatewaySettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewaySettings {
    /// gRPC listen address.
    pub listen: String,
    /// Accepted bearer tokens, stored only as sha256 hashes.
    pub tokens: Vec<TokenConfig>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            tokens: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenConfig {
    /// Lower-case hex sha256 of the token (`printf %s TOKEN | sha256sum`).
    pub sha256: String,
    pub tenant: String,
}

impl xregion_runtime::HasCommon for GatewayConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
