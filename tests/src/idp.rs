//! A stand-in for a province's identity platform on loopback: an OpenID
//! Connect provider with discovery, a published ES256 key, an authorisation
//! endpoint that signs in whoever the test names (the person at the
//! provider's own sign-in page), and a token endpoint that checks the client,
//! the code, the redirect and the PKCE verifier before issuing an ID token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Json;
use base64::Engine;
use http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The console's client id at the provider.
pub const CLIENT_ID: &str = "fengqiao-console";
/// The console's client secret at the provider.
pub const CLIENT_SECRET: &str = "s3cret-of-the-console";

/// What the provider does wrong on purpose, for the console to catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mischief {
    /// Nothing: a well-behaved provider.
    #[default]
    None,
    /// Signs ID tokens with a key it does not publish (a forger).
    UnpublishedKey,
    /// Puts another nonce in the ID token (a replayed token).
    WrongNonce,
    /// Issues the ID token for another client.
    OtherAudience,
}

struct Grant {
    username: String,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Shared {
    issuer: String,
    key: EncodingKey,
    rogue: EncodingKey,
    jwk: serde_json::Value,
    user: Mutex<String>,
    mischief: Mutex<Mischief>,
    codes: Mutex<HashMap<String, Grant>>,
    tokens_issued: Mutex<u32>,
}

/// A running provider.
pub struct Idp {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

fn es256_key() -> (EncodingKey, serde_json::Value) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key");
    let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("rcgen writes PKCS#8");
    let point = pair.public_key_raw();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        "kid": "test-key-1", "use": "sig", "alg": "ES256"});
    (key, jwk)
}

impl Idp {
    /// Starts a provider on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let issuer = format!("http://{}", listener.local_addr().expect("an address"));
        let (key, jwk) = es256_key();
        let (rogue, _) = es256_key();
        let shared = Arc::new(Shared {
            issuer,
            key,
            rogue,
            jwk,
            user: Mutex::new(String::new()),
            mischief: Mutex::new(Mischief::None),
            codes: Mutex::new(HashMap::new()),
            tokens_issued: Mutex::new(0),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, server }
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The person who signs in at the provider's page from now on.
    pub fn sign_in_as(&self, username: &str) {
        *self.shared.user.lock().unwrap() = username.to_string();
    }

    /// Makes the provider misbehave (or behave again).
    pub fn misbehave(&self, mischief: Mischief) {
        *self.shared.mischief.lock().unwrap() = mischief;
    }

    /// How many ID tokens the provider has issued.
    pub fn tokens_issued(&self) -> u32 {
        *self.shared.tokens_issued.lock().unwrap()
    }

    /// The console's settings (environment) for this provider, the console listening on `console_port`.
    pub fn console_settings(&self, console_port: u16) -> Vec<(String, String)> {
        vec![
            ("FENGQIAO_CONSOLE__LISTEN".into(), format!("127.0.0.1:{console_port}")),
            ("FENGQIAO_CONSOLE_ACCESS__OIDC__ISSUER".into(), self.issuer().into()),
            ("FENGQIAO_CONSOLE_ACCESS__OIDC__CLIENT_ID".into(), CLIENT_ID.into()),
            ("FENGQIAO_CONSOLE_ACCESS__OIDC__CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            (
                "FENGQIAO_CONSOLE_ACCESS__OIDC__REDIRECT_URL".into(),
                format!("http://127.0.0.1:{console_port}/login/oidc/callback"),
            ),
        ]
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn discovery(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let at = |path: &str| format!("{}{path}", s.issuer);
    Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": at("/authorize"),
        "token_endpoint": at("/token"),
        "jwks_uri": at("/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({ "keys": [s.jwk.clone()] }))
}

/// The provider's sign-in page, as if the person named by `sign_in_as` had signed in: back to the client with a code.
async fn authorize(State(s): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    if field("response_type") != "code" || field("client_id") != CLIENT_ID || field("code_challenge_method") != "S256" {
        return (StatusCode::BAD_REQUEST, "unsupported request").into_response();
    }
    let redirect_uri = field("redirect_uri");
    let code = uuid::Uuid::new_v4().simple().to_string();
    let grant = Grant {
        username: s.user.lock().unwrap().clone(),
        nonce: field("nonce"),
        challenge: field("code_challenge"),
        redirect_uri: redirect_uri.clone(),
    };
    s.codes.lock().unwrap().insert(code.clone(), grant);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("state", &field("state"))
        .finish();
    Redirect::to(&format!("{redirect_uri}?{query}")).into_response()
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    if field("grant_type") != "authorization_code" {
        return token_error("unsupported_grant_type");
    }
    let Some(grant) = s.codes.lock().unwrap().remove(&field("code")) else { return token_error("invalid_grant") };
    let verifier_challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if grant.redirect_uri != field("redirect_uri") || grant.challenge != verifier_challenge {
        return token_error("invalid_grant");
    }
    let mischief = *s.mischief.lock().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "iss": s.issuer,
        "sub": format!("person-{}", grant.username),
        "aud": if mischief == Mischief::OtherAudience { "another-client" } else { CLIENT_ID },
        "iat": now,
        "exp": now + 300,
        "nonce": if mischief == Mischief::WrongNonce { "a-nonce-of-another-sign-in".to_string() } else { grant.nonce },
        "preferred_username": grant.username,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("test-key-1".into());
    let key = if mischief == Mischief::UnpublishedKey { &s.rogue } else { &s.key };
    let id_token = jsonwebtoken::encode(&header, &claims, key).expect("an ES256 signature");
    *s.tokens_issued.lock().unwrap() += 1;
    Json(json!({ "access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "id_token": id_token }))
        .into_response()
}
