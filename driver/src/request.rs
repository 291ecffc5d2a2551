//! The one request loop of every adapter: [`Authorizer::authorize`] drives the core's
//! [`Exchange`](mcp_authz_core::Exchange) for one request, performs the IO it asks for (read the
//! body, refresh an issuer's keys, introspect a token) and applies its verdict: metrics, the
//! access log, the `Authorization` header removed and the principal put in the extensions of a
//! request allowed through, or the answer to send.
//!
//! An adapter converts its request into `http` parts and a [`BodySource`], calls this, and
//! converts the [`Verdict`] back: that is all it does. Only a `Step::Allow` or a
//! `Step::AllowPublic` of the core becomes [`Verdict::Forward`]; every other step is answered.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mcp_authz_core::list_filter::ListRequests;
use mcp_authz_core::rate_limit::{RateDecision, RateLimit, RateLimitKey};
use mcp_authz_core::session::{SessionKey, SessionOwner};
use mcp_authz_core::token_cache::PrincipalCache;
use mcp_authz_core::{
    Allowed, BodyFailure, Guard, KeyState, Principal, ProofRecord, Response, Step,
};

use crate::caches::{SharedCache, SharedToolHeaders};
use crate::discovery::StartupError;
use crate::fetch::now;
use crate::introspection::{answer_introspection, Introspector};
use crate::keys::KeyStore;
use crate::observe;
use crate::options::AuthzOptions;
use crate::response::{build, json_error_with};
use crate::store::{FailureLog, Store, StoreUse};

/// The body of a request, as the loop reads it when the core asks (only for the scope policy's
/// JSON-RPC read, after the token was verified).
pub trait BodySource: Send {
    /// Whether a body may follow the head (anything but a body known to be empty).
    fn may_have_body(&self) -> bool;

    /// The whole body, at most `max_bytes` of it: [`BodyFailure::TooLarge`] beyond, and
    /// [`BodyFailure::Unreadable`] when it cannot be read. Called at most once per request.
    fn read(&mut self, max_bytes: usize)
        -> impl Future<Output = Result<&[u8], BodyFailure>> + Send;
}

/// What the loop decided for one request. Exhaustive on purpose: an adapter handles both.
#[derive(Debug)]
pub enum Verdict {
    /// Hand the request on: the core allowed it (with the principal) or it is public (without).
    /// The parts were prepared already.
    Forward {
        /// The verified principal; `None` on a public path.
        principal: Option<Arc<Principal>>,
        /// The list request whose result the adapter filters
        /// ([`mcp_authz_core::list_filter::ListFilter`]).
        lists: ListRequests,
        /// Served without a token under public tools: a session the response opens is bound
        /// with [`Authorizer::opened_anonymous_session`].
        anonymous: bool,
        /// For a `subscriptions/listen` request: the message that closes its stream gracefully
        /// when the adapter ends it early ([`mcp_authz_core::Allowed::listen_closing`]).
        closing: Option<Vec<u8>>,
    },
    /// Send this answer, never the inner service's: a challenge, a refusal, a metadata
    /// document, a preflight.
    Answer {
        /// The answer; its body is empty for `HEAD`.
        response: http::Response<Bytes>,
        /// The stable reason name of a refusal; `None` for a document or a preflight.
        reason: Option<&'static str>,
    },
}

/// What the requests of one adapter share: the keys of every authorization server, the
/// introspection client, the state store (DPoP proofs seen, session owners, rate limits: in
/// this process or shared by replicas), and the options the loop applies.
#[derive(Debug)]
pub struct Authorizer {
    keys: Vec<KeyStore>,
    introspector: Option<Arc<Introspector>>,
    /// The token exchange of downstream APIs' tokens, when configured.
    exchanger: Option<Arc<crate::token_exchange::TokenExchanger>>,
    store: Arc<Store>,
    /// When the store cannot answer: DPoP proofs taken as new, sessions as unbound.
    state_fail_open: bool,
    failures: FailureLog,
    tool_headers: SharedToolHeaders,
    /// The rate limits.
    limits: RateLimits,
    kid_wait: Duration,
    keep_authorization: bool,
    /// The resource's name in metrics (`AuthzOptions::route_name`).
    route: Arc<str>,
}

