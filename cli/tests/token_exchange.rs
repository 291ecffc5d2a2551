//! The upstream gets a token of its own for each caller (`--upstream-token-exchange`,
//! `--upstream-obo`), exchanged at the authorization server (the test kit's double, its token
//! endpoint) for the caller's verified token, which never leaves the proxy. The upstream here
//! verifies what it gets with `mcp-authz-core` itself: its own audience, the user as `sub`, the
//! proxy's client as `act` and `azp`.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use mcp_authz_core::{AccessTokenVerifier, JwkSet, Principal, UnixTime, VerifierConfig};
use mcp_authz_testkit::as_double::{AsDouble, EXCHANGE_CLIENT};
use mcp_authz_testkit::client::send;
use serde_json::{json, Value};

#[path = "support/process.rs"]
mod process;
use process::{free_port, wait_listening, Killed};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const DOWNSTREAM: &str = "https://api.example.com";

/// What reached the upstream: the `Authorization` header of each request.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

async fn upstream() -> (String, Seen) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::any(move |headers: http::HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_owned());
                log.lock().unwrap().push(auth);
                "{}"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

async fn proxy(double: &AsDouble, upstream: &str, extra: &[&str]) -> (Killed, String) {
    let port = free_port().await;
    let secret = std::env::temp_dir().join(format!("mcp-authz-exchange-secret-{port}"));
    std::fs::write(&secret, EXCHANGE_CLIENT.1).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args([
            "proxy",
            "--fail-fast",
            "--metadata-url",
            &double.metadata_url(),
        ])
        .args(["--resource", RESOURCE, "--upstream", upstream])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-http-loopback",
        ])
        .args(["--exchange-client-id", EXCHANGE_CLIENT.0])
        .args(["--exchange-client-secret-file", secret.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = Killed(child);
    wait_listening(port).await;
    (killed, format!("http://127.0.0.1:{port}/mcp"))
}

async fn post(url: &str, bearer: &str) -> (u16, http::HeaderMap, Value) {
    let auth = format!("Bearer {bearer}");
    let (status, headers, body) = send("POST", url, &[("authorization", &auth)], b"{}").await;
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// The downstream API's own check of what it received: signed by the authorization server,
/// for it (`aud`), unexpired, an access token.
async fn verify_downstream(double: &AsDouble, token: &str, audience: &str) -> Principal {
    let (_, _, jwks) = send("GET", &format!("{}/jwks", double.issuer()), &[], b"").await;
    let keys = JwkSet::parse(&jwks, &Default::default()).unwrap();
    let now = UnixTime::from_secs(mcp_authz_testkit::jwt::unix_now());
    AccessTokenVerifier::new(VerifierConfig::new(double.issuer(), audience))
        .verify(token, &keys, now)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_gets_its_own_token_for_the_user_exchanged_once() {
    let double = AsDouble::start().await;
    let (up, seen) = upstream().await;
    let args = [
        "--upstream-token-exchange",
        "--exchange-audience",
        DOWNSTREAM,
    ];
    let (_proxy, url) = proxy(&double, &up, &args).await;
    let alice = double.token(RESOURCE, "mcp:tools");
    for _ in 0..5 {
        assert_eq!(post(&url, &alice).await.0, 200);
    }
    // One exchange at the authorization server for five calls.
    assert_eq!(double.exchanges(), 1);
    let received = seen.lock().unwrap().clone();
    assert_eq!(received.len(), 5);
    let token = received[0]
        .as_deref()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    // The client's own token never reaches the upstream.
    assert!(received
        .iter()
        .all(|a| a.as_deref() != Some(&format!("Bearer {alice}"))));
    let downstream = verify_downstream(&double, &token, DOWNSTREAM).await;
    assert_eq!(downstream.subject(), Some("alice"));
    assert_eq!(downstream.claim("azp"), Some(json!(EXCHANGE_CLIENT.0)));
    assert_eq!(
        downstream.claim("act"),
        Some(json!({"sub": EXCHANGE_CLIENT.0}))
    );
    // Another user: another exchange, another token.
    let mut bob = double.claims(RESOURCE, "mcp:tools");
    bob["sub"] = json!("bob");
    let bob = double.sign(&bob);
    assert_eq!(post(&url, &bob).await.0, 200);
    assert_eq!(double.exchanges(), 2);
    let last = seen.lock().unwrap().last().cloned().flatten().unwrap();
    let bob_downstream = verify_downstream(&double, &last[7..], DOWNSTREAM).await;
    assert_eq!(bob_downstream.subject(), Some("bob"));

    // An expired token is refused by the proxy and never exchanged.
    let mut expired = double.claims(RESOURCE, "mcp:tools");
    expired["sub"] = json!("carol");
    expired["exp"] = json!(mcp_authz_testkit::jwt::unix_now() - 120);
    let (status, _, _) = post(&url, &double.sign(&expired)).await;
    assert_eq!(status, 401);
    assert_eq!(double.exchanges(), 2);

    // The authorization server refuses: 502 with the reason, nothing forwarded.
    double.set(|k| {
        k.exchange_error = Some((400, json!({"error": "invalid_grant"})));
    });
    let mut dave = double.claims(RESOURCE, "mcp:tools");
    dave["sub"] = json!("dave");
    let dave = double.sign(&dave);
    let before = seen.lock().unwrap().len();
    let (status, _, body) = post(&url, &dave).await;
    assert_eq!(status, 502);
    assert_eq!(body["reason"], "exchange_invalid_grant");
    assert_eq!(seen.lock().unwrap().len(), before);
    // ... and is not asked again for a moment (the refusal is remembered briefly).
    let asked = double.exchanges();
    assert_eq!(post(&url, &dave).await.0, 502);
    assert_eq!(double.exchanges(), asked);
    // Down: 503 with Retry-After, nothing forwarded.
    double.set(|k| {
        k.exchange_error = Some((503, json!({})));
    });
    let mut erin = double.claims(RESOURCE, "mcp:tools");
    erin["sub"] = json!("erin");
    let (status, headers, body) = post(&url, &double.sign(&erin)).await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body["reason"], "exchange_unavailable");
    assert_eq!(seen.lock().unwrap().len(), before);
    // Alice's token is still cached: her calls go on.
    assert_eq!(post(&url, &alice).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_on_behalf_of_asks_for_the_apis_scope_and_refuses_app_only_callers() {
    let double = AsDouble::start().await;
    let (up, seen) = upstream().await;
    let args = [
        "--upstream-obo",
        "--exchange-scope",
        "api://downstream/.default",
    ];
    let (_proxy, url) = proxy(&double, &up, &args).await;
    let alice = double.token(RESOURCE, "mcp:tools");
    assert_eq!(post(&url, &alice).await.0, 200);
    let token = seen.lock().unwrap()[0].clone().unwrap();
    let downstream = verify_downstream(&double, &token[7..], "api://downstream").await;
    assert_eq!(downstream.subject(), Some("alice"));
    assert_eq!(
        downstream.claim("scope"),
        Some(json!("api://downstream/.default"))
    );
    // An application's token (client credentials: no user) cannot be used on behalf of anyone.
    let mut app = double.claims(RESOURCE, "mcp:tools");
    app.as_object_mut().unwrap().remove("sub");
    let (status, _, body) = post(&url, &double.sign(&app)).await;
    assert_eq!(status, 502);
    assert_eq!(body["reason"], "exchange_app_only_caller");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn on_behalf_of_without_a_scope_is_a_configuration_error() {
    let port = free_port().await;
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args([
            "proxy",
            "--metadata-url",
            "http://127.0.0.1:1/.well-known/oauth-authorization-server",
        ])
        .args([
            "--resource",
            RESOURCE,
            "--upstream",
            "http://127.0.0.1:2/mcp",
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-http-loopback",
        ])
        .args(["--upstream-obo", "--exchange-client-id", "x"])
        .env("MCP_AUTHZ_EXCHANGE_CLIENT_SECRET", "s")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--upstream-obo needs --exchange-scope"),
        "{stderr}"
    );
}

/// A P-256 key as a PKCS#8 PEM file, and the key itself.
fn p256_pem(name: &str) -> (std::path::PathBuf, ring::signature::EcdsaKeyPair) {
    use base64ct::Encoding as _;
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING as ALG};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ALG, &rng).unwrap();
    let b64 = base64ct::Base64::encode_string(pkcs8.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let path = std::env::temp_dir().join(format!("mcp-authz-{name}-{}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ALG, pkcs8.as_ref(), &rng).unwrap();
    (path, key)
}

/// `private_key_jwt`: the proxy signs its client assertion with its key; the authorization
/// server checks it with the public key it registered (with mcp-authz-core) and exchanges; an
/// assertion made with another key is `invalid_client`, a 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_authenticates_the_proxy() {
    let double = AsDouble::start().await;
    let (up, seen) = upstream().await;
    let (registered, key) = p256_pem("registered");
    let (unknown, _) = p256_pem("unknown");
    double.set(|k| {
        let jwk = mcp_authz_testkit::jwt::p256_jwk(&key, "proxy-key-1");
        k.exchange_client_keys = Some(json!({ "keys": [jwk] }));
    });
    let args = |path: &std::path::Path| {
        vec![
            "--upstream-token-exchange".to_owned(),
            "--exchange-audience".into(),
            DOWNSTREAM.into(),
            "--exchange-client-key".into(),
            path.to_str().unwrap().into(),
            "--exchange-client-key-id".into(),
            "proxy-key-1".into(),
        ]
    };
    let good = args(&registered);
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let (_p1, url) = proxy(&double, &up, &good).await;
    let alice = double.token(RESOURCE, "mcp:tools");
    assert_eq!(post(&url, &alice).await.0, 200);
    let token = seen.lock().unwrap()[0].clone().unwrap();
    let downstream = verify_downstream(&double, &token[7..], DOWNSTREAM).await;
    assert_eq!(downstream.subject(), Some("alice"));
    let bad = args(&unknown);
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let (_p2, url) = proxy(&double, &up, &bad).await;
    let (status, _, body) = post(&url, &alice).await;
    assert_eq!(status, 502);
    assert_eq!(body["reason"], "exchange_invalid_client");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let _ = std::fs::remove_file(registered);
    let _ = std::fs::remove_file(unknown);
}
