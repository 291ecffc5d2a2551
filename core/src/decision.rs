//! The per-request decision: what a resource server answers to one HTTP request, decided without
//! IO (the MCP authorization specification's resource-server duties, on top of RFC 6750,
//! RFC 9728 and the token verifier).
//!
//! An adapter builds one [`Guard`] at start-up and, for every request, hands
//! [`Guard::decide`] the method, path, query, `Authorization` headers, the MCP routing headers
//! (`Mcp-Method`, `Mcp-Name`), the JSON-RPC body when [`Guard::needs_body`] says so, the current
//! keys and `now`. It gets back one [`Decision`]:
//!
//! - [`Decision::Respond`]: a complete answer (a metadata document, a CORS preflight, a
//!   challenge, a 503) to send as is;
//! - [`Decision::Allow`]: the request may proceed, with the verified [`Principal`];
//! - [`Decision::KeysNeeded`]: the token names a `kid` the key set lacks. The adapter may refresh
//!   the keys (as its refresh policy allows) and decide again, or send the enclosed rejection;
//! - [`Decision::NotProtected`]: a path that is neither the resource nor its metadata: the
//!   adapter's business.
//!
//! ```
//! use mcp_authz_core::decision::{Decision, Guard, KeyState, Request, ScopePolicy};
//! use mcp_authz_core::{JwkSet, UnixTime, VerifierConfig};
//!
//! let guard = Guard::new(
//!     VerifierConfig::new("https://auth.example.com", "https://mcp.example.com/mcp"),
//!     ScopePolicy::new(["mcp:tools"]).with_tool_scopes("delete_everything", ["mcp:admin"]),
//! );
//! let keys = JwkSet::default();
//! let request = Request::new("POST", "/mcp");
//! match guard.decide(&request, KeyState::Ready(&keys), UnixTime::from_secs(1_700_000_000)) {
//!     Decision::Respond(r) => {
//!         assert_eq!(r.status, 401);
//!         assert_eq!(
//!             r.header("www-authenticate"),
//!             Some(r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools""#)
//!         );
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::access_token::{AccessTokenVerifier, Principal, VerifierConfig};
use crate::challenge::{bearer_token, Challenger};
use crate::error::{Error, RequestError, TokenError};
use crate::jose::jwk::JwkSet;
use crate::json::{self, RpcBody, RpcMessage};
use crate::resource_indicator::UriParts;
use crate::resource_metadata::{well_known_paths, well_known_urls, ProtectedResourceMetadata};
use crate::time::UnixTime;
use crate::token_cache::PrincipalCache;

/// The default largest JSON-RPC body the adapters buffer for the scope policy.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A complete HTTP answer, ready for an adapter to turn into its own response type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(&'static str, String)>,
    /// The body (for `HEAD`, adapters send none).
    pub body: Vec<u8>,
    /// Why the request was refused (the stable reason name), for logs; `None` for answers that
    /// are not refusals (metadata documents, preflights).
    pub reason: Option<&'static str>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The keys the decision may verify with.
#[derive(Debug, Clone, Copy)]
pub enum KeyState<'a> {
    /// A usable key set.
    Ready(&'a JwkSet),
    /// No usable keys (never fetched, or too stale): requests with a token get 503.
    Unavailable {
        /// Seconds after which clients may retry.
        retry_after_secs: u32,
    },
}

/// What the adapter knows of one request.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// Every `Authorization` header value.
    pub authorization: &'a [&'a [u8]],
    /// The `Mcp-Method` header.
    pub mcp_method: Option<&'a str>,
    /// The `Mcp-Name` header.
    pub mcp_name: Option<&'a str>,
    /// The JSON-RPC body, when the adapter buffered it.
    pub body: Option<&'a [u8]>,
    /// Whether a form-encoded body has an `access_token` parameter.
    pub form_access_token: bool,
}

