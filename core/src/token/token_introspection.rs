//! Opaque access tokens: OAuth 2.0 Token Introspection
//! ([RFC 7662](https://www.rfc-editor.org/rfc/rfc7662)) at the resource server, with no IO.
//!
//! - [`IntrospectionConfig::request`]: the request of
//!   [§2.1](https://www.rfc-editor.org/rfc/rfc7662#section-2.1), a form with `token` and
//!   `token_type_hint=access_token`, the client authenticated by `client_secret_basic` or
//!   `client_secret_post` ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)).
//! - [`parse_response`]: the response of
//!   [§2.2](https://www.rfc-editor.org/rfc/rfc7662#section-2.2), strictly: `active` must be the
//!   boolean `true`; `exp` is required unless configured otherwise; `nbf`/`iat`, `iss` (when
//!   present), `aud` and the scope claims are checked exactly as for a JWT, under the same
//!   [`VerifierConfig`]; a `token_type` other than an access token's (`Bearer`, `DPoP`) is
//!   refused, and a `DPoP` one, like any with `cnf`, is bound to its key (RFC 9449 §7.1). An answer that is
//!   not an introspection response (an error status, not JSON, `active` missing or not a boolean)
//!   is the authorization server's failure: 503, never 401 for a token nobody could check.
//! - [`IntrospectionCache`]: answers kept by the SHA-256 of the token, the token compared on a
//!   hit. A positive entry lives until `min(exp, max_ttl)` (default 300 s) and is re-checked at
//!   every hit; a negative one (`active: false`, or a token refused for its claims) lives a short
//!   time (default 10 s); bounded; and a token is never introspected twice at once (single
//!   flight: [`IntrospectionCache::lookup`] says [`Lookup::InFlight`] while a call is out).
//!
//! Which tokens are introspected is the [`IntrospectionMode`], chosen explicitly.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::access_token::{ClaimRules, Principal, VerifierConfig};
use crate::error::{Error, TokenError};
use crate::json::Member;
use crate::time::UnixTime;

/// The largest introspection response read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Which access tokens are introspected instead of verified as JWTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IntrospectionMode {
    /// JWTs only: nothing is introspected (the default).
    #[default]
    Never,
    /// JWTs are verified as such; a token that is not a compact JWS (not three dot-separated
    /// parts) is introspected.
    NonJwt,
    /// Every token is introspected, JWTs included (tokens whose claims only the authorization
    /// server can interpret, or must be checked for revocation).
    Always,
}

impl IntrospectionMode {
    /// The mode named `never`, `non-jwt` or `always`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "never" => Some(Self::Never),
            "non-jwt" => Some(Self::NonJwt),
            "always" => Some(Self::Always),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::NonJwt => "non-jwt",
            Self::Always => "always",
        }
    }

    /// Whether `token` is introspected in this mode.
    pub fn applies_to(self, token: &str) -> bool {
        match self {
            Self::Never => false,
            Self::NonJwt => !is_compact_jws_shaped(token),
            Self::Always => true,
        }
    }
}

/// Whether `token` has the shape of a compact JWS: three parts separated by two dots
/// ([RFC 7515 §7.1](https://www.rfc-editor.org/rfc/rfc7515#section-7.1)). Opaque tokens of the
/// providers we know have none.
pub fn is_compact_jws_shaped(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// How the resource server authenticates to the introspection endpoint
/// ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)). `Debug` never shows
/// the secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthentication {
    /// HTTP Basic: `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
    ClientSecretBasic {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
}

/// The `Authorization` value of `client_secret_basic`
/// ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)): `Basic` and the
/// base64 of the form-encoded id, `:`, and the form-encoded secret.
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = alloc::format!("{}:{}", encode(client_id), encode(client_secret));
    alloc::format!("Basic {}", STANDARD.encode(pair))
}

impl ClientAuthentication {
    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            Self::ClientSecretBasic { client_id, .. }
            | Self::ClientSecretPost { client_id, .. } => client_id,
        }
    }

    /// The method's registered name (`client_secret_basic`, `client_secret_post`).
    pub fn method(&self) -> &'static str {
        match self {
            Self::ClientSecretBasic { .. } => "client_secret_basic",
            Self::ClientSecretPost { .. } => "client_secret_post",
        }
    }
}

