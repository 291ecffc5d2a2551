//! A DEVELOPMENT-ONLY OAuth 2.0 authorization server (for `mcp-authz demo` and tests), loopback
//! only.
//!
//! Real enough for real MCP clients: RFC 8414 metadata with all five fields, a JWK Set with a
//! P-256 key made at start, open dynamic client registration (RFC 7591), Client ID Metadata
//! Documents (a `client_id` that is the URL of the client's metadata, fetched and checked at the
//! authorization endpoint; loopback URLs only, this being a development server), an authorization
//! endpoint that requires PKCE S256 (RFC 7636) and consents automatically (it redirects straight
//! back with a code: there is no user), and a token endpoint issuing RFC 9068 JWT access tokens
//! whose `aud` is the requested `resource` (RFC 8707) and whose `scope` is what was asked for and
//! allowed. No refresh tokens (clients then re-authorize for more scope, which is what the step-up
//! walkthrough shows). Never expose it: anyone who can reach it gets tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use ring::signature::EcdsaKeyPair;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::jwt::{b64u, new_p256, p256_jwk, random, sign_es256, unix_now};

/// How long codes and tokens live.
const CODE_TTL: u64 = 60;
const TOKEN_TTL: u64 = 900;

struct Registered {
    redirect_uris: Vec<String>,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    resource: Option<String>,
    expires: u64,
}

/// The development authorization server's state.
pub struct DevAuthServer {
    issuer: String,
    resource: String,
    scopes: Vec<String>,
    key: EcdsaKeyPair,
    kid: String,
    clients: Mutex<HashMap<String, Registered>>,
    codes: Mutex<HashMap<String, Code>>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

impl DevAuthServer {
    /// A server for `issuer` (its own loopback origin) that issues tokens for `resource` with
    /// any of `scopes`.
    pub fn new(issuer: String, resource: String, scopes: Vec<String>) -> Result<Arc<Self>, String> {
        let key = new_p256()?;
        let kid = format!("demo-{}", random(8));
        Ok(Arc::new(Self {
            issuer,
            resource,
            scopes,
            key,
            kid,
            clients: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
        }))
    }

    fn random(&self) -> String {
        random(24)
    }

    fn metadata(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "registration_endpoint": format!("{i}/register"),
            "jwks_uri": format!("{i}/jwks"),
            "scopes_supported": self.scopes,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
        })
    }

    /// The public JWK Set this server serves at `jwks_uri` (for tests that verify its tokens
    /// without fetching them).
    pub fn jwk_set(&self) -> Value {
        json!({"keys": [p256_jwk(&self.key, &self.kid)]})
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs an RFC 9068 access token (15 minutes) for `client_id` and `aud`, with `scope`.
    ///
    /// # Errors
    /// When signing fails.
    pub fn mint(&self, client_id: &str, scope: &str, aud: &str) -> Result<String, String> {
        self.mint_for("demo-user", client_id, scope, aud)
    }

    /// [`DevAuthServer::mint`] for the user `subject`.
    ///
    /// # Errors
    /// When signing fails.
    pub fn mint_for(
        &self,
        subject: &str,
        client_id: &str,
        scope: &str,
        aud: &str,
    ) -> Result<String, String> {
        let now = unix_now();
        let claims = json!({
            "iss": self.issuer, "sub": subject, "aud": aud, "client_id": client_id,
            "scope": scope, "iat": now, "exp": now + TOKEN_TTL, "jti": self.random(),
        });
        sign_es256(&self.key, &self.kid, &claims)
    }

    /// The granted scope: the requested scopes this server knows, in request order.
    fn grant(&self, requested: Option<&str>) -> String {
        let requested = requested.unwrap_or_default();
        let granted: Vec<&str> = requested
            .split(' ')
            .filter(|s| !s.is_empty() && self.scopes.iter().any(|k| k == s))
            .collect();
        granted.join(" ")
    }

    /// The axum router of the server.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/.well-known/openid-configuration", get(metadata))
            .route("/jwks", get(jwks))
            .route("/register", post(register))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(self.clone())
    }
}

async fn metadata(State(s): State<Arc<DevAuthServer>>) -> Response {
    (
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        Json(s.metadata()),
    )
        .into_response()
}

async fn jwks(State(s): State<Arc<DevAuthServer>>) -> Response {
    (
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        Json(s.jwk_set()),
    )
        .into_response()
}

