//! The one error type, and the one place where a rejection becomes an RFC 6750 error code and an
//! HTTP status.
//!
//! Every rejection has a stable, snake_case reason name ([`Error::reason`]) that adapters log and
//! the `mcp-authz verify` command prints. The texts are static: no error ever carries token bytes
//! or other attacker-controlled input.
//!
//! The mapping to the wire is [`Error::bearer_error`] and [`Error::http_status`]
//! ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)).

use core::fmt;

/// Declares a reason enum from one list: each variant with its stable reason name and its fixed
/// description. The list is the only place a variant is named, so `ALL`, `reason` and
/// `description` cannot miss one (the generated matches are exhaustive).
macro_rules! reasons {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $reason:literal, $description:literal; )*
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every variant, in declaration order (generated from the declaration).
            pub const ALL: &'static [$name] = &[$( Self::$variant, )*];

            /// The stable snake_case name of this rejection.
            pub fn reason(&self) -> &'static str {
                match self {
                    $( Self::$variant => $reason, )*
                }
            }

            /// A fixed human-readable description (suitable for `error_description`).
            pub fn description(&self) -> &'static str {
                match self {
                    $( Self::$variant => $description, )*
                }
            }
        }
    };
}

/// Everything that can go wrong in this crate.
///
/// Variants nest a per-area enum (`Copy + PartialEq`), so tests can `assert_eq!` an exact reason.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The access token is unusable: malformed, badly signed, expired, for another audience, …
    /// (RFC 6750 `invalid_token`, HTTP 401).
    InvalidToken(TokenError),
    /// The token is valid but lacks a scope this request needs
    /// (RFC 6750 `insufficient_scope`, HTTP 403).
    InsufficientScope,
    /// The token is valid but a rule no scope can satisfy refuses the request: a role, client,
    /// subject, issuer, tenant or claim condition (HTTP 403 without a step-up challenge, so no
    /// client re-authorizes in a loop).
    NotPermitted,
    /// A JWK Set document could not be used at all.
    InvalidJwks(JwksError),
    /// The request is malformed in a way that concerns authorization: several credentials, a
    /// token outside the `Authorization` header (RFC 6750 `invalid_request`, HTTP 400), or a body
    /// the scope policy cannot read, or MCP headers that contradict it (400, 413 or 415, without
    /// a challenge: the credentials were fine).
    InvalidRequest(RequestError),
    /// There are no keys to verify with: the JWK Set could not be fetched and nothing usable is
    /// cached (HTTP 503 with `Retry-After`; never 401, never an accept).
    KeysUnavailable {
        /// Seconds after which the client may retry.
        retry_after_secs: u32,
    },
    /// The DPoP proof is not acceptable (RFC 9449 §7.1: `WWW-Authenticate: DPoP
    /// error="invalid_dpop_proof"`, HTTP 401).
    InvalidDpopProof(DpopError),
    /// The token needs introspection (RFC 7662) and the authorization server did not answer
    /// usably: down, slow, an error status, or a response that is not an introspection response
    /// (HTTP 503 with `Retry-After`; never 401 for a token that could not be checked).
    IntrospectionUnavailable {
        /// Seconds after which the client may retry.
        retry_after_secs: u32,
    },
    /// The rate limits cannot be counted (their shared store is unreachable) and they are to
    /// fail closed: HTTP 503 with `Retry-After`, never forwarded.
    RateLimitStoreUnavailable {
        /// Seconds after which the client may retry.
        retry_after_secs: u32,
    },
    /// The state a request is checked against (which caller its MCP session belongs to; whether
    /// its DPoP proof was used before) is in a store that could not answer: HTTP 503 with
    /// `Retry-After`, never forwarded unchecked.
    StoreUnavailable {
        /// Seconds after which the client may retry.
        retry_after_secs: u32,
    },
    /// The caller is over a rate limit ([`crate::rate_limit`]): HTTP 429 with `Retry-After`,
    /// never forwarded, no challenge (the token is fine).
    RateLimited {
        /// Seconds after which one more request is allowed.
        retry_after_secs: u32,
    },
    /// No token of the downstream API could be had for the caller
    /// ([`crate::token_exchange`]): HTTP 502 (the authorization server refused, or answered
    /// nonsense) or 503 with `Retry-After` (it could not be asked); never forwarded with the
    /// caller's own token, never forwarded without one.
    TokenExchange(ExchangeError),
}

