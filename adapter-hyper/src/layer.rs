//! The tower middleware: [`AuthzLayer`], [`AuthzService`] and its [`ResponseFuture`].
//!
//! For every request it asks the core's [`Guard`] what to do:
//! - the RFC 9728 metadata documents (both well-known paths) and CORS preflights are answered
//!   here;
//! - requests to the protected resource without a valid token get the challenge (401, 403, 400,
//!   or 503 when there are no keys);
//! - a valid token lets the request through with the [`Principal`] (as `Arc<Principal>`) in the
//!   request extensions and the `Authorization` header removed (MCP forbids passing the token
//!   on), unless the operator keeps it;
//! - other paths pass through untouched.
//!
//! When the scope policy has per-method or per-tool scopes, the JSON-RPC body of a `POST` is
//! buffered (bounded) so the core can read the method and tool, and the same bytes are handed on.
//! Everything else, SSE responses included, streams through.
//!
//! ```
//! # async fn demo(authz: mcp_authz_hyper::Authz) {
//! use axum::{routing::post, Router};
//! let app: Router = Router::new()
//!     .route("/mcp", post(|| async { "tool output" }))
//!     .layer(authz.layer());
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
use mcp_authz_core::challenge::form_has_access_token;
use mcp_authz_core::decision::Request as CoreRequest;
use mcp_authz_core::{Decision, Guard, KeyState, Principal};
use tower_layer::Layer;
use tower_service::Service;

use crate::fetch::now;
use crate::jwks_driver::KeyStore;
use crate::response::{json_error, to_http};

/// What the middleware shares between requests.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) guard: Guard,
    pub(crate) keys: KeyStore,
    pub(crate) keep_authorization: bool,
    pub(crate) kid_wait: Duration,
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

fn header_str<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request body is a form (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &http::HeaderMap) -> bool {
    header_str(headers, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// Every `Authorization` header value of a request, for [`core_request`].
pub fn authorization_values(headers: &http::HeaderMap) -> Vec<&[u8]> {
    headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes())
        .collect()
}

/// The core's view of one request (shared by both adapters): method, path, query, the
/// `Authorization` values, `Mcp-Method`/`Mcp-Name`, and the body — a form body is only checked
/// for an `access_token` parameter, any other is the JSON-RPC body the scope policy reads.
pub fn core_request<'a>(
    method: &'a str,
    path: &'a str,
    parts: &'a http::request::Parts,
    authorization: &'a [&'a [u8]],
    body: Option<&'a [u8]>,
) -> CoreRequest<'a> {
    let form = is_form(&parts.headers);
    CoreRequest::new(method, path)
        .with_query(parts.uri.query())
        .with_authorization(authorization)
        .with_mcp_headers(
            header_str(&parts.headers, "mcp-method"),
            header_str(&parts.headers, "mcp-name"),
        )
        .with_body(if form {
            None
        } else {
            body.filter(|b| !b.is_empty())
        })
        .with_form_access_token(form && body.is_some_and(form_has_access_token))
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
            let (mut parts, body) = req.into_parts();
            let guard = &state.guard;
            let method = parts.method.as_str().to_owned();
            let path = parts.uri.path().to_owned();
            let head = parts.method == http::Method::HEAD;
            let is_resource = path == guard.resource_path();
            let form = is_resource && is_form(&parts.headers);

            // Buffer the body only when the decision needs it.
            let (buffered, body) = if guard.needs_body(&method, &path) || form {
                match Limited::new(body, guard.max_body_bytes()).collect().await {
                    Ok(collected) => (Some(collected.to_bytes()), None),
                    Err(e) => {
                        let too_large = e
                            .downcast_ref::<http_body_util::LengthLimitError>()
                            .is_some();
                        let r = if too_large {
                            json_error(
                                http::StatusCode::PAYLOAD_TOO_LARGE,
                                "invalid_request",
                                "the request body is too large",
                            )
                        } else {
                            json_error(
                                http::StatusCode::BAD_REQUEST,
                                "invalid_request",
                                "the request body could not be read",
                            )
                        };
                        return Ok(r.map(Either::Left));
                    }
                }
            } else {
                (None, Some(body))
            };

            let mut decision = None;
            for attempt in 0..2 {
                let authorization = authorization_values(&parts.headers);
                let core_req =
                    core_request(&method, &path, &parts, &authorization, buffered.as_deref());
                let keys = state.keys.current();
                let key_state = match &keys {
                    Ok(k) => KeyState::Ready(k),
                    Err(retry_after_secs) => KeyState::Unavailable {
                        retry_after_secs: *retry_after_secs,
                    },
                };
                let at = now();
                let d = match state.keys.cache() {
                    Some(cache) => guard.decide_cached(&core_req, key_state, at, cache),
                    None => guard.decide(&core_req, key_state, at),
                };
                match d {
                    Decision::KeysNeeded { kid, rejection } => {
                        if attempt == 0 && state.keys.await_kid(&kid, state.kid_wait).await {
                            continue;
                        }
                        decision = Some(Decision::Respond(rejection));
                    }
                    d => decision = Some(d),
                }
                break;
            }
            let issuer = guard.verifier().config().issuer();
            let body = match (buffered, body) {
                (Some(bytes), _) => Either::Left(Full::new(bytes)),
                (None, Some(b)) => Either::Right(b),
                (None, None) => Either::Left(Full::new(Bytes::new())),
            };
            match decision {
                Some(Decision::Allow(principal)) => {
                    log_allow(&principal, &method, &path);
                    if !state.keep_authorization {
                        parts.headers.remove(http::header::AUTHORIZATION);
                    }
                    parts.extensions.insert::<Arc<Principal>>(principal);
                    let resp = inner.call(Request::from_parts(parts, body)).await?;
                    Ok(resp.map(Either::Right))
                }
                Some(Decision::Respond(r)) => {
                    if let Some(reason) = r.reason {
                        tracing::info!(target: "mcp_authz", decision = "reject", status = r.status, reason, issuer, method = %method, path = %path);
                    }
                    Ok(to_http(r, head).map(Either::Left))
                }
                Some(Decision::NotProtected) => {
                    let resp = inner.call(Request::from_parts(parts, body)).await?;
                    Ok(resp.map(Either::Right))
                }
                // Unreachable (the loop always decides); deny rather than pass through.
                None | Some(Decision::KeysNeeded { .. }) => Ok(json_error(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "no authorization decision",
                )
                .map(Either::Left)),
            }
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
