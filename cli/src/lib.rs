//! The `mcp-authz` command's implementation, as a library so that its tests can drive the proxy
//! and the development authorization server in process. The binary is `src/main.rs`.
//!
//! - [`verify`]: verify JWT access tokens offline against a JWK Set file (the black-box surface of
//!   the core verifier; its interface is stable).
//! - [`check`]: validate authorization-server metadata (fetched, or offline with `--file`).
//! - [`proxy`]: OAuth 2.0 in front of an existing MCP server.
//! - [`demo`]: a development authorization server, an MCP server and the proxy on 127.0.0.1.
//! - [`dev_auth`]: the development authorization server alone (local deployment tests).

pub mod check;
pub mod demo;
pub mod dev_auth;
pub mod proxy;
pub mod verify;

/// Logs to stderr; `RUST_LOG` filters (default: info for mcp-authz, warn for the rest).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,mcp_authz=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