reasons! {
    /// Why no token of the downstream API could be had ([`crate::token_exchange`]).
    #[non_exhaustive]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ExchangeError {
        /// The token endpoint could not be asked: down, slow, a server error (503).
        Unavailable => "exchange_unavailable", "the authorization server could not be asked for a token of the downstream API";
        /// The answer is not a token response.
        Malformed => "exchange_malformed", "the authorization server's answer to the token exchange is not a token response";
        /// The issued token is not a bearer access token (`N_A`, `DPoP`, a refresh or ID token).
        NotABearerToken => "exchange_not_bearer", "the authorization server issued no bearer access token for the downstream API";
        /// `invalid_grant`: the inbound token may not be exchanged (expired, revoked, for
        /// another audience, not allowed by policy).
        InvalidGrant => "exchange_invalid_grant", "the authorization server refused to exchange the caller's token";
        /// `invalid_client`: this resource server's client credentials were refused.
        InvalidClient => "exchange_invalid_client", "the authorization server refused this resource server's client credentials";
        /// `unauthorized_client`: the client may not use this grant.
        UnauthorizedClient => "exchange_unauthorized_client", "this resource server's client may not exchange tokens";
        /// `invalid_scope`: the scopes asked for are not allowed.
        InvalidScope => "exchange_invalid_scope", "the scopes asked of the downstream API are not allowed";
        /// `invalid_target`: the audience or resource is unknown or not allowed (RFC 8693).
        InvalidTarget => "exchange_invalid_target", "the downstream API is unknown to the authorization server or not allowed";
        /// `unsupported_grant_type`: the server does not do token exchange (or on-behalf-of).
        UnsupportedGrantType => "exchange_unsupported_grant", "the authorization server does not support this token exchange grant";
        /// `invalid_request`.
        InvalidRequest => "exchange_invalid_request", "the authorization server found the token exchange request invalid";
        /// The user must sign in again: multi-factor authentication or conditional access
        /// (`interaction_required`; Entra AADSTS50076, 50079, 50158, 53003).
        InteractionRequired => "exchange_interaction_required", "the user must sign in again before the downstream API can be called";
        /// Nobody consented to the downstream API's scopes (Entra AADSTS65001).
        ConsentRequired => "exchange_consent_required", "the user or an administrator has not consented to the downstream API";
        /// The inbound token has no user, only an application (Entra AADSTS7000114): there is
        /// nobody to act on behalf of.
        AppOnlyCaller => "exchange_app_only_caller", "the caller's token is an application's, with no user to act on behalf of";
        /// Another refusal.
        Refused => "exchange_refused", "the authorization server refused the token exchange";
        /// The `private_key_jwt` client assertion could not be made.
        ClientAssertion => "exchange_client_assertion", "the client assertion could not be signed";
        /// An on-behalf-of target without scope, resource or audience.
        NoScope => "exchange_no_scope", "the downstream API has no scope, resource or audience to ask for";
        /// The inbound token expired before it could be exchanged (it is never exchanged then).
        InboundExpired => "exchange_inbound_expired", "the caller's token expired before it could be exchanged";
    }
}