impl fmt::Debug for ClientAuthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuthentication")
            .field("method", &self.method())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

/// Where and how tokens are introspected, and how long answers are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrospectionConfig {
    endpoint: String,
    auth: ClientAuthentication,
    require_exp: bool,
    max_ttl_secs: u64,
    negative_ttl_secs: u64,
    max_entries: usize,
    in_flight_timeout_secs: u64,
    retry_after_secs: u32,
}

impl IntrospectionConfig {
    /// Introspection at `endpoint` (the metadata's `introspection_endpoint`), authenticated with
    /// `auth`; every other setting at its default: `exp` required, positive answers kept at most
    /// 300 s, negative ones 10 s, 10 000 entries, a call given up after 10 s, `Retry-After: 5`.
    pub fn new(endpoint: impl Into<String>, auth: ClientAuthentication) -> Self {
        Self {
            endpoint: endpoint.into(),
            auth,
            require_exp: true,
            max_ttl_secs: 300,
            negative_ttl_secs: 10,
            max_entries: 10_000,
            in_flight_timeout_secs: 10,
            retry_after_secs: 5,
        }
    }

    /// Accept active tokens whose response has no `exp` (they live as long as the cache keeps
    /// them). Off by default: RFC 7662 makes `exp` optional, but without it a revoked token's
    /// lifetime here is only the cache's.
    #[must_use]
    pub fn allow_missing_exp(mut self, yes: bool) -> Self {
        self.require_exp = !yes;
        self
    }

    /// The longest a positive answer is kept (default 300 s): a revoked token is refused at most
    /// this long after its revocation.
    #[must_use]
    pub fn max_ttl_secs(&self) -> u64 {
        self.max_ttl_secs
    }

    /// Sets how long an active answer is kept at most (seconds; see [`Self::max_ttl_secs`]).
    #[must_use]
    pub fn with_max_ttl_secs(mut self, secs: u64) -> Self {
        self.max_ttl_secs = secs;
        self
    }

    /// How long a negative answer is kept (default 10 s).
    #[must_use]
    pub fn with_negative_ttl_secs(mut self, secs: u64) -> Self {
        self.negative_ttl_secs = secs;
        self
    }

    /// The most answers kept (default 10 000; the oldest go first).
    #[must_use]
    pub fn with_max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// How long a call in flight holds other requests for the same token back before one of
    /// them may call again (default 10 s: the adapters' fetch timeout).
    #[must_use]
    pub fn with_in_flight_timeout_secs(mut self, secs: u64) -> Self {
        self.in_flight_timeout_secs = secs;
        self
    }

    /// Until when an answer read `now` may be kept, here or in a cache replicas share: an
    /// active token until its `exp` but at most [`Self::max_ttl_secs`], a refused one for the
    /// negative TTL (so a revocation is seen by then).
    pub fn keep_until(&self, verdict: &Verdict, now: UnixTime) -> UnixTime {
        match verdict {
            Ok(p) => p.expires_at().min(now.saturating_add(self.max_ttl_secs)),
            Err(_) => now.saturating_add(self.negative_ttl_secs),
        }
    }

    /// What names `token`'s answer in a cache replicas share: SHA-256 of this endpoint, this
    /// client and the token (each length-prefixed), so that an answer one authorization server
    /// (or one client) gave is never taken for another's, and the token is never stored.
    pub fn shared_key(&self, token: &str) -> [u8; 32] {
        crate::crypto::sha256_of_parts(&[&self.endpoint, self.auth.client_id(), token])
    }

    /// The introspection endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The client authentication.
    pub fn client_authentication(&self) -> &ClientAuthentication {
        &self.auth
    }

    /// The answer when the authorization server cannot be asked: 503 after this many seconds.
    pub fn unavailable(&self) -> Error {
        Error::IntrospectionUnavailable {
            retry_after_secs: self.retry_after_secs,
        }
    }

    /// The request for `token` (RFC 7662 §2.1).
    pub fn request(&self, token: &str) -> IntrospectionRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token)
            .append_pair("token_type_hint", "access_token");
        let authorization = match &self.auth {
            ClientAuthentication::ClientSecretBasic {
                client_id,
                client_secret,
            } => Some(basic_authorization(client_id, client_secret)),
            ClientAuthentication::ClientSecretPost {
                client_id,
                client_secret,
            } => {
                form.append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret);
                None
            }
        };
        IntrospectionRequest {
            url: self.endpoint.clone(),
            authorization,
            body: form.finish(),
        }
    }
}

