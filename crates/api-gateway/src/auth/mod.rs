//! Who is calling: `authorization: Bearer <token>` → tenant. A token is
//! either a static one (only its sha256 is configured) or a JWT verified
//! against a JWKS. Both lists can change while the gateway runs
//! (`reload`), so the current ones sit behind a lock.

pub mod jwt;
pub mod reload;
pub mod tokens;

use std::sync::{Arc, RwLock};
use xregion_common::clock::Clock;

use tonic::metadata::MetadataMap;
use tonic::Status;

use crate::config::TokenConfig;
use jwt::{JwtPolicy, KeySet};
pub use tokens::token_hash;
use tokens::{TokenError, TokenTable};

#[derive(Debug, Clone)]
pub struct Authenticator {
    inline: Arc<Vec<TokenConfig>>,
    policy: Option<Arc<JwtPolicy>>,
    current: Arc<RwLock<Current>>,
}

#[derive(Debug, Default)]
struct Current {
    tokens: TokenTable,
    keys: KeySet,
}

impl Authenticator {
    /// `inline` are the configured tokens (fixed), `from_file` the tokens
    /// file's (replaceable); `jwt` turns on JWT bearer tokens.
    pub fn new(
        inline: &[TokenConfig],
        from_file: &[TokenConfig],
        jwt: Option<(JwtPolicy, KeySet)>,
    ) -> Result<Self, TokenError> {
        let tokens = TokenTable::new(inline.iter().chain(from_file))?;
        let (policy, keys) = match jwt {
            Some((p, k)) => (Some(Arc::new(p)), k),
            None => (None, KeySet::default()),
        };
        Ok(Self {
            inline: Arc::new(inline.to_vec()),
            policy,
            current: Arc::new(RwLock::new(Current { tokens, keys })),
        })
    }

    /// Static tokens only (tests, simple setups).
    pub fn with_tokens(tokens: &[TokenConfig]) -> Result<Self, TokenError> {
        Self::new(tokens, &[], None)
    }

    /// Replaces the tokens file's tokens; on error the current ones stay.
    /// Returns how many distinct tokens are accepted now.
    pub fn replace_file_tokens(&self, from_file: &[TokenConfig]) -> Result<usize, TokenError> {
        let tokens = TokenTable::new(self.inline.iter().chain(from_file))?;
        let n = tokens.len();
        self.write().tokens = tokens;
        Ok(n)
    }

    /// Replaces the JWT verification keys.
    pub fn replace_keys(&self, keys: KeySet) {
        self.write().keys = keys;
    }

    pub fn accepts_jwt(&self) -> bool {
        self.policy.is_some()
    }

    /// The tenant of the request's `authorization: Bearer <token>`.
    pub fn tenant(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let now =
            u64::try_from(xregion_common::SystemClock::default().now_ms() / 1000).unwrap_or(0);
        self.tenant_at(metadata, now).map_err(|reason| {
            tracing::info!(%reason, "request refused: unauthenticated");
            crate::error::unauthenticated(reason)
        })
    }

    fn tenant_at(&self, metadata: &MetadataMap, now: u64) -> Result<String, String> {
        let header = metadata
            .get("authorization")
            .ok_or("missing authorization: Bearer <token>")?
            .to_str()
            .map_err(|_| "authorization header is not text")?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or("authorization must be 'Bearer <token>'")?
            .trim();
        let current = self.read();
        if let Some(tenant) = current.tokens.tenant(token) {
            return Ok(tenant.to_string());
        }
        match &self.policy {
            Some(policy) if jwt::looks_like_jwt(token) => {
                jwt::verify(token, &current.keys, policy, now).map_err(|e| e.to_string())
            }
            _ => Err("unknown token".into()),
        }
    }

    // A panic while holding the lock cannot leave a half-written table (each
    // write is one assignment), so a poisoned lock is still good to use.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Current> {
        self.current.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::tokens::test_token;
    use super::*;

    fn md(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn known_token_maps_to_its_tenant() {
        let a = Authenticator::with_tokens(&[test_token("s3cret", "acme")]).unwrap();
        assert_eq!(a.tenant(&md("Bearer s3cret")).unwrap(), "acme");
        assert_eq!(a.tenant(&md("bearer  s3cret ")).unwrap(), "acme");
    }

    #[test]
    fn missing_wrong_or_malformed_tokens_are_unauthenticated() {
        let a = Authenticator::with_tokens(&[test_token("s3cret", "acme")]).unwrap();
        for m in [
            MetadataMap::new(),
            md("Bearer nope"),
            md("s3cret"),
            md("Basic s3cret"),
            md("Bearer a.b.c"),
        ] {
            assert_eq!(
                a.tenant(&m).unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
        }
    }

    #[test]
    fn file_tokens_are_replaced_and_inline_ones_stay() {
        let a = Authenticator::new(
            &[test_token("inline", "acme")],
            &[test_token("old", "acme")],
            None,
        )
        .unwrap();
        assert!(a.tenant(&md("Bearer old")).is_ok());
        assert_eq!(
            a.replace_file_tokens(&[test_token("new", "globex")])
                .unwrap(),
            2
        );
        assert!(a.tenant(&md("Bearer old")).is_err());
        assert_eq!(a.tenant(&md("Bearer new")).unwrap(), "globex");
        assert_eq!(a.tenant(&md("Bearer inline")).unwrap(), "acme");
        // A bad list is refused and the current one stays.
        assert!(a
            .replace_file_tokens(&[test_token("inline", "globex")])
            .is_err());
        assert_eq!(a.tenant(&md("Bearer new")).unwrap(), "globex");
    }
}
