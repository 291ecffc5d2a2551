//! `mcp-authz demo`: everything on 127.0.0.1 with nothing else installed.
//!
//! - a DEVELOPMENT-ONLY authorization server ([`auth_server`]) on `--port-base`,
//! - `mcp-authz proxy` on `--port-base + 1`, protecting
//! - a small MCP server with two tools (`whoami`; `admin_reset`, which needs `mcp:admin`) on
//!   `--port-base + 2`.
//!
//! It prints the MCP URL and a short walkthrough, then serves until Ctrl-C.

pub use mcp_authz_testkit::auth_server;
use mcp_authz_testkit::demo_mcp;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Args;

use crate::proxy::{self, ProxyConfig, RouteConfig};

/// Arguments of `mcp-authz demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// First of three consecutive loopback ports: authorization server, proxy (the MCP URL), MCP
    /// server. 0 picks free ports.
    #[arg(long, default_value_t = 9400, value_name = "PORT")]
    port_base: u16,
}

async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

fn port(l: &tokio::net::TcpListener) -> u16 {
    l.local_addr().map_or(0, |a| a.port())
}

/// `mcp-authz demo`: start everything, print the walkthrough, serve until Ctrl-C.
pub fn run(args: DemoArgs) -> ExitCode {
    crate::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-authz demo: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-authz demo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn demo(args: DemoArgs) -> Result<(), String> {
    let offset = |n: u16| {
        if args.port_base == 0 {
            0
        } else {
            args.port_base.saturating_add(n)
        }
    };
    let taken = |p: u16, e: std::io::Error| {
        format!("cannot listen on 127.0.0.1:{p}: {e} (choose other ports with --port-base, or --port-base 0)")
    };
    let as_listener = bind(offset(0)).await.map_err(|e| taken(offset(0), e))?;
    let proxy_listener = bind(offset(1)).await.map_err(|e| taken(offset(1), e))?;
    let mcp_listener = bind(offset(2)).await.map_err(|e| taken(offset(2), e))?;
    let issuer = format!("http://127.0.0.1:{}", port(&as_listener));
    let resource = format!("http://127.0.0.1:{}/mcp", port(&proxy_listener));
    let upstream = format!("http://127.0.0.1:{}/mcp", port(&mcp_listener));
    let scopes = vec!["mcp:tools".to_owned(), "mcp:admin".to_owned()];

    // 1. The development authorization server.
    let auth = auth_server::DevAuthServer::new(issuer.clone(), resource.clone(), scopes)?;
    let auth_app = auth.router();
    tokio::spawn(async move { axum::serve(as_listener, auth_app).await });

    // 2. The MCP server, unprotected, reachable only on loopback.
    let mcp_port = port(&mcp_listener);
    let mcp = demo_mcp::demo_service(vec![
        "127.0.0.1".into(),
        format!("127.0.0.1:{mcp_port}"),
        "localhost".into(),
    ]);
    let mcp_app = axum::Router::new().nest_service("/mcp", mcp);
    tokio::spawn(async move { axum::serve(mcp_listener, mcp_app).await });

    // 3. The proxy in front of it.
    let config = ProxyConfig {
        route: RouteConfig {
            metadata_url: vec![format!("{issuer}/.well-known/oauth-authorization-server")],
            resource: Some(resource.clone()),
            upstream: Some(upstream.clone()),
            scope: vec!["mcp:tools".into()],
            tool_scope: vec!["admin_reset=mcp:admin".into()],
            resource_name: Some("mcp-authz demo".into()),
            allow_http_loopback: true,
            ..Default::default()
        },
        // Its authorization server is up already: start with the keys, ready at once.
        server: proxy::ServerConfig {
            fail_fast: true,
            ..Default::default()
        },
        routes: Vec::new(),
    };
    let built = proxy::build(&config).await.map_err(|e| e.to_string())?;
    let sample = auth.mint("demo-curl", "mcp:tools", &resource)?;
    // Handlers first: a signal right after the walkthrough is a graceful stop.
    let stop = proxy::shutdown_signal();
    print_walkthrough(&issuer, &resource, &upstream, &sample);
    proxy::serve(
        proxy_listener,
        built.app,
        proxy::ServeLimits::default(),
        stop,
    )
    .await
    .map_err(|e| e.to_string())
}

fn print_walkthrough(issuer: &str, resource: &str, upstream: &str, token: &str) {
    let origin = resource.trim_end_matches("/mcp");
    println!(
        r#"
mcp-authz demo — everything on 127.0.0.1, DEVELOPMENT ONLY

  MCP URL (protected):         {resource}
  authorization server (dev):  {issuer}   (auto-consent, PKCE S256, open registration)
  MCP server behind the proxy: {upstream}   (tools: whoami; admin_reset needs mcp:admin)

1. Without a token you get the discovery challenge:
   curl -i -X POST {resource} -H 'content-type: application/json' -d '{{}}'

2. The challenge points at the protected-resource metadata, which names the authorization server:
   curl -s {origin}/.well-known/oauth-protected-resource/mcp
   curl -s {issuer}/.well-known/oauth-authorization-server

3. With a token (this one has scope mcp:tools, valid 15 minutes):
   TOKEN={token}
   curl -s -X POST {resource} -H "authorization: Bearer $TOKEN" \
     -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
     -d '{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"whoami","arguments":{{}}}}}}'
   The same call to admin_reset answers 403 insufficient_scope with scope="mcp:tools mcp:admin".

4. Connect an MCP client to {resource}: it runs the whole OAuth flow itself
   (discovery, registration, PKCE, consent is automatic here). For example:
   npx @modelcontextprotocol/inspector   (then connect to {resource} over Streamable HTTP)

Ctrl-C stops everything.
"#
    );
}
