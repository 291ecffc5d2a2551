//! # mcp-authz-hyper — not implemented yet
//!
//! This crate will be the IO driver of [`mcp_authz_core`] for tokio and hyper: HTTPS fetching of
//! the authorization server's metadata and JWK Set, the timers that drive the core's refresh
//! policy, and a tower `Layer` for hyper, axum and `rmcp` (issue 5).
//!
//! Today it contains nothing but this note and the re-export below, so that the workspace shows
//! where the driver goes. Until it lands, drive [`mcp_authz_core::AccessTokenVerifier`] yourself.

pub use mcp_authz_core as core;