impl<'a> Request<'a> {
    /// A request with only a method and a path.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            ..Self::default()
        }
    }

    /// Sets the query string.
    #[must_use]
    pub fn with_query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    /// Sets the `Authorization` header values.
    #[must_use]
    pub fn with_authorization(mut self, values: &'a [&'a [u8]]) -> Self {
        self.authorization = values;
        self
    }

    /// Sets the `Mcp-Method` and `Mcp-Name` headers.
    #[must_use]
    pub fn with_mcp_headers(mut self, method: Option<&'a str>, name: Option<&'a str>) -> Self {
        self.mcp_method = method;
        self.mcp_name = name;
        self
    }

    /// Sets the buffered JSON-RPC body.
    #[must_use]
    pub fn with_body(mut self, body: Option<&'a [u8]>) -> Self {
        self.body = body;
        self
    }

    /// Records that a form body carried `access_token`.
    #[must_use]
    pub fn with_form_access_token(mut self, yes: bool) -> Self {
        self.form_access_token = yes;
        self
    }
}

/// The outcome of [`Guard::decide`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this answer.
    Respond(Response),
    /// Let the request through; the principal goes into the request's extensions.
    Allow(Arc<Principal>),
    /// The token names a key the set lacks: refresh and decide again, or send `rejection`.
    KeysNeeded {
        /// The unknown `kid`.
        kid: String,
        /// The answer when no refresh happens (`401 invalid_token`).
        rejection: Response,
    },
    /// Not the resource's path nor its metadata: not the guard's business.
    NotProtected,
}

/// Decides whether a granted scope covers a required one (the MCP specification says servers
/// must honour scope hierarchies).
pub type ScopeImplication = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// A ready-made [`ScopeImplication`]: a scope implies the scopes below it in a `:`-separated
/// hierarchy (`mcp` implies `mcp:tools` and `mcp:tools:read`).
pub fn colon_hierarchy(granted: &str, required: &str) -> bool {
    required
        .strip_prefix(granted)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// Which scopes a request needs: the base scopes for every request to the resource, plus scopes
/// per MCP method and per tool (`tools/call` with `params.name`).
#[derive(Clone, Default)]
pub struct ScopePolicy {
    base: Vec<String>,
    methods: BTreeMap<String, Vec<String>>,
    tools: BTreeMap<String, Vec<String>>,
    implies: Option<ScopeImplication>,
}

impl fmt::Debug for ScopePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopePolicy")
            .field("base", &self.base)
            .field("methods", &self.methods)
            .field("tools", &self.tools)
            .field("implies", &self.implies.as_ref().map(|_| "…"))
            .finish()
    }
}

fn owned<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        let s = s.into();
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

impl ScopePolicy {
    /// A policy requiring `base` for every request to the resource. These are also the scopes
    /// the first `401` asks for.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(base: I) -> Self {
        Self {
            base: owned(base),
            ..Self::default()
        }
    }

    /// Also requires `scopes` for JSON-RPC method `method` (e.g. `tools/list`).
    #[must_use]
    pub fn with_method_scopes<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        method: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.methods.insert(method.into(), owned(scopes));
        self
    }

    /// Also requires `scopes` for `tools/call` of the tool `tool`.
    #[must_use]
    pub fn with_tool_scopes<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        tool: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.tools.insert(tool.into(), owned(scopes));
        self
    }

    /// Lets a granted scope imply required ones (see [`colon_hierarchy`]).
    #[must_use]
    pub fn with_implication(mut self, implies: ScopeImplication) -> Self {
        self.implies = Some(implies);
        self
    }

    /// The base scopes.
    pub fn base(&self) -> &[String] {
        &self.base
    }

    /// Every scope the policy mentions (for `scopes_supported`), base first.
    pub fn all_scopes(&self) -> Vec<String> {
        let rest = self.methods.values().chain(self.tools.values()).flatten();
        owned(self.base.iter().chain(rest).cloned())
    }

    /// Whether the decision depends on the JSON-RPC body.
    pub fn reads_body(&self) -> bool {
        !self.methods.is_empty() || !self.tools.is_empty()
    }

    fn grants(&self, principal: &Principal, required: &str) -> bool {
        principal.scopes().any(|g| {
            g == required
                || self
                    .implies
                    .as_ref()
                    .is_some_and(|implies| implies(g, required))
        })
    }

    fn required_for(&self, calls: &BTreeSet<(String, Option<String>)>) -> Vec<String> {
        let mut required = self.base.clone();
        for (method, name) in calls {
            let extra = self.methods.get(method).into_iter().flatten();
            let tool = match (method.as_str(), name) {
                ("tools/call", Some(name)) => self.tools.get(name),
                _ => None,
            };
            for s in extra.chain(tool.into_iter().flatten()) {
                if !required.contains(s) {
                    required.push(s.clone());
                }
            }
        }
        required
    }
}

