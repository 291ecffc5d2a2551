//! The resource server's configuration for one protected resource, and the vocabulary the
//! adapters and the core exchange per request (the MCP authorization specification's
//! resource-server duties, on top of RFC 6750, RFC 9728 and the token verifier).
//!
//! A [`Guard`] holds the verifier, the [`ScopePolicy`], the RFC 9728 document and the paths that
//! are public. Per request, an adapter describes the request head in a [`Request`] and drives an
//! [`Exchange`] started by [`Guard::exchange`]: deny by default, every
//! path the guard wraps needs a valid token with the base scopes, except the protected-resource
//! metadata documents, the CORS preflight of the resource, and the paths declared public with
//! [`Guard::with_public_path`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::access_token::{AccessTokenVerifier, Principal, VerifierConfig};
use crate::challenge::Challenger;
use crate::error::Error;
use crate::exchange::Exchange;
use crate::jose::jwk::JwkSet;
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

/// What the adapter knows of one request: its head, never its body (the exchange asks for the
/// body when the scope policy needs it, after the token was verified).
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
    /// Every `Mcp-Method` header value.
    pub mcp_method: &'a [&'a [u8]],
    /// Every `Mcp-Name` header value.
    pub mcp_name: &'a [&'a [u8]],
    /// Every `Content-Type` header value.
    pub content_type: &'a [&'a [u8]],
    /// Every `Content-Encoding` header value.
    pub content_encoding: &'a [&'a [u8]],
    /// Whether the request may have a body: anything but a known-empty one (chunked bodies and
    /// bodies of unknown length count).
    pub has_body: bool,
}

impl<'a> Request<'a> {
    /// A request with only a method and a path (no body).
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

    /// Sets the `Mcp-Method` and `Mcp-Name` header values.
    #[must_use]
    pub fn with_mcp_headers(mut self, method: &'a [&'a [u8]], name: &'a [&'a [u8]]) -> Self {
        self.mcp_method = method;
        self.mcp_name = name;
        self
    }

    /// Says that the request has a body, sent with these `Content-Type` and `Content-Encoding`
    /// header values.
    #[must_use]
    pub fn with_body(
        mut self,
        content_type: &'a [&'a [u8]],
        content_encoding: &'a [&'a [u8]],
    ) -> Self {
        self.content_type = content_type;
        self.content_encoding = content_encoding;
        self.has_body = true;
        self
    }
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

    /// Whether `principal` holds `required`, directly or through the implication hook.
    pub(crate) fn grants(&self, principal: &Principal, required: &str) -> bool {
        principal.scopes().any(|g| {
            g == required
                || self
                    .implies
                    .as_ref()
                    .is_some_and(|implies| implies(g, required))
        })
    }

    /// The base scopes, plus those of every `(method, tool)` call (`tool` only for
    /// `tools/call`), in order and without repeats.
    pub(crate) fn required_for<'c>(
        &self,
        calls: impl IntoIterator<Item = (&'c str, Option<&'c str>)>,
    ) -> Vec<String> {
        let mut required = self.base.clone();
        for (method, name) in calls {
            let extra = self.methods.get(method).into_iter().flatten();
            let tool = match (method, name) {
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

/// One protected resource: verifier, scope policy, metadata and public paths (see the module
/// docs).
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
    public_paths: Vec<String>,
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
            public_paths: Vec::new(),
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

    /// Serves `path` without a token (exact match, every method), e.g. `/healthz`. Everything
    /// the guard wraps that is neither public nor a metadata document needs a valid token.
    #[must_use]
    pub fn with_public_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        if !self.public_paths.contains(&path) {
            self.public_paths.push(path);
        }
        self
    }

    /// The paths served without a token.
    pub fn public_paths(&self) -> &[String] {
        &self.public_paths
    }

    /// Starts the exchange for one request (see [`Exchange`]).
    pub fn exchange(&self) -> Exchange<'_> {
        Exchange::new(self)
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

    pub(crate) fn is_well_known(&self, path: &str) -> bool {
        path == self.well_known_paths.0 || path == self.well_known_paths.1
    }

    pub(crate) fn is_public(&self, path: &str) -> bool {
        self.public_paths.iter().any(|p| p == path)
    }

    pub(crate) fn preflight() -> Response {
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

    pub(crate) fn metadata_response(&self) -> Response {
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

    pub(crate) fn base_scopes(&self) -> Vec<&str> {
        self.scopes.base.iter().map(String::as_str).collect()
    }

    /// The answer to a rejected request (the challenge for `error`), with the base scopes.
    pub fn reject(&self, error: &Error) -> Response {
        self.challenger.reject(error, &self.base_scopes())
    }

    /// Verifies `token` (from the cache when it can); on an unknown `kid`, `unknown_kid` gets
    /// the token's `kid`.
    pub(crate) fn verify(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_hierarchy_implies_only_descendants() {
        assert!(colon_hierarchy("mcp", "mcp:tools"));
        assert!(colon_hierarchy("mcp:tools", "mcp:tools:read"));
        assert!(!colon_hierarchy("mcp:tools", "mcp"));
        assert!(!colon_hierarchy("mcp", "mcpx:tools"));
        assert!(!colon_hierarchy("mcp", "mcp"));
    }
}
