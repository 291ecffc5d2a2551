//! # mcp-authz-hyper
//!
//! The tokio/hyper driver of `mcp-authz-core`: it fetches (HTTPS), keeps the keys fresh
//! (timers), and puts the core's per-request decision in front of any tower service as an
//! [`AuthzLayer`] — plain hyper, axum routers, and `rmcp`'s `StreamableHttpService`. Every
//! decision is the core's; this crate only does the IO.
//!
//! ## What is protected
//!
//! Everything the layer wraps, deny by default: the resource path, every path under it (axum's
//! `nest_service("/mcp", …)` also routes `/mcp/`, `/mcp/x`, …), and any other path need a valid
//! token with the base scopes. Served without one: the RFC 9728 metadata documents (GET/HEAD and
//! their preflights), the CORS preflight of the resource, and the paths you declare with
//! [`AuthzBuilder::public_path`] (exact match). To leave axum routes unprotected, declare them
//! public, or route them in an outer router whose `fallback_service` is the protected router
//! (see [`AuthzLayer`]); merging public routes after `.layer(…)` would put the metadata documents
//! outside the layer.
//! When tool or method scopes are configured, a request body that is not JSON (a form,
//! `text/plain`, a content coding) is refused with 415/400, and `Mcp-Method`/`Mcp-Name` headers
//! (MCP 2026-07-28) are checked against the body.
//!
//! ## Start-up
//!
//! The operator gives one URL: the authorization server's RFC 8414 metadata. [`Authz::builder`]
//! fetches and validates it (refusing to start, with every problem listed, when it is not
//! acceptable), fetches the JWK Set from its `jwks_uri`, and only then returns.
//! `.metadata_url(…)` may be given more than once: each server is trusted, with its own keys
//! and refresh policy, and a token is verified by the one its `iss` names, with that server's
//! keys alone.
//!
//! ```no_run
//! use mcp_authz_hyper::{Authz, ScopePolicy};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let authz = Authz::builder("https://mcp.example.com/mcp")
//!     .metadata_url("https://tenant.auth0.com/.well-known/oauth-authorization-server")
//!     .scopes(ScopePolicy::new(["mcp:tools"]).with_tool_scopes("delete", ["mcp:admin"]))
//!     .public_path("/healthz")
//!     .build()
//!     .await?;
//! # let _ = authz; Ok(()) }
//! ```
//!
//! ## Testing your server behind the layer, offline
//!
//! [`AuthzBuilder::build_offline`] takes the keys instead of fetching them: no network, nothing
//! refreshed. With the test kit's development authorization server minting tokens, the whole
//! path runs in a unit test:
//!
//! ```
//! use mcp_authz_hyper::{Authz, JwkSet, PrincipalExt, ScopePolicy};
//! use mcp_authz_testkit::auth_server::DevAuthServer;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let resource = "https://mcp.example.com/mcp";
//! let dev = DevAuthServer::new("https://auth.example.com".into(), resource.into(),
//!     vec!["mcp:tools".into(), "mcp:admin".into()])?;
//! let keys = JwkSet::parse(dev.jwk_set().to_string().as_bytes(), &Default::default())?;
//! let authz = Authz::builder(resource)
//!     .issuer(dev.issuer())
//!     .scopes(ScopePolicy::new(["mcp:tools"]).with_tool_scopes("delete", ["mcp:admin"]))
//!     .build_offline(keys)?;
//! let app = ServiceBuilder::new().layer(authz.layer()).service_fn(|req: http::Request<_>| async move {
//!     let who = req.principal().and_then(|p| p.subject()).unwrap_or("?").to_owned();
//!     Ok::<_, std::convert::Infallible>(http::Response::new(who))
//! });
//! let call = |token: Option<String>, tool: &str| {
//!     let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#);
//!     let mut req = http::Request::post("/mcp").header("content-type", "application/json");
//!     if let Some(t) = token {
//!         req = req.header("authorization", format!("Bearer {t}"));
//!     }
//!     req.body(http_body_util::Full::new(bytes::Bytes::from(body))).unwrap()
//! };
//! // No token: 401 with the discovery challenge.
//! let r = app.clone().oneshot(call(None, "echo")).await?;
//! assert_eq!(r.status(), 401);
//! assert!(r.headers()["www-authenticate"].to_str()?.contains("resource_metadata="));
//! // A token with the base scope: the handler runs and sees the principal; not the admin tool.
//! let basic = dev.mint("my-client", "mcp:tools", resource)?;
//! assert_eq!(app.clone().oneshot(call(Some(basic.clone()), "echo")).await?.status(), 200);
//! assert_eq!(app.clone().oneshot(call(Some(basic), "delete")).await?.status(), 403);
//! let admin = dev.mint("my-client", "mcp:tools mcp:admin", resource)?;
//! assert_eq!(app.oneshot(call(Some(admin), "delete")).await?.status(), 200);
//! # Ok(()) }
//! ```
//!
//! ## axum
//!
//! ```
//! # fn demo(authz: mcp_authz_hyper::Authz) {
//! use axum::{routing::post, Extension, Router};
//! use mcp_authz_hyper::Principal;
//! use std::sync::Arc;
//!
//! async fn handler(Extension(who): Extension<Arc<Principal>>) -> String {
//!     format!("hello {}", who.subject().unwrap_or("?"))
//! }
//! let app: Router = Router::new().route("/mcp", post(handler)).layer(authz.layer());
//! # let _ = app; }
//! ```
//!
//! ## rmcp
//!
//! ```
//! # fn demo<S: rmcp::ServerHandler + Clone + Send + Sync + 'static>(authz: mcp_authz_hyper::Authz, server: S) {
//! use rmcp::transport::streamable_http_server::{session::local::LocalSessionManager, StreamableHttpService};
//! let mcp = StreamableHttpService::<S, LocalSessionManager>::new(
//!     move || Ok(server.clone()), Default::default(), Default::default());
//! let app: axum::Router = axum::Router::new().nest_service("/mcp", mcp).layer(authz.layer());
//! // In a tool: `Extension(parts): Extension<http::request::Parts>`, then
//! // `parts.principal()` (with `mcp_authz_hyper::PrincipalExt` in scope).
//! # let _ = app; }
//! ```
//! (`examples/rmcp_server.rs` is a complete server.)
//!
//! ## plain hyper
//!
//! ```
//! # fn demo(authz: mcp_authz_hyper::Authz) {
//! use hyper_util::service::TowerToHyperService;
//! use tower::ServiceBuilder;
//! use mcp_authz_hyper::AuthzRequestBody;
//! type Incoming = hyper::body::Incoming;
//! let svc = ServiceBuilder::new().layer(authz.layer()).service_fn(|_req: http::Request<AuthzRequestBody<Incoming>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok"))))
//! });
//! let hyper_service = TowerToHyperService::new(svc);
//! # let _ = hyper_service; }
//! ```

