//! The authorization-server facade served by the proxy (`--as-facade`): its metadata, the
//! protected-resource metadata naming it, refusals that never redirect, registration, and that
//! none of its paths reaches the upstream. The whole flow with the official SDK client against
//! an Entra-shaped oidc-provider is `interop/rig.mjs` scenario 15.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mcp_authz_testkit::as_double::AsDouble;
use mcp_authz_testkit::client::send;
use serde_json::Value;

#[path = "support/process.rs"]
mod process;
use process::{free_port, wait_listening, Killed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_facade_is_the_clients_authorization_server_and_never_an_open_redirect() {
    let double = AsDouble::start().await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    });
    tokio::spawn(async move { axum::serve(l, app).await });
    let port = free_port().await;
    let origin = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args([
            "proxy",
            "--fail-fast",
            "--metadata-url",
            &double.metadata_url(),
        ])
        .args([
            "--resource",
            &format!("{origin}/mcp"),
            "--upstream",
            &upstream,
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-http-loopback",
        ])
        .args(["--as-facade", "entra", "--facade-api-uri", "api://mcp-app"])
        .args(["--facade-client-id", "app-id", "--scope", "mcp.tools"])
        .args(["--facade-redirect-uri", "http://127.0.0.1/callback"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _proxy = Killed(child);
    wait_listening(port).await;
    let issuer = format!("{origin}/facade/entra");
    let get = |path: String| async move {
        let (status, headers, body) = send("GET", &path, &[], b"").await;
        (status, headers, body)
    };
    // The protected resource names the facade; the facade's metadata is its own.
    let (_, _, prm) = get(format!("{origin}/.well-known/oauth-protected-resource/mcp")).await;
    let prm: Value = serde_json::from_slice(&prm).unwrap();
    assert_eq!(prm["authorization_servers"], serde_json::json!([issuer]));
    for path in [
        format!("{origin}/.well-known/oauth-authorization-server/facade/entra"),
        format!("{issuer}/.well-known/openid-configuration"),
    ] {
        let (status, _, body) = get(path).await;
        assert_eq!(status, 200);
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["issuer"], issuer);
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        // The double's scopes, none under the App ID URI: as they are.
        assert_eq!(
            doc["scopes_supported"],
            serde_json::json!(["mcp:tools", "mcp:admin"])
        );
    }
    // A good authorization request goes to the provider, with the facade's callback.
    let good = "response_type=code&client_id=app-id&redirect_uri=http%3A%2F%2F127.0.0.1%3A4444%2Fcallback&scope=mcp.tools&state=s1&code_challenge=abc&code_challenge_method=S256&resource=";
    // The resource is this one (MCP clients send it; Entra's rewrite drops it).
    let good = format!(
        "{good}{}",
        serde_urlencoded::to_string([("", format!("{origin}/mcp"))]).unwrap()[1..].to_owned()
    );
    let good = good.as_str();
    let (status, headers, _) = get(format!("{issuer}/authorize?{good}")).await;
    assert_eq!(status, 302);
    let location = headers["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/authorize?", double.issuer())),
        "{location}"
    );
    assert!(location.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    assert!(location.contains("%2Ffacade%2Fentra%2Fcallback"));
    assert!(
        location.contains("api%3A%2F%2Fmcp-app%2Fmcp.tools") && !location.contains("resource=")
    );
    // The provider's callback comes back once: the client gets its code, state and iss; the same
    // callback again is a 400 page (single use).
    let id = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap()
        .to_owned();
    let callback = format!("{issuer}/callback?code=provider-code&state={id}");
    let (status, headers, _) = get(callback.clone()).await;
    assert_eq!(status, 302);
    let back = headers["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("http://127.0.0.1:4444/callback?code=provider-code&state=s1&iss="),
        "{back}"
    );
    let (status, headers, _) = get(callback).await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
    // An unknown redirect URI: a 400 page, never a redirect.
    let evil = good.replace(
        "http%3A%2F%2F127.0.0.1%3A4444%2Fcallback",
        "https%3A%2F%2Fevil.example%2Fcb",
    );
    let (status, headers, body) = get(format!("{issuer}/authorize?{evil}")).await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
    assert!(String::from_utf8_lossy(&body).contains("redirect_uri"));
    // Another API's scope: the facade's client is lent to this resource only.
    let graph = good.replace(
        "scope=mcp.tools",
        "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
    );
    let (status, headers, _) = get(format!("{issuer}/authorize?{graph}")).await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
    // Userinfo in a loopback redirect URI names another host: refused, not redirected.
    let userinfo = good.replace("127.0.0.1%3A4444", "127.0.0.1%3A1%40evil.example");
    let (status, headers, _) = get(format!("{issuer}/authorize?{userinfo}")).await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
    // Oversized: refused before the provider.
    let (status, headers, _) = get(format!(
        "{issuer}/authorize?{good}&login_hint={}",
        "a".repeat(9000)
    ))
    .await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
    // A callback naming no transaction: 400, no redirect.
    let (status, headers, _) = get(format!("{issuer}/callback?code=c&state=forged")).await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
    // Registration: the configured client for allowed redirect URIs only.
    let register = format!("{issuer}/register");
    let (status, _, body) = send(
        "POST",
        &register,
        &[("content-type", "application/json")],
        br#"{"redirect_uris":["http://127.0.0.1:5555/callback"]}"#,
    )
    .await;
    assert_eq!(status, 201);
    let client: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(client["client_id"], "app-id");
    let (status, _, _) = send(
        "POST",
        &register,
        &[("content-type", "application/json")],
        br#"{"redirect_uris":["https://evil.example/cb"]}"#,
    )
    .await;
    assert_eq!(status, 400);
    // Token requests the facade refuses never reach the provider.
    let (status, _, body) = send(
        "POST",
        &format!("{issuer}/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        b"grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 400);
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(e["error"], "unsupported_grant_type");
    // Nothing above reached the upstream; a path under the facade that is not an endpoint is 404.
    let (status, _, _) = get(format!("{issuer}/other")).await;
    assert_eq!(status, 404);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