reasons! {
    /// Why a DPoP proof was refused ([RFC 9449 §4.3](https://www.rfc-editor.org/rfc/rfc9449#section-4.3):
    /// `WWW-Authenticate: DPoP error="invalid_dpop_proof"`, HTTP 401).
    #[non_exhaustive]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum DpopError {
        /// A DPoP-bound token (or `Authorization: DPoP`) came without a `DPoP` header.
        MissingProof => "dpop_missing_proof", "a DPoP proof is required";
        /// More than one `DPoP` header, or a comma-joined value.
        MultipleProofs => "dpop_multiple_proofs", "exactly one DPoP proof is required";
        /// Not a compact JWS with a strict JSON header and claims.
        Malformed => "dpop_malformed", "the DPoP proof is not a well-formed JWT";
        /// `typ` is not `dpop+jwt`.
        InvalidTyp => "dpop_invalid_typ", "the DPoP proof typ is not dpop+jwt";
        /// `alg` is not one of the accepted asymmetric algorithms.
        AlgNotAllowed => "dpop_alg_not_allowed", "the DPoP proof algorithm is not accepted";
        /// `jwk` is missing, not a usable public key, or does not fit `alg`.
        InvalidJwk => "dpop_invalid_jwk", "the DPoP proof key is not a usable public key";
        /// `jwk` carries private key members.
        PrivateJwk => "dpop_private_jwk", "the DPoP proof key contains private key material";
        /// The signature does not verify with `jwk`.
        InvalidSignature => "dpop_invalid_signature", "the DPoP proof signature is invalid";
        /// `htm` is missing or not the request's method.
        MethodMismatch => "dpop_htm_mismatch", "the DPoP proof is for another HTTP method";
        /// `htu` is missing or not the request's URI.
        UriMismatch => "dpop_htu_mismatch", "the DPoP proof is for another URI";
        /// `iat` is missing or outside the accepted window.
        IatOutOfWindow => "dpop_iat_out_of_window", "the DPoP proof is too old or from the future";
        /// `jti` is missing, empty or too long.
        MissingJti => "dpop_missing_jti", "the DPoP proof has no usable jti";
        /// The proof was accepted before.
        Replayed => "dpop_replayed", "the DPoP proof was used before";
        /// `ath` is missing or not the hash of the presented token.
        AthMismatch => "dpop_ath_mismatch", "the DPoP proof is for another access token";
        /// A claim has the wrong JSON type.
        InvalidClaim => "dpop_invalid_claim", "a DPoP proof claim has the wrong type";
        /// Nonces are required and the proof has none, or one this server did not hand out
        /// lately (RFC 9449 §9: `error="use_dpop_nonce"` with a fresh `DPoP-Nonce`).
        UseNonce => "dpop_use_nonce", "the DPoP proof must carry the server's current nonce";
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl core::error::Error for DpopError {}

reasons! {
    /// Why a request was refused as malformed (RFC 6750 `invalid_request`).
    #[non_exhaustive]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RequestError {
        /// More than one `Authorization` header.
        MultipleAuthorizationHeaders => "multiple_authorization_headers", "more than one Authorization header";
        /// One `Authorization` header with several credentials (`Bearer a,Bearer b`, as API Gateway
        /// joins duplicate headers).
        MultipleCredentials => "multiple_credentials", "more than one credential in the Authorization header";
        /// The `Authorization: Bearer` value is not a token68 (RFC 7235 §2.1).
        MalformedAuthorization => "malformed_authorization", "the Authorization header is malformed";
        /// An `access_token` query parameter (RFC 6750 §2.3): MCP forbids it.
        TokenInQuery => "token_in_query", "access tokens are accepted only in the Authorization header";
        /// An `access_token` form-body parameter (RFC 6750 §2.2): MCP forbids it.
        TokenInBody => "token_in_body", "access tokens are accepted only in the Authorization header";
        /// The `Mcp-Method` or `Mcp-Name` header contradicts the JSON-RPC body (MCP 2026-07-28,
        /// Streamable HTTP: JSON-RPC error `-32020`, HeaderMismatch).
        McpHeaderMismatch => "mcp_header_mismatch", "the MCP request headers contradict the request body";
        /// An `Origin` header names an origin this resource does not allow (MCP Streamable HTTP:
        /// servers must validate `Origin`; 403).
        OriginNotAllowed => "origin_not_allowed", "the request origin is not allowed";
        /// The JSON-RPC body is needed to decide the scopes and is not a JSON-RPC request.
        UnreadableBody => "unreadable_body", "the request body is not a JSON-RPC request";
        /// An `Mcp-Method` or `Mcp-Name` header is repeated, holds bytes that are not visible ASCII,
        /// or is a `=?base64?…?=` value that is not canonical base64 of UTF-8 (SEP-2243).
        InvalidMcpHeader => "invalid_mcp_header", "an MCP request header is repeated or not a valid value";
        /// The scope policy must read the body, and its `Content-Type` is absent or not JSON
        /// (`application/json` or `…+json`), e.g. a form, `text/plain` or multipart (HTTP 415).
        UnsupportedMediaType => "unsupported_media_type", "the request body must be application/json";
        /// The scope policy must read the body, and it has a `Content-Encoding` other than
        /// `identity` (HTTP 415, [RFC 9110 §15.5.16](https://www.rfc-editor.org/rfc/rfc9110#section-15.5.16)).
        UnsupportedContentEncoding => "unsupported_content_encoding", "the request body must not be content-encoded";
        /// More than one `Content-Type` header: which one the server reads is anybody's guess.
        MultipleContentTypes => "multiple_content_types", "more than one Content-Type header";
        /// The body the scope policy must read is larger than the configured maximum (HTTP 413).
        BodyTooLarge => "body_too_large", "the request body is too large";
        /// The `Mcp-Session-Id` names a session another principal opened (HTTP 404, as MCP answers
        /// a session the server does not know: the client starts a new one).
        SessionNotFound => "session_not_found", "the session does not exist for this caller";
        /// More than one `Mcp-Session-Id` header.
        MultipleSessionIds => "multiple_session_ids", "more than one Mcp-Session-Id header";
    }
}

