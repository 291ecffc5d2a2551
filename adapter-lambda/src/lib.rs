//! # mcp-authz-lambda
//!
//! The mcp-authz resource server on AWS Lambda, behind API Gateway (REST and HTTP APIs), Lambda
//! Function URLs and ALB, through `lambda_http`. It wraps any MCP handler — a tower
//! `Service<http::Request<lambda_http::Body>>`: an axum `Router`, rmcp's stateless
//! `StreamableHttpService`, a function — and answers the RFC 9728 documents and the challenges,
//! verifies tokens and puts the `Arc<Principal>` in the request extensions before the handler
//! runs. The `Authorization` header is removed.
//!
//! Deny by default: every event the wrapper receives needs a valid token with the base scopes —
//! the resource path, every path under it and any other path — except the RFC 9728 documents,
//! the CORS preflight of the resource and the paths declared with
//! [`LambdaAuthzBuilder::public_path`] (exact match, after the stage or base path). The handler
//! is called only when the core allowed the request.
//!
//! ## Cold start and warm invocations
//!
//! Build the [`LambdaAuthz`] in `main`, before `lambda_http::run`: the metadata is fetched and
//! validated and the keys are fetched once per execution environment. Warm invocations reuse the
//! keys and the verified-token cache. No task runs while the environment is frozen, so refreshes
//! are decided by the core's policy at invocation time: a due refresh or a key miss is fetched
//! inline, in the invocation that needs it.
//!
//! ```no_run
//! # async fn demo(router: axum::Router) -> Result<(), lambda_http::Error> {
//! use mcp_authz_lambda::LambdaAuthz;
//! let authz = LambdaAuthz::builder("/mcp")
//!     .metadata_url("https://tenant.auth0.com/.well-known/oauth-authorization-server")
//!     .public_base_url("https://mcp.example.com")
//!     .build()
//!     .await?;
//! lambda_http::run(authz.wrap(router)).await
//! # }
//! ```
//!
//! ## Which deployments work
//!
//! API Gateway REST APIs (and reportedly Function URLs) rename a Lambda's `WWW-Authenticate`
//! response header to `x-amzn-Remapped-WWW-Authenticate`. The header is still sent (RFC 6750 and
//! MCP require it), and clients that do not see it fall back to the RFC 9728 well-known URLs at
//! the origin root, which this adapter answers. That fallback needs the origin root to reach the
//! function:
//!
//! - works: HTTP API on the `$default` stage; a custom domain with an empty base path; a Function
//!   URL; ALB;
//! - cannot work: a named stage without a custom domain (`https://…execute-api…/prod/mcp`):
//!   `/.well-known/…` at the root has no stage, so API Gateway cannot route it to the function.
//!   The challenge then points at the stage-prefixed metadata URL, which is answered, but a
//!   client that never sees the challenge header cannot find it.

pub mod urls;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use lambda_http::Body;
use mcp_authz_core::as_metadata::MetadataPolicy;
use mcp_authz_core::jwks_refresh::{JwksRefresh, JwksRefreshConfig, KidMiss};
use mcp_authz_core::resource_metadata::PRM_WELL_KNOWN;
use mcp_authz_core::token_cache::{PrincipalCache, TokenCacheLimits};
use mcp_authz_core::{BodyFailure, Principal, ScopePolicy, Step, TypPolicy, VerifierConfig};
use mcp_authz_core::{Guard, KeyState};
use mcp_authz_hyper::fetch::now;
use mcp_authz_hyper::jwks_driver::{fetch_due, SharedCache};
use mcp_authz_hyper::layer::CoreHeaders;
use mcp_authz_hyper::response::{build, json_error_with};
use mcp_authz_hyper::{discover, FetchOptions, HttpFetcher, StartupError};
use tower_service::Service;

pub use urls::{PublicUrls, PublicView};

/// Guards are built per distinct public resource URL; at most this many are kept.
const MAX_GUARDS: usize = 16;

struct Shared {
    issuer: String,
    scopes: ScopePolicy,
    typ: TypPolicy,
    max_lifetime_secs: Option<u64>,
    resource_name: Option<String>,
    resource_path: String,
    urls: PublicUrls,
    policy: Mutex<JwksRefresh>,
    fetcher: HttpFetcher,
    jwks_uri: String,
    cache: Option<SharedCache>,
    guards: Mutex<BTreeMap<String, Arc<Guard>>>,
    keep_authorization: bool,
    public_paths: Vec<String>,
}

