//! Authorization-server metadata: [RFC 8414](https://www.rfc-editor.org/rfc/rfc8414) and
//! [OpenID Connect Discovery 1.0](https://openid.net/specs/openid-connect-discovery-1_0.html).
//!
//! The operator gives one metadata URL. [`validate`] checks the document it returned the way the
//! hosted product does before it saves a server, and reports *every* problem at once, not the
//! first: the five required fields (`issuer`, `authorization_endpoint`, `token_endpoint`,
//! `registration_endpoint`, `jwks_uri`), each present, a non-empty string, a usable `https` URL,
//! except that `client_id_metadata_document_supported: true` stands in for a missing
//! `registration_endpoint` (MCP clients register with a Client ID Metadata Document first,
//! [MCP 2025-11-25, Client Registration](https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization));
//! and `issuer` equal to the issuer the metadata URL implies
//! ([RFC 8414 §3.3](https://www.rfc-editor.org/rfc/rfc8414#section-3.3),
//! [OIDC Discovery §4.3](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfigurationValidation)).
//! What MCP clients would refuse later is reported as a [`Warning`].
//!
//! [`issuer_from_metadata_url`] and [`metadata_urls_for_issuer`] translate between the two URL
//! forms providers serve: the RFC 8414 insertion (`https://h/.well-known/oauth-authorization-server/tenant`)
//! and the OIDC-style append (`https://h/tenant/.well-known/openid-configuration`), under both
//! well-known names.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde_json::{Map, Value};

use crate::json::{self, JsonError};
use crate::resource_indicator::UriParts;

/// The RFC 8414 well-known suffix.
pub const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// The OpenID Connect Discovery well-known suffix.
pub const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";
/// The largest metadata document accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// The required fields, in the order problems are reported.
pub const REQUIRED_FIELDS: [&str; 5] = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "jwks_uri",
];

/// How strict validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MetadataPolicy {
    /// Accept a document with neither `registration_endpoint` nor Client ID Metadata Document
    /// support (authorization servers whose clients are all pre-registered: Entra ID, Google).
    /// It becomes a warning. A document with either needs no such permission.
    pub allow_missing_registration: bool,
    /// Accept plain `http` URLs on loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`). For
    /// development only.
    pub allow_http_loopback: bool,
}

impl MetadataPolicy {
    /// The strict default: every field required, `https` only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`MetadataPolicy::allow_missing_registration`].
    #[must_use]
    pub fn allow_missing_registration(mut self, yes: bool) -> Self {
        self.allow_missing_registration = yes;
        self
    }

    /// Sets [`MetadataPolicy::allow_http_loopback`].
    #[must_use]
    pub fn allow_http_loopback(mut self, yes: bool) -> Self {
        self.allow_http_loopback = yes;
        self
    }
}

/// What is wrong with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The document is not a JSON object (reported on the field `document`).
    NotJsonObject,
    /// The document repeats a member name (reported on the field `document`).
    DuplicateMember,
    /// The document is larger than [`MAX_METADATA_BYTES`] (reported on the field `document`).
    TooLarge,
    /// The field is absent.
    Missing,
    /// The field is an empty string.
    Empty,
    /// The field is not a string.
    NotAString,
    /// The field is not an absolute URL with a host.
    NotAUrl,
    /// The URL is not `https` (and not an allowed loopback `http` URL).
    NotHttps,
    /// The URL has a fragment (RFC 8414 §2, RFC 6749 §3.1), or the issuer has a query.
    QueryOrFragment,
    /// `issuer` is not the issuer the metadata URL implies.
    IssuerMismatch,
    /// `registration_endpoint` is absent and `client_id_metadata_document_supported` is not
    /// `true`: MCP clients have no way to register themselves (reported on
    /// `registration_endpoint`; accepted with
    /// [`MetadataPolicy::allow_missing_registration`] when every client is pre-registered).
    NoRegistration,
}

