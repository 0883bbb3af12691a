//! Bearer-token authentication. Only token hashes are configured, so the
//! configuration never holds a usable secret.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;
use tonic::Status;

use crate::config::TokenConfig;

#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tenants_by_hash: HashMap<String, String>,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Authenticator {
    pub fn new(tokens: &[TokenConfig]) -> Result<Self, String> {
        let mut tenants_by_hash = HashMap::new();
        for t in tokens {
            let hash = t.sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "token for tenant {:?}: sha256 must be 64 hex digits",
                    t.tenant
                ));
            }
            xregion_domain::ids::validate_id("tenant", &t.tenant).map_err(|e| e.to_string())?;
            tenants_by_hash.insert(hash, t.tenant.clone());
        }
        Ok(Self { tenants_by_hash })
    }

    /// The tenant of the request's `authorization: Bearer <token>`.
    pub fn tenant(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let header = metadata
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("authorization header is not text"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be 'Bearer <token>'"))?;
        self.tenants_by_hash
            .get(&token_hash(token.trim()))
            .cloned()
            .ok_or_else(|| Status::unauthenticated("unknown token"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(&[TokenConfig {
            sha256: token_hash("s3cret"),
            tenant: "acme".into(),
        }])
        .unwrap()
    }

    fn md(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn known_token_maps_to_its_tenant() {
        assert_eq!(auth().tenant(&md("Bearer s3cret")).unwrap(), "acme");
    }

    #[test]
    fn missing_wrong_or_malformed_tokens_are_unauthenticated() {
        let a = auth();
        for m in [
            MetadataMap::new(),
            md("Bearer nope"),
            md("s3cret"),
            md("Basic s3cret"),
        ] {
            assert_eq!(
                a.tenant(&m).unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
        }
    }

    #[test]
    fn rejects_malformed_hashes() {
        assert!(Authenticator::new(&[TokenConfig {
            sha256: "abc".into(),
            tenant: "t".into()
        }])
        .is_err());
    }
}
