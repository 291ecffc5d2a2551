//! End to end over TCP on 127.0.0.1: an authorization-server double (plain hyper) serving
//! metadata and a JWK Set, and the middleware in front of axum and rmcp.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

#[path = "e2e/support.rs"]
mod support;

#[path = "e2e/axum_app.rs"]
mod axum_app;
#[path = "e2e/introspection.rs"]
mod introspection;
#[path = "e2e/keys.rs"]
mod keys;
#[path = "e2e/lists.rs"]
mod lists;
#[path = "e2e/rmcp_app.rs"]
mod rmcp_app;
#[path = "e2e/startup.rs"]
mod startup;
