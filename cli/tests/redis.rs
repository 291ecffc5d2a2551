//! Rate limits shared by two proxy replicas through a real `redis-server` (Debian's package,
//! started here on 127.0.0.1): a limit of N holds across both; no key holds a token or an
//! identifier; with Redis gone the limits fail open (the default) without slowing requests, and
//! apply again once it is back.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcp_authz_testkit::auth_server::DevAuthServer;
use mcp_authz_testkit::client::send;

#[path = "support/process.rs"]
mod process;
use process::{debian_tool, free_port, wait_listening, Killed};

async fn start_redis(port: u16) -> Killed {
    let child = Command::new(debian_tool("redis-server", "redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = Killed(child);
    wait_listening(port).await;
    killed
}

/// Every key in the Redis at `port` (`redis-cli --scan`).
fn keys(port: u16) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--scan"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_limit_through_redis() {
    let redis_port = free_port().await;
    let redis = start_redis(redis_port).await;
    let as_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_l.local_addr().unwrap());
    // One resource URL for both replicas, as behind a load balancer.
    let resource = "https://mcp.example.com/mcp".to_owned();
    let auth =
        DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()]).unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let up_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", up_l.local_addr().unwrap());
    let app = axum::Router::new().route("/mcp", axum::routing::any(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(up_l, app).await });

    let mut replicas = Vec::new();
    let mut ports = Vec::new();
    // Two replicas failing open (the default), and a third failing closed.
    for fail_closed in [false, false, true] {
        let port = free_port().await;
        let child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
            .args(["proxy", "--fail-fast"])
            .args([
                "--metadata-url",
                &format!("{issuer}/.well-known/oauth-authorization-server"),
            ])
            .args(["--resource", &resource, "--upstream", &upstream])
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--allow-http-loopback",
            ])
            .args(["--rate-limit", "3/min"])
            .args(["--store", &format!("redis://127.0.0.1:{redis_port}/0")])
            .args(fail_closed.then_some("--rate-limits-fail-closed"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        replicas.push(Killed(child));
        wait_listening(port).await;
        ports.push(port);
    }
    let token = auth.mint("redis-test", "mcp:tools", &resource).unwrap();
    let bearer = format!("Bearer {token}");
    let post = |port: u16| {
        let bearer = bearer.clone();
        async move {
            let url = format!("http://127.0.0.1:{port}/mcp");
            send("POST", &url, &[("authorization", bearer.as_str())], b"{}")
                .await
                .0
        }
    };
    // Alternating replicas: three allowed in all, the fourth refused on either.
    let statuses = [
        post(ports[0]).await,
        post(ports[1]).await,
        post(ports[0]).await,
        post(ports[1]).await,
        post(ports[0]).await,
    ];
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // One key, a hash: no token, no subject, no client id.
    let stored = keys(redis_port);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let key = &stored[0];
    let hash = key.strip_prefix("mcp-authz:rl:").unwrap();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    assert!(!key.contains(&token) && !key.contains("demo-user") && !key.contains("redis-test"));

    // Redis goes away: the limits fail open, and requests are not held up by it.
    drop(redis);
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(post(ports[0]).await, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // The replica that fails closed refuses instead, and forwards nothing.
    let url = format!("http://127.0.0.1:{}/mcp", ports[2]);
    let (status, headers, _) =
        send("POST", &url, &[("authorization", bearer.as_str())], b"{}").await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    // Back (empty): the limit counts again from a fresh budget.
    let _redis = start_redis(redis_port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let s = post(ports[1]).await;
        seen.push(s);
        if s == 429 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the limit never applied again: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!keys(redis_port).is_empty());
}
