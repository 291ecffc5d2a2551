//! Calling downstream APIs as the user: OAuth 2.0 Token Exchange
//! ([RFC 8693](https://www.rfc-editor.org/rfc/rfc8693)) and Microsoft Entra ID's on-behalf-of
//! flow (the JWT bearer grant of [RFC 7523 §2.1](https://www.rfc-editor.org/rfc/rfc7523#section-2.1)
//! with `requested_token_use=on_behalf_of`), with no IO.
//!
//! MCP forbids passing the client's token on ("token passthrough"): a tool that calls an API as
//! the user asks the authorization server for a token of that API, presenting the verified
//! inbound token. This module builds that request ([`ExchangeConfig::request`], §2.1; the client
//! authenticated with `client_secret_basic`, `client_secret_post` or `private_key_jwt` per
//! [RFC 7523 §2.2](https://www.rfc-editor.org/rfc/rfc7523#section-2.2), the signature made by an
//! [`AssertionSigner`] the adapter holds), reads the response strictly ([`parse_response`],
//! §2.2.1 and §2.2.2, with Entra's `error_codes` turned into reasons), and keeps the issued
//! tokens in an [`ExchangeCache`]: per caller and target, single flight, until shortly before
//! they expire and never past the inbound token's `exp`, refusals of the grant for a few
//! seconds, failures not at all. Keys are SHA-256 digests; no token is ever in a key, a `Debug`
//! or a log.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;

use crate::access_token::Principal;
use crate::error::ExchangeError;
use crate::jose::base64url_encode;
use crate::time::UnixTime;
use crate::token_introspection::{basic_authorization, ClientAuthentication};

/// `grant_type` of RFC 8693.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `grant_type` of RFC 7523 (Entra's on-behalf-of flow).
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The token type of an OAuth 2.0 access token (RFC 8693 §3).
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The token type of a JWT (RFC 8693 §3).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// `client_assertion_type` of RFC 7523 §2.2.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The largest response read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Which grant asks for the downstream token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExchangeProfile {
    /// RFC 8693 token exchange: `subject_token` = the inbound token.
    TokenExchange,
    /// Entra ID on-behalf-of: the JWT bearer grant, `assertion` = the inbound token,
    /// `requested_token_use=on_behalf_of`, `scope` required.
    EntraOnBehalfOf,
}

impl ExchangeProfile {
    /// The profile's name in reasons and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::TokenExchange => "token-exchange",
            Self::EntraOnBehalfOf => "entra-obo",
        }
    }
}

/// What the downstream token is for (RFC 8693 §2.1): the API's `audience` (a logical name)
/// and/or `resource` (its URI), the `scope` asked for, and the `requested_token_type`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExchangeTarget {
    audience: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    requested_token_type: Option<String>,
}

impl ExchangeTarget {
    /// A target named by its `resource` URI.
    pub fn resource(resource: impl Into<String>) -> Self {
        Self {
            resource: Some(resource.into()),
            ..Self::default()
        }
    }

    /// A target named by its `audience`.
    pub fn audience(audience: impl Into<String>) -> Self {
        Self {
            audience: Some(audience.into()),
            ..Self::default()
        }
    }

