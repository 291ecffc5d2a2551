//! `mcp-authz proxy` in process, against the development authorization server and an upstream
//! made here: identity headers, the token never forwarded, streaming, errors, configuration.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::{any, get};
use bytes::Bytes;
use http_body_util::BodyExt;
use mcp_authz_cli::proxy::{self, ProxyConfig, RouteConfig, ServerConfig};
use mcp_authz_testkit::auth_server::DevAuthServer;
use mcp_authz_testkit::client::send_streaming as send;
use serde_json::Value;

#[path = "support/dpop.rs"]
mod dpop;
use dpop::DpopClient;

struct Rig {
    resource: String,
    upstream: String,
    auth: Arc<DevAuthServer>,
    /// Requests that reached the upstream.
    hits: Arc<AtomicUsize>,
    /// Requests whose bytes, read the most lenient way, called `admin_reset`.
    admin_runs: Arc<AtomicUsize>,
}

impl Rig {
    /// The proxy's `host:port`.
    fn addr(&self) -> String {
        self.resource
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .to_owned()
    }

    /// `Bearer <token>` for a token from the development AS with `scope`, for this resource.
    fn bearer(&self, scope: &str) -> String {
        let token = self.auth.mint("cli-test", scope, &self.resource).unwrap();
        format!("Bearer {token}")
    }
}

/// Waits (at most 20 s) until the proxy started lazily has its metadata validated and its keys.
async fn ready(authz: &mcp_authz_hyper::Authz) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !authz.is_ready() {
        assert!(
            Instant::now() < deadline,
            "not ready: {}",
            authz.readiness()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Whether a body, read as leniently as a careless MCP server would (any content type, a form
/// field, percent-encoding, a BOM), calls the tool `admin_reset`.
fn calls_admin(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body)
        .replace("%22", "\"")
        .replace('+', " ");
    text.contains("admin_reset") && text.contains("tools/call")
}

/// An upstream that runs whatever JSON-RPC it finds and echoes what reached it, streams an SSE
/// response slowly, or answers late. Every request is counted.
fn upstream_app(hits: Arc<AtomicUsize>, admin_runs: Arc<AtomicUsize>) -> axum::Router {
    let counted = hits.clone();
    axum::Router::new()
        .route(
            "/mcp",
            any(|req: http::Request<Body>| async move {
                let (parts, body) = req.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if calls_admin(&bytes) {
                    admin_runs.fetch_add(1, Ordering::SeqCst);
                }
                let headers: serde_json::Map<String, Value> = parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
                    .collect();
                axum::Json(serde_json::json!({"headers": headers, "query": parts.uri.query()}))
            }),
        )
        .route(
            "/tools",
            // tools/list of three tools; any other call runs.
            any(|body: Bytes| async move {
                let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let result = match req["method"].as_str() {
                    Some("tools/list") => serde_json::json!({"tools": [
                        {"name": "whoami"}, {"name": "admin_reset"}, {"name": "deploy"}]}),
                    _ => serde_json::json!({"content": []}),
                };
                axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": result}))
            }),
        )
        .route(
            "/session",
            // An MCP server that opens a session on every answer (as on `initialize`).
            any(|| async { ([("mcp-session-id", "session-1")], "{}") }),
        )
        .route(
            "/sse",
            get(|| async {
                let stream = gated_stream();
                http::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }),
        )
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ))
}

