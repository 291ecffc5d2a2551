//! One request, from its head to a verdict: the request loop every adapter drives, as an IO-free
//! state machine (the `poll`/`handle_*` shape of `quinn-proto` and `str0m`).
//!
//! The adapter describes the request head in a [`Request`], then calls [`Exchange::poll`] with
//! the current keys and `now` until it returns a verdict. Each [`Step`] is either a verdict —
//! [`Step::Respond`], [`Step::Allow`], [`Step::AllowPublic`] — or IO the exchange needs first:
//!
//! - [`Step::RefreshKeys`]: the token names a `kid` the key set lacks. Ask the refresh policy
//!   (`JwksRefresh::handle_unknown_kid`), wait for the fetch it allows, report with
//!   [`Exchange::handle_keys_refreshed`], poll again (with the new keys). At most once.
//! - [`Step::ReadBody`]: the scope policy needs the JSON-RPC body (per-method or per-tool scopes),
//!   or a form body must be checked for an `access_token`. Read at most `max_bytes`, report with
//!   [`Exchange::handle_body`] or [`Exchange::handle_body_failed`], poll again. The same bytes
//!   go on to the inner service.
//! - [`Step::LookupSession`]: the request names an MCP session; ask the session store whom it
//!   is bound to ([`SessionBindings`](crate::session::SessionBindings) in this process, or a store shared by replicas), report
//!   with [`Exchange::handle_session`], poll again.
//! - [`Step::RecordProof`]: the DPoP proof passed every other check; record its key in the
//!   replay store if absent ([RFC 9449 §11.1](https://www.rfc-editor.org/rfc/rfc9449#section-11.1):
//!   across the whole resource, so a store every replica shares), report with
//!   [`Exchange::handle_proof_recorded`], poll again.
//!
//! The state lives with the adapter, so one replica or many see the same sessions and proofs;
//! a store that cannot answer is reported as [`StoreUnavailable`] and the request is refused
//! (`503`), unless the adapter chose to fail open and reported "unbound" instead.
//!
//! The rule, as in `str0m`: after every `handle_*` call, poll again; forward the request only on
//! [`Step::Allow`] or [`Step::AllowPublic`]. Any other step (including ones added later: the enum
//! is `#[non_exhaustive]`) denies.
//!
//! Deny by default, in this order:
//! 1. the RFC 9728 documents at both well-known paths (`GET`/`HEAD`; `OPTIONS` preflights; other
//!    methods 405) and the paths declared public are served without a token, and so is the CORS
//!    preflight (`OPTIONS`) of the resource path;
//! 2. every other request, on any path, needs exactly one valid bearer token (401, 400, or 503
//!    when there are no keys) carrying the base scopes — and the scopes its `Mcp-Method` and
//!    `Mcp-Name` headers announce, so a call that cannot succeed gets its 403 before its body is
//!    read;
//! 3. when the policy has method or tool scopes, a request with a body must send it as JSON
//!    (one `Content-Type`, `application/json` or `…+json`, no `Content-Encoding`): anything else
//!    is 415 or 400, since the server behind may read bytes as JSON-RPC that the guard cannot.
//!    The body is read, the headers are checked against it (400 with JSON-RPC error `-32020`
//!    on a mismatch), and the scopes of every call in it are required (403);
//! 4. without method or tool scopes, a form body is read only to refuse an `access_token` in it
//!    (RFC 6750 §2.2; MCP accepts the header only); the base scopes apply to it as to any
//!    request.
//!
//! Every verdict that forwards a request is made by the [`verdict`](crate::verdict) module, from
//! the complete requirement: [`Step::Allow`] carries an [`Allowed`] and [`Step::AllowPublic`] a
//! [`Public`], which nothing else can make.
//!
//! ```
//! use mcp_authz_core::exchange::Step;
//! use mcp_authz_core::{Guard, JwkSet, KeyState, Request, ScopePolicy, UnixTime, VerifierConfig};
//!
//! let guard = Guard::new(
//!     VerifierConfig::new("https://auth.example.com", "https://mcp.example.com/mcp"),
//!     ScopePolicy::new(["mcp:tools"]),
//! )
//! .with_public_path("/healthz")
//! .unwrap();
//! let keys = JwkSet::default();
//! let now = UnixTime::from_secs(1_700_000_000);
//! // Any path the guard wraps needs a token: `/mcp/` as much as `/mcp`.
//! for path in ["/mcp", "/mcp/", "/anything"] {
//!     match guard.exchange().poll(&Request::new("POST", path), KeyState::Ready(&keys), now, None) {
//!         Step::Respond(r) => assert_eq!(r.status, 401),
//!         other => panic!("{other:?}"),
//!     }
//! }
//! let step = guard.exchange().poll(&Request::new("GET", "/healthz"), KeyState::Ready(&keys), now, None);
//! assert!(matches!(step, Step::AllowPublic(_)));
//! ```

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::access_token::Principal;
use crate::challenge::{credentials, form_has_access_token, Credentials, Scheme};
use crate::dpop::{check_proof, DpopMode, ProofKey, ProofRequest, UnrecordedProof};
use crate::error::{DpopError, Error, RequestError, TokenError};
use crate::guard::Guard;
use crate::http_message::{KeySource, KeyState, Request, Response};
use crate::mcp_request::{
    body_kind, predates_standard_headers, read_calls, requires_standard_headers, BodyKind, Calls,
    McpHeaders,
};
use crate::param_headers::{self, arguments_of, DeclaredHeaders, ToolHeaders};
use crate::scope_policy::Refusal;
use crate::session::{SessionKey, SessionOwner};
use crate::time::UnixTime;
use crate::token_cache::PrincipalCache;
use crate::verdict::{anonymous, decide, public, Allowed, BodySeen, Denied, Public, SessionSeen};