impl ProblemKind {
    /// The stable snake_case name of this problem.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotJsonObject => "not_json_object",
            Self::DuplicateMember => "duplicate_member",
            Self::TooLarge => "too_large",
            Self::Missing => "missing",
            Self::Empty => "empty",
            Self::NotAString => "not_a_string",
            Self::NotAUrl => "not_a_url",
            Self::NotHttps => "not_https",
            Self::QueryOrFragment => "query_or_fragment",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::NoRegistration => "no_registration",
        }
    }

    /// A fixed human-readable text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotJsonObject => "the document is not a JSON object",
            Self::DuplicateMember => "the document repeats a member name",
            Self::TooLarge => "the document is too large",
            Self::Missing => "missing",
            Self::Empty => "empty",
            Self::NotAString => "not a string",
            Self::NotAUrl => "not an absolute URL",
            Self::NotHttps => "not an https URL",
            Self::QueryOrFragment => "has a query or fragment it must not have",
            Self::IssuerMismatch => "does not match the issuer the metadata URL implies",
            Self::NoRegistration => {
                "missing, and client_id_metadata_document_supported is not true: MCP clients can register neither dynamically nor with a Client ID Metadata Document (allow it only when every client is pre-registered)"
            }
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason the document is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The JSON member (or `document`).
    pub field: &'static str,
    /// What is wrong with it.
    pub kind: ProblemKind,
}

/// Something MCP clients may refuse later, or worth knowing; never a reason to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// `code_challenge_methods_supported` is absent: the Python and Rust MCP SDKs refuse the
    /// server (PKCE S256 cannot be confirmed).
    PkceMethodsMissing,
    /// `code_challenge_methods_supported` does not list `S256`.
    PkceS256Missing,
    /// `response_types_supported` does not list `code`.
    CodeResponseTypeMissing,
    /// `registration_endpoint` is absent and Client ID Metadata Documents are not supported
    /// (accepted by policy): MCP clients cannot register themselves and must be pre-registered.
    RegistrationMissing,
    /// `registration_endpoint` is absent and `client_id_metadata_document_supported` is `true`:
    /// clients register with a Client ID Metadata Document (MCP 2025-11-25 and later, their
    /// preferred way); clients without that support must be pre-registered.
    RegistrationByMetadataDocumentOnly,
    /// Client ID Metadata Documents are supported but `token_endpoint_auth_methods_supported`
    /// does not list `none` (absent means `client_secret_basic`, RFC 8414 §2): public MCP
    /// clients, which have no secret, cannot use them.
    MetadataDocumentWithoutPublicClients,
    /// `authorization_response_iss_parameter_supported` is not `true`: clients cannot check
    /// the authorization response's `iss` against mix-up attacks
    /// ([RFC 9207](https://www.rfc-editor.org/rfc/rfc9207), recommended by MCP SEP-2468).
    IssParameterMissing,
    /// `jwks_uri` is on another origin than `issuer` (informational).
    JwksOnOtherOrigin,
}

