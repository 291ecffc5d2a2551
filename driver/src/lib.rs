//! # mcp-authz-driver
//!
//! The std and tokio pieces the mcp-authz adapters share, in one place: the clock, the HTTPS
//! fetcher, start-up discovery of the authorization server, the JWK Set fetch step of the core's
//! refresh policy, the conversion of the core's answers to `http` responses, the request head
//! the core reads, and the authorization options every adapter takes.
//!
//! **This crate is for the adapters** (`mcp-authz-hyper`, `mcp-authz-lambda`, and the `mcp-authz`
//! command). Depend on an adapter: it re-exports what its users need. The decisions are all in
//! `mcp-authz-core`, which does no IO at all; this crate does the IO and decides nothing.
//!
//! Why a crate and not a `std` feature of the core: the core's contract is that it never reads a
//! clock or a socket, and CI holds it to that by building it without `std`. An HTTPS client, a
//! clock and tokio behind a feature of the same crate would make that contract depend on a flag,
//! and put hyper and rustls into the core's dependency graph.

mod discovery;
mod fetch;
mod headers;
mod introspection;
mod jwks;
pub mod observe;
mod options;
mod principal;
mod response;

pub use discovery::{discover, discover_all, fetch_metadata, Discovered, StartupError};
pub use fetch::{https_connector, now, FetchError, FetchOptions, Fetched, HttpFetcher};
pub use headers::CoreHeaders;
pub use introspection::{answer_introspection, Introspector};
pub use jwks::{fetch_due, random, SharedCache, SharedReplayCache};
pub use options::{entra_v1_issuer, AuthzOptions, MetadataEdit, ServerSource, TrustedServer};
pub use principal::PrincipalExt;
pub use response::{build, json_error, json_error_with, to_http};

// The core types the options take, for the setters macro and the adapters' re-exports.
pub use mcp_authz_core::dpop::DpopMode;
pub use mcp_authz_core::jwks_refresh::JwksRefreshConfig;
pub use mcp_authz_core::scope_policy::colon_hierarchy;
pub use mcp_authz_core::token_cache::TokenCacheLimits;
pub use mcp_authz_core::token_introspection::ClientAuthentication;
pub use mcp_authz_core::{
    IntrospectionMode, JwkSet, Principal, ProtectedResourceMetadata, ScopePolicy, TypPolicy,
};