/// What the adapter does next (see the module docs).
#[derive(Debug, Clone, PartialEq)]
#[must_use]
#[non_exhaustive]
pub enum Step {
    /// Send this answer; the request goes no further.
    Respond(Response),
    /// Forward the request, with the verified principal in its extensions: it holds every scope
    /// the request needs (made only by the [`verdict`](crate::verdict) module).
    Allow(Allowed),
    /// Forward the request: its path is public (no token was checked).
    AllowPublic(Public),
    /// Read the body (at most `max_bytes`), report it, poll again.
    ReadBody {
        /// The largest body to read; a longer one is reported as
        /// [`BodyFailure::TooLarge`].
        max_bytes: usize,
    },
    /// The token is to be introspected (RFC 7662; the guard's
    /// [`IntrospectionMode`](crate::token_introspection::IntrospectionMode)): ask the
    /// [`IntrospectionCache`](crate::token_introspection::IntrospectionCache) of the first
    /// authorization server, call the endpoint on a miss, report with
    /// [`Exchange::handle_introspected`], poll again.
    Introspect {
        /// The bearer token (its `Debug` shows nothing of it).
        token: BearerToken,
    },
    /// The token names a key the set lacks: refresh (as the refresh policy allows), report,
    /// poll again.
    RefreshKeys {
        /// Whose keys: the issuer number (0 for the first authorization server; see
        /// [`KeySource`]).
        issuer: usize,
        /// The unknown `kid`.
        kid: String,
    },
    /// The request names one MCP session: look up its owner (`None` when unbound or idled
    /// out), report with [`Exchange::handle_session`], poll again.
    LookupSession {
        /// The session id's digest (the id itself is never stored).
        key: SessionKey,
    },
    /// Record this DPoP proof as used, only if it is not recorded yet (atomically, in a store
    /// every replica of the resource shares), keeping the record until `until`; report with
    /// [`Exchange::handle_proof_recorded`], poll again.
    RecordProof {
        /// The proof's digest (`jti` and `htu`).
        key: ProofKey,
        /// When the record may expire (the proof is out of its `iat` window then).
        until: UnixTime,
    },
}

/// The adapter's state store could not answer (unreachable, or too slow): the request is
/// refused with `503` and this `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreUnavailable {
    /// Seconds after which the client may retry.
    pub retry_after_secs: u32,
}

/// The replay store's answer to [`Step::RecordProof`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProofRecord {
    /// Recorded now: the proof was not used before.
    New,
    /// Recorded already, within its window: a replay.
    Seen,
}