    /// Sets the `audience` too.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the `resource` too.
    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Asks for these space-separated scopes (for Entra on-behalf-of: the API's scopes, or
    /// `{resource}/.default` when none is set).
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Asks for this token type (RFC 8693 §3; the default is the server's choice).
    #[must_use]
    pub fn with_requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.requested_token_type = Some(token_type.into());
        self
    }

    /// The scope an on-behalf-of request sends: the target's, else `{resource}/.default`
    /// (Entra's "every permission the app was granted"), else `{audience}/.default`.
    fn obo_scope(&self) -> Option<String> {
        if let Some(s) = &self.scope {
            return Some(s.clone());
        }
        let base = self.resource.as_deref().or(self.audience.as_deref())?;
        Some(alloc::format!("{}/.default", base.trim_end_matches('/')))
    }

    /// The target's part of a cache key: each field length-prefixed.
    fn digest_into(&self, input: &mut Vec<u8>) {
        for part in [
            &self.audience,
            &self.resource,
            &self.scope,
            &self.requested_token_type,
        ] {
            push_part(input, part.as_deref());
        }
    }
}

fn push_part(input: &mut Vec<u8>, part: Option<&str>) {
    match part {
        None => input.extend_from_slice(&u64::MAX.to_be_bytes()),
        Some(p) => {
            let len = u64::try_from(p.len()).unwrap_or(u64::MAX - 1);
            input.extend_from_slice(&len.to_be_bytes());
            input.extend_from_slice(p.as_bytes());
        }
    }
}

/// How the resource server authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangeClient {
    /// A client secret, in the `Authorization` header or in the form
    /// ([`ClientAuthentication`]).
    Secret(ClientAuthentication),
    /// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): a JWT this client signs with
    /// its private key, through the [`AssertionSigner`] given to [`ExchangeConfig::request`].
    PrivateKeyJwt {
        /// The client id (`iss` and `sub` of the assertion).
        client_id: String,
    },
}

impl ExchangeClient {
    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Secret(auth) => auth.client_id(),
            Self::PrivateKeyJwt { client_id } => client_id,
        }
    }
}

/// Signs client assertions (`private_key_jwt`) with a key the adapter holds: the core builds
/// the JWT, the signer only signs (signing needs randomness, which the core does not have).
pub trait AssertionSigner: Sync {
    /// The JWS `alg` (`ES256`, `RS256`, …).
    fn alg(&self) -> &str;
    /// The `kid` the authorization server knows the key by, if any.
    fn key_id(&self) -> Option<&str>;
    /// `x5t#S256`: base64url SHA-256 of the key's certificate, for servers that identify keys
    /// by certificate (Entra ID), if any.
    fn x5t_s256(&self) -> Option<&str>;
    /// The signature of `input` (the JWS signing input), `None` when signing failed.
    fn sign(&self, input: &[u8]) -> Option<Vec<u8>>;
}

/// Where and how tokens are exchanged, and how long the issued ones are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeConfig {
    token_endpoint: String,
    profile: ExchangeProfile,
    client: ExchangeClient,
    refresh_margin_secs: u64,
    default_lifetime_secs: u64,
    negative_ttl_secs: u64,
    max_entries: usize,
    in_flight_timeout_secs: u64,
    retry_after_secs: u32,
}

impl ExchangeConfig {
    /// Exchanges at `token_endpoint` (the validated metadata's) with `profile`, authenticated as
    /// `client`; every other setting at its default: an issued token is used until 30 s before
    /// it expires (60 s when the response omits `expires_in`), a refused grant is remembered
    /// 5 s, 10 000 entries, a call given up after 10 s, `Retry-After: 5`.
    pub fn new(
        token_endpoint: impl Into<String>,
        profile: ExchangeProfile,
        client: ExchangeClient,
    ) -> Self {
        Self {
            token_endpoint: token_endpoint.into(),
            profile,
            client,
            refresh_margin_secs: 30,
            default_lifetime_secs: 60,
            negative_ttl_secs: 5,
            max_entries: 10_000,
            in_flight_timeout_secs: 10,
            retry_after_secs: 5,
        }
    }

    /// Uses an issued token until this many seconds before it expires (default 30).
    #[must_use]
    pub fn with_refresh_margin_secs(mut self, secs: u64) -> Self {
        self.refresh_margin_secs = secs;
        self
    }

    /// Keeps at most this many issued tokens (default 10 000; the oldest go first).
    #[must_use]
    pub fn with_max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// How long a refused grant (`invalid_grant` and the like) is answered from memory
    /// (default 5 s; 0: never).
    #[must_use]
    pub fn with_negative_ttl_secs(mut self, secs: u64) -> Self {
        self.negative_ttl_secs = secs;
        self
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }

