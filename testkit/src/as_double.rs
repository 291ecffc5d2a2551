//! A test double of an authorization server: RFC 8414 metadata and a JWK Set on 127.0.0.1,
//! with knobs for key rotation, downtime, slow answers, error statuses, garbage and oversize
//! bodies and `Cache-Control`. It publishes a P-256 key (`kid` `p256`) and an Ed25519 key (`ed`),
//! made at start, and signs tokens with the first. It also introspects opaque tokens (RFC 7662)
//! it was told about ([`AsDouble::opaque_token`], [`AsDouble::revoke`]), for the client
//! [`INTROSPECTION_CLIENT`] authenticated by HTTP Basic, with knobs of its own (status, garbage,
//! delay, downtime). Its token endpoint exchanges tokens it issued for tokens of another
//! audience (RFC 8693 token exchange, and the Entra on-behalf-of shape of the JWT bearer grant)
//! for [`EXCHANGE_CLIENT`] (HTTP Basic or the form), with `act`/`azp` naming that client
//! ([`AsDouble::exchanges`], `Knobs::exchange_error`). It runs no OAuth flow: for that, use
//! [`DevAuthServer`](crate::auth_server::DevAuthServer).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ring::signature::EcdsaKeyPair;
use serde_json::{json, Value};

use crate::jwt::{ed_jwk, new_ed25519, new_p256, p256_jwk, random, sign_es256, unix_now};

/// The resource server's credentials at the double's introspection endpoint (HTTP Basic).
pub const INTROSPECTION_CLIENT: (&str, &str) = ("rs-client", "rs secret:&=");

/// The resource server's credentials at the double's token endpoint, for token exchange.
pub const EXCHANGE_CLIENT: (&str, &str) = ("proxy-client", "proxy secret");

/// What the double serves, changed with [`AsDouble::set`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Knobs {
    /// The JWK Set's keys.
    pub keys: Vec<Value>,
    /// `jwks_uri` closes connections without an answer.
    pub jwks_down: bool,
    /// The metadata URL closes connections without an answer.
    pub metadata_down: bool,
    /// The status `jwks_uri` answers with.
    pub jwks_status: u16,
    /// A body `jwks_uri` answers with instead of the keys.
    pub jwks_body: Option<Vec<u8>>,
    /// The `Cache-Control` of the JWK Set.
    pub cache_control: Option<String>,
    /// How long `jwks_uri` waits before answering.
    pub delay: Duration,
    /// A metadata document to serve instead of the default one.
    pub metadata: Option<Value>,
    /// The introspection response for each token the double knows (others are inactive).
    pub introspection: std::collections::BTreeMap<String, Value>,
    /// The status the introspection endpoint answers with (200 by default).
    pub introspection_status: u16,
    /// A body the introspection endpoint answers with instead of the response.
    pub introspection_body: Option<Vec<u8>>,
    /// How long the introspection endpoint waits before answering.
    pub introspection_delay: Duration,
    /// The introspection endpoint closes connections without an answer.
    pub introspection_down: bool,
    /// An answer (status, body) the token endpoint gives every exchange instead of a token.
    pub exchange_error: Option<(u16, Value)>,
    /// The `expires_in` of exchanged tokens (300 s by default).
    pub exchange_lifetime: u64,
    /// The public keys (a JWK Set) of [`EXCHANGE_CLIENT`]'s `private_key_jwt` assertions;
    /// without them an assertion is refused.
    pub exchange_client_keys: Option<Value>,
}

/// The running double (see the module docs).
#[derive(Debug)]
pub struct AsDouble {
    addr: SocketAddr,
    knobs: Arc<Mutex<Knobs>>,
    jwks_fetches: Arc<AtomicUsize>,
    introspections: Arc<AtomicUsize>,
    exchanges: Arc<AtomicUsize>,
    p256: Arc<EcdsaKeyPair>,
}

