//! The authorization-server facade of a route (`--as-facade`): the core's
//! [`Facade`](mcp_authz_core::as_facade::Facade) served at `{resource origin}/facade/{profile}`,
//! with the transactions in the route's state store (in this process, or in Redis with
//! `--store`, so that the provider's callback may reach any replica) and the token requests sent
//! with the driver's fetcher. Every endpoint is public (it is an authorization server); none of
//! them reaches the upstream.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{HeaderValue, StatusCode};
use mcp_authz_core::as_facade::{Facade, FacadeError, FacadeProfile, Transaction};
use mcp_authz_hyper::Authz;

/// The settings of one facade, from the route's flags. `Debug` shows no secret.
#[derive(Clone)]
pub struct FacadeSettings {
    /// What it rewrites.
    pub profile: FacadeProfile,
    /// The provider app's client id.
    pub client_id: String,
    /// Its secret, for a confidential app (never logged).
    pub client_secret: Option<String>,
    /// The redirect URIs clients may use.
    pub redirect_uris: Vec<String>,
}

impl std::fmt::Debug for FacadeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacadeSettings")
            .field("profile", &self.profile.name())
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

/// One facade being served.
pub(super) struct FacadeState {
    issuer: String,
    settings: FacadeSettings,
    /// The route's authorizer: the provider's validated metadata (once discovered).
    authz: Authz,
    facade: OnceLock<Facade>,
    fetcher: mcp_authz_driver::HttpFetcher,
}

/// The facade's issuer for a route whose resource is `resource`:
/// `{scheme}://{authority}/facade/{profile}`.
pub(super) fn issuer_for(resource: &str, profile: &FacadeProfile) -> Result<String, String> {
    let uri: http::Uri = resource
        .parse()
        .map_err(|_| format!("--resource {resource}: not a URL"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => Ok(format!("{s}://{a}/facade/{}", profile.name())),
        _ => Err(format!("--resource {resource}: not an absolute URL")),
    }
}

impl FacadeState {
    /// The facade at `issuer` in front of `authz`'s first authorization server.
    pub(super) fn new(
        issuer: String,
        settings: FacadeSettings,
        authz: Authz,
        allow_http_loopback: bool,
    ) -> Result<Arc<Self>, String> {
        let options =
            mcp_authz_driver::FetchOptions::default().allow_http_loopback(allow_http_loopback);
        let fetcher = mcp_authz_driver::HttpFetcher::new(options).map_err(|e| e.to_string())?;
        Ok(Arc::new(Self {
            issuer,
            settings,
            authz,
            facade: OnceLock::new(),
            fetcher,
        }))
    }

    /// The facade, once the provider's metadata is validated (a lazy start may still be
    /// discovering it).
    fn facade(&self) -> Option<&Facade> {
        if let Some(f) = self.facade.get() {
            return Some(f);
        }
        let provider = self.authz.authorization_server()?;
        let s = &self.settings;
        let prm = self.authz.guard().metadata();
        let facade = Facade::new(
            self.issuer.clone(),
            s.profile.clone(),
            provider.authorization_endpoint(),
            provider.token_endpoint(),
            provider.scopes_supported().to_vec(),
            s.client_id.clone(),
            s.client_secret.clone(),
            s.redirect_uris.clone(),
        )
        .for_resource(prm.resource(), prm.scopes_supported().to_vec());
        Some(self.facade.get_or_init(|| facade))
    }

    /// The paths the facade serves (for the proxy's path claims).
    pub(super) fn paths(&self) -> [String; 6] {
        let path = self
            .issuer
            .splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        [
            format!("/.well-known/oauth-authorization-server{path}"),
            format!("{path}/.well-known/openid-configuration"),
            format!("{path}/authorize"),
            format!("{path}/callback"),
            format!("{path}/token"),
            format!("{path}/register"),
        ]
    }

    /// The facade's routes.
    pub(super) fn router(self: &Arc<Self>) -> Router {
        let [rfc8414, oidc, authorize_path, callback_path, token_path, register_path] =
            self.paths();
        Router::new()
            .route(&rfc8414, get(metadata))
            .route(&oidc, get(metadata))
            .route(&authorize_path, get(authorize))
            .route(&callback_path, get(callback))
            .route(&token_path, post(token))
            .route(&register_path, post(register))
            .with_state(self.clone())
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (http::header::CONTENT_TYPE, "application/json"),
            (http::header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn not_ready() -> Response {
    let mut r = json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"error": "temporarily_unavailable",
            "error_description": "the identity provider's metadata is not validated yet"}),
    );
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// The transactions' store cannot be reached: `503`, and nothing is redirected.
fn store_unavailable() -> Response {
    let mut r = json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"error": "temporarily_unavailable",
            "error_description": "the authorization transactions cannot be kept right now"}),
    );
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// A refusal that is never redirected (the redirect URI is not trusted, or the request is
/// not one): a plain `400` page.
fn page(e: FacadeError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (http::header::CACHE_CONTROL, "no-store"),
        ],
        format!(
            "The authorization request was refused: {}.\n",
            e.description()
        ),
    )
        .into_response()
}

