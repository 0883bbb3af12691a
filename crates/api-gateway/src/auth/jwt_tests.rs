#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

const NOW: u64 = 1_800_000_000;

/// A signing key and its public JWK.
struct Signer {
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa(kid: &str) -> Signer {
    // A fixed, test-only key: ring cannot generate RSA keys.
    let pem = include_str!("testdata/rsa-test-only.pem");
    let n = include_str!("testdata/rsa-test-only.n").trim();
    Signer {
        alg: Algorithm::RS256,
        key: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"}),
    }
}

fn es256(kid: &str) -> Signer {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = kp.public_key_raw();
    Signer {
        alg: Algorithm::ES256,
        key: EncodingKey::from_ec_der(&kp.serialize_der()),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}),
    }
}

fn eddsa(kid: &str) -> Signer {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    Signer {
        alg: Algorithm::EdDSA,
        key: EncodingKey::from_ed_der(&kp.serialize_der()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(kp.public_key_raw())}),
    }
}

fn policy() -> JwtPolicy {
    JwtPolicy {
        issuer: "https://idp.example".into(),
        audience: "xregion".into(),
        tenant_claim: "tenant".into(),
        leeway_secs: 30,
    }
}

fn good_claims() -> Value {
    json!({"iss": "https://idp.example", "aud": "xregion", "exp": NOW + 600, "nbf": NOW - 10, "tenant": "acme"})
}

fn sign(s: &Signer, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(s.alg);
    header.kid = kid.map(String::from);
    jsonwebtoken::encode(&header, claims, &s.key).unwrap()
}

fn jwks(signers: &[&Signer]) -> KeySet {
    let doc = json!({"keys": signers.iter().map(|s| s.jwk.clone()).collect::<Vec<_>>()});
    KeySet::parse(&doc.to_string()).unwrap().0
}

/// What `verify` makes of `token` under the test policy, now.
fn verified(token: &str, keys: &KeySet) -> Result<String, JwtError> {
    verify(token, keys, &policy(), NOW)
}

/// The tenant `claims` name under `policy`, now.
fn tenant(claims: &Value, policy: &JwtPolicy) -> Result<String, JwtError> {
    tenant_of(claims.as_object().unwrap(), policy, NOW)
}

#[test]
fn each_accepted_algorithm_verifies_and_yields_the_tenant() {
    for s in [rsa("r"), es256("e"), eddsa("d")] {
        let keys = jwks(&[&s]);
        let with_kid = sign(&s, s.jwk["kid"].as_str(), &good_claims());
        assert_eq!(verified(&with_kid, &keys).unwrap(), "acme", "{:?}", s.alg);
        let without_kid = sign(&s, None, &good_claims());
        assert_eq!(verified(&without_kid, &keys).unwrap(), "acme");
    }
}

#[test]
fn a_token_signed_by_another_key_is_refused() {
    let trusted = es256("k1");
    let attacker = es256("k1");
    let keys = jwks(&[&trusted, &eddsa("k2")]);
    let forged = sign(&attacker, Some("k1"), &good_claims());
    assert_eq!(verified(&forged, &keys), Err(JwtError::BadSignature));
    let forged = sign(&attacker, None, &good_claims());
    assert_eq!(verified(&forged, &keys), Err(JwtError::BadSignature));
    let unknown = sign(&trusted, Some("other"), &good_claims());
    assert_eq!(verified(&unknown, &keys), Err(JwtError::UnknownKey));
}

#[test]
fn a_tampered_payload_is_refused() {
    let s = eddsa("d");
    let keys = jwks(&[&s]);
    let token = sign(&s, None, &good_claims());
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut evil = good_claims();
    evil["tenant"] = json!("victim");
    parts[1] = b64(evil.to_string().as_bytes());
    assert_eq!(
        verified(&parts.join("."), &keys),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn hmac_and_none_tokens_are_refused_even_with_a_public_key_as_secret() {
    let s = rsa("r");
    let keys = jwks(&[&s]);
    // The classic confusion: HS256 keyed with the public key's bytes.
    let n = s.jwk["n"].as_str().unwrap().to_string();
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good_claims(),
        &EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();
    assert!(matches!(
        verified(&hs, &keys),
        Err(JwtError::UnsupportedAlgorithm(_))
    ));
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good_claims().to_string().as_bytes())
    );
    assert_eq!(verified(&none, &keys), Err(JwtError::Malformed));
    assert_eq!(verified("a.b.c", &keys), Err(JwtError::Malformed));
}

