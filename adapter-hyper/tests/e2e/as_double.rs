//! A test double of an authorization server: RFC 8414 metadata and a JWK Set on 127.0.0.1, with
//! knobs for key rotation, downtime, slow answers, error statuses, garbage and oversize bodies
//! and Cache-Control. Tokens are signed with the core's test keys (made by Python
//! `cryptography`, `core/tests/data/interop/forge-keys.json`) or with keys made here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

pub fn b64u(b: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(b)
}

pub struct Knobs {
    pub keys: Vec<Value>,
    pub jwks_down: bool,
    pub metadata_down: bool,
    pub jwks_status: u16,
    pub jwks_body: Option<Vec<u8>>,
    pub cache_control: Option<String>,
    pub delay: Duration,
    pub metadata: Option<Value>,
}

pub struct AsDouble {
    pub addr: SocketAddr,
    pub knobs: Arc<Mutex<Knobs>>,
    pub jwks_fetches: Arc<AtomicUsize>,
    pub p256: Arc<EcdsaKeyPair>,
}

fn forge_pkcs8(name: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/data/interop/forge-keys.json"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Base64::decode_vec(file[name].as_str().unwrap()).unwrap()
}

pub fn p256_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
    let p = key.public_key().as_ref();
    json!({"kty":"EC","crv":"P-256","kid":kid,"use":"sig","alg":"ES256","x":b64u(&p[1..33]),"y":b64u(&p[33..])})
}

pub fn ed_jwk(key: &Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty":"OKP","crv":"Ed25519","kid":kid,"x":b64u(key.public_key().as_ref())})
}

pub fn new_ed25519() -> Ed25519KeyPair {
    let pk8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl AsDouble {
    pub async fn start() -> Self {
        let rng = SystemRandom::new();
        let p256 = Arc::new(
            EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &forge_pkcs8("p256_pkcs8"),
                &rng,
            )
            .unwrap(),
        );
        let ed25519 = Arc::new(
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&forge_pkcs8("ed25519_pkcs8")).unwrap(),
        );
        let knobs = Arc::new(Mutex::new(Knobs {
            keys: vec![p256_jwk(&p256, "p256"), ed_jwk(&ed25519, "ed")],
            jwks_down: false,
            metadata_down: false,
            jwks_status: 200,
            jwks_body: None,
            cache_control: Some("max-age=600".into()),
            delay: Duration::ZERO,
            metadata: None,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (knobs.clone(), jwks_fetches.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (k, f) = (k.clone(), f.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (k, f) = (k.clone(), f.clone());
                        async move { answer(req, addr, &k, &f).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            knobs,
            jwks_fetches,
            p256,
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn metadata_url(&self) -> String {
        format!(
            "http://{}/.well-known/oauth-authorization-server",
            self.addr
        )
    }

    pub fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn set(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut self.knobs.lock().unwrap());
    }

    /// A token from this issuer for `aud`, signed ES256 with the published `p256` key.
    pub fn token(&self, aud: &str, scope: &str) -> String {
        let claims = self.claims(aud, scope);
        sign_es256(&self.p256, "p256", &claims)
    }

    pub fn claims(&self, aud: &str, scope: &str) -> Value {
        let now = unix_now();
        json!({"iss": self.issuer(), "aud": aud, "sub": "alice", "client_id": "test-client",
               "scope": scope, "iat": now, "exp": now + 600, "jti": format!("j{}", rand_u64())})
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut b).unwrap();
    u64::from_le_bytes(b)
}

pub fn sign_es256(key: &EcdsaKeyPair, kid: &str, claims: &Value) -> String {
    let h = json!({"alg":"ES256","typ":"at+jwt","kid":kid});
    let input = format!(
        "{}.{}",
        b64u(&serde_json::to_vec(&h).unwrap()),
        b64u(&serde_json::to_vec(claims).unwrap())
    );
    let sig = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64u(sig.as_ref()))
}

pub fn sign_eddsa(key: &Ed25519KeyPair, kid: &str, claims: &Value) -> String {
    let h = json!({"alg":"EdDSA","typ":"at+jwt","kid":kid});
    let input = format!(
        "{}.{}",
        b64u(&serde_json::to_vec(&h).unwrap()),
        b64u(&serde_json::to_vec(claims).unwrap())
    );
    format!("{input}.{}", b64u(key.sign(input.as_bytes()).as_ref()))
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    addr: SocketAddr,
    knobs: &Mutex<Knobs>,
    fetches: &AtomicUsize,
) -> Result<http::Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let _ = req.into_body().collect().await;
    let issuer = format!("http://{addr}");
    let (delay, jwks_down, metadata_down, status, jwks, cache_control, metadata) = {
        let k = knobs.lock().unwrap();
        let jwks = k
            .jwks_body
            .clone()
            .unwrap_or_else(|| serde_json::to_vec(&json!({ "keys": k.keys })).unwrap());
        (
            k.delay,
            k.jwks_down,
            k.metadata_down,
            k.jwks_status,
            jwks,
            k.cache_control.clone(),
            k.metadata.clone(),
        )
    };
    let respond = |status: u16, body: Vec<u8>, cache_control: Option<String>| {
        let mut r = http::Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(cc) = cache_control {
            r.headers_mut()
                .insert("cache-control", http::HeaderValue::from_str(&cc).unwrap());
        }
        r
    };
    match path.as_str() {
        "/.well-known/oauth-authorization-server" => {
            if metadata_down {
                // Downtime: the connection closes without an answer.
                return Err(std::io::Error::other("down"));
            }
            let doc = metadata.unwrap_or_else(|| {
                json!({
                    "issuer": issuer,
                    "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                    "registration_endpoint": format!("{issuer}/register"),
                    "jwks_uri": format!("{issuer}/jwks"),
                    "code_challenge_methods_supported": ["S256"],
                    "response_types_supported": ["code"],
                    "scopes_supported": ["mcp:tools", "mcp:admin"],
                })
            });
            Ok(respond(200, serde_json::to_vec(&doc).unwrap(), None))
        }
        "/jwks" => {
            fetches.fetch_add(1, Ordering::SeqCst);
            if jwks_down {
                return Err(std::io::Error::other("down"));
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(respond(status, jwks, cache_control))
        }
        _ => Ok(respond(404, b"{}".to_vec(), None)),
    }
}

/// One HTTP request with a fresh connection; returns status, headers and the whole body.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, Bytes) {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    (
        parts.status.as_u16(),
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

/// A listener on 127.0.0.1 and the resource URL of `/mcp` on it.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    (listener, resource)
}

/// A started `Authz` for `resource` against this double, with the demo scope policy.
pub async fn authz(double: &AsDouble, resource: &str) -> mcp_authz_hyper::Authz {
    authz_with(double, resource, |b| b).await
}

/// [`authz`] with more builder settings.
pub async fn authz_with(
    double: &AsDouble,
    resource: &str,
    edit: impl FnOnce(mcp_authz_hyper::AuthzBuilder) -> mcp_authz_hyper::AuthzBuilder,
) -> mcp_authz_hyper::Authz {
    let builder = mcp_authz_hyper::Authz::builder(resource);
    edit(builder)
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(
            mcp_authz_core::ScopePolicy::new(["mcp:tools"])
                .with_tool_scopes("admin_reset", ["mcp:admin"]),
        )
        .build()
        .await
        .unwrap()
}