    /// The profile.
    pub fn profile(&self) -> ExchangeProfile {
        self.profile
    }

    /// The client.
    pub fn client(&self) -> &ExchangeClient {
        &self.client
    }

    /// `Retry-After` of a `503` when the authorization server could not be asked.
    pub fn retry_after_secs(&self) -> u32 {
        self.retry_after_secs
    }

    /// The request that exchanges `subject_token` (the verified inbound token) for a token of
    /// `target`, at `now`. For `private_key_jwt`, `jti` names the assertion (unique per
    /// request: the adapter makes it random) and `signer` signs it.
    ///
    /// # Errors
    /// [`ExchangeError::ClientAssertion`] when `private_key_jwt` has no signer or the signer
    /// fails; [`ExchangeError::NoScope`] for an on-behalf-of target without scope, resource or
    /// audience.
    pub fn request(
        &self,
        subject_token: &str,
        target: &ExchangeTarget,
        now: UnixTime,
        jti: &str,
        signer: Option<&dyn AssertionSigner>,
    ) -> Result<ExchangeRequest, ExchangeError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        match self.profile {
            ExchangeProfile::TokenExchange => {
                form.append_pair("grant_type", GRANT_TOKEN_EXCHANGE)
                    .append_pair("subject_token", subject_token)
                    .append_pair("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN);
                if let Some(a) = &target.audience {
                    form.append_pair("audience", a);
                }
                if let Some(r) = &target.resource {
                    form.append_pair("resource", r);
                }
                if let Some(s) = &target.scope {
                    form.append_pair("scope", s);
                }
                if let Some(t) = &target.requested_token_type {
                    form.append_pair("requested_token_type", t);
                }
            }
            ExchangeProfile::EntraOnBehalfOf => {
                let scope = target.obo_scope().ok_or(ExchangeError::NoScope)?;
                form.append_pair("grant_type", GRANT_JWT_BEARER)
                    .append_pair("assertion", subject_token)
                    .append_pair("requested_token_use", "on_behalf_of")
                    .append_pair("scope", &scope);
            }
        }
        let authorization = match &self.client {
            ExchangeClient::Secret(ClientAuthentication::ClientSecretBasic {
                client_id,
                client_secret,
            }) => Some(basic_authorization(client_id, client_secret)),
            ExchangeClient::Secret(ClientAuthentication::ClientSecretPost {
                client_id,
                client_secret,
            }) => {
                form.append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret);
                None
            }
            ExchangeClient::PrivateKeyJwt { client_id } => {
                let signer = signer.ok_or(ExchangeError::ClientAssertion)?;
                let assertion = self.client_assertion(client_id, now, jti, signer)?;
                form.append_pair("client_id", client_id)
                    .append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE)
                    .append_pair("client_assertion", &assertion);
                None
            }
            // A client authentication this version does not know: never send an unauthenticated
            // exchange.
            #[allow(unreachable_patterns)]
            _ => return Err(ExchangeError::ClientAssertion),
        };
        Ok(ExchangeRequest {
            url: self.token_endpoint.clone(),
            authorization,
            body: form.finish(),
        })
    }

    /// The `private_key_jwt` assertion (RFC 7523 §3): `iss` = `sub` = the client id, `aud` =
    /// the token endpoint, `iat`, `exp` = `iat` + 60 s, `jti`.
    fn client_assertion(
        &self,
        client_id: &str,
        now: UnixTime,
        jti: &str,
        signer: &dyn AssertionSigner,
    ) -> Result<String, ExchangeError> {
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), signer.alg().into());
        header.insert("typ".into(), "JWT".into());
        if let Some(kid) = signer.key_id() {
            header.insert("kid".into(), kid.into());
        }
        if let Some(x5t) = signer.x5t_s256() {
            header.insert("x5t#S256".into(), x5t.into());
        }
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), client_id.into());
        claims.insert("sub".into(), client_id.into());
        claims.insert("aud".into(), self.token_endpoint.as_str().into());
        claims.insert("iat".into(), now.as_secs().into());
        claims.insert("exp".into(), now.as_secs().saturating_add(60).into());
        claims.insert("jti".into(), jti.into());
        let encode = |m: serde_json::Map<String, Value>| {
            serde_json::to_vec(&m)
                .map(|b| base64url_encode(&b))
                .map_err(|_| ExchangeError::ClientAssertion)
        };
        let input = alloc::format!("{}.{}", encode(header)?, encode(claims)?);
        let signature = signer
            .sign(input.as_bytes())
            .ok_or(ExchangeError::ClientAssertion)?;
        Ok(alloc::format!("{input}.{}", base64url_encode(&signature)))
    }
}

