//! # mcp-authz-driver
//!
//! The std and tokio pieces the mcp-authz adapters share, in one place: the clock, the HTTPS
//! fetcher, start-up discovery of the authorization server, the JWK Set fetch step of the core's
//! refresh policy, the conversion of the core's answers to `http` responses, the request head
//! the core reads, and the authorization options every adapter takes.
//!
//! **This crate is for the adapters** (`mcp-authz-hyper`, `mcp-authz-lambda`, and the `mcp-authz`
//! command). Depend on an adapter: it re-exports what its users need. The decisions are all in
//! `mcp-authz-core`, which does no IO at all; this crate does the IO and decides nothing. Its
//! one request loop (`Authorizer::authorize`) drives the core's exchange for every adapter.
//!
//! Only the documented items are API. The rest is public because the adapters are other crates;
//! it is hidden from the docs, may change in any release, and the adapters depend on this
//! crate's exact version.
//!
//! Why a crate and not a `std` feature of the core: the core's contract is that it never reads a
//! clock or a socket, and CI holds it to that by building it without `std`. An HTTPS client, a
//! clock and tokio behind a feature of the same crate would make that contract depend on a flag,
//! and put hyper and rustls into the core's dependency graph.

// The core's panic rules hold here too: bad input is an error, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::panic))]

mod caches;
#[cfg(feature = "cedar")]
mod cedar;
mod discovery;
mod fetch;
mod headers;
mod introspection;
mod keys;
#[doc(hidden)]
pub mod observe;
mod options;
mod principal;
mod readiness;
mod request;
mod response;
mod start;
mod store;
mod token_exchange;

// What the adapters re-export to their users: stable, documented API.
/// Cedar policies as the scope policy's engine (feature `cedar`).
#[cfg(feature = "cedar")]
pub use cedar::CedarEngine;
pub use discovery::StartupError;
pub use fetch::FetchOptions;
pub use keys::KeyStore;
pub use principal::PrincipalExt;
pub use readiness::Readiness;
pub use token_exchange::{DownstreamTokens, KeySigner};

// The core types the options take, for the setters macro and the adapters' re-exports.
pub use mcp_authz_core::dpop::DpopMode;
pub use mcp_authz_core::jwks_refresh::JwksRefreshConfig;
pub use mcp_authz_core::scope_policy::colon_hierarchy;
pub use mcp_authz_core::token_cache::TokenCacheLimits;
pub use mcp_authz_core::token_exchange::{ExchangeClient, ExchangeProfile, ExchangeTarget};
pub use mcp_authz_core::token_introspection::ClientAuthentication;
pub use mcp_authz_core::{
    IntrospectionMode, JwkSet, Principal, ProtectedResourceMetadata, ScopePolicy, TypPolicy,
};

// The adapters' shared machinery: public only because the adapters are other crates. Not API:
// hidden from the docs, and the adapters pin this crate's exact version.
#[doc(hidden)]
pub use caches::SharedCache;
#[doc(hidden)]
pub use discovery::{fetch_metadata, Discovered, ServerSource, TrustedServer};
#[doc(hidden)]
pub use fetch::{https_connector, now, FetchError, HttpFetcher};
#[doc(hidden)]
pub use introspection::Introspector;
#[doc(hidden)]
pub use keys::{random_id, OnNewKeys, Refresh};
#[doc(hidden)]
pub use options::{AuthzOptions, MetadataEdit, TokenExchangeOptions};
#[doc(hidden)]
pub use readiness::lazy_servers;
#[doc(hidden)]
pub use request::{Authorizer, BodySource, Verdict};
#[doc(hidden)]
pub use response::{json_error, json_error_with, ListAnswer};
#[doc(hidden)]
pub use start::discover_servers;
#[doc(hidden)]
pub use token_exchange::TokenExchanger;