/// Opens `/sse`'s second event: the test fires it once the first event came through the proxy.
static SSE_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Three events; the second and third only after [`SSE_GATE`] opened. A proxy that held the
/// response until its end would never deliver the first: no timing is involved.
fn gated_stream() -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from("data: event 0\n\n"))).await;
        SSE_GATE.notified().await;
        for i in 1..3 {
            let _ = tx
                .send(Ok(Bytes::from(format!("data: event {i}\n\n"))))
                .await;
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Starts the development AS, the upstream and a proxy whose upstream path is `upstream_path`.
async fn start(upstream_path: &str, timeout: Duration) -> Rig {
    start_with(upstream_path, timeout, |_| {}).await
}

/// [`start`] with the proxy configuration edited.
async fn start_with(
    upstream_path: &str,
    timeout: Duration,
    edit: impl FnOnce(&mut ProxyConfig),
) -> Rig {
    let (as_l, as_a) = listener().await;
    let (px_l, px_a) = listener().await;
    let (up_l, up_a) = listener().await;
    let issuer = format!("http://{as_a}");
    let resource = format!("http://{px_a}/mcp");
    let auth = DevAuthServer::new(
        issuer.clone(),
        resource.clone(),
        vec!["mcp:tools".into(), "mcp:admin".into()],
    )
    .unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let (hits, admin_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = upstream_app(hits.clone(), admin_runs.clone());
    tokio::spawn(async move { axum::serve(up_l, app).await });
    let route = RouteConfig {
        metadata_url: vec![format!("{issuer}/.well-known/oauth-authorization-server")],
        resource: Some(resource.clone()),
        upstream: Some(format!("http://{up_a}{upstream_path}")),
        scope: vec!["mcp:tools".into()],
        tool_scope: vec!["admin_reset=mcp:admin".into()],
        resource_name: Some("test".into()),
        allow_http_loopback: true,
        upstream_timeout: Some(timeout.as_secs()),
        ..Default::default()
    };
    let mut config = ProxyConfig {
        route,
        server: ServerConfig {
            listen: Some(px_a),
            ..Default::default()
        },
        routes: Vec::new(),
    };
    edit(&mut config);
    let built = proxy::build(&config).await.unwrap();
    ready(&built.authz).await;
    let limits = config.server.limits();
    tokio::spawn(
        async move { proxy::serve(px_l, built.app, limits, std::future::pending()).await },
    );
    Rig {
        resource,
        upstream: config.route.upstream.clone().unwrap(),
        auth,
        hits,
        admin_runs,
    }
}

/// A file holding `bytes`, for settings read from files (secrets, policies); removed when the
/// returned path is dropped.
fn temp_file(name: &str, bytes: &[u8]) -> tempfile::TempPath {
    let file = tempfile::Builder::new()
        .prefix("mcp-authz-")
        .suffix(&format!("-{name}"))
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file.into_temp_path()
}

/// [`start`] with these client limits: head and body timeouts in seconds, connections at once.
async fn start_limited(header_timeout: u64, body_timeout: u64, max_connections: usize) -> Rig {
    start_with("/mcp", Duration::from_secs(10), |c| {
        c.server.header_timeout = Some(header_timeout);
        c.server.body_timeout = Some(body_timeout);
        c.server.max_connections = Some(max_connections);
    })
    .await
}

async fn json(body: hyper::body::Incoming) -> Value {
    serde_json::from_slice(&body.collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn identity_goes_upstream_and_the_token_does_not() {
    let rig = start("/mcp", Duration::from_secs(10)).await;
    let auth = rig.bearer("mcp:tools");
    let (status, _, body) = send(
        "POST",
        &format!("{}?x=1", rig.resource),
        &[
            ("authorization", &auth),
            // Forged identity headers from the client are removed first.
            ("x-mcp-authz-subject", "root"),
            ("X-Mcp-Authz-Scopes", "everything"),
            ("connection", "keep-alive"),
            ("content-type", "application/json"),
            // So are the client's claims of where it came from.
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=203.0.113.9;proto=https"),
            ("x-real-ip", "203.0.113.9"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(status, 200);
    let v = json(body).await;
    let h = &v["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{h}");
    assert_eq!(h["x-forwarded-proto"], "http", "{h}");
    assert_eq!(h["forwarded"], "for=127.0.0.1;proto=http", "{h}");
    assert!(h.get("x-real-ip").is_none(), "{h}");
    assert_eq!(h["x-mcp-authz-subject"], "demo-user");
    assert_eq!(h["x-mcp-authz-client-id"], "cli-test");
    assert_eq!(h["x-mcp-authz-scopes"], "mcp:tools");
    assert!(h.get("authorization").is_none(), "{h}");
    assert!(h["host"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(h["x-forwarded-host"].is_string());
    assert_eq!(v["query"], "x=1");
}

/// One attempt: a name, request headers, the body, the status it must get.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [u8], u16);

fn rpc(id: u64, method: &str, params: Value) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
    )
    .unwrap()
}

/// `--tool-scope admin_reset=mcp:admin` in front of an upstream that runs whatever JSON-RPC it
/// finds: no body the proxy cannot read as JSON-RPC reaches it, whatever its content type.
#[tokio::test]
async fn bodies_the_tool_policy_cannot_read_never_reach_the_upstream() {
    let rig = start("/mcp", Duration::from_secs(10)).await;
    let basic = rig.bearer("mcp:tools");
    let admin_call = rpc(
        1,
        "tools/call",
        serde_json::json!({"name":"admin_reset","arguments":{}}),
    );
    let admin_text = String::from_utf8(admin_call.clone()).unwrap();
    let form_field = format!("jsonrpc={}", admin_text.replace('"', "%22"));
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&admin_call);
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<Case<'_>> = vec![
        ("form", vec![("content-type", form)], &admin_call, 415),
        (
            "jsonrpc= form field",
            vec![("content-type", form)],
            form_field.as_bytes(),
            415,
        ),
        (
            "text/plain",
            vec![("content-type", "text/plain")],
            &admin_call,
            415,
        ),
        ("no content type", vec![], &admin_call, 415),
        (
            "multipart",
            vec![("content-type", "multipart/form-data; boundary=x")],
            &admin_call,
            415,
        ),
        (
            "gzip",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            &admin_call,
            415,
        ),
        (
            "two content types",
            vec![
                ("content-type", "application/json"),
                ("content-type", "text/plain"),
            ],
            &admin_call,
            400,
        ),
        (
            "chunked JSON",
            vec![
                ("content-type", "application/json"),
                ("transfer-encoding", "chunked"),
            ],
            &admin_call,
            403,
        ),
        (
            "chunked text",
            vec![
                ("content-type", "text/plain"),
                ("transfer-encoding", "chunked"),
            ],
            &admin_call,
            415,
        ),
        ("BOM", vec![("content-type", "application/json")], &bom, 400),
        (
            "JSON",
            vec![("content-type", "application/json")],
            &admin_call,
            403,
        ),
    ];
    for (name, mut headers, body, expected) in cases {
        headers.push(("authorization", &basic));
        let (status, _, _) = send("POST", &rig.resource, &headers, body).await;
        assert_eq!(status, expected, "{name}");
    }
    assert_eq!(
        rig.hits.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );
    assert_eq!(rig.admin_runs.load(Ordering::SeqCst), 0);
    // The control: with the admin scope the same call reaches the upstream and runs.
    let admin = rig.bearer("mcp:tools mcp:admin");
    let json = [
        ("content-type", "application/json"),
        ("authorization", admin.as_str()),
    ];
    let (status, _, _) = send("POST", &rig.resource, &json, &admin_call).await;
    assert_eq!(status, 200);
    assert_eq!(rig.admin_runs.load(Ordering::SeqCst), 1);
}

/// MCP 2026-07-28 standard request headers through the proxy: `Mcp-Name` is compared with
/// `params.name` or `params.uri` after decoding, and a mismatch is 400 with JSON-RPC -32020.
#[tokio::test]
async fn mcp_request_headers_through_the_proxy() {
    let rig = start("/mcp", Duration::from_secs(10)).await;
    let auth = rig.bearer("mcp:tools");
    let read = rpc(
        3,
        "resources/read",
        serde_json::json!({"uri":"file:///notes/a b.txt"}),
    );
    let prompt = rpc(4, "prompts/get", serde_json::json!({"name":"summarise"}));
    let unicode = rpc(5, "tools/call", serde_json::json!({"name":"h\u{e9}llo"}));
    let admin = rpc(6, "tools/call", serde_json::json!({"name":"admin_reset"}));
    let allowed: [(&str, &str, &[u8]); 3] = [
        ("resources/read", "file:///notes/a b.txt", &read),
        ("prompts/get", "summarise", &prompt),
        ("tools/call", "=?base64?aMOpbGxv?=", &unicode),
    ];
    for (method, name, body) in allowed {
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("mcp-method", method),
            ("mcp-name", name),
        ];
        let (status, _, _) = send("POST", &rig.resource, &headers, body).await;
        assert_eq!(status, 200, "{method} {name}");
    }
    assert_eq!(rig.hits.load(Ordering::SeqCst), 3);
    // A base64-form name is decoded before the tool scope applies.
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?YWRtaW5fcmVzZXQ=?="),
    ];
    let (status, _, _) = send("POST", &rig.resource, &headers, &admin).await;
    assert_eq!(status, 403);
    // Headers that contradict the body.
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "whoami"),
    ];
    let (status, _, body) = send("POST", &rig.resource, &headers, &admin).await;
    assert_eq!(status, 400);
    assert_eq!(
        json(body).await,
        serde_json::json!({"jsonrpc":"2.0","id":6,"error":{"code":-32020,
            "message":"the MCP request headers contradict the request body"}})
    );
    assert_eq!(rig.hits.load(Ordering::SeqCst), 3);
    assert_eq!(rig.admin_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_proxy_serves_discovery_health_and_404() {
    let rig = start("/mcp", Duration::from_secs(10)).await;
    let origin = rig.resource.trim_end_matches("/mcp").to_owned();
    let (status, headers, _) = send("POST", &rig.resource, &[], b"{}").await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("resource_metadata="));
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let (status, _, body) = send("GET", &format!("{origin}{path}"), &[], b"").await;
        assert_eq!(status, 200);
        assert_eq!(json(body).await["resource_name"], "test");
    }
    let (status, _, body) = send("GET", &format!("{origin}/healthz"), &[], b"").await;
    assert_eq!(
        (status, json(body).await["status"].clone()),
        (200, Value::from("ok"))
    );
    let (status, _, _) = send("GET", &format!("{origin}/elsewhere"), &[], b"").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn sse_streams_through_as_it_arrives() {
    let rig = start("/sse", Duration::from_secs(10)).await;
    let auth = rig.bearer("mcp:tools");
    let (status, headers, mut body) =
        send("GET", &rig.resource, &[("authorization", &auth)], b"").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    // The first event comes through while the upstream still holds the others back; the bound
    // only turns a proxy that buffers (and so never delivers it) into a failure.
    let first = tokio::time::timeout(Duration::from_secs(30), body.frame())
        .await
        .expect("the first event was held back")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&first[..], b"data: event 0\n\n");
    SSE_GATE.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"data: event 1\n\ndata: event 2\n\n");
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    let rig = start("/slow", Duration::from_secs(1)).await;
    let auth = rig.bearer("mcp:tools");
    let (status, _, body) = send("POST", &rig.resource, &[("authorization", &auth)], b"").await;
    assert_eq!(status, 504);
    assert_eq!(json(body).await["error"], "gateway_timeout");

    // An upstream on a port nobody listens on.
    let (dead, dead_addr) = listener().await;
    drop(dead);
    let (as_l, as_a) = listener().await;
    let (px_l, px_a) = listener().await;
    let issuer = format!("http://{as_a}");
    let resource = format!("http://{px_a}/mcp");
    let auth_server =
        DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()]).unwrap();
    let router = auth_server.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let config = ProxyConfig {
        route: RouteConfig {
            metadata_url: vec![format!("{issuer}/.well-known/oauth-authorization-server")],
            resource: Some(resource.clone()),
            upstream: Some(format!("http://{dead_addr}/mcp")),
            allow_http_loopback: true,
            upstream_timeout: Some(5),
            ..Default::default()
        },
        ..Default::default()
    };
    let built = proxy::build(&config).await.unwrap();
    ready(&built.authz).await;
    tokio::spawn(async move { axum::serve(px_l, built.app).await });
    let token = auth_server
        .mint("cli-test", "mcp:tools", &resource)
        .unwrap();
    let auth = format!("Bearer {token}");
    let (status, headers, body) = send("POST", &resource, &[("authorization", &auth)], b"").await;
    assert_eq!(status, 502);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json(body).await["error"], "bad_gateway");
}

