//! `mcp-authz dev-authorization-server`: the demo's DEVELOPMENT-ONLY authorization server on its
//! own, for local testing of deployments (the Lambda emulator test uses it). Loopback only.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use crate::demo::auth_server::DevAuthServer;

/// Arguments of `mcp-authz dev-authorization-server`.
#[derive(Debug, Args)]
pub struct DevAuthArgs {
    /// Loopback address to listen on (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: SocketAddr,
    /// The resource tokens are issued for (their `aud`).
    #[arg(long, value_name = "URL")]
    resource: String,
    /// A scope clients may ask for (repeatable) [default: mcp:tools, mcp:admin].
    #[arg(long = "scope", value_name = "SCOPE")]
    scope: Vec<String>,
}

/// Serves until killed; prints the issuer on the first line of stdout.
pub fn run(args: DevAuthArgs) -> ExitCode {
    if !args.listen.ip().is_loopback() {
        eprintln!("mcp-authz dev-authorization-server: development only, loopback addresses only");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-authz dev-authorization-server: {e}");
            return ExitCode::from(2);
        }
    };
    let scopes = if args.scope.is_empty() {
        vec!["mcp:tools".into(), "mcp:admin".into()]
    } else {
        args.scope
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "mcp-authz dev-authorization-server: cannot listen on {}: {e}",
                    args.listen
                );
                return ExitCode::from(2);
            }
        };
        let issuer = match listener.local_addr() {
            Ok(a) => format!("http://{a}"),
            Err(e) => {
                eprintln!("mcp-authz dev-authorization-server: {e}");
                return ExitCode::from(2);
            }
        };
        let server = match DevAuthServer::new(issuer.clone(), args.resource, scopes) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mcp-authz dev-authorization-server: {e}");
                return ExitCode::from(1);
            }
        };
        let stop = crate::proxy::shutdown_signal();
        println!("{issuer}");
        match axum::serve(listener, server.router())
            .with_graceful_shutdown(stop)
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mcp-authz dev-authorization-server: {e}");
                ExitCode::from(1)
            }
        }
    })
}
