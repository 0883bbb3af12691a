//! The catalog talks to PostgreSQL over verified TLS: a cluster that accepts
//! TLS only, with a certificate for localhost/127.0.0.1 signed by a CA made
//! here, serves the real catalog binary configured with
//! `sslmode=verify-full&sslrootcert=<ca>`; the same URL with another CA is
//! refused at start-up with an error that says why.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use sqlx::{Connection, Executor, PgConnection, Row};
use xregion_proto::xregion::v1 as pb;
use xregion_tests::postgres_tls::TlsPostgres;
use xregion_tests::stack::{authed, TOKEN_A};
use xregion_tests::{wait_until, Stack, StackOptions};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A server certificate for localhost and 127.0.0.1 signed by `ca`:
/// (certificate PEM, key PEM).
fn server_cert(ca: &Ca) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn the_catalog_uses_postgres_over_verified_tls_and_refuses_a_wrong_ca() -> anyhow::Result<()>
{
    let certs = tempfile::tempdir()?;
    let trusted = ca("xregion test ca");
    let (cert_pem, key_pem) = server_cert(&trusted);
    let pg = TlsPostgres::start(&cert_pem, &key_pem).await?;
    let ca_file = write(certs.path(), "ca.pem", &trusted.cert.pem());
    let other_ca_file = write(certs.path(), "other-ca.pem", &ca("someone else").cert.pem());

    // Plaintext is refused by the server: whatever works below is TLS.
    let plain = PgConnection::connect(&pg.url("postgres", "sslmode=disable")).await;
    assert!(plain.is_err(), "a plaintext connection was accepted");
    let verified = format!("sslmode=verify-full&sslrootcert={ca_file}");
    let mut admin = PgConnection::connect(&pg.url("postgres", &verified)).await?;
    admin.execute("CREATE DATABASE xregion").await?;

    let mut stack = Stack::start(StackOptions {
        regions: vec!["r1".into()],
        sqlite: true, // not the harness's database: the catalog gets the TLS one below
        services: vec![],
        ..Default::default()
    })
    .await?;
    let url = pg.url("xregion", &verified);
    stack
        .start_service(
            "catalog",
            &["--set", &format!("catalog.database_url={url}")],
        )
        .await?;
    stack.start_service("api-gateway", &[]).await?;

    // A request that reaches the database through the catalog.
    let mut grpc = stack.grpc().await?;
    let listed = grpc
        .list_sync_services(authed(TOKEN_A, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner();
    assert!(listed.services.is_empty());

    // The catalog's own connections are TLS ones (pg_stat_ssl), and its
    // schema is there.
    let check_url = pg.url("xregion", &verified);
    let tls_connections: i64 = wait_until(
        "the catalog's connections to show in pg_stat_ssl",
        Duration::from_secs(10),
        || {
            let check_url = check_url.clone();
            async move {
                let mut check = PgConnection::connect(&check_url).await?;
                let n: i64 = sqlx::query(
                    "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE a.datname = 'xregion' AND s.ssl AND a.pid <> pg_backend_pid()",
                )
                .fetch_one(&mut check)
                .await?
                .get(0);
                Ok((n > 0).then_some(n))
            }
        },
    )
    .await?;
    assert!(tls_connections > 0);
    let mut check = PgConnection::connect(&check_url).await?;
    let tables: i64 =
        sqlx::query("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_one(&mut check)
            .await?
            .get(0);
    assert!(tables > 0, "the catalog migrated its schema over TLS");

    // The same server, verified against a CA that did not sign it.
    let wrong = pg.url(
        "xregion",
        &format!("sslmode=verify-full&sslrootcert={other_ca_file}"),
    );
    let setting = format!("catalog.database_url={wrong}");
    let log = stack
        .refused_start("catalog-wrong-ca", "catalog", &setting)
        .await?;
    assert!(
        log.contains("certificate") && log.contains("UnknownIssuer"),
        "the error says the server's certificate is not trusted: {log}"
    );
    eprintln!(
        "catalog with the wrong CA: {}",
        log.lines()
            .find(|l| l.contains("UnknownIssuer"))
            .unwrap_or_default()
    );
    Ok(())
}
