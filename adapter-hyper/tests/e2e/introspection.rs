//! Opaque tokens by RFC 7662 introspection over real sockets: the double's introspection
//! endpoint (HTTP Basic client authentication), the cache, single flight, revocation, and each
//! fault of the authorization server.

use std::time::Duration;

use axum::routing::post;
use axum::Router;
use mcp_authz_hyper::{Authz, AuthzBuilder, ClientAuthentication, FetchOptions, IntrospectionMode};
use mcp_authz_testkit::as_double::INTROSPECTION_CLIENT;

use crate::support::*;

fn client() -> ClientAuthentication {
    ClientAuthentication::ClientSecretBasic {
        client_id: INTROSPECTION_CLIENT.0.into(),
        client_secret: INTROSPECTION_CLIENT.1.into(),
    }
}

async fn start(
    double: &AsDouble,
    edit: impl FnOnce(AuthzBuilder) -> AuthzBuilder,
) -> (Authz, String) {
    let (listener, resource) = bind().await;
    let builder = Authz::builder(resource.clone())
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .introspection(IntrospectionMode::NonJwt)
        .introspection_client(client());
    let authz = edit(builder).build().await.unwrap();
    let app = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (authz, resource)
}

async fn call(resource: &str, token: &str) -> (u16, http::HeaderMap) {
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, headers, _) = send("POST", resource, &headers, b"{}").await;
    (status, headers)
}

#[tokio::test]
async fn opaque_tokens_are_introspected_once_and_cached() {
    let double = AsDouble::start().await;
    let (authz, resource) = start(&double, |b| b).await;
    let token = double.opaque_token(&resource, "mcp:tools");
    assert_eq!(call(&resource, &token).await.0, 200);
    assert_eq!(call(&resource, &token).await.0, 200);
    assert_eq!(
        double.introspections(),
        1,
        "the second answer came from the cache"
    );
    assert_eq!(authz.introspection_stats(), Some((1, 1)));
    // JWTs are still verified locally: no call.
    assert_eq!(call(&resource, &double.token(&resource, "")).await.0, 200);
    assert_eq!(double.introspections(), 1);
    // A token the authorization server does not know: inactive, 401, and the refusal is
    // cached for a short time.
    let (status, headers) = call(&resource, "opaque-unknown").await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("the access token is not active"));
    assert_eq!(call(&resource, "opaque-unknown").await.0, 401);
    assert_eq!(double.introspections(), 2);
    // An active token for another resource: refused for its audience.
    let other = double.opaque_token("https://other.example/mcp", "mcp:tools");
    let (status, headers) = call(&resource, &other).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("not meant for this resource"));
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_its_entry_expires() {
    let double = AsDouble::start().await;
    let (_authz, resource) = start(&double, |b| {
        b.introspection_cache_ttl(Duration::from_secs(1), Duration::from_secs(1))
    })
    .await;
    let token = double.opaque_token(&resource, "");
    assert_eq!(call(&resource, &token).await.0, 200);
    double.revoke(&token);
    // Within the entry's life the cached answer stands; after it, the new answer does.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(call(&resource, &token).await.0, 401);
    assert_eq!(double.introspections(), 2);
}