reasons! {
    /// Why an access token was rejected. Every variant maps to RFC 6750 `invalid_token`.
    #[non_exhaustive]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum TokenError {
        /// The token is longer than the configured maximum (checked before any decoding).
        TooLarge => "token_too_large", "the access token is too large";
        /// Not a JWS in compact serialization: not exactly three non-empty dot-separated parts.
        Malformed => "malformed_jws", "the access token is not a compact JWS";
        /// A part is not canonical unpadded base64url (padding, whitespace, non-zero trailing bits).
        InvalidBase64 => "invalid_base64", "the access token is not canonical base64url";
        /// The header or the claims are not a JSON object (or not UTF-8, or too deeply nested).
        InvalidJson => "invalid_json", "the access token header or claims are not a JSON object";
        /// A JSON object in the header or the claims repeats a member name.
        DuplicateMember => "duplicate_member", "the access token repeats a JSON member";
        /// A header parameter is missing or has the wrong JSON type (`alg`, `kid`, `typ`, `crit`).
        InvalidHeader => "invalid_header", "the access token header is invalid";
        /// `alg` is `none` (in any letter case): unsecured JWS are never accepted.
        AlgNone => "alg_none", "unsecured access tokens are not accepted";
        /// `alg` names an algorithm this crate never accepts (`HS256`, `ES512`, `RSA-OAEP`, …).
        UnsupportedAlg => "unsupported_alg", "the access token algorithm is not supported";
        /// `alg` is supported, but the verifier's configuration does not allow it.
        AlgNotAllowed => "alg_not_allowed", "the access token algorithm is not allowed";
        /// The header has no `kid`, and the configuration requires one (or several keys fit).
        MissingKid => "missing_kid", "the access token does not identify its key";
        /// No key in the key set has the token's `kid` (the caller may refresh the set).
        UnknownKid => "unknown_kid", "the access token key is unknown";
        /// Several keys in the set have the token's `kid` and fit its `alg`.
        AmbiguousKid => "ambiguous_kid", "the access token key is ambiguous";
        /// The key named by `kid` does not fit the token's `alg` (type, curve, or the key's own `alg`).
        KeyAlgMismatch => "key_alg_mismatch", "the access token key does not fit its algorithm";
        /// The signature does not verify with the selected key.
        InvalidSignature => "invalid_signature", "the access token signature is invalid";
        /// The header has a `crit` parameter naming an extension this crate does not understand.
        UnsupportedCrit => "unsupported_crit", "the access token has an unsupported critical header";
        /// The header `typ` is not `at+jwt` (RFC 9068 §2.1), and the configuration is strict.
        InvalidTyp => "invalid_typ", "the token is not a JWT access token";
        /// A registered claim has the wrong JSON type (a string `exp`, a numeric `iss`, …), or a
        /// `NumericDate` outside 0 ..= 2^53 − 1.
        InvalidClaimType => "invalid_claim_type", "an access token claim has the wrong type";
        /// The token has no `exp` claim.
        MissingExp => "missing_exp", "the access token has no expiry";
        /// `exp` is in the past (beyond the leeway).
        Expired => "expired", "the access token expired";
        /// `nbf` is in the future (beyond the leeway).
        NotYetValid => "not_yet_valid", "the access token is not valid yet";
        /// `iat` is in the future (beyond the leeway).
        IssuedInFuture => "issued_in_future", "the access token was issued in the future";
        /// The token has no `iss` claim.
        MissingIssuer => "missing_iss", "the access token has no issuer";
        /// The token is bound to a key (`cnf`, RFC 7800; DPoP or mTLS) but was presented as a
        /// bearer token: a bound token is never usable as one (RFC 9449 §7.1).
        BoundTokenAsBearer => "bound_token_as_bearer", "a sender-constrained access token must be presented with its proof";
        /// The resource requires DPoP, and the token came as a bearer token (RFC 9449 §7.1).
        BearerNotAccepted => "bearer_not_accepted", "this resource accepts DPoP-bound access tokens only";
        /// The token's `cnf.jkt` is not the thumbprint of the DPoP proof's key (RFC 9449 §6.1).
        DpopKeyMismatch => "dpop_key_mismatch", "the access token is bound to another DPoP key";
        /// `iss` is not exactly the configured issuer.
        WrongIssuer => "wrong_iss", "the access token issuer is not trusted";
        /// The authorization server's introspection says the token is not active (RFC 7662
        /// §2.2 `active: false`: expired, revoked, or never issued).
        Inactive => "token_inactive", "the access token is not active";
        /// The introspection response's `token_type` is not an access token type.
        NotAnAccessToken => "not_an_access_token", "the token is not an access token";
        /// The issuer is a tenant template (`{tenantid}`) and `iss` is not that template with the
        /// token's own `tid` claim in it (or the token has no `tid`).
        IssuerTenantMismatch => "iss_tid_mismatch", "the access token issuer does not match its tenant";
        /// `tid` is not in the configured tenant allow-list.
        TenantNotAllowed => "tenant_not_allowed", "the access token tenant is not allowed";
        /// The token has no `aud` claim.
        MissingAudience => "missing_aud", "the access token has no audience";
        /// `aud` does not name this resource.
        WrongAudience => "wrong_aud", "the access token is not meant for this resource";
        /// The token lives longer than the configured maximum (`exp − iat`, or `exp − now` without
        /// `iat`).
        LifetimeTooLong => "lifetime_too_long", "the access token lives longer than this resource accepts";
    }
}

