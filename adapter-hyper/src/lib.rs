//! # mcp-authz-hyper
//!
//! The tokio/hyper driver of [`mcp_authz_core`]: it fetches (HTTPS), keeps the keys fresh
//! (timers), and puts the core's per-request decision in front of any tower service as a
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
//! (see [`layer`]); merging public routes after `.layer(…)` would put the metadata documents
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
//!
//! ```no_run
//! use mcp_authz_core::ScopePolicy;
//! use mcp_authz_hyper::Authz;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let authz = Authz::builder("https://mcp.example.com/mcp")
//!     .metadata_url("https://tenant.auth0.com/.well-known/oauth-authorization-server")
//!     .scopes(ScopePolicy::new(["mcp:tools"]).with_tool_scopes("delete", ["mcp:admin"]))
//!     .build()
//!     .await?;
//! # let _ = authz; Ok(()) }
//! ```
//!
//! ## axum
//!
//! ```
//! # fn demo(authz: mcp_authz_hyper::Authz) {
//! use std::sync::Arc;
//! use axum::{routing::post, Extension, Router};
//! use mcp_authz_core::Principal;
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
//! // `parts.extensions.get::<std::sync::Arc<mcp_authz_core::Principal>>()`.
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
//! use mcp_authz_hyper::layer::AuthzRequestBody;
//! type Incoming = hyper::body::Incoming;
//! let svc = ServiceBuilder::new().layer(authz.layer()).service_fn(|_req: http::Request<AuthzRequestBody<Incoming>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok"))))
//! });
//! let hyper_service = TowerToHyperService::new(svc);
//! # let _ = hyper_service; }
//! ```

pub mod fetch;
pub mod jwks_driver;
pub mod layer;
pub mod response;

use std::sync::Arc;
use std::time::Duration;

use mcp_authz_core::as_metadata::{
    issuer_from_metadata_url, metadata_urls_for_issuer, validate, AuthorizationServerMetadata,
    MetadataPolicy, Report, MAX_METADATA_BYTES,
};
use mcp_authz_core::jwks_refresh::{FetchFailure, JwksRefreshConfig};
use mcp_authz_core::token_cache::TokenCacheLimits;
use mcp_authz_core::{Guard, ProtectedResourceMetadata, ScopePolicy, TypPolicy, VerifierConfig};

pub use fetch::{FetchError, FetchOptions, HttpFetcher};
pub use jwks_driver::KeyStore;
pub use layer::{AuthzLayer, AuthzService};
pub use mcp_authz_core::Principal;

/// Why the resource server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartupError {
    /// The configuration is not usable (e.g. the metadata URL is not a well-known URL).
    Config(String),
    /// The metadata could not be fetched.
    Fetch {
        /// The URL tried.
        url: String,
        /// What went wrong.
        error: FetchError,
    },
    /// The metadata URL answered with another status than 200.
    Status {
        /// The URL tried.
        url: String,
        /// The status.
        status: u16,
    },
    /// The metadata document is not acceptable: every problem is in the report.
    Metadata {
        /// The URL fetched.
        url: String,
        /// The validation report.
        report: Box<Report>,
    },
    /// The JWK Set could not be fetched or used.
    Jwks {
        /// The `jwks_uri`.
        url: String,
        /// Why.
        failure: FetchFailure,
    },
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(m) => f.write_str(m),
            Self::Fetch { url, error } => write!(f, "cannot fetch {url}: {error}"),
            Self::Status { url, status } => write!(f, "{url} answered HTTP {status}"),
            Self::Metadata { url, report } => {
                write!(
                    f,
                    "the authorization-server metadata at {url} is not acceptable:"
                )?;
                for p in &report.problems {
                    write!(f, "\n  - {}: {}", p.field, p.kind)?;
                }
                Ok(())
            }
            Self::Jwks { url, failure } => write!(f, "cannot use the JWK Set at {url}: {failure}"),
        }
    }
}

impl std::error::Error for StartupError {}

/// Fetches a metadata document and validates it as if served from `url`, whose implied issuer
/// (or `expected_issuer`) it must name.
///
/// # Errors
/// [`StartupError::Fetch`] or [`StartupError::Status`] when there is no document; a
/// [`StartupError::Config`] when `url` implies no issuer and none is given. The report says
/// whether the document is acceptable.
pub async fn fetch_metadata(
    fetcher: &HttpFetcher,
    url: &str,
    expected_issuer: Option<&str>,
    policy: &MetadataPolicy,
) -> Result<Report, StartupError> {
    let expected = match expected_issuer {
        Some(i) => i.to_owned(),
        None => issuer_from_metadata_url(url)
            .map_err(|e| StartupError::Config(format!("{url}: {e}")))?,
    };
    let fetched = fetcher
        .get(url, MAX_METADATA_BYTES)
        .await
        .map_err(|error| StartupError::Fetch {
            url: url.to_owned(),
            error,
        })?;
    if fetched.status != 200 {
        return Err(StartupError::Status {
            url: url.to_owned(),
            status: fetched.status,
        });
    }
    Ok(validate(&fetched.body, &expected, policy))
}