#[tokio::test]
async fn startup_refuses_unacceptable_metadata_naming_every_problem() {
    let (l, a) = listener().await;
    let app = axum::Router::new().route(
        "/.well-known/oauth-authorization-server",
        get(move || async move {
            axum::Json(serde_json::json!({"issuer": format!("http://{a}"), "jwks_uri": 7}))
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await });
    let config = ProxyConfig {
        route: RouteConfig {
            metadata_url: vec![format!("http://{a}/.well-known/oauth-authorization-server")],
            resource: Some("http://127.0.0.1:9/mcp".into()),
            upstream: Some("http://127.0.0.1:9/mcp".into()),
            allow_http_loopback: true,
            upstream_timeout: Some(5),
            ..Default::default()
        },
        server: ServerConfig {
            fail_fast: true,
            ..Default::default()
        },
        routes: Vec::new(),
    };
    let Err(proxy::BuildError::Startup(message)) = proxy::build(&config).await else {
        panic!("started, or refused its settings")
    };
    for expected in [
        "authorization_endpoint: missing",
        "token_endpoint: missing",
        "registration_endpoint: missing",
        "jwks_uri: not a string",
    ] {
        assert!(message.contains(expected), "{message}");
    }
}

#[tokio::test]
async fn max_token_lifetime_refuses_long_lived_tokens() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.max_token_lifetime = Some(60)
    })
    .await;
    // The development AS issues 15-minute tokens.
    let auth = rig.bearer("mcp:tools");
    let (status, headers, _) = send("GET", &rig.resource, &[("authorization", &auth)], b"").await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("the access token lives longer than this resource accepts"));
    assert_eq!(rig.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn extra_audiences_are_accepted_exactly() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.audience.audience = vec!["api://mcp-server".into()]
    })
    .await;
    let json = |auth: &str| {
        [
            ("authorization", auth.to_owned()),
            ("content-type", "application/json".to_owned()),
        ]
    };
    for (aud, want) in [
        ("api://mcp-server", 200),
        (rig.resource.as_str(), 200),
        ("api://mcp-server/", 401),
        ("api://other", 401),
    ] {
        let token = rig.auth.mint("cli-test", "mcp:tools", aud).unwrap();
        let headers = json(&format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, _) = send("POST", &rig.resource, &headers, b"{}").await;
        assert_eq!(status, want, "{aud}");
    }
}

/// Two authorization servers behind one proxy: each one's tokens pass, verified with its own
/// keys; a token naming one but signed by another key, or naming neither, never reaches the
/// upstream.
#[tokio::test]
async fn two_authorization_servers_each_with_its_own_keys() {
    let (b_l, b_a) = listener().await;
    let b_issuer = format!("http://{b_a}");
    let second =
        DevAuthServer::new(b_issuer.clone(), String::new(), vec!["mcp:tools".into()]).unwrap();
    let router = second.router();
    tokio::spawn(async move { axum::serve(b_l, router).await });
    let b_metadata = format!("{b_issuer}/.well-known/oauth-authorization-server");
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.scope = vec!["mcp:tools".into()];
        c.route.metadata_url.push(b_metadata);
    })
    .await;
    let a_issuer = rig.auth.issuer().to_owned();
    // The protected-resource metadata lists both, in the configured order.
    let origin = rig.resource.trim_end_matches("/mcp");
    let (status, _, body) = send(
        "GET",
        &format!("{origin}/.well-known/oauth-protected-resource/mcp"),
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        json(body).await["authorization_servers"],
        serde_json::json!([a_issuer, b_issuer])
    );
    let call = |token: String| {
        let resource = rig.resource.clone();
        async move {
            let auth = format!("Bearer {token}");
            send(
                "POST",
                &resource,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            )
            .await
            .0
        }
    };
    let before = rig.hits.load(Ordering::SeqCst);
    assert_eq!(
        call(rig.auth.mint("c", "mcp:tools", &rig.resource).unwrap()).await,
        200
    );
    assert_eq!(
        call(second.mint("c", "mcp:tools", &rig.resource).unwrap()).await,
        200
    );
    assert_eq!(rig.hits.load(Ordering::SeqCst), before + 2);
    // A token that names the first server but is signed with another key (an imposter with the
    // same issuer name), and one from a server nobody configured.
    let imposter = DevAuthServer::new(a_issuer.clone(), String::new(), vec![]).unwrap();
    let unknown = DevAuthServer::new("http://127.0.0.1:9".into(), String::new(), vec![]).unwrap();
    for token in [
        imposter.mint("c", "mcp:tools", &rig.resource).unwrap(),
        unknown.mint("c", "mcp:tools", &rig.resource).unwrap(),
    ] {
        assert_eq!(call(token).await, 401);
    }
    assert_eq!(
        rig.hits.load(Ordering::SeqCst),
        before + 2,
        "never forwarded"
    );
}

/// Entra ID's multi-tenant metadata states a tenant template as its issuer: the proxy refuses to
/// start without a tenant allow-list, and with one advertises the URL the metadata came from.
#[tokio::test]
async fn a_tenant_template_needs_tenants_and_is_advertised_as_its_metadata_url() {
    let (l, a) = listener().await;
    let base = format!("http://{a}");
    let doc = serde_json::json!({
        "issuer": format!("{base}/{{tenantid}}/v2.0"),
        "authorization_endpoint": format!("{base}/organizations/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/organizations/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/organizations/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
    });
    let keys = serde_json::json!({"keys": []});
    let app = axum::Router::new()
        .route(
            "/organizations/v2.0/.well-known/openid-configuration",
            get(move || async move { axum::Json(doc) }),
        )
        .route(
            "/organizations/discovery/v2.0/keys",
            get(move || async move { axum::Json(keys) }),
        );
    tokio::spawn(async move { axum::serve(l, app).await });
    let (_, px_a) = listener().await;
    let config = |tenant: Vec<String>| ProxyConfig {
        route: RouteConfig {
            metadata_url: vec![format!(
                "{base}/organizations/v2.0/.well-known/openid-configuration"
            )],
            resource: Some(format!("http://{px_a}/mcp")),
            upstream: Some("http://127.0.0.1:9/mcp".into()),
            allow_missing_registration: true,
            allow_http_loopback: true,
            lenient_typ: true,
            tenants: mcp_authz_cli::TenantArgs {
                tenant,
                ..Default::default()
            },
            upstream_timeout: Some(5),
            ..Default::default()
        },
        ..Default::default()
    };
    let refused = proxy::build(&config(vec![]))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("--tenant"), "{refused}");
    let built = proxy::build(&config(vec!["72f988bf-86f1-41af-91ab-2d7cd011db47".into()]))
        .await
        .unwrap();
    let guard = built.authz.guard();
    assert_eq!(
        guard.verifier().config().issuer(),
        format!("{base}/{{tenantid}}/v2.0")
    );
    assert_eq!(
        guard.metadata().authorization_servers(),
        [format!("{base}/organizations/v2.0")]
    );
}

/// Opaque tokens through the proxy: introspected at the authorization server (the test kit's
/// double, HTTP Basic), the identity goes upstream, an unknown token never does.
#[tokio::test]
async fn opaque_tokens_are_introspected_and_their_identity_goes_upstream() {
    use mcp_authz_testkit::as_double::{AsDouble, INTROSPECTION_CLIENT};
    let double = AsDouble::start().await;
    let metadata = double.metadata_url();
    let secret_file = temp_file("introspection-secret", INTROSPECTION_CLIENT.1.as_bytes());
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.metadata_url = vec![metadata];
        c.route.scope = vec!["mcp:tools".into()];
        c.route.introspect = Some("non-jwt".into());
        c.route.introspection_client_id = Some(INTROSPECTION_CLIENT.0.into());
        c.route.introspection_client_secret_file = Some(secret_file.to_path_buf());
    })
    .await;
    let token = double.opaque_token(&rig.resource, "mcp:tools");
    let auth = format!("Bearer {token}");
    let (status, _, body) = send(
        "POST",
        &rig.resource,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let seen = json(body).await;
    assert_eq!(seen["headers"]["x-mcp-authz-subject"], "alice");
    assert_eq!(seen["headers"]["x-mcp-authz-client-id"], "test-client");
    assert!(seen["headers"].get("authorization").is_none());
    let before = rig.hits.load(Ordering::SeqCst);
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[
            ("authorization", "Bearer opaque-nobody-issued-this"),
            ("content-type", "application/json"),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(rig.hits.load(Ordering::SeqCst), before);
    assert_eq!(double.introspections(), 2);
}

/// Identity headers survive any claim value, and nothing under the identity prefix (or named
/// hop-by-hop by `Connection`) from the client reaches the upstream.
#[tokio::test]
async fn identity_headers_carry_any_value_and_the_prefix_is_ours() {
    use mcp_authz_core::mcp_request::decode_header_value;
    use mcp_authz_testkit::as_double::AsDouble;
    let double = AsDouble::start().await;
    let metadata = double.metadata_url();
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.metadata_url = vec![metadata]
    })
    .await;
    for subject in [
        "alice",
        "Zoë Ünïcode",
        "evil\r\nX-Injected: 1",
        " padded ",
        "=?base64?YQ==?=",
    ] {
        let mut claims = double.claims(&rig.resource, "mcp:tools");
        claims["sub"] = serde_json::json!(subject);
        let auth = format!("Bearer {}", double.sign(&claims));
        let (status, _, body) = send(
            "POST",
            &rig.resource,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("x-mcp-authz-assertion", "forged"),
                ("X-Mcp-Authz-Anything-Else", "forged"),
                ("connection", "x-secret-hop"),
                ("x-secret-hop", "for the next hop only"),
            ],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )
        .await;
        assert_eq!(status, 200, "{subject:?}");
        let h = &json(body).await["headers"];
        let sent = h["x-mcp-authz-subject"].as_str().unwrap();
        assert_eq!(
            decode_header_value(sent.as_bytes()).unwrap(),
            subject,
            "{sent}"
        );
        if subject == "alice" {
            assert_eq!(sent, "alice", "plain values stay plain");
        }
        assert!(h.get("x-injected").is_none());
        assert!(h.get("x-mcp-authz-assertion").is_none());
        assert!(h.get("x-mcp-authz-anything-else").is_none());
        assert!(h.get("x-secret-hop").is_none());
    }
}