// The core's panic rules hold here too: bad input is an error, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::panic))]

mod expiry;
mod layer;
mod list_filter;

use std::sync::Arc;

use mcp_authz_core::as_metadata::AuthorizationServerMetadata;
use mcp_authz_driver::{
    discover_servers, Authorizer, AuthzOptions, Readiness, Refresh, SharedCache,
};

pub use expiry::Expiring;
pub use layer::{
    AuthzLayer, AuthzRequestBody, AuthzResponseBody, AuthzService, Decision, ResponseFuture,
};
pub use list_filter::{BoxError, ListedBody, MAX_LIST_BYTES};
/// Cedar policies as the scope policy's engine (feature `cedar`):
/// `ScopePolicy::with_engine(Arc::new(CedarEngine::from_file(path)?))`.
#[cfg(feature = "cedar")]
pub use mcp_authz_driver::CedarEngine;
pub use mcp_authz_driver::{
    colon_hierarchy, ClientAuthentication, DownstreamTokens, DpopMode, ExchangeClient,
    ExchangeProfile, ExchangeTarget, FetchOptions, IntrospectionMode, JwkSet, JwksRefreshConfig,
    KeySigner, KeyStore, Principal, PrincipalExt, ScopePolicy, StartupError, TokenCacheLimits,
    TypPolicy,
};

/// Builds an [`Authz`] (see the crate docs). The options are those of every mcp-authz adapter,
/// with the same names and defaults.
#[derive(Debug, Clone)]
pub struct AuthzBuilder {
    resource: String,
    options: AuthzOptions,
}

impl AuthzBuilder {
    mcp_authz_driver::authz_options_setters!();