impl Authorizer {
    /// The loop's state for these keys (one store per authorization server, in the guard's
    /// order), this introspector and `options`.
    ///
    /// # Errors
    /// [`StartupError::Config`] for a rate-limit store that cannot be used.
    pub fn new(
        keys: Vec<KeyStore>,
        introspector: Option<Arc<Introspector>>,
        options: &AuthzOptions,
    ) -> Result<Self, StartupError> {
        let store = Arc::new(options.state_store()?);
        if let (true, Some(introspector)) = (options.share_introspection, &introspector) {
            introspector.share_through(store.clone());
        }
        Ok(Self {
            keys,
            introspector,
            exchanger: None,
            store,
            state_fail_open: options.state_fail_open,
            failures: FailureLog::default(),
            tool_headers: SharedToolHeaders::default(),
            limits: RateLimits {
                all: options.rate_limit,
                tools: options.tool_rate_limits.clone(),
                fail_closed: options.rate_limit_fail_closed,
            },
            kid_wait: options.kid_wait,
            keep_authorization: options.keep_authorization,
            route: options.route_name.as_deref().unwrap_or("").into(),
        })
    }

    /// One store per authorization server, in the configured order.
    pub fn key_stores(&self) -> &[KeyStore] {
        &self.keys
    }

    /// With `exchanger`: every request allowed with a token gets a
    /// [`DownstreamTokens`](crate::DownstreamTokens) in its extensions.
    #[must_use]
    pub fn with_exchanger(
        mut self,
        exchanger: Option<Arc<crate::token_exchange::TokenExchanger>>,
    ) -> Self {
        self.exchanger = exchanger;
        self
    }

    /// Keeps `value` under `id` (hashed) until `until`, to be taken once by any replica that
    /// shares the store (the facade's transactions).
    ///
    /// # Errors
    /// When the store cannot be reached (the caller refuses the request).
    pub async fn put_single_use(
        &self,
        id: &str,
        value: String,
        until: mcp_authz_core::UnixTime,
    ) -> Result<(), String> {
        let key = mcp_authz_core::token_introspection::token_digest(id);
        self.store
            .put_single_use(key, value, until, now())
            .await
            .map_err(|e| {
                self.failures.failed(StoreUse::SingleUse, &e, true);
                e.to_string()
            })
    }

    /// Takes the value under `id` (once), if it has not expired.
    ///
    /// # Errors
    /// When the store cannot be reached.
    pub async fn take_single_use(&self, id: &str) -> Result<Option<String>, String> {
        let key = mcp_authz_core::token_introspection::token_digest(id);
        self.store.take_single_use(key, now()).await.map_err(|e| {
            self.failures.failed(StoreUse::SingleUse, &e, true);
            e.to_string()
        })
    }

    /// The token exchanger, when one is configured.
    pub fn exchanger(&self) -> Option<&crate::token_exchange::TokenExchanger> {
        self.exchanger.as_deref()
    }

    /// The introspection client, when tokens are introspected.
    pub fn introspector(&self) -> Option<&Introspector> {
        self.introspector.as_deref()
    }

    /// After the inner service answered a request allowed with `principal`: a response that
    /// opens an MCP session (one `Mcp-Session-Id`) binds the session to the principal, so that
    /// no other caller's request with that id reaches the upstream (`mcp_authz_core::session`).
    ///
    /// `Some` answer replaces the response: the binding could not be stored (the shared store
    /// is unreachable and the state fails closed), so the session is not handed out (`503`).
    #[must_use = "a returned answer replaces the inner service's response"]
    pub async fn opened_session(
        &self,
        guard: &Guard,
        principal: &Principal,
        response: &http::HeaderMap,
    ) -> Option<http::Response<Bytes>> {
        self.bind_session(guard, || SessionOwner::of(principal), response)
            .await
    }

    /// Binds the session a response to a request without a token (public tools,
    /// [`Verdict::Forward`] with `anonymous`) opened to [`SessionOwner::anonymous`]; an answer
    /// as for [`Authorizer::opened_session`].
    #[must_use = "a returned answer replaces the inner service's response"]
    pub async fn opened_anonymous_session(
        &self,
        guard: &Guard,
        response: &http::HeaderMap,
    ) -> Option<http::Response<Bytes>> {
        self.bind_session(guard, SessionOwner::anonymous, response)
            .await
    }

    /// Learns the `Mcp-Param-*` declarations of the tools one message of a `tools/list` answer
    /// lists (the JSON body, or one event's data), when the request's
    /// [`ListRequests::learns_tools`]; the guard checks later `tools/call`s against them.
    pub fn learn_tool_headers(&self, message: &[u8]) {
        self.tool_headers.learn(message);
    }

    async fn bind_session(
        &self,
        guard: &Guard,
        owner: impl FnOnce() -> SessionOwner,
        response: &http::HeaderMap,
    ) -> Option<http::Response<Bytes>> {
        let mut ids = response.get_all("mcp-session-id").iter();
        let (Some(id), None) = (ids.next(), ids.next()) else {
            return None;
        };
        // The owner (a digest of the principal) only for a response that opens a session.
        let key = SessionKey::of(id.as_bytes());
        match self.store.bind_session(key, owner(), now()).await {
            Ok(held) => {
                if let Some(held) = held {
                    observe::sessions(held);
                }
                None
            }
            Err(e) => {
                let fail_closed = !self.state_fail_open;
                self.failures.failed(StoreUse::Sessions, &e, fail_closed);
                fail_closed.then(|| {
                    let error = mcp_authz_core::Error::StoreUnavailable {
                        retry_after_secs: 1,
                    };
                    build(guard.challenger().reject(&error, &[]), false, |b| b)
                })
            }
        }
    }