/// One introspection call for an adapter to send: `POST url` with
/// `Content-Type: application/x-www-form-urlencoded`, `Accept: application/json`, the
/// `Authorization` header when there is one, and `body`. `Debug` shows neither the token nor the
/// credentials.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionRequest {
    /// The introspection endpoint.
    pub url: String,
    /// The `Authorization` header value (`client_secret_basic`).
    pub authorization: Option<String>,
    /// The form body.
    pub body: String,
}

impl fmt::Debug for IntrospectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Why an introspection call gave no usable answer (all of them 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IntrospectionFailure {
    /// No response: connection refused, timeout, too large.
    NoResponse,
    /// A status other than 200.
    Status,
    /// A 200 that is not an introspection response: not a JSON object, duplicate members,
    /// `active` missing or not a boolean.
    Malformed,
}

impl IntrospectionFailure {
    /// The stable reason name.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NoResponse => "introspection_no_response",
            Self::Status => "introspection_status",
            Self::Malformed => "introspection_malformed",
        }
    }
}

impl fmt::Display for IntrospectionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoResponse => "the introspection endpoint gave no response",
            Self::Status => "the introspection endpoint answered with an error status",
            Self::Malformed => {
                "the introspection endpoint's answer is not an introspection response"
            }
        })
    }
}

/// What one introspection established about a token: active and acceptable (its principal), or
/// refused for a reason ([`TokenError::Inactive`] for `active: false`).
pub type Verdict = Result<Principal, TokenError>;

/// Reads the response to an introspection call (RFC 7662 §2.2) into a [`Verdict`] under
/// `verifier` (the same rules as for JWTs) and `config` at `now`.
///
/// # Errors
/// [`IntrospectionFailure`] when the answer is not an introspection response.
pub fn parse_response(
    status: u16,
    body: &[u8],
    verifier: &VerifierConfig,
    config: &IntrospectionConfig,
    now: UnixTime,
) -> Result<Verdict, IntrospectionFailure> {
    if status != 200 {
        return Err(IntrospectionFailure::Status);
    }
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(IntrospectionFailure::Malformed);
    }
    let slot = |name: &str| match name {
        "active" => Some(0),
        "token_type" => Some(1),
        _ => None,
    };
    let [active, token_type] =
        crate::json::read_object(body, slot).map_err(|_| IntrospectionFailure::Malformed)?;
    match active {
        Some(Member::Bool(true)) => {}
        Some(Member::Bool(false)) => return Ok(Err(TokenError::Inactive)),
        // `"active": "true"`, `1`, missing: not an answer anyone can rely on.
        _ => return Err(IntrospectionFailure::Malformed),
    }
    // A DPoP token (RFC 9449 §7.1) is an access token bound to a key, never a bearer token.
    let dpop = match token_type {
        None => false,
        Some(Member::Str(t)) if t.eq_ignore_ascii_case("bearer") || t == "access_token" => false,
        Some(Member::Str(t)) if t.eq_ignore_ascii_case("dpop") => true,
        Some(Member::Str(_)) => return Ok(Err(TokenError::NotAnAccessToken)),
        Some(_) => return Ok(Err(TokenError::InvalidClaimType)),
    };
    let rules = ClaimRules {
        require_exp: config.require_exp,
        require_iss: false,
    };
    Ok(
        Principal::from_claims(body.to_vec(), verifier, now, rules).map(|mut p| {
            if dpop {
                p.mark_sender_constrained();
            }
            p
        }),
    )
}

/// What the cache knows of a token ([`IntrospectionCache::lookup`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Lookup {
    /// Introspected before, active, and still acceptable at `now`.
    Active(Arc<Principal>),
    /// Introspected before and refused; the refusal is kept for a short time.
    Refused(TokenError),
    /// Another request is introspecting it: wait for that call (the adapter is told when calls
    /// complete), then look again.
    InFlight,
    /// Unknown: start a call with [`IntrospectionCache::start`].
    Miss,
}

#[derive(Debug)]
struct Entry {
    token: String,
    verdict: Result<Arc<Principal>, TokenError>,
    until: UnixTime,
}

