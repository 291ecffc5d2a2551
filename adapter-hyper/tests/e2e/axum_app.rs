//! The middleware in front of an axum router.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};
use mcp_authz_core::Principal;
use serde_json::{json, Value};

use crate::support::*;

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
    let authz = authz_with(&double, &resource, |b| b.public_path("/healthz")).await;
    let protected = Router::new()
        .route("/mcp", post(echo).get(echo))
        .route("/healthz", get(|| async { "ok" }))
        .route("/private", get(|| async { "private" }))
        .layer(authz.layer());
    // Beside the layer: `/outside` is not protected; everything else goes to the protected
    // router, whose fallback (the metadata documents included) is inside the layer.
    let app = Router::new()
        .route("/outside", get(|| async { "outside" }))
        .fallback_service(protected);
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
    let json = |auth: &str| {
        [
            ("authorization", auth.to_owned()),
            ("content-type", "application/json".into()),
        ]
    };
    let basic_json = json(&basic);
    let basic_json: Vec<(&str, &str)> = basic_json.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, headers, _) = send("POST", &resource, &basic_json, admin_call).await;
    assert_eq!(status, 403);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .ends_with(r#"scope="mcp:tools mcp:admin""#));
    let admin = format!("Bearer {}", double.token(&resource, "mcp:tools mcp:admin"));
    let (status, _, _) = send(
        "POST",
        &resource,
        &[
            ("authorization", &admin),
            ("content-type", "application/json"),
        ],
        admin_call,
    )
    .await;
    assert_eq!(status, 200);
    // The same call as a form: its body cannot be read as JSON-RPC, so it is refused.
    let (status, _, body) = send(
        "POST",
        &resource,
        &[
            ("authorization", &basic),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        admin_call,
    )
    .await;
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn public_paths_routes_beside_the_layer_and_preflights_need_no_token() {
    let (double, resource) = start().await;
    let origin = resource.trim_end_matches("/mcp");
    let (status, _, body) = send("GET", &format!("{origin}/healthz"), &[], b"").await;
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
    let (status, _, body) = send("GET", &format!("{origin}/outside"), &[], b"").await;
    assert_eq!((status, &body[..]), (200, &b"outside"[..]));
    // Every other path the layer wraps needs a token, routed or not.
    for path in ["/private", "/healthz/", "/nowhere"] {
        let (status, _, _) = send("GET", &format!("{origin}{path}"), &[], b"").await;
        assert_eq!(status, 401, "{path}");
    }
    let auth = format!("Bearer {}", double.token(&resource, "mcp:tools"));
    let (status, _, body) = send(
        "GET",
        &format!("{origin}/private"),
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!((status, &body[..]), (200, &b"private"[..]));
    let (status, _, _) = send(
        "GET",
        &format!("{origin}/nowhere"),
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = send(
        "OPTIONS",
        &resource,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
        b"",
    )
    .await;
    // An origin the resource does not allow gets 403, even for its preflight (MCP Streamable
    // HTTP: validate Origin); the resource's own origin is allowed.
    assert_eq!(status, 403);
    let (status, headers, _) = send(
        "OPTIONS",
        &resource,
        &[
            ("origin", origin),
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
