//! State shared by two proxy replicas through a real `redis-server` (Debian's package, started
//! here on 127.0.0.1): a limit of N holds across both; a DPoP proof used on one replica is a
//! replay on the other; a session opened on one belongs to its caller on both; no key holds a
//! token or an identifier, and every key expires. With Redis gone the limits fail open (the
//! default) without slowing requests, proofs and sessions fail closed (503); all apply again
//! once it is back.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcp_authz_testkit::auth_server::DevAuthServer;
use mcp_authz_testkit::client::send;

#[path = "support/process.rs"]
mod process;
use process::{debian_tool, free_port, wait_listening, Killed};

#[path = "support/dpop.rs"]
mod dpop;
use dpop::DpopClient;

/// A proxy replica at a free port in front of `upstream`, keeping its state in the Redis at
/// `redis_port`, with these extra arguments.
async fn replica(
    metadata_url: &str,
    resource: &str,
    upstream: &str,
    redis_port: u16,
    extra: &[&str],
) -> (Killed, u16) {
    let port = free_port().await;
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args(["proxy", "--fail-fast", "--metadata-url", metadata_url])
        .args(["--resource", resource, "--upstream", upstream])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-http-loopback",
        ])
        .args(["--store", &format!("redis://127.0.0.1:{redis_port}/0")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = Killed(child);
    wait_listening(port).await;
    (killed, port)
}

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
    let metadata_url = format!("{issuer}/.well-known/oauth-authorization-server");
    // Two replicas failing open (the default), and a third failing closed.
    for fail_closed in [false, false, true] {
        let mut extra = vec!["--rate-limit", "3/min"];
        extra.extend(fail_closed.then_some("--rate-limits-fail-closed"));
        let (child, port) = replica(&metadata_url, &resource, &upstream, redis_port, &extra).await;
        replicas.push(child);
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

/// Every key and its time to live (ms), and every value, of the Redis at `port`.
fn dump(port: u16) -> Vec<(String, i64, String)> {
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .unwrap();
        // Values may be binary (an introspection answer starts with its status).
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    keys(port)
        .into_iter()
        .map(|k| {
            let ttl = cli(&["PTTL", &k]).parse().unwrap();
            let value = cli(&["GET", &k]);
            (k, ttl, value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_proofs_and_sessions_through_redis() {
    use mcp_authz_testkit::as_double::AsDouble;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let redis_port = free_port().await;
    let redis = start_redis(redis_port).await;
    let double = AsDouble::start().await;
    let resource = "https://mcp.example.com/mcp".to_owned();
    // An MCP server that opens a session on `initialize`, and counts what reaches it.
    let up_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", up_l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::any(move |body: bytes::Bytes| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut r = axum::response::Response::new(axum::body::Body::from("{}"));
                if body.windows(10).any(|w| w == b"initialize") {
                    let id = http::HeaderValue::from_str(&format!("session-{n}")).unwrap();
                    r.headers_mut().insert("mcp-session-id", id);
                }
                r
            }
        }),
    );
    tokio::spawn(async move { axum::serve(up_l, app).await });
    let metadata_url = double.metadata_url();
    let dpop = ["--dpop", "allowed"];
    let (_a, a) = replica(&metadata_url, &resource, &upstream, redis_port, &dpop).await;
    let (_b, b) = replica(&metadata_url, &resource, &upstream, redis_port, &dpop).await;
    let open = ["--dpop", "allowed", "--store-fail-open"];
    let (_c, c) = replica(&metadata_url, &resource, &upstream, redis_port, &open).await;
    let post = |port: u16, headers: Vec<(&'static str, String)>, body: &'static str| async move {
        let url = format!("http://127.0.0.1:{port}/mcp");
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, h, _) = send("POST", &url, &headers, body.as_bytes()).await;
        (status, h)
    };

    // A proof used on replica A is a replay on replica B.
    let client = DpopClient::new(&double, &resource);
    let auth = format!("DPoP {}", client.token);
    let with_proof = |jti: &str| {
        vec![
            ("authorization", auth.clone()),
            ("dpop", client.proof(jti, &resource, None)),
        ]
    };
    let p1 = with_proof("p1");
    assert_eq!(post(a, p1.clone(), "{}").await.0, 200);
    let (status, h) = post(b, p1.clone(), "{}").await;
    assert_eq!(status, 401);
    let www = h.get("www-authenticate").unwrap().to_str().unwrap();
    assert!(www.contains("invalid_dpop_proof"), "{www}");
    assert_eq!(post(a, p1, "{}").await.0, 401);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // A session opened by alice on A is refused to bob on B (404), and serves alice on B.
    let alice = format!("Bearer {}", double.token(&resource, "mcp:tools"));
    let mut bob_claims = double.claims(&resource, "mcp:tools");
    bob_claims["sub"] = serde_json::json!("bob");
    let bob = format!("Bearer {}", double.sign(&bob_claims));
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#;
    let (status, h) = post(a, vec![("authorization", alice.clone())], init).await;
    assert_eq!(status, 200);
    let session = h["mcp-session-id"].to_str().unwrap().to_owned();
    let in_session = |auth: &str| {
        vec![
            ("authorization", auth.to_owned()),
            ("mcp-session-id", session.clone()),
        ]
    };
    let before = hits.load(Ordering::SeqCst);
    assert_eq!(post(b, in_session(&bob), "{}").await.0, 404);
    assert_eq!(post(a, in_session(&bob), "{}").await.0, 404);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "bob reached the upstream"
    );
    assert_eq!(post(b, in_session(&alice), "{}").await.0, 200);

    // What Redis holds: digests only, each expiring; no token, subject or session id.
    let stored = dump(redis_port);
    assert_eq!(stored.len(), 2, "{stored:?}");
    for (key, ttl, value) in &stored {
        let digest = key
            .strip_prefix("mcp-authz:dpop:")
            .or_else(|| key.strip_prefix("mcp-authz:session:"))
            .unwrap();
        assert!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(*ttl > 0, "{key} does not expire");
        for secret in [
            client.token.as_str(),
            &alice[7..],
            "alice",
            session.as_str(),
            "p1",
        ] {
            assert!(
                !key.contains(secret) && !value.contains(secret),
                "{key} = {value}"
            );
        }
    }

    // Redis goes away: proofs and sessions fail closed (503 + Retry-After), nothing reaches the
    // upstream; a replica told to fail open lets a fresh proof through.
    drop(redis);
    let before = hits.load(Ordering::SeqCst);
    let (status, h) = post(a, with_proof("p2"), "{}").await;
    assert_eq!(status, 503);
    assert!(h.contains_key("retry-after"));
    assert_eq!(post(b, in_session(&alice), "{}").await.0, 503);
    assert_eq!(
        post(a, vec![("authorization", alice.clone())], init)
            .await
            .0,
        503
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before + 1,
        "only the initialize reached it"
    );
    assert_eq!(post(c, with_proof("p3"), "{}").await.0, 200);
    // A request that needs no state still passes.
    assert_eq!(
        post(b, vec![("authorization", alice.clone())], "{}")
            .await
            .0,
        200
    );

    // Back (empty): each replica reconnects within a few seconds (503 until then, never a
    // pass without the check); proofs are recorded again, and a new session is bound again.
    let _redis = start_redis(redis_port).await;
    let until_back = |port: u16, headers: Vec<(&'static str, String)>, body: &'static str| {
        let post = &post;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (status, h) = post(port, headers.clone(), body).await;
                if status != 503 {
                    return (status, h);
                }
                assert!(Instant::now() < deadline, "the store never came back");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let p4 = with_proof("p4");
    assert_eq!(until_back(a, p4.clone(), "{}").await.0, 200);
    assert_eq!(until_back(b, p4, "{}").await.0, 401);
    let (status, h) = until_back(b, vec![("authorization", alice.clone())], init).await;
    assert_eq!(status, 200);
    let session = h["mcp-session-id"].to_str().unwrap().to_owned();
    let bob_in = vec![("authorization", bob.clone()), ("mcp-session-id", session)];
    assert_eq!(post(a, bob_in, "{}").await.0, 404);
}

/// Introspection answers shared through Redis (`--share-introspection`): two replicas ask the
/// authorization server once per token between them, see a revocation at the same moment, keep
/// only the token's digest as the key, and fall back to asking themselves when Redis is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_introspection_answers_through_redis() {
    use mcp_authz_testkit::as_double::{AsDouble, INTROSPECTION_CLIENT};

    let redis_port = free_port().await;
    let redis = start_redis(redis_port).await;
    let double = AsDouble::start().await;
    let resource = "https://mcp.example.com/mcp".to_owned();
    let up_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", up_l.local_addr().unwrap());
    let app = axum::Router::new().route("/mcp", axum::routing::any(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(up_l, app).await });
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), INTROSPECTION_CLIENT.1).unwrap();
    let secret_path = secret.path().to_str().unwrap().to_owned();
    let args = [
        "--introspect",
        "non-jwt",
        "--introspection-client-id",
        INTROSPECTION_CLIENT.0,
        "--introspection-client-secret-file",
        &secret_path,
        "--introspection-cache-ttl",
        "2",
        "--share-introspection",
    ];
    let metadata_url = double.metadata_url();
    let (_a, a) = replica(&metadata_url, &resource, &upstream, redis_port, &args).await;
    let (_b, b) = replica(&metadata_url, &resource, &upstream, redis_port, &args).await;
    let token = double.opaque_token(&resource, "mcp:tools");
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
    // Both replicas, several requests each: one introspection call in all.
    for port in [a, b, a, b, b] {
        assert_eq!(post(port).await, 200);
    }
    assert_eq!(double.introspections(), 1);
    let stored = dump(redis_port);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (key, ttl, value) = &stored[0];
    let digest = key.strip_prefix("mcp-authz:introspection:").unwrap();
    assert!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(*ttl > 0 && *ttl <= 2_000, "{ttl}");
    assert!(!key.contains(&token) && !value.contains(&token));

    // Revoked: once the positive TTL (2 s) has passed, both replicas refuse it.
    double.revoke(&token);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(post(a).await, 401);
    assert_eq!(post(b).await, 401);
    assert!(double.introspections() <= 3, "{}", double.introspections());

    // Redis gone: each replica asks the authorization server itself; nothing fails.
    drop(redis);
    let fresh = double.opaque_token(&resource, "mcp:tools");
    let before = double.introspections();
    for port in [a, b] {
        let url = format!("http://127.0.0.1:{port}/mcp");
        let auth = format!("Bearer {fresh}");
        let status = send("POST", &url, &[("authorization", auth.as_str())], b"{}")
            .await
            .0;
        assert_eq!(status, 200);
    }
    assert_eq!(double.introspections(), before + 2);
}

