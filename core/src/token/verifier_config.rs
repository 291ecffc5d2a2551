//! What the verifier of JWT access tokens is configured with ([`VerifierConfig`]): the issuer
//! (`iss`, [RFC 9068 §4](https://www.rfc-editor.org/rfc/rfc9068#section-4)) and the resource
//! `aud` must name ([RFC 8707](https://www.rfc-editor.org/rfc/rfc8707)), the algorithms, the
//! `typ` rule ([RFC 9068 §2.1](https://www.rfc-editor.org/rfc/rfc9068#section-2.1)), the leeway,
//! tenants of a templated issuer, extra audiences. Re-exported by
//! [`access_token`](crate::access_token), where it is used.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::TokenError;
use crate::jose::alg::AlgorithmSet;
use crate::jose::jwk::KidPolicy;

/// The default largest token accepted, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// The default clock-skew leeway for `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// Which header `typ` values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TypPolicy {
    /// Only `at+jwt` or `application/at+jwt` (RFC 9068 §2.1, compared case-insensitively as a
    /// media type). The default: it stops ID tokens and other JWTs from being used as access
    /// tokens.
    #[default]
    AccessToken,
    /// Also `JWT`, `application/jwt`, or no `typ`, for authorization servers that do not
    /// implement RFC 9068 (Auth0, Entra ID and Okta issue `typ: JWT`).
    Lenient,
}

impl TypPolicy {
    pub(crate) fn accepts(self, typ: Option<&str>) -> bool {
        let is = |t: &str, name: &str| {
            t.eq_ignore_ascii_case(name)
                || t.get(..12)
                    .is_some_and(|p| p.eq_ignore_ascii_case("application/"))
                    && t.get(12..)
                        .is_some_and(|rest| rest.eq_ignore_ascii_case(name))
        };
        match (self, typ) {
            (_, Some(t)) if is(t, "at+jwt") => true,
            (Self::Lenient, None) => true,
            (Self::Lenient, Some(t)) => is(t, "jwt"),
            (Self::AccessToken, _) => false,
        }
    }
}

/// The placeholder of a tenant-templated issuer, as Entra ID's multi-tenant metadata
/// (`common`, `organizations`, `consumers`) states it:
/// `https://login.microsoftonline.com/{tenantid}/v2.0`.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Which tenants a tenant-templated issuer accepts (see [`VerifierConfig::with_tenants`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantPolicy {
    /// Only these tenant ids (`tid`), compared ASCII-case-insensitively (they are GUIDs). The
    /// default is an empty list: a templated issuer accepts no token until tenants are given.
    Listed(Vec<String>),
    /// Every tenant: any organisation's users can call this resource (a multi-tenant SaaS).
    Any,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        Self::Listed(Vec::new())
    }
}

impl TenantPolicy {
    fn allows(&self, tid: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Listed(list) => list.iter().any(|t| t.eq_ignore_ascii_case(tid)),
        }
    }
}

/// `pattern` split around its [`TENANT_PLACEHOLDER`], when it has one.
fn split_template(pattern: &str) -> Option<(&str, &str)> {
    // A byte search first: most issuers have no brace, and a substring searcher costs more to
    // set up than this whole check (it ran for every token).
    match pattern.as_bytes().contains(&b'{') {
        true => pattern.split_once(TENANT_PLACEHOLDER),
        false => None,
    }
}

/// Whether the issuer `pattern` is a tenant template (holds [`TENANT_PLACEHOLDER`]).
pub(crate) fn is_tenant_template(pattern: &str) -> bool {
    split_template(pattern).is_some()
}

/// Whether `iss` has the shape of `prefix{tenantid}suffix`: a non-empty tenant segment without
/// `/` between the two.
fn fits_template(iss: &str, prefix: &str, suffix: &str) -> bool {
    iss.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .is_some_and(|tid| !tid.is_empty() && !tid.contains('/'))
}

