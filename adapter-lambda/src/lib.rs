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
//! let authz = LambdaAuthz::builder() // the MCP endpoint at /mcp (`.resource_path(…)`)
//!     .metadata_url("https://tenant.auth0.com/.well-known/oauth-authorization-server")
//!     .public_base_url("https://mcp.example.com")
//!     .build()
//!     .await?;
//! lambda_http::run(authz.wrap(router)).await
//! # }
//! ```
//!
//! ## Testing a function offline
//!
//! [`LambdaAuthzBuilder::build_offline`] takes the keys instead of fetching them. With the test
//! kit's development authorization server minting tokens, the wrapped function runs in a unit
//! test (a configured public base URL stands in for the event's domain):
//!
//! ```
//! use mcp_authz_lambda::{JwkSet, LambdaAuthz, PrincipalExt, ScopePolicy};
//! use mcp_authz_testkit::auth_server::DevAuthServer;
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), lambda_http::Error> {
//! let resource = "https://mcp.example.com/mcp";
//! let dev = DevAuthServer::new("https://auth.example.com".into(), resource.into(),
//!     vec!["mcp:tools".into(), "mcp:admin".into()])?;
//! let keys = JwkSet::parse(dev.jwk_set().to_string().as_bytes(), &Default::default())?;
//! let authz = LambdaAuthz::builder()
//!     .issuer(dev.issuer())
//!     .public_base_url("https://mcp.example.com")
//!     .scopes(ScopePolicy::new(["mcp:tools"]).with_tool_scopes("delete", ["mcp:admin"]))
//!     .build_offline(keys)?;
//! let mut function = authz.wrap(tower::service_fn(|req: http::Request<lambda_http::Body>| async move {
//!     let who = req.principal().and_then(|p| p.subject()).unwrap_or("?").to_owned();
//!     Ok::<_, std::convert::Infallible>(http::Response::new(who))
//! }));
//! let event = |token: Option<String>, tool: &str| {
//!     let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#);
//!     let mut req = http::Request::post("/mcp").header("content-type", "application/json");
//!     if let Some(t) = token {
//!         req = req.header("authorization", format!("Bearer {t}"));
//!     }
//!     req.body(lambda_http::Body::from(body)).unwrap()
//! };
//! let r = function.ready().await?.call(event(None, "echo")).await?;
//! assert_eq!(r.status(), 401);
//! let basic = dev.mint("my-client", "mcp:tools", resource)?;
//! let r = function.ready().await?.call(event(Some(basic.clone()), "echo")).await?;
//! assert_eq!((r.status().as_u16(), r.body().as_ref()), (200, &b"demo-user"[..]));
//! let r = function.ready().await?.call(event(Some(basic), "delete")).await?;
//! assert_eq!(r.status(), 403);
//! let admin = dev.mint("my-client", "mcp:tools mcp:admin", resource)?;
//! assert_eq!(function.ready().await?.call(event(Some(admin), "delete")).await?.status(), 200);
//! # Ok(()) }
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

// The core's panic rules hold here too: bad input is an error, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::panic))]

mod urls;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use lambda_http::Body;
use mcp_authz_core::list_filter::{EventData, ListFilter, UNFILTERABLE};
use mcp_authz_core::resource_metadata::PRM_WELL_KNOWN;
use mcp_authz_core::Guard;
use mcp_authz_driver::{
    discover_servers, json_error_with, Authorizer, AuthzOptions, ListAnswer, OnNewKeys, Refresh,
    SharedCache, TrustedServer, Verdict,
};
use tower_service::Service;

/// Cedar policies as the scope policy's engine (feature `cedar`).
#[cfg(feature = "cedar")]
pub use mcp_authz_driver::CedarEngine;
pub use mcp_authz_driver::{
    colon_hierarchy, ClientAuthentication, DownstreamTokens, DpopMode, ExchangeClient,
    ExchangeProfile, ExchangeTarget, FetchOptions, IntrospectionMode, JwkSet, JwksRefreshConfig,
    KeySigner, Principal, PrincipalExt, ScopePolicy, StartupError, TokenCacheLimits, TypPolicy,
};
pub use urls::{PublicUrls, PublicView, UrlError};

/// Guards are built per distinct public resource URL; at most this many are kept (those first
/// used by an allowed request).
const MAX_GUARDS: usize = 16;

/// One public resource URL's guard, with its own verified-token cache: two origins (a custom
/// domain and execute-api, two ALB hosts) never empty each other's.
struct Origin {
    guard: Guard,
    cache: Option<SharedCache>,
}

/// The guards kept, by public resource URL.
type Origins = Arc<Mutex<BTreeMap<String, Arc<Origin>>>>;

struct Shared {
    /// The authorization servers, in the configured order.
    servers: Vec<TrustedServer>,
    options: AuthzOptions,
    resource_path: String,
    urls: PublicUrls,
    /// The keys (refreshed inline, at invocation time: no task runs while the environment is
    /// frozen), introspection and the DPoP replay cache of this execution environment.
    authorizer: Authorizer,
    origins: Origins,
    /// After a lazy start: where discovery stands (its task lives as long as this).
    readiness: Option<Arc<mcp_authz_driver::Readiness>>,
}

/// Builds a [`LambdaAuthz`]. The options are those of every mcp-authz adapter, with the same
/// names and defaults, plus the Lambda ones: the resource path and the public URLs.
#[derive(Debug, Clone)]
pub struct LambdaAuthzBuilder {
    resource_path: String,
    urls: PublicUrls,
    options: AuthzOptions,
}

impl LambdaAuthzBuilder {
    mcp_authz_driver::authz_options_setters!();

    /// The path of the MCP endpoint after any stage or base path (default `/mcp`). The resource
    /// URL tokens must name is the public base URL (configured or from the event) plus this.
    #[must_use]
    pub fn resource_path(mut self, path: impl Into<String>) -> Self {
        self.resource_path = path.into();
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

    /// Cold start: fetch and validate the metadata of every authorization server, fetch their
    /// keys. With [`LambdaAuthzBuilder::lazy_start`], nothing is fetched here (the init phase
    /// does not fail when the authorization server blips): discovery runs while invocations
    /// do, and requests with a token get 503 + `Retry-After` until it succeeded.
    ///
    /// # Errors
    /// A [`StartupError`] naming what is wrong (the function should not serve).
    pub async fn build(self) -> Result<LambdaAuthz, StartupError> {
        let lazy = match self.options.lazy_start {
            true => mcp_authz_driver::lazy_servers(&self.options)?,
            false => None,
        };
        let is_lazy = lazy.is_some();
        let (fetcher, found, servers) = match lazy {
            // The init phase must not fail because the authorization server blipped.
            Some(servers) => {
                let fetcher = self
                    .options
                    .fetcher()
                    .map_err(|e| StartupError::Config(e.to_string()))?;
                (fetcher, Vec::new(), servers)
            }
            None => {
                let (fetcher, found) = discover_servers(&self.options).await?;
                let servers: Vec<TrustedServer> = found.iter().map(|d| d.server.clone()).collect();
                (fetcher, found, servers)
            }
        };
        self.check(&servers)?;
        let origins = Origins::default();
        // A key leaving an issuer's set takes the cache entries it verified with it, in every
        // origin's cache.
        let on_new_keys = |issuer: usize| {
            let origins = origins.clone();
            let drop_removed: OnNewKeys = Arc::new(move |keys: &JwkSet| {
                let origins = origins.lock().unwrap_or_else(PoisonError::into_inner);
                for origin in origins.values() {
                    if let (Some(cache), Some(verifier)) =
                        (&origin.cache, origin.guard.verifier_at(issuer))
                    {
                        cache.retain_keys_of(verifier, keys);
                    }
                }
            });
            Some(drop_removed)
        };
        if is_lazy {
            let (authorizer, readiness) = Authorizer::start_lazy(
                &self.options,
                &fetcher,
                &servers,
                Refresh::Inline,
                on_new_keys,
            )?;
            let mut authz = self.into_authz(servers, authorizer, origins);
            if let Some(shared) = Arc::get_mut(&mut authz.shared) {
                shared.readiness = Some(readiness);
            }
            return Ok(authz);
        }
        let authorizer = Authorizer::start(
            &self.options,
            &fetcher,
            &found,
            Refresh::Inline,
            on_new_keys,
        )
        .await?;
        Ok(self.into_authz(servers, authorizer, origins))
    }

    /// The wrapper with fixed `keys` and the issuer set with [`LambdaAuthzBuilder::issuer`]:
    /// nothing is fetched and nothing refreshed. For tests of a function with event fixtures,
    /// and for deployments that pin their keys.
    ///
    /// # Errors
    /// [`StartupError::Config`] without an issuer, or with more than one (see
    /// [`LambdaAuthzBuilder::build_offline_per_issuer`]).
    pub fn build_offline(self, keys: JwkSet) -> Result<LambdaAuthz, StartupError> {
        let (servers, authorizer) = Authorizer::offline_single(&self.options, keys)?;
        self.check(&servers)?;
        Ok(self.into_authz(servers, authorizer, Origins::default()))
    }

    /// [`LambdaAuthzBuilder::build_offline`] for several issuers: `keys[i]` are the keys of the
    /// `i`-th issuer set with [`LambdaAuthzBuilder::issuer`].
    ///
    /// # Errors
    /// [`StartupError::Config`] without an issuer, or when the counts differ.
    pub fn build_offline_per_issuer(self, keys: Vec<JwkSet>) -> Result<LambdaAuthz, StartupError> {
        let (servers, authorizer) = Authorizer::offline(&self.options, keys)?;
        self.check(&servers)?;
        Ok(self.into_authz(servers, authorizer, Origins::default()))
    }

    /// Refuses, at start-up, what every origin's guard would refuse (a tenant template without
    /// tenants): guards are built per public origin, later.
    fn check(&self, servers: &[TrustedServer]) -> Result<(), StartupError> {
        let resource = format!("https://start-up.invalid{}", self.resource_path);
        self.options.guard(servers, &resource, "").map(drop)
    }

    fn into_authz(
        self,
        servers: Vec<TrustedServer>,
        authorizer: Authorizer,
        origins: Origins,
    ) -> LambdaAuthz {
        LambdaAuthz {
            shared: Arc::new(Shared {
                servers,
                authorizer,
                options: self.options,
                resource_path: self.resource_path,
                urls: self.urls,
                origins,
                readiness: None,
            }),
        }
    }
}

/// A started resource server for Lambda (see the crate docs).
#[derive(Clone)]
pub struct LambdaAuthz {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LambdaAuthz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaAuthz")
            .field("servers", &self.shared.servers)
            .finish_non_exhaustive()
    }
}

impl LambdaAuthz {
    /// Starts building, for the MCP endpoint at `/mcp` after any stage or base path (see
    /// [`LambdaAuthzBuilder::resource_path`]).
    pub fn builder() -> LambdaAuthzBuilder {
        LambdaAuthzBuilder {
            resource_path: "/mcp".into(),
            urls: PublicUrls::default(),
            options: AuthzOptions::default(),
        }
    }

    /// The issuer of the first authorization server.
    pub fn issuer(&self) -> &str {
        self.shared
            .servers
            .first()
            .map_or("", |s| s.issuer.as_str())
    }

    /// The issuers tokens may come from, in the configured order.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.shared.servers.iter().map(|s| s.issuer.as_str())
    }

    /// How many JWK Set fetches were started (the cold start's included), over every issuer.
    pub fn jwks_fetches(&self) -> u64 {
        self.shared
            .authorizer
            .key_stores()
            .iter()
            .map(|k| k.fetches())
            .sum()
    }

    /// Introspection calls made so far, and answers served from its cache: (calls, hits);
    /// `None` when nothing is introspected.
    pub fn introspection_stats(&self) -> Option<(u64, u64)> {
        self.shared
            .authorizer
            .introspector()
            .map(|i| (i.calls(), i.hits()))
    }

    /// Verified-token cache lookups so far, over every public origin: (hits, misses).
    pub fn token_cache_stats(&self) -> (u64, u64) {
        self.shared.origins.lock().map_or((0, 0), |origins| {
            origins
                .values()
                .filter_map(|o| o.cache.as_ref())
                .map(SharedCache::stats)
                .fold((0, 0), |(h, m), (h2, m2)| (h + h2, m + m2))
        })
    }

    /// Wraps the MCP handler.
    pub fn wrap<S>(&self, inner: S) -> LambdaAuthzService<S> {
        LambdaAuthzService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The guard of the public resource URL of `view`: the one kept for it, or a new one (with an
/// empty token cache) that [`remember`] keeps once a request through it was allowed.
fn origin_for(shared: &Shared, view: &PublicView) -> Result<Fresh, StartupError> {
    let resource = format!("{}{}{}", view.origin, view.prefix, shared.resource_path);
    if let Some(o) = shared
        .origins
        .lock()
        .ok()
        .and_then(|o| o.get(&resource).cloned())
    {
        return Ok(Fresh::Kept(o));
    }
    let mut guard = shared
        .options
        .guard(&shared.servers, &resource, &view.prefix)?;
    if !view.prefix.is_empty() {
        // The root well-known URL cannot reach a named stage; point clients at the prefixed one,
        // which this adapter answers too.
        let (aware, _) = guard.metadata().well_known_paths();
        guard = guard.with_resource_metadata_url(format!("{}{}{aware}", view.origin, view.prefix));
    }
    let origin = Arc::new(Origin {
        guard,
        cache: shared.options.cache.map(SharedCache::new),
    });
    Ok(Fresh::New(resource, origin))
}

/// A guard [`origin_for`] found kept, or made for this request.
enum Fresh {
    Kept(Arc<Origin>),
    New(String, Arc<Origin>),
}

impl Fresh {
    fn origin(&self) -> &Arc<Origin> {
        match self {
            Self::Kept(o) | Self::New(_, o) => o,
        }
    }
}

/// Keeps a new origin's guard after a request through it was allowed (a valid token for that
/// resource URL), while fewer than [`MAX_GUARDS`] are kept. Nothing is ever evicted: an
/// unauthenticated request (any made-up stage or well-known path) cannot empty the guards, or the
/// token caches, of the origins in use.
fn remember(shared: &Shared, fresh: Fresh) {
    if let (Fresh::New(resource, origin), Ok(mut origins)) = (fresh, shared.origins.lock()) {
        if origins.len() < MAX_GUARDS {
            origins.entry(resource).or_insert(origin);
        }
    }
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
            let Ok(fresh) = origin_for(&shared, &view) else {
                // Checked at start-up, so this cannot happen; if it does, deny.
                return Ok(json_error_with(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "no authorization decision",
                    lambda_body,
                ));
            };
            let origin = fresh.origin().clone();
            let guard = &origin.guard;
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
            let (mut parts, body) = req.into_parts();
            // The guard judges the public path (never the event's own URI); the handler gets
            // the application path.
            if !set_path(&mut parts, &path) {
                return Ok(json_error_with(
                    http::StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the request path is not a URI path",
                    lambda_body,
                ));
            }
            let (cache, mut event_body) = (origin.cache.as_ref(), body.as_ref());
            let verdict = shared
                .authorizer
                .authorize(guard, cache, &mut parts, &mut event_body);
            let (principal, lists, anonymous) = match verdict.await {
                // Lambda buffers the answer: there is no stream to close early.
                Verdict::Forward {
                    principal,
                    lists,
                    anonymous,
                    closing: _,
                } => (principal, lists, anonymous),
                Verdict::Answer { response, .. } => return Ok(response.map(lambda_body)),
            };
            if principal.is_some() {
                remember(&shared, fresh);
            }
            // A list answer must come back readable: no content coding.
            if !lists.is_empty() {
                parts.headers.remove(http::header::ACCEPT_ENCODING);
            }
            let mut response = call_inner(&mut inner, parts, body, &view).await?;
            let refused = match &principal {
                Some(principal) => {
                    let headers = response.headers();
                    (shared.authorizer)
                        .opened_session(guard, principal, headers)
                        .await
                }
                None if anonymous => {
                    let headers = response.headers();
                    (shared.authorizer)
                        .opened_anonymous_session(guard, headers)
                        .await
                }
                None => None,
            };
            // The binding could not be stored (fail closed): the session is not handed out.
            if let Some(refused) = refused {
                return Ok(refused.map(lambda_body));
            }
            if !lists.is_empty() {
                let policy = guard.scope_policy();
                let filter = match &principal {
                    Some(p) => ListFilter::new(policy, p, &lists),
                    None => ListFilter::anonymous(policy, &lists),
                };
                if lists.learns_tools() {
                    learn_tools(&response, &shared.authorizer).await;
                }
                if lists.filters() {
                    response = filter_list(response, filter).await;
                }
            }
            Ok(response)
        })
    }
}