/// One JSON-RPC call's `(method, params.name)`.
type Call = (String, Option<String>);

/// Reads the calls of a JSON-RPC body: one request or notification, or a batch of them. The
/// body is strict JSON (no duplicate names at any depth); every element is an object; `method`,
/// when present, is a string (a message without one is a response, which needs no scope).
fn calls_in_body(body: &[u8]) -> Result<BTreeSet<Call>, RequestError> {
    let one = |m: RpcMessage<'_>| -> Result<Option<Call>, RequestError> {
        match m {
            RpcMessage::Object { method: None, .. } => Ok(None),
            RpcMessage::Object {
                method: Some(json::Member::Str(method)),
                name,
            } => Ok(Some((method.into_owned(), name.map(Cow::into_owned)))),
            _ => Err(RequestError::UnreadableBody),
        }
    };
    let mut calls = BTreeSet::new();
    match json::read_json_rpc(body).map_err(|_| RequestError::UnreadableBody)? {
        RpcBody::Batch(messages) if messages.is_empty() => {
            return Err(RequestError::UnreadableBody)
        }
        RpcBody::Batch(messages) => {
            for m in messages {
                calls.extend(one(m)?);
            }
        }
        RpcBody::One(m) => calls.extend(one(m)?),
    }
    Ok(calls)
}

/// The resource server's per-request decision (see the module docs).
#[derive(Debug, Clone)]
pub struct Guard {
    verifier: AccessTokenVerifier,
    scopes: ScopePolicy,
    metadata: ProtectedResourceMetadata,
    metadata_json: Vec<u8>,
    resource_path: String,
    well_known_paths: (String, String),
    challenger: Challenger,
    max_body_bytes: usize,
}

impl Guard {
    /// A guard for the resource and issuer of `config`, requiring `scopes`. The metadata
    /// document advertises every scope of the policy.
    pub fn new(config: VerifierConfig, scopes: ScopePolicy) -> Self {
        let metadata = ProtectedResourceMetadata::new(config.resource(), config.issuer())
            .with_scopes_supported(scopes.all_scopes());
        let resource_path = match UriParts::split(config.resource()) {
            Some(u) if !u.path.is_empty() => String::from(u.path),
            _ => String::from("/"),
        };
        let challenger = Challenger::new(well_known_urls(config.resource()).0);
        let mut guard = Self {
            verifier: AccessTokenVerifier::new(config),
            scopes,
            metadata_json: Vec::new(),
            well_known_paths: well_known_paths(metadata.resource()),
            metadata,
            resource_path,
            challenger,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        };
        guard.metadata_json = guard.metadata.to_json();
        guard
    }

    /// Replaces the metadata document (e.g. to add `resource_name` or more authorization
    /// servers). `resource` must stay the configured resource.
    #[must_use]
    pub fn with_metadata(
        mut self,
        edit: impl FnOnce(ProtectedResourceMetadata) -> ProtectedResourceMetadata,
    ) -> Self {
        let resource = String::from(self.metadata.resource());
        self.metadata = edit(self.metadata);
        if self.metadata.resource() != resource {
            self.metadata =
                ProtectedResourceMetadata::new(resource, self.verifier.config().issuer())
                    .with_scopes_supported(self.scopes.all_scopes());
        }
        self.metadata_json = self.metadata.to_json();
        self
    }