    /// Fetches and validates the metadata of every authorization server, fetches their keys,
    /// and returns the ready middleware. With [`AuthzBuilder::lazy_start`], returns at once and
    /// does that in the background ([`Authz::is_ready`], [`Authz::readiness`]).
    ///
    /// # Errors
    /// A [`StartupError`] naming what is wrong; the server should not start.
    pub async fn build(self) -> Result<Authz, StartupError> {
        if self.options.lazy_start {
            match mcp_authz_driver::lazy_servers(&self.options)? {
                Some(servers) => return self.build_lazy(&servers),
                None => {
                    tracing::info!(target: "mcp_authz", "an issuer is known only from its metadata (a multi-tenant alias, or a metadata URL that is no well-known URL): discovering before serving")
                }
            }
        }
        let options = self.options;
        let (fetcher, found) = discover_servers(&options).await?;
        let servers: Vec<_> = found.iter().map(|d| d.server.clone()).collect();
        let guard = options.guard(&servers, &self.resource, "")?;
        let cache = options.cache.map(|l| Arc::new(SharedCache::new(l)));
        let on_new_keys = cache_follows_keys(&guard, cache.as_ref());
        let authorizer =
            Authorizer::start(&options, &fetcher, &found, Refresh::Background, on_new_keys).await?;
        let metadata = found.into_iter().map(|d| Arc::new(d.metadata)).collect();
        Ok(Authz::new(
            guard,
            authorizer,
            cache,
            Metadata::Validated(metadata),
        ))
    }

    /// [`AuthzBuilder::build`] with [`AuthzBuilder::lazy_start`]: nothing is fetched before it
    /// returns (see [`Authz::readiness`]).
    fn build_lazy(
        self,
        servers: &[mcp_authz_driver::TrustedServer],
    ) -> Result<Authz, StartupError> {
        let options = self.options;
        let fetcher = options
            .fetcher()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let guard = options.guard(servers, &self.resource, "")?;
        let cache = options.cache.map(|l| Arc::new(SharedCache::new(l)));
        let on_new_keys = cache_follows_keys(&guard, cache.as_ref());
        let (authorizer, readiness) = Authorizer::start_lazy(
            &options,
            &fetcher,
            servers,
            Refresh::Background,
            on_new_keys,
        )?;
        Ok(Authz::new(
            guard,
            authorizer,
            cache,
            Metadata::Lazy(readiness),
        ))
    }

    /// The middleware with fixed `keys` and the issuer set with [`AuthzBuilder::issuer`]:
    /// nothing is fetched and nothing refreshed (a token naming another key is refused at once).
    /// For tests of your own server behind the layer, and for deployments that pin their keys.
    ///
    /// # Errors
    /// [`StartupError::Config`] without an issuer, or with more than one (see
    /// [`AuthzBuilder::build_offline_per_issuer`]).
    pub fn build_offline(self, keys: JwkSet) -> Result<Authz, StartupError> {
        let (servers, authorizer) = Authorizer::offline_single(&self.options, keys)?;
        self.offline(&servers, authorizer)
    }

    /// [`AuthzBuilder::build_offline`] for several issuers: `keys[i]` are the keys of the
    /// `i`-th issuer set with [`AuthzBuilder::issuer`].
    ///
    /// # Errors
    /// [`StartupError::Config`] without an issuer, or when the counts differ.
    pub fn build_offline_per_issuer(self, keys: Vec<JwkSet>) -> Result<Authz, StartupError> {
        let (servers, authorizer) = Authorizer::offline(&self.options, keys)?;
        self.offline(&servers, authorizer)
    }

    fn offline(
        self,
        servers: &[mcp_authz_driver::TrustedServer],
        authorizer: Authorizer,
    ) -> Result<Authz, StartupError> {
        let guard = self.options.guard(servers, &self.resource, "")?;
        let cache = self.options.cache.map(|l| Arc::new(SharedCache::new(l)));
        Ok(Authz::new(
            guard,
            authorizer,
            cache,
            Metadata::Validated(Vec::new()),
        ))
    }
}

/// What each issuer's key store calls when its key set changes: a key leaving the set takes the
/// cache entries it verified with it.
fn cache_follows_keys(
    guard: &mcp_authz_core::Guard,
    cache: Option<&Arc<SharedCache>>,
) -> impl Fn(usize) -> Option<mcp_authz_driver::OnNewKeys> {
    let verifiers: Vec<_> = guard.verifiers().cloned().collect();
    let cache = cache.cloned();
    move |issuer: usize| {
        let (cache, verifier) = (cache.clone()?, verifiers.get(issuer)?.clone());
        let drop_removed: mcp_authz_driver::OnNewKeys =
            Arc::new(move |keys: &JwkSet| cache.retain_keys_of(&verifier, keys));
        Some(drop_removed)
    }
}