/// The answer to a list request with the results the caller may not use removed
/// ([`mcp_authz_core::list_filter`]): a JSON answer as a whole, an event stream event by event
/// (parsed and re-encoded with `sse-stream`; an event that does not parse is dropped). A
/// successful answer the filter cannot read (another type, a content coding, JSON or an event
/// stream that does not parse) becomes a JSON-RPC error.
async fn filter_list(
    response: http::Response<Body>,
    filter: ListFilter<'_>,
) -> http::Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes: &[u8] = body.as_ref();
    let out = match ListAnswer::of(&parts.headers) {
        ListAnswer::Json => Some(filter.filter_json(bytes).into_bytes(bytes)),
        ListAnswer::EventStream => {
            let full = http_body_util::Full::new(Bytes::copy_from_slice(bytes));
            let events: Result<Vec<sse_stream::Sse>, _> =
                sse_stream::SseStream::new(full).try_collect().await;
            Some(match events {
                Ok(events) => {
                    let mut out = Vec::new();
                    for mut event in events {
                        match event.data.as_deref().map(|d| filter.filter_event_data(d)) {
                            None | Some(EventData::Keep) => {}
                            Some(EventData::Replace(text)) => event.data = Some(text),
                            Some(EventData::Drop) => continue,
                        }
                        out.extend_from_slice(&Bytes::from(event));
                    }
                    out
                }
                Err(_) => UNFILTERABLE.to_vec(),
            })
        }
        ListAnswer::Unreadable if parts.status.is_success() => {
            parts.headers.remove(http::header::CONTENT_ENCODING);
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Some(UNFILTERABLE.to_vec())
        }
        ListAnswer::Unreadable => None,
    };
    match out {
        Some(new) => {
            parts.headers.remove(http::header::CONTENT_LENGTH);
            http::Response::from_parts(parts, lambda_body(Bytes::from(new)))
        }
        None => http::Response::from_parts(parts, body),
    }
}

