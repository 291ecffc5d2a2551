//! An authorization-server facade for identity providers that do not speak MCP's OAuth profile
//! (Entra ID, Auth0, Okta), with no IO: the MCP client sees the facade as its authorization
//! server ([RFC 8414](https://www.rfc-editor.org/rfc/rfc8414) metadata at the facade's own
//! issuer, [§3.1](https://www.rfc-editor.org/rfc/rfc8414#section-3.1) path-aware), and the facade
//! relays the authorization-code flow to the provider with the rewrites the provider needs:
//!
//! - `authorize`: the client's `redirect_uri` must be on the allow-list (a loopback URI matches
//!   on any port, [RFC 8252 §7.3](https://www.rfc-editor.org/rfc/rfc8252#section-7.3)); the
//!   client's redirect URI and `state` are kept in an expiring [`Transaction`], which the
//!   adapter stores to be taken once (in a store replicas share); the browser goes to the provider with `redirect_uri` = the facade's
//!   callback, `state` = the transaction's id, and the query rewritten per [`FacadeProfile`]
//!   (Entra: no `resource`, short scopes expanded under the App ID URI; Auth0: `audience`
//!   added).
//! - `callback`: the transaction is taken (once), and the browser goes back to the client's
//!   `redirect_uri` with the provider's `code` (or its error), the client's own `state`, and
//!   `iss` = the facade's issuer ([RFC 9207](https://www.rfc-editor.org/rfc/rfc9207)).
//! - `token`: the client's form goes to the provider with `redirect_uri` = the facade's
//!   callback, the same rewrites, and the facade's client authentication when configured; the
//!   provider's answer comes back unchanged.
//! - `register`: an [RFC 7591](https://www.rfc-editor.org/rfc/rfc7591) request whose redirect
//!   URIs are all allowed gets the configured client id (no secret).
//!
//! The facade never issues a token and never sees a password: access tokens are the provider's.
//! Every refusal is a [`FacadeError`]; an unknown redirect URI is never redirected to.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde_json::{json, Value};

use crate::time::UnixTime;

/// The longest `/authorize` query or `/token` form accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// The longest `redirect_uri` or `state` kept in a transaction, in bytes.
pub const MAX_FIELD_BYTES: usize = 512;
/// How long a transaction waits for the provider's callback, in seconds.
pub const TRANSACTION_TTL_SECS: u64 = 600;

/// What the facade rewrites for the provider behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FacadeProfile {
    /// Entra ID v2: `resource` refused by the provider (AADSTS9010010), so dropped; scopes are
    /// full URIs under the App ID URI (`api://{app}/mcp.tools`) while tokens carry the short
    /// form, so short scopes are expanded (OIDC scopes and `offline_access` stay as they are).
    Entra {
        /// The App ID URI short scopes expand under (`api://{app}`).
        api_uri: String,
    },
    /// Auth0: `audience` is needed for a JWT access token; `resource` is dropped.
    Auth0 {
        /// The API identifier.
        audience: String,
    },
    /// Okta (custom authorization servers take the audience from their configuration): the
    /// facade only stands in for registration.
    Okta,
    /// Any provider: registration and PKCE metadata only, no rewrite.
    Generic,
}

impl FacadeProfile {
    /// The profile's name (`entra`, `auth0`, `okta`, `generic`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Entra { .. } => "entra",
            Self::Auth0 { .. } => "auth0",
            Self::Okta => "okta",
            Self::Generic => "generic",
        }
    }

    /// The scope string the provider is asked for, from the one the client sent.
    pub fn provider_scope(&self, scope: &str) -> String {
        match self {
            Self::Entra { api_uri } => scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| match s {
                    // OpenID Connect scopes and refresh: Entra's own names.
                    "openid" | "profile" | "email" | "offline_access" => s.to_string(),
                    // Already a URI (api://…, https://…): as given.
                    s if s.contains("://") => s.to_string(),
                    s => alloc::format!("{}/{s}", api_uri.trim_end_matches('/')),
                })
                .collect::<Vec<_>>()
                .join(" "),
            _ => scope.to_string(),
        }
    }

    /// The scopes the client is told it may ask for: the provider's `scopes_supported` in the
    /// form tokens carry (Entra: the App ID URI's scopes in short form).
    pub fn client_scopes(&self, provider_scopes: &[String]) -> Vec<String> {
        provider_scopes
            .iter()
            .map(|s| self.client_scope(s).to_string())
            .collect()
    }

    /// One scope in the form tokens carry: under Entra, a scope of the App ID URI
    /// (`api://app/read`) is its short form (`read`); any other scope as it is.
    fn client_scope<'s>(&self, scope: &'s str) -> &'s str {
        match self {
            Self::Entra { api_uri } => scope
                .strip_prefix(api_uri.trim_end_matches('/'))
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or(scope),
            _ => scope,
        }
    }

    /// The provider-side parameters the profile adds and drops, applied to `params`.
    fn rewrite(&self, params: &mut Vec<(String, String)>) {
        match self {
            Self::Entra { .. } => params.retain(|(k, _)| k != "resource"),
            Self::Auth0 { audience } => {
                params.retain(|(k, _)| k != "resource" && k != "audience");
                params.push(("audience".into(), audience.clone()));
            }
            Self::Okta | Self::Generic => {}
        }
        for (k, v) in params.iter_mut() {
            if k == "scope" {
                *v = self.provider_scope(v);
            }
        }
    }
}