/// Browsers' requests are served only from allowed origins (MCP Streamable HTTP: validate
/// `Origin`), before the upstream ever sees them.
#[tokio::test]
async fn origins_are_validated_before_the_upstream() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.allowed_origin = vec!["http://inspector.localhost:6274".into()];
    })
    .await;
    let auth = rig.bearer("mcp:tools");
    let own = rig.resource.trim_end_matches("/mcp").to_owned();
    let before = rig.hits.load(Ordering::SeqCst);
    for (origin, expected) in [
        (None, 200),
        (Some(own.as_str()), 200),
        (Some("http://inspector.localhost:6274"), 200),
        (Some("http://evil.localhost:6274"), 403),
        (Some("null"), 403),
    ] {
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(o) = origin {
            headers.push(("origin", o));
        }
        let (status, _, _) = send(
            "POST",
            &rig.resource,
            &headers,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )
        .await;
        assert_eq!(status, expected, "{origin:?}");
    }
    assert_eq!(rig.hits.load(Ordering::SeqCst), before + 3);
}

/// The proxy's connection limits: a half-sent head is cut off, a stalled body too, and
/// connections beyond the maximum wait until one closes.
#[tokio::test]
async fn slow_clients_are_cut_off_and_connections_are_bounded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rig = start_limited(1, 1, 64).await;
    let addr = rig.addr();
    let closed_within = |mut s: tokio::net::TcpStream, d: Duration| async move {
        let mut buf = [0u8; 256];
        let start = Instant::now();
        loop {
            match tokio::time::timeout(d, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some((start.elapsed(), buf)),
                Ok(Ok(_)) => continue,
                Err(_) => return None,
            }
        }
    };
    // Half a request head, then silence: closed after the header timeout.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (after, _) = closed_within(s, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(after < Duration::from_secs(4), "{after:?}");
    // A whole head, a stalled body: answered (400, the body could not be read) and not forwarded.
    let before = rig.hits.load(Ordering::SeqCst);
    let auth = rig.bearer("mcp:tools");
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!("POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\"");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    response.extend_from_slice(&buf[..n]);
                    if response.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(rig.hits.load(Ordering::SeqCst), before);
}

/// Connections that send nothing, only the HTTP/2 preface, or open an HTTP/2 stream and stall
/// are each closed within the head timeout, so `/healthz` is answered at the connection limit.
#[tokio::test]
async fn connections_that_send_nothing_useful_do_not_lock_the_proxy() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let rig = start_limited(1, 1, 3).await;
    let addr = rig.addr();
    // An empty SETTINGS frame, then HEADERS on stream 1 (GET / over http, END_HEADERS, no
    // END_STREAM): a stream left open.
    let mut stream_opened = PREFACE.to_vec();
    stream_opened.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    stream_opened.extend_from_slice(&[0, 0, 3, 1, 4, 0, 0, 0, 1, 0x82, 0x86, 0x84]);
    let mut idle = Vec::new();
    for first_bytes in [&b""[..], PREFACE, &stream_opened] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(first_bytes).await.unwrap();
        idle.push(s);
    }
    // Each is closed by the proxy (end of stream or reset), well within this bound, whatever the
    // machine's speed; without a bound on them they stay open for ever.
    let closing = idle.into_iter().map(|mut s| async move {
        let mut buf = [0u8; 256];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    });
    tokio::time::timeout(
        Duration::from_secs(20),
        futures_util::future::join_all(closing),
    )
    .await
    .expect("every idle connection closed");
    // Meanwhile a fourth connection, beyond the limit, gets its answer.
    assert!(healthz_within(&addr, Duration::from_secs(20)).await);
}

/// Whether `GET /healthz` on a new connection gets its 200 within `bound`.
async fn healthz_within(addr: &str, bound: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    match tokio::time::timeout(bound, s.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        _ => false,
    }
}

/// At the limit, with every slot taken by a connection that never sends a byte, `/healthz` is
/// served once the head timeout has closed them: they cannot hold the proxy.
#[tokio::test]
async fn silent_connections_at_the_limit_are_closed_and_healthz_answers() {
    let rig = start_limited(1, 1, 8).await;
    let addr = rig.addr();
    let mut silent = Vec::new();
    for _ in 0..12 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    assert!(
        healthz_within(&addr, Duration::from_secs(30)).await,
        "healthz answered while silent connections wait"
    );
    drop(silent);
}

/// A request without `Host` (HTTP/1.0): the client's `X-Forwarded-Host` does not reach the
/// upstream either; with `Host`, it is the `Host` the client sent.
#[tokio::test]
async fn a_forged_forwarded_host_never_reaches_the_upstream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rig = start("/mcp", Duration::from_secs(10)).await;
    let auth = rig.bearer("mcp:tools");
    let mut s = tokio::net::TcpStream::connect(rig.addr()).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.0\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nX-Forwarded-Host: forged.example\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut response))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(!text.contains("forged.example"), "{text}");
    let (status, _, body) = send(
        "POST",
        &rig.resource,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("x-forwarded-host", "forged.example"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(status, 200);
    let v = json(body).await;
    assert_eq!(v["headers"]["x-forwarded-host"], rig.addr(), "{v}");
}

/// A request head larger than the proxy takes is refused, never forwarded.
#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let rig = start("/mcp", Duration::from_secs(10)).await;
    let before = rig.hits.load(Ordering::SeqCst);
    let auth = rig.bearer("mcp:tools");
    let big = "x".repeat(proxy::MAX_HEAD_BYTES);
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("x-padding", &big),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(status, 431);
    assert_eq!(rig.hits.load(Ordering::SeqCst), before);
}