impl AsDouble {
    /// Starts the double on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no port or key can be had.
    pub async fn start() -> Self {
        let p256 = Arc::new(new_p256().expect("a P-256 key"));
        let ed25519 = new_ed25519().expect("an Ed25519 key");
        let knobs = Arc::new(Mutex::new(Knobs {
            keys: vec![p256_jwk(&p256, "p256"), ed_jwk(&ed25519, "ed")],
            jwks_down: false,
            metadata_down: false,
            jwks_status: 200,
            jwks_body: None,
            cache_control: Some("max-age=600".into()),
            delay: Duration::ZERO,
            metadata: None,
            introspection: Default::default(),
            introspection_status: 200,
            introspection_body: None,
            introspection_delay: Duration::ZERO,
            introspection_down: false,
            exchange_error: None,
            exchange_lifetime: 300,
            exchange_client_keys: None,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let introspections = Arc::new(AtomicUsize::new(0));
        let exchanges = Arc::new(AtomicUsize::new(0));
        let (k, f, i) = (knobs.clone(), jwks_fetches.clone(), introspections.clone());
        let (x, key) = (exchanges.clone(), p256.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (k, f, i) = (k.clone(), f.clone(), i.clone());
                let (x, key) = (x.clone(), key.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (k, f, i) = (k.clone(), f.clone(), i.clone());
                        let (x, key) = (x.clone(), key.clone());
                        async move {
                            if req.uri().path() == "/token" {
                                return exchange(req, addr, &k, &x, &key).await;
                            }
                            answer(req, addr, &k, &f, &i).await
                        }
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
            introspections,
            exchanges,
            p256,
        }
    }

    /// An opaque (non-JWT) access token the introspection endpoint calls active, for `aud` with
    /// `scope`, ten minutes.
    pub fn opaque_token(&self, aud: &str, scope: &str) -> String {
        let token = format!("opaque-{}", random(16));
        let mut claims = self.claims(aud, scope);
        claims["active"] = json!(true);
        claims["token_type"] = json!("Bearer");
        self.set(|k| {
            k.introspection.insert(token.clone(), claims);
        });
        token
    }

    /// Revokes `token`: introspection calls it inactive from now on.
    pub fn revoke(&self, token: &str) {
        self.set(|k| {
            k.introspection.remove(token);
        });
    }

    /// How many calls reached the token endpoint (authenticated or not).
    pub fn exchanges(&self) -> usize {
        self.exchanges.load(Ordering::SeqCst)
    }

    /// How many introspection calls arrived (authenticated or not).
    pub fn introspections(&self) -> usize {
        self.introspections.load(Ordering::SeqCst)
    }

    /// The issuer, `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The RFC 8414 metadata URL.
    pub fn metadata_url(&self) -> String {
        format!(
            "http://{}/.well-known/oauth-authorization-server",
            self.addr
        )
    }

    /// How many times `jwks_uri` was asked.
    pub fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Changes what the double serves.
    pub fn set(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut self.knobs.lock().expect("the knobs"));
    }

    /// A token from this issuer for `aud`, signed ES256 with the published `p256` key.
    pub fn token(&self, aud: &str, scope: &str) -> String {
        let claims = self.claims(aud, scope);
        sign_es256(&self.p256, "p256", &claims).expect("a signature")
    }

    /// Any claims, signed ES256 with the published `p256` key (for tokens that name another
    /// issuer, or lack a claim).
    pub fn sign(&self, claims: &Value) -> String {
        sign_es256(&self.p256, "p256", claims).expect("a signature")
    }

    /// The claims of [`AsDouble::token`]: subject `alice`, client `test-client`, ten minutes.
    pub fn claims(&self, aud: &str, scope: &str) -> Value {
        let now = unix_now();
        json!({"iss": self.issuer(), "aud": aud, "sub": "alice", "client_id": "test-client",
               "scope": scope, "iat": now, "exp": now + 600, "jti": random(8)})
    }
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    addr: SocketAddr,
    knobs: &Mutex<Knobs>,
    fetches: &AtomicUsize,
    introspections: &AtomicUsize,
) -> Result<http::Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let issuer = format!("http://{addr}");
    let (delay, jwks_down, metadata_down, status, jwks, cache_control, metadata) = {
        let k = knobs.lock().expect("the knobs");
        let jwks = k
            .jwks_body
            .clone()
            .unwrap_or_else(|| serde_json::to_vec(&json!({ "keys": k.keys })).unwrap_or_default());
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
                    "introspection_endpoint": format!("{issuer}/introspect"),
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
        "/introspect" => {
            introspections.fetch_add(1, Ordering::SeqCst);
            let (down, delay, status, override_body, response) = {
                let k = knobs.lock().expect("the knobs");
                let form: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(&body).unwrap_or_default();
                let token = form
                    .iter()
                    .find(|(n, _)| n == "token")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let response = k
                    .introspection
                    .get(&token)
                    .cloned()
                    .unwrap_or_else(|| json!({"active": false}));
                (
                    k.introspection_down,
                    k.introspection_delay,
                    k.introspection_status,
                    k.introspection_body.clone(),
                    response,
                )
            };
            if down {
                return Err(std::io::Error::other("down"));
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            // RFC 6749 §2.3.1: Basic over the form-encoded id and secret.
            let expected = {
                let enc = |s: &str| serde_urlencoded::to_string([("", s)]).unwrap_or_default();
                let (id, secret) = INTROSPECTION_CLIENT;
                let pair = format!("{}:{}", &enc(id)[1..], &enc(secret)[1..]);
                format!(
                    "Basic {}",
                    <base64ct::Base64 as base64ct::Encoding>::encode_string(pair.as_bytes())
                )
            };
            if authorization.as_deref() != Some(expected.as_str()) {
                return Ok(respond(
                    401,
                    br#"{"error":"invalid_client"}"#.to_vec(),
                    None,
                ));
            }
            let body =
                override_body.unwrap_or_else(|| serde_json::to_vec(&response).unwrap_or_default());
            Ok(respond(status, body, None))
        }
        _ => Ok(respond(404, b"{}".to_vec(), None)),
    }
}

/// The token endpoint: RFC 8693 token exchange and Entra's on-behalf-of grant, for
/// [`EXCHANGE_CLIENT`]. The subject token must be one this double signed, unexpired (checked
/// with `mcp-authz-core` against the double's own keys); the issued token names its `sub`, the
/// exchanging client in `act` and `azp`, and the requested audience, resource or scope's API
/// in `aud`. A subject token without `sub` (an application's) is refused as Entra refuses it
/// (AADSTS7000114).
async fn exchange(
    req: http::Request<hyper::body::Incoming>,
    addr: SocketAddr,
    knobs: &Mutex<Knobs>,
    exchanges: &AtomicUsize,
    key: &EcdsaKeyPair,
) -> Result<http::Response<Full<Bytes>>, std::io::Error> {
    use mcp_authz_core::{AccessTokenVerifier, JwkSet, TypPolicy, UnixTime, VerifierConfig};
    exchanges.fetch_add(1, Ordering::SeqCst);
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let respond = |status: u16, body: Value| {
        let mut r = http::Response::new(Full::new(Bytes::from(body.to_string())));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        r.headers_mut()
            .insert("cache-control", http::HeaderValue::from_static("no-store"));
        r
    };
    let (error, lifetime, keys, client_keys) = {
        let k = knobs.lock().expect("the knobs");
        (
            k.exchange_error.clone(),
            k.exchange_lifetime,
            k.keys.clone(),
            k.exchange_client_keys.clone(),
        )
    };
    if let Some((status, body)) = error {
        return Ok(respond(status, body));
    }
    let form: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |n: &str| form.get(n).map(String::as_str);
    // The client: Basic over the form-encoded id and secret, or both in the form.
    let (id, secret) = EXCHANGE_CLIENT;
    let basic = {
        let enc = |s: &str| serde_urlencoded::to_string([("", s)]).unwrap_or_default();
        let pair = format!("{}:{}", &enc(id)[1..], &enc(secret)[1..]);
        format!(
            "Basic {}",
            <base64ct::Base64 as base64ct::Encoding>::encode_string(pair.as_bytes())
        )
    };
    let issuer = format!("http://{addr}");
    // private_key_jwt (RFC 7523 §3): a JWT signed with one of the client's keys, `iss` and `sub`
    // the client, `aud` this token endpoint, unexpired; checked with mcp-authz-core.
    let asserted = match (field("client_assertion"), &client_keys) {
        (Some(jwt), Some(set)) => {
            field("client_assertion_type")
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                && JwkSet::parse(set.to_string().as_bytes(), &Default::default())
                    .ok()
                    .and_then(|keys| {
                        let config = VerifierConfig::new(id, format!("{issuer}/token"))
                            .with_typ_policy(TypPolicy::Lenient);
                        AccessTokenVerifier::new(config)
                            .verify(jwt, &keys, UnixTime::from_secs(unix_now()))
                            .ok()
                    })
                    .is_some_and(|p| p.subject() == Some(id))
        }
        _ => false,
    };
    let authenticated = asserted
        || authorization.as_deref() == Some(basic.as_str())
        || (field("client_id") == Some(id) && field("client_secret") == Some(secret));
    if !authenticated {
        return Ok(respond(401, json!({"error": "invalid_client"})));
    }
    let (subject, requested) = match field("grant_type") {
        Some("urn:ietf:params:oauth:grant-type:token-exchange") => {
            if field("subject_token_type") != Some("urn:ietf:params:oauth:token-type:access_token")
            {
                return Ok(respond(400, json!({"error": "invalid_request"})));
            }
            let aud = field("audience").or(field("resource")).map(str::to_owned);
            (field("subject_token"), aud)
        }
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            if field("requested_token_use") == Some("on_behalf_of") =>
        {
            // Entra names the API by its scope: `api://app/.default` is for `api://app`.
            let aud = field("scope").map(|s| {
                let first = s.split(' ').next().unwrap_or_default();
                first
                    .rsplit_once('/')
                    .map_or(first, |(api, _)| api)
                    .to_owned()
            });
            (field("assertion"), aud)
        }
        _ => return Ok(respond(400, json!({"error": "unsupported_grant_type"}))),
    };
    let (Some(subject), Some(audience)) = (subject, requested) else {
        return Ok(respond(400, json!({"error": "invalid_request"})));
    };
    // The subject token: one this double signed, for whatever audience, still valid.
    let claimed_aud = subject
        .split('.')
        .nth(1)
        .and_then(|p| <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| match &c["aud"] {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default();
    let jwks = serde_json::to_vec(&json!({ "keys": keys })).unwrap_or_default();
    let verified = JwkSet::parse(&jwks, &Default::default())
        .ok()
        .and_then(|set| {
            let config = VerifierConfig::new(issuer.clone(), claimed_aud)
                .with_typ_policy(TypPolicy::Lenient);
            AccessTokenVerifier::new(config)
                .verify(subject, &set, UnixTime::from_secs(unix_now()))
                .ok()
        });
    let Some(principal) = verified else {
        return Ok(respond(
            400,
            json!({"error": "invalid_grant", "error_description": "the subject token is not valid"}),
        ));
    };
    let Some(sub) = principal.subject() else {
        return Ok(respond(
            400,
            json!({"error": "unauthorized_client", "error_codes": [7_000_114],
                   "error_description": "AADSTS7000114: Application is not allowed to make application on-behalf-of calls."}),
        ));
    };
    let now = unix_now();
    let claims = json!({"iss": issuer, "sub": sub, "aud": audience, "azp": id, "client_id": id,
        "act": {"sub": id}, "scope": field("scope").unwrap_or(""), "iat": now,
        "exp": now + lifetime, "jti": random(8)});
    let token = sign_es256(key, "p256", &claims).map_err(std::io::Error::other)?;
    let mut answer = json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime});
    if field("grant_type") == Some("urn:ietf:params:oauth:grant-type:token-exchange") {
        answer["issued_token_type"] = json!("urn:ietf:params:oauth:token-type:access_token");
    }
    Ok(respond(200, answer))
}
