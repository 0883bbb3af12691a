//! NATS as a locked trust boundary: nats-server runs with the shipped
//! `deploy/nats/nats-server.conf` (one user per service, least-privilege
//! subjects) and TLS with client certificates; each service connects with
//! its own `bus.user`/`bus.password_file` and `bus.tls.*`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectOptions, Event};
use futures::StreamExt;
use prost::Message;
use xregion_bus::{methods, CatalogClient, EventSubject};
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::nats::NatsTls;
use xregion_tests::stack::{bin_dir, SERVICES, TENANT_A, TOKEN_A};
use xregion_tests::sync::{state, SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{wait_until, Stack, StackOptions};

const T0: i64 = 1_760_000_000_000;

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn certificates(dir: &Path) -> anyhow::Result<NatsTls> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "xregion test CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let issue = |names: Vec<String>, purpose: ExtendedKeyUsagePurpose, stem: &str| {
        let mut params = CertificateParams::new(names)?;
        params.extended_key_usages = vec![purpose];
        params.distinguished_name.push(DnType::CommonName, stem);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        let cert_path = dir.join(format!("{stem}.pem"));
        let key_path = dir.join(format!("{stem}-key.pem"));
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        anyhow::Ok((cert_path, key_path))
    };
    let (server_cert, server_key) = issue(
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
        "server",
    )?;
    let (client_cert, client_key) = issue(vec![], ExtendedKeyUsagePurpose::ClientAuth, "client")?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem())?;
    Ok(NatsTls {
        ca_file,
        server_cert,
        server_key,
        client_cert,
        client_key,
    })
}

/// What the server told a client it refused (permission violations).
#[derive(Clone, Default)]
struct ServerErrors(Arc<Mutex<Vec<String>>>);

impl ServerErrors {
    fn watch(&self, options: ConnectOptions) -> ConnectOptions {
        let errors = self.0.clone();
        options.event_callback(move |event| {
            let errors = errors.clone();
            async move {
                if let Event::ServerError(e) = event {
                    errors.lock().unwrap().push(e.to_string());
                }
            }
        })
    }

    async fn wait_for(&self, needle: &str) -> anyhow::Result<()> {
        wait_until(
            &format!("the server to refuse {needle}"),
            Duration::from_secs(10),
            || async {
                let errors = self.0.lock().unwrap();
                Ok(errors
                    .iter()
                    .any(|e| e.contains("Permissions Violation") && e.contains(needle))
                    .then_some(()))
            },
        )
        .await
    }
}

