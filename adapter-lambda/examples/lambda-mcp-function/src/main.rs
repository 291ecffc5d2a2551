//! An MCP server on AWS Lambda, protected by mcp-authz: the two-tool rmcp server (stateless, JSON
//! responses) behind API Gateway, a Function URL or ALB.
//!
//! Configuration (environment):
//! - `MCP_AUTHZ_METADATA_URL` (required): the authorization server's metadata URL, or several,
//!   separated by spaces (each trusted, listed in this order);
//! - `MCP_AUTHZ_AUDIENCES`, `MCP_AUTHZ_TENANTS`: space-separated extra audiences and Entra ID
//!   tenants (see the README's provider table);
//! - `MCP_AUTHZ_INTROSPECT` (`never`, `non-jwt`, `always`) with `MCP_AUTHZ_INTROSPECTION_CLIENT_ID`,
//!   `MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET` and optionally `MCP_AUTHZ_INTROSPECTION_CACHE_TTL`
//!   (seconds): opaque tokens by RFC 7662 introspection;
//! - `MCP_AUTHZ_DPOP` (`off`, `allowed`, `required`): DPoP-bound tokens (RFC 9449);
//! - `MCP_AUTHZ_PUBLIC_BASE_URL`: the public base URL (needed behind custom domains with a base
//!   path and CloudFront; otherwise inferred from each event);
//! - `MCP_AUTHZ_RESOURCE_PATH`: the MCP path after any stage (default `/mcp`);
//! - `MCP_AUTHZ_ALLOWED_HOSTS`: comma-separated hosts trusted from `Host` (ALB);
//! - `MCP_AUTHZ_ALLOW_HTTP_LOOPBACK=1`: local testing against an authorization server on
//!   127.0.0.1.
//!
//! ```sh
//! cargo lambda build --profile lambda --manifest-path adapter-lambda/examples/lambda-mcp-function/Cargo.toml
//! ```

#![allow(missing_docs)]

use mcp_authz_testkit::demo_mcp;

use mcp_authz_core::ScopePolicy;
use mcp_authz_lambda::{ClientAuthentication, DpopMode, IntrospectionMode, LambdaAuthz};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // CloudWatch takes stderr/stdout lines; RUST_LOG filters (default: mcp-authz decisions).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,mcp_authz=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .init();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let metadata_url = env("MCP_AUTHZ_METADATA_URL").ok_or("MCP_AUTHZ_METADATA_URL is required")?;
    let resource_path = env("MCP_AUTHZ_RESOURCE_PATH").unwrap_or_else(|| "/mcp".into());
    // Cold start: metadata and keys, once per execution environment.
    let list = |name: &str| {
        env(name)
            .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut builder = LambdaAuthz::builder().resource_path(resource_path.clone());
    for url in metadata_url.split_whitespace() {
        builder = builder.metadata_url(url);
    }
    let mut builder = builder
        .audiences(list("MCP_AUTHZ_AUDIENCES"))
        .tenants(list("MCP_AUTHZ_TENANTS"))
        .scopes(ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin_reset", ["mcp:admin"]))
        .allow_http_loopback(env("MCP_AUTHZ_ALLOW_HTTP_LOOPBACK").as_deref() == Some("1"));
    if let Some(mode) = env("MCP_AUTHZ_DPOP") {
        builder = builder.dpop(
            DpopMode::from_name(&mode)
                .ok_or("MCP_AUTHZ_DPOP: expected off, allowed or required")?,
        );
    }
    if let Some(mode) = env("MCP_AUTHZ_INTROSPECT") {
        let mode = IntrospectionMode::from_name(&mode)
            .ok_or("MCP_AUTHZ_INTROSPECT: expected never, non-jwt or always")?;
        let client_id = env("MCP_AUTHZ_INTROSPECTION_CLIENT_ID")
            .ok_or("MCP_AUTHZ_INTROSPECTION_CLIENT_ID is required")?;
        let client_secret = env("MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET")
            .ok_or("MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET is required")?;
        builder = builder.introspection(mode).introspection_client(
            ClientAuthentication::ClientSecretBasic {
                client_id,
                client_secret,
            },
        );
        if let Some(ttl) = env("MCP_AUTHZ_INTROSPECTION_CACHE_TTL") {
            let ttl = std::time::Duration::from_secs(ttl.parse()?);
            builder =
                builder.introspection_cache_ttl(ttl, ttl.min(std::time::Duration::from_secs(10)));
        }
    }
    if let Some(base) = env("MCP_AUTHZ_PUBLIC_BASE_URL") {
        builder = builder.public_base_url(base);
    }
    if let Some(hosts) = env("MCP_AUTHZ_ALLOWED_HOSTS") {
        builder = builder.allowed_hosts(hosts.split(',').map(str::trim).map(String::from));
    }
    let authz = builder.build().await?;
    // API Gateway routes by host already: rmcp's own Host check is off here.
    let mcp = demo_mcp::demo_service(Vec::new());
    let app = axum::Router::new().nest_service(&resource_path, mcp);
    lambda_http::run(authz.wrap(app)).await
}