/// A bearer token handed to the adapter for introspection. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// Why the adapter could not read a body the exchange asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFailure {
    /// Longer than the `max_bytes` of [`Step::ReadBody`] (413).
    TooLarge,
    /// The stream failed (400).
    Unreadable,
}

#[derive(Debug)]
enum Phase {
    /// Nothing decided yet; `refresh` says where the one key refresh stands.
    Start { refresh: Refresh },
    /// [`Step::Introspect`] was returned; no report yet.
    AwaitIntrospection,
    /// [`Step::LookupSession`] was returned; no report yet.
    AwaitSession,
    /// [`Step::RecordProof`] was returned for this principal's request; no report yet.
    AwaitProofRecord { principal: Arc<Principal> },
    /// The replay store answered.
    ProofRecorded {
        principal: Arc<Principal>,
        record: Result<ProofRecord, StoreUnavailable>,
    },
    /// A store could not answer: the request is refused.
    Unavailable(StoreUnavailable),
    /// The adapter reported the introspection.
    Introspected(Result<Arc<Principal>, Error>),
    /// Verified; waiting for the body.
    AwaitBody {
        principal: Arc<Principal>,
        form: bool,
    },
    /// Verified; the body was reported.
    BodyRead {
        principal: Arc<Principal>,
        body: Result<BodyContent, RequestError>,
    },
    /// No credentials, and the policy has public tools: waiting for the body.
    AwaitAnonymousBody,
    /// No credentials; the body was reported.
    AnonymousBodyRead(Result<ReadCalls, RequestError>),
    /// A verdict was given: polling again denies.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// No refresh asked for.
    NotAsked,
    /// [`Step::RefreshKeys`] was returned; no report yet.
    Asked,
    /// The adapter reported a completed refresh: verify once more.
    Refreshed,
    /// The adapter reported no refresh: reject the unknown key.
    NotRefreshed,
}

#[derive(Debug)]
enum BodyContent {
    /// A form body without `access_token` (the policy reads no body).
    Form,
    /// The calls of a JSON-RPC body.
    Calls(ReadCalls),
}

/// The calls of a JSON-RPC body, and for a `tools/call` of a tool that declares
/// `Mcp-Param-*` headers, its declarations and arguments (read with the body, so that the
/// declarations checked are the ones the arguments were read for).
#[derive(Debug)]
struct ReadCalls {
    calls: Calls,
    mirrored: Option<(Arc<ToolHeaders>, Option<serde_json::Value>)>,
}

/// One request's way through the guard (see the module docs).
pub struct Exchange<'g> {
    guard: &'g Guard,
    phase: Phase,
    /// The scheme of the request's credentials: rejections answer in it.
    scheme: Scheme,
    declared: Option<&'g dyn DeclaredHeaders>,
    /// The request's session, once looked up (`None` before).
    session: Option<SessionSeen>,
}

impl core::fmt::Debug for Exchange<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exchange")
            .field("phase", &self.phase)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Starts the exchange for one request (see [`Exchange`]).
    pub fn exchange(&self) -> Exchange<'_> {
        Exchange::new(self)
    }
}

impl<'g> Exchange<'g> {
    fn new(guard: &'g Guard) -> Self {
        Self {
            guard,
            phase: Phase::Start {
                refresh: Refresh::NotAsked,
            },
            scheme: Scheme::Bearer,
            declared: None,
            session: None,
        }
    }

    /// What the MCP server's tools declare to be mirrored into `Mcp-Param-*` headers, as the
    /// adapter learned it from `tools/list` answers: a `tools/call` of such a tool must carry
    /// those headers, matching its arguments, whenever the body is read
    /// ([`param_headers`](crate::param_headers)). Without it no such header is checked.
    #[must_use]
    pub fn with_declared_headers(mut self, declared: &'g dyn DeclaredHeaders) -> Self {
        self.declared = Some(declared);
        self
    }

