//! The gRPC edge as a trust boundary, probed on the real stack: plaintext
//! only on loopback unless allowed, TLS with the CLI, mutual TLS, JWT
//! identities (signature, expiry, audience, issuer, tenant claim, tenant
//! isolation), key and token rotation without a restart, and authentication
//! before validation. Certificates and keys are made here with rcgen.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::cross_region_backup_service_client::CrossRegionBackupServiceClient;
use xregion_rds_sim::Upstream;
use xregion_tests::net::free_port;
use xregion_tests::process::ChildProcess;
use xregion_tests::stack::{authed, bin_dir, token_sha, TENANT_A, TENANT_B, TOKEN_A, TOKEN_B};
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

type Api = CrossRegionBackupServiceClient<Channel>;

/// A stack with only what the edge needs: the catalog now, the gateway
/// started by the test with its own flags.
async fn catalog_only(extra_config: String) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        services: vec!["catalog"],
        extra_config,
        ..Default::default()
    })
    .await
}

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client
/// certificate, as PEM files; plus a client certificate of another CA.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    rogue_cert: PathBuf,
    rogue_key: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (p.self_signed(&key).unwrap(), key)
}

fn leaf(
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    issuer: &(rcgen::Certificate, KeyPair),
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![purpose];
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn write(dir: &Path) -> anyhow::Result<Self> {
        let root = ca("xregion test CA");
        let rogue_root = ca("someone else's CA");
        let (server_cert, server_key) = leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &root,
        );
        let (client_cert, client_key) =
            leaf(&["ops-client"], ExtendedKeyUsagePurpose::ClientAuth, &root);
        let (rogue_cert, rogue_key) = leaf(
            &["rogue-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &rogue_root,
        );
        let file = |name: &str, pem: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, pem)?;
            Ok(path)
        };
        Ok(Self {
            ca: file("ca.pem", &root.0.pem())?,
            server_cert: file("server.pem", &server_cert)?,
            server_key: file("server.key", &server_key)?,
            client_cert: file("client.pem", &client_cert)?,
            client_key: file("client.key", &client_key)?,
            rogue_cert: file("rogue.pem", &rogue_cert)?,
            rogue_key: file("rogue.key", &rogue_key)?,
        })
    }

    /// A TLS channel trusting the test CA, optionally with a client identity.
    async fn channel(&self, addr: &str, identity: Option<(&Path, &Path)>) -> anyhow::Result<Api> {
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(&self.ca)?));
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(cert)?,
                std::fs::read(key)?,
            ));
        }
        let channel = Channel::from_shared(format!("https://{addr}"))?
            .tls_config(tls)?
            .connect()
            .await?;
        Ok(CrossRegionBackupServiceClient::new(channel))
    }
}

async fn regions(api: &mut Api, token: &str) -> Result<usize, tonic::Status> {
    Ok(api
        .list_regions(authed(token, pb::ListRegionsRequest {}))
        .await?
        .into_inner()
        .regions
        .len())
}

fn cli(args: &[&str]) -> Output {
    Command::new(bin_dir().unwrap().join("xregion"))
        .args(args)
        .env_remove("XREGION_ENDPOINT")
        .env_remove("XREGION_CA_CERT")
        .env_remove("XREGION_CLIENT_CERT")
        .env_remove("XREGION_CLIENT_KEY")
        .env("XREGION_TOKEN", TOKEN_A)
        .output()
        .unwrap()
}

use xregion_tests::process::output_text as text;