#[tokio::test]
async fn each_service_on_its_own_identity_syncs_and_the_gateway_cannot_forge() -> anyhow::Result<()>
{
    let certs = tempfile::tempdir()?;
    let tls = certificates(certs.path())?;
    let mut stack = Stack::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}\n[cleanup]\nsweep_interval_secs = 1\n"),
        nats_permissions: true,
        nats_tls: Some(tls.clone()),
        ..Default::default()
    })
    .await?;
    let ns = stack.ns();
    let nats = &stack.nats;

    // Nobody gets in anonymously, without the CA, or without a client
    // certificate.
    let anonymous = nats.connect(nats.options(None)?).await;
    let err = anonymous.expect_err("an anonymous client was let in");
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "anonymous: {err}"
    );
    let operator_password = std::fs::read_to_string(&nats.password_files["operator"])?
        .trim()
        .to_string();
    let no_ca = ConnectOptions::new()
        .user_and_password("operator".into(), operator_password.clone())
        .require_tls(true)
        .add_client_certificate(tls.client_cert.clone(), tls.client_key.clone())
        .connection_timeout(Duration::from_secs(5))
        .connect(&nats.url)
        .await;
    let err = no_ca.expect_err("a client without the CA connected");
    assert!(
        err.to_string().contains("UnknownIssuer"),
        "without the CA: {err}"
    );
    let no_client_cert = ConnectOptions::new()
        .user_and_password("operator".into(), operator_password)
        .require_tls(true)
        .add_root_certificates(tls.ca_file.clone())
        .connection_timeout(Duration::from_secs(5))
        .connect(&nats.url)
        .await;
    assert!(
        no_client_cert.is_err(),
        "a client without a certificate connected"
    );

    // The whole flow, every service on its own user: instance, service, a
    // FULL and a LOG synced, RUNNING; then deleted and purged.
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let (svc, prefix) = env.running_service("mysql-sec-1", T0).await?;

    // The gateway's identity: tenant catalog methods only.
    let refused = ServerErrors::default();
    let gateway = nats
        .connect(refused.watch(nats.options(Some("api-gateway"))?))
        .await?;
    let gw_js = async_nats::jetstream::new(gateway.clone());
    // A forged ServiceDeleted for the live service (C1/H3): refused...
    let forged = pb::ServiceDeleted {
        service: Some(pb::ServiceRef {
            service_id: svc.id.clone(),
            tenant_id: TENANT_A.into(),
            target_region: "r2".into(),
            target_prefix: prefix.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let deleted_subject = ns.event_subject(EventSubject::ServiceDeleted);
    let acked = async {
        gw_js
            .publish(deleted_subject.clone(), forged.encode_to_vec().into())
            .await?
            .await
            .map_err(anyhow::Error::from)
    };
    let acked = tokio::time::timeout(Duration::from_secs(15), acked).await;
    assert!(
        !matches!(acked, Ok(Ok(_))),
        "the gateway published {deleted_subject}"
    );
    refused.wait_for(&deleted_subject).await?;
    // ... and not in the stream.
    let admin = async_nats::jetstream::new(nats.client().await?);
    let events = admin.get_stream(ns.events_stream()).await?;
    assert!(
        events
            .get_last_raw_message_by_subject(&deleted_subject)
            .await
            .is_err(),
        "a {deleted_subject} event is in the stream"
    );

    // An internal method on its own subject: refused by the server.
    let as_gateway = CatalogClient::new(gateway.clone(), ns.clone(), Duration::from_secs(3));
    let live: Result<pb::LiveServicesResponse, _> = as_gateway
        .call(
            methods::LIVE_SERVICES,
            "",
            &pb::LiveServicesRequest::default(),
        )
        .await;
    assert!(live.is_err(), "the gateway listed live services: {live:?}");
    refused
        .wait_for(&ns.catalog_subject(methods::LIVE_SERVICES))
        .await?;
    // The same method on the tenant subject the gateway may use: refused by
    // the catalog.
    let call = pb::CatalogCall {
        tenant_id: String::new(),
        request: pb::LiveServicesRequest::default().encode_to_vec(),
    };
    let reply = gateway
        .request(
            format!("{}.catalog.v1.{}", ns.prefix(), methods::LIVE_SERVICES),
            call.encode_to_vec().into(),
        )
        .await?;
    let reply = pb::CatalogReply::decode(reply.payload.as_ref())?;
    match reply.result {
        Some(pb::catalog_reply::Result::Error(e)) => {
            assert_eq!(e.code, pb::ErrorCode::PermissionDenied as i32, "{e:?}")
        }
        other => panic!("LiveServices on the tenant subject answered {other:?}"),
    }
    // The watcher's identity may call it: the refusal above is the
    // gateway's, not a broken catalog.
    let as_watcher = CatalogClient::new(
        nats.client_as("backup-watcher").await?,
        ns.clone(),
        Duration::from_secs(10),
    );
    let live: pb::LiveServicesResponse = as_watcher
        .call(
            methods::LIVE_SERVICES,
            "",
            &pb::LiveServicesRequest::default(),
        )
        .await?;
    assert!(live.services.iter().any(|s| s.service_id == svc.id));

    // Bandwidth limits: a worker reads them, only the operator writes them.
    let worker_refused = ServerErrors::default();
    let worker = nats
        .connect(worker_refused.watch(nats.options(Some("transfer-worker"))?))
        .await?;
    let worker_kv = async_nats::jetstream::new(worker)
        .get_key_value(ns.limits_bucket())
        .await?;
    let key = xregion_bus::Namespace::bandwidth_key("r1", "r2", false);
    let put = tokio::time::timeout(Duration::from_secs(15), worker_kv.put(&key, "1".into())).await;
    assert!(
        !matches!(put, Ok(Ok(_))),
        "a worker wrote a bandwidth limit"
    );
    worker_refused.wait_for(&ns.limits_bucket()).await?;
    let operator_kv = admin.get_key_value(ns.limits_bucket()).await?;
    operator_kv.put(&key, "100000000".into()).await?;
    assert_eq!(
        worker_kv.get(&key).await?.as_deref(),
        Some(&b"100000000"[..])
    );

    // The gateway's watch reads events and progress: a new LOG shows up.
    let mut watch = env.watch(TOKEN_A, &svc.id).await?;
    let mut chain = ChainGen::new("mysql-sec-1", TENANT_A, "r1", Engine::Mysql, T0);
    chain.full(50_000);
    chain.log(60_000, 500);
    let log = env
        .upstream
        .emit(&env.source, &chain.log(60_000, 700))
        .await?;
    let synced = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = watch.next().await {
            if let Some(pb::watch_event::Event::Synced(s)) = event?.event {
                return anyhow::Ok(s);
            }
        }
        anyhow::bail!("the watch ended")
    })
    .await??;
    assert_eq!(
        synced.backup.map(|b| b.backup_id),
        Some(log.backup_id.clone()),
        "the watch's synced backup"
    );

    // Deleting goes through the catalog and cleanup on their identities.
    env.delete(&svc.id).await?;
    env.wait_service(&svc.id, "DELETED", |s| {
        state(s) == pb::ServiceState::Deleted
    })
    .await?;
    assert_eq!(env.objects_under(&prefix).await?, 0);

    // Operators reach the locked server as `operator` (and only so).
    let admin_cli = |user: Option<&str>| -> anyhow::Result<std::process::Output> {
        let mut cmd = std::process::Command::new(bin_dir()?.join("xregion"));
        cmd.args(["admin", "dead-letters", "list", "--output", "json"])
            .args([
                "--nats-url",
                &stack.nats.url,
                "--namespace",
                &stack.namespace,
            ])
            .arg("--nats-ca")
            .arg(&tls.ca_file)
            .arg("--nats-cert")
            .arg(&tls.client_cert)
            .arg("--nats-key")
            .arg(&tls.client_key);
        if let Some(user) = user {
            cmd.args(["--nats-user", user])
                .arg("--nats-password-file")
                .arg(&stack.nats.password_files[user]);
        }
        Ok(cmd.output()?)
    };
    let listed = admin_cli(Some("operator"))?;
    assert!(
        listed.status.success(),
        "xregion admin as operator: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let anonymous = admin_cli(None)?;
    assert!(
        !anonymous.status.success(),
        "xregion admin got in without a user"
    );

    // Cleanup has swept (catalog questions, the uploads bucket) at least once.
    wait_until("a cleanup sweep", Duration::from_secs(30), || async {
        let log = stack.services["cleanup"].log_text();
        Ok(log.contains("sweep done").then_some(()))
    })
    .await?;

    // No service was refused anything along the way.
    let server_log = stack.nats.process.log_text();
    let violations: Vec<&str> = server_log
        .lines()
        .filter(|l| l.contains("Violation") && l.contains(":xregion-"))
        .collect();
    assert!(violations.is_empty(), "services refused: {violations:#?}");
    for name in SERVICES {
        let log = stack.service(name)?.log_text();
        assert!(
            !log.contains("nats server error"),
            "{name} was refused something:\n{log}"
        );
    }
    Ok(())
}