/// What a token must satisfy to be accepted by this resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    pub(crate) issuer: String,
    pub(crate) additional_issuers: Vec<String>,
    pub(crate) tenants: TenantPolicy,
    pub(crate) resource: String,
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) leeway_secs: u64,
    pub(crate) typ: TypPolicy,
    pub(crate) kid: KidPolicy,
    pub(crate) max_token_len: usize,
    pub(crate) max_lifetime_secs: Option<u64>,
    pub(crate) audiences: Vec<String>,
    pub(crate) audienceless_clients: Vec<String>,
    pub(crate) roles_as_scopes: Option<String>,
}

impl VerifierConfig {
    /// Tokens issued by `issuer` (compared byte for byte with `iss`) for `resource` (the RFC 8707
    /// resource indicator that `aud` must name), with every default: all supported algorithms,
    /// 60 s leeway, `typ: at+jwt` required, `kid` required, tokens up to 8 KiB.
    pub fn new(issuer: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            additional_issuers: Vec::new(),
            tenants: TenantPolicy::default(),
            resource: resource.into(),
            algorithms: AlgorithmSet::all(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            typ: TypPolicy::default(),
            kid: KidPolicy::default(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            max_lifetime_secs: None,
            audiences: Vec::new(),
            audienceless_clients: Vec::new(),
            roles_as_scopes: None,
        }
    }

    /// Accept only these algorithms.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: AlgorithmSet) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Clock-skew leeway applied to `exp`, `nbf` and `iat`.
    #[must_use]
    pub fn with_leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }

    /// Which `typ` header values are accepted.
    #[must_use]
    pub fn with_typ_policy(mut self, typ: TypPolicy) -> Self {
        self.typ = typ;
        self
    }

    /// Whether tokens must carry a `kid`.
    #[must_use]
    pub fn with_kid_policy(mut self, kid: KidPolicy) -> Self {
        self.kid = kid;
        self
    }

    /// The largest token accepted, in bytes.
    #[must_use]
    pub fn with_max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Refuse tokens that live longer than `secs`: `exp − iat`, or `exp − now` when the token
    /// has no `iat` ([`TokenError::LifetimeTooLong`]). Off (`None`) by default; short-lived access
    /// tokens (15–60 minutes) limit what a stolen token is worth.
    #[must_use]
    pub fn with_max_lifetime_secs(mut self, secs: Option<u64>) -> Self {
        self.max_lifetime_secs = secs;
        self
    }

    /// The longest token lifetime accepted, if any.
    pub fn max_lifetime_secs(&self) -> Option<u64> {
        self.max_lifetime_secs
    }