/// Finds and validates the authorization server's metadata: at `metadata_url`, or else at the
/// well-known URLs of `issuer` in the order MCP clients try them (a 4xx moves on to the next).
/// Warnings are logged. Returns the URL that answered and the validated metadata.
///
/// # Errors
/// A [`StartupError`] naming what is wrong.
pub async fn discover(
    fetcher: &HttpFetcher,
    metadata_url: Option<&str>,
    issuer: Option<&str>,
    policy: &MetadataPolicy,
) -> Result<(String, AuthorizationServerMetadata), StartupError> {
    let candidates: Vec<String> = match (metadata_url, issuer) {
        (Some(url), _) => vec![url.to_owned()],
        (None, Some(issuer)) => metadata_urls_for_issuer(issuer),
        (None, None) => {
            return Err(StartupError::Config(
                "give a metadata URL or an issuer".into(),
            ))
        }
    };
    if candidates.is_empty() {
        return Err(StartupError::Config(
            "the issuer is not an absolute URL".into(),
        ));
    }
    let mut last = None;
    for url in candidates {
        match fetch_metadata(fetcher, &url, issuer, policy).await {
            Ok(report) => match report.metadata.clone() {
                Some(m) => {
                    for w in &report.warnings {
                        tracing::warn!(target: "mcp_authz", url = %url, warning = %w, "authorization-server metadata");
                    }
                    return Ok((url, m));
                }
                None => {
                    return Err(StartupError::Metadata {
                        url,
                        report: Box::new(report),
                    })
                }
            },
            // A 4xx at one well-known URL: try the next one, as MCP clients do.
            Err(e @ StartupError::Status { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| StartupError::Config("no metadata found".into())))
}

/// Builds an [`Authz`] (see the crate docs).
#[derive(Debug, Clone)]
pub struct AuthzBuilder {
    resource: String,
    metadata_url: Option<String>,
    issuer: Option<String>,
    scopes: ScopePolicy,
    policy: MetadataPolicy,
    fetch: FetchOptions,
    refresh: JwksRefreshConfig,
    cache: Option<TokenCacheLimits>,
    keep_authorization: bool,
    kid_wait: Duration,
    typ: TypPolicy,
    leeway_secs: Option<u64>,
    max_lifetime: Option<Duration>,
    edit_metadata: Option<MetadataEdit>,
    require_keys: bool,
    public_paths: Vec<String>,
}

type EditFn = dyn Fn(ProtectedResourceMetadata) -> ProtectedResourceMetadata + Send + Sync;

#[derive(Clone)]
struct MetadataEdit(Arc<EditFn>);

impl std::fmt::Debug for MetadataEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetadataEdit")
    }
}