/// A call out for a token ([`IntrospectionCache::start`]); report it with
/// [`IntrospectionCache::finish`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Ticket {
    key: [u8; 32],
    id: u64,
}

/// Introspection answers kept, and the calls in flight (see the module docs).
#[derive(Debug)]
pub struct IntrospectionCache {
    config: IntrospectionConfig,
    entries: BTreeMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
    in_flight: BTreeMap<[u8; 32], (u64, UnixTime)>,
    next_id: u64,
    calls: u64,
    hits: u64,
}

fn digest(token: &str) -> [u8; 32] {
    crate::crypto::sha256(token.as_bytes())
}

/// What names a token's answer in a cache replicas share: SHA-256 of the token, so the token
/// itself is never stored.
pub fn token_digest(token: &str) -> [u8; 32] {
    digest(token)
}

impl IntrospectionCache {
    /// An empty cache for `config`.
    pub fn new(config: IntrospectionConfig) -> Self {
        Self {
            config,
            entries: BTreeMap::new(),
            order: VecDeque::new(),
            in_flight: BTreeMap::new(),
            next_id: 0,
            calls: 0,
            hits: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &IntrospectionConfig {
        &self.config
    }

    /// Introspection calls started so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Answers served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Answers held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What is known of `token` at `now`; a positive answer is re-checked under `verifier`
    /// (its `exp` may have passed since).
    pub fn lookup(&mut self, token: &str, verifier: &VerifierConfig, now: UnixTime) -> Lookup {
        let key = digest(token);
        if let Some(e) = self.entries.get(&key) {
            if e.token == token && now < e.until {
                let answer = match &e.verdict {
                    Ok(p) => match p.recheck(verifier, now) {
                        Ok(()) => Lookup::Active(p.clone()),
                        Err(e) => Lookup::Refused(e),
                    },
                    Err(e) => Lookup::Refused(*e),
                };
                self.hits += 1;
                return answer;
            }
            if now >= e.until {
                self.entries.remove(&key);
            }
        }
        match self.in_flight.get(&key) {
            Some((_, started))
                if now < started.saturating_add(self.config.in_flight_timeout_secs) =>
            {
                Lookup::InFlight
            }
            _ => Lookup::Miss,
        }
    }

    /// Starts the one call for `token` at `now`: the ticket and the request to send, or `None`
    /// when a call is already out (look up again once it completes).
    pub fn start(&mut self, token: &str, now: UnixTime) -> Option<(Ticket, IntrospectionRequest)> {
        let key = digest(token);
        let timeout = self.config.in_flight_timeout_secs;
        if self
            .in_flight
            .get(&key)
            .is_some_and(|(_, started)| now < started.saturating_add(timeout))
        {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.in_flight.insert(key, (id, now));
        self.calls += 1;
        Some((Ticket { key, id }, self.config.request(token)))
    }

    /// Reports the call of `ticket` for `token`: its outcome is kept (a failure is not) and
    /// returned as the request's answer.
    pub fn finish(
        &mut self,
        ticket: Ticket,
        token: &str,
        outcome: Result<Verdict, IntrospectionFailure>,
        now: UnixTime,
    ) -> Result<Arc<Principal>, Error> {
        if self
            .in_flight
            .get(&ticket.key)
            .is_some_and(|(id, _)| *id == ticket.id)
        {
            self.in_flight.remove(&ticket.key);
        }
        let Ok(verdict) = outcome else {
            return Err(self.config.unavailable());
        };
        let until = self.config.keep_until(&verdict, now);
        let verdict = verdict.map(Arc::new);
        if now < until && self.config.max_entries > 0 && digest(token) == ticket.key {
            self.insert(ticket.key, token, verdict.clone(), until);
        }
        verdict.map_err(Error::InvalidToken)
    }

    fn insert(
        &mut self,
        key: [u8; 32],
        token: &str,
        verdict: Result<Arc<Principal>, TokenError>,
        until: UnixTime,
    ) {
        if self.entries.remove(&key).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() >= self.config.max_entries {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        self.entries.insert(
            key,
            Entry {
                token: String::from(token),
                verdict,
                until,
            },
        );
        if self.order.len() > 2 * self.config.max_entries.max(16) {
            let live = &self.entries;
            self.order.retain(|k| live.contains_key(k));
        }
    }
}