    /// The next step for `req` (the same request head every time), with the keys of each
    /// authorization server as they are `now` (one [`KeyState`] for a guard with one) and an
    /// optional verified-token cache.
    pub fn poll(
        &mut self,
        req: &Request<'_>,
        keys: impl KeySource,
        now: UnixTime,
        cache: Option<&dyn PrincipalCache>,
    ) -> Step {
        match core::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Start { refresh } => self.start(req, keys, now, cache, refresh),
            Phase::BodyRead { principal, body } => self.finish(req, principal, body),
            Phase::AnonymousBodyRead(body) => self.finish_anonymous(req, body),
            Phase::Introspected(Ok(principal)) => self.bound(req, principal, now),
            Phase::Introspected(Err(e)) => self.reject(e),
            Phase::ProofRecorded { principal, record } => match record {
                Ok(ProofRecord::New) => self.authorized(req, principal),
                Ok(ProofRecord::Seen) => self.proof_refused(DpopError::Replayed, now),
                Err(e) => self.unavailable(e),
            },
            Phase::Unavailable(e) => self.unavailable(e),
            // Polled while the body, the introspection or a store was awaited, or after a
            // verdict: the adapter broke the protocol, so nothing is allowed.
            Phase::AwaitBody { .. }
            | Phase::AwaitAnonymousBody
            | Phase::AwaitIntrospection
            | Phase::AwaitSession
            | Phase::AwaitProofRecord { .. }
            | Phase::Done => Step::Respond(no_decision()),
        }
    }

    /// Reports the outcome of [`Step::RefreshKeys`]: `true` when a fetch completed (the token is
    /// verified once more), `false` when none was allowed or it did not finish in time (the
    /// token is rejected as naming an unknown key).
    pub fn handle_keys_refreshed(&mut self, refreshed: bool) {
        if let Phase::Start {
            refresh: refresh @ Refresh::Asked,
        } = &mut self.phase
        {
            *refresh = match refreshed {
                true => Refresh::Refreshed,
                false => Refresh::NotRefreshed,
            };
        }
    }

    /// Reports the outcome of [`Step::Introspect`]: the principal of an active, acceptable
    /// token, or why it is refused (an [`Error::InvalidToken`] reason, or
    /// [`Error::IntrospectionUnavailable`] when the authorization server could not be asked).
    pub fn handle_introspected(&mut self, outcome: Result<Arc<Principal>, Error>) {
        if let Phase::AwaitIntrospection = self.phase {
            self.phase = Phase::Introspected(outcome);
        }
    }

    /// Reports the outcome of [`Step::LookupSession`]: the session's owner (`None` when it is
    /// not bound), or that the session store could not answer (the request is refused; an
    /// adapter that fails open reports `Ok(None)` instead).
    pub fn handle_session(&mut self, owner: Result<Option<SessionOwner>, StoreUnavailable>) {
        if let Phase::AwaitSession = self.phase {
            match owner {
                Ok(owner) => {
                    self.session = Some(owner.map_or(SessionSeen::Unbound, SessionSeen::BoundTo));
                    self.phase = Phase::Start {
                        refresh: Refresh::NotAsked,
                    };
                }
                Err(e) => self.phase = Phase::Unavailable(e),
            }
        }
    }

    /// Reports the outcome of [`Step::RecordProof`]: recorded now, seen before (a replay,
    /// refused), or the replay store could not answer (refused with `503`).
    pub fn handle_proof_recorded(&mut self, record: Result<ProofRecord, StoreUnavailable>) {
        if let Phase::AwaitProofRecord { principal } = &self.phase {
            let principal = principal.clone();
            self.phase = Phase::ProofRecorded { principal, record };
        }
    }

    /// Reports the body asked for by [`Step::ReadBody`].
    pub fn handle_body(&mut self, body: &[u8]) {
        if let Phase::AwaitAnonymousBody = self.phase {
            self.phase = Phase::AnonymousBodyRead(self.read_calls(body));
            return;
        }
        if let Phase::AwaitBody { principal, form } = &self.phase {
            let body = match form {
                true if form_has_access_token(body) => Err(RequestError::TokenInBody),
                true => Ok(BodyContent::Form),
                false => self.read_calls(body).map(BodyContent::Calls),
            };
            let principal = principal.clone();
            self.phase = Phase::BodyRead { principal, body };
        }
    }

    /// The calls of `body`, with the arguments of a `tools/call` whose tool declares
    /// `Mcp-Param-*` headers.
    fn read_calls(&self, body: &[u8]) -> Result<ReadCalls, RequestError> {
        let calls = read_calls(body)?;
        let declared = match (calls.calls.as_slice(), self.declared) {
            ([call], Some(declared)) if call.method == "tools/call" => call
                .name
                .as_deref()
                .and_then(|name| declared.of_tool(name))
                .filter(|d| !d.is_empty()),
            _ => None,
        };
        let mirrored = match declared {
            Some(d) => Some((d, arguments_of(body)?)),
            None => None,
        };
        Ok(ReadCalls { calls, mirrored })
    }

    /// Reports that the body asked for by [`Step::ReadBody`] could not be read.
    pub fn handle_body_failed(&mut self, why: BodyFailure) {
        let error = match why {
            BodyFailure::TooLarge => RequestError::BodyTooLarge,
            BodyFailure::Unreadable => RequestError::UnreadableBody,
        };
        if let Phase::AwaitAnonymousBody = self.phase {
            self.phase = Phase::AnonymousBodyRead(Err(error));
            return;
        }
        if let Phase::AwaitBody { principal, .. } = &self.phase {
            let principal = principal.clone();
            self.phase = Phase::BodyRead {
                principal,
                body: Err(error),
            };
        }
    }

    fn reject(&self, error: impl Into<Error>) -> Step {
        let base = self.guard.base_scopes();
        Step::Respond(
            self.guard
                .challenger()
                .reject_in(self.scheme, &error.into(), &base),
        )
    }

    fn unavailable(&self, e: StoreUnavailable) -> Step {
        self.reject(Error::StoreUnavailable {
            retry_after_secs: e.retry_after_secs,
        })
    }

    /// A refused DPoP proof; with server nonces, the nonce to use rides along (RFC 9449 §9).
    fn proof_refused(&self, e: DpopError, now: UnixTime) -> Step {
        let mut step = self.reject(e);
        if let (Step::Respond(r), Some(n)) = (&mut step, self.guard.dpop_config().nonces()) {
            r.headers.push(("dpop-nonce", n.current(now)));
        }
        step
    }

    /// The verified `principal`, bound to the request's scheme: a DPoP proof is recorded
    /// first ([`Step::RecordProof`]), then the scopes and the body are checked.
    fn bound(&mut self, req: &Request<'_>, principal: Arc<Principal>, now: UnixTime) -> Step {
        match self.bind(req, &principal, now) {
            Err(step) => step,
            Ok(None) => self.authorized(req, principal),
            Ok(Some(proof)) => {
                let step = Step::RecordProof {
                    key: proof.key(),
                    until: proof.until(),
                };
                self.phase = Phase::AwaitProofRecord { principal };
                step
            }
        }
    }

    /// The token's binding against the request's scheme (RFC 9449 §7.1): a token bound to a
    /// key is never a bearer token; a DPoP request needs its proof, for this request and this
    /// token, made with the key the token names — returned to be recorded against replays.
    fn bind(
        &self,
        req: &Request<'_>,
        principal: &Principal,
        now: UnixTime,
    ) -> Result<Option<UnrecordedProof>, Step> {
        let guard = self.guard;
        match self.scheme {
            Scheme::Bearer if principal.is_sender_constrained() => {
                Err(self.reject(TokenError::BoundTokenAsBearer))
            }
            Scheme::Bearer => Ok(None),
            Scheme::Dpop => {
                // The token again, for the proof's `ath` (only a DPoP request needs it).
                let token = match credentials(req.authorization, req.query) {
                    Ok(Some(c)) => c.token,
                    // Checked before the token was verified: cannot happen; deny.
                    _ => return Err(Step::Respond(no_decision())),
                };
                let uri = guard.public_uri(req.path);
                let proof_request = ProofRequest {
                    method: req.method,
                    uri: &uri,
                    access_token: token,
                };
                let proof = check_proof(req.dpop, &proof_request, guard.dpop_config(), now)
                    .map_err(|e| self.proof_refused(e, now))?;
                // The key is checked before the proof is recorded: a proof made with another
                // key never fills the replay store.
                match principal.dpop_jkt() {
                    Some(jkt) if jkt == proof.jkt() => Ok(Some(proof)),
                    _ => Err(self.reject(TokenError::DpopKeyMismatch)),
                }
            }
        }
    }

    fn start(
        &mut self,
        req: &Request<'_>,
        keys: impl KeySource,
        now: UnixTime,
        cache: Option<&dyn PrincipalCache>,
        refresh: Refresh,
    ) -> Step {
        let guard = self.guard;
        if refresh == Refresh::Asked {
            // Polled again without a report on the refresh: the key stays unknown.
            return self.reject(TokenError::UnknownKid);
        }
        if guard.is_well_known(req.path) {
            return Step::Respond(match req.method {
                "GET" | "HEAD" => guard.metadata_response(),
                "OPTIONS" => Guard::preflight(req.cors_request_headers),
                _ => Response {
                    status: 405,
                    headers: alloc::vec![("allow", "GET, HEAD, OPTIONS".into())],
                    body: Vec::new(),
                    reason: Some("method_not_allowed"),
                },
            });
        }
        // Against DNS rebinding: a browser's request from an origin not allowed goes nowhere
        // (the metadata documents above stay open to every origin, as CORS allows).
        if !guard.origin_allowed(req.origin) {
            return self.reject(RequestError::OriginNotAllowed);
        }
        if let Some(public) = public(guard, req.path) {
            return Step::AllowPublic(public);
        }
        if req.method == "OPTIONS" && req.path == guard.resource_path() {
            return Step::Respond(Guard::preflight(req.cors_request_headers));
        }
        if req.mcp_session_id.len() > 1 {
            return self.reject(RequestError::MultipleSessionIds);
        }
        let creds = match credentials(req.authorization, req.query) {
            Ok(c) => c,
            Err(e) => return self.reject(e),
        };
        if self.session.is_none() {
            match req.mcp_session_id {
                // Looked up only for a request that can go on (credentials, or public tools):
                // one that gets the challenge below costs the store nothing.
                [id] if creds.is_some() || may_be_anonymous(guard, req) => {
                    self.phase = Phase::AwaitSession;
                    return Step::LookupSession {
                        key: SessionKey::of(id),
                    };
                }
                _ => self.session = Some(SessionSeen::Unbound),
            }
        }
        let token = match (creds, guard.dpop()) {
            // `Authorization: DPoP` where DPoP is off: not a credential here.
            (None, _) if may_be_anonymous(guard, req) => {
                self.phase = Phase::AwaitAnonymousBody;
                return Step::ReadBody {
                    max_bytes: guard.max_body_bytes(),
                };
            }
            (None, _)
            | (
                Some(Credentials {
                    scheme: Scheme::Dpop,
                    ..
                }),
                DpopMode::Off,
            ) => {
                let base = guard.base_scopes();
                return Step::Respond(guard.challenger().no_credentials(&base));
            }
            (Some(c), mode) => {
                self.scheme = c.scheme;
                if c.scheme == Scheme::Bearer && mode == DpopMode::Required {
                    return self.reject(TokenError::BearerNotAccepted);
                }
                c.token
            }
        };
        if guard.introspection().applies_to(token) {
            self.phase = Phase::AwaitIntrospection;
            return Step::Introspect {
                token: BearerToken(String::from(token)),
            };
        }
        // Several authorization servers: the unverified `iss` chooses whose verifier and keys
        // check the token; an `iss` none of them has is refused here, before any key is looked
        // at.
        let issuer = match guard.route(token) {
            Ok(i) => i,
            Err(e) => return self.reject(e),
        };
        let (Some(verifier), Some(keys)) = (guard.verifier_at(issuer), keys.keys_for(issuer))
        else {
            // The adapter has no keys for this issuer: deny, never verify with others' keys.
            return Step::Respond(no_decision());
        };
        let keys = match keys {
            KeyState::Ready(keys) => keys,
            KeyState::Unavailable { retry_after_secs } => {
                return self.reject(Error::KeysUnavailable { retry_after_secs })
            }
        };
        let mut unknown_kid = None;
        let principal = match Guard::verify(verifier, token, keys, now, cache, &mut unknown_kid) {
            Ok(p) => p,
            Err(Error::InvalidToken(TokenError::UnknownKid)) if refresh == Refresh::NotAsked => {
                self.phase = Phase::Start {
                    refresh: Refresh::Asked,
                };
                return Step::RefreshKeys {
                    issuer,
                    kid: unknown_kid.unwrap_or_default(),
                };
            }
            Err(e) => return self.reject(e),
        };
        self.bound(req, principal, now)
    }

    /// The checks after the token: scopes the headers announce, the body policy.
    fn authorized(&mut self, req: &Request<'_>, principal: Arc<Principal>) -> Step {
        let guard = self.guard;
        let policy = guard.scope_policy();
        let validate =
            guard.validates_mcp_headers() && requires_standard_headers(req.mcp_protocol_version);
        if !guard.reads_bodies() && !validate {
            // The body cannot change the scopes; only a form body is looked at, for a token.
            let form =
                req.has_body && body_kind(req.content_type, req.content_encoding) == BodyKind::Form;
            let body = match req.has_body {
                true => BodySeen::NotRead,
                false => BodySeen::None,
            };
            return match form {
                true => self.await_body(principal, true),
                false => self.verdict(principal, body),
            };
        }
        let headers = match McpHeaders::decode(req.mcp_method, req.mcp_name) {
            Ok(h) => h,
            Err(e) => return Step::Respond(guard.challenger().reject_json_rpc(&e.into(), None)),
        };
        // The policy reads these headers: a request of an earlier revision, where they mean
        // nothing to the server, must not carry them (MCP 2026-07-28: intermediaries that
        // enforce policy on them SHOULD reject such requests).
        if !headers.is_empty() && predates_standard_headers(req.mcp_protocol_version) {
            let e = RequestError::InvalidMcpHeader;
            return Step::Respond(guard.challenger().reject_json_rpc(&e.into(), None));
        }
        // What the headers announce is required now (it can only add scopes): a call that
        // cannot succeed gets its 403 before its body is read.
        match policy.judge(&principal, headers.announced()) {
            Ok(()) => {}
            Err(Refusal::Insufficient(required)) => return self.insufficient(&required),
            Err(Refusal::NotPermitted) => return self.not_permitted(None),
        }
        if !req.has_body {
            // No body, no call: headers that announce one contradict it.
            return match headers.check(&[], false) {
                Ok(()) => self.verdict(principal, BodySeen::None),
                Err(e) => Step::Respond(guard.challenger().reject_json_rpc(&e.into(), None)),
            };
        }
        match body_kind(req.content_type, req.content_encoding) {
            BodyKind::Json => self.await_body(principal, false),
            BodyKind::Form => self.reject(RequestError::UnsupportedMediaType),
            BodyKind::Other(e) => self.reject(e),
        }
    }

    fn await_body(&mut self, principal: Arc<Principal>, form: bool) -> Step {
        self.phase = Phase::AwaitBody { principal, form };
        Step::ReadBody {
            max_bytes: self.guard.max_body_bytes(),
        }
    }

    fn finish(
        &mut self,
        req: &Request<'_>,
        principal: Arc<Principal>,
        body: Result<BodyContent, RequestError>,
    ) -> Step {
        let guard = self.guard;
        let read = match body {
            // The form was read for a token only: the base scopes still apply (and with a
            // policy that reads bodies, a form was refused before it was read).
            Ok(BodyContent::Form) => return self.verdict(principal, BodySeen::NotRead),
            Ok(BodyContent::Calls(read)) => read,
            Err(e) => return self.reject(e),
        };
        if let Err(e) = headers_agree(req, &read) {
            let id = read.calls.id.as_ref();
            return Step::Respond(guard.challenger().reject_json_rpc(&e.into(), id));
        }
        self.verdict(principal, BodySeen::Read(&read.calls))
    }

    /// A request without credentials whose body was read (the policy has public tools):
    /// [`Step::AllowPublic`] only from [`anonymous`]; anything else gets the `401` challenge.
    fn finish_anonymous(
        &mut self,
        req: &Request<'_>,
        body: Result<ReadCalls, RequestError>,
    ) -> Step {
        let guard = self.guard;
        let challenge = || {
            let base = guard.base_scopes();
            Step::Respond(guard.challenger().no_credentials(&base))
        };
        let Ok(read) = body else {
            return challenge();
        };
        if let Err(e) = headers_agree(req, &read) {
            let id = read.calls.id.as_ref();
            return Step::Respond(guard.challenger().reject_json_rpc(&e.into(), id));
        }
        let learn = guard.checks_param_headers();
        // The session was looked up before anything else: not knowing it cannot happen; deny.
        let Some(session) = self.session else {
            return Step::Respond(no_decision());
        };
        match anonymous(guard.scope_policy(), &read.calls, session, learn) {
            Some(public) => Step::AllowPublic(public),
            None => challenge(),
        }
    }

    /// The one way to [`Step::Allow`]: [`decide`], from the complete requirement.
    fn verdict(&self, principal: Arc<Principal>, body: BodySeen<'_>) -> Step {
        let id = match body {
            BodySeen::Read(calls) => calls.id.as_ref(),
            _ => None,
        };
        let learn = self.guard.checks_param_headers();
        // The session was looked up before anything else: not knowing it cannot happen; deny.
        let Some(session) = self.session else {
            return Step::Respond(no_decision());
        };
        match decide(self.guard.scope_policy(), principal, body, session, learn) {
            Ok(allowed) => Step::Allow(allowed),
            Err(Denied::Insufficient(required)) => self.insufficient(&required),
            Err(Denied::NotPermitted) => self.not_permitted(id),
            Err(Denied::Incomplete) => Step::Respond(no_decision()),
            Err(Denied::OtherSession) => self.reject(RequestError::SessionNotFound),
            Err(Denied::ListInBatch) => self.reject(RequestError::UnreadableBody),
        }
    }

    /// A refusal no scope can fix: `403` without a step-up challenge (see
    /// [`Challenger::reject_json_rpc`](crate::challenge::Challenger::reject_json_rpc)).
    fn not_permitted(&self, id: Option<&serde_json::Value>) -> Step {
        Step::Respond(
            self.guard
                .challenger()
                .reject_json_rpc(&Error::NotPermitted, id),
        )
    }

    fn insufficient(&self, required: &[String]) -> Step {
        let all: Vec<&str> = required.iter().map(String::as_str).collect();
        Step::Respond(
            self.guard
                .challenger()
                .reject(&Error::InsufficientScope, &all),
        )
    }
}

