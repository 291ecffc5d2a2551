//! The middleware in front of rmcp's Streamable HTTP service: tools read the principal.

use serde_json::{json, Value};

use crate::support::*;
use mcp_authz_testkit::demo_mcp::demo_service;

async fn start() -> (AsDouble, String) {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = authz(&double, &resource).await;
    let host = listener.local_addr().unwrap().to_string();
    let app = axum::Router::new()
        .nest_service("/mcp", demo_service(vec![host, "127.0.0.1".into()]))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (double, resource)
}

async fn rpc(resource: &str, token: &str, body: Value) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let bytes = serde_json::to_vec(&body).unwrap();
    let (status, _, out) = send(
        "POST",
        resource,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-06-18"),
        ],
        &bytes,
    )
    .await;
    (status, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

fn initialize() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}})
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":tool,"arguments":{}}})
}

#[tokio::test]
async fn rmcp_tools_see_the_principal() {
    let (double, resource) = start().await;
    let token = double.token(&resource, "mcp:tools");
    let (status, init) = rpc(&resource, &token, initialize()).await;
    assert_eq!(status, 200, "{init}");
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let (status, out) = rpc(&resource, &token, call("whoami")).await;
    assert_eq!(status, 200, "{out}");
    let text = out["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        "subject=alice client_id=test-client scopes=mcp:tools authorization_header_seen=false"
    );
}

#[tokio::test]
async fn rmcp_admin_tool_needs_the_extra_scope() {
    let (double, resource) = start().await;
    let basic = double.token(&resource, "mcp:tools");
    let (status, _) = rpc(&resource, &basic, call("admin_reset")).await;
    assert_eq!(status, 403);
    let admin = double.token(&resource, "mcp:tools mcp:admin");
    let (status, out) = rpc(&resource, &admin, call("admin_reset")).await;
    assert_eq!(status, 200, "{out}");
    assert!(out["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("reset done for subject=alice"));
    // No token at all: the challenge, before any routing.
    let (status, _, _) = send(
        "POST",
        &resource,
        &[("content-type", "application/json")],
        b"{}",
    )
    .await;
    assert_eq!(status, 401);
}

/// The fail-open regression: `nest_service("/mcp", …)` routes all of these to rmcp, and the
/// layer used to call it without any check for every path but `/mcp` itself.
#[tokio::test]
async fn every_path_the_nested_service_answers_is_protected() {
    let (double, resource) = start().await;
    let origin = resource.trim_end_matches("/mcp");
    let admin_call = serde_json::to_vec(&call("admin_reset")).unwrap();
    let basic = format!("Bearer {}", double.token(&resource, "mcp:tools"));
    for path in mcp_authz_testkit::client::PATHS_UNDER_MCP {
        let url = format!("{origin}{path}");
        let json = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ];
        let (status, _, body) = send("POST", &url, &json, &admin_call).await;
        assert_eq!(status, 401, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(
            !String::from_utf8_lossy(&body).contains("reset done"),
            "{path}"
        );
        // A token without the admin scope: the tool scope applies under the path too.
        let with_token = [json[0], json[1], ("authorization", basic.as_str())];
        let (status, _, body) = send("POST", &url, &with_token, &admin_call).await;
        assert_eq!(status, 403, "{path}: {}", String::from_utf8_lossy(&body));
    }
}