/// The `redirect_uris` strings of a registration request or a client metadata document.
fn redirect_uris(client: &Value) -> Vec<String> {
    client
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 7591 open registration: public clients (`token_endpoint_auth_method: none`) with loopback
/// or custom-scheme redirect URIs.
async fn register(State(s): State<Arc<DevAuthServer>>, Json(req): Json<Value>) -> Response {
    let uris = redirect_uris(&req);
    if uris.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uris is required",
        );
    }
    let client_id = format!("demo-client-{}", s.random());
    if let Ok(mut clients) = s.clients.lock() {
        clients.insert(
            client_id.clone(),
            Registered {
                redirect_uris: uris.clone(),
            },
        );
    }
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": unix_now(),
        "redirect_uris": uris,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    });
    for field in [
        "client_name",
        "client_uri",
        "scope",
        "software_id",
        "software_version",
    ] {
        if let Some(v) = req.get(field) {
            body[field] = v.clone();
        }
    }
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    resource: Option<String>,
}

fn redirect(to: &str, params: &[(&str, &str)]) -> Response {
    let mut url = String::from(to);
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    url.push(if to.contains('?') { '&' } else { '?' });
    url.push_str(&query);
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, url),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

/// Consents automatically: validates the request and redirects straight back with a code.
async fn authorize(
    State(s): State<Arc<DevAuthServer>>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let client_id = p.client_id.unwrap_or_default();
    let registered = s
        .clients
        .lock()
        .ok()
        .and_then(|c| c.get(&client_id).map(|r| r.redirect_uris.clone()));
    let uris = match registered {
        Some(uris) => uris,
        None if is_metadata_document_url(&client_id) => match metadata_document(&client_id).await {
            Ok(uris) => uris,
            Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", why),
        },
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "unknown client_id: register first, or use the URL of a client metadata document",
            )
        }
    };
    let redirect_uri = match p.redirect_uri {
        Some(r) if uris.contains(&r) => r,
        None if uris.len() == 1 => uris.first().cloned().unwrap_or_default(),
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri is not registered",
            )
        }
    };
    let state = p.state.unwrap_or_default();
    let fail = |error: &str, description: &str| {
        redirect(
            &redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", &state),
                ("iss", &s.issuer),
            ],
        )
    };
    if p.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "only response_type=code");
    }
    let Some(challenge) = p.code_challenge.filter(|c| (43..=128).contains(&c.len())) else {
        return fail("invalid_request", "PKCE is required: code_challenge");
    };
    if p.code_challenge_method.as_deref() != Some("S256") {
        return fail("invalid_request", "PKCE code_challenge_method must be S256");
    }
    if p.resource.as_deref().is_some_and(|r| r != s.resource) {
        return fail("invalid_target", "unknown resource");
    }
    let code = s.random();
    if let Ok(mut codes) = s.codes.lock() {
        let now = unix_now();
        codes.retain(|_, c| c.expires > now);
        codes.insert(
            code.clone(),
            Code {
                client_id,
                redirect_uri: redirect_uri.clone(),
                challenge,
                scope: s.grant(p.scope.as_deref()),
                resource: p.resource,
                expires: now + CODE_TTL,
            },
        );
    }
    redirect(
        &redirect_uri,
        &[("code", &code), ("state", &state), ("iss", &s.issuer)],
    )
}

/// Whether `client_id` is a Client ID Metadata Document URL this development server fetches:
/// `http` on a loopback host, with a path (the draft requires `https`; the demo runs on 127.0.0.1).
fn is_metadata_document_url(client_id: &str) -> bool {
    let Some(rest) = client_id.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]") && path.len() > 1
}

/// The redirect URIs of the client whose metadata document is at `url`: fetched (5 s, 64 KiB),
/// a JSON object whose `client_id` is `url` itself, with `redirect_uris`, for a public client
/// (draft-ietf-oauth-client-id-metadata-document §3, §4).
async fn metadata_document(url: &str) -> Result<Vec<String>, &'static str> {
    const MAX: usize = 64 * 1024;
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri: http::Uri = url.parse().map_err(|_| "the client_id is not a URL")?;
    let fetch = async {
        let response = client.get(uri).await.ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        let body = http_body_util::Limited::new(response.into_body(), MAX);
        http_body_util::BodyExt::collect(body)
            .await
            .ok()
            .map(|b| b.to_bytes())
    };
    let bytes = tokio::time::timeout(std::time::Duration::from_secs(5), fetch)
        .await
        .ok()
        .flatten()
        .ok_or("the client metadata document could not be fetched")?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|_| "the client metadata document is not JSON")?;
    if doc.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err("the client metadata document names another client_id");
    }
    if doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .is_some_and(|m| m != "none")
    {
        return Err("only public clients (token_endpoint_auth_method none)");
    }
    let uris = redirect_uris(&doc);
    match uris.is_empty() {
        true => Err("the client metadata document has no redirect_uris"),
        false => Ok(uris),
    }
}