impl Warning {
    /// The stable snake_case name of this warning.
    pub fn reason(self) -> &'static str {
        match self {
            Self::PkceMethodsMissing => "pkce_methods_missing",
            Self::PkceS256Missing => "pkce_s256_missing",
            Self::CodeResponseTypeMissing => "code_response_type_missing",
            Self::RegistrationMissing => "registration_missing",
            Self::RegistrationByMetadataDocumentOnly => "registration_by_metadata_document_only",
            Self::MetadataDocumentWithoutPublicClients => {
                "metadata_document_without_public_clients"
            }
            Self::IssParameterMissing => "iss_parameter_missing",
            Self::JwksOnOtherOrigin => "jwks_on_other_origin",
        }
    }

    /// The JSON member the warning is about.
    pub fn field(self) -> &'static str {
        match self {
            Self::PkceMethodsMissing | Self::PkceS256Missing => "code_challenge_methods_supported",
            Self::CodeResponseTypeMissing => "response_types_supported",
            Self::RegistrationMissing | Self::RegistrationByMetadataDocumentOnly => {
                "registration_endpoint"
            }
            Self::MetadataDocumentWithoutPublicClients => "token_endpoint_auth_methods_supported",
            Self::IssParameterMissing => "authorization_response_iss_parameter_supported",
            Self::JwksOnOtherOrigin => "jwks_uri",
        }
    }

    /// A fixed human-readable text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PkceMethodsMissing => {
                "missing: MCP clients that require PKCE S256 (Python, Rust SDKs) will refuse this server"
            }
            Self::PkceS256Missing => "does not list S256: MCP clients require PKCE with S256",
            Self::CodeResponseTypeMissing => "does not list code: MCP clients use the authorization code flow",
            Self::RegistrationMissing => {
                "missing, and no Client ID Metadata Documents: MCP clients cannot register themselves; each must be pre-registered (its client id configured in the client)"
            }
            Self::RegistrationByMetadataDocumentOnly => {
                "absent: MCP clients register with a Client ID Metadata Document (client_id_metadata_document_supported); clients without that support must be pre-registered"
            }
            Self::MetadataDocumentWithoutPublicClients => {
                "does not list none: public MCP clients (no client secret) cannot use Client ID Metadata Documents"
            }
            Self::IssParameterMissing => {
                "not true: MCP clients cannot check the authorization response's iss against mix-up attacks (RFC 9207)"
            }
            Self::JwksOnOtherOrigin => "is on another origin than the issuer",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.as_str())
    }
}

/// A validated metadata document.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationServerMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    registration_endpoint: Option<String>,
    jwks_uri: String,
    scopes_supported: Vec<String>,
    document: Map<String, Value>,
}

impl AuthorizationServerMetadata {
    /// `issuer`, byte for byte as the document has it (MCP clients compare it exactly).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `authorization_endpoint`.
    pub fn authorization_endpoint(&self) -> &str {
        &self.authorization_endpoint
    }

    /// `token_endpoint`.
    pub fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }

    /// `registration_endpoint`, when present.
    pub fn registration_endpoint(&self) -> Option<&str> {
        self.registration_endpoint.as_deref()
    }

    /// `jwks_uri`: where the verification keys are fetched from.
    pub fn jwks_uri(&self) -> &str {
        &self.jwks_uri
    }

    /// Whether `client_id_metadata_document_supported` is `true`: clients may use an HTTPS URL
    /// of their metadata document as `client_id`
    /// ([draft-ietf-oauth-client-id-metadata-document](https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/),
    /// MCP's preferred registration since 2025-11-25).
    pub fn client_id_metadata_document_supported(&self) -> bool {
        supports_metadata_documents(&self.document)
    }

    /// `introspection_endpoint` ([RFC 8414 §2](https://www.rfc-editor.org/rfc/rfc8414#section-2),
    /// RFC 7662), when the document has one as a string.
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.document
            .get("introspection_endpoint")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `scopes_supported` (empty when absent or not an array of strings).
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The whole document.
    pub fn document(&self) -> &Map<String, Value> {
        &self.document
    }
}

/// The outcome of [`validate`]: the document when acceptable, and everything found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The validated document; `None` when there is at least one problem.
    pub metadata: Option<AuthorizationServerMetadata>,
    /// The `issuer` member as found (even when the document is not acceptable).
    pub issuer: Option<String>,
    /// The document, when it is a JSON object (even when it is not acceptable).
    pub document: Option<Map<String, Value>>,
    /// Every problem, in field order. Empty exactly when `metadata` is `Some`.
    pub problems: Vec<Problem>,
    /// Warnings, also for an acceptable document.
    pub warnings: Vec<Warning>,
}

impl Report {
    /// Whether the document is acceptable.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems of one field.
    pub fn problems_of<'a>(&'a self, field: &'a str) -> impl Iterator<Item = ProblemKind> + 'a {
        self.problems
            .iter()
            .filter(move |p| p.field == field)
            .map(|p| p.kind)
    }
}

/// Why a metadata URL implies no issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataUrlError {
    /// Not an absolute `http`/`https` URL with a host.
    NotAUrl,
    /// The path has neither well-known name in it.
    NotWellKnown,
    /// It has a query or a fragment.
    QueryOrFragment,
}