/// Why the facade refused a request. Each maps to one answer: the authorize and callback
/// errors that cannot be redirected (no trusted redirect URI) are a `400` page; token and
/// registration errors are the RFC 6749 / RFC 7591 JSON errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FacadeError {
    /// The query or form is larger than [`MAX_REQUEST_BYTES`].
    TooLarge,
    /// A parameter is repeated, or the request is not `application/x-www-form-urlencoded`.
    Malformed,
    /// A parameter the facade does not relay.
    UnexpectedParameter,
    /// `redirect_uri` missing or not on the allow-list: never redirected to.
    RedirectUriNotAllowed,
    /// `client_id` is not the facade's client.
    UnknownClient,
    /// `response_type` is not `code`.
    UnsupportedResponseType,
    /// No PKCE `code_challenge`, or a method other than `S256`.
    PkceRequired,
    /// The callback's `state` names no transaction (unknown, used, or expired).
    UnknownTransaction,
    /// A `grant_type` other than `authorization_code` and `refresh_token`.
    UnsupportedGrantType,
    /// A registration request that is not a JSON object with `redirect_uris`.
    InvalidClientMetadata,
    /// A scope this resource does not advertise (the facade lends its client to this resource
    /// only).
    InvalidScope,
    /// A `resource` other than this protected resource.
    InvalidTarget,
}

impl FacadeError {
    /// The stable reason name.
    pub fn reason(self) -> &'static str {
        match self {
            Self::TooLarge => "facade_request_too_large",
            Self::Malformed => "facade_malformed_request",
            Self::UnexpectedParameter => "facade_unexpected_parameter",
            Self::RedirectUriNotAllowed => "facade_redirect_uri_not_allowed",
            Self::UnknownClient => "facade_unknown_client",
            Self::UnsupportedResponseType => "facade_unsupported_response_type",
            Self::PkceRequired => "facade_pkce_required",
            Self::UnknownTransaction => "facade_unknown_transaction",
            Self::UnsupportedGrantType => "facade_unsupported_grant_type",
            Self::InvalidClientMetadata => "facade_invalid_client_metadata",
            Self::InvalidScope => "facade_invalid_scope",
            Self::InvalidTarget => "facade_invalid_target",
        }
    }

    /// The OAuth error code of the answer (RFC 6749 §4.1.2.1, §5.2; RFC 7591 §3.2.2).
    pub fn oauth_error(self) -> &'static str {
        match self {
            Self::UnknownClient => "invalid_client",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::RedirectUriNotAllowed => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            _ => "invalid_request",
        }
    }

    /// A fixed description.
    pub fn description(self) -> &'static str {
        match self {
            Self::TooLarge => "the request is too large",
            Self::Malformed => "the request is malformed (a parameter repeated, or not a form)",
            Self::UnexpectedParameter => {
                "the request carries a parameter this server does not relay"
            }
            Self::RedirectUriNotAllowed => "the redirect_uri is not one this server allows",
            Self::UnknownClient => "the client_id is not this server's client",
            Self::UnsupportedResponseType => "only response_type=code is supported",
            Self::PkceRequired => "PKCE with code_challenge_method=S256 is required",
            Self::UnknownTransaction => {
                "the authorization response matches no pending request (unknown, used or expired)"
            }
            Self::UnsupportedGrantType => "only authorization_code and refresh_token are supported",
            Self::InvalidClientMetadata => {
                "the registration request is not valid client metadata with redirect_uris"
            }
            Self::InvalidScope => "a requested scope is not one this resource offers",
            Self::InvalidTarget => "the resource is not this protected resource",
        }
    }
}

impl fmt::Display for FacadeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl core::error::Error for FacadeError {}