#[derive(Deserialize)]
struct TokenParams {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
    resource: Option<String>,
}

/// The authorization-code grant with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.6).
async fn token(State(s): State<Arc<DevAuthServer>>, Form(p): Form<TokenParams>) -> Response {
    if p.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code",
        );
    }
    let code = s
        .codes
        .lock()
        .ok()
        .and_then(|mut c| c.remove(p.code.as_deref().unwrap_or_default()));
    let Some(code) = code.filter(|c| c.expires > unix_now()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or expired code",
        );
    };
    if p.client_id.as_deref().is_some_and(|c| c != code.client_id) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code was issued to another client",
        );
    }
    if p.redirect_uri
        .as_deref()
        .is_some_and(|r| r != code.redirect_uri)
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match",
        );
    }
    let verifier = p.code_verifier.unwrap_or_default();
    let computed = b64u(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
    if verifier.len() < 43 || computed != code.challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    let resource = p
        .resource
        .or(code.resource)
        .unwrap_or_else(|| s.resource.clone());
    if resource != s.resource {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "unknown resource",
        );
    }
    match s.mint(&code.client_id, &code.scope, &resource) {
        Ok(access_token) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({"access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_TTL, "scope": code.scope})),
        )
            .into_response(),
        Err(e) => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::client::{bind, send};

    /// A client with a Client ID Metadata Document on loopback completes the authorization-code
    /// flow with its URL as `client_id`; a document that names another client, a redirect URI it
    /// does not list, or a URL that is not loopback is refused.
    #[tokio::test]
    async fn a_client_metadata_document_stands_in_for_registration() {
        let (doc_listener, doc_base) = bind().await;
        let doc_base = doc_base.trim_end_matches("/mcp").to_owned();
        let client_id = format!("{doc_base}/client.json");
        let other = format!("{doc_base}/other.json");
        let (good, liar) = (client_id.clone(), other.clone());
        let docs = Router::new()
            .route(
                "/client.json",
                get(move || async move {
                    Json(json!({"client_id": good, "client_name": "cimd test",
                        "redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none"}))
                }),
            )
            .route(
                "/other.json",
                get(move || async move {
                    let _ = liar;
                    Json(json!({"client_id": "http://127.0.0.1:9/else.json", "redirect_uris": ["http://127.0.0.1:1/cb"]}))
                }),
            );
        tokio::spawn(async move { axum::serve(doc_listener, docs).await });
        let (as_listener, as_base) = bind().await;
        let issuer = as_base.trim_end_matches("/mcp").to_owned();
        let resource = "http://127.0.0.1:2/mcp".to_owned();
        let server =
            DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()]).unwrap();
        assert_eq!(
            server.metadata()["client_id_metadata_document_supported"],
            true
        );
        let router = server.router();
        tokio::spawn(async move { axum::serve(as_listener, router).await });
        let verifier = "v".repeat(43);
        let challenge =
            b64u(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
        let authorize = |client_id: &str, redirect: &str| {
            let query = serde_urlencoded::to_string([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("scope", "mcp:tools"),
                ("resource", resource.as_str()),
                ("state", "s"),
            ])
            .unwrap();
            format!("{issuer}/authorize?{query}")
        };
        let (status, headers, _) = send(
            "GET",
            &authorize(&client_id, "http://127.0.0.1:1/cb"),
            &[],
            b"",
        )
        .await;
        assert_eq!(status, 302);
        let location = headers["location"].to_str().unwrap().to_owned();
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let form = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .unwrap();
        let (status, _, body) = send(
            "POST",
            &format!("{issuer}/token"),
            &[("content-type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let token: Value = serde_json::from_slice(&body).unwrap();
        let payload = token["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let claims: Value = serde_json::from_slice(
            &<base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(&payload).unwrap(),
        )
        .unwrap();
        assert_eq!(claims["client_id"], json!(client_id));
        for (id, redirect) in [
            (client_id.as_str(), "http://127.0.0.1:1/elsewhere"),
            (other.as_str(), "http://127.0.0.1:1/cb"),
            (
                "https://client.example.com/client.json",
                "http://127.0.0.1:1/cb",
            ),
            (&format!("{doc_base}/missing.json"), "http://127.0.0.1:1/cb"),
        ] {
            let (status, _, _) = send("GET", &authorize(id, redirect), &[], b"").await;
            assert_eq!(status, 400, "{id} {redirect}");
        }
    }
}