fn oauth_error(e: FacadeError) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({"error": e.oauth_error(), "error_description": e.description()}),
    )
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::FOUND,
            [
                (http::header::LOCATION, v),
                (
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ),
            ],
        )
            .into_response(),
        Err(_) => page(FacadeError::Malformed),
    }
}

async fn metadata(State(s): State<Arc<FacadeState>>) -> Response {
    match s.facade() {
        Some(f) => json(StatusCode::OK, &f.metadata()),
        None => not_ready(),
    }
}

async fn authorize(State(s): State<Arc<FacadeState>>, RawQuery(q): RawQuery) -> Response {
    let Some(f) = s.facade() else {
        return not_ready();
    };
    // The transaction's id, the `state` the provider sees: unguessable.
    let Some(id) = mcp_authz_driver::random_id() else {
        return store_unavailable();
    };
    let now = mcp_authz_driver::now();
    match f.authorize(q.unwrap_or_default().as_bytes(), &id, now) {
        Ok((tx, to)) => {
            let kept = s
                .authz
                .authorizer()
                .put_single_use(&id, tx.encode(), tx.expires_at())
                .await;
            match kept {
                Ok(()) => redirect(&to.location),
                // No transaction, no flow: the browser is not sent to a callback that would fail.
                Err(_) => store_unavailable(),
            }
        }
        Err(e) => page(e),
    }
}

async fn callback(State(s): State<Arc<FacadeState>>, RawQuery(q): RawQuery) -> Response {
    let Some(f) = s.facade() else {
        return not_ready();
    };
    let q = q.unwrap_or_default();
    let state: Option<String> = serde_urlencoded::from_str::<Vec<(String, String)>>(&q)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v);
    let taken = match state {
        Some(id) => s.authz.authorizer().take_single_use(&id).await,
        None => Ok(None),
    };
    let now = mcp_authz_driver::now();
    let tx = match taken {
        Ok(tx) => tx
            .as_deref()
            .and_then(Transaction::decode)
            .filter(|t| now < t.expires_at()),
        Err(_) => return store_unavailable(),
    };
    let Some(tx) = tx else {
        return page(FacadeError::UnknownTransaction);
    };
    match f.callback(q.as_bytes(), tx) {
        Ok(back) => redirect(&back.location),
        Err(e) => page(e),
    }
}

async fn token(State(s): State<Arc<FacadeState>>, body: Bytes) -> Response {
    let Some(f) = s.facade() else {
        return not_ready();
    };
    let request = match f.token(&body) {
        Ok(r) => r,
        Err(e) => return oauth_error(e),
    };
    match s
        .fetcher
        .post_form(
            &request.url,
            request.authorization.as_deref(),
            request.body,
            64 * 1024,
        )
        .await
    {
        // The provider's answer, unchanged.
        Ok(answer) => (
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
            [
                (http::header::CONTENT_TYPE, "application/json"),
                (http::header::CACHE_CONTROL, "no-store"),
            ],
            answer.body,
        )
            .into_response(),
        Err(_) => {
            let mut r = json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "temporarily_unavailable",
                    "error_description": "the identity provider's token endpoint could not be reached"}),
            );
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

async fn register(State(s): State<Arc<FacadeState>>, body: Bytes) -> Response {
    let Some(f) = s.facade() else {
        return not_ready();
    };
    match f.register(&body) {
        Ok(client) => json(StatusCode::CREATED, &client),
        Err(e) => oauth_error(e),
    }
}
