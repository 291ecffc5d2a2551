//! `SIGHUP` reloads the proxy's configuration file: new requests get the new upstream and
//! rules, a stream opened before keeps flowing from the old upstream, and a file that does not
//! load is refused with the running configuration kept.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_authz_testkit::auth_server::DevAuthServer;
use mcp_authz_testkit::client::{send, send_streaming};

#[path = "support/process.rs"]
mod process;
use process::{gated_events, next_data, wait_listening, Killed};

/// An upstream that says who it is to a POST, and answers a GET with an event stream: one
/// event, then one more each time `gate` opens.
fn upstream(name: &'static str, gate: Arc<tokio::sync::Notify>) -> axum::Router {
    axum::Router::new().route(
        "/mcp",
        axum::routing::post(move || async move { name }).get(move || {
            let gate = gate.clone();
            async move { gated_events(name, gate) }
        }),
    )
}

async fn serve(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{a}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_routes_and_rules_and_keeps_open_streams() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let a = serve(upstream("A", gate.clone())).await;
    let b = serve(upstream("B", gate.clone())).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let as_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_l.local_addr().unwrap());
    let auth =
        DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()]).unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    let config = |upstream: &str, extra: &str| {
        format!(
            "metadata-url = \"{issuer}/.well-known/oauth-authorization-server\"\nresource = \"{resource}\"\nupstream = \"{upstream}/mcp\"\nlisten = \"127.0.0.1:{port}\"\nscope = [\"mcp:tools\"]\nallow-http-loopback = true\n{extra}"
        )
    };
    std::fs::write(&file, config(&a, "")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args(["proxy", "--config"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let _child = Killed(child);
    let origin = format!("http://127.0.0.1:{port}");
    wait_listening(port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while send("GET", &format!("{origin}/readyz"), &[], b"").await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bearer = format!(
        "Bearer {}",
        auth.mint("reload", "mcp:tools", &resource).unwrap()
    );
    let auth_h = [("authorization", bearer.as_str())];
    let ping = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let who = || async {
        let body = br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
        let (status, _, body) = send("POST", &resource, &ping, body).await;
        (status, String::from_utf8(body.to_vec()).unwrap())
    };
    assert_eq!(who().await, (200, "A".to_string()));
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_reset"}}"#;
    let json = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    assert_eq!(send("POST", &resource, &json, call).await.0, 200);

    // A stream from A, open across the reload.
    let (status, _, mut stream) = send_streaming("GET", &resource, &auth_h, b"").await;
    assert_eq!(status, 200);
    assert_eq!(next_data(&mut stream).await, "data: A 0\n\n");

    // The new file: upstream B, and a tool that needs a scope the token lacks.
    std::fs::write(
        &file,
        config(&b, "tool-scope = [\"admin_reset=mcp:admin\"]\n"),
    )
    .unwrap();
    let hup = || {
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    };
    hup();
    let deadline = Instant::now() + Duration::from_secs(20);
    while who().await != (200, "B".to_string()) {
        assert!(Instant::now() < deadline, "the new upstream never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(send("POST", &resource, &json, call).await.0, 403);
    gate.notify_one();
    assert_eq!(next_data(&mut stream).await, "data: A 1\n\n");

    // A file that does not load: refused, B kept.
    std::fs::write(&file, config(&a, "no-such-key = 1\n")).unwrap();
    hup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(who().await, (200, "B".to_string()));
    assert_eq!(send("POST", &resource, &json, call).await.0, 403);
}
