//! One protected resource: the verifier, the [`ScopePolicy`], the RFC 9728 document, the
//! challenges and the paths that are public
//! ([RFC 9728 §2–3](https://www.rfc-editor.org/rfc/rfc9728#section-2), the MCP authorization
//! specification's resource-server duties).
//!
//! Per request, an adapter describes the request head in a [`Request`] and drives the
//! [`Exchange`](crate::exchange::Exchange) started by [`Guard::exchange`]: deny by default, every path the guard wraps needs
//! a valid token with the base scopes, except the protected-resource metadata documents, the CORS
//! preflight of the resource, and the paths declared public with [`Guard::with_public_path`].
//!
//! [`Request`]: crate::http_message::Request

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::access_token::{AccessTokenVerifier, Principal, VerifierConfig};
use crate::challenge::Challenger;
use crate::dpop::{DpopConfig, DpopMode};
use crate::error::{Error, TokenError};
use crate::http_message::Response;
use crate::jose::jwk::JwkSet;
use crate::jose::jws::peek_issuer;
use crate::resource_indicator::UriParts;
use crate::resource_metadata::{
    well_known_paths, well_known_urls, ProtectedResourceMetadata, PRM_WELL_KNOWN,
};
use crate::scope_policy::ScopePolicy;
use crate::time::UnixTime;
use crate::token::verifier_config::is_tenant_template;
use crate::token_cache::PrincipalCache;
use crate::token_introspection::IntrospectionMode;

/// The origin of `url` as a browser serializes it: `scheme://host[:port]`, lower case, without
/// the scheme's default port; empty when `url` is not absolute.
fn origin_of(url: &str) -> String {
    let Some(u) = UriParts::split(url) else {
        return String::new();
    };
    let scheme = u.scheme.to_ascii_lowercase();
    let authority = u
        .authority
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => Some(":443"),
        "http" => Some(":80"),
        _ => None,
    };
    let host = match default_port {
        Some(p) => authority.strip_suffix(p).unwrap_or(&authority),
        None => &authority,
    };
    alloc::format!("{scheme}://{host}")
}

/// Why [`Guard::with_public_path`] refused a path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicPathError {
    /// The path is the resource path or under it: MCP requests would skip the token check.
    UnderResource(String),
    /// The path is a protected-resource metadata path, which the guard answers itself.
    WellKnown(String),
    /// Not an absolute path without query or fragment.
    NotAPath(String),
}

impl core::fmt::Display for PublicPathError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnderResource(p) => write!(
                f,
                "the public path {p} is the resource path or under it: requests to the MCP endpoint would need no token"
            ),
            Self::WellKnown(p) => write!(
                f,
                "the public path {p} is a protected-resource metadata path, which is always served"
            ),
            Self::NotAPath(p) => write!(
                f,
                "the public path {p:?} is not an absolute path without query or fragment"
            ),
        }
    }
}

impl core::error::Error for PublicPathError {}

