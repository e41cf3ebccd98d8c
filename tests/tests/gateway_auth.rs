//! Who may call the gateway: agencies with a registered client certificate
//! from the configured CA (mutual TLS) or a JWT verified by one of their
//! registered keys. Wrong CA and expired certificates fail the handshake;
//! revoked or unregistered credentials and disabled agencies get 401.

use std::path::Path;

use fengqiao_gateway::credentials::{certificate, token};
use fengqiao_tests::scenario::POLICE;
use fengqiao_tests::system::{Mode, System};

fn cli_ok(system: &System, args: &[&str]) -> String {
    let out = system.cli(args);
    assert!(out.status.success(), "fengqiao {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// A client trusting `ca_pem`, presenting `identity` (cert + key PEM) if given.
fn client(ca_pem: &str, identity: Option<(String, String)>) -> reqwest::Client {
    let _ = fengqiao_tests::http_client();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(std::time::Duration::from_secs(10));
    if let Some((cert, key)) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// The HTTP status of GET /v1/cases/unknown/status over TLS (None if the handshake fails).
async fn probe(system: &System, client: &reqwest::Client, bearer: Option<&str>) -> Option<u16> {
    let url = format!("https://localhost:{}/v1/cases/unknown/status", system.addr("gateway").port());
    let mut request = client.get(url);
    if let Some(t) = bearer {
        request = request.bearer_auth(t);
    }
    request.send().await.ok().map(|r| r.status().as_u16())
}

#[tokio::test]
async fn mutual_tls_admits_registered_certificates_of_the_configured_ca_only() {
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path().to_str().unwrap().to_string();
    let out = fengqiao_tests::command(pki.path()).args(["credentials", "init-ca", "--dir", &dir]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (cert, key, ca) = (format!("{dir}/server.pem"), format!("{dir}/server.key"), format!("{dir}/ca.pem"));
    let system = System::start_with(
        Mode::Standalone,
        &[
            ("FENGQIAO_AUTH__TLS_CERT_FILE", &cert),
            ("FENGQIAO_AUTH__TLS_KEY_FILE", &key),
            ("FENGQIAO_AUTH__CLIENT_CA_FILE", &ca),
        ],
    )
    .await
    .unwrap();
    let ca_pem = read(pki.path(), "ca.pem");

    // A registered certificate of the agency: in (404: no such case among its own).
    let fingerprint = cli_ok(&system, &["credentials", "issue-cert", "--agency", POLICE, "--dir", &dir]);
    let police = (read(pki.path(), &format!("{POLICE}.pem")), read(pki.path(), &format!("{POLICE}.key")));
    assert_eq!(probe(&system, &client(&ca_pem, Some(police.clone())), None).await, Some(404));

    // Without a certificate the connection stands, but a call needs a token.
    assert_eq!(probe(&system, &client(&ca_pem, None), None).await, Some(401));
    let token = cli_ok(&system, &["token", POLICE]);
    assert_eq!(probe(&system, &client(&ca_pem, None), Some(&token)).await, Some(404));

    // Another CA's certificate, and an expired one of ours: the handshake fails.
    let other = certificate::new_ca("someone else", 30).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let foreign =
        certificate::issue(&other.cert_pem, &other.key_pem, certificate::Role::Agency(POLICE), now, 30).unwrap();
    assert_eq!(probe(&system, &client(&ca_pem, Some((foreign.cert_pem, foreign.key_pem))), None).await, None);
    let ca_key = read(pki.path(), "ca.key");
    let long_ago = now - time::Duration::days(10);
    let expired = certificate::issue(&ca_pem, &ca_key, certificate::Role::Agency(POLICE), long_ago, 2).unwrap();
    assert_eq!(probe(&system, &client(&ca_pem, Some((expired.cert_pem, expired.key_pem))), None).await, None);

    // Our CA's certificate that nobody registered: refused by the registry.
    let stray = certificate::issue(&ca_pem, &ca_key, certificate::Role::Agency(POLICE), now, 30).unwrap();
    assert_eq!(probe(&system, &client(&ca_pem, Some((stray.cert_pem, stray.key_pem))), None).await, Some(401));

    // Revoked: refused from the next call on.
    cli_ok(&system, &["credentials", "revoke", &fingerprint, "--reason", "laptop stolen"]);
    assert_eq!(probe(&system, &client(&ca_pem, Some(police)), None).await, Some(401));
    let listed = cli_ok(&system, &["credentials", "list", "--agency", POLICE]);
    assert!(listed.contains("laptop stolen"), "{listed}");
    system.finish().await;
}

#[tokio::test]
async fn an_agency_signs_its_own_tokens_rotates_its_key_and_can_be_disabled() {
    let system = System::start(Mode::Distributed).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let sign_with_new_key = || {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let path = keys.path().join(format!("{}.pub.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, pair.public_key_pem()).unwrap();
        let kid =
            cli_ok(&system, &["credentials", "add-key", "--agency", POLICE, "--public-key", path.to_str().unwrap()]);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = token::Claims { sub: POLICE.into(), aud: token::AUDIENCE.into(), iat: now, exp: now + 300 };
        (kid.clone(), token::sign(&claims, &kid, &pair.serialize_pem()).unwrap())
    };
    let http = fengqiao_tests::http_client();
    let url = format!("http://{}/v1/cases/unknown/status", system.addr("gateway"));
    let status = |t: String| {
        let request = http.get(&url).bearer_auth(t);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // A revocation or a disabled agency reaches the gateway by PostgreSQL's
    // notification, milliseconds after the command returns (docs/operations.md,
    // "Credential changes"): a call in between may still pass, so the test
    // waits a bounded time for the refusal, then checks it stays.
    let refused_soon = |t: String| {
        let status = &status;
        async move {
            let refused = fengqiao_platform::testing::eventually(std::time::Duration::from_secs(5), || {
                let t = t.clone();
                async move { status(t).await == 401 }
            });
            assert!(refused.await, "refused within 5 s of the change");
            status(t).await
        }
    };
    let (old_kid, old_token) = sign_with_new_key();
    assert_eq!(status(old_token.clone()).await, 404, "a token signed with a registered key is accepted");

    // Rotation: the new key works alongside the old until the old is revoked.
    let (_, new_token) = sign_with_new_key();
    assert_eq!(status(new_token.clone()).await, 404);
    cli_ok(&system, &["credentials", "revoke", &old_kid, "--reason", "rotated"]);
    assert_eq!(refused_soon(old_token).await, 401);
    assert_eq!(status(new_token.clone()).await, 404);

    // A token naming another agency under this key, or an unknown key, is refused.
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = token::Claims { sub: POLICE.into(), aud: token::AUDIENCE.into(), iat: now, exp: now + 300 };
    assert_eq!(status(token::sign(&claims, "tk-unknown", &pair.serialize_pem()).unwrap()).await, 401);

    // A disabled agency authenticates nothing.
    cli_ok(&system, &["agencies", "disable", POLICE]);
    assert_eq!(refused_soon(new_token).await, 401);
    system.finish().await;
}
