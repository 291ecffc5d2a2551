//! The HTTP load target of `benches/http/run.sh`: on 127.0.0.1, the development authorization
//! server, and the two-tool rmcp server three times — unprotected, protected with the
//! verified-token cache, protected without it (every request verifies a signature). Prints one
//! JSON line with the URLs and tokens, then serves until killed. It also reserves a port for
//! `mcp-authz proxy`, which `run.sh` starts as a process of its own in front of the unprotected
//! server (as nginx is), and mints the token for it.

#![allow(missing_docs)]

use mcp_authz_core::ScopePolicy;
use mcp_authz_hyper::Authz;
use mcp_authz_testkit::auth_server::DevAuthServer;
use mcp_authz_testkit::demo_mcp;

async fn listener() -> Result<(tokio::net::TcpListener, String), std::io::Error> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", l.local_addr()?);
    Ok((l, origin))
}

fn mcp_router() -> axum::Router {
    axum::Router::new().nest_service("/mcp", demo_mcp::demo_service(vec!["127.0.0.1".into()]))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (as_l, issuer) = listener().await?;
    let (open_l, open) = listener().await?;
    let (cached_l, cached) = listener().await?;
    let (uncached_l, uncached) = listener().await?;
    let (proxy_l, proxied) = listener().await?;
    let auth = DevAuthServer::new(
        issuer.clone(),
        format!("{cached}/mcp"),
        vec!["mcp:tools".into()],
    )?;
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let metadata = format!("{issuer}/.well-known/oauth-authorization-server");
    let scopes = ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin_reset", ["mcp:admin"]);
    let with_cache = Authz::builder(format!("{cached}/mcp"))
        .metadata_url(&metadata)
        .allow_http_loopback(true)
        .scopes(scopes.clone())
        .build()
        .await?;
    let without_cache = Authz::builder(format!("{uncached}/mcp"))
        .metadata_url(&metadata)
        .allow_http_loopback(true)
        .scopes(scopes)
        .token_cache(None)
        .build()
        .await?;
    let a = mcp_router();
    let b = mcp_router().layer(with_cache.layer());
    let c = mcp_router().layer(without_cache.layer());
    tokio::spawn(async move { axum::serve(open_l, a).await });
    tokio::spawn(async move { axum::serve(cached_l, b).await });
    tokio::spawn(async move { axum::serve(uncached_l, c).await });
    // Free once more when run.sh starts the proxy on it.
    let proxy_listen = proxy_l.local_addr()?;
    drop(proxy_l);
    let line = serde_json::json!({
        "unprotected": format!("{open}/mcp"),
        "protected_cache": format!("{cached}/mcp"),
        "protected_nocache": format!("{uncached}/mcp"),
        "token_cache": auth.mint("bench", "mcp:tools", &format!("{cached}/mcp"))?,
        "token_nocache": auth.mint("bench", "mcp:tools", &format!("{uncached}/mcp"))?,
        "proxy": format!("{proxied}/mcp"),
        "proxy_listen": proxy_listen.to_string(),
        "metadata": metadata,
        "token_proxy": auth.mint("bench", "mcp:tools", &format!("{proxied}/mcp"))?,
        "pid": std::process::id(),
    });
    println!("{line}");
    std::future::pending::<()>().await;
    Ok(())
}
