//! The hyper adapter's middleware in process, without sockets: what the layer adds to one
//! request over the same inner service without it. The inner service is trivial (200, empty
//! body) so the difference is the layer: body buffering for the per-tool scope policy, the
//! decision (cache hit, or a verification), the principal in the extensions, the boxed future.
//!
//! `cargo bench -p mcp-authz-benches --bench layer`

#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::Full;
use mcp_authz_core::ScopePolicy;
use mcp_authz_hyper::Authz;
use mcp_authz_testkit::auth_server::DevAuthServer;
use tower::{Layer, Service, ServiceExt};

const BODY: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;

fn request(token: &str) -> http::Request<Full<Bytes>> {
    let mut req = http::Request::post("http://127.0.0.1/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap_or_default();
    if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
        req.headers_mut().insert(http::header::AUTHORIZATION, v);
    }
    req
}

fn layer(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return;
    };
    let Ok(Some((cached, uncached, token))) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}", l.local_addr()?);
        let resource = "http://127.0.0.1/mcp".to_string();
        let Ok(auth) =
            DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()])
        else {
            return Ok::<_, Box<dyn std::error::Error>>(None);
        };
        let router = auth.router();
        tokio::spawn(async move { axum::serve(l, router).await });
        let metadata = format!("{issuer}/.well-known/oauth-authorization-server");
        let scopes = ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin_reset", ["mcp:admin"]);
        let cached = Authz::builder(&resource)
            .metadata_url(&metadata)
            .allow_http_loopback(true)
            .scopes(scopes.clone())
            .build()
            .await?;
        let uncached = Authz::builder(&resource)
            .metadata_url(&metadata)
            .allow_http_loopback(true)
            .scopes(scopes)
            .token_cache(None)
            .build()
            .await?;
        let token = auth.mint("bench", "mcp:tools", &resource)?;
        Ok(Some((cached, uncached, token)))
    }) else {
        return;
    };
    type Body = mcp_authz_hyper::AuthzRequestBody<Full<Bytes>>;
    let inner = tower::service_fn(|_req: http::Request<Body>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let mut group = c.benchmark_group("layer");
    group.bench_function("no_layer", |b| {
        b.iter(|| {
            let req = request(&token).map(http_body_util::Either::Right);
            rt.block_on(inner.oneshot(black_box(req)))
                .is_ok_and(|r| r.status() == 200)
        })
    });
    let with_cache = cached.layer().layer(inner);
    assert!(rt
        .block_on(with_cache.clone().oneshot(request(&token)))
        .is_ok_and(|r| r.status() == 200));
    group.bench_function("cache_hit", |b| {
        b.iter(|| {
            let mut s = with_cache.clone();
            rt.block_on(async { s.ready().await?.call(black_box(request(&token))).await })
                .is_ok_and(|r| r.status() == 200)
        })
    });
    let without_cache = uncached.layer().layer(inner);
    group.bench_function("verify_es256", |b| {
        b.iter(|| {
            rt.block_on(without_cache.clone().oneshot(black_box(request(&token))))
                .is_ok_and(|r| r.status() == 200)
        })
    });
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