impl fmt::Display for MetadataUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAUrl => "the metadata URL is not an absolute http(s) URL",
            Self::NotWellKnown => "the metadata URL contains neither /.well-known/oauth-authorization-server nor /.well-known/openid-configuration",
            Self::QueryOrFragment => "the metadata URL has a query or fragment",
        })
    }
}

fn origin(u: &UriParts<'_>) -> String {
    let mut s = String::with_capacity(u.scheme.len() + 3 + u.authority.len());
    s.push_str(u.scheme);
    s.push_str("://");
    s.push_str(u.authority);
    s
}

/// The issuer a metadata URL implies, for every form providers serve:
///
/// | metadata URL | issuer |
/// |---|---|
/// | `https://h/.well-known/oauth-authorization-server/t` (RFC 8414 §3.1 insertion) | `https://h/t` |
/// | `https://h/.well-known/openid-configuration/t` (insertion, OIDC name) | `https://h/t` |
/// | `https://h/t/.well-known/oauth-authorization-server` (appended: Okta, Keycloak) | `https://h/t` |
/// | `https://h/t/.well-known/openid-configuration` (OIDC Discovery §4: Entra, Keycloak) | `https://h/t` |
/// | `https://h/.well-known/oauth-authorization-server` | `https://h` |
///
/// # Errors
/// A URL that is not absolute `http(s)`, has a query or fragment, or is not a well-known URL.
pub fn issuer_from_metadata_url(url: &str) -> Result<String, MetadataUrlError> {
    let u = UriParts::split(url).ok_or(MetadataUrlError::NotAUrl)?;
    if u.default_port().is_none() || u.host_port().is_none_or(|(_, host, _)| host.is_empty()) {
        return Err(MetadataUrlError::NotAUrl);
    }
    if u.query.is_some() || u.fragment.is_some() {
        return Err(MetadataUrlError::QueryOrFragment);
    }
    let path = u.path;
    for name in [OAUTH_WELL_KNOWN, OIDC_WELL_KNOWN] {
        // Inserted after the host: the rest of the path is the issuer's path.
        if let Some(rest) = path.strip_prefix(name) {
            if rest.is_empty() || rest.starts_with('/') {
                return Ok(origin(&u) + rest);
            }
        }
        // Appended to the issuer's path.
        if let Some(prefix) = path.strip_suffix(name) {
            return Ok(origin(&u) + prefix);
        }
    }
    Err(MetadataUrlError::NotWellKnown)
}

/// The metadata URLs MCP clients try for `issuer`, in their order: with a path, the RFC 8414
/// insertion, the OIDC insertion, then the OIDC append; without one, the RFC 8414 root, then the
/// OIDC root. A terminating `/` of the issuer is removed first (RFC 8414 §3.1).
///
/// Returns an empty list when `issuer` is not an absolute URL.
pub fn metadata_urls_for_issuer(issuer: &str) -> Vec<String> {
    let Some(u) = UriParts::split(issuer) else {
        return Vec::new();
    };
    let o = origin(&u);
    let path = u.path.strip_suffix('/').unwrap_or(u.path);
    if path.is_empty() {
        alloc::vec![o.clone() + OAUTH_WELL_KNOWN, o + OIDC_WELL_KNOWN]
    } else {
        alloc::vec![
            o.clone() + OAUTH_WELL_KNOWN + path,
            o.clone() + OIDC_WELL_KNOWN + path,
            o + path + OIDC_WELL_KNOWN,
        ]
    }
}

/// The tenant segments under which Entra ID serves its multi-tenant metadata, whose `issuer` is
/// a tenant template (`https://login.microsoftonline.com/{tenantid}/v2.0`).
pub const MULTI_TENANT_SEGMENTS: [&str; 3] = ["common", "organizations", "consumers"];