/// One exchange for an adapter to send: `POST url` with
/// `Content-Type: application/x-www-form-urlencoded`, `Accept: application/json`, the
/// `Authorization` header when there is one, and `body`. `Debug` shows neither the token nor
/// the credentials.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangeRequest {
    /// The token endpoint.
    pub url: String,
    /// The `Authorization` header value (`client_secret_basic`).
    pub authorization: Option<String>,
    /// The form body.
    pub body: String,
}

impl fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A token the authorization server issued for the downstream API. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangedToken {
    access_token: String,
    issued_token_type: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
}

impl ExchangedToken {
    /// The token, for `Authorization: Bearer`.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// `issued_token_type` (RFC 8693; absent from on-behalf-of responses).
    pub fn issued_token_type(&self) -> Option<&str> {
        self.issued_token_type.as_deref()
    }

    /// `expires_in`, in seconds, if the response had it.
    pub fn expires_in(&self) -> Option<u64> {
        self.expires_in
    }

    /// The granted `scope`, if the response said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

impl fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("issued_token_type", &self.issued_token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Reads the token endpoint's answer to an exchange (RFC 8693 §2.2; RFC 6749 §5.1 and §5.2):
/// a `200` with `access_token` (printable ASCII, no space), `token_type` `Bearer`, for RFC 8693
/// an `issued_token_type` that is an access token or a JWT, and `expires_in` a non-negative
/// integer when present; duplicate members refuse the answer. An error answer becomes the
/// reason it gives (Entra's `error_codes` first: an app-only caller, missing consent, a
/// conditional-access challenge).
///
/// # Errors
/// The [`ExchangeError`]: a refusal of the grant or the client, an answer that is not a token
/// response ([`ExchangeError::Malformed`]), a token that cannot be used as a bearer token, or
/// a server error ([`ExchangeError::Unavailable`]).
pub fn parse_response(
    profile: ExchangeProfile,
    status: u16,
    body: &[u8],
) -> Result<ExchangedToken, ExchangeError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(ExchangeError::Malformed);
    }
    match status {
        200 => {}
        400 | 401 | 403 => return Err(error_response(body)),
        _ => return Err(ExchangeError::Unavailable),
    }
    let map = crate::json::parse_object(body).map_err(|_| ExchangeError::Malformed)?;
    let text = |name: &str| match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ExchangeError::Malformed),
    };
    let access_token = text("access_token")?.ok_or(ExchangeError::Malformed)?;
    if access_token.is_empty() || !access_token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ExchangeError::Malformed);
    }
    match text("token_type")? {
        Some(t) if t.eq_ignore_ascii_case("bearer") => {}
        // `N_A` (RFC 8693 §2.2.1: not an access token), `DPoP`, or none: nothing to send as
        // `Authorization: Bearer`.
        _ => return Err(ExchangeError::NotABearerToken),
    }
    let issued_token_type = text("issued_token_type")?;
    if profile == ExchangeProfile::TokenExchange {
        match issued_token_type {
            Some(TOKEN_TYPE_ACCESS_TOKEN | TOKEN_TYPE_JWT) => {}
            // Required by §2.2.1; a refresh token or an ID token is not for an API.
            _ => return Err(ExchangeError::NotABearerToken),
        }
    }
    let expires_in = match map.get("expires_in") {
        None => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or(ExchangeError::Malformed)?),
        Some(_) => return Err(ExchangeError::Malformed),
    };
    Ok(ExchangedToken {
        access_token: access_token.to_string(),
        issued_token_type: issued_token_type.map(ToString::to_string),
        expires_in,
        scope: text("scope")?.map(ToString::to_string),
    })
}