reasons! {
    /// Why a JWK Set document was refused as a whole.
    ///
    /// Single keys that cannot be used are skipped, not refused: see
    /// [`SkippedKey`](crate::jose::jwk::SkippedKey).
    #[non_exhaustive]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum JwksError {
        /// The document is larger than the configured maximum.
        TooLarge => "jwks_too_large", "the JWK Set is larger than allowed";
        /// The document holds more keys than the configured maximum.
        TooManyKeys => "jwks_too_many_keys", "the JWK Set holds more keys than allowed";
        /// The document is not JSON, or not a JSON object.
        InvalidJson => "jwks_invalid_json", "the JWK Set is not a JSON object";
        /// A JSON object in the document repeats a member name.
        DuplicateMember => "jwks_duplicate_member", "the JWK Set repeats a JSON member";
        /// The document has no `keys` array, or an element of it is not an object.
        NotAJwkSet => "jwks_not_a_jwk_set", "the document has no \"keys\" array of objects";
        /// A key carries private or symmetric key material (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`,
        /// `k`). The whole set is refused: whoever published it has leaked a signing secret.
        PrivateKeyMaterial => "jwks_private_key_material", "the JWK Set publishes private or symmetric key material";
    }
}

/// The `error` attribute of a `WWW-Authenticate: Bearer` challenge
/// ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BearerError {
    /// `invalid_request` (HTTP 400).
    InvalidRequest,
    /// `invalid_token` (HTTP 401).
    InvalidToken,
    /// `insufficient_scope` (HTTP 403).
    InsufficientScope,
}

