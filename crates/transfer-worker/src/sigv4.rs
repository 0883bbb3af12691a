//! AWS Signature Version 4 for the few S3 requests object_store has no call
//! for (a copy whose source is another bucket): the canonical request, the
//! string to sign and the signature, as documented by AWS, checked against
//! AWS's own examples. Header-based signing only, payload hash given by the
//! caller (copies have an empty body).

use sha2::{Digest, Sha256};

/// The sha256 of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Who signs: an access key, its secret, and the session token of
/// temporary credentials.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// One request to sign. `path` is already URI-encoded (S3 keys are encoded
/// once, slashes kept); `query` pairs are raw and encoded here.
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    /// Headers other than host, x-amz-date and x-amz-content-sha256.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload_sha256: &'a str,
}

/// The headers to send: the given ones plus host, x-amz-date,
/// x-amz-content-sha256, the session token and Authorization.
pub fn sign(
    req: &Request<'_>,
    creds: &Credentials,
    region: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.push(("host".into(), req.host.into()));
    headers.push(("x-amz-content-sha256".into(), req.payload_sha256.into()));
    headers.push(("x-amz-date".into(), amz_date.into()));
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical = canonical_request(req, &headers, &signed);
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&creds.secret_access_key, date, region, "s3");
    let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed},Signature={signature}",
            creds.access_key_id
        ),
    ));
    headers
}

fn canonical_request(req: &Request<'_>, headers: &[(String, String)], signed: &str) -> String {
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (encode(k, true), encode(v, true)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    format!(
        "{}\n{}\n{}\n{headers}\n{signed}\n{}",
        req.method,
        req.path,
        query.join("&"),
        req.payload_sha256
    )
}

/// URI-encodes as SigV4 wants: unreserved characters kept, everything
/// else `%XX`; a slash kept unless `slash` says to encode it.
pub fn encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, service.as_bytes());
    hmac_sha256(&k, b"aws4_request")
}

/// HMAC (RFC 2104) over sha256: eleven lines instead of one more crate.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials of AWS's S3 signing examples.
    fn example() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn signature(headers: &[(String, String)]) -> String {
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        auth.rsplit("Signature=").next().unwrap().to_string()
    }

    const HOST: &str = "examplebucket.s3.amazonaws.com";
    const DATE: &str = "20130524T000000Z";

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than a block is hashed first (RFC 4231 case 6).
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signing_key_matches_the_aws_general_reference_example() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn get_object_example() {
        let req = Request {
            method: "GET",
            host: HOST,
            path: "/test.txt",
            query: &[],
            headers: &[("Range", "bytes=0-9")],
            payload_sha256: EMPTY_SHA256,
        };
        let headers = sign(&req, &example(), "us-east-1", DATE);
        assert_eq!(
            signature(&headers),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        let auth = &headers.last().unwrap().1;
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"), "{auth}");
    }

    #[test]
    fn put_object_example() {
        let body = "Welcome to Amazon S3.";
        let sha = hex::encode(Sha256::digest(body));
        assert_eq!(
            sha,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let req = Request {
            method: "PUT",
            host: HOST,
            path: &format!("/{}", encode("test$file.text", false)),
            query: &[],
            headers: &[
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            payload_sha256: &sha,
        };
        let headers = sign(&req, &example(), "us-east-1", DATE);
        assert_eq!(
            signature(&headers),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn query_string_examples() {
        let lifecycle = Request {
            method: "GET",
            host: HOST,
            path: "/",
            query: &[("lifecycle", "")],
            headers: &[],
            payload_sha256: EMPTY_SHA256,
        };
        assert_eq!(
            signature(&sign(&lifecycle, &example(), "us-east-1", DATE)),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
        let list = Request {
            query: &[("prefix", "J"), ("max-keys", "2")],
            ..lifecycle
        };
        assert_eq!(
            signature(&sign(&list, &example(), "us-east-1", DATE)),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn keys_are_encoded_once_slashes_kept_in_paths() {
        assert_eq!(encode("a b/c+d~e", false), "a%20b/c%2Bd~e");
        assert_eq!(encode("a/b", true), "a%2Fb");
        assert_eq!(encode("é", false), "%C3%A9");
    }

    #[test]
    fn a_session_token_is_signed_and_the_secret_never_shown() {
        let creds = Credentials {
            session_token: Some("tok".into()),
            ..example()
        };
        let req = Request {
            method: "GET",
            host: HOST,
            path: "/",
            query: &[],
            headers: &[],
            payload_sha256: EMPTY_SHA256,
        };
        let headers = sign(&req, &creds, "us-east-1", DATE);
        assert!(headers
            .iter()
            .any(|(k, v)| k == "x-amz-security-token" && v == "tok"));
        assert!(headers.last().unwrap().1.contains("x-amz-security-token"));
        assert!(!format!("{creds:?}").contains("EXAMPLEKEY"));
    }
}
