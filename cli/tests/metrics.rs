//! `mcp-authz proxy --metrics-listen`: the real binary, real requests through it, then a scrape
//! of its Prometheus endpoint, counted.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcp_authz_testkit::auth_server::DevAuthServer;
use mcp_authz_testkit::client::send;

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// The value of the one sample of `name` whose labels include every pair of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_scrape_counts_the_real_requests() {
    let as_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_l.local_addr().unwrap());
    let (proxy_port, metrics_port) = (free_port().await, free_port().await);
    let resource = format!("http://127.0.0.1:{proxy_port}/mcp");
    let auth =
        DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()]).unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let up_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", up_l.local_addr().unwrap());
    let app = axum::Router::new().route("/mcp", axum::routing::any(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(up_l, app).await });
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args([
            "proxy",
            "--fail-fast",
            "--metadata-url",
            &format!("{issuer}/.well-known/oauth-authorization-server"),
        ])
        .args(["--resource", &resource, "--upstream", &upstream])
        .args(["--listen", &format!("127.0.0.1:{proxy_port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        // One serving thread: everything below works the same.
        .args(["--workers", "1"])
        .args([
            "--scope",
            "mcp:tools",
            "--allow-http-loopback",
            "--access-log",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prm = format!("http://127.0.0.1:{proxy_port}/.well-known/oauth-protected-resource/mcp");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", proxy_port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the proxy did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(send("GET", &prm, &[], b"").await.0, 200);
    let json = [("content-type", "application/json")];
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    for _ in 0..2 {
        assert_eq!(send("POST", &resource, &json, body).await.0, 401);
    }
    let token = format!(
        "Bearer {}",
        auth.mint("metrics-test", "mcp:tools", &resource).unwrap()
    );
    for _ in 0..3 {
        let headers = [
            ("authorization", token.as_str()),
            ("content-type", "application/json"),
        ];
        assert_eq!(send("POST", &resource, &headers, body).await.0, 200);
    }
    let wrong = format!(
        "Bearer {}",
        auth.mint("metrics-test", "mcp:tools", "http://127.0.0.1:1/other")
            .unwrap()
    );
    let headers = [
        ("authorization", wrong.as_str()),
        ("content-type", "application/json"),
    ];
    assert_eq!(send("POST", &resource, &headers, body).await.0, 401);
    let (status, _, scrape) = send(
        "GET",
        &format!("http://127.0.0.1:{metrics_port}/metrics"),
        &[],
        b"",
    )
    .await;
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert_eq!(status, 200);
    // The access log: one JSON line per request, the decision in it, never the token.
    let log = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["path"] == "/mcp")
        .collect();
    assert_eq!(lines.len(), 6, "{log}");
    let allowed: Vec<_> = lines.iter().filter(|l| l["status"] == 200).collect();
    assert_eq!(allowed.len(), 3);
    assert_eq!(allowed[0]["subject"], "demo-user");
    assert_eq!(allowed[0]["client_id"], "metrics-test");
    assert_eq!(allowed[0]["issuer"], issuer);
    assert!(allowed[0]["reason"].is_null() && allowed[0]["kid"].is_string());
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["reason"] == "no_credentials")
            .count(),
        2
    );
    assert_eq!(
        lines.iter().filter(|l| l["reason"] == "wrong_aud").count(),
        1
    );
    assert!(lines
        .iter()
        .all(|l| l["method"] == "POST" && l["duration_ms"].is_number()));
    assert!(!log.contains(token.trim_start_matches("Bearer ")));
    assert!(!log.contains(wrong.trim_start_matches("Bearer ")));
    let text = String::from_utf8(scrape.to_vec()).unwrap();
    let decisions = "mcp_authz_decisions_total";
    assert_eq!(
        sample(&text, decisions, &[("outcome", "allow"), ("status", "200")]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            decisions,
            &[("outcome", "reject"), ("reason", "no_credentials")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            decisions,
            &[("outcome", "reject"), ("reason", "wrong_aud")]
        ),
        Some(1.0),
        "{text}"
    );
    // The metadata polls while waiting for the start: served, not refused.
    assert!(
        sample(
            &text,
            decisions,
            &[("outcome", "served"), ("status", "200")]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "mcp_authz_jwks_fetches_total", &[("result", "ok")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "mcp_authz_jwks_keys", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "mcp_authz_upstream_seconds_count",
            &[("status", "200")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "mcp_authz_decision_seconds_count",
            &[("outcome", "allow")]
        ),
        Some(3.0),
        "{text}"
    );
    // Label values are reason names and statuses: no token bytes anywhere.
    assert!(!text.contains(token.trim_start_matches("Bearer ")));
}
