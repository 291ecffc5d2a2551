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

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, Limited};
use mcp_authz_core::{BodyFailure, Guard, Principal};
use mcp_authz_driver::{now, Authorizer, BodySource, SharedCache, Verdict};

use crate::expiry::{is_event_stream, Expiring, Recheck};
use crate::list_filter::{filtered, BoxError, ListContext, ListedBody};
use tower_layer::Layer;
use tower_service::Service;

/// What the middleware shares between requests.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) guard: Arc<Guard>,
    /// The keys, introspection and replay cache: the driver's request loop.
    pub(crate) authorizer: Authorizer,
    /// The verified-token cache all issuers share.
    pub(crate) cache: Option<Arc<SharedCache>>,
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
/// The body of the responses: ours, or the inner service's (streamed untouched; an event stream
/// allowed with a token ends when the token expires: [`Expiring`]).
/// A list answer is filtered by the rules first ([`ListedBody`]).
pub type AuthzResponseBody<B> = Either<Full<Bytes>, Expiring<ListedBody<B>>>;

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

/// A hyper body as the request loop reads it: streamed on, or buffered (bounded) when the core
/// reads it.
enum Streamed<B> {
    Stream(B),
    Buffered(Bytes),
    /// Taken, and failed to read.
    Gone,
}

impl<B> BodySource for Streamed<B>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn may_have_body(&self) -> bool {
        match self {
            Self::Stream(b) => !(b.is_end_stream() || b.size_hint().exact() == Some(0)),
            Self::Buffered(b) => !b.is_empty(),
            Self::Gone => false,
        }
    }

    async fn read(&mut self, max_bytes: usize) -> Result<&[u8], BodyFailure> {
        let Self::Stream(body) = std::mem::replace(self, Self::Gone) else {
            return Err(BodyFailure::Unreadable);
        };
        match Limited::new(body, max_bytes).collect().await {
            Ok(collected) => {
                *self = Self::Buffered(collected.to_bytes());
                match self {
                    Self::Buffered(bytes) => Ok(bytes),
                    _ => Err(BodyFailure::Unreadable),
                }
            }
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyFailure::TooLarge),
            Err(_) => Err(BodyFailure::Unreadable),
        }
    }
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
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
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
            let (mut parts, body) = req.into_parts();
            // Kept (in memory only) to ask again for a stream the token opens, when tokens are
            // introspected.
            let token = state
                .authorizer
                .introspector()
                .and_then(|_| bearer_token(&parts.headers));
            let mut body = Streamed::Stream(body);
            let cache = state.cache.as_deref();
            let verdict = state
                .authorizer
                .authorize(&state.guard, cache, &mut parts, &mut body);
            let (principal, lists, anonymous, closing) = match verdict.await {
                Verdict::Forward {
                    principal,
                    lists,
                    anonymous,
                    closing,
                } => (principal, lists, anonymous, closing),
                Verdict::Answer { response, reason } => {
                    let mut response = response.map(|b| Either::Left(Full::new(b)));
                    response.extensions_mut().insert(Decision {
                        reason,
                        principal: None,
                    });
                    return Ok(response);
                }
            };
            // A list answer must come back readable: no content coding.
            if !lists.is_empty() {
                parts.headers.remove(http::header::ACCEPT_ENCODING);
            }
            let body = match body {
                Streamed::Stream(b) => Either::Right(b),
                Streamed::Buffered(bytes) => Either::Left(Full::new(bytes)),
                Streamed::Gone => Either::Left(Full::new(Bytes::new())),
            };
            let mut resp = inner.call(Request::from_parts(parts, body)).await?;
            // The session the response opens is bound before the response leaves: a client
            // never holds a session id that another replica would take as unbound.
            let refused = match (&principal, anonymous) {
                (Some(p), _) => {
                    let headers = resp.headers();
                    state
                        .authorizer
                        .opened_session(&state.guard, p, headers)
                        .await
                }
                (None, true) => {
                    let headers = resp.headers();
                    (state.authorizer)
                        .opened_anonymous_session(&state.guard, headers)
                        .await
                }
                (None, false) => None,
            };
            if let Some(refused) = refused {
                let mut refused = refused.map(|b| Either::Left(Full::new(b)));
                refused.extensions_mut().insert(Decision {
                    reason: Some("state_store_unavailable"),
                    principal: None,
                });
                return Ok(refused);
            }
            let mut recheck = None;
            let expires_at = match &principal {
                Some(principal) => {
                    let stream = is_event_stream(resp.headers());
                    // Introspected (no signature was checked here): revocation shows only
                    // in the authorization server's answers.
                    if let (true, None, Some(token)) = (stream, principal.algorithm(), token) {
                        recheck = introspection_recheck(&state, token);
                    }
                    stream.then(|| principal.expires_at())
                }
                None => None,
            };
            // Only a list request's answer is read (most requests are calls: nothing to build).
            let listing = (!lists.is_empty()).then(|| {
                let learner = state.clone();
                ListContext {
                    guard: state.guard.clone(),
                    learner: Arc::new(move |m: &[u8]| learner.authorizer.learn_tool_headers(m)),
                    principal: principal.clone(),
                    lists,
                }
            });
            resp.extensions_mut().insert(Decision {
                reason: None,
                principal,
            });
            let (mut head, body) = resp.into_parts();
            let body = filtered(head.status, &mut head.headers, body, listing);
            Ok(Response::from_parts(
                head,
                Either::Right(match (expires_at, recheck) {
                    (Some(at), Some(r)) => Expiring::until(body, at, now())
                        .rechecked(r)
                        .closing_with(closing),
                    (Some(at), None) => Expiring::until(body, at, now()).closing_with(closing),
                    (None, _) => Expiring::open(body),
                }),
            ))
        })
    }
}

/// The token of a `Bearer` or `DPoP` `Authorization` header (one header, the scheme in any case).
fn bearer_token(headers: &http::HeaderMap) -> Option<String> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop");
    known.then(|| token.trim().to_owned())
}

/// Asks the introspection cache (and, when its answer lapses, the authorization server) again
/// for a stream opened with `token`.
fn introspection_recheck(state: &Arc<State>, token: String) -> Option<Recheck> {
    let every = state.authorizer.introspector()?.recheck_interval();
    let (state, token) = (state.clone(), Arc::new(token));
    Some(Recheck::every(every, move || {
        let (state, token) = (state.clone(), token.clone());
        Box::pin(async move {
            match state.authorizer.introspector() {
                Some(i) => {
                    i.still_active(&token, state.guard.verifier().config())
                        .await
                }
                None => false,
            }
        })
    }))
}