/// `--scope` alone: a form body (any charset, any method) needs the base scopes like JSON does.
/// MCP sessions through the real proxy: the session the upstream opened for one caller is
/// refused (404) to another caller's token and never reaches the upstream; the same caller with
/// a new token keeps it; two session ids are refused.
#[tokio::test]
async fn a_session_belongs_to_the_caller_that_opened_it() {
    let rig = start_with("/session", Duration::from_secs(10), |c| {
        c.route.tool_scope.clear()
    })
    .await;
    let mint = |client: &str, jti_scope: &str| {
        let token = rig.auth.mint(client, jti_scope, &rig.resource).unwrap();
        format!("Bearer {token}")
    };
    let alice = mint("alice-app", "mcp:tools");
    let (status, headers, _) =
        send("POST", &rig.resource, &[("authorization", &alice)], b"{}").await;
    assert_eq!(status, 200);
    assert_eq!(headers["mcp-session-id"], "session-1");
    let before = rig.hits.load(Ordering::SeqCst);
    let bob = mint("bob-app", "mcp:tools");
    let with_session = |auth: &str| {
        [
            ("authorization", auth.to_owned()),
            ("mcp-session-id", "session-1".to_owned()),
        ]
    };
    let h = with_session(&bob);
    let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, _, body) = send("POST", &rig.resource, &h, b"{}").await;
    assert_eq!(status, 404);
    assert_eq!(json(body).await["error"], "invalid_request");
    assert_eq!(
        rig.hits.load(Ordering::SeqCst),
        before,
        "another caller reached the session"
    );
    // A new token of the same caller (other bytes, other scopes): the session is still its own.
    let alice_again = mint("alice-app", "mcp:tools mcp:admin");
    assert_ne!(alice_again, alice);
    let h = with_session(&alice_again);
    let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, _, _) = send("POST", &rig.resource, &h, b"{}").await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[
            ("authorization", &alice),
            ("mcp-session-id", "session-1"),
            ("mcp-session-id", "x"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(rig.hits.load(Ordering::SeqCst), before + 1);
}

/// `--method-scope`: a method's scope is required besides the base scopes, through the real
/// proxy; a refused call never reaches the upstream, other methods are untouched.
#[tokio::test]
async fn method_scopes_are_required_per_method() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.tool_scope.clear();
        c.route.method_scope = vec!["resources/read=mcp:admin".into()];
    })
    .await;
    let read = rpc(
        1,
        "resources/read",
        serde_json::json!({"uri": "file:///etc/motd"}),
    );
    let call = rpc(
        2,
        "tools/call",
        serde_json::json!({"name": "echo", "arguments": {}}),
    );
    let json_ct = ("content-type", "application/json");
    let tools = rig.bearer("mcp:tools");
    let before = rig.hits.load(Ordering::SeqCst);
    let (status, headers, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &tools), json_ct],
        &read,
    )
    .await;
    assert_eq!(status, 403);
    let www = headers["www-authenticate"].to_str().unwrap();
    assert!(
        www.contains("insufficient_scope") && www.contains("mcp:admin"),
        "{www}"
    );
    assert_eq!(rig.hits.load(Ordering::SeqCst), before);
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &tools), json_ct],
        &call,
    )
    .await;
    assert_eq!(status, 200);
    let both = rig.bearer("mcp:tools mcp:admin");
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &both), json_ct],
        &read,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(rig.hits.load(Ordering::SeqCst), before + 2);
}

#[tokio::test]
async fn form_bodies_need_the_base_scopes() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.tool_scope.clear()
    })
    .await;
    let before = rig.hits.load(Ordering::SeqCst);
    let lacking = rig.bearer("mcp:admin");
    for ct in [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/json",
    ] {
        for method in ["POST", "GET"] {
            let (status, _, _) = send(
                method,
                &rig.resource,
                &[("authorization", &lacking), ("content-type", ct)],
                b"a=b",
            )
            .await;
            assert_eq!(status, 403, "{method} {ct}");
        }
    }
    assert_eq!(rig.hits.load(Ordering::SeqCst), before);
    let holding = rig.bearer("mcp:tools");
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[
            ("authorization", &holding),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"a=b",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn connections_beyond_the_maximum_wait() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rig = start_limited(30, 30, 2).await;
    let addr = rig.addr();
    let idle_a = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _idle_b = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(600), third.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the maximum");
    drop(idle_a);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

/// The signed identity: the upstream verifies it with mcp-authz-core and the proxy's JWK Set,
/// and a client cannot send one of its own.
#[tokio::test]
async fn the_identity_assertion_verifies_upstream_and_cannot_be_forged() {
    use mcp_authz_core::{AccessTokenVerifier, JwkSet, TypPolicy, UnixTime, VerifierConfig};
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.identity_assertion = true;
    })
    .await;
    let origin = rig.resource.trim_end_matches("/mcp").to_owned();
    let (status, headers, jwks) =
        send_all(&format!("{origin}/.well-known/mcp-authz/jwks.json")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let auth = rig.bearer("mcp:tools");
    let (status, _, body) = send(
        "POST",
        &rig.resource,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("x-mcp-authz-assertion", "forged.by.client"),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let assertion = json(body).await["headers"]["x-mcp-authz-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(assertion, "forged.by.client");
    // What the README shows an upstream doing.
    let keys = JwkSet::parse(&jwks, &Default::default()).unwrap();
    let verifier = AccessTokenVerifier::new(
        VerifierConfig::new(rig.resource.clone(), rig.upstream.clone())
            .with_typ_policy(TypPolicy::Lenient)
            .with_max_lifetime_secs(Some(60)),
    );
    let now = UnixTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let who = verifier.verify(&assertion, &keys, now).unwrap();
    assert_eq!(who.subject(), Some("demo-user"));
    assert_eq!(who.client_id(), Some("cli-test"));
    assert!(who.has_scope("mcp:tools"));
    assert_eq!(
        who.claim("token_iss"),
        Some(serde_json::json!(rig.auth.issuer()))
    );
    assert!(who.expires_at().as_secs() <= now.as_secs() + 60);
    // Tampered, for another upstream, or a minute and more later: refused.
    let mut tampered = assertion.clone();
    tampered.pop();
    tampered.push(if assertion.ends_with('A') { 'B' } else { 'A' });
    assert!(verifier.verify(&tampered, &keys, now).is_err());
    let elsewhere = AccessTokenVerifier::new(
        VerifierConfig::new(rig.resource.clone(), "http://127.0.0.1:1/other")
            .with_typ_policy(TypPolicy::Lenient),
    );
    assert!(elsewhere.verify(&assertion, &keys, now).is_err());
    assert!(verifier
        .verify(&assertion, &keys, now.saturating_add(130))
        .is_err());
}

async fn send_all(url: &str) -> (u16, http::HeaderMap, Vec<u8>) {
    let (status, headers, body) = send("GET", url, &[], b"").await;
    (
        status,
        headers,
        body.collect().await.unwrap().to_bytes().to_vec(),
    )
}

/// One POST with `auth` and, when given, a DPoP proof: status, WWW-Authenticate values,
/// DPoP-Nonce, body.
async fn post_dpop(
    resource: &str,
    auth: String,
    dpop: Option<String>,
) -> (u16, Vec<String>, Option<String>, hyper::body::Incoming) {
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(p) = &dpop {
        headers.push(("dpop", p.as_str()));
    }
    let (status, h, body) = send(
        "POST",
        resource,
        &headers,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    let www = h
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let nonce = h.get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    (status, www, nonce, body)
}

/// DPoP through the proxy: a bound token with its proof reaches the upstream (without the proof
/// or the token); replayed, for another key, or as Bearer it never does.
#[tokio::test]
async fn dpop_bound_tokens_need_their_proof() {
    use mcp_authz_testkit::as_double::AsDouble;
    let double = AsDouble::start().await;
    let metadata = double.metadata_url();
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.metadata_url = vec![metadata];
        c.route.dpop = Some("allowed".into());
    })
    .await;
    let client = DpopClient::new(&double, &rig.resource);
    let token = client.token.clone();
    let before = rig.hits.load(Ordering::SeqCst);
    let good = client.proof("j1", &rig.resource, None);
    let (status, _, _, body) =
        post_dpop(&rig.resource, format!("DPoP {token}"), Some(good.clone())).await;
    assert_eq!(status, 200);
    let upstream = &json(body).await["headers"];
    assert_eq!(upstream["x-mcp-authz-subject"], "alice");
    assert!(upstream.get("dpop").is_none() && upstream.get("authorization").is_none());
    // The same proof again, a proof for another URI, the token as Bearer: refused.
    let (status, www, _, _) = post_dpop(&rig.resource, format!("DPoP {token}"), Some(good)).await;
    assert_eq!(status, 401);
    assert!(
        www[0].starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{www:?}"
    );
    let elsewhere = client.proof("j2", "https://elsewhere.example/mcp", None);
    assert_eq!(
        post_dpop(&rig.resource, format!("DPoP {token}"), Some(elsewhere))
            .await
            .0,
        401
    );
    let (status, www, _, _) = post_dpop(&rig.resource, format!("Bearer {token}"), None).await;
    assert_eq!(status, 401);
    assert!(
        www.iter()
            .any(|w| w.contains("must be presented with its proof")),
        "{www:?}"
    );
    assert_eq!(rig.hits.load(Ordering::SeqCst), before + 1);
    // The metadata says DPoP is taken.
    let origin = rig.resource.trim_end_matches("/mcp");
    let (_, _, prm) = send(
        "GET",
        &format!("{origin}/.well-known/oauth-protected-resource/mcp"),
        &[],
        b"",
    )
    .await;
    let prm = json(prm).await;
    assert_eq!(prm["dpop_bound_access_tokens_required"], false);
    assert!(prm["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("ES256")));
}

/// Server nonces: a proof without one gets 401 use_dpop_nonce and the nonce; with it, it passes.
#[tokio::test]
async fn dpop_server_nonces() {
    use mcp_authz_testkit::as_double::AsDouble;
    let double = AsDouble::start().await;
    let metadata = double.metadata_url();
    let secret_file = temp_file("dpop-nonce-secret", &[42; 32]);
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.metadata_url = vec![metadata];
        c.route.dpop = Some("required".into());
        c.route.dpop_nonce_secret_file = Some(secret_file.to_path_buf());
    })
    .await;
    let client = DpopClient::new(&double, &rig.resource);
    let auth = format!("DPoP {}", client.token);
    let (status, www, nonce, _) = post_dpop(
        &rig.resource,
        auth.clone(),
        Some(client.proof("a", &rig.resource, None)),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        www[0].starts_with("DPoP error=\"use_dpop_nonce\""),
        "{www:?}"
    );
    let nonce = nonce.expect("DPoP-Nonce");
    let (status, _, _, _) = post_dpop(
        &rig.resource,
        auth,
        Some(client.proof("b", &rig.resource, Some(&nonce))),
    )
    .await;
    assert_eq!(status, 200);
}

/// Go's `go` command: installed from Debian's `golang-go` when absent (as root on a fresh
/// machine, as `.ci/run` does), else the test cannot run and says so.
fn go_command() -> std::path::PathBuf {
    let found = || {
        std::process::Command::new("go")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found() {
        let _ = std::process::Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go",
            ])
            .status();
    }
    assert!(
        found(),
        "Go is needed for this test: install Debian's golang-go"
    );
    "go".into()
}

