//! JWT bearer tokens verified against a JWKS: the signature with the
//! jsonwebtoken crate, the claims (`exp`, `nbf`, `iss`, `aud`, the tenant)
//! by pure code with an explicit clock, so every rule is unit-tested.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::JwtSettings;

/// Why a token was refused; the text goes to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is not a well-formed JWT")]
    Malformed,
    #[error("token algorithm {0} is not accepted (RS256, ES256, EdDSA)")]
    UnsupportedAlgorithm(String),
    #[error("token key id is not in the key set")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token has no {0} claim")]
    MissingClaim(String),
    #[error("token claim {claim} is not a valid tenant id")]
    BadTenant { claim: String },
}

/// A JWKS that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWKS document: {0}")]
    Parse(String),
    #[error("no usable key (RS256, ES256 on P-256, EdDSA on Ed25519); skipped: {0}")]
    NoUsableKey(String),
}

/// What a token must say to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtPolicy {
    pub issuer: String,
    pub audience: String,
    pub tenant_claim: String,
    pub leeway_secs: u64,
}

impl JwtPolicy {
    pub fn from_settings(s: &JwtSettings) -> Result<Self, String> {
        if s.issuer.is_empty() || s.audience.is_empty() {
            return Err("gateway.jwt.issuer and gateway.jwt.audience must be set".into());
        }
        if s.tenant_claim.is_empty() {
            return Err("gateway.jwt.tenant_claim must not be empty".into());
        }
        Ok(Self {
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
            tenant_claim: s.tenant_claim.clone(),
            leeway_secs: s.leeway.as_secs(),
        })
    }
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The verification keys of one JWKS document.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl KeySet {
    /// Parses a JWKS document. Keys of other kinds (encryption keys, HMAC
    /// secrets, other curves) are skipped and named in the second value; a
    /// document without any usable key is an error, so a bad file never
    /// replaces good keys with none.
    pub fn parse(json: &str) -> Result<(Self, Vec<String>), JwksError> {
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<Value>,
        }
        let doc: Doc = serde_json::from_str(json).map_err(|e| JwksError::Parse(e.to_string()))?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (i, raw) in doc.keys.into_iter().enumerate() {
            let jwk: Jwk = match serde_json::from_value(raw) {
                Ok(j) => j,
                Err(e) => {
                    skipped.push(format!("key {i}: {e}"));
                    continue;
                }
            };
            let name = jwk
                .common
                .key_id
                .clone()
                .unwrap_or_else(|| format!("key {i}"));
            match usable(&jwk) {
                Ok((alg, key)) => keys.push(Key {
                    kid: jwk.common.key_id.clone(),
                    alg,
                    key,
                }),
                Err(reason) => skipped.push(format!("{name}: {reason}")),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey(if skipped.is_empty() {
                "none".into()
            } else {
                skipped.join("; ")
            }));
        }
        Ok((Self { keys }, skipped))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The one algorithm a key may verify, by its type and curve; a declared
/// `alg` must agree, so a token cannot pick a weaker use of the key.
fn usable(jwk: &Jwk) -> Result<(Algorithm, DecodingKey), String> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("an encryption key".into());
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => return Err("a shared secret (oct)".into()),
        _ => return Err("an unsupported curve".into()),
    };
    let declared = jwk.common.key_algorithm;
    let agrees = match declared {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => alg == Algorithm::EdDSA,
        Some(_) => false,
    };
    if !agrees {
        return Err(format!("alg {declared:?} is not accepted for this key"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    Ok((alg, key))
}

/// Whether a bearer token has the shape of a JWT (three dot-separated
/// parts), as opposed to an opaque static token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Verifies the token's signature with the key set, then its claims at
/// `now` (seconds since the epoch); returns the tenant.
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &JwtPolicy,
    now: u64,
) -> Result<String, JwtError> {
    let claims = verify_signature(token, keys)?;
    tenant_of(&claims, policy, now)
}

fn verify_signature(token: &str, keys: &KeySet) -> Result<Map<String, Value>, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if !matches!(
        header.alg,
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
    ) {
        return Err(JwtError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
    }
    let candidates: Vec<&Key> = keys
        .keys
        .iter()
        .filter(|k| k.alg == header.alg)
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .collect();
    if candidates.is_empty() {
        return Err(if header.kid.is_some() {
            JwtError::UnknownKey
        } else {
            JwtError::BadSignature
        });
    }
    // Only the signature here: the claims are checked by `tenant_of` with an
    // explicit clock.
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut last = JwtError::BadSignature;
    for key in candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => {
                last = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature
                    | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
                    | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
                    | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
                    | jsonwebtoken::errors::ErrorKind::Crypto(_) => JwtError::BadSignature,
                    _ => JwtError::Malformed,
                }
            }
        }
    }
    Err(last)
}

/// The claim checks: `exp` required and in the future, `nbf` (when present)
/// in the past, `iss` equal to the policy's, `aud` (a string or a list)
/// containing the policy's, and the tenant claim a valid id.
pub fn tenant_of(
    claims: &Map<String, Value>,
    policy: &JwtPolicy,
    now: u64,
) -> Result<String, JwtError> {
    let missing = |c: &str| JwtError::MissingClaim(c.to_string());
    let leeway = policy.leeway_secs as f64;
    let now = now as f64;
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or_else(|| missing("exp"))?;
    if now - leeway >= exp {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_f64().ok_or(JwtError::Malformed)?;
        if now + leeway < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    match claims.get("iss") {
        None => return Err(missing("iss")),
        Some(Value::String(iss)) if *iss == policy.issuer => {}
        Some(_) => return Err(JwtError::WrongIssuer),
    }
    let audience_ok = match claims.get("aud") {
        None => return Err(missing("aud")),
        Some(Value::String(a)) => *a == policy.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&policy.audience)),
        Some(_) => false,
    };
    if !audience_ok {
        return Err(JwtError::WrongAudience);
    }
    let tenant = match claims.get(&policy.tenant_claim) {
        None => return Err(missing(&policy.tenant_claim)),
        Some(Value::String(t)) => t,
        Some(_) => {
            return Err(JwtError::BadTenant {
                claim: policy.tenant_claim.clone(),
            })
        }
    };
    xregion_domain::ids::validate_id("tenant", tenant).map_err(|_| JwtError::BadTenant {
        claim: policy.tenant_claim.clone(),
    })?;
    Ok(tenant.clone())
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
