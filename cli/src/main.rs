//! `mcp-authz`: the operator's tool.
//!
//! - `verify`: verify JWT access tokens offline against a JWK Set file (the black-box surface of
//!   the core verifier; its interface is stable).
//!
//! - `check`: validate authorization-server metadata (offline with `--file`).
//!
//! `proxy` and `demo` come with later issues (see the README).

mod check;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Check(args) => check::run(args),
    }
}