/// A real MCP-style server in Go behind the proxy: it decodes JSON-RPC with `encoding/json`, which
/// matches member names case-insensitively (Unicode simple folds, last match wins). With a tool
/// scope on `admin_tool`, no body that Go reads as a call of `admin_tool` reaches it with a token
/// lacking that scope, whatever the case of its member names; the plain calls do.
#[tokio::test]
async fn a_go_mcp_server_never_runs_a_tool_the_policy_did_not_read() {
    let go = go_command();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/go-mcp-server");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-mcp-server");
    let built = std::process::Command::new(go)
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&dir)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env(
            "GOCACHE",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
        )
        .status()
        .unwrap();
    assert!(built.success(), "go build failed");
    /// Kills the server when the test ends, however it ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Killed(
        std::process::Command::new(&out)
            .args(["-listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let go_addr = line.trim().trim_start_matches("listening on ").to_owned();
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.upstream = Some(format!("http://{go_addr}/mcp"));
        c.route.tool_scope = vec!["admin_tool=mcp:admin".into()];
    })
    .await;
    let calls = || async {
        let (_, _, body) = send_all(&format!("http://{go_addr}/calls")).await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        v["calls"].as_array().unwrap().clone()
    };
    let tools = rig.bearer("mcp:tools");
    let json_ct = ("content-type", "application/json");
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","Name":"admin_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"admin_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"admin_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"Params":{"name":"admin_tool"}}"#,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"whoami\"},\"param\u{17f}\":{\"name\":\"admin_tool\"}}",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"param\u017f":{"name":"admin_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","na\u006de":"admin_tool"}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"admin_tool"}}]"#,
    ] {
        let (status, _, _) = send(
            "POST",
            &rig.resource,
            &[("authorization", &tools), json_ct],
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(calls().await, Vec::<Value>::new(), "nothing reached Go");
    // The plain call goes through, and admin_tool runs for a token that holds its scope: the
    // server records what it runs.
    let plain = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#;
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &tools), json_ct],
        plain,
    )
    .await;
    assert_eq!(status, 200);
    let admin = rig.bearer("mcp:tools mcp:admin");
    let call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"admin_tool"}}"#;
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &tools), json_ct],
        call,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &admin), json_ct],
        call,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        calls().await,
        vec![
            Value::from("tools/call whoami"),
            Value::from("tools/call admin_tool")
        ]
    );
}

/// Rules from the flags: a client allow-list with a scope, a repeated --tool-scope and a
/// --tool-rule for one tool (all must hold), lists filtered by them, and the two refusals.
#[tokio::test]
async fn rules_from_the_flags_guard_calls_and_filter_lists() {
    let rig = start_with("/tools", Duration::from_secs(10), |c| {
        c.route.tool_scope = vec!["deploy=mcp:admin".into()];
        c.route.tool_rule = vec![
            "admin_reset client=ops-console mcp:admin".into(),
            "deploy client=ops-console".into(),
        ];
    })
    .await;
    let json_ct = ("content-type", "application/json");
    let listed = |client: &'static str, scope: &'static str| {
        let auth = format!(
            "Bearer {}",
            rig.auth.mint(client, scope, &rig.resource).unwrap()
        );
        let resource = rig.resource.clone();
        async move {
            let (status, _, body) = send(
                "POST",
                &resource,
                &[("authorization", &auth), json_ct],
                &rpc(1, "tools/list", serde_json::json!({})),
            )
            .await;
            assert_eq!(status, 200);
            let v = json(body).await;
            assert_eq!(v["result"]["cacheScope"], "private");
            let names: Vec<String> = v["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            names
        }
    };
    assert_eq!(listed("cli-test", "mcp:tools").await, ["whoami"]);
    assert_eq!(listed("cli-test", "mcp:tools mcp:admin").await, ["whoami"]);
    assert_eq!(listed("ops-console", "mcp:tools").await, ["whoami"]);
    assert_eq!(
        listed("ops-console", "mcp:tools mcp:admin").await,
        ["whoami", "admin_reset", "deploy"]
    );
    let call = rpc(2, "tools/call", serde_json::json!({"name": "admin_reset"}));
    // The allowed client without the scope: a step-up fixes it.
    let ops = format!(
        "Bearer {}",
        rig.auth
            .mint("ops-console", "mcp:tools", &rig.resource)
            .unwrap()
    );
    let (status, headers, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &ops), json_ct],
        &call,
    )
    .await;
    assert_eq!(status, 403);
    let www = headers["www-authenticate"].to_str().unwrap();
    assert!(
        www.contains("insufficient_scope") && www.contains("mcp:admin"),
        "{www}"
    );
    // Another client: nothing fixes it, so no challenge.
    let other = format!(
        "Bearer {}",
        rig.auth
            .mint("cli-test", "mcp:tools mcp:admin", &rig.resource)
            .unwrap()
    );
    let (status, headers, body) = send(
        "POST",
        &rig.resource,
        &[("authorization", &other), json_ct],
        &call,
    )
    .await;
    assert_eq!(status, 403);
    assert!(!headers.contains_key("www-authenticate"));
    let v = json(body).await;
    assert_eq!(
        v["error"]["data"]["authorization"]["remediation"],
        "unavailable"
    );
}

/// A Cedar policy through the proxy: it allows by a claim (the client) and forbids one tool
/// for everyone; its refusals are 403 without a challenge, and lists follow it.
#[cfg(feature = "cedar")]
#[tokio::test]
async fn a_cedar_policy_allows_by_claim_and_denies_by_tool() {
    let policy = temp_file(
        "policy.cedar",
        br#"
permit(principal, action, resource)
  when { principal.client_id == "ops-console" && principal.scopes.contains("mcp:tools") };
permit(principal, action == Action::"tools/list", resource);
forbid(principal, action == Action::"tools/call", resource == Tool::"deploy");
forbid(principal, action == Action::"tools/call", resource == Tool::"admin_reset")
  unless { principal.realm_access.roles.contains("dba") };
"#,
    );
    let rig = start_with("/tools", Duration::from_secs(10), |c| {
        c.route.tool_scope.clear();
        c.route.policy = Some(policy.to_path_buf());
    })
    .await;
    let json_ct = ("content-type", "application/json");
    let bearer = |client: &str| {
        format!(
            "Bearer {}",
            rig.auth.mint(client, "mcp:tools", &rig.resource).unwrap()
        )
    };
    let call = |tool: &str| rpc(2, "tools/call", serde_json::json!({"name": tool}));
    let ops = bearer("ops-console");
    let other = bearer("cli-test");
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &ops), json_ct],
        &call("whoami"),
    )
    .await;
    assert_eq!(status, 200, "permitted by the client_id claim");
    let (status, headers, body) = send(
        "POST",
        &rig.resource,
        &[("authorization", &ops), json_ct],
        &call("deploy"),
    )
    .await;
    assert_eq!(status, 403, "forbidden by tool");
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(
        json(body).await["error"]["data"]["authorization"]["remediation"],
        "unavailable"
    );
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &other), json_ct],
        &call("whoami"),
    )
    .await;
    assert_eq!(status, 403, "no policy permits another client");
    // The forbid errors on a token without realm_access: an error denies, whatever permits.
    let (status, _, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &ops), json_ct],
        &call("admin_reset"),
    )
    .await;
    assert_eq!(
        status, 403,
        "a policy that errors must not let the permit win"
    );
    // The list follows the policy: another client may list but sees no tool it may call.
    for (auth, expected) in [(&ops, vec!["whoami"]), (&other, vec![])] {
        let (status, _, body) = send(
            "POST",
            &rig.resource,
            &[("authorization", auth), json_ct],
            &rpc(1, "tools/list", serde_json::json!({})),
        )
        .await;
        assert_eq!(status, 200);
        let v = json(body).await;
        let names: Vec<&str> = v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected);
    }
}