/// One facade: its issuer, the provider behind it, the client the provider knows it as, the
/// redirect URIs clients may use, and the profile.
#[derive(Clone, PartialEq, Eq)]
pub struct Facade {
    issuer: String,
    profile: FacadeProfile,
    provider_authorization_endpoint: String,
    provider_token_endpoint: String,
    provider_scopes: Vec<String>,
    client_id: String,
    client_secret: Option<String>,
    redirect_uris: Vec<String>,
    /// The protected resource this facade serves, and the scopes it advertises (the client's
    /// form): the only ones it asks the provider for.
    resource: Option<String>,
    scopes: Vec<String>,
}

/// Scopes any client may ask for besides the resource's: OpenID Connect's and refresh.
const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "address"];

impl fmt::Debug for Facade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facade")
            .field("issuer", &self.issuer)
            .field("profile", &self.profile.name())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A pending authorization: where to send the client back, with what `state`, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    redirect_uri: String,
    state: Option<String>,
    expires_at: UnixTime,
}

impl Transaction {
    /// When it expires.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// The transaction as a string, for a store replicas share.
    pub fn encode(&self) -> String {
        json!({"r": self.redirect_uri, "s": self.state, "e": self.expires_at.as_secs()}).to_string()
    }

    /// The transaction [`Transaction::encode`] made; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let map = crate::json::parse_object(text.as_bytes()).ok()?;
        let redirect_uri = map.get("r")?.as_str()?.to_string();
        let state = match map.get("s")? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return None,
        };
        let expires_at = UnixTime::from_secs(map.get("e")?.as_u64()?);
        Some(Self {
            redirect_uri,
            state,
            expires_at,
        })
    }
}

/// Where the adapter sends the browser, or the answer it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The `Location` of a `302`.
    pub location: String,
}

/// A request to the provider's token endpoint for the adapter to send (`POST`, form), whose
/// answer goes back to the client unchanged. `Debug` shows neither codes nor secrets.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderTokenRequest {
    /// The provider's token endpoint.
    pub url: String,
    /// `Authorization: Basic` when the facade authenticates with a secret.
    pub authorization: Option<String>,
    /// The form.
    pub body: String,
}

