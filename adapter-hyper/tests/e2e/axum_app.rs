//! The middleware in front of an axum router.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};
use mcp_authz_core::Principal;
use serde_json::{json, Value};

use crate::as_double::*;

async fn echo(
    Extension(p): Extension<Arc<Principal>>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> axum::Json<Value> {
    axum::Json(json!({
        "subject": p.subject(),
        "client_id": p.client_id(),
        "authorization_seen": headers.contains_key("authorization"),
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn start() -> (AsDouble, String) {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = authz(&double, &resource).await;
    let app = Router::new()
        .route("/mcp", post(echo).get(echo))
        .route("/healthz", get(|| async { "ok" }))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (double, resource)
}

#[tokio::test]
async fn no_token_gets_the_discovery_challenge() {
    let (_double, resource) = start().await;
    let (status, headers, body) = send(
        "POST",
        &resource,
        &[("content-type", "application/json")],
        b"{}",
    )
    .await;
    assert_eq!(status, 401);
    let prm = resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        headers["www-authenticate"],
        format!(r#"Bearer resource_metadata="{prm}", scope="mcp:tools""#).as_str()
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn metadata_at_both_well_known_paths() {
    let (double, resource) = start().await;
    let origin = resource.trim_end_matches("/mcp");
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let (status, headers, body) = send("GET", &format!("{origin}{path}"), &[], b"").await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-type"], "application/json");
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["resource"], resource.as_str());
        assert_eq!(doc["authorization_servers"], json!([double.issuer()]));
        assert_eq!(doc["scopes_supported"], json!(["mcp:tools", "mcp:admin"]));
        let (status, _, body) = send("HEAD", &format!("{origin}{path}"), &[], b"").await;
        assert_eq!((status, body.len()), (200, 0));
    }
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_without_the_authorization_header() {
    let (double, resource) = start().await;
    let token = double.token(&resource, "mcp:tools");
    let auth = format!("Bearer {token}");
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#;
    let (status, _, body) = send(
        "POST",
        &resource,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        call,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["subject"], "alice");
    assert_eq!(v["client_id"], "test-client");
    assert_eq!(v["authorization_seen"], false);
    // The buffered body is handed on byte for byte.
    assert_eq!(v["body"], std::str::from_utf8(call).unwrap());
    // GET (the optional SSE stream) passes the same check.
    let (status, _, _) = send("GET", &resource, &[("authorization", &auth)], b"").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_audience_and_missing_tool_scope() {
    let (double, resource) = start().await;
    let other = double.token("http://127.0.0.1:1/mcp", "mcp:tools mcp:admin");
    let auth = format!("Bearer {other}");
    let (status, headers, _) = send("POST", &resource, &[("authorization", &auth)], b"{}").await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with(r#"Bearer error="invalid_token", error_description="the access token is not meant for this resource""#));

    let basic = format!("Bearer {}", double.token(&resource, "mcp:tools"));
    let admin_call =
        br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"admin_reset"}}"#;
    let (status, headers, _) =
        send("POST", &resource, &[("authorization", &basic)], admin_call).await;
    assert_eq!(status, 403);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .ends_with(r#"scope="mcp:tools mcp:admin""#));
    let admin = format!("Bearer {}", double.token(&resource, "mcp:tools mcp:admin"));
    let (status, _, _) = send("POST", &resource, &[("authorization", &admin)], admin_call).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn other_paths_pass_through_and_preflights_are_answered() {
    let (_double, resource) = start().await;
    let origin = resource.trim_end_matches("/mcp");
    let (status, _, body) = send("GET", &format!("{origin}/healthz"), &[], b"").await;
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
    let (status, headers, _) = send(
        "OPTIONS",
        &resource,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn query_tokens_and_duplicate_headers_are_400() {
    let (double, resource) = start().await;
    let auth = format!("Bearer {}", double.token(&resource, "mcp:tools"));
    let (status, _, _) = send(
        "POST",
        &format!("{resource}?access_token=x"),
        &[("authorization", &auth)],
        b"{}",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = send(
        "POST",
        &resource,
        &[("authorization", &auth), ("authorization", &auth)],
        b"{}",
    )
    .await;
    assert_eq!(status, 400);
}