    /// The store's answer for the exchange: `Err` fails the request closed (`503`), unless the
    /// options fail open, when `open` stands in.
    fn or_fail<T>(
        &self,
        used_for: StoreUse,
        answer: Result<T, crate::store::StoreUnavailable>,
        open: T,
    ) -> Result<T, mcp_authz_core::StoreUnavailable> {
        answer.or_else(|e| {
            let fail_closed = !self.state_fail_open;
            self.failures.failed(used_for, &e, fail_closed);
            match fail_closed {
                true => Err(mcp_authz_core::StoreUnavailable {
                    retry_after_secs: 1,
                }),
                false => Ok(open),
            }
        })
    }

    /// Decides one request under `guard` (with its verified-token `cache`). The guard judges
    /// the path of `parts.uri` (an adapter behind a stage puts the public path there). On
    /// [`Verdict::Forward`] the `Authorization` header is gone from `parts` (unless the options
    /// keep it) and the principal is in its extensions as `Arc<Principal>`.
    pub async fn authorize<B: BodySource>(
        &self,
        guard: &Guard,
        cache: Option<&SharedCache>,
        parts: &mut http::request::Parts,
        body: &mut B,
    ) -> Verdict {
        let started = Instant::now();
        for store in &self.keys {
            store.run_due().await;
        }
        let has_body = body.may_have_body();
        let path = parts.uri.path();
        let mut exchange = guard.exchange().with_declared_headers(&self.tool_headers);
        let step = loop {
            let step = {
                let headers = crate::headers::CoreHeaders::new(&parts.headers);
                let (method, query) = (parts.method.as_str(), parts.uri.query());
                let request = headers.request(method, path, query, has_body);
                let cache = cache.map(|c| c as &dyn PrincipalCache);
                match self.keys.as_slice() {
                    // One authorization server: no list to build.
                    [only] => exchange.poll(&request, KeyState::of(&only.current()), now(), cache),
                    stores => {
                        let keys: Vec<_> = stores.iter().map(KeyStore::current).collect();
                        exchange.poll(&request, keys.as_slice(), now(), cache)
                    }
                }
            };
            match step {
                Step::ReadBody { max_bytes } => match body.read(max_bytes).await {
                    Ok(bytes) => exchange.handle_body(bytes),
                    Err(failure) => exchange.handle_body_failed(failure),
                },
                Step::Introspect { token } => {
                    let outcome = answer_introspection(
                        self.introspector.as_deref(),
                        token.as_str(),
                        guard.verifier().config(),
                    )
                    .await;
                    exchange.handle_introspected(outcome);
                }
                Step::RefreshKeys { issuer, kid } => {
                    let refreshed = match self.keys.get(issuer) {
                        Some(store) => store.await_kid(&kid, self.kid_wait).await,
                        None => false,
                    };
                    exchange.handle_keys_refreshed(refreshed);
                }
                Step::LookupSession { key } => {
                    let owner = self.store.session_owner(key, now()).await;
                    exchange.handle_session(self.or_fail(StoreUse::Sessions, owner, None));
                }
                Step::RecordProof { key, until } => {
                    let record = self.store.record_proof(key, until, now()).await;
                    let record = self.or_fail(StoreUse::DpopReplay, record, ProofRecord::New);
                    exchange.handle_proof_recorded(record);
                }
                verdict => break verdict,
            }
        };
        let head = parts.method == http::Method::HEAD;
        let method = parts.method.as_str();
        let (principal, lists, anonymous, closing) = match step {
            Step::Allow(allowed) => {
                let refusal = self
                    .limits
                    .refusal(&self.store, &self.failures, guard, &allowed, &self.route)
                    .await;
                if let Some(r) = refusal {
                    observe::decision(&self.route, "reject", r.status, r.reason, started);
                    tracing::debug!(target: "mcp_authz", decision = "reject", status = r.status, reason = r.reason, method, path);
                    let reason = r.reason;
                    return Verdict::Answer {
                        response: build(r, head, |b| b),
                        reason,
                    };
                }
                let lists = allowed.lists().clone();
                let closing = allowed.listen_closing();
                let principal = allowed.into_principal();
                observe::decision(&self.route, "allow", 200, None, started);
                tracing::debug!(
                    target: "mcp_authz",
                    decision = "allow",
                    issuer = principal.issuer(),
                    kid = principal.key_id().unwrap_or(""),
                    client_id = principal.client_id().unwrap_or(""),
                    subject = principal.subject().unwrap_or(""),
                    method,
                    path,
                );
                (Some(principal), lists, false, closing)
            }
            Step::AllowPublic(public) => {
                observe::decision(&self.route, "public", 200, None, started);
                (None, public.lists().clone(), public.is_anonymous(), None)
            }
            Step::Respond(r) => {
                let reason = r.reason;
                let outcome = if reason.is_some() { "reject" } else { "served" };
                observe::decision(&self.route, outcome, r.status, reason, started);
                if let Some(reason) = reason {
                    tracing::debug!(target: "mcp_authz", decision = "reject", status = r.status, reason, method, path);
                }
                return Verdict::Answer {
                    response: build(r, head, |b| b),
                    reason,
                };
            }
            // Any other step is not a verdict that allows: deny, never pass through.
            _ => {
                observe::decision(&self.route, "reject", 500, Some("no_decision"), started);
                return Verdict::Answer {
                    response: json_error_with(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "no authorization decision",
                        |b| b,
                    ),
                    reason: Some("no_decision"),
                };
            }
        };
        if let (Some(exchanger), Some(principal)) = (&self.exchanger, &principal) {
            // The verified token, kept in memory for the authorization server alone.
            let token = parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .map(|(_, token)| token.trim());
            if let Some(token) = token {
                parts.extensions.insert(crate::DownstreamTokens::new(
                    exchanger.clone(),
                    principal.clone(),
                    token.into(),
                ));
            }
        }
        if !self.keep_authorization {
            parts.headers.remove(http::header::AUTHORIZATION);
        }
        if let Some(principal) = &principal {
            parts.extensions.insert::<Arc<Principal>>(principal.clone());
        }
        Verdict::Forward {
            principal,
            lists,
            anonymous,
            closing,
        }
    }
}