/// Learns the `Mcp-Param-*` declarations of the tools a `tools/list` answer lists (its JSON, or
/// each event's data), before any filtering ([`mcp_authz_core::param_headers`]). The answer is
/// left as it is.
async fn learn_tools(response: &http::Response<Body>, authorizer: &mcp_authz_driver::Authorizer) {
    let bytes: &[u8] = response.body().as_ref();
    match ListAnswer::of(response.headers()) {
        ListAnswer::Json => authorizer.learn_tool_headers(bytes),
        ListAnswer::EventStream => {
            let full = http_body_util::Full::new(Bytes::copy_from_slice(bytes));
            let events: Result<Vec<sse_stream::Sse>, _> =
                sse_stream::SseStream::new(full).try_collect().await;
            for event in events.unwrap_or_default() {
                if let Some(data) = event.data.as_deref() {
                    authorizer.learn_tool_headers(data.as_bytes());
                }
            }
        }
        ListAnswer::Unreadable => {}
    }
}

/// Replaces the path of the request's URI, keeping its query. Returns `false`, the URI
/// unchanged, for a path that is not a URI path.
fn set_path(parts: &mut http::request::Parts, path: &str) -> bool {
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    match pq.parse::<http::Uri>() {
        Ok(uri) => {
            parts.uri = uri;
            true
        }
        Err(_) => false,
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
    // The public path parsed; the application path is a part of it.
    let _ = set_path(&mut parts, app_path);
    let response = inner
        .call(http::Request::from_parts(parts, body))
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(http::Response::from_parts(parts, lambda_body(bytes)))
}
