//! The JWK Set driver over real sockets: no keys at all, rotation under concurrency, downtime,
//! slow and broken answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use mcp_authz_hyper::{Authz, FetchOptions};

use crate::support::*;

async fn serve(authz: &Authz, listener: tokio::net::TcpListener) {
    let app = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

async fn post_with(resource: &str, token: &str) -> (u16, http::HeaderMap) {
    let auth = format!("Bearer {token}");
    let json = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, headers, _) = send("POST", resource, &json, b"{}").await;
    (status, headers)
}

#[tokio::test]
async fn jwks_down_from_the_start_is_503_with_retry_after() {
    let double = AsDouble::start().await;
    double.set(|k| k.jwks_down = true);
    let (listener, resource) = bind().await;
    let authz = authz(&double, &resource).await;
    assert!(authz.keys().first_failure().is_some());
    serve(&authz, listener).await;
    let (status, headers) = post_with(&resource, &double.token(&resource, "mcp:tools")).await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    assert!(!headers.contains_key("www-authenticate"));
    // Without a token the discovery challenge still works: clients can start the OAuth flow.
    let (status, _, _) = send("POST", &resource, &[], b"{}").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn fifty_concurrent_requests_with_a_new_kid_share_one_fetch() {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = authz(&double, &resource).await;
    serve(&authz, listener).await;
    assert_eq!(double.fetches(), 1);
    // Rotation: the AS publishes a new key and signs with it.
    let new_key = Arc::new(new_ed25519());
    double.set(|k| k.keys.push(ed_jwk(&new_key, "rotated")));
    let token = sign_eddsa(&new_key, "rotated", &double.claims(&resource, "mcp:tools"));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (r, t) = (resource.clone(), token.clone());
        tasks.push(tokio::spawn(async move { post_with(&r, &t).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        double.fetches(),
        2,
        "exactly one JWK Set fetch for 50 requests"
    );
    assert_eq!(authz.keys().fetches(), 2);
}

#[tokio::test]
async fn authorization_server_down_after_startup_keeps_cached_keys() {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = authz(&double, &resource).await;
    serve(&authz, listener).await;
    double.set(|k| {
        k.jwks_down = true;
        k.metadata_down = true;
    });
    for _ in 0..3 {
        let (status, _) = post_with(&resource, &double.token(&resource, "mcp:tools")).await;
        assert_eq!(status, 200);
    }
    // An unknown kid while the AS is down: one attempt, then a clean 401.
    let stranger = new_ed25519();
    let token = sign_eddsa(&stranger, "unknown", &double.claims(&resource, "mcp:tools"));
    let (status, headers) = post_with(&resource, &token).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("the access token key is unknown"));
}

#[tokio::test]
async fn slow_garbage_oversize_and_error_answers_leave_no_keys() {
    type Knob = Box<dyn Fn(&mut Knobs) + Send>;
    let cases: Vec<(&str, Knob)> = vec![
        (
            "slow",
            Box::new(|k: &mut Knobs| k.delay = Duration::from_secs(3)),
        ),
        ("500", Box::new(|k: &mut Knobs| k.jwks_status = 500)),
        (
            "garbage",
            Box::new(|k: &mut Knobs| k.jwks_body = Some(b"<html>oops</html>".to_vec())),
        ),
        (
            "oversize",
            Box::new(|k: &mut Knobs| k.jwks_body = Some(vec![b' '; 200 * 1024])),
        ),
        (
            "no usable key",
            Box::new(|k: &mut Knobs| k.jwks_body = Some(br#"{"keys":[{"kty":"oct-x"}]}"#.to_vec())),
        ),
    ];
    for (what, knob) in cases {
        let double = AsDouble::start().await;
        double.set(|k| knob(k));
        let (listener, resource) = bind().await;
        let authz = Authz::builder(&resource)
            .metadata_url(double.metadata_url())
            .allow_http_loopback(true)
            .fetch_options(
                FetchOptions::default().timeouts(Duration::from_secs(1), Duration::from_secs(1)),
            )
            .build()
            .await
            .unwrap();
        assert!(authz.keys().first_failure().is_some(), "{what}");
        serve(&authz, listener).await;
        let (status, _) = post_with(&resource, &double.token(&resource, "mcp:tools")).await;
        assert_eq!(status, 503, "{what}");
    }
}

#[tokio::test]
async fn no_store_does_not_mean_a_fetch_per_request() {
    let double = AsDouble::start().await;
    double.set(|k| k.cache_control = Some("no-store".into()));
    let (listener, resource) = bind().await;
    let authz = authz(&double, &resource).await;
    serve(&authz, listener).await;
    for _ in 0..5 {
        assert_eq!(
            post_with(&resource, &double.token(&resource, "mcp:tools"))
                .await
                .0,
            200
        );
    }
    // no-store means the 5-minute floor, not one fetch per request.
    assert_eq!(double.fetches(), 1);
}

/// Two rotations within one kid-miss cooldown (add k2; then add k3 and drop k1), against the
/// real driver task and sockets: k3 is refused while the cooldown runs, accepted from the fetch
/// the policy deferred to its end, and k1 tokens (fresh and cached) are refused from then on.
#[tokio::test]
async fn two_rotations_within_one_cooldown() {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let mut refresh = mcp_authz_core::JwksRefreshConfig::default();
    refresh.kid_miss_cooldown = 2;
    let authz = authz_with(&double, &resource, |b| b.refresh(refresh)).await;
    serve(&authz, listener).await;
    // k1 (the double's P-256 key): a token verified once is in the cache.
    let k1_cached = double.token(&resource, "mcp:tools");
    assert_eq!(post_with(&resource, &k1_cached).await.0, 200);
    // Rotation 1: k2 published and used; one fetch.
    let k2 = new_ed25519();
    double.set(|k| k.keys.push(ed_jwk(&k2, "k2")));
    let t2 = sign_eddsa(&k2, "k2", &double.claims(&resource, "mcp:tools"));
    assert_eq!(post_with(&resource, &t2).await.0, 200);
    assert_eq!(double.fetches(), 2);
    // Rotation 2, inside the cooldown: k3 in, k1 out.
    let k3 = new_ed25519();
    double.set(|k| {
        k.keys.push(ed_jwk(&k3, "k3"));
        k.keys.retain(|j| j["kid"] != "p256");
    });
    let rotated = Instant::now();
    let t3 = sign_eddsa(&k3, "k3", &double.claims(&resource, "mcp:tools"));
    let (status, headers) = post_with(&resource, &t3).await;
    assert_eq!(status, 401, "refused while the cooldown runs");
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("the access token key is unknown"));
    // k3 is accepted from the fetch at the end of the cooldown; nothing else triggers it.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if post_with(&resource, &t3).await.0 == 200 {
            break;
        }
        assert!(
            rotated.elapsed() < Duration::from_secs(10),
            "k3 never accepted"
        );
    }
    eprintln!(
        "k3 accepted {:?} after the rotation (cooldown 2 s)",
        rotated.elapsed()
    );
    assert_eq!(double.fetches(), 3, "one fetch for the second rotation");
    // From that fetch on, k1 is gone: fresh and cached tokens alike.
    assert_eq!(post_with(&resource, &k1_cached).await.0, 401);
    let k1_fresh = double.token(&resource, "mcp:tools");
    assert_eq!(post_with(&resource, &k1_fresh).await.0, 401);
    assert_eq!(post_with(&resource, &t2).await.0, 200);
}

/// Two authorization servers: each token is checked with the keys of the issuer it names, and
/// only that issuer's JWK Set is ever fetched for it; an unknown issuer fetches nothing.
#[tokio::test]
async fn two_issuers_each_fetched_and_used_alone() {
    let (a, b) = (AsDouble::start().await, AsDouble::start().await);
    let (listener, resource) = bind().await;
    let authz = Authz::builder(resource.clone())
        .metadata_url(a.metadata_url())
        .metadata_url(b.metadata_url())
        .allow_http_loopback(true)
        .build()
        .await
        .unwrap();
    assert_eq!(authz.key_stores().len(), 2);
    assert_eq!(authz.authorization_servers().len(), 2);
    assert_eq!(
        authz.guard().metadata().authorization_servers(),
        [a.issuer(), b.issuer()]
    );
    serve(&authz, listener).await;
    assert_eq!((a.fetches(), b.fetches()), (1, 1));
    assert_eq!(post_with(&resource, &a.token(&resource, "")).await.0, 200);
    assert_eq!(post_with(&resource, &b.token(&resource, "")).await.0, 200);
    // Both publish a `p256` key, but not the same one: a token naming A, signed by B's key.
    let mut forged = b.claims(&resource, "");
    forged["iss"] = a.issuer().into();
    let forged = b.sign(&forged);
    assert_eq!(post_with(&resource, &forged).await.0, 401);
    // An issuer nobody configured: refused without a fetch anywhere.
    let mut stranger = a.claims(&resource, "");
    stranger["iss"] = "https://stranger.example".into();
    let stranger = a.sign(&stranger);
    let (status, headers) = post_with(&resource, &stranger).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("issuer is not trusted"));
    // B rotates: a token with B's new kid fetches B's set, and only B's.
    let new_key = Arc::new(new_ed25519());
    b.set(|k| k.keys.push(ed_jwk(&new_key, "rotated")));
    let rotated = sign_eddsa(&new_key, "rotated", &b.claims(&resource, ""));
    assert_eq!(post_with(&resource, &rotated).await.0, 200);
    // A's kid-miss for the same kid: A is asked (and does not have it).
    let mut a_rotated = a.claims(&resource, "");
    a_rotated["jti"] = "x".into();
    let a_rotated = sign_eddsa(&new_key, "rotated", &a_rotated);
    assert_eq!(post_with(&resource, &a_rotated).await.0, 401);
    assert_eq!((a.fetches(), b.fetches()), (2, 2));
}