#[tokio::test]
async fn a_thousand_concurrent_requests_with_one_new_token_make_one_call() {
    let double = AsDouble::start().await;
    double.set(|k| k.introspection_delay = Duration::from_millis(300));
    let (_authz, resource) = start(&double, |b| b).await;
    let token = double.opaque_token(&resource, "");
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (r, t) = (resource.clone(), token.clone());
        tasks.push(tokio::spawn(async move { call(&r, &t).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(double.introspections(), 1);
}

#[tokio::test]
async fn every_fault_of_the_authorization_server_is_503_and_nothing_is_accepted() {
    let double = AsDouble::start().await;
    let (_authz, resource) = start(&double, |b| {
        b.fetch_options(
            FetchOptions::default().timeouts(Duration::from_secs(1), Duration::from_millis(500)),
        )
    })
    .await;
    type Fault = Box<dyn Fn(&mut Knobs)>;
    let faults: Vec<(&str, Fault)> = vec![
        ("down", Box::new(|k| k.introspection_down = true)),
        (
            "slow",
            Box::new(|k| k.introspection_delay = Duration::from_secs(2)),
        ),
        ("500", Box::new(|k| k.introspection_status = 500)),
        (
            "garbage",
            Box::new(|k| k.introspection_body = Some(b"<html>oops".to_vec())),
        ),
        (
            "active as a string",
            Box::new(|k| {
                k.introspection_body = Some(br#"{"active":"true","scope":"mcp:tools"}"#.to_vec())
            }),
        ),
    ];
    for (what, fault) in faults {
        let token = double.opaque_token(&resource, "");
        double.set(|k| fault(k));
        let (status, headers) = call(&resource, &token).await;
        assert_eq!(status, 503, "{what}");
        assert!(headers.contains_key("retry-after"), "{what}");
        assert!(!headers.contains_key("www-authenticate"), "{what}");
        // Failures are not cached: once the AS is back, the same token passes.
        double.set(|k| {
            k.introspection_down = false;
            k.introspection_delay = Duration::ZERO;
            k.introspection_status = 200;
            k.introspection_body = None;
        });
        assert_eq!(call(&resource, &token).await.0, 200, "{what}, recovered");
    }
}

#[tokio::test]
async fn introspection_needs_an_endpoint_and_credentials_to_start() {
    let double = AsDouble::start().await;
    let resource = "http://127.0.0.1:1/mcp";
    let no_client = Authz::builder(resource)
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .introspection(IntrospectionMode::Always)
        .build()
        .await
        .unwrap_err();
    assert!(
        no_client.to_string().contains("client credentials"),
        "{no_client}"
    );
    double.set(|k| {
        k.metadata = Some(serde_json::json!({
            "issuer": double.issuer(),
            "authorization_endpoint": format!("{}/authorize", double.issuer()),
            "token_endpoint": format!("{}/token", double.issuer()),
            "registration_endpoint": format!("{}/register", double.issuer()),
            "jwks_uri": format!("{}/jwks", double.issuer()),
        }))
    });
    let no_endpoint = Authz::builder(resource)
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .introspection(IntrospectionMode::NonJwt)
        .introspection_client(client())
        .build()
        .await
        .unwrap_err();
    assert!(
        no_endpoint.to_string().contains("introspection_endpoint"),
        "{no_endpoint}"
    );
    // Wrong credentials at run time: the AS answers 401 to us, the client gets 503.
    double.set(|k| k.metadata = None);
    let (listener, resource) = bind().await;
    let authz = Authz::builder(resource.clone())
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .introspection(IntrospectionMode::NonJwt)
        .introspection_client(ClientAuthentication::ClientSecretBasic {
            client_id: "rs-client".into(),
            client_secret: "wrong".into(),
        })
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let token = double.opaque_token(&resource, "");
    assert_eq!(call(&resource, &token).await.0, 503);
}

/// An event stream opened with an introspected token keeps flowing while the authorization
/// server says the token is active (asked again each time the cached answer lapses), and ends
/// once it says inactive; a stream opened with a JWT is not introspected at all.
#[tokio::test]
async fn an_event_stream_ends_when_its_introspected_token_is_revoked() {
    use axum::response::IntoResponse;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = Authz::builder(resource.clone())
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .introspection(IntrospectionMode::NonJwt)
        .introspection_client(client())
        .introspection_cache_ttl(Duration::from_secs(1), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    // A stream that sends an event every 100 ms and never ends on its own.
    let ticks = || async {
        let events = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::convert::Infallible>("data: tick\n\n"), ()))
        });
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(events),
        )
            .into_response()
    };
    let app = Router::new()
        .route("/mcp", post(ticks))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Opens a stream with `token`; returns the connection, reading.
    let open = |token: String| {
        let resource = resource.clone();
        async move {
            let rest = resource.strip_prefix("http://").unwrap();
            let (addr, path) = rest.split_at(rest.find('/').unwrap());
            let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
            let req = format!(
                "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
            conn.write_all(req.as_bytes()).await.unwrap();
            conn
        }
    };
    // Reads for `secs`: the bytes, and whether the stream ended.
    async fn read_for(conn: &mut tokio::net::TcpStream, secs: u64) -> (String, bool) {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into(), true),
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&out).into(), false),
            }
        }
    }

    let token = double.opaque_token(&resource, "mcp:tools");
    let mut conn = open(token.clone()).await;
    // Three seconds: the one-second answer lapses twice or more, the token is still active.
    let (first, ended) = read_for(&mut conn, 3).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(!ended, "the stream ended while its token was active");
    assert!(first.matches("data: tick").count() >= 10);
    let asked = double.introspections();
    assert!(asked >= 3, "asked again as the answer lapsed: {asked}");
    double.revoke(&token);
    let (_, ended) = read_for(&mut conn, 10).await;
    assert!(ended, "the stream outlived its revoked token");

    // A JWT's stream is never introspected.
    let before = double.introspections();
    let mut conn = open(double.token(&resource, "mcp:tools")).await;
    let (jwt, ended) = read_for(&mut conn, 2).await;
    assert!(jwt.starts_with("HTTP/1.1 200") && !ended, "{jwt}");
    assert_eq!(double.introspections(), before);
}