    /// Also accepts tokens whose `aud` names one of `audiences` exactly (byte for byte): what
    /// providers issue instead of the RFC 8707 resource, e.g. an Entra application ID
    /// (a GUID or `api://…`), an Auth0 API identifier or a Keycloak client id. The resource itself
    /// stays accepted.
    #[must_use]
    pub fn with_audiences<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        audiences: I,
    ) -> Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// **Accepts tokens that carry no `aud` at all** when their `client_id` (or `azp`) is one of
    /// `clients` — for authorization servers that issue none (Amazon Cognito, Keycloak clients
    /// registered dynamically). Off by default, and never implied: without an audience, a token
    /// issued to a listed client for *any* resource of this issuer is accepted here. A token
    /// whose `aud` names something else is still refused.
    #[must_use]
    pub fn with_audienceless_clients<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        clients: I,
    ) -> Self {
        self.audienceless_clients = clients.into_iter().map(Into::into).collect();
        self
    }

    /// Also reads the `roles` claim (Entra ID app roles, a string array) as scopes, each with
    /// `prefix` in front (`""` for as-is). Off (`None`) by default.
    #[must_use]
    pub fn with_roles_as_scopes(mut self, prefix: Option<String>) -> Self {
        self.roles_as_scopes = prefix;
        self
    }

    /// Also accepts tokens whose `iss` is `issuer`, verified with the same keys: for an
    /// authorization server that signs under two issuer names, as Entra ID does for v1 tokens
    /// (`https://sts.windows.net/{tenantid}/`) next to v2 ones. It may hold
    /// [`TENANT_PLACEHOLDER`].
    #[must_use]
    pub fn with_additional_issuer(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if issuer != self.issuer && !self.additional_issuers.contains(&issuer) {
            self.additional_issuers.push(issuer);
        }
        self
    }

    /// The tenants a tenant-templated issuer accepts (an issuer holding
    /// [`TENANT_PLACEHOLDER`], e.g. Entra ID's `https://login.microsoftonline.com/{tenantid}/v2.0`).
    /// A token from such an issuer is accepted only when its `iss` is the template with the
    /// token's own `tid` claim in place of the placeholder, and that `tid` is one of `tenants`.
    #[must_use]
    pub fn with_tenants<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
        self.tenants = TenantPolicy::Listed(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// **Accepts every tenant** of a tenant-templated issuer (the `iss`/`tid` match is still
    /// required): users of any organisation can call this resource.
    #[must_use]
    pub fn with_any_tenant(mut self) -> Self {
        self.tenants = TenantPolicy::Any;
        self
    }

    /// The tenants a tenant-templated issuer accepts.
    pub fn tenant_policy(&self) -> &TenantPolicy {
        &self.tenants
    }

    /// Every issuer accepted: the configured one, then the additional ones.
    pub fn issuers(&self) -> impl Iterator<Item = &str> + '_ {
        core::iter::once(self.issuer.as_str())
            .chain(self.additional_issuers.iter().map(String::as_str))
    }

    /// Whether an accepted issuer is a tenant template (holds [`TENANT_PLACEHOLDER`]).
    pub fn has_tenant_template(&self) -> bool {
        self.issuers().any(is_tenant_template)
    }

    /// Whether `iss` is, or has the shape of, one of this configuration's issuers: how a guard
    /// with several authorization servers chooses the verifier before any signature is checked.
    /// The full check (`tid`, the allow-list) comes after the signature.
    pub fn routes(&self, iss: &str) -> bool {
        self.issuers().any(|pattern| match split_template(pattern) {
            None => pattern == iss,
            Some((prefix, suffix)) => fits_template(iss, prefix, suffix),
        })
    }

    /// `iss` (and `tid`, for a tenant template) against the accepted issuers.
    pub(crate) fn check_issuer(&self, iss: &str, tid: Option<&str>) -> Result<(), TokenError> {
        let mut templated = false;
        for pattern in self.issuers() {
            match split_template(pattern) {
                None if pattern == iss => return Ok(()),
                None => {}
                Some((prefix, suffix)) if fits_template(iss, prefix, suffix) => {
                    templated = true;
                    let own = tid.is_some_and(|t| {
                        iss.len() == prefix.len() + t.len() + suffix.len()
                            && iss.get(prefix.len()..iss.len() - suffix.len()) == Some(t)
                    });
                    if own {
                        return match tid.is_some_and(|t| self.tenants.allows(t)) {
                            true => Ok(()),
                            false => Err(TokenError::TenantNotAllowed),
                        };
                    }
                }
                Some(_) => {}
            }
        }
        match templated {
            true => Err(TokenError::IssuerTenantMismatch),
            false => Err(TokenError::WrongIssuer),
        }
    }

    pub(crate) fn set_resource(&mut self, resource: &str) {
        if self.resource != resource {
            self.resource = String::from(resource);
        }
    }

    /// The audiences accepted besides the resource.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The clients whose tokens are accepted without `aud`.
    pub fn audienceless_clients(&self) -> &[String] {
        &self.audienceless_clients
    }

    /// The trusted issuer (the authorization server's, as its metadata states it; possibly a
    /// tenant template).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// This resource's identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The largest token accepted, in bytes.
    pub fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// The accepted algorithms.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// The clock-skew leeway, in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway_secs
    }
}
