//! The tower middleware: [`AuthzLayer`], [`AuthzService`] and its [`ResponseFuture`].
//!
//! It protects every request it wraps, as tower-http's `RequireAuthorization` does: for each one
//! it drives the core's [`Exchange`](mcp_authz_core::Exchange) and forwards the request only when
//! the core allows it.
//! - Served without a token: the RFC 9728 metadata documents (both well-known paths), the CORS
//!   preflight of the resource, and the paths declared with
//!   [`AuthzBuilder::public_path`](crate::AuthzBuilder::public_path) (exact match).
//! - Everything else — the resource path, every path under it (`/mcp/`, `/mcp/x`), any other
//!   path — needs a valid token with the base scopes, or gets the challenge (401, 403, 400, or
//!   503 when there are no keys).
//! - An allowed request goes on with the [`Principal`] (as `Arc<Principal>`) in its extensions
//!   and the `Authorization` header removed (MCP forbids passing the token on), unless the
//!   operator keeps it.
//!
//! To leave part of an axum router unprotected, declare the paths public, or route them in an
//! outer router that hands everything else to the protected one with `fallback_service` (as
//! below). Do not `merge` public routes after `.layer(…)`: the merged router's fallback is
//! outside the layer, and the metadata documents, which the layer answers, would be 404.
//!
//! When the scope policy has per-method or per-tool scopes, the JSON-RPC body is buffered
//! (bounded) after the token was verified, so the core can read the method and tool, and the
//! same bytes are handed on; a body the core cannot read as JSON-RPC (a form, `text/plain`, a
//! content coding) is refused. Everything else, SSE responses included, streams through.
//!
//! ```
//! # async fn demo(authz: mcp_authz_hyper::Authz) {
//! use axum::{routing::{get, post}, Router};
//! let protected: Router = Router::new()
//!     .route("/mcp", post(|| async { "tool output" }))
//!     .layer(authz.layer());
//! let app: Router = Router::new()
//!     .route("/healthz", get(|| async { "ok" })) // beside the layer: not protected
//!     .fallback_service(protected); // everything else, metadata documents included
//! # let _ = app;
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, Limited};
use mcp_authz_core::token_cache::PrincipalCache;
use mcp_authz_core::{BodyFailure, Guard, KeyState, Principal, Step};
use tower_layer::Layer;
use tower_service::Service;

use mcp_authz_driver::{
    json_error, now, observe, to_http, CoreHeaders, Introspector, SharedCache, SharedReplayCache,
};

use crate::jwks_driver::KeyStore;

/// What the middleware shares between requests.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) guard: Guard,
    /// One key store per authorization server, in the guard's order.
    pub(crate) keys: Vec<KeyStore>,
    /// The verified-token cache all issuers share.
    pub(crate) cache: Option<Arc<SharedCache>>,
    /// Introspection at the first authorization server, when configured.
    pub(crate) introspector: Option<Arc<Introspector>>,
    /// The DPoP proofs seen (RFC 9449 replay detection).
    pub(crate) replay: SharedReplayCache,
    pub(crate) keep_authorization: bool,
    pub(crate) kid_wait: Duration,
}

/// What the layer decided, in the extensions of every response it passes back (for access logs
/// and metrics outside it): the refusal's reason name, or the principal the request was allowed
/// with (`None` for public paths). Never the token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Decision {
    /// The stable reason name of a refusal; `None` when the request was served.
    pub reason: Option<&'static str>,
    /// The verified principal of an allowed request.
    pub principal: Option<Arc<Principal>>,
}

/// The body the inner service receives: the buffered bytes, or the original stream.
pub type AuthzRequestBody<B> = Either<Full<Bytes>, B>;
/// The body of the responses: ours, or the inner service's (streamed untouched).
pub type AuthzResponseBody<B> = Either<Full<Bytes>, B>;

/// Applies [`AuthzService`] to a service.
#[derive(Clone, Debug)]
pub struct AuthzLayer {
    state: Arc<State>,
}