impl BearerError {
    /// The error code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

impl fmt::Display for BearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The stable snake_case name of this rejection, for logs and machine-readable output.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidToken(e) => e.reason(),
            Self::InsufficientScope => "insufficient_scope",
            Self::NotPermitted => "not_permitted",
            Self::InvalidJwks(e) => e.reason(),
            Self::InvalidRequest(e) => e.reason(),
            Self::KeysUnavailable { .. } => "keys_unavailable",
            Self::IntrospectionUnavailable { .. } => "introspection_unavailable",
            Self::InvalidDpopProof(e) => e.reason(),
            Self::RateLimited { .. } => "rate_limited",
            Self::RateLimitStoreUnavailable { .. } => "rate_limit_store_unavailable",
            Self::StoreUnavailable { .. } => "state_store_unavailable",
            Self::TokenExchange(e) => e.reason(),
        }
    }

    /// The RFC 6750 error code a challenge for this error carries, if it is a request rejection.
    ///
    /// This and [`Error::http_status`] are the only mapping from reasons to the wire.
    pub fn bearer_error(&self) -> Option<BearerError> {
        match self {
            Self::InvalidToken(_) => Some(BearerError::InvalidToken),
            Self::InsufficientScope => Some(BearerError::InsufficientScope),
            // No challenge: re-authorizing cannot help.
            Self::NotPermitted => None,
            Self::InvalidRequest(e) if e.concerns_credentials() => {
                Some(BearerError::InvalidRequest)
            }
            // A body or MCP header the policy cannot use: the credentials were fine, so no
            // challenge (which would send the client back to the authorization server).
            Self::InvalidRequest(_) => None,
            // No keys is the server's problem, never the client's.
            Self::InvalidJwks(_)
            | Self::KeysUnavailable { .. }
            | Self::IntrospectionUnavailable { .. } => None,
            // Answered in the DPoP scheme only ([`Error::dpop_error`]).
            Self::InvalidDpopProof(_) => None,
            // The token is fine: waiting helps, re-authorizing does not.
            Self::RateLimited { .. }
            | Self::RateLimitStoreUnavailable { .. }
            | Self::StoreUnavailable { .. }
            | Self::TokenExchange(_) => None,
        }
    }

    /// The error code a `WWW-Authenticate: DPoP` challenge for this error carries (RFC 9449
    /// §7.1): `invalid_dpop_proof` for a bad proof, else the RFC 6750 code.
    pub fn dpop_error(&self) -> Option<&'static str> {
        match self {
            Self::InvalidDpopProof(DpopError::UseNonce) => Some("use_dpop_nonce"),
            Self::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            other => other.bearer_error().map(|b| b.as_str()),
        }
    }

    /// The HTTP status a response for this error carries.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidToken(_) | Self::InvalidDpopProof(_) => 401,
            Self::InsufficientScope | Self::NotPermitted => 403,
            Self::InvalidRequest(e) => e.http_status(),
            // No usable keys: the resource cannot verify anything right now.
            Self::InvalidJwks(_)
            | Self::KeysUnavailable { .. }
            | Self::IntrospectionUnavailable { .. } => 503,
            Self::RateLimited { .. } => 429,
            Self::RateLimitStoreUnavailable { .. } | Self::StoreUnavailable { .. } => 503,
            Self::TokenExchange(ExchangeError::Unavailable) => 503,
            Self::TokenExchange(_) => 502,
        }
    }

    /// A fixed human-readable description (suitable for `error_description`).
    pub fn description(&self) -> &'static str {
        match self {
            Self::InvalidToken(e) => e.description(),
            Self::InsufficientScope => "the access token lacks a scope this request needs",
            Self::NotPermitted => {
                "the access token's holder may not make this request; no other scope would allow it"
            }
            Self::InvalidJwks(e) => e.description(),
            Self::InvalidRequest(e) => e.description(),
            Self::KeysUnavailable { .. } => "the resource cannot verify access tokens right now",
            Self::IntrospectionUnavailable { .. } => {
                "the resource cannot check access tokens with the authorization server right now"
            }
            Self::InvalidDpopProof(e) => e.description(),
            Self::RateLimited { .. } => "too many requests from this caller; retry later",
            Self::RateLimitStoreUnavailable { .. } => {
                "the resource cannot count requests against its limits right now"
            }
            Self::StoreUnavailable { .. } => {
                "the resource cannot check this request's session or proof against its shared state right now"
            }
            Self::TokenExchange(e) => e.description(),
        }
    }
}

