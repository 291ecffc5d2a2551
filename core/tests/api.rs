//! Integration tests of mcp-authz-core's public API, one module per area (the rustls layout).

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

#[path = "api/common.rs"]
mod common;

#[path = "api/challenges.rs"]
mod challenges;
#[path = "api/discovery.rs"]
mod discovery;
#[path = "api/dpop.rs"]
mod dpop;
#[path = "api/exchange.rs"]
mod exchange;
#[path = "api/facade.rs"]
mod facade;
#[path = "api/interop.rs"]
mod interop;
#[path = "api/introspection.rs"]
mod introspection;
#[path = "api/invariants.rs"]
mod invariants;
#[path = "api/jwks.rs"]
mod jwks;
#[path = "api/ordered.rs"]
mod ordered;
#[path = "api/param_headers.rs"]
mod param_headers;
#[path = "api/policies.rs"]
mod policies;
#[path = "api/properties.rs"]
mod properties;
#[path = "api/providers.rs"]
mod providers;
#[path = "api/rate_limits.rs"]
mod rate_limits;
#[path = "api/rejections.rs"]
mod rejections;
#[path = "api/rfc_examples.rs"]
mod rfc_examples;
#[path = "api/rotation.rs"]
mod rotation;
#[path = "api/rules.rs"]
mod rules;
#[path = "api/token_exchange.rs"]
mod token_exchange;
#[path = "api/wycheproof.rs"]
mod wycheproof;
