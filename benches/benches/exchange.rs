//! What a downstream token costs a tool: the hyper layer in process, its inner service asking
//! `DownstreamTokens` for a token of an API, against the test kit's authorization server double
//! on 127.0.0.1 (RFC 8693 token exchange at its token endpoint, an ES256 token signed per call).
//!
//! - `layer_only`: the layer (cache hit) and an inner service that asks for nothing: the baseline.
//! - `exchange_hit`: the same, the inner service asking for the token of one API (cached after
//!   the first call): what a cache hit adds.
//! - `exchange_miss`: every call asks for another API (a new audience), so every call is one
//!   exchange over loopback HTTP: what a miss adds.
//!
//! Before measuring it makes 1 000 calls by one user for one API and prints how many exchanges
//! reached the authorization server (1 expected).
//!
//! `cargo bench -p mcp-authz-benches --bench exchange`

#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::Full;
use mcp_authz_core::ScopePolicy;
use mcp_authz_hyper::{
    Authz, ClientAuthentication, DownstreamTokens, ExchangeClient, ExchangeProfile, ExchangeTarget,
};
use mcp_authz_testkit::as_double::{AsDouble, EXCHANGE_CLIENT};
use tower::{Layer, Service, ServiceExt};

const RESOURCE: &str = "http://127.0.0.1/mcp";

fn request(token: &str) -> http::Request<Full<Bytes>> {
    let mut req = http::Request::post("http://127.0.0.1/mcp")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap_or_default();
    if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
        req.headers_mut().insert(http::header::AUTHORIZATION, v);
    }
    req
}

fn exchange(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return;
    };
    let (authz, double, token) = rt.block_on(async {
        let double = AsDouble::start().await;
        let client = ExchangeClient::Secret(ClientAuthentication::ClientSecretBasic {
            client_id: EXCHANGE_CLIENT.0.into(),
            client_secret: EXCHANGE_CLIENT.1.into(),
        });
        let authz = Authz::builder(RESOURCE)
            .metadata_url(double.metadata_url())
            .allow_http_loopback(true)
            .scopes(ScopePolicy::new(["mcp:tools"]))
            .token_exchange(ExchangeProfile::TokenExchange, client)
            .build()
            .await;
        let token = double.token(RESOURCE, "mcp:tools");
        (authz, double, token)
    });
    let Ok(authz) = authz else {
        return;
    };
    type Body = mcp_authz_hyper::AuthzRequestBody<Full<Bytes>>;
    let plain = tower::service_fn(|_req: http::Request<Body>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    // Asks for the token of `api-{n}`: n fixed (hits) or counting up (misses).
    let next = Arc::new(AtomicU64::new(0));
    let asking = |fresh: bool| {
        let next = next.clone();
        tower::service_fn(move |req: http::Request<Body>| {
            let n = match fresh {
                true => next.fetch_add(1, Ordering::Relaxed),
                false => 0,
            };
            async move {
                let tokens = req.extensions().get::<DownstreamTokens>().cloned();
                let status = match tokens {
                    Some(t) => {
                        let target =
                            ExchangeTarget::audience(format!("https://api-{n}.example.com"));
                        match t.token_for(&target).await {
                            Ok(_) => 200,
                            Err(_) => 502,
                        }
                    }
                    None => 500,
                };
                let mut r = http::Response::new(Full::new(Bytes::new()));
                *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
                Ok::<_, Infallible>(r)
            }
        })
    };
    let baseline = authz.layer().layer(plain);
    let hits = authz.layer().layer(asking(false));
    let misses = authz.layer().layer(asking(true));
    // 1 000 calls by one user for one API: how many reach the authorization server.
    let before = double.exchanges();
    for _ in 0..1_000 {
        let ok = rt
            .block_on(hits.clone().oneshot(request(&token)))
            .is_ok_and(|r| r.status() == 200);
        assert!(ok, "a call failed");
    }
    eprintln!(
        "1000 calls by one user for one API: {} exchange(s) at the authorization server",
        double.exchanges() - before
    );
    let mut group = c.benchmark_group("exchange");
    let mut bench = |name: &str, service: &dyn Fn() -> bool| {
        group.bench_function(name, |b| b.iter(service));
    };
    bench("layer_only", &|| {
        let mut s = baseline.clone();
        rt.block_on(async { s.ready().await?.call(black_box(request(&token))).await })
            .is_ok_and(|r| r.status() == 200)
    });
    bench("exchange_hit", &|| {
        let mut s = hits.clone();
        rt.block_on(async { s.ready().await?.call(black_box(request(&token))).await })
            .is_ok_and(|r| r.status() == 200)
    });
    bench("exchange_miss", &|| {
        let mut s = misses.clone();
        rt.block_on(async { s.ready().await?.call(black_box(request(&token))).await })
            .is_ok_and(|r| r.status() == 200)
    });
    group.finish();
}

criterion_group!(benches, exchange);
criterion_main!(benches);