/// The rate limits of one resource (`mcp_authz_core::rate_limit`); their state is in the store.
#[derive(Debug)]
struct RateLimits {
    all: Option<RateLimit>,
    tools: Vec<(String, RateLimit)>,
    /// When the store cannot be reached: refuse (503) rather than let requests through.
    fail_closed: bool,
}

impl RateLimits {
    /// The `429` for an allowed request over one of the limits (every limit that applies is
    /// counted, the request-wide one first); `None` when within all of them.
    async fn refusal(
        &self,
        store: &Store,
        failures: &FailureLog,
        guard: &Guard,
        allowed: &Allowed,
        route: &str,
    ) -> Option<Response> {
        if self.all.is_none() && self.tools.is_empty() {
            return None;
        }
        let principal = allowed.principal();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut checks: Vec<(&str, &RateLimit)> = Vec::new();
        if let Some(all) = &self.all {
            checks.push(("*", all));
        }
        for tool in allowed.tools() {
            checks.extend(
                self.tools
                    .iter()
                    .filter(|(t, _)| t == tool)
                    .map(|(t, l)| (t.as_str(), l)),
            );
        }
        for (scope, limit) in checks {
            let key = RateLimitKey::of(principal, scope);
            let kind = if scope == "*" { "requests" } else { "tool" };
            let decision = match store.check_rate(key, limit, now_ms).await {
                Ok(d) => d,
                Err(e) => {
                    failures.failed(StoreUse::RateLimit, &e, self.fail_closed);
                    observe::rate_limit(route, kind, "store_unavailable");
                    if self.fail_closed {
                        let error = mcp_authz_core::Error::RateLimitStoreUnavailable {
                            retry_after_secs: 1,
                        };
                        return Some(guard.challenger().reject(&error, &[]));
                    }
                    continue;
                }
            };
            match decision {
                RateDecision::Allowed { .. } => observe::rate_limit(route, kind, "allowed"),
                RateDecision::Limited { retry_after_secs } => {
                    observe::rate_limit(route, kind, "limited");
                    // The policy's name in the fields: a tool's, when it is a token.
                    let name = match scope {
                        "*" => "requests",
                        t if t
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
                        {
                            t
                        }
                        _ => "tool",
                    };
                    let id = allowed.request_id();
                    return Some(guard.challenger().rate_limited(
                        limit,
                        name,
                        retry_after_secs,
                        id,
                    ));
                }
            }
        }
        None
    }
}

/// A body that is all in memory already (an AWS Lambda event's).
impl BodySource for &[u8] {
    fn may_have_body(&self) -> bool {
        !self.is_empty()
    }

    async fn read(&mut self, max_bytes: usize) -> Result<&[u8], BodyFailure> {
        match self.len() > max_bytes {
            true => Err(BodyFailure::TooLarge),
            false => Ok(*self),
        }
    }
}