/// Builds a [`LambdaAuthz`].
#[derive(Debug, Clone)]
pub struct LambdaAuthzBuilder {
    resource_path: String,
    metadata_url: Option<String>,
    issuer: Option<String>,
    urls: PublicUrls,
    scopes: ScopePolicy,
    policy: MetadataPolicy,
    fetch: FetchOptions,
    refresh: JwksRefreshConfig,
    cache: Option<TokenCacheLimits>,
    typ: TypPolicy,
    max_lifetime_secs: Option<u64>,
    resource_name: Option<String>,
    keep_authorization: bool,
    public_paths: Vec<String>,
}

impl LambdaAuthzBuilder {
    /// The authorization server's metadata URL.
    #[must_use]
    pub fn metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = Some(url.into());
        self
    }

    /// The authorization server's issuer (its metadata is found at the usual well-known URLs).
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The public base URL clients use (`https://mcp.example.com`, or with a base path). Without
    /// it the URL is inferred from each event.
    #[must_use]
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.urls.public_base_url = Some(url.into());
        self
    }

    /// Hosts accepted from the `Host` header for events without a domain (ALB).
    #[must_use]
    pub fn allowed_hosts<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hosts: I) -> Self {
        self.urls.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// The scope policy.
    #[must_use]
    pub fn scopes(mut self, scopes: ScopePolicy) -> Self {
        self.scopes = scopes;
        self
    }

    /// Accept metadata without `registration_endpoint`.
    #[must_use]
    pub fn allow_missing_registration(mut self, yes: bool) -> Self {
        self.policy = self.policy.allow_missing_registration(yes);
        self
    }

    /// Accept `http` to loopback hosts (local testing only).
    #[must_use]
    pub fn allow_http_loopback(mut self, yes: bool) -> Self {
        self.policy = self.policy.allow_http_loopback(yes);
        self.fetch = self.fetch.allow_http_loopback(yes);
        self
    }

    /// Which `typ` values tokens may carry.
    #[must_use]
    pub fn typ_policy(mut self, typ: TypPolicy) -> Self {
        self.typ = typ;
        self
    }

    /// Refuse tokens that live longer than `max` (`exp − iat`, or `exp − now` without `iat`);
    /// `None` (the default) sets no limit.
    #[must_use]
    pub fn max_token_lifetime(mut self, max: Option<std::time::Duration>) -> Self {
        self.max_lifetime_secs = max.map(|d| d.as_secs());
        self
    }

    /// `resource_name` in the protected-resource metadata.
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The verified-token cache (on by default); `None` turns it off.
    #[must_use]
    pub fn token_cache(mut self, limits: Option<TokenCacheLimits>) -> Self {
        self.cache = limits;
        self
    }

    /// Keep the `Authorization` header for the handler (off by default).
    #[must_use]
    pub fn keep_authorization(mut self, yes: bool) -> Self {
        self.keep_authorization = yes;
        self
    }

    /// The JWK Set refresh policy.
    #[must_use]
    pub fn refresh(mut self, config: JwksRefreshConfig) -> Self {
        self.refresh = config;
        self
    }

    /// Serves `path` (after any stage or base path, like the resource path) without a token:
    /// exact match, any method, e.g. `/healthz` (repeatable). Everything else needs a valid
    /// token, except the metadata documents and the resource's CORS preflight.
    #[must_use]
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// Cold start: fetch and validate the metadata, fetch the keys.
    ///
    /// # Errors
    /// A [`StartupError`] naming what is wrong (the function should not serve).
    pub async fn build(self) -> Result<LambdaAuthz, StartupError> {
        let fetcher =
            HttpFetcher::new(self.fetch).map_err(|e| StartupError::Config(e.to_string()))?;
        let (_, metadata) = discover(
            &fetcher,
            self.metadata_url.as_deref(),
            self.issuer.as_deref(),
            &self.policy,
        )
        .await?;
        let shared = Arc::new(Shared {
            issuer: metadata.issuer().to_owned(),
            scopes: self.scopes,
            typ: self.typ,
            max_lifetime_secs: self.max_lifetime_secs,
            resource_name: self.resource_name,
            resource_path: self.resource_path,
            urls: self.urls,
            policy: Mutex::new(JwksRefresh::new(self.refresh)),
            fetcher,
            jwks_uri: metadata.jwks_uri().to_owned(),
            cache: self.cache.map(SharedCache::new),
            guards: Mutex::new(BTreeMap::new()),
            keep_authorization: self.keep_authorization,
            public_paths: self.public_paths,
        });
        refresh_if_due(&shared).await;
        Ok(LambdaAuthz { shared })
    }
}