/// `--public-tool whoami`: a call of it without a token reaches the upstream with no identity
/// (a forged identity header is not passed on); any other call without a token is the 401 and
/// never reaches it.
#[tokio::test]
async fn a_public_tool_needs_no_token_and_carries_no_identity() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.public_tool = vec!["whoami".into()];
    })
    .await;
    let json_ct = ("content-type", "application/json");
    let before = rig.hits.load(Ordering::SeqCst);
    let (status, _, body) = send(
        "POST",
        &rig.resource,
        &[json_ct, ("x-mcp-authz-subject", "admin")],
        &rpc(1, "tools/call", serde_json::json!({"name": "whoami"})),
    )
    .await;
    assert_eq!(status, 200);
    let echoed = json(body).await;
    let headers = echoed["headers"].as_object().unwrap();
    assert!(
        !headers.keys().any(|k| k.starts_with("x-mcp-authz-")),
        "{headers:?}"
    );
    let (status, headers, _) = send(
        "POST",
        &rig.resource,
        &[json_ct],
        &rpc(2, "tools/call", serde_json::json!({"name": "admin_reset"})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(rig.hits.load(Ordering::SeqCst), before + 1);
    assert_eq!(rig.admin_runs.load(Ordering::SeqCst), 0);
}

/// `--allow-client`: a token of another client is refused whatever it asks (403 without a
/// challenge, nothing upstream), bodies or not; a listed client goes through.
#[tokio::test]
async fn a_client_allow_list_applies_to_every_request() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.allow_client = vec!["ops-console".into(), "ci".into()];
    })
    .await;
    let json_ct = ("content-type", "application/json");
    let call = rpc(1, "tools/call", serde_json::json!({"name": "whoami"}));
    let before = rig.hits.load(Ordering::SeqCst);
    for client in ["ops-console", "ci"] {
        let auth = format!(
            "Bearer {}",
            rig.auth.mint(client, "mcp:tools", &rig.resource).unwrap()
        );
        let (status, _, _) = send(
            "POST",
            &rig.resource,
            &[("authorization", &auth), json_ct],
            &call,
        )
        .await;
        assert_eq!(status, 200, "{client}");
    }
    let other = format!(
        "Bearer {}",
        rig.auth
            .mint("cli-test", "mcp:tools mcp:admin", &rig.resource)
            .unwrap()
    );
    let (status, headers, _) = send(
        "POST",
        &rig.resource,
        &[("authorization", &other), json_ct],
        &call,
    )
    .await;
    assert_eq!(status, 403);
    assert!(!headers.contains_key("www-authenticate"));
    let (status, _, _) = send("GET", &rig.resource, &[("authorization", &other)], b"").await;
    assert_eq!(status, 403, "a request without a body too");
    assert_eq!(rig.hits.load(Ordering::SeqCst), before + 2);
}