/// The default largest JSON-RPC body the adapters buffer for the scope policy.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// One protected resource: verifier, scope policy, metadata and public paths (see the module
/// docs).
#[derive(Debug, Clone)]
pub struct Guard {
    verifier: AccessTokenVerifier,
    /// The verifiers of the other authorization servers, in the configured order.
    more: Vec<AccessTokenVerifier>,
    /// [`Guard::route`]'s index: each exact issuer, with the first issuer number that has it.
    exact_issuers: BTreeMap<String, usize>,
    /// The issuer numbers with a tenant-templated issuer, in order (matched by shape).
    templated_issuers: Vec<usize>,
    scopes: ScopePolicy,
    metadata: ProtectedResourceMetadata,
    metadata_json: Vec<u8>,
    resource_path: String,
    well_known_paths: (String, String),
    challenger: Challenger,
    max_body_bytes: usize,
    validate_mcp_headers: bool,
    /// Every JSON body is read (the adapter counts calls per tool).
    read_bodies: bool,
    public_paths: Vec<String>,
    introspection: IntrospectionMode,
    /// The resource's own origin (`scheme://host[:port]`, lower case, default port omitted).
    own_origin: String,
    allowed_origins: Vec<String>,
    allow_null_origin: bool,
    dpop: DpopMode,
    dpop_config: DpopConfig,
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
        let own_origin = origin_of(config.resource());
        let mut guard = Self {
            verifier: AccessTokenVerifier::new(config),
            more: Vec::new(),
            exact_issuers: BTreeMap::new(),
            templated_issuers: Vec::new(),
            scopes,
            metadata_json: Vec::new(),
            well_known_paths: well_known_paths(metadata.resource()),
            metadata,
            resource_path,
            challenger,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            validate_mcp_headers: false,
            read_bodies: false,
            public_paths: Vec::new(),
            introspection: IntrospectionMode::Never,
            own_origin,
            allowed_origins: Vec::new(),
            allow_null_origin: false,
            dpop: DpopMode::Off,
            dpop_config: DpopConfig::default(),
        };
        guard.metadata_json = guard.metadata.to_json();
        index_issuers(
            0,
            guard.verifier.config(),
            &mut guard.exact_issuers,
            &mut guard.templated_issuers,
        );
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
            self.metadata = self.default_metadata(resource);
        }
        self.metadata_json = self.metadata.to_json();
        self
    }

    fn default_metadata(&self, resource: String) -> ProtectedResourceMetadata {
        let mut issuers = self.verifiers().map(|v| v.config().issuer());
        let first = issuers.next().unwrap_or_default();
        issuers
            .fold(ProtectedResourceMetadata::new(resource, first), |m, i| {
                m.with_authorization_server(i)
            })
            .with_scopes_supported(self.scopes.all_scopes())
    }

    /// Trusts one more authorization server: tokens whose `iss` it
    /// [routes](VerifierConfig::routes) are verified under `config`, with that issuer's keys
    /// alone (the adapter gives one key set per issuer, in the order they were added: see
    /// [`KeySource`](crate::http_message::KeySource)). Its issuer is added to the metadata's
    /// `authorization_servers`, after the ones before it. `config`'s resource is replaced by
    /// this guard's.
    ///
    /// A token is routed by its `iss`, read before anything is verified only to choose the
    /// verifier; an `iss` that no issuer routes is refused (`wrong_iss`) before any key is
    /// looked at, so it never causes a key fetch.
    #[must_use]
    pub fn with_issuer(mut self, mut config: VerifierConfig) -> Self {
        config.set_resource(self.verifier.config().resource());
        let issuer = String::from(config.issuer());
        let verifier = AccessTokenVerifier::new(config);
        index_issuers(
            self.more.len() + 1,
            verifier.config(),
            &mut self.exact_issuers,
            &mut self.templated_issuers,
        );
        self.more.push(verifier);
        self.metadata = self.metadata.with_authorization_server(issuer);
        self.metadata_json = self.metadata.to_json();
        self
    }

    /// Every verifier, one per authorization server, in the configured order (the index is the
    /// issuer number of [`Step::RefreshKeys`](crate::exchange::Step::RefreshKeys) and of
    /// [`KeySource`](crate::http_message::KeySource)).
    pub fn verifiers(&self) -> impl Iterator<Item = &AccessTokenVerifier> + '_ {
        core::iter::once(&self.verifier).chain(self.more.iter())
    }

    /// The verifier of issuer number `index`.
    pub fn verifier_at(&self, index: usize) -> Option<&AccessTokenVerifier> {
        match index {
            0 => Some(&self.verifier),
            i => self.more.get(i - 1),
        }
    }

    /// The issuer number whose verifier checks `token`: 0 with one authorization server (its
    /// verifier checks `iss`), else the first whose issuer routes the token's unverified `iss`
    /// (exact issuers through an ordered index, so the cost grows with the logarithm of their
    /// number; tenant templates, few, by shape).
    ///
    /// # Errors
    /// [`Error::InvalidToken`]: a token that cannot be read, one without `iss`
    /// ([`TokenError::MissingIssuer`]), or one whose `iss` no issuer routes
    /// ([`TokenError::WrongIssuer`]).
    pub fn route(&self, token: &str) -> Result<usize, Error> {
        if self.more.is_empty() {
            return Ok(0);
        }
        let max = self.verifier.config().max_token_len();
        let iss = peek_issuer(token, max)?.ok_or(TokenError::MissingIssuer)?;
        let exact = self.exact_issuers.get(&iss).copied();
        let templated = self.templated_issuers.iter().copied().find(|i| {
            self.verifier_at(*i)
                .is_some_and(|v| v.config().routes(&iss))
        });
        match (exact, templated) {
            (Some(e), Some(t)) => Ok(e.min(t)),
            (Some(i), None) | (None, Some(i)) => Ok(i),
            (None, None) => Err(Error::InvalidToken(TokenError::WrongIssuer)),
        }
    }

    /// Points the challenges' `resource_metadata` at `url` instead of the path-aware well-known
    /// URL of the resource. For front doors that cannot route the well-known URL at the origin
    /// root (an API Gateway named stage), `url` can be a stage-prefixed URL the guard also
    /// answers (see `mcp-authz-lambda`).
    #[must_use]
    pub fn with_resource_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.challenger = self.challenger.with_resource_metadata(url);
        self
    }

    /// Adds a `realm` to every challenge.
    #[must_use]
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.challenger = self.challenger.with_realm(realm);
        self
    }

    /// Validates the MCP request headers of any request that declares MCP 2026-07-28 or later
    /// (`MCP-Protocol-Version`), whatever the scope policy: the body is read and `Mcp-Method` and
    /// `Mcp-Name` must be present and name its call, as a conformant server checks them
    /// (SEP-2243; `400` with JSON-RPC `-32020` otherwise). With a policy that reads the body this
    /// happens anyway; this makes any upstream behave so.
    #[must_use]
    pub fn with_mcp_header_validation(mut self, yes: bool) -> Self {
        self.validate_mcp_headers = yes;
        self
    }

    /// Whether the MCP request headers are validated for any upstream.
    pub fn validates_mcp_headers(&self) -> bool {
        self.validate_mcp_headers
    }

    /// Whether request bodies are read (MCP header validation, or a policy that reads them),
    /// and with them the `Mcp-Param-*` headers checked: the adapter then learns what the tools
    /// declare from `tools/list` answers ([`param_headers`](crate::param_headers)).
    pub fn checks_param_headers(&self) -> bool {
        self.validate_mcp_headers || self.reads_bodies()
    }

    /// Reads the JSON-RPC body of every request, as a policy with tool scopes does (a body it
    /// cannot read is refused), whatever the policy: for an adapter that counts calls per tool
    /// ([`Allowed::tools`](crate::verdict::Allowed::tools)), so that no call goes uncounted.
    #[must_use]
    pub fn with_bodies_read(mut self, yes: bool) -> Self {
        self.read_bodies = yes;
        self
    }

    /// Whether the body of every request with one is read: the policy needs it, or
    /// [`Guard::with_bodies_read`].
    pub fn reads_bodies(&self) -> bool {
        self.read_bodies || self.scope_policy().reads_body()
    }

    /// The largest JSON-RPC body adapters should buffer (default 1 MiB).
    #[must_use]
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Serves `path` without a token (exact match, every method), e.g. `/healthz`. Everything
    /// the guard wraps that is neither public nor a metadata document needs a valid token.
    ///
    /// # Errors
    /// A path that is the resource path or under it (`/mcp`, `/mcp/x`: MCP requests would go
    /// through without a token), a protected-resource metadata path (answered by the guard
    /// anyway), or not an absolute path.
    pub fn with_public_path(mut self, path: impl Into<String>) -> Result<Self, PublicPathError> {
        let path = path.into();
        let resource = self.resource_path.as_str();
        let under = |base: &str| {
            path == base
                || (base != "/"
                    && path
                        .strip_prefix(base.trim_end_matches('/'))
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
        };
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(PublicPathError::NotAPath(path));
        }
        if under(resource) {
            return Err(PublicPathError::UnderResource(path));
        }
        if self.is_well_known(&path) || under(PRM_WELL_KNOWN) {
            return Err(PublicPathError::WellKnown(path));
        }
        if !self.public_paths.contains(&path) {
            self.public_paths.push(path);
        }
        Ok(self)
    }

    /// Which tokens are introspected (RFC 7662) by the first authorization server instead of
    /// verified as JWTs (default [`IntrospectionMode::Never`]). The adapter answers
    /// [`Step::Introspect`](crate::exchange::Step::Introspect) with an
    /// [`IntrospectionCache`](crate::token_introspection::IntrospectionCache) and the first
    /// verifier's configuration ([`Guard::verifier`]), so the introspected claims meet the same
    /// rules as a JWT's.
    #[must_use]
    pub fn with_introspection(mut self, mode: IntrospectionMode) -> Self {
        self.introspection = mode;
        self
    }

    /// Also serves requests whose `Origin` is one of `origins` (`scheme://host[:port]`, as
    /// browsers send it; compared case-insensitively). By default only the resource's own origin
    /// is, and requests without `Origin` (non-browser clients send none): MCP's Streamable HTTP
    /// transport requires servers to validate `Origin`, against DNS rebinding. Any other origin
    /// gets 403 `origin_not_allowed` on every path but the metadata documents (their CORS stays
    /// open).
    #[must_use]
    pub fn with_allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        origins: I,
    ) -> Self {
        self.allowed_origins = origins
            .into_iter()
            .map(|o| o.into().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        self
    }

    /// Also serves `Origin: null` (sandboxed frames, `file:` pages). Off by default.
    #[must_use]
    pub fn with_null_origin(mut self, yes: bool) -> Self {
        self.allow_null_origin = yes;
        self
    }

    /// Whether a request with these `Origin` values may be served: none, or exactly one that is
    /// the resource's own, a configured one, or `null` when allowed.
    pub fn origin_allowed(&self, values: &[&[u8]]) -> bool {
        let one = match values {
            [] => return true,
            [one] => *one,
            // Browsers send one; several is not a browser to trust.
            _ => return false,
        };
        let Ok(origin) = core::str::from_utf8(one) else {
            return false;
        };
        let origin = origin.trim();
        if origin == "null" {
            return self.allow_null_origin;
        }
        origin.eq_ignore_ascii_case(&self.own_origin)
            || self
                .allowed_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Takes DPoP-bound tokens (RFC 9449) as `mode` says, checking proofs under `config`: the
    /// challenges offer the DPoP scheme with its `algs` (only it, when required), and the
    /// metadata states `dpop_signing_alg_values_supported` and
    /// `dpop_bound_access_tokens_required`. The exchange asks the adapter to record each proof
    /// against replays
    /// ([`Step::RecordProof`](crate::exchange::Step::RecordProof)); any other answer denies.
    #[must_use]
    pub fn with_dpop(mut self, mode: DpopMode, config: DpopConfig) -> Self {
        self.dpop = mode;
        let required = mode == DpopMode::Required;
        if mode != DpopMode::Off {
            let algs: Vec<&str> = config.algorithms().iter().map(|a| a.name()).collect();
            self.challenger = self.challenger.with_dpop(algs.join(" "), required);
            self.metadata = self.metadata.with_dpop(algs, required);
            self.metadata_json = self.metadata.to_json();
        }
        self.dpop_config = config;
        self
    }

    /// How DPoP-bound tokens are taken.
    pub fn dpop(&self) -> DpopMode {
        self.dpop
    }

    /// How DPoP proofs are checked.
    pub fn dpop_config(&self) -> &DpopConfig {
        &self.dpop_config
    }

    /// The public URI of `path` on this resource's origin: the `htu` a DPoP proof must name.
    pub fn public_uri(&self, path: &str) -> String {
        alloc::format!("{}{path}", self.own_origin)
    }

    /// Which tokens are introspected.
    pub fn introspection(&self) -> IntrospectionMode {
        self.introspection
    }

    /// The paths served without a token.
    pub fn public_paths(&self) -> &[String] {
        &self.public_paths
    }

    /// The verifier of the first authorization server.
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

    /// The answer to a CORS preflight: the MCP request headers, and every `Mcp-Param-*` header
    /// the preflight asks for (MCP 2026-07-28 mirrors tool parameters into such headers, named
    /// by the tool's schema, so no fixed list can hold them). Only names that are HTTP tokens
    /// ([RFC 9110 §5.1](https://www.rfc-editor.org/rfc/rfc9110#section-5.1)) under that prefix
    /// are reflected, at most [`MAX_REFLECTED_HEADERS`]; the answer varies with the request
    /// headers asked for.
    pub(crate) fn preflight(requested: &[&[u8]]) -> Response {
        let mut allowed = String::from(
            "Authorization, Content-Type, DPoP, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID",
        );
        let names = requested
            .iter()
            .flat_map(|v| v.split(|b| *b == b','))
            .map(|n| n.trim_ascii())
            .filter(|n| is_param_header(n))
            .take(MAX_REFLECTED_HEADERS);
        for name in names {
            // A token is ASCII.
            if let Ok(name) = core::str::from_utf8(name) {
                allowed.push_str(", ");
                allowed.push_str(&name.to_ascii_lowercase());
            }
        }
        Response {
            status: 204,
            headers: alloc::vec![
                ("access-control-allow-origin", "*".into()),
                (
                    "access-control-allow-methods",
                    "GET, POST, DELETE, OPTIONS".into()
                ),
                ("access-control-allow-headers", allowed),
                (
                    "access-control-expose-headers",
                    "WWW-Authenticate, DPoP-Nonce, Mcp-Session-Id".into()
                ),
                ("access-control-max-age", "86400".into()),
                ("vary", "Access-Control-Request-Headers".into()),
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
        self.scopes.challenged()
    }

    /// The answer to a rejected request (the challenge for `error`), with the base scopes.
    pub fn reject(&self, error: &Error) -> Response {
        self.challenger.reject(error, &self.base_scopes())
    }

    /// Verifies `token` with `verifier` (from the cache when it can); on an unknown `kid`,
    /// `unknown_kid` gets the token's `kid`.
    pub(crate) fn verify(
        verifier: &AccessTokenVerifier,
        token: &str,
        keys: &JwkSet,
        now: UnixTime,
        cache: Option<&dyn PrincipalCache>,
        unknown_kid: &mut Option<String>,
    ) -> Result<Arc<Principal>, Error> {
        if let Some(p) = cache.and_then(|c| c.get(verifier, token, now)) {
            if keys.contains_fingerprint(p.key_fingerprint()) {
                return Ok(p);
            }
        }
        let p = Arc::new(verifier.verify_noting_unknown_kid(token, keys, now, unknown_kid)?);
        if let Some(c) = cache {
            c.insert(verifier, token, p.clone(), now);
        }
        Ok(p)
    }
}

/// The most `Mcp-Param-*` names one preflight answer reflects.
pub const MAX_REFLECTED_HEADERS: usize = 64;

/// Adds the issuers of issuer number `index` (its `config`) to [`Guard::route`]'s index: each
/// exact issuer with the first number that has it, and the numbers with a tenant template.
fn index_issuers(
    index: usize,
    config: &VerifierConfig,
    exact: &mut BTreeMap<String, usize>,
    templated: &mut Vec<usize>,
) {
    for issuer in config.issuers() {
        if !is_tenant_template(issuer) {
            exact.entry(String::from(issuer)).or_insert(index);
        } else if !templated.contains(&index) {
            templated.push(index);
        }
    }
}

/// A header name of the `Mcp-Param-` family: that prefix (any case), then an HTTP token
/// (`tchar`, RFC 9110 §5.6.2), at most 128 bytes in all.
fn is_param_header(name: &[u8]) -> bool {
    const PREFIX: &[u8] = b"mcp-param-";
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    name.len() > PREFIX.len()
        && name.len() <= 128
        && name
            .get(..PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
        && name.iter().all(tchar)
}