/// Runs the fetch the core policy wants now, inline (there is no background task on Lambda).
async fn refresh_if_due(shared: &Shared) {
    fetch_due(
        &shared.policy,
        &shared.fetcher,
        &shared.jwks_uri,
        shared.cache.as_ref(),
    )
    .await;
}

/// A started resource server for Lambda (see the crate docs).
#[derive(Clone)]
pub struct LambdaAuthz {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LambdaAuthz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaAuthz")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl LambdaAuthz {
    /// Starts building, for the MCP endpoint at `resource_path` (e.g. `/mcp`, after any stage or
    /// base path).
    pub fn builder(resource_path: impl Into<String>) -> LambdaAuthzBuilder {
        LambdaAuthzBuilder {
            resource_path: resource_path.into(),
            metadata_url: None,
            issuer: None,
            urls: PublicUrls::default(),
            scopes: ScopePolicy::default(),
            policy: MetadataPolicy::new(),
            fetch: FetchOptions::default(),
            refresh: JwksRefreshConfig::default(),
            cache: Some(TokenCacheLimits::default()),
            typ: TypPolicy::default(),
            max_lifetime_secs: None,
            resource_name: None,
            keep_authorization: false,
            public_paths: Vec::new(),
        }
    }

    /// The issuer tokens must come from.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// How many JWK Set fetches were started (the cold start's included).
    pub fn jwks_fetches(&self) -> u64 {
        self.shared.policy.lock().map_or(0, |p| p.fetches_started())
    }

    /// Wraps the MCP handler.
    pub fn wrap<S>(&self, inner: S) -> LambdaAuthzService<S> {
        LambdaAuthzService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

fn guard_for(shared: &Shared, view: &PublicView) -> Arc<Guard> {
    let resource = format!("{}{}{}", view.origin, view.prefix, shared.resource_path);
    if let Some(g) = shared
        .guards
        .lock()
        .ok()
        .and_then(|g| g.get(&resource).cloned())
    {
        return g;
    }
    let config = VerifierConfig::new(shared.issuer.clone(), resource.clone())
        .with_typ_policy(shared.typ)
        .with_max_lifetime_secs(shared.max_lifetime_secs);
    let mut guard = Guard::new(config, shared.scopes.clone());
    if let Some(name) = &shared.resource_name {
        guard = guard.with_metadata(|m| m.with_resource_name(name.clone()));
    }
    for path in &shared.public_paths {
        guard = guard.with_public_path(format!("{}{path}", view.prefix));
    }
    if !view.prefix.is_empty() {
        // The root well-known URL cannot reach a named stage; point clients at the prefixed one,
        // which this adapter answers too.
        let (aware, _) = guard.metadata().well_known_paths();
        guard = guard.with_resource_metadata_url(format!("{}{}{aware}", view.origin, view.prefix));
    }
    let guard = Arc::new(guard);
    if let Ok(mut guards) = shared.guards.lock() {
        if guards.len() >= MAX_GUARDS {
            guards.clear();
        }
        guards.insert(resource, guard.clone());
    }
    guard
}

/// The wrapped handler.
#[derive(Clone)]
pub struct LambdaAuthzService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for LambdaAuthzService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaAuthzService").finish_non_exhaustive()
    }
}

fn lambda_body(b: Bytes) -> Body {
    if b.is_empty() {
        Body::Empty
    } else {
        Body::from(b.to_vec())
    }
}

