//! An rmcp Streamable HTTP server with two tools, protected by mcp-authz.
//!
//! ```sh
//! cargo run -p mcp-authz-hyper --example rmcp_server -- \
//!     --metadata-url https://tenant.auth0.com/.well-known/oauth-authorization-server \
//!     --resource http://127.0.0.1:8080/mcp --listen 127.0.0.1:8080
//! ```
//!
//! Flags: `--metadata-url URL` (or `--issuer URL`), `--resource URL`, `--listen ADDR`,
//! `--allow-http-loopback` (development authorization servers on 127.0.0.1), `--lenient-typ`
//! (authorization servers that issue `typ: JWT`), `--unprotected` (no authorization at all: the
//! baseline for benchmarks), `--introspect never|non-jwt|always` with
//! `--introspection-client-id ID` (the secret from `MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET`) and
//! `--introspection-cache-ttl SECONDS` (opaque tokens, RFC 7662), `--dpop off|allowed|required`
//! (DPoP-bound tokens, RFC 9449), `--sse-responses` (answer every request with an event stream
//! instead of JSON).

#![allow(missing_docs)]

use mcp_authz_testkit::demo_mcp;

use std::net::SocketAddr;

use mcp_authz_core::{ScopePolicy, TypPolicy};
use mcp_authz_hyper::{Authz, ClientAuthentication, DpopMode, IntrospectionMode};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let listen: SocketAddr = arg(&args, "--listen")
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()?;
    let resource = arg(&args, "--resource").unwrap_or_else(|| format!("http://{listen}/mcp"));
    let host = listen.ip().to_string();
    let hosts = vec![
        host.clone(),
        format!("{host}:{}", listen.port()),
        "localhost".into(),
    ];
    let mcp = match args.iter().any(|a| a == "--sse-responses") {
        true => demo_mcp::demo_service_streaming(hosts),
        false => demo_mcp::demo_service(hosts),
    };
    let mut app = axum::Router::new().nest_service("/mcp", mcp);
    if !args.iter().any(|a| a == "--unprotected") {
        let mut builder = Authz::builder(resource.clone())
            .scopes(ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin_reset", ["mcp:admin"]))
            .allow_http_loopback(args.iter().any(|a| a == "--allow-http-loopback"));
        if args.iter().any(|a| a == "--lenient-typ") {
            builder = builder.typ_policy(TypPolicy::Lenient);
        }
        if let Some(mode) = arg(&args, "--dpop") {
            builder = builder.dpop(
                DpopMode::from_name(&mode).ok_or("--dpop: expected off, allowed or required")?,
            );
        }
        if let Some(mode) = arg(&args, "--introspect") {
            let mode = IntrospectionMode::from_name(&mode)
                .ok_or("--introspect: expected never, non-jwt or always")?;
            let client_id = arg(&args, "--introspection-client-id")
                .ok_or("--introspection-client-id is required")?;
            let client_secret = std::env::var("MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET")
                .map_err(|_| "MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET is required")?;
            builder = builder.introspection(mode).introspection_client(
                ClientAuthentication::ClientSecretBasic {
                    client_id,
                    client_secret,
                },
            );
            if let Some(ttl) = arg(&args, "--introspection-cache-ttl") {
                let ttl = std::time::Duration::from_secs(ttl.parse()?);
                builder = builder
                    .introspection_cache_ttl(ttl, ttl.min(std::time::Duration::from_secs(10)));
            }
        }
        builder = match (arg(&args, "--metadata-url"), arg(&args, "--issuer")) {
            (Some(url), _) => builder.metadata_url(url),
            (None, Some(issuer)) => builder.issuer(issuer),
            (None, None) => {
                return Err("give --metadata-url URL or --issuer URL (or --unprotected)".into())
            }
        };
        let authz = builder.build().await?;
        eprintln!(
            "authorization server: {}",
            authz.guard().verifier().config().issuer()
        );
        app = app.layer(authz.layer());
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("MCP server on {resource}");
    axum::serve(listener, app).await?;
    Ok(())
}