    /// Points the challenges' `resource_metadata` at `url` instead of the path-aware well-known
    /// URL of the resource. For front doors that cannot route the well-known URL at the origin
    /// root (an API Gateway named stage), `url` can be a stage-prefixed URL the guard also
    /// answers (see `mcp-authz-lambda`).
    #[must_use]
    pub fn with_resource_metadata_url(mut self, url: impl Into<String>) -> Self {
        let realm = self.challenger.realm().map(String::from);
        self.challenger = Challenger::new(url);
        if let Some(r) = realm {
            self.challenger = self.challenger.with_realm(r);
        }
        self
    }

    /// Adds a `realm` to every challenge.
    #[must_use]
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.challenger = self.challenger.with_realm(realm);
        self
    }

    /// The largest JSON-RPC body adapters should buffer (default 1 MiB).
    #[must_use]
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &AccessTokenVerifier {
        &self.verifier
    }

    /// The scope policy.
    pub fn scope_policy(&self) -> &ScopePolicy {
        &self.scopes
    }

    /// The protected-resource metadata document.
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.metadata
    }

    /// The path of the protected resource (e.g. `/mcp`).
    pub fn resource_path(&self) -> &str {
        &self.resource_path
    }

    /// The challenge builder.
    pub fn challenger(&self) -> &Challenger {
        &self.challenger
    }

    /// The largest body adapters should buffer.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether the adapter must buffer the body of this request (up to
    /// [`Guard::max_body_bytes`]) and pass it in [`Request::body`]: a `POST` to the resource
    /// when the scope policy has method or tool scopes.
    pub fn needs_body(&self, method: &str, path: &str) -> bool {
        method.eq_ignore_ascii_case("POST")
            && path == self.resource_path
            && self.scopes.reads_body()
    }

    fn is_well_known(&self, path: &str) -> bool {
        path == self.well_known_paths.0 || path == self.well_known_paths.1
    }

    fn preflight() -> Response {
        Response {
            status: 204,
            headers: alloc::vec![
                ("access-control-allow-origin", "*".into()),
                ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS".into()),
                (
                    "access-control-allow-headers",
                    "Authorization, Content-Type, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID".into(),
                ),
                ("access-control-expose-headers", "WWW-Authenticate, Mcp-Session-Id".into()),
                ("access-control-max-age", "86400".into()),
            ],
            body: Vec::new(),
            reason: None,
        }
    }

    fn metadata_response(&self) -> Response {
        Response {
            status: 200,
            headers: alloc::vec![
                ("content-type", "application/json".into()),
                ("cache-control", "public, max-age=3600".into()),
                ("access-control-allow-origin", "*".into()),
            ],
            body: self.metadata_json.clone(),
            reason: None,
        }
    }

    fn base_scopes(&self) -> Vec<&str> {
        self.scopes.base.iter().map(String::as_str).collect()
    }

    /// The answer to a rejected request (the challenge for `error`), with the base scopes.
    pub fn reject(&self, error: &Error) -> Response {
        self.challenger.reject(error, &self.base_scopes())
    }

    /// Decides one request (see the module docs).
    pub fn decide(&self, req: &Request<'_>, keys: KeyState<'_>, now: UnixTime) -> Decision {
        self.decide_with(req, keys, now, None)
    }

    /// [`Guard::decide`] with a verified-token cache: a token verified before skips its
    /// signature check (its claims are re-checked, and the key that verified it must still be in
    /// `keys`); a token verified now is remembered.
    pub fn decide_cached(
        &self,
        req: &Request<'_>,
        keys: KeyState<'_>,
        now: UnixTime,
        cache: &dyn PrincipalCache,
    ) -> Decision {
        self.decide_with(req, keys, now, Some(cache))
    }

    /// Verifies `token` (from the cache when it can); on [`TokenError::UnknownKid`],
    /// `unknown_kid` gets the token's `kid`.
    fn verify(
        &self,
        token: &str,
        keys: &JwkSet,
        now: UnixTime,
        cache: Option<&dyn PrincipalCache>,
        unknown_kid: &mut Option<String>,
    ) -> Result<Arc<Principal>, Error> {
        if let Some(p) = cache.and_then(|c| c.get(&self.verifier, token, now)) {
            if keys.contains_fingerprint(p.key_fingerprint()) {
                return Ok(p);
            }
        }
        let p = Arc::new(
            self.verifier
                .verify_noting_unknown_kid(token, keys, now, unknown_kid)?,
        );
        if let Some(c) = cache {
            c.insert(&self.verifier, token, p.clone(), now);
        }
        Ok(p)
    }

    fn decide_with(
        &self,
        req: &Request<'_>,
        keys: KeyState<'_>,
        now: UnixTime,
        cache: Option<&dyn PrincipalCache>,
    ) -> Decision {
        let method = req.method;
        if self.is_well_known(req.path) {
            return Decision::Respond(match method {
                "GET" | "HEAD" => self.metadata_response(),
                "OPTIONS" => Self::preflight(),
                _ => Response {
                    status: 405,
                    headers: alloc::vec![("allow", "GET, HEAD, OPTIONS".into())],
                    body: Vec::new(),
                    reason: Some("method_not_allowed"),
                },
            });
        }
        if req.path != self.resource_path {
            return Decision::NotProtected;
        }
        if method == "OPTIONS" {
            return Decision::Respond(Self::preflight());
        }
        let token = match bearer_token(req.authorization, req.query, req.form_access_token) {
            Ok(Some(token)) => token,
            Ok(None) => {
                return Decision::Respond(self.challenger.no_credentials(&self.base_scopes()))
            }
            Err(e) => return Decision::Respond(self.reject(&e.into())),
        };
        let keys = match keys {
            KeyState::Ready(keys) => keys,
            KeyState::Unavailable { retry_after_secs } => {
                return Decision::Respond(self.reject(&Error::KeysUnavailable { retry_after_secs }))
            }
        };
        let mut unknown_kid = None;
        let principal = match self.verify(token, keys, now, cache, &mut unknown_kid) {
            Ok(p) => p,
            Err(e @ Error::InvalidToken(TokenError::UnknownKid)) => {
                return Decision::KeysNeeded {
                    kid: unknown_kid.unwrap_or_default(),
                    rejection: self.reject(&e),
                };
            }
            Err(e) => return Decision::Respond(self.reject(&e)),
        };
        let required = match self.required_scopes(req) {
            Ok(r) => r,
            Err(e) => return Decision::Respond(self.reject(&e.into())),
        };
        if required.iter().all(|r| self.scopes.grants(&principal, r)) {
            Decision::Allow(principal)
        } else {
            let all: Vec<&str> = required.iter().map(String::as_str).collect();
            Decision::Respond(self.challenger.reject(&Error::InsufficientScope, &all))
        }
    }

    /// Every scope this request needs: the base scopes, and those of its MCP method and tool,
    /// from the `Mcp-Method`/`Mcp-Name` headers and the JSON-RPC body (which must agree).
    ///
    /// # Errors
    /// [`RequestError::McpHeaderMismatch`] when headers and body disagree,
    /// [`RequestError::UnreadableBody`] when the policy needs the body and it is not JSON-RPC.
    pub fn required_scopes(&self, req: &Request<'_>) -> Result<Vec<String>, RequestError> {
        let mut calls = BTreeSet::new();
        let from_body = match req.body {
            Some(body) if self.scopes.reads_body() => Some(calls_in_body(body)?),
            _ => None,
        };
        match (req.mcp_method, &from_body) {
            (Some(method), Some(body_calls)) => {
                let agrees = body_calls.len() == 1
                    && body_calls.iter().all(|(m, name)| {
                        m == method && (req.mcp_name.is_none() || req.mcp_name == name.as_deref())
                    });
                if !agrees {
                    return Err(RequestError::McpHeaderMismatch);
                }
            }
            (None, Some(_)) if req.mcp_name.is_some() => {
                return Err(RequestError::McpHeaderMismatch)
            }
            _ => {}
        }
        match from_body {
            Some(body_calls) => calls = body_calls,
            None => {
                if let Some(m) = req.mcp_method {
                    calls.insert((String::from(m), req.mcp_name.map(String::from)));
                }
            }
        }
        Ok(self.scopes.required_for(&calls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    // The reading of JSON-RPC bodies before the one-pass reader, through a `Value` tree: the
    // oracle of `calls_agree_with_the_value_tree_reading`.
    /// Reads the calls of a JSON-RPC body: one request or notification, or a batch of them.
    fn calls_in_body_from_value(body: &[u8]) -> Result<BTreeSet<Call>, RequestError> {
        let value = crate::json::parse_value(body).map_err(|_| RequestError::UnreadableBody)?;
        let one = |v: &Value| -> Result<Option<Call>, RequestError> {
            let obj = v.as_object().ok_or(RequestError::UnreadableBody)?;
            match obj.get("method") {
                // A JSON-RPC response (the client answering a server request) has no method.
                None => Ok(None),
                Some(Value::String(m)) => {
                    let name = obj
                        .get("params")
                        .and_then(|p| p.get("name"))
                        .and_then(Value::as_str)
                        .map(String::from);
                    Ok(Some((m.clone(), name)))
                }
                Some(_) => Err(RequestError::UnreadableBody),
            }
        };
        let mut calls = BTreeSet::new();
        match &value {
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    calls.extend(one(item)?);
                }
            }
            Value::Array(_) => return Err(RequestError::UnreadableBody),
            v => calls.extend(one(v)?),
        }
        Ok(calls)
    }

    fn json_rpc_text() -> impl proptest::strategy::Strategy<Value = alloc::string::String> {
        use alloc::format;
        use alloc::string::ToString;
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("1".to_string()),
            Just("true".to_string()),
            Just("\"tools/call\"".to_string()),
            Just("\"whoami\"".to_string()),
            Just("\"t\\u006fols/list\"".to_string()),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            let name = prop_oneof![
                Just("\"method\""),
                Just("\"params\""),
                Just("\"name\""),
                Just("\"id\""),
                Just("\"m\\u0065thod\""),
                Just("\"jsonrpc\""),
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec((name, inner), 0..5).prop_map(|v| {
                    let members: Vec<alloc::string::String> =
                        v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn calls_agree_with_the_value_tree_reading(doc in json_rpc_text(), cut in 0usize..80) {
            for doc in [doc.as_bytes(), doc.as_bytes().get(..cut).unwrap_or(doc.as_bytes())] {
                proptest::prop_assert_eq!(calls_in_body(doc), calls_in_body_from_value(doc));
            }
        }
    }

    #[test]
    fn colon_hierarchy_implies_only_descendants() {
        assert!(colon_hierarchy("mcp", "mcp:tools"));
        assert!(colon_hierarchy("mcp:tools", "mcp:tools:read"));
        assert!(!colon_hierarchy("mcp:tools", "mcp"));
        assert!(!colon_hierarchy("mcp", "mcpx:tools"));
        assert!(!colon_hierarchy("mcp", "mcp"));
    }

    #[test]
    fn calls_in_bodies() {
        let calls = calls_in_body(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#,
        )
        .unwrap();
        assert_eq!(
            calls.into_iter().collect::<Vec<_>>(),
            [("tools/call".into(), Some("t".into()))]
        );
        let batch = calls_in_body(br#"[{"method":"tools/list"},{"method":"tools/call","params":{"name":"a"}},{"id":1,"result":{}}]"#)
            .unwrap();
        assert_eq!(batch.len(), 2);
        for bad in [
            &b"[]"[..],
            b"1",
            b"[1]",
            b"{\"method\":1}",
            b"not json",
            b"{\"method\":\"a\",\"method\":\"b\"}",
        ] {
            assert_eq!(
                calls_in_body(bad),
                Err(RequestError::UnreadableBody),
                "{bad:?}"
            );
        }
    }
}