/// `--share-introspection` without a shared store is a configuration error, not a silent no-op.
#[tokio::test]
async fn sharing_introspection_needs_a_store() {
    let port = free_port().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        // Lazy (the default): not even waiting for the authorization server, it refuses.
        .args(["proxy"])
        .args([
            "--metadata-url",
            "http://127.0.0.1:1/.well-known/oauth-authorization-server",
        ])
        .args(["--resource", "https://mcp.example.com/mcp"])
        .args([
            "--upstream",
            "http://127.0.0.1:2/mcp",
            "--allow-http-loopback",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--introspect", "always", "--introspection-client-id", "rs"])
        .args(["--share-introspection"])
        .env("MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET", "secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "it started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("--share-introspection needs"), "{stderr}");
}

/// The facade's transactions live in the shared store: an authorization started on one replica
/// comes back (the provider's callback) through another; the transaction is taken once; Redis
/// holds it under a digest of its id, with an expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_facade_callback_may_reach_another_replica() {
    use mcp_authz_testkit::as_double::AsDouble;

    let redis_port = free_port().await;
    let _redis = start_redis(redis_port).await;
    let double = AsDouble::start().await;
    let resource = "https://mcp.example.com/mcp";
    let args = [
        "--as-facade",
        "generic",
        "--facade-client-id",
        "app-id",
        "--facade-redirect-uri",
        "http://127.0.0.1/callback",
    ];
    let metadata = double.metadata_url();
    let upstream = "http://127.0.0.1:9/mcp";
    let (_a, a) = replica(&metadata, resource, upstream, redis_port, &args).await;
    let (_b, b) = replica(&metadata, resource, upstream, redis_port, &args).await;
    let authorize = format!(
        "http://127.0.0.1:{a}/facade/generic/authorize?response_type=code&client_id=app-id&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback&state=client-state&code_challenge=abc&code_challenge_method=S256"
    );
    let (status, headers, _) = send("GET", &authorize, &[], b"").await;
    assert_eq!(status, 302);
    let location = headers["location"].to_str().unwrap();
    let id = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap()
        .to_owned();
    let stored = dump(redis_port);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (key, ttl, value) = &stored[0];
    assert!(key.starts_with("mcp-authz:once:") && !key.contains(&id));
    assert!(*ttl > 0 && *ttl <= 600_000, "{ttl}");
    assert!(!value.contains(&id));
    // The callback through the other replica: the client's own state comes back.
    let callback = format!("http://127.0.0.1:{b}/facade/generic/callback?code=c1&state={id}");
    let (status, headers, _) = send("GET", &callback, &[], b"").await;
    assert_eq!(status, 302);
    let back = headers["location"].to_str().unwrap();
    assert!(
        back.starts_with("http://127.0.0.1:7777/callback?code=c1&state=client-state&iss="),
        "{back}"
    );
    // Once only, on either replica.
    for port in [a, b] {
        let again = format!("http://127.0.0.1:{port}/facade/generic/callback?code=c1&state={id}");
        assert_eq!(send("GET", &again, &[], b"").await.0, 400);
    }
    assert!(keys(redis_port).is_empty());
}