/// The request's `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers against the calls of its
/// body (SEP-2243): they decode, a request of an earlier revision carries none, and they agree
/// with the body (present when the revision requires them; an `Mcp-Param-*` header only when
/// the tool declares it, [`param_headers`](crate::param_headers)). The token path checks the
/// earlier-revision rule of `Mcp-Method` and `Mcp-Name` before the body is read too.
fn headers_agree(req: &Request<'_>, read: &ReadCalls) -> Result<(), RequestError> {
    let headers = McpHeaders::decode(req.mcp_method, req.mcp_name)?;
    let mirrored = !headers.is_empty() || !req.mcp_params.is_empty();
    if mirrored && predates_standard_headers(req.mcp_protocol_version) {
        return Err(RequestError::InvalidMcpHeader);
    }
    let required = requires_standard_headers(req.mcp_protocol_version);
    headers.check(&read.calls.calls, required)?;
    match &read.mirrored {
        Some((declared, arguments)) if required => {
            param_headers::check(req.mcp_params, declared, arguments.as_ref())
        }
        _ => Ok(()),
    }
}

/// Whether a request without credentials may be one of public tools (read its body to know):
/// the policy has public tools, and it is a JSON `POST` to the resource path.
fn may_be_anonymous(guard: &Guard, req: &Request<'_>) -> bool {
    !guard.scope_policy().public_tools().is_empty()
        && req.method == "POST"
        && req.path == guard.resource_path()
        && req.has_body
        && body_kind(req.content_type, req.content_encoding) == BodyKind::Json
}

/// The answer when the adapter broke the exchange's protocol: 500, never a pass-through.
fn no_decision() -> Response {
    Response {
        status: 500,
        headers: alloc::vec![("content-type", "application/json".into())],
        body: br#"{"error":"server_error","error_description":"no authorization decision"}"#
            .to_vec(),
        reason: Some("no_decision"),
    }
}