/// A started resource server: validated metadata, live keys, and the middleware.
#[derive(Clone, Debug)]
pub struct Authz {
    state: Arc<layer::State>,
    metadata: Metadata,
}

/// The authorization servers' metadata: validated before the build returned, or being
/// discovered (a lazy start).
#[derive(Clone, Debug)]
enum Metadata {
    Validated(Vec<Arc<AuthorizationServerMetadata>>),
    Lazy(Arc<Readiness>),
}

impl Authz {
    /// Starts building the resource server for `resource`, the public URL of the MCP endpoint
    /// (e.g. `https://mcp.example.com/mcp`): exactly what clients connect to, and what tokens'
    /// `aud` must name.
    pub fn builder(resource: impl Into<String>) -> AuthzBuilder {
        AuthzBuilder {
            resource: resource.into(),
            options: AuthzOptions::default(),
        }
    }

    fn new(
        guard: mcp_authz_core::Guard,
        authorizer: Authorizer,
        cache: Option<Arc<SharedCache>>,
        metadata: Metadata,
    ) -> Self {
        let state = Arc::new(layer::State {
            guard: Arc::new(guard),
            authorizer,
            cache,
        });
        Self { state, metadata }
    }

    /// The tower layer.
    pub fn layer(&self) -> AuthzLayer {
        AuthzLayer::new(self.state.clone())
    }

    /// The per-request decision.
    pub fn guard(&self) -> &mcp_authz_core::Guard {
        self.state.guard.as_ref()
    }

    /// The first authorization server's validated metadata (none when built offline, or not
    /// validated yet after a lazy start).
    pub fn authorization_server(&self) -> Option<Arc<AuthorizationServerMetadata>> {
        self.authorization_servers().into_iter().next()
    }

    /// Every authorization server's validated metadata, in the configured order (empty when
    /// built offline; after a lazy start, those validated so far).
    pub fn authorization_servers(&self) -> Vec<Arc<AuthorizationServerMetadata>> {
        match &self.metadata {
            Metadata::Validated(m) => m.clone(),
            Metadata::Lazy(r) => r.metadata(),
        }
    }

    /// Whether every authorization server has validated metadata and keys: always after an
    /// eager build; after a lazy start, once each was discovered (`/readyz`).
    pub fn is_ready(&self) -> bool {
        match &self.metadata {
            Metadata::Validated(_) => self.key_stores().iter().all(KeyStore::has_keys),
            Metadata::Lazy(r) => r.is_ready(),
        }
    }

    /// What a readiness probe answers: `ready`, and per authorization server where its
    /// metadata and keys stand (with the reason when they are missing).
    pub fn readiness(&self) -> serde_json::Value {
        match &self.metadata {
            Metadata::Lazy(r) => r.report(),
            Metadata::Validated(m) => {
                let servers: Vec<_> = m
                    .iter()
                    .zip(self.key_stores())
                    .map(|(m, k)| {
                        let keys = if k.has_keys() { "loaded" } else { "missing" };
                        serde_json::json!({"issuer": m.issuer(), "metadata": "validated", "keys": keys})
                    })
                    .collect();
                serde_json::json!({"ready": self.is_ready(), "authorization_servers": servers})
            }
        }
    }

    /// The first authorization server's keys.
    // Never empty: the guard needs a server, and each has keys.
    #[allow(clippy::indexing_slicing)]
    pub fn keys(&self) -> &KeyStore {
        &self.state.authorizer.key_stores()[0]
    }

    /// The request loop's state (shared machinery for the proxy, not API).
    #[doc(hidden)]
    pub fn authorizer(&self) -> &mcp_authz_driver::Authorizer {
        &self.state.authorizer
    }

    /// Every authorization server's keys, in the configured order.
    pub fn key_stores(&self) -> &[KeyStore] {
        self.state.authorizer.key_stores()
    }

    /// Introspection calls made so far, and answers served from its cache: (calls, hits);
    /// `None` when nothing is introspected.
    pub fn introspection_stats(&self) -> Option<(u64, u64)> {
        self.state
            .authorizer
            .introspector()
            .map(|i| (i.calls(), i.hits()))
    }

    /// The verified-token cache's lookups so far: (hits, misses); `None` when it is off.
    pub fn token_cache_stats(&self) -> Option<(u64, u64)> {
        self.state.cache.as_ref().map(|c| c.stats())
    }
}