impl RequestError {
    /// Whether the error is about the credentials (RFC 6750 `invalid_request`, with a
    /// challenge), rather than about a body or MCP header the scope policy cannot use.
    pub fn concerns_credentials(&self) -> bool {
        match self {
            Self::MultipleAuthorizationHeaders
            | Self::MultipleCredentials
            | Self::MalformedAuthorization
            | Self::TokenInQuery
            | Self::TokenInBody => true,
            Self::McpHeaderMismatch
            | Self::OriginNotAllowed
            | Self::UnreadableBody
            | Self::InvalidMcpHeader
            | Self::UnsupportedMediaType
            | Self::SessionNotFound
            | Self::MultipleSessionIds
            | Self::UnsupportedContentEncoding
            | Self::MultipleContentTypes
            | Self::BodyTooLarge => false,
        }
    }

    /// The HTTP status of a response for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnsupportedMediaType | Self::UnsupportedContentEncoding => 415,
            Self::BodyTooLarge => 413,
            Self::MultipleAuthorizationHeaders
            | Self::MultipleCredentials
            | Self::MalformedAuthorization
            | Self::TokenInQuery
            | Self::TokenInBody
            | Self::McpHeaderMismatch
            | Self::UnreadableBody
            | Self::InvalidMcpHeader
            | Self::MultipleContentTypes
            | Self::MultipleSessionIds => 400,
            Self::OriginNotAllowed => 403,
            Self::SessionNotFound => 404,
        }
    }

    /// The JSON-RPC error code the response body carries, for the errors the MCP transport
    /// answers in JSON-RPC: `-32020` (HeaderMismatch) for MCP headers that contradict the body
    /// or cannot be decoded (MCP 2026-07-28, Streamable HTTP, "Standard Request Headers").
    pub fn json_rpc_code(&self) -> Option<i32> {
        match self {
            Self::McpHeaderMismatch | Self::InvalidMcpHeader => Some(-32020),
            _ => None,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Self {
        Self::InvalidRequest(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl core::error::Error for Error {}
impl core::error::Error for TokenError {}
impl core::error::Error for RequestError {}
impl core::error::Error for JwksError {}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl core::error::Error for ExchangeError {}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Self::InvalidToken(e)
    }
}

impl From<ExchangeError> for Error {
    fn from(e: ExchangeError) -> Self {
        Self::TokenExchange(e)
    }
}

impl From<DpopError> for Error {
    fn from(e: DpopError) -> Self {
        Self::InvalidDpopProof(e)
    }
}

impl From<JwksError> for Error {
    fn from(e: JwksError) -> Self {
        Self::InvalidJwks(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    #[test]
    fn reason_names_are_unique_snake_case() {
        let mut seen = BTreeSet::new();
        let reasons = TokenError::ALL
            .iter()
            .map(|e| e.reason())
            .chain(RequestError::ALL.iter().map(|e| e.reason()))
            .chain(JwksError::ALL.iter().map(|e| e.reason()))
            .chain(["insufficient_scope", "keys_unavailable"]);
        for r in reasons {
            assert!(
                r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{r}"
            );
            assert!(seen.insert(r), "duplicate reason {r}");
        }
    }

    #[test]
    fn every_token_error_is_invalid_token_401() {
        for &e in TokenError::ALL {
            let e = Error::from(e);
            assert_eq!(e.bearer_error(), Some(BearerError::InvalidToken));
            assert_eq!(e.http_status(), 401);
        }
        assert_eq!(
            Error::InsufficientScope.bearer_error(),
            Some(BearerError::InsufficientScope)
        );
        assert_eq!(Error::InsufficientScope.http_status(), 403);
        for &e in RequestError::ALL {
            let credentials = e.concerns_credentials();
            let status = e.http_status();
            let e = Error::from(e);
            assert_eq!(e.http_status(), status);
            if credentials {
                assert_eq!(e.bearer_error(), Some(BearerError::InvalidRequest));
                assert_eq!(status, 400);
            } else {
                assert_eq!(e.bearer_error(), None, "{e:?}");
                assert!(matches!(status, 400 | 403 | 404 | 413 | 415), "{e:?}");
            }
        }
        let e = Error::KeysUnavailable {
            retry_after_secs: 5,
        };
        assert_eq!(
            (e.bearer_error(), e.http_status(), e.reason()),
            (None, 503, "keys_unavailable")
        );
    }
}