#[test]
fn an_es256_token_cannot_use_an_rsa_key_and_vice_versa() {
    let r = rsa("same");
    let e = es256("same");
    let keys = jwks(&[&r]);
    let token = sign(&e, Some("same"), &good_claims());
    assert_eq!(verified(&token, &keys), Err(JwtError::UnknownKey));
}

#[test]
fn expiry_and_not_before_respect_the_leeway() {
    let p = policy();
    let mut c = good_claims();
    c["exp"] = json!(NOW - 31);
    assert_eq!(tenant(&c, &p), Err(JwtError::Expired));
    c["exp"] = json!(NOW - 29);
    assert_eq!(tenant(&c, &p).unwrap(), "acme");
    c["nbf"] = json!(NOW + 31);
    assert_eq!(tenant(&c, &p), Err(JwtError::NotYetValid));
    c["nbf"] = json!(NOW + 29);
    assert!(tenant(&c, &p).is_ok());
    c.as_object_mut().unwrap().remove("nbf");
    assert!(tenant(&c, &p).is_ok());
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(tenant(&c, &p), Err(JwtError::MissingClaim("exp".into())));
}

#[test]
fn issuer_and_audience_must_match() {
    let p = policy();
    let with = |k: &str, v: Value| {
        let mut c = good_claims();
        c[k] = v;
        tenant(&c, &p)
    };
    assert_eq!(
        with("iss", json!("https://evil.example")),
        Err(JwtError::WrongIssuer)
    );
    assert_eq!(
        with("iss", json!(["https://idp.example"])),
        Err(JwtError::WrongIssuer)
    );
    assert_eq!(with("aud", json!("other")), Err(JwtError::WrongAudience));
    assert_eq!(
        with("aud", json!(["other", "more"])),
        Err(JwtError::WrongAudience)
    );
    assert_eq!(with("aud", json!(["other", "xregion"])).unwrap(), "acme");
    assert_eq!(with("aud", json!(7)), Err(JwtError::WrongAudience));
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(tenant(&c, &p), Err(JwtError::MissingClaim("aud".into())));
}

#[test]
fn the_tenant_comes_from_the_configured_claim_and_must_be_an_id() {
    let mut p = policy();
    p.tenant_claim = "https://xregion/tenant".into();
    let mut c = good_claims();
    assert_eq!(
        tenant(&c, &p),
        Err(JwtError::MissingClaim("https://xregion/tenant".into()))
    );
    c["https://xregion/tenant"] = json!("globex");
    assert_eq!(tenant(&c, &p).unwrap(), "globex");
    for bad in [json!("../etc"), json!(""), json!(42), json!(["acme"])] {
        c["https://xregion/tenant"] = bad;
        assert!(matches!(tenant(&c, &p), Err(JwtError::BadTenant { .. })));
    }
}

#[test]
fn jwks_skips_unusable_keys_and_refuses_a_set_without_any() {
    let doc = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "RSA", "use": "enc", "n": "AA", "e": "AQAB"},
        {"kty": "RSA", "alg": "PS256", "n": "AA", "e": "AQAB"},
        {"kty": "weird"},
    ]});
    assert!(matches!(
        KeySet::parse(&doc.to_string()),
        Err(JwksError::NoUsableKey(_))
    ));
    assert!(matches!(
        KeySet::parse("not json"),
        Err(JwksError::Parse(_))
    ));
    assert!(matches!(
        KeySet::parse(r#"{"keys": []}"#),
        Err(JwksError::NoUsableKey(_))
    ));
    let mut keys = doc["keys"].as_array().unwrap().clone();
    keys.push(eddsa("good").jwk);
    let (set, skipped) = KeySet::parse(&json!({ "keys": keys }).to_string()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(skipped.len(), 5);
}

#[test]
fn jwt_shape() {
    assert!(looks_like_jwt("a.b.c"));
    assert!(!looks_like_jwt("token-of-tenant-a"));
    assert!(!looks_like_jwt("a.b"));
}
