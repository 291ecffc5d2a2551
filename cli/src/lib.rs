//! The `mcp-authz` command's implementation, as a library so that its tests can drive the proxy
//! and the development authorization server in process. The binary is `src/main.rs`.
//!
//! - [`verify`]: verify JWT access tokens offline against a JWK Set file (the black-box surface of
//!   the core verifier; its interface is stable).
//! - [`assertion`]: the proxy's signed identity for the upstream (`--identity-assertion`).
//! - [`check`]: validate authorization-server metadata (fetched, or offline with `--file`).
//! - [`provider`]: which provider a metadata document comes from, and the flags its tokens need.
//! - [`proxy`]: OAuth 2.0 in front of an existing MCP server.
//! - `demo`: a development authorization server, an MCP server and the proxy on 127.0.0.1.
//! - `dev_auth`: the development authorization server alone (local deployment tests).
//!
//! The last two are the default-on `demo` feature: without it the binary holds no token-minting
//! server and no demo tools.

// The core's panic rules hold here too: bad input is an error, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::panic))]

pub mod assertion;
pub mod check;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "demo")]
pub mod dev_auth;
pub mod provider;
pub mod proxy;
pub mod verify;

/// The audience rules `proxy` and `verify` share (the flags, once; the same keys in the proxy's
/// TOML file).
#[derive(Debug, clap::Args, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct AudienceArgs {
    /// Also accept tokens whose aud is exactly VALUE (repeatable): an Entra application ID, an
    /// Auth0 API identifier, a Keycloak client id.
    #[arg(long = "audience", value_name = "VALUE")]
    pub audience: Vec<String>,
    /// Accept tokens WITHOUT any aud when their client_id/azp is CLIENT_ID (repeatable;
    /// Cognito, Keycloak dynamic clients). Such a token is valid for every resource of its
    /// issuer.
    #[arg(long = "client-id-audience", value_name = "CLIENT_ID")]
    pub client_id_audience: Vec<String>,
    /// Also read the roles claim as scopes, each with PREFIX in front ("" for as-is).
    #[arg(long, value_name = "PREFIX")]
    pub roles_as_scopes: Option<String>,
}

/// The tenant rules of a tenant-templated issuer (Entra ID multi-tenant), shared by `proxy` and
/// `verify`.
#[derive(Debug, clap::Args, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct TenantArgs {
    /// Accept tokens of tenant TID (repeatable) from an issuer holding {tenantid}, e.g. Entra
    /// ID's organizations (or common) v2.0 metadata: iss must be the
    /// issuer with the token's own tid claim, and tid must be listed.
    #[arg(long = "tenant", value_name = "TID")]
    pub tenant: Vec<String>,
    /// Accept tokens of EVERY tenant from an issuer holding {tenantid} (the iss/tid match is
    /// still required). Without it, such an issuer needs --tenant.
    #[arg(long)]
    pub allow_any_tenant: bool,
}

/// Logs to stderr; `RUST_LOG` filters (default: info for mcp-authz, warn for the rest; the line
/// per decision is at debug, the per-request record is `--access-log`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,mcp_authz=info"));
    // Colours only for a person at a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