/// The reason of an error response (RFC 6749 §5.2, Entra's `error_codes`).
fn error_response(body: &[u8]) -> ExchangeError {
    let Ok(map) = crate::json::parse_object(body) else {
        return ExchangeError::Malformed;
    };
    let codes: Vec<u64> = match map.get("error_codes") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).collect(),
        _ => Vec::new(),
    };
    // Entra ID's codes say more than the RFC 6749 code they come with.
    for code in &codes {
        match code {
            // "Application is not allowed to make application on-behalf-of calls": the inbound
            // token is an app-only token (client credentials); there is no user to act for.
            7_000_114 => return ExchangeError::AppOnlyCaller,
            // The user or an administrator has not consented to the downstream API's scopes.
            65_001 => return ExchangeError::ConsentRequired,
            // Multi-factor authentication or a conditional-access policy needs the user.
            50_076 | 50_079 | 50_158 | 53_003 => return ExchangeError::InteractionRequired,
            _ => {}
        }
    }
    match map.get("error").and_then(Value::as_str) {
        Some("invalid_grant") => ExchangeError::InvalidGrant,
        Some("invalid_client") => ExchangeError::InvalidClient,
        Some("unauthorized_client") => ExchangeError::UnauthorizedClient,
        Some("invalid_scope") => ExchangeError::InvalidScope,
        Some("invalid_target") => ExchangeError::InvalidTarget,
        Some("unsupported_grant_type") => ExchangeError::UnsupportedGrantType,
        Some("interaction_required" | "consent_required") => ExchangeError::InteractionRequired,
        Some("invalid_request") => ExchangeError::InvalidRequest,
        Some(_) => ExchangeError::Refused,
        None => ExchangeError::Malformed,
    }
}

impl ExchangeError {
    /// Whether the same exchange would fail the same way for a while (the grant or the client
    /// was refused): such answers are remembered for the negative TTL; failures to reach the
    /// server are not.
    pub fn is_refusal(self) -> bool {
        !matches!(self, Self::Unavailable | Self::ClientAssertion)
    }
}

/// What identifies one cached exchange: SHA-256 of the inbound token itself (so a token with
/// fewer scopes, or without a step-up, never gets what another token of the same user got), its
/// issuer, subject and client id, the exchanging client, and the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeKey([u8; 32]);

impl ExchangeKey {
    /// The key of the exchange of `principal`'s token `inbound` for `target` by `client_id`.
    pub fn of(
        principal: &Principal,
        inbound: &str,
        client_id: &str,
        target: &ExchangeTarget,
    ) -> Self {
        let mut input = Vec::new();
        input.extend_from_slice(&crate::crypto::sha256(inbound.as_bytes()));
        push_part(&mut input, Some(principal.issuer()));
        push_part(&mut input, principal.subject());
        push_part(&mut input, principal.client_id());
        push_part(&mut input, Some(client_id));
        target.digest_into(&mut input);
        Self(crate::crypto::sha256(&input))
    }
}

/// What the cache knows of an exchange ([`ExchangeCache::lookup`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExchangeLookup {
    /// Issued before and still good at `now`.
    Issued(Arc<ExchangedToken>),
    /// Refused a moment ago; the refusal is kept for the negative TTL.
    Refused(ExchangeError),
    /// Another request is exchanging it: wait for that call, then look again.
    InFlight,
    /// Unknown: call with [`ExchangeCache::start`].
    Miss,
}

/// A call out for one key ([`ExchangeCache::start`]); report it with
/// [`ExchangeCache::finish`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct ExchangeTicket {
    key: ExchangeKey,
    id: u64,
}