impl AuthzBuilder {
    /// The authorization server's RFC 8414 (or OIDC Discovery) metadata URL.
    #[must_use]
    pub fn metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = Some(url.into());
        self
    }

    /// The authorization server's issuer: its metadata is looked up at the well-known URLs MCP
    /// clients try, in their order.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The scope policy (default: no scope required).
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

    /// Accept plain `http` to loopback hosts (development only), for metadata and keys.
    #[must_use]
    pub fn allow_http_loopback(mut self, yes: bool) -> Self {
        self.policy = self.policy.allow_http_loopback(yes);
        self.fetch = self.fetch.allow_http_loopback(yes);
        self
    }

    /// HTTP client options.
    #[must_use]
    pub fn fetch_options(mut self, options: FetchOptions) -> Self {
        let loopback = self.fetch.allow_http_loopback;
        self.fetch = options.allow_http_loopback(options.allow_http_loopback || loopback);
        self
    }

    /// The JWK Set refresh policy.
    #[must_use]
    pub fn refresh(mut self, config: JwksRefreshConfig) -> Self {
        self.refresh = config;
        self
    }

    /// The verified-token cache (on by default); `None` turns it off.
    #[must_use]
    pub fn token_cache(mut self, limits: Option<TokenCacheLimits>) -> Self {
        self.cache = limits;
        self
    }

    /// Keep the `Authorization` header for the inner service (off by default: MCP forbids
    /// passing the client's token on).
    #[must_use]
    pub fn keep_authorization(mut self, yes: bool) -> Self {
        self.keep_authorization = yes;
        self
    }

    /// How long a request with an unknown `kid` waits for the key refresh (default 5 s).
    #[must_use]
    pub fn kid_wait(mut self, wait: Duration) -> Self {
        self.kid_wait = wait;
        self
    }

    /// Refuse to start when the first JWK Set fetch fails (default: start anyway and answer
    /// 503 + `Retry-After` until keys arrive).
    #[must_use]
    pub fn require_keys_at_startup(mut self, yes: bool) -> Self {
        self.require_keys = yes;
        self
    }

    /// Which `typ` values tokens may carry (default: `at+jwt` only).
    #[must_use]
    pub fn typ_policy(mut self, typ: TypPolicy) -> Self {
        self.typ = typ;
        self
    }

    /// Clock-skew leeway in seconds (default 60).
    #[must_use]
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = Some(secs);
        self
    }

    /// Refuse tokens that live longer than `max` (`exp − iat`, or `exp − now` without `iat`);
    /// `None` (the default) sets no limit.
    #[must_use]
    pub fn max_token_lifetime(mut self, max: Option<Duration>) -> Self {
        self.max_lifetime = max;
        self
    }

    /// Serves `path` without a token (exact match, any method), e.g. `/healthz` (repeatable).
    /// Everything else the layer wraps needs a valid token, except the metadata documents and
    /// the resource's CORS preflight.
    #[must_use]
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// Edits the protected-resource metadata document (e.g. `resource_name`).
    #[must_use]
    pub fn resource_metadata(
        mut self,
        edit: impl Fn(ProtectedResourceMetadata) -> ProtectedResourceMetadata + Send + Sync + 'static,
    ) -> Self {
        self.edit_metadata = Some(MetadataEdit(Arc::new(edit)));
        self
    }

    /// Fetches and validates the metadata, fetches the keys, and returns the ready middleware.
    ///
    /// # Errors
    /// A [`StartupError`] naming what is wrong; the server should not start.
    pub async fn build(self) -> Result<Authz, StartupError> {
        let fetcher =
            HttpFetcher::new(self.fetch).map_err(|e| StartupError::Config(e.to_string()))?;
        let (_, metadata) = discover(
            &fetcher,
            self.metadata_url.as_deref(),
            self.issuer.as_deref(),
            &self.policy,
        )
        .await?;
        let mut config = VerifierConfig::new(metadata.issuer(), self.resource.clone())
            .with_typ_policy(self.typ)
            .with_max_lifetime_secs(self.max_lifetime.map(|d| d.as_secs()));
        if let Some(l) = self.leeway_secs {
            config = config.with_leeway_secs(l);
        }
        let mut guard = Guard::new(config, self.scopes.clone());
        if let Some(edit) = &self.edit_metadata {
            guard = guard.with_metadata(|m| (edit.0)(m));
        }
        for path in &self.public_paths {
            guard = guard.with_public_path(path.clone());
        }
        let jwks_uri = metadata.jwks_uri().to_owned();
        let keys = KeyStore::start(jwks_uri.clone(), fetcher, self.refresh, self.cache).await;
        if let Some(failure) = keys.first_failure() {
            if self.require_keys {
                return Err(StartupError::Jwks {
                    url: jwks_uri,
                    failure,
                });
            }
            tracing::warn!(target: "mcp_authz", jwks_uri = %jwks_uri, failure = %failure, "no keys yet: requests with a token get 503 until a fetch succeeds");
        }
        let state = Arc::new(layer::State {
            guard,
            keys,
            keep_authorization: self.keep_authorization,
            kid_wait: self.kid_wait,
        });
        Ok(Authz {
            state,
            metadata: Arc::new(metadata),
        })
    }
}

/// A started resource server: validated metadata, live keys, and the middleware.
#[derive(Clone, Debug)]
pub struct Authz {
    state: Arc<layer::State>,
    metadata: Arc<AuthorizationServerMetadata>,
}

impl Authz {
    /// Starts building the resource server for `resource`, the public URL of the MCP endpoint
    /// (e.g. `https://mcp.example.com/mcp`): exactly what clients connect to, and what tokens'
    /// `aud` must name.
    pub fn builder(resource: impl Into<String>) -> AuthzBuilder {
        AuthzBuilder {
            resource: resource.into(),
            metadata_url: None,
            issuer: None,
            scopes: ScopePolicy::default(),
            policy: MetadataPolicy::new(),
            fetch: FetchOptions::default(),
            refresh: JwksRefreshConfig::default(),
            cache: Some(TokenCacheLimits::default()),
            keep_authorization: false,
            kid_wait: Duration::from_secs(5),
            typ: TypPolicy::default(),
            leeway_secs: None,
            max_lifetime: None,
            edit_metadata: None,
            require_keys: false,
            public_paths: Vec::new(),
        }
    }

    /// The tower layer.
    pub fn layer(&self) -> AuthzLayer {
        AuthzLayer::new(self.state.clone())
    }

    /// The per-request decision.
    pub fn guard(&self) -> &Guard {
        &self.state.guard
    }

    /// The authorization server's validated metadata.
    pub fn authorization_server(&self) -> &AuthorizationServerMetadata {
        &self.metadata
    }

    /// The live keys.
    pub fn keys(&self) -> &KeyStore {
        &self.state.keys
    }
}