/// Start in any order: the proxy listens before its authorization server answers. Meanwhile the
/// protected-resource metadata is served (the issuer follows from the metadata URL), a request
/// without a token gets the 401 challenge, one with a token 503 + Retry-After and never the
/// upstream, and `/readyz` is 503 saying what is missing. Once the authorization server comes
/// up the proxy is ready within its retry backoff, and the token goes through.
#[tokio::test]
async fn the_proxy_starts_before_its_authorization_server_and_serves_once_it_answers() {
    let as_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{as_port}");
    let (px_l, px_a) = listener().await;
    let (up_l, up_a) = listener().await;
    let resource = format!("http://{px_a}/mcp");
    let (hits, admin_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = upstream_app(hits.clone(), admin_runs);
    tokio::spawn(async move { axum::serve(up_l, app).await });
    let config = ProxyConfig {
        route: RouteConfig {
            metadata_url: vec![format!("{issuer}/.well-known/oauth-authorization-server")],
            resource: Some(resource.clone()),
            upstream: Some(format!("http://{up_a}/mcp")),
            scope: vec!["mcp:tools".into()],
            allow_http_loopback: true,
            upstream_timeout: Some(5),
            ..Default::default()
        },
        ..Default::default()
    };
    let built = proxy::build(&config).await.unwrap();
    assert!(!built.authz.is_ready());
    tokio::spawn(async move { axum::serve(px_l, built.app).await });
    let origin = format!("http://{px_a}");

    let (status, _, body) = send(
        "GET",
        &format!("{origin}/.well-known/oauth-protected-resource/mcp"),
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        json(body).await["authorization_servers"],
        serde_json::json!([issuer])
    );
    let (status, headers, _) = send("POST", &resource, &[], b"{}").await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("resource_metadata="));
    let auth =
        DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()]).unwrap();
    let bearer = format!(
        "Bearer {}",
        auth.mint("cli-test", "mcp:tools", &resource).unwrap()
    );
    let (status, headers, _) = send("POST", &resource, &[("authorization", &bearer)], b"{}").await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "forwarded before the keys were there"
    );
    let (status, _, body) = send("GET", &format!("{origin}/readyz"), &[], b"").await;
    assert_eq!(status, 503);
    let report = json(body).await;
    assert_eq!(report["ready"], false);
    assert_eq!(
        report["authorization_servers"][0]["metadata"],
        "discovering"
    );
    assert_eq!(report["authorization_servers"][0]["keys"], "missing");

    // A few failed attempts, then the authorization server comes up on its port.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let as_l = tokio::net::TcpListener::bind(("127.0.0.1", as_port))
        .await
        .unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let up_at = Instant::now();
    loop {
        let (status, _, _) = send("GET", &format!("{origin}/readyz"), &[], b"").await;
        if status == 200 {
            break;
        }
        assert!(up_at.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "ready {:.2} s after the authorization server came up",
        up_at.elapsed().as_secs_f64()
    );
    let (status, _, _) = send("POST", &resource, &[("authorization", &bearer)], b"{}").await;
    assert_eq!(status, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// Metadata that is invalid (not unreachable) keeps the proxy unready, with the reason.
#[tokio::test]
async fn invalid_metadata_keeps_the_proxy_unready_with_the_reason() {
    let (l, a) = listener().await;
    let app = axum::Router::new().route(
        "/.well-known/oauth-authorization-server",
        get(move || async move {
            axum::Json(serde_json::json!({"issuer": format!("http://{a}"), "jwks_uri": 7}))
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await });
    let (px_l, px_a) = listener().await;
    let config = ProxyConfig {
        route: RouteConfig {
            metadata_url: vec![format!("http://{a}/.well-known/oauth-authorization-server")],
            resource: Some(format!("http://{px_a}/mcp")),
            upstream: Some("http://127.0.0.1:9/mcp".into()),
            allow_http_loopback: true,
            upstream_timeout: Some(5),
            ..Default::default()
        },
        ..Default::default()
    };
    let built = proxy::build(&config).await.unwrap();
    tokio::spawn(async move { axum::serve(px_l, built.app).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let (status, _, body) = send("GET", &format!("http://{px_a}/readyz"), &[], b"").await;
        assert_eq!(status, 503);
        let report = json(body).await;
        if report["authorization_servers"][0]["metadata"] == "invalid" {
            break report;
        }
        assert!(Instant::now() < deadline, "{report}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = report["authorization_servers"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("jwks_uri: not a string"), "{reason}");
}

/// Three MCP servers behind one listener, each its own protected resource (RFC 9728 path-aware
/// metadata), the third trusting another authorization server: a token for one route is
/// refused by the others (its audience), the root metadata path names no resource when there
/// are several, and a path no route has is 404 without reaching any upstream.
#[tokio::test]
async fn three_routes_behind_one_listener_never_share_tokens() {
    let (px_l, px_a) = listener().await;
    let origin = format!("http://{px_a}");
    let mut servers = Vec::new();
    for _ in 0..2 {
        let (l, a) = listener().await;
        let issuer = format!("http://{a}");
        let auth = Arc::new(
            DevAuthServer::new(
                issuer.clone(),
                format!("{origin}/x"),
                vec!["mcp:tools".into()],
            )
            .unwrap(),
        );
        let router = auth.router();
        tokio::spawn(async move { axum::serve(l, router).await });
        servers.push((issuer, auth));
    }
    let mut routes = Vec::new();
    let mut hits = Vec::new();
    for (name, server) in [("github", 0), ("jira", 0), ("docs", 1)] {
        let (up_l, up_a) = listener().await;
        let counted = Arc::new(AtomicUsize::new(0));
        let app = upstream_app(counted.clone(), Arc::new(AtomicUsize::new(0)));
        tokio::spawn(async move { axum::serve(up_l, app).await });
        hits.push(counted);
        routes.push(RouteConfig {
            name: Some(name.into()),
            metadata_url: vec![format!(
                "{}/.well-known/oauth-authorization-server",
                servers[server].0
            )],
            resource: Some(format!("{origin}/{name}/mcp")),
            upstream: Some(format!("http://{up_a}/mcp")),
            scope: vec!["mcp:tools".into()],
            allow_http_loopback: true,
            upstream_timeout: Some(5),
            ..Default::default()
        });
    }
    let config = ProxyConfig {
        routes,
        ..Default::default()
    };
    let built = proxy::build(&config).await.unwrap();
    assert_eq!(built.routes.len(), 3);
    for (_, authz) in &built.routes {
        ready(authz).await;
    }
    tokio::spawn(async move { axum::serve(px_l, built.app).await });

    for (name, server) in [("github", 0), ("jira", 0), ("docs", 1)] {
        let (status, _, body) = send(
            "GET",
            &format!("{origin}/.well-known/oauth-protected-resource/{name}/mcp"),
            &[],
            b"",
        )
        .await;
        assert_eq!(status, 200, "{name}");
        let doc = json(body).await;
        assert_eq!(doc["resource"], format!("{origin}/{name}/mcp"));
        assert_eq!(
            doc["authorization_servers"],
            serde_json::json!([servers[server].0])
        );
        // Without a token, each route's own challenge.
        let (status, headers, _) = send("POST", &format!("{origin}/{name}/mcp"), &[], b"{}").await;
        assert_eq!(status, 401);
        assert!(headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(&format!("oauth-protected-resource/{name}/mcp")));
    }
    let (status, _, _) = send(
        "GET",
        &format!("{origin}/.well-known/oauth-protected-resource"),
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 404);

    let token = |server: usize, name: &str| {
        let t = servers[server]
            .1
            .mint("cli-test", "mcp:tools", &format!("{origin}/{name}/mcp"))
            .unwrap();
        format!("Bearer {t}")
    };
    let github = token(0, "github");
    let post = |path: String, auth: String| async move {
        send("POST", &path, &[("authorization", &auth)], b"{}")
            .await
            .0
    };
    assert_eq!(
        post(format!("{origin}/github/mcp"), github.clone()).await,
        200
    );
    // The same issuer, another route: its audience is not this resource.
    assert_eq!(
        post(format!("{origin}/jira/mcp"), github.clone()).await,
        401
    );
    // Another issuer's route.
    assert_eq!(
        post(format!("{origin}/docs/mcp"), github.clone()).await,
        401
    );
    assert_eq!(
        post(format!("{origin}/docs/mcp"), token(1, "docs")).await,
        200
    );
    // A path no route has.
    for path in ["/other/mcp", "/github", "/github/mcp/x", "/mcp"] {
        assert_eq!(
            post(format!("{origin}{path}"), github.clone()).await,
            404,
            "{path}"
        );
    }
    let counts: Vec<usize> = hits.iter().map(|h| h.load(Ordering::SeqCst)).collect();
    assert_eq!(counts, [1, 0, 1]);
    let (status, _, body) = send("GET", &format!("{origin}/readyz"), &[], b"").await;
    assert_eq!(status, 200);
    let report = json(body).await;
    let names: Vec<&str> = report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["github", "jira", "docs"]);
}

/// Routes that would take the same path, or a path the proxy serves itself, are refused
/// before anything is fetched.
#[tokio::test]
async fn routes_may_not_share_a_path() {
    let route = |name: &str, resource: &str| RouteConfig {
        name: Some(name.into()),
        metadata_url: vec!["http://127.0.0.1:1/.well-known/oauth-authorization-server".into()],
        resource: Some(resource.into()),
        upstream: Some("http://127.0.0.1:2/mcp".into()),
        allow_http_loopback: true,
        ..Default::default()
    };
    for (routes, expected) in [
        (
            vec![route("a", "http://x/mcp"), route("b", "http://x/mcp")],
            "two routes protect the path /mcp",
        ),
        (
            vec![route("a", "http://x/a/mcp"), route("a", "http://x/b/mcp")],
            "two routes are named a",
        ),
        (
            vec![route("a", "http://x/a/mcp"), route("h", "http://x/healthz")],
            "the path /healthz is taken",
        ),
    ] {
        let config = ProxyConfig {
            routes,
            ..Default::default()
        };
        let Err(proxy::BuildError::Config(e)) = proxy::build(&config).await else {
            panic!("{expected}: accepted")
        };
        assert!(e.contains(expected), "{e}");
    }
}

/// Rate limits per caller and per tool: over the limit, 429 with Retry-After, the RateLimit
/// fields and a JSON-RPC error with the request's id, and the upstream never sees the request;
/// another caller has its own budget.
#[tokio::test]
async fn rate_limits_per_caller_and_per_tool() {
    let rig = start_with("/mcp", Duration::from_secs(10), |c| {
        c.route.rate_limit = Some("4/min burst=4".into());
        c.route.tool_rate_limit = vec!["admin_reset=1/min".into()];
        c.route.tool_scope = Vec::new();
    })
    .await;
    let bearer = |sub: &str| {
        let t = rig
            .auth
            .mint_for(sub, "cli-test", "mcp:tools", &rig.resource)
            .unwrap();
        format!("Bearer {t}")
    };
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    let call = |tool: &str, id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}"}}}}"#
        )
    };
    let post = |auth: String, body: String| {
        let resource = rig.resource.clone();
        async move {
            let headers = [
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ];
            let (status, headers, body) = send("POST", &resource, &headers, body.as_bytes()).await;
            (status, headers, json(body).await)
        }
    };
    // The tool's own limit: one call a minute, within the caller's four.
    assert_eq!(post(alice.clone(), call("admin_reset", 1)).await.0, 200);
    let (status, headers, body) = post(alice.clone(), call("admin_reset", 2)).await;
    assert_eq!(status, 429);
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    assert_eq!(headers["ratelimit-policy"], "\"admin_reset\";q=1;w=60");
    assert!(headers["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"admin_reset\";r=0;t="));
    assert_eq!(
        (body["id"].clone(), body["error"]["code"].clone()),
        (serde_json::json!(2), serde_json::json!(-32029))
    );
    assert!(!headers.contains_key("www-authenticate"));
    // Every request counts against the caller's four: two spent above, two left.
    assert_eq!(post(alice.clone(), call("whoami", 3)).await.0, 200);
    assert_eq!(post(alice.clone(), call("whoami", 4)).await.0, 200);
    let hits_before = rig.hits.load(Ordering::SeqCst);
    let (status, headers, _) = post(alice.clone(), call("whoami", 5)).await;
    assert_eq!(status, 429);
    assert_eq!(headers["ratelimit-policy"], "\"requests\";q=4;w=60");
    assert_eq!(
        rig.hits.load(Ordering::SeqCst),
        hits_before,
        "a limited request was forwarded"
    );
    // Bob has his own budget.
    assert_eq!(post(bob.clone(), call("whoami", 6)).await.0, 200);
    assert_eq!(post(bob, call("admin_reset", 7)).await.0, 200);
}
