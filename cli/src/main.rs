//! `mcp-authz`: the operator's tool. See the crate library for each command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_authz_cli::{check, proxy, verify};
#[cfg(feature = "demo")]
use mcp_authz_cli::{demo, dev_auth};

/// OAuth 2.0 resource-server toolkit for MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mcp-authz", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify JWT access tokens against a JWK Set file, as the resource server would.
    Verify(verify::VerifyArgs),
    /// Check an authorization server's RFC 8414 metadata the way the resource server will.
    Check(check::CheckArgs),
    /// Put OAuth in front of an existing MCP server (Streamable HTTP) as a reverse proxy.
    Proxy(Box<proxy::ProxyArgs>),
    /// Run a development authorization server, an MCP server and the proxy on 127.0.0.1.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// DEVELOPMENT ONLY: the demo's authorization server alone, on loopback.
    #[cfg(feature = "demo")]
    #[command(hide = true)]
    DevAuthorizationServer(dev_auth::DevAuthArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Verify(args) => verify::run(args),
        Command::Check(args) => check::run(args),
        Command::Proxy(args) => proxy::run(*args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args),
        #[cfg(feature = "demo")]
        Command::DevAuthorizationServer(args) => dev_auth::run(args),
    }
}