#[derive(Debug)]
struct Entry {
    outcome: Result<Arc<ExchangedToken>, ExchangeError>,
    until: UnixTime,
}

/// The issued tokens (see the module docs), as a state machine the adapter drives: look up;
/// on a miss start the one call for that key, send it, and finish it with the outcome; the
/// other requests for the key wait and look again.
#[derive(Debug)]
pub struct ExchangeCache {
    config: ExchangeConfig,
    entries: BTreeMap<ExchangeKey, Entry>,
    order: VecDeque<ExchangeKey>,
    in_flight: BTreeMap<ExchangeKey, (u64, UnixTime)>,
    next_id: u64,
    calls: u64,
    hits: u64,
}

impl ExchangeCache {
    /// An empty cache for `config`.
    pub fn new(config: ExchangeConfig) -> Self {
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
    pub fn config(&self) -> &ExchangeConfig {
        &self.config
    }

    /// Calls started so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Answers served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What is known of `key` at `now`.
    pub fn lookup(&mut self, key: ExchangeKey, now: UnixTime) -> ExchangeLookup {
        match self.entries.get(&key) {
            Some(e) if now < e.until => {
                self.hits += 1;
                return match &e.outcome {
                    Ok(t) => ExchangeLookup::Issued(t.clone()),
                    Err(r) => ExchangeLookup::Refused(*r),
                };
            }
            Some(_) => {
                self.entries.remove(&key);
            }
            None => {}
        }
        match self.in_flight.get(&key) {
            Some((_, started))
                if now < started.saturating_add(self.config.in_flight_timeout_secs) =>
            {
                ExchangeLookup::InFlight
            }
            _ => ExchangeLookup::Miss,
        }
    }

    /// Starts the one call for `key` at `now`; `None` when another is in flight (look up again
    /// once it finishes).
    pub fn start(&mut self, key: ExchangeKey, now: UnixTime) -> Option<ExchangeTicket> {
        if let Some((_, started)) = self.in_flight.get(&key) {
            if now < started.saturating_add(self.config.in_flight_timeout_secs) {
                return None;
            }
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.in_flight.insert(key, (id, now));
        self.calls += 1;
        Some(ExchangeTicket { key, id })
    }

    /// Reports the call of `ticket`: an issued token is kept until `refresh margin` before it
    /// expires and never past `inbound_exp` (the inbound token's `exp`); a refusal for the
    /// negative TTL; a failure to reach the server not at all. Returns the outcome.
    pub fn finish(
        &mut self,
        ticket: ExchangeTicket,
        outcome: Result<ExchangedToken, ExchangeError>,
        inbound_exp: UnixTime,
        now: UnixTime,
    ) -> Result<Arc<ExchangedToken>, ExchangeError> {
        if self
            .in_flight
            .get(&ticket.key)
            .is_some_and(|(id, _)| *id == ticket.id)
        {
            self.in_flight.remove(&ticket.key);
        }
        let outcome = outcome.map(Arc::new);
        let until = match &outcome {
            Ok(t) => {
                let lifetime = t.expires_in.unwrap_or(self.config.default_lifetime_secs);
                now.saturating_add(lifetime.saturating_sub(self.config.refresh_margin_secs))
                    .min(inbound_exp)
            }
            Err(e) if e.is_refusal() => now.saturating_add(self.config.negative_ttl_secs),
            Err(_) => now,
        };
        if now < until && self.config.max_entries > 0 {
            self.insert(ticket.key, outcome.clone(), until);
        }
        outcome
    }

    fn insert(
        &mut self,
        key: ExchangeKey,
        outcome: Result<Arc<ExchangedToken>, ExchangeError>,
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
        self.entries.insert(key, Entry { outcome, until });
        if self.order.len() > 2 * self.config.max_entries.max(16) {
            let live = &self.entries;
            self.order.retain(|k| live.contains_key(k));
        }
    }
}
