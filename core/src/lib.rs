//! # mcp-authz-core
//!
//! The IO-free heart of mcp-authz: everything an OAuth 2.0 resource server in front of an MCP
//! server decides, and nothing it does. This crate never reads a clock, a socket or a file. Time
//! comes in as a [`UnixTime`], bytes come in as slices, and decisions and documents go out; the
//! adapters (`mcp-authz-hyper`, `mcp-authz-lambda`) own the IO. It is `#![no_std]` with `alloc`.
//!
//! ## Verifying an access token
//!
//! ```
//! use mcp_authz_core::{AccessTokenVerifier, JwkSet, JwksLimits, UnixTime, VerifierConfig};
//!
//! // Bytes the adapter fetched from the authorization server's `jwks_uri`.
//! let jwks = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
//!     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//! let keys = JwkSet::parse(jwks, &JwksLimits::default())?;
//!
//! let verifier = AccessTokenVerifier::new(VerifierConfig::new(
//!     "https://auth.example.com",    // `iss`, byte for byte
//!     "https://mcp.example.com/mcp", // this resource: `aud` must name it
//! ));
//! // The time comes from the caller: the adapter reads the clock, tests pass any instant.
//! let now = UnixTime::from_secs(1_700_000_000);
//! let err = verifier.verify("not.a.token", &keys, now).unwrap_err();
//! assert_eq!(err.reason(), "invalid_base64");
//! assert_eq!(err.http_status(), 401);
//! # Ok::<(), mcp_authz_core::JwksError>(())
//! ```
//!
//! ## Layout
//!
//! Folders by concern, each module named after the RFC concept it implements; every module is
//! also at the crate root (`mcp_authz_core::guard`), whatever folder holds it.
//! - request: [`exchange`], the request loop every adapter drives ([`Guard::exchange`],
//!   [`Exchange::poll`]); [`guard`], one protected resource ([`Guard`]); [`verdict`], the only
//!   place a request is allowed; [`mcp_request`], the JSON-RPC body, its media type and the
//!   `Mcp-Method`/`Mcp-Name` headers (SEP-2243) as the scope policy reads them.
//! - policy: [`scope_policy`], what a request needs ([`ScopePolicy`]), from [`rules`] beyond scopes.
//! - discovery: [`as_metadata`] (RFC 8414, OIDC Discovery: validation, well-known URL ↔
//!   issuer), [`resource_metadata`] (RFC 9728), [`challenge`] (credentials and
//!   `WWW-Authenticate` challenges, RFC 6750, RFC 9728 §5.1), [`as_facade`] (an authorization
//!   server facade for providers outside MCP's OAuth profile: Entra ID, Auth0, Okta).
//! - token: [`access_token`] (JWT claims under RFC 9068), [`dpop`] (RFC 9449),
//!   [`token_cache`], [`token_introspection`] (RFC 7662), [`token_exchange`] (RFC 8693 and
//!   Entra on-behalf-of: a token of a downstream API for the caller).
//! - [`jose`]: JWS (RFC 7515), JWK (RFC 7517), the algorithm table (RFC 7518, 8037, 9864), and
//!   [`jwks_refresh`], the JWK Set refresh policy, a `poll_*`/`handle_*` state machine.
//! - base: [`http_message`] (the request head and the answer as the core sees them),
//!   [`resource_indicator`] (`aud` ↔ resource, RFC 8707, RFC 3986 §6), [`error`] (the one
//!   error type and the one map to RFC 6750 and HTTP), [`time`] ([`UnixTime`], the only notion
//!   of time), [`crypto`] (the backend, `ring` or `aws-lc-rs`, one per build).

#![no_std]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![cfg_attr(not(test), deny(clippy::panic))]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod discovery;
mod policy;
mod request;
mod token;

pub mod crypto;
pub mod error;
pub mod http_message;
pub mod jose;
mod json;
pub mod resource_indicator;
pub mod time;

// The modules keep their paths (`mcp_authz_core::guard`, …) whatever folder holds them.
pub use discovery::{as_facade, as_metadata, challenge, rediscovery, resource_metadata};
pub use jose::jwks_refresh;
pub use policy::{rate_limit, rules, scope_policy};
pub use request::{exchange, guard, list_filter, mcp_request, param_headers, session, verdict};
pub use token::{access_token, dpop, token_cache, token_exchange, token_introspection};

// The paved path: what an adapter or a verifying program needs. Everything else is in its module.
pub use access_token::{AccessTokenVerifier, Principal, TypPolicy, VerifierConfig};
pub use as_metadata::{AuthorizationServerMetadata, MetadataPolicy};
pub use error::{DpopError, Error, ExchangeError, JwksError, RequestError, TokenError};
pub use exchange::{BodyFailure, Exchange, ProofRecord, Step, StoreUnavailable};
pub use guard::{Guard, PublicPathError};
pub use http_message::{KeyState, Request, Response};
pub use jose::alg::{Algorithm, AlgorithmSet};
pub use jose::jwk::{JwkSet, JwksLimits};
pub use jwks_refresh::{JwksRefresh, JwksRefreshConfig, RetryAfter};
pub use resource_metadata::ProtectedResourceMetadata;
pub use scope_policy::ScopePolicy;
pub use time::UnixTime;
pub use token_cache::{PrincipalCache, TokenCache, TokenCacheLimits};
pub use token_introspection::{IntrospectionCache, IntrospectionConfig, IntrospectionMode};
pub use verdict::{Allowed, Public};