#[tokio::test]
async fn plaintext_is_refused_off_loopback_unless_allowed() -> anyhow::Result<()> {
    let mut stack = catalog_only(String::new()).await?;
    let port = free_port()?;
    let everywhere = format!("0.0.0.0:{port}");
    // Started by hand: the harness would wait for a health check that a
    // refusing gateway never passes.
    let mut cmd = Command::new(bin_dir()?.join("xregion-api-gateway"));
    cmd.arg("--config")
        .arg(&stack.config_path)
        .args(["--grpc-listen", &everywhere])
        .env_remove("RUST_LOG");
    let mut refused = ChildProcess::spawn("refused-gateway", cmd, stack.dir.path())?;
    wait_until("the gateway to exit", WAIT, || {
        let running = refused.is_running();
        async move { Ok((!running).then_some(())) }
    })
    .await?;
    let log = refused.log_text();
    assert!(
        log.contains(&format!("refusing plaintext gRPC on {everywhere}")),
        "no clear reason in the log:\n{log}"
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "something listens on {port}"
    );

    // Asked for explicitly (e.g. behind a TLS-terminating proxy), it serves.
    stack
        .start_service(
            "api-gateway",
            &[
                "--grpc-listen",
                &everywhere,
                "--set",
                "gateway.allow_plaintext=true",
            ],
        )
        .await?;
    let mut api =
        CrossRegionBackupServiceClient::connect(format!("http://127.0.0.1:{port}")).await?;
    assert_eq!(regions(&mut api, TOKEN_A).await?, 3);
    Ok(())
}