impl fmt::Debug for ProviderTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderTokenRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The parameters of a query or form, each at most once.
fn pairs(input: &[u8]) -> Result<Vec<(String, String)>, FacadeError> {
    if input.len() > MAX_REQUEST_BYTES {
        return Err(FacadeError::TooLarge);
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(input) {
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(FacadeError::Malformed);
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `a` with the query parameters `params` appended (after `?` or `&`).
fn with_query(base: &str, params: &[(String, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    alloc::format!("{base}{sep}{}", query.finish())
}

/// Whether `uri` is a loopback redirect URI (`http://127.0.0.1`, `http://[::1]`,
/// `http://localhost`), and its form without the port.
/// The authority is exactly a loopback host and an optional port of digits: no userinfo
/// (`http://127.0.0.1:1@evil.example/` names `evil.example`), nothing else.
fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = match authority.strip_prefix("[::1]") {
        Some(port) => ("[::1]", port),
        None => match authority.find(':') {
            Some(i) => authority.split_at(i),
            None => (authority, ""),
        },
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    match (host, port_ok) {
        ("127.0.0.1" | "[::1]" | "localhost", true) => Some(alloc::format!("http://{host}{path}")),
        _ => None,
    }
}

impl Facade {
    /// A facade at `issuer` (`{proxy origin}/facade/{name}`) in front of a provider whose
    /// validated metadata gave these endpoints and scopes, known to it as `client_id` (with
    /// `client_secret` for a confidential app), allowing `redirect_uris`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        issuer: impl Into<String>,
        profile: FacadeProfile,
        provider_authorization_endpoint: impl Into<String>,
        provider_token_endpoint: impl Into<String>,
        provider_scopes: Vec<String>,
        client_id: impl Into<String>,
        client_secret: Option<String>,
        redirect_uris: Vec<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            profile,
            provider_authorization_endpoint: provider_authorization_endpoint.into(),
            provider_token_endpoint: provider_token_endpoint.into(),
            provider_scopes,
            client_id: client_id.into(),
            client_secret,
            redirect_uris,
            resource: None,
            scopes: Vec::new(),
        }
    }

    /// Serves the protected resource `resource`, whose metadata advertises `scopes`: the facade
    /// asks the provider for those scopes (and OpenID Connect's) only, and for no other
    /// resource, so its client is never lent to another API. Without it, only OpenID Connect
    /// scopes pass.
    #[must_use]
    pub fn for_resource(mut self, resource: impl Into<String>, scopes: Vec<String>) -> Self {
        self.resource = Some(resource.into());
        self.scopes = scopes;
        self
    }

    /// Every scope of `params` is the resource's or OpenID Connect's; a `resource` is this one.
    fn check_targets(&self, params: &[(String, String)]) -> Result<(), FacadeError> {
        if let Some(scope) = get(params, "scope") {
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                // Entra: a full-URI scope under the App ID URI is its short form.
                let short = self.profile.client_scope(s);
                if !STANDARD_SCOPES.contains(&short) && !self.scopes.iter().any(|a| a == short) {
                    return Err(FacadeError::InvalidScope);
                }
            }
        }
        match get(params, "resource") {
            Some(r) if self.resource.as_deref() != Some(r) => Err(FacadeError::InvalidTarget),
            _ => Ok(()),
        }
    }

    /// The facade's issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The profile.
    pub fn profile(&self) -> &FacadeProfile {
        &self.profile
    }

    /// The callback the operator registers at the provider: `{issuer}/callback`.
    pub fn callback_uri(&self) -> String {
        alloc::format!("{}/callback", self.issuer)
    }

    /// The facade's RFC 8414 metadata: its own endpoints, PKCE `S256`, the `iss` response
    /// parameter (RFC 9207), public clients, and the provider's scopes in the form clients
    /// ask for.
    pub fn metadata(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": alloc::format!("{i}/authorize"),
            "token_endpoint": alloc::format!("{i}/token"),
            "registration_endpoint": alloc::format!("{i}/register"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": true,
            "scopes_supported": self.profile.client_scopes(&self.provider_scopes),
        })
    }

    /// Whether `uri` is an allowed redirect URI: exactly one of the list, or a loopback URI
    /// equal to a loopback one of the list but for the port (RFC 8252 §7.3).
    pub fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if uri.len() > MAX_FIELD_BYTES
            || uri
                .bytes()
                .any(|b| b == b'#' || b == b'\\' || b <= 0x20 || b == 0x7f)
        {
            return false;
        }
        let loopback = loopback_without_port(uri);
        self.redirect_uris.iter().any(|allowed| {
            allowed == uri
                || matches!((&loopback, loopback_without_port(allowed)), (Some(a), Some(b)) if *a == b)
        })
    }

    /// The `/authorize` request with `query` at `now`: the transaction to keep under `id` (a
    /// random, unguessable value the adapter makes) and where to send the browser.
    ///
    /// # Errors
    /// The [`FacadeError`]; none of them is redirected to the client (the adapter answers
    /// `400`).
    pub fn authorize(
        &self,
        query: &[u8],
        id: &str,
        now: UnixTime,
    ) -> Result<(Transaction, Redirect), FacadeError> {
        let params = pairs(query)?;
        // The redirect URI first: nothing else is answered to an unknown one.
        let redirect_uri =
            get(&params, "redirect_uri").ok_or(FacadeError::RedirectUriNotAllowed)?;
        if !self.redirect_uri_allowed(redirect_uri) {
            return Err(FacadeError::RedirectUriNotAllowed);
        }
        if get(&params, "client_id") != Some(self.client_id.as_str()) {
            return Err(FacadeError::UnknownClient);
        }
        if get(&params, "response_type") != Some("code") {
            return Err(FacadeError::UnsupportedResponseType);
        }
        if get(&params, "code_challenge").is_none_or(str::is_empty)
            || get(&params, "code_challenge_method") != Some("S256")
        {
            return Err(FacadeError::PkceRequired);
        }
        const RELAYED: [&str; 12] = [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "resource",
            "prompt",
            "login_hint",
            "nonce",
            "ui_locales",
        ];
        if params.iter().any(|(k, _)| !RELAYED.contains(&k.as_str())) {
            return Err(FacadeError::UnexpectedParameter);
        }
        if get(&params, "state").is_some_and(|s| s.len() > MAX_FIELD_BYTES) {
            return Err(FacadeError::TooLarge);
        }
        self.check_targets(&params)?;
        let transaction = Transaction {
            redirect_uri: redirect_uri.to_string(),
            state: get(&params, "state").map(ToString::to_string),
            expires_at: now.saturating_add(TRANSACTION_TTL_SECS),
        };
        let mut upstream: Vec<(String, String)> = params
            .into_iter()
            .filter(|(k, _)| k != "state" && k != "redirect_uri")
            .collect();
        upstream.push(("redirect_uri".into(), self.callback_uri()));
        upstream.push(("state".into(), id.to_string()));
        self.profile.rewrite(&mut upstream);
        let location = with_query(&self.provider_authorization_endpoint, &upstream);
        Ok((transaction, Redirect { location }))
    }

    /// The provider's callback with `query`, for the `transaction` its `state` named (taken
    /// from the store: single use): where to send the browser back, with the provider's `code`
    /// or error, the client's `state`, and `iss` = the facade.
    pub fn callback(
        &self,
        query: &[u8],
        transaction: Transaction,
    ) -> Result<Redirect, FacadeError> {
        let params = pairs(query)?;
        let mut back: Vec<(String, String)> = Vec::new();
        match (get(&params, "code"), get(&params, "error")) {
            (Some(code), None) => back.push(("code".into(), code.to_string())),
            (None, Some(error)) => {
                back.push(("error".into(), error.to_string()));
                if let Some(d) = get(&params, "error_description") {
                    back.push(("error_description".into(), d.to_string()));
                }
            }
            _ => return Err(FacadeError::Malformed),
        }
        if let Some(state) = transaction.state {
            back.push(("state".into(), state));
        }
        back.push(("iss".into(), self.issuer.clone()));
        Ok(Redirect {
            location: with_query(&transaction.redirect_uri, &back),
        })
    }

    /// The client's `/token` form, as the provider is to receive it.
    ///
    /// # Errors
    /// The [`FacadeError`] (answered as an RFC 6749 §5.2 error).
    pub fn token(&self, form: &[u8]) -> Result<ProviderTokenRequest, FacadeError> {
        let params = pairs(form)?;
        let relayed: &[&str] = match get(&params, "grant_type") {
            Some("authorization_code") => {
                let uri = get(&params, "redirect_uri").ok_or(FacadeError::RedirectUriNotAllowed)?;
                if !self.redirect_uri_allowed(uri) {
                    return Err(FacadeError::RedirectUriNotAllowed);
                }
                if get(&params, "code_verifier").is_none_or(str::is_empty) {
                    return Err(FacadeError::PkceRequired);
                }
                &[
                    "grant_type",
                    "code",
                    "redirect_uri",
                    "code_verifier",
                    "client_id",
                    "scope",
                    "resource",
                ]
            }
            Some("refresh_token") => &[
                "grant_type",
                "refresh_token",
                "client_id",
                "scope",
                "resource",
            ],
            _ => return Err(FacadeError::UnsupportedGrantType),
        };
        if let Some(id) = get(&params, "client_id") {
            if id != self.client_id {
                return Err(FacadeError::UnknownClient);
            }
        }
        if params.iter().any(|(k, _)| !relayed.contains(&k.as_str())) {
            return Err(FacadeError::UnexpectedParameter);
        }
        self.check_targets(&params)?;
        let mut upstream: Vec<(String, String)> = params
            .into_iter()
            .filter(|(k, _)| k != "client_id")
            .map(|(k, v)| match k.as_str() {
                "redirect_uri" => (k, self.callback_uri()),
                _ => (k, v),
            })
            .collect();
        self.profile.rewrite(&mut upstream);
        let authorization = match &self.client_secret {
            Some(secret) => Some(crate::token_introspection::basic_authorization(
                &self.client_id,
                secret,
            )),
            None => {
                upstream.push(("client_id".into(), self.client_id.clone()));
                None
            }
        };
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &upstream {
            body.append_pair(k, v);
        }
        Ok(ProviderTokenRequest {
            url: self.provider_token_endpoint.clone(),
            authorization,
            body: body.finish(),
        })
    }

    /// The answer to an RFC 7591 registration request `body`: the configured client, for
    /// redirect URIs that are all allowed (a public client: no secret).
    ///
    /// # Errors
    /// [`FacadeError::InvalidClientMetadata`], [`FacadeError::RedirectUriNotAllowed`].
    pub fn register(&self, body: &[u8]) -> Result<Value, FacadeError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(FacadeError::TooLarge);
        }
        let request =
            crate::json::parse_object(body).map_err(|_| FacadeError::InvalidClientMetadata)?;
        let uris: Vec<&str> = match request.get("redirect_uris") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|v| v.as_str().ok_or(FacadeError::InvalidClientMetadata))
                .collect::<Result<_, _>>()?,
            _ => return Err(FacadeError::InvalidClientMetadata),
        };
        if !uris.iter().all(|u| self.redirect_uri_allowed(u)) {
            return Err(FacadeError::RedirectUriNotAllowed);
        }
        let mut answer = json!({
            "client_id": self.client_id,
            "redirect_uris": uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        });
        if let (Some(name), Some(map)) = (
            request.get("client_name").and_then(Value::as_str),
            answer.as_object_mut(),
        ) {
            map.insert("client_name".into(), json!(name));
        }
        Ok(answer)
    }
}
