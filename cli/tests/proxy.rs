//! `mcp-authz proxy` in process, against the development authorization server and an upstream
//! made here: identity headers, the token never forwarded, streaming, errors, configuration.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::{any, get};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mcp_authz_cli::demo::auth_server::DevAuthServer;
use mcp_authz_cli::proxy::{self, ProxyConfig};
use serde_json::Value;

struct Rig {
    resource: String,
    auth: Arc<DevAuthServer>,
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// An upstream that echoes what reached it, streams an SSE response slowly, or answers late.
fn upstream_app() -> axum::Router {
    axum::Router::new()
        .route(
            "/mcp",
            any(|req: http::Request<Body>| async move {
                let headers: serde_json::Map<String, Value> = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
                    .collect();
                axum::Json(serde_json::json!({"headers": headers, "query": req.uri().query()}))
            }),
        )
        .route(
            "/sse",
            get(|| async {
                let stream = async_stream(3, Duration::from_millis(300));
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
}

fn async_stream(
    n: usize,
    gap: Duration,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        for i in 0..n {
            if tx
                .send(Ok(Bytes::from(format!("data: event {i}\n\n"))))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(gap).await;
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
    tokio::spawn(async move { axum::serve(up_l, upstream_app()).await });
    let config = ProxyConfig {
        metadata_url: format!("{issuer}/.well-known/oauth-authorization-server"),
        resource: resource.clone(),
        upstream: format!("http://{up_a}{upstream_path}").parse().unwrap(),
        listen: px_a,
        scopes: vec!["mcp:tools".into()],
        tool_scopes: vec![("admin_reset".into(), "mcp:admin".into())],
        resource_name: Some("test".into()),
        allow_missing_registration: false,
        allow_http_loopback: true,
        lenient_typ: false,
        upstream_timeout: timeout,
        identity_header_prefix: "X-Mcp-Authz-".into(),
    };
    let built = proxy::build(&config).await.unwrap();
    tokio::spawn(async move { axum::serve(px_l, built.app).await });
    Rig { resource, auth }
}

async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, hyper::body::Incoming) {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status.as_u16(), parts.headers, body)
}

async fn json(body: hyper::body::Incoming) -> Value {
    serde_json::from_slice(&body.collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn identity_goes_upstream_and_the_token_does_not() {
    let rig = start("/mcp", Duration::from_secs(10)).await;
    let token = rig
        .auth
        .mint("cli-test", "mcp:tools", &rig.resource)
        .unwrap();
    let auth = format!("Bearer {token}");
    let (status, _, body) = send(
        "POST",
        &format!("{}?x=1", rig.resource),
        &[
            ("authorization", &auth),
            // Forged identity headers from the client are removed first.
            ("x-mcp-authz-subject", "root"),
            ("X-Mcp-Authz-Scopes", "everything"),
            ("connection", "keep-alive"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(status, 200);
    let v = json(body).await;
    let h = &v["headers"];
    assert_eq!(h["x-mcp-authz-subject"], "demo-user");
    assert_eq!(h["x-mcp-authz-client-id"], "cli-test");
    assert_eq!(h["x-mcp-authz-scopes"], "mcp:tools");
    assert!(h.get("authorization").is_none(), "{h}");
    assert!(h["host"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(h["x-forwarded-host"].is_string());
    assert_eq!(v["query"], "x=1");
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
    let token = rig
        .auth
        .mint("cli-test", "mcp:tools", &rig.resource)
        .unwrap();
    let auth = format!("Bearer {token}");
    let started = Instant::now();
    let (status, headers, mut body) =
        send("GET", &rig.resource, &[("authorization", &auth)], b"").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    // The first event arrives long before the stream ends (3 events, 300 ms apart).
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first_at = started.elapsed();
    assert_eq!(&first[..], b"data: event 0\n\n");
    let rest = body.collect().await.unwrap().to_bytes();
    let total = started.elapsed();
    assert_eq!(&rest[..], b"data: event 1\n\ndata: event 2\n\n");
    assert!(
        first_at + Duration::from_millis(500) < total,
        "first {first_at:?}, total {total:?}"
    );
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    let rig = start("/slow", Duration::from_secs(1)).await;
    let token = rig
        .auth
        .mint("cli-test", "mcp:tools", &rig.resource)
        .unwrap();
    let auth = format!("Bearer {token}");
    let (status, _, body) = send("POST", &rig.resource, &[("authorization", &auth)], b"{}").await;
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
        metadata_url: format!("{issuer}/.well-known/oauth-authorization-server"),
        resource: resource.clone(),
        upstream: format!("http://{dead_addr}/mcp").parse().unwrap(),
        listen: px_a,
        scopes: vec![],
        tool_scopes: vec![],
        resource_name: None,
        allow_missing_registration: false,
        allow_http_loopback: true,
        lenient_typ: false,
        upstream_timeout: Duration::from_secs(5),
        identity_header_prefix: "X-Mcp-Authz-".into(),
    };
    let built = proxy::build(&config).await.unwrap();
    tokio::spawn(async move { axum::serve(px_l, built.app).await });
    let token = auth_server
        .mint("cli-test", "mcp:tools", &resource)
        .unwrap();
    let auth = format!("Bearer {token}");
    let (status, headers, body) = send("POST", &resource, &[("authorization", &auth)], b"{}").await;
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
        metadata_url: format!("http://{a}/.well-known/oauth-authorization-server"),
        resource: "http://127.0.0.1:9/mcp".into(),
        upstream: "http://127.0.0.1:9/mcp".parse().unwrap(),
        listen: "127.0.0.1:0".parse().unwrap(),
        scopes: vec![],
        tool_scopes: vec![],
        resource_name: None,
        allow_missing_registration: false,
        allow_http_loopback: true,
        lenient_typ: false,
        upstream_timeout: Duration::from_secs(5),
        identity_header_prefix: "X-Mcp-Authz-".into(),
    };
    let Err(message) = proxy::build(&config).await else {
        panic!("started")
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