#[tokio::test]
async fn tls_serves_the_cli_and_mutual_tls_requires_a_client_certificate() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    let pki = Pki::write(certs.path())?;
    let mut stack = catalog_only(format!(
        "[gateway.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        pki.server_cert.display(),
        pki.server_key.display()
    ))
    .await?;
    stack.start_service("api-gateway", &[]).await?;
    let addr = stack.grpc_addr.clone();
    let https = format!("https://{addr}");
    let ca = pki.ca.to_str().unwrap();

    // The CLI over TLS, trusting the CA given with --ca-cert.
    let out = cli(&["--endpoint", &https, "--ca-cert", ca, "regions"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("r2"),
        "{}",
        text(&out)
    );
    // Without the CA the server's certificate is not trusted.
    let out = cli(&["--endpoint", &https, "regions"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate"),
        "{}",
        text(&out)
    );
    // A plaintext client gets nothing, and the server lives on.
    let mut plain = CrossRegionBackupServiceClient::new(
        Channel::from_shared(format!("http://{addr}"))?.connect_lazy(),
    );
    assert!(regions(&mut plain, TOKEN_A).await.is_err());
    let mut api = pki.channel(&addr, None).await?;
    assert_eq!(regions(&mut api, TOKEN_A).await?, 3);

    // Mutual TLS: the same gateway, now verifying clients against the CA.
    stack.kill("api-gateway");
    let client_ca = format!("gateway.tls.client_ca_file={ca}");
    stack
        .start_service("api-gateway", &["--set", &client_ca])
        .await?;
    let no_cert = async {
        let mut api = pki.channel(&addr, None).await?;
        Ok::<_, anyhow::Error>(regions(&mut api, TOKEN_A).await?)
    };
    assert!(
        no_cert.await.is_err(),
        "a client without a certificate was served"
    );
    let rogue = async {
        let mut api = pki
            .channel(&addr, Some((&pki.rogue_cert, &pki.rogue_key)))
            .await?;
        Ok::<_, anyhow::Error>(regions(&mut api, TOKEN_A).await?)
    };
    assert!(
        rogue.await.is_err(),
        "a certificate of another CA was accepted"
    );
    let mut api = pki
        .channel(&addr, Some((&pki.client_cert, &pki.client_key)))
        .await?;
    assert_eq!(regions(&mut api, TOKEN_A).await?, 3);
    // The CLI: refused without --client-cert, served with it.
    let out = cli(&["--endpoint", &https, "--ca-cert", ca, "regions"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (cert, key) = (
        pki.client_cert.to_str().unwrap(),
        pki.client_key.to_str().unwrap(),
    );
    let out = cli(&[
        "--endpoint",
        &https,
        "--ca-cert",
        ca,
        "--client-cert",
        cert,
        "--client-key",
        key,
        "regions",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    Ok(())
}

#[tokio::test]
async fn unauthenticated_callers_learn_nothing() -> anyhow::Result<()> {
    let mut stack = catalog_only(String::new()).await?;
    stack.start_service("api-gateway", &[]).await?;
    let mut api = stack.grpc().await?;
    let bad_id = || pb::GetSyncServiceRequest {
        id: "../../etc".into(),
    };
    let err = api
        .get_sync_service(tonic::Request::new(bad_id()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = api
        .get_sync_service(authed("not-a-token", bad_id()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = api
        .get_restore_plan(authed(
            "not-a-token",
            pb::GetRestorePlanRequest {
                service_id: "../x".into(),
                restore_time: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    // An authenticated caller still gets the validation error.
    let err = api
        .get_sync_service(authed(TOKEN_A, bad_id()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // Reflection, open to anyone, shows the public API but not the internal
    // catalog contract.
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let questions = vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "xregion.v1.CrossRegionBackupService".into(),
        )),
        ask(MessageRequest::FileContainingSymbol(
            "xregion.v1.CatalogCall".into(),
        )),
    ];
    let mut answers = ServerReflectionClient::new(stack.channel().await?)
        .server_reflection_info(tokio_stream::iter(questions))
        .await?
        .into_inner();
    let mut got = Vec::new();
    // An unknown symbol ends the stream with NOT_FOUND.
    let end = loop {
        match answers.message().await {
            Ok(Some(answer)) => got.push(answer.message_response),
            Ok(None) => break None,
            Err(status) => break Some(status.code()),
        }
    };
    let [Some(MessageResponse::ListServicesResponse(list)), api_file] = &got[..] else {
        panic!("unexpected answers: {got:?}, then {end:?}");
    };
    let services: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        services.contains(&"xregion.v1.CrossRegionBackupService"),
        "{services:?}"
    );
    assert!(
        !services
            .iter()
            .any(|s| s.to_lowercase().contains("catalog")),
        "{services:?}"
    );
    assert!(
        matches!(api_file, Some(MessageResponse::FileDescriptorResponse(_))),
        "{api_file:?}"
    );
    assert_eq!(
        end,
        Some(Code::NotFound),
        "the internal catalog contract is shown"
    );

    // The older v1alpha protocol (grpcio reflection, Postman, grpcui) shows
    // the same public services.
    {
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        let question = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let answer = ServerReflectionClient::new(stack.channel().await?)
            .server_reflection_info(tokio_stream::iter([question]))
            .await?
            .into_inner()
            .message()
            .await?
            .and_then(|a| a.message_response);
        let Some(MessageResponse::ListServicesResponse(list)) = answer else {
            panic!("v1alpha reflection answered {answer:?}");
        };
        let alpha: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(
            alpha.contains(&"xregion.v1.CrossRegionBackupService"),
            "{alpha:?}"
        );
        assert!(
            !alpha.iter().any(|s| s.to_lowercase().contains("catalog")),
            "{alpha:?}"
        );
    }

    // With the catalog gone the tenant hears that the service is
    // unavailable, not which subject of which deployment did not answer.
    stack.kill("catalog");
    let err = api
        .get_sync_service(authed(
            TOKEN_A,
            pb::GetSyncServiceRequest {
                id: "svc-any".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        !err.message().contains(&stack.namespace) && !err.message().contains("catalog."),
        "internal names reach the tenant: {:?}",
        err.message()
    );
    assert!(err.message().contains("(ref "), "{:?}", err.message());
    Ok(())
}

/// An EdDSA signing key and its public JWK.
struct JwtKey {
    kid: String,
    key: EncodingKey,
    jwk: serde_json::Value,
}

impl JwtKey {
    fn new(kid: &str) -> Self {
        let kp = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        Self {
            kid: kid.into(),
            key: EncodingKey::from_ed_der(&kp.serialize_der()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                        "kid": kid, "x": URL_SAFE_NO_PAD.encode(kp.public_key_raw())}),
        }
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

fn jwks(keys: &[&JwtKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

fn now() -> u64 {
    (xregion_tests::now_ms() / 1000) as u64
}

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "xregion-api";

fn claims(tenant: &str) -> serde_json::Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "org": tenant,
           "iat": now(), "nbf": now() - 5, "exp": now() + 600})
}

/// Replaces a file the way an operator's tooling would: write aside, rename.
fn replace(path: &Path, content: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// A tokens file granting each `(token, tenant)` pair.
fn tokens_file(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (token, tenant) in pairs {
        let sha = token_sha(token);
        out.push_str(&format!(
            "[[tokens]]\nsha256 = \"{sha}\"\ntenant = \"{tenant}\"\n"
        ));
    }
    out
}

async fn list_ids(api: &mut Api, token: &str) -> Result<Vec<String>, tonic::Status> {
    Ok(api
        .list_sync_services(authed(token, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner()
        .services
        .into_iter()
        .map(|s| s.id)
        .collect())
}

/// Creates a service of `tenant` (token `token`) for a new instance.
async fn service_of(
    api: &mut Api,
    up: &Upstream,
    token: &str,
    tenant: &str,
    instance: &str,
) -> anyhow::Result<String> {
    up.instance_created(instance, tenant, Engine::Mysql, "r1", 1_700_000_000_000)
        .await?;
    let req = || pb::CreateSyncServiceRequest {
        engine: pb::Engine::Mysql as i32,
        source_region: "r1".into(),
        source_instance_id: instance.into(),
        target_region: "r2".into(),
        retention_days: None,
        request_id: format!("create-{instance}"),
    };
    wait_until(&format!("service of {instance}"), WAIT, || {
        let mut api = api.clone();
        async move {
            match api.create_sync_service(authed(token, req())).await {
                Ok(s) => Ok(Some(s.into_inner().id)),
                // The instance is not in the inventory yet.
                Err(e) if e.code() == Code::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
    })
    .await
}

#[tokio::test]
async fn jwt_identities_and_rotation_without_restart() -> anyhow::Result<()> {
    let files = tempfile::tempdir()?;
    let jwks_path = files.path().join("jwks.json");
    let tokens_path = files.path().join("tokens.toml");
    let first = JwtKey::new("key-1");
    let second = JwtKey::new("key-2");
    std::fs::write(&jwks_path, jwks(&[&first]))?;
    std::fs::write(&tokens_path, tokens_file(&[("file-token-1", TENANT_A)]))?;
    let mut stack = catalog_only(format!(
        "[gateway.jwt]\njwks_file = \"{}\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
         tenant_claim = \"org\"\n",
        jwks_path.display()
    ))
    .await?;
    let tokens_setting = format!("gateway.tokens_file={}", tokens_path.display());
    stack
        .start_service(
            "api-gateway",
            &[
                "--set",
                &tokens_setting,
                "--set",
                "gateway.reload_interval_ms=200",
            ],
        )
        .await?;
    let mut api = stack.grpc().await?;
    let up = stack.upstream().await?;
    let svc_a = service_of(&mut api, &up, TOKEN_A, TENANT_A, "jwt-a").await?;
    let svc_b = service_of(&mut api, &up, TOKEN_B, TENANT_B, "jwt-b").await?;

    // A good token: the tenant is the configured claim's, and it sees only
    // that tenant's services.
    let good = first.sign(&claims(TENANT_A));
    assert_eq!(list_ids(&mut api, &good).await?, vec![svc_a.clone()]);
    let err = api
        .get_sync_service(authed(
            &good,
            pb::GetSyncServiceRequest { id: svc_b.clone() },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let as_b = first.sign(&claims(TENANT_B));
    assert_eq!(list_ids(&mut api, &as_b).await?, vec![svc_b.clone()]);

    // Every broken token is UNAUTHENTICATED.
    let impostor = JwtKey::new("key-1");
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims(TENANT_A);
        c[k] = v;
        first.sign(&c)
    };
    let mut no_tenant = claims(TENANT_A);
    no_tenant.as_object_mut().unwrap().remove("org");
    let broken = [
        ("bad signature", impostor.sign(&claims(TENANT_A))),
        ("expired", with("exp", json!(now() - 3600))),
        ("wrong audience", with("aud", json!("someone-else"))),
        ("wrong issuer", with("iss", json!("https://evil.test"))),
        ("no tenant claim", first.sign(&no_tenant)),
        ("not yet valid", with("nbf", json!(now() + 3600))),
    ];
    for (what, token) in &broken {
        let err = list_ids(&mut api, token).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{what}: {err:?}");
    }

    // Static tokens from the tokens file work next to the configured ones.
    assert_eq!(
        list_ids(&mut api, "file-token-1").await?,
        vec![svc_a.clone()]
    );
    assert_eq!(list_ids(&mut api, TOKEN_A).await?, vec![svc_a.clone()]);

    // Rotation: a new JWKS replaces the keys, a new tokens file the tokens,
    // while the gateway keeps running.
    let pid = stack.service("api-gateway")?.pid();
    replace(&jwks_path, &jwks(&[&second]))?;
    replace(&tokens_path, &tokens_file(&[("file-token-2", TENANT_B)]))?;
    let rotated = second.sign(&claims(TENANT_A));
    wait_until("the new JWKS and tokens file to apply", WAIT, || {
        let mut api = api.clone();
        let (good, rotated) = (good.clone(), rotated.clone());
        async move {
            let new_key = list_ids(&mut api, &rotated).await.is_ok();
            let old_key = list_ids(&mut api, &good).await.is_ok();
            let new_token = list_ids(&mut api, "file-token-2").await.is_ok();
            let old_token = list_ids(&mut api, "file-token-1").await.is_ok();
            Ok((new_key && !old_key && new_token && !old_token).then_some(()))
        }
    })
    .await?;
    assert_eq!(list_ids(&mut api, &rotated).await?, vec![svc_a.clone()]);
    assert_eq!(list_ids(&mut api, "file-token-2").await?, vec![svc_b]);
    assert_eq!(
        list_ids(&mut api, &good).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // A broken file keeps the current keys and tokens.
    replace(&jwks_path, "{\"keys\": [")?;
    replace(&tokens_path, "tokens = 'nope'")?;
    let log = || stack.services["api-gateway"].log_text();
    wait_until("the broken files to be noticed", WAIT, || {
        let seen = log().matches("reload failed").count() >= 2;
        async move { Ok(seen.then_some(())) }
    })
    .await?;
    assert_eq!(list_ids(&mut api, &rotated).await?, vec![svc_a]);
    assert!(list_ids(&mut api, "file-token-2").await.is_ok());
    assert_eq!(
        stack.service("api-gateway")?.pid(),
        pid,
        "the gateway was restarted"
    );
    Ok(())
}

/// A tenant holds at most `gateway.max_watches_per_tenant` watches open
/// (each is a subscription, a consumer and a task on the gateway): one more
/// is RESOURCE_EXHAUSTED naming the limit, another tenant still watches,
/// and a watch the client closes gives its slot back.
#[tokio::test]
async fn a_tenant_cannot_hold_more_watches_than_its_limit() -> anyhow::Result<()> {
    let (mut stack, env) = xregion_tests::sync::SyncEnv::start(StackOptions::fast_sync()).await?;
    stack.kill("api-gateway");
    stack
        .start_service(
            "api-gateway",
            &["--set", "gateway.max_watches_per_tenant=2"],
        )
        .await?;
    let first = env.watch(TOKEN_A, "").await?;
    let _second = env.watch(TOKEN_A, "").await?;
    let refused = env.watch(TOKEN_A, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("max_watches_per_tenant = 2"),
        "{refused:?}"
    );
    let _other_tenant = env.watch(TOKEN_B, "").await?;
    drop(first);
    wait_until("the closed watch's slot given back", WAIT, || async {
        Ok(env.watch(TOKEN_A, "").await.ok())
    })
    .await?;
    Ok(())
}