/// Whether `issuer` is a tenant template (holding
/// [`TENANT_PLACEHOLDER`](crate::access_token::TENANT_PLACEHOLDER)) that becomes `expected` with
/// one of the [`MULTI_TENANT_SEGMENTS`] in its place: Entra ID's `common`, `organizations` and
/// `consumers` metadata, which state the template rather than the URL they are served under.
/// Tokens then name their own tenant, and the verifier requires a tenant allow-list.
pub fn tenant_template_matches(issuer: &str, expected: &str) -> bool {
    let Some((prefix, suffix)) = issuer.split_once(crate::access_token::TENANT_PLACEHOLDER) else {
        return false;
    };
    MULTI_TENANT_SEGMENTS
        .iter()
        .any(|segment| issuer_matches(&alloc::format!("{prefix}{segment}{suffix}"), expected))
}

/// Whether `issuer` (as a document states it) is the issuer `expected` (implied by the metadata
/// URL or configured): byte-equal after removing one terminating `/` from each — RFC 8414 §3.1
/// removes it before building the URL, so `https://tenant.auth0.com/` is served at the root —
/// with the scheme and host compared case-insensitively.
pub fn issuer_matches(issuer: &str, expected: &str) -> bool {
    let a = issuer.strip_suffix('/').unwrap_or(issuer);
    let b = expected.strip_suffix('/').unwrap_or(expected);
    if a == b {
        return true;
    }
    match (UriParts::split(a), UriParts::split(b)) {
        (Some(x), Some(y)) => {
            x.scheme.eq_ignore_ascii_case(y.scheme)
                && x.authority.eq_ignore_ascii_case(y.authority)
                && x.path == y.path
                && x.query == y.query
                && x.fragment == y.fragment
        }
        _ => false,
    }
}

/// Whether `host` is a loopback host: `localhost`, an IPv4 address in `127.0.0.0/8`, or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "[::1]" {
        return true;
    }
    let mut parts = host.split('.');
    let first = parts.next();
    let rest: Vec<&str> = parts.collect();
    first == Some("127")
        && rest.len() == 3
        && rest
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

/// Checks that `url` is an absolute `https` URL with a host and no fragment (and, for the
/// issuer, no query).
fn check_url(url: &str, is_issuer: bool, policy: &MetadataPolicy) -> Result<(), ProblemKind> {
    let u = UriParts::split(url).ok_or(ProblemKind::NotAUrl)?;
    let (_, host, _) = u.host_port().ok_or(ProblemKind::NotAUrl)?;
    if host.is_empty() {
        return Err(ProblemKind::NotAUrl);
    }
    let https = u.scheme.eq_ignore_ascii_case("https");
    let loopback_http = u.scheme.eq_ignore_ascii_case("http")
        && policy.allow_http_loopback
        && is_loopback_host(host);
    if !https && !loopback_http {
        return Err(ProblemKind::NotHttps);
    }
    if u.fragment.is_some() || (is_issuer && u.query.is_some()) {
        return Err(ProblemKind::QueryOrFragment);
    }
    Ok(())
}

/// `client_id_metadata_document_supported` is the JSON `true`.
fn supports_metadata_documents(doc: &Map<String, Value>) -> bool {
    doc.get("client_id_metadata_document_supported") == Some(&Value::Bool(true))
}

