//! Static bearer tokens. Only sha256 hashes are configured, so neither the
//! configuration nor the tokens file ever holds a usable secret.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::config::TokenConfig;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token for tenant {tenant:?}: sha256 must be 64 hex digits")]
    BadHash { tenant: String },
    #[error("token for tenant {tenant:?}: {reason}")]
    BadTenant { tenant: String, reason: String },
    #[error("one token hash is listed for two tenants, {first:?} and {second:?}")]
    Conflict { first: String, second: String },
    #[error("not a tokens file (`tokens = [{{ sha256 = \"…\", tenant = \"…\" }}]`): {0}")]
    Parse(String),
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Token hash → tenant.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    tenants_by_hash: HashMap<String, String>,
}

impl TokenTable {
    /// A hash listed twice for the same tenant is harmless; for two tenants
    /// it is refused, since either answer would be a guess.
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a TokenConfig>) -> Result<Self, TokenError> {
        let mut tenants_by_hash: HashMap<String, String> = HashMap::new();
        for t in tokens {
            let hash = t.sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(TokenError::BadHash {
                    tenant: t.tenant.clone(),
                });
            }
            xregion_domain::ids::validate_id("tenant", &t.tenant).map_err(|e| {
                TokenError::BadTenant {
                    tenant: t.tenant.clone(),
                    reason: e.to_string(),
                }
            })?;
            if let Some(first) = tenants_by_hash.get(&hash) {
                if *first != t.tenant {
                    return Err(TokenError::Conflict {
                        first: first.clone(),
                        second: t.tenant.clone(),
                    });
                }
            }
            tenants_by_hash.insert(hash, t.tenant.clone());
        }
        Ok(Self { tenants_by_hash })
    }

    pub fn tenant(&self, token: &str) -> Option<&str> {
        self.tenants_by_hash
            .get(&token_hash(token))
            .map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.tenants_by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tenants_by_hash.is_empty()
    }
}

/// The tokens of a tokens file: the same shape as `gateway.tokens`.
pub fn parse_tokens_file(text: &str) -> Result<Vec<TokenConfig>, TokenError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        tokens: Vec<TokenConfig>,
    }
    let file: File = toml::from_str(text).map_err(|e| TokenError::Parse(e.to_string()))?;
    Ok(file.tokens)
}

/// The configured entry of `token` for `tenant`, as the tests write one.
#[cfg(test)]
pub(crate) fn test_token(token: &str, tenant: &str) -> TokenConfig {
    TokenConfig {
        sha256: token_hash(token),
        tenant: tenant.into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_token_maps_to_its_tenant() {
        let t = TokenTable::new(&[test_token("s3cret", "acme")]).unwrap();
        assert_eq!(t.tenant("s3cret"), Some("acme"));
        assert_eq!(t.tenant("nope"), None);
    }

    #[test]
    fn rejects_malformed_hashes_bad_tenants_and_conflicts() {
        let bad = TokenConfig {
            sha256: "abc".into(),
            tenant: "t".into(),
        };
        assert!(matches!(
            TokenTable::new(&[bad]),
            Err(TokenError::BadHash { .. })
        ));
        assert!(matches!(
            TokenTable::new(&[test_token("x", "../t")]),
            Err(TokenError::BadTenant { .. })
        ));
        assert!(matches!(
            TokenTable::new(&[test_token("x", "a"), test_token("x", "b")]),
            Err(TokenError::Conflict { .. })
        ));
        assert_eq!(
            TokenTable::new(&[test_token("x", "a"), test_token("x", "a")])
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn tokens_file_has_the_config_shape() {
        let text = format!(
            "[[tokens]]\nsha256 = \"{}\"\ntenant = \"acme\"\n",
            token_hash("s3cret")
        );
        let tokens = parse_tokens_file(&text).unwrap();
        assert_eq!(tokens, vec![test_token("s3cret", "acme")]);
        assert!(parse_tokens_file("tokens = 3").is_err());
        assert!(parse_tokens_file("tokns = []").is_err());
        assert!(parse_tokens_file("").unwrap().is_empty());
    }
}