impl<S, RB> Service<http::Request<Body>> for LambdaAuthzService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Display,
    RB: http_body::Body<Data = Bytes> + Send + 'static,
    RB::Error: std::fmt::Display,
{
    type Response = http::Response<Body>;
    type Error = lambda_http::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|e| e.to_string().into())
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let view =
                match shared.urls.view(&req) {
                    Ok(v) => v,
                    Err(_) => return Ok(json_error_with(
                        http::StatusCode::MISDIRECTED_REQUEST,
                        "invalid_request",
                        "the public URL of this request is unknown: configure the public base URL",
                        lambda_body,
                    )),
                };
            // A path-aware well-known request names its resource: `/.well-known/…/prod/mcp` is
            // the metadata of `origin/prod/mcp` (RFC 9728 §3.1), whatever prefix was inferred.
            let mut view = view;
            if let Some(named) = view.path.strip_prefix(PRM_WELL_KNOWN) {
                if let Some(prefix) = named.strip_suffix(shared.resource_path.as_str()) {
                    if named.starts_with('/') && shared.urls.public_base_url.is_none() {
                        view.prefix = prefix.to_owned();
                    }
                }
            }
            tracing::debug!(target: "mcp_authz", origin = %view.origin, prefix = %view.prefix, path = %view.path, "public view of the event");
            let guard = guard_for(&shared, &view);
            // The well-known documents are answered with and without the stage prefix.
            let well_known_prefixed = format!("{}{PRM_WELL_KNOWN}", view.prefix);
            let mut path = if !view.prefix.is_empty() && view.path.starts_with(&well_known_prefixed)
            {
                view.path[view.prefix.len()..].to_owned()
            } else {
                view.path.clone()
            };
            // Behind a prefix, the well-known path of the bare resource path is answered too:
            // emulators that route on the prefix (cargo-lambda's `/lambda-url/{name}`) strip it
            // from the whole path, well-known part included.
            if !view.prefix.is_empty()
                && path == format!("{PRM_WELL_KNOWN}{}", shared.resource_path)
            {
                path = guard.metadata().well_known_paths().0;
            }
            refresh_if_due(&shared).await;
            let (mut parts, body) = req.into_parts();
            let head = parts.method == http::Method::HEAD;
            let has_body = !body.is_empty();
            let mut exchange = guard.exchange();
            // The one request loop: the core decides; this drives its IO inline.
            let step = loop {
                let step = {
                    let headers = CoreHeaders::new(&parts.headers);
                    let core_req =
                        headers.request(parts.method.as_str(), &path, parts.uri.query(), has_body);
                    let keys = shared.policy.lock().ok().map(|p| p.current(now()));
                    let keys = keys.unwrap_or(Err(30));
                    let key_state = match &keys {
                        Ok(k) => KeyState::Ready(k),
                        Err(r) => KeyState::Unavailable {
                            retry_after_secs: *r,
                        },
                    };
                    let cache = shared.cache.as_ref().map(|c| c as &dyn PrincipalCache);
                    exchange.poll(&core_req, key_state, now(), cache)
                };
                match step {
                    // The event carries the whole body already.
                    Step::ReadBody { max_bytes } if body.len() > max_bytes => {
                        exchange.handle_body_failed(BodyFailure::TooLarge)
                    }
                    Step::ReadBody { .. } => exchange.handle_body(body.as_ref()),
                    Step::RefreshKeys { kid } => {
                        let miss = shared
                            .policy
                            .lock()
                            .map_or(KidMiss::Reject, |mut p| p.handle_unknown_kid(now(), &kid));
                        let refreshed = match miss {
                            KidMiss::AwaitFetch => {
                                refresh_if_due(&shared).await;
                                true
                            }
                            _ => false,
                        };
                        exchange.handle_keys_refreshed(refreshed);
                    }
                    verdict => break verdict,
                }
            };
            let principal = match step {
                Step::Respond(r) => {
                    if let Some(reason) = r.reason {
                        tracing::info!(target: "mcp_authz", decision = "reject", status = r.status, reason, path = %path);
                    }
                    return Ok(build(r, head, lambda_body));
                }
                Step::Allow(principal) => {
                    tracing::info!(target: "mcp_authz", decision = "allow", issuer = principal.issuer(), kid = principal.key_id().unwrap_or(""), client_id = principal.client_id().unwrap_or(""), subject = principal.subject().unwrap_or(""));
                    Some(principal)
                }
                Step::AllowPublic => None,
                // Any other step is not a verdict that allows: deny, never pass through.
                _ => {
                    return Ok(json_error_with(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "no authorization decision",
                        lambda_body,
                    ))
                }
            };
            if !shared.keep_authorization {
                parts.headers.remove(http::header::AUTHORIZATION);
            }
            if let Some(principal) = principal {
                parts.extensions.insert::<Arc<Principal>>(principal);
            }
            call_inner(&mut inner, parts, body, &view).await
        })
    }
}

/// Calls the handler with the application path (the stage or base path removed), and buffers its
/// response for Lambda.
async fn call_inner<S, RB>(
    inner: &mut S,
    mut parts: http::request::Parts,
    body: Body,
    view: &PublicView,
) -> Result<http::Response<Body>, lambda_http::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<RB>>,
    S::Error: std::fmt::Display,
    RB: http_body::Body<Data = Bytes>,
    RB::Error: std::fmt::Display,
{
    let app_path = view
        .path
        .strip_prefix(&view.prefix)
        .filter(|p| p.starts_with('/'))
        .unwrap_or(&view.path);
    let pq = match parts.uri.query() {
        Some(q) => format!("{app_path}?{q}"),
        None => app_path.to_owned(),
    };
    if let Ok(uri) = pq.parse::<http::Uri>() {
        parts.uri = uri;
    }
    let response = inner
        .call(http::Request::from_parts(parts, body))
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(http::Response::from_parts(parts, lambda_body(bytes)))
}