fn string_list<'a>(doc: &'a Map<String, Value>, name: &str) -> Option<Vec<&'a str>> {
    match doc.get(name) {
        Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// Validates a metadata document against the issuer it must name (see the module docs).
///
/// `expected_issuer` comes from [`issuer_from_metadata_url`], or from the operator.
pub fn validate(document: &[u8], expected_issuer: &str, policy: &MetadataPolicy) -> Report {
    let mut report = Report {
        metadata: None,
        issuer: None,
        document: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let document_problem = |kind| Problem {
        field: "document",
        kind,
    };
    if document.len() > MAX_METADATA_BYTES {
        report
            .problems
            .push(document_problem(ProblemKind::TooLarge));
        return report;
    }
    let doc = match json::parse_object(document) {
        Ok(doc) => doc,
        Err(JsonError::Invalid) => {
            report
                .problems
                .push(document_problem(ProblemKind::NotJsonObject));
            return report;
        }
        Err(JsonError::DuplicateMember) => {
            report
                .problems
                .push(document_problem(ProblemKind::DuplicateMember));
            return report;
        }
    };
    report.issuer = doc.get("issuer").and_then(Value::as_str).map(String::from);

    let cimd = supports_metadata_documents(&doc);
    let mut fields: [Option<String>; 5] = Default::default();
    for (slot, field) in fields.iter_mut().zip(REQUIRED_FIELDS) {
        let is_issuer = field == "issuer";
        let problem = match doc.get(field) {
            // MCP clients register with a metadata document, else dynamically, else not at all.
            None if field == "registration_endpoint" && cimd => {
                report
                    .warnings
                    .push(Warning::RegistrationByMetadataDocumentOnly);
                None
            }
            None if field == "registration_endpoint" && policy.allow_missing_registration => {
                report.warnings.push(Warning::RegistrationMissing);
                None
            }
            None if field == "registration_endpoint" => Some(ProblemKind::NoRegistration),
            None => Some(ProblemKind::Missing),
            Some(Value::String(s)) if s.is_empty() => Some(ProblemKind::Empty),
            Some(Value::String(s)) => match check_url(s, is_issuer, policy) {
                Err(kind) => Some(kind),
                Ok(())
                    if is_issuer
                        && !issuer_matches(s, expected_issuer)
                        && !tenant_template_matches(s, expected_issuer) =>
                {
                    Some(ProblemKind::IssuerMismatch)
                }
                Ok(()) => {
                    *slot = Some(s.clone());
                    None
                }
            },
            Some(_) => Some(ProblemKind::NotAString),
        };
        if let Some(kind) = problem {
            report.problems.push(Problem { field, kind });
        }
    }

    match string_list(&doc, "code_challenge_methods_supported") {
        None => report.warnings.push(Warning::PkceMethodsMissing),
        Some(methods) if !methods.contains(&"S256") => {
            report.warnings.push(Warning::PkceS256Missing)
        }
        Some(_) => {}
    }
    if string_list(&doc, "response_types_supported").is_some_and(|t| !t.contains(&"code")) {
        report.warnings.push(Warning::CodeResponseTypeMissing);
    }
    let auth_methods = string_list(&doc, "token_endpoint_auth_methods_supported");
    if cimd && !auth_methods.is_some_and(|m| m.contains(&"none")) {
        report
            .warnings
            .push(Warning::MetadataDocumentWithoutPublicClients);
    }
    if doc.get("authorization_response_iss_parameter_supported") != Some(&Value::Bool(true)) {
        report.warnings.push(Warning::IssParameterMissing);
    }
    if let [Some(issuer), _, _, _, Some(jwks)] = &fields {
        let same_origin = match (UriParts::split(issuer), UriParts::split(jwks)) {
            (Some(a), Some(b)) => {
                a.scheme.eq_ignore_ascii_case(b.scheme)
                    && a.authority.eq_ignore_ascii_case(b.authority)
            }
            _ => false,
        };
        if !same_origin {
            report.warnings.push(Warning::JwksOnOtherOrigin);
        }
    }

    if report.problems.is_empty() {
        let [Some(issuer), Some(authorization_endpoint), Some(token_endpoint), registration_endpoint, Some(jwks_uri)] =
            fields
        else {
            // Every required field without a problem was filled in above.
            return report;
        };
        let scopes_supported = string_list(&doc, "scopes_supported")
            .unwrap_or_default()
            .into_iter()
            .map(ToString::to_string)
            .collect();
        report.metadata = Some(AuthorizationServerMetadata {
            issuer,
            authorization_endpoint,
            token_endpoint,
            registration_endpoint,
            jwks_uri,
            scopes_supported,
            document: doc.clone(),
        });
    }
    report.document = Some(doc);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "[::1]"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "127.0.0.1.evil",
            "128.0.0.1",
            "127.0.0",
            "localhost.evil",
            "[::2]",
            "127.0.0.256",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