impl AuthzLayer {
    pub(crate) fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for AuthzLayer {
    type Service = AuthzService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthzService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The middleware (see the module docs).
#[derive(Clone, Debug)]
pub struct AuthzService<S> {
    inner: S,
    state: Arc<State>,
}

/// The response future of [`AuthzService`].
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

/// Whether a body may follow: anything but a body known to be empty.
fn may_have_body<B: Body>(body: &B) -> bool {
    !(body.is_end_stream() || body.size_hint().exact() == Some(0))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthzService<S>
where
    S: Service<Request<AuthzRequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<AuthzResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The ready clone goes into the future; the fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let (mut parts, body) = req.into_parts();
            let guard: &Guard = &state.guard;
            let head = parts.method == http::Method::HEAD;
            let has_body = may_have_body(&body);
            let mut body = Some(body);
            let mut buffered: Option<Bytes> = None;
            let mut exchange = guard.exchange().with_replay_cache(&state.replay);
            // The one request loop: the core decides, this drives its IO.
            let step = loop {
                let step = {
                    let headers = CoreHeaders::new(&parts.headers);
                    let core_req = headers.request(
                        parts.method.as_str(),
                        parts.uri.path(),
                        parts.uri.query(),
                        has_body,
                    );
                    let cache = state.cache.as_deref().map(|c| c as &dyn PrincipalCache);
                    match state.keys.as_slice() {
                        // One authorization server: no list to build.
                        [only] => {
                            exchange.poll(&core_req, KeyState::of(&only.current()), now(), cache)
                        }
                        stores => {
                            let keys: Vec<_> = stores.iter().map(KeyStore::current).collect();
                            exchange.poll(&core_req, keys.as_slice(), now(), cache)
                        }
                    }
                };
                match step {
                    Step::ReadBody { max_bytes } => match body.take() {
                        Some(b) => match Limited::new(b, max_bytes).collect().await {
                            Ok(collected) => {
                                let bytes = collected.to_bytes();
                                exchange.handle_body(&bytes);
                                buffered = Some(bytes);
                            }
                            Err(e) => {
                                let too_large = e
                                    .downcast_ref::<http_body_util::LengthLimitError>()
                                    .is_some();
                                exchange.handle_body_failed(match too_large {
                                    true => BodyFailure::TooLarge,
                                    false => BodyFailure::Unreadable,
                                });
                            }
                        },
                        None => exchange.handle_body_failed(BodyFailure::Unreadable),
                    },
                    Step::Introspect { token } => {
                        let outcome = mcp_authz_driver::answer_introspection(
                            state.introspector.as_deref(),
                            token.as_str(),
                            guard.verifier().config(),
                        )
                        .await;
                        exchange.handle_introspected(outcome);
                    }
                    Step::RefreshKeys { issuer, kid } => {
                        let refreshed = match state.keys.get(issuer) {
                            Some(store) => store.await_kid(&kid, state.kid_wait).await,
                            None => false,
                        };
                        exchange.handle_keys_refreshed(refreshed);
                    }
                    verdict => break verdict,
                }
            };
            let method = parts.method.as_str().to_owned();
            let path = parts.uri.path().to_owned();
            let body = match (buffered, body) {
                (Some(bytes), _) => Either::Left(Full::new(bytes)),
                (None, Some(b)) => Either::Right(b),
                (None, None) => Either::Left(Full::new(Bytes::new())),
            };
            let principal = match step {
                Step::Allow(allowed) => {
                    let principal = allowed.into_principal();
                    observe::decision("allow", 200, None, started);
                    log_allow(&principal, &method, &path);
                    Some(principal)
                }
                Step::AllowPublic(_) => {
                    observe::decision("public", 200, None, started);
                    None
                }
                Step::Respond(r) => {
                    let outcome = if r.reason.is_some() {
                        "reject"
                    } else {
                        "served"
                    };
                    observe::decision(outcome, r.status, r.reason, started);
                    if let Some(reason) = r.reason {
                        tracing::info!(target: "mcp_authz", decision = "reject", status = r.status, reason, method = %method, path = %path);
                    }
                    let reason = r.reason;
                    let mut response = to_http(r, head).map(Either::Left);
                    response.extensions_mut().insert(Decision {
                        reason,
                        principal: None,
                    });
                    return Ok(response);
                }
                // Any other step is not a verdict that allows: deny, never pass through.
                _ => {
                    return Ok(json_error(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "no authorization decision",
                    )
                    .map(Either::Left))
                }
            };
            if !state.keep_authorization {
                parts.headers.remove(http::header::AUTHORIZATION);
            }
            if let Some(principal) = &principal {
                parts.extensions.insert::<Arc<Principal>>(principal.clone());
            }
            let mut resp = inner.call(Request::from_parts(parts, body)).await?;
            resp.extensions_mut().insert(Decision {
                reason: None,
                principal,
            });
            Ok(resp.map(Either::Right))
        })
    }
}

fn log_allow(p: &Principal, method: &str, path: &str) {
    tracing::info!(
        target: "mcp_authz",
        decision = "allow",
        issuer = p.issuer(),
        kid = p.key_id().unwrap_or(""),
        client_id = p.client_id().unwrap_or(""),
        subject = p.subject().unwrap_or(""),
        method,
        path,
    );
}
