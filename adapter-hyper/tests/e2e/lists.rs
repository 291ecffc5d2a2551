//! Authorization-aware discovery through the middleware: list answers in JSON and as event
//! streams keep what the caller may call, tokens with Keycloak-shaped roles included; a hidden
//! tool called directly is still refused.

use axum::routing::post;
use axum::Router;
use mcp_authz_core::rules::{Requirement, RoleClaims};
use mcp_authz_core::ScopePolicy;
use serde_json::{json, Value};

use crate::support::*;
use mcp_authz_testkit::demo_mcp::demo_service;

/// A server that lists four tools and two prompts, answering in JSON, or (with `x-sse`) as an
/// event stream whose first event is a progress notification.
async fn lister(headers: http::HeaderMap, body: bytes::Bytes) -> axum::response::Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let result = match req["method"].as_str() {
        Some("tools/list") => json!({"tools": [
            {"name": "whoami", "inputSchema": {"type": "object"}},
            {"name": "admin_reset", "inputSchema": {"type": "object"}},
            {"name": "deploy", "inputSchema": {"type": "object", "properties": {
                "env": {"type": "string", "x-mcp-header": "Env"}}}},
            {"name": "no_rule", "inputSchema": {"type": "object"}},
        ], "nextCursor": "page-2", "ttlMs": 60000, "cacheScope": "public"}),
        Some("prompts/list") => json!({"prompts": [{"name": "release_notes"}, {"name": "hello"}]}),
        _ => json!({"content": [{"type": "text", "text": "ran"}]}),
    };
    let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": result});
    if headers.contains_key("x-gzip") {
        // A coded answer the filter cannot read (bytes that are no JSON once decoded either).
        return http::Response::builder()
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(axum::body::Body::from(vec![0x1f, 0x8b, 0, 1, 2, 3]))
            .unwrap();
    }
    let sse = headers.contains_key("x-sse");
    let (ct, text) = match sse {
        true => {
            let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": 1, "progress": 1}});
            (
                "text/event-stream",
                format!("event: message\ndata: {progress}\n\nid: e2\ndata: {answer}\n\n"),
            )
        }
        false => ("application/json", answer.to_string()),
    };
    let len = text.len().to_string();
    http::Response::builder()
        .header("content-type", ct)
        .header("content-length", len)
        .body(axum::body::Body::from(text))
        .unwrap()
}

fn policy() -> ScopePolicy {
    let rule = |r: &str| r.parse::<Requirement>().unwrap();
    ScopePolicy::new(["mcp:tools"])
        .with_role_claims(RoleClaims::none().with(RoleClaims::provider("keycloak").unwrap()))
        .with_tool_scopes("admin_reset", ["mcp:admin"])
        .with_tool_rule("deploy", rule("role=deployer"))
        .with_prompt_rule("release_notes", rule("role=deployer | mcp:admin"))
}

async fn start(policy: ScopePolicy) -> (AsDouble, String) {
    start_with(policy, false).await
}

async fn start_with(policy: ScopePolicy, validate: bool) -> (AsDouble, String) {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = mcp_authz_hyper::Authz::builder(&resource)
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(policy)
        .validate_mcp_headers(validate)
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/mcp", post(lister))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (double, resource)
}

fn token(double: &AsDouble, resource: &str, scope: &str, roles: &[&str]) -> String {
    let mut claims = double.claims(resource, scope);
    claims["realm_access"] = json!({"roles": roles});
    format!("Bearer {}", double.sign(&claims))
}

async fn post_rpc(
    resource: &str,
    auth: &str,
    body: Value,
    sse: bool,
) -> (u16, http::HeaderMap, String) {
    let mut headers = vec![
        ("authorization", auth),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    if sse {
        headers.push(("x-sse", "1"));
    }
    let (status, h, out) = send("POST", resource, &headers, body.to_string().as_bytes()).await;
    (status, h, String::from_utf8(out.to_vec()).unwrap())
}

/// The JSON-RPC messages of an answer: the JSON, or each event's data.
fn messages(text: &str, sse: bool) -> Vec<Value> {
    match sse {
        false => vec![serde_json::from_str(text).unwrap()],
        true => text
            .split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data:")))
            .map(|d| serde_json::from_str(d.trim()).unwrap())
            .collect(),
    }
}

fn names(result: &Value, key: &str) -> Vec<String> {
    result[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_caller_sees_the_tools_it_may_call_in_json_and_event_streams() {
    let (double, resource) = start(policy()).await;
    let list = json!({"jsonrpc": "2.0", "id": "l", "method": "tools/list"});
    let cases = [
        ("mcp:tools", vec![], vec!["whoami", "no_rule"]),
        (
            "mcp:tools mcp:admin",
            vec![],
            vec!["whoami", "admin_reset", "no_rule"],
        ),
        (
            "mcp:tools",
            vec!["deployer"],
            vec!["whoami", "deploy", "no_rule"],
        ),
    ];
    for sse in [false, true] {
        for (scope, roles, expected) in &cases {
            let auth = token(&double, &resource, scope, roles);
            let (status, headers, text) = post_rpc(&resource, &auth, list.clone(), sse).await;
            assert_eq!(status, 200, "{text}");
            assert!(
                !headers.contains_key("content-length")
                    || headers["content-length"] == text.len().to_string().as_str()
            );
            let msgs = messages(&text, sse);
            let answer = msgs.last().unwrap();
            assert_eq!(
                names(&answer["result"], "tools"),
                *expected,
                "{scope} {roles:?} sse={sse}"
            );
            assert_eq!(answer["result"]["cacheScope"], "private");
            assert_eq!(answer["result"]["nextCursor"], "page-2");
            if sse {
                // The notification before the result streams through unchanged, the event id kept.
                assert_eq!(msgs[0]["method"], "notifications/progress");
                assert!(text.contains("id: e2") || text.contains("id:e2"), "{text}");
            }
        }
    }
    // Prompts by an any-of rule.
    let prompts = json!({"jsonrpc": "2.0", "id": 3, "method": "prompts/list"});
    let plain = token(&double, &resource, "mcp:tools", &[]);
    let (_, _, text) = post_rpc(&resource, &plain, prompts.clone(), false).await;
    assert_eq!(
        names(&messages(&text, false)[0]["result"], "prompts"),
        ["hello"]
    );
    let admin = token(&double, &resource, "mcp:tools mcp:admin", &[]);
    let (_, _, text) = post_rpc(&resource, &admin, prompts, false).await;
    assert_eq!(
        names(&messages(&text, false)[0]["result"], "prompts"),
        ["release_notes", "hello"]
    );
}

#[tokio::test]
async fn a_hidden_tool_called_directly_is_refused_and_says_whether_to_step_up() {
    let (double, resource) = start(policy()).await;
    let plain = token(&double, &resource, "mcp:tools", &[]);
    let call = |tool: &str| json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": tool}});
    // A scope fixes admin_reset: the step-up challenge.
    let (status, headers, _) = post_rpc(&resource, &plain, call("admin_reset"), false).await;
    assert_eq!(status, 403);
    let www = headers["www-authenticate"].to_str().unwrap();
    assert!(
        www.contains(r#"error="insufficient_scope""#)
            && www.contains(r#"scope="mcp:tools mcp:admin""#),
        "{www}"
    );
    // No scope gives a role: 403 without a challenge, the denial in JSON-RPC.
    let (status, headers, text) = post_rpc(&resource, &plain, call("deploy"), false).await;
    assert_eq!(status, 403);
    assert!(!headers.contains_key("www-authenticate"));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["id"], 9);
    assert_eq!(
        v["error"]["data"]["_meta"]["io.modelcontextprotocol/authorization"]["remediation"],
        "unavailable"
    );
    let deployer = token(&double, &resource, "mcp:tools", &["deployer"]);
    let (status, _, _) = post_rpc(&resource, &deployer, call("deploy"), false).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn lists_pass_unfiltered_when_filtering_is_off_or_no_item_rule_exists() {
    let list = json!({"jsonrpc": "2.0", "id": "l", "method": "tools/list"});
    for policy in [
        policy().with_list_filtering(false),
        ScopePolicy::new(["mcp:tools"]),
    ] {
        let (double, resource) = start(policy).await;
        let plain = token(&double, &resource, "mcp:tools", &[]);
        let (_, headers, text) = post_rpc(&resource, &plain, list.clone(), false).await;
        let answer = &messages(&text, false)[0];
        assert_eq!(names(&answer["result"], "tools").len(), 4);
        assert_eq!(answer["result"]["cacheScope"], "public");
        assert_eq!(headers["content-length"], text.len().to_string().as_str());
    }
}

#[tokio::test]
async fn rmcp_lists_only_what_the_token_may_call() {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = authz(&double, &resource).await;
    let host = listener.local_addr().unwrap().to_string();
    let app = Router::new()
        .nest_service("/mcp", demo_service(vec![host, "127.0.0.1".into()]))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {}});
    let mut seen = Vec::new();
    for scope in ["mcp:tools", "mcp:tools mcp:admin"] {
        let auth = format!("Bearer {}", double.token(&resource, scope));
        let (status, _, out) = send(
            "POST",
            &resource,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("accept", "application/json, text/event-stream"),
                ("mcp-protocol-version", "2025-06-18"),
            ],
            list.to_string().as_bytes(),
        )
        .await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&out).unwrap();
        seen.push(names(&v["result"], "tools"));
    }
    assert!(
        !seen[0].contains(&"admin_reset".to_owned()) && seen[0].contains(&"whoami".to_owned()),
        "{seen:?}"
    );
    assert!(seen[1].contains(&"admin_reset".to_owned()), "{seen:?}");
}

/// Mixed access: `whoami` public. Without a token a client connects, lists (only `whoami`) and
/// calls it; everything else keeps its 401; a bad token is a 401 even for the public tool.
#[tokio::test]
async fn a_public_tool_is_served_without_a_token_and_nothing_else_is() {
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = mcp_authz_hyper::Authz::builder(&resource)
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(
            ScopePolicy::new(["mcp:tools"])
                .with_tool_scopes("admin_reset", ["mcp:admin"])
                .with_public_tool("whoami"),
        )
        .build()
        .await
        .unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let app = Router::new()
        .nest_service("/mcp", demo_service(vec![host, "127.0.0.1".into()]))
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let anon = |body: Value| {
        let resource = resource.clone();
        async move {
            send(
                "POST",
                &resource,
                &[
                    ("content-type", "application/json"),
                    ("accept", "application/json, text/event-stream"),
                    ("mcp-protocol-version", "2025-06-18"),
                ],
                body.to_string().as_bytes(),
            )
            .await
        }
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}});
    let (status, _, _) = anon(init).await;
    assert_eq!(status, 200);
    let (status, _, out) =
        anon(json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}})).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(names(&v["result"], "tools"), ["whoami"]);
    assert_eq!(v["result"]["cacheScope"], "private");
    let call = |tool: &str| json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":tool,"arguments":{}}});
    let (status, _, out) = anon(call("whoami")).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["result"]["content"][0]["text"],
        "no principal (unprotected)"
    );
    // Not public: the challenge, as before.
    let (status, headers, _) = anon(call("admin_reset")).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("resource_metadata="));
    let (status, _, _) = anon(json!([call("whoami"), call("admin_reset")])).await;
    assert_eq!(
        status, 401,
        "a batch is served only when every call is public"
    );
    let list = json!({"jsonrpc":"2.0","id":5,"method":"tools/list"});
    let ping = json!({"jsonrpc":"2.0","id":6,"method":"ping"});
    let (status, _, _) = anon(json!([list, ping])).await;
    assert_eq!(
        status, 401,
        "a list the filter cannot tie to its request is not served without a token"
    );
    let (status, _, _) = send("GET", &resource, &[("accept", "text/event-stream")], b"").await;
    assert_eq!(status, 401);
    // A token is verified even for the public tool.
    let bad = format!("Bearer {}x", double.token(&resource, "mcp:tools"));
    let (status, _, _) = send(
        "POST",
        &resource,
        &[
            ("authorization", &bad),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ],
        call("whoami").to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 401);
    // With a valid token the list is the caller's, not the public one.
    let good = format!("Bearer {}", double.token(&resource, "mcp:tools mcp:admin"));
    let (status, _, out) = send(
        "POST",
        &resource,
        &[
            ("authorization", &good),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-06-18"),
        ],
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}})
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(names(&v["result"], "tools"), ["admin_reset", "whoami"]);
}

/// A session opened without a token (public tools) serves only requests without one: a
/// signed-in caller naming it gets 404 and starts its own; a session a signed-in caller opened
/// is not served to a caller without a token.
#[tokio::test]
async fn a_session_opened_without_a_token_is_not_a_signed_in_callers() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let double = AsDouble::start().await;
    let (listener, resource) = bind().await;
    let authz = mcp_authz_hyper::Authz::builder(&resource)
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(ScopePolicy::new(["mcp:tools"]).with_public_tool("whoami"))
        .build()
        .await
        .unwrap();
    let opened = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = opened.clone();
    // A server that opens a new session on every initialize, and answers anything else.
    let app = Router::new()
        .route(
            "/mcp",
            post(move |body: bytes::Bytes| {
                let counter = counter.clone();
                async move {
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut response =
                        http::Response::builder().header("content-type", "application/json");
                    if req["method"] == "initialize" {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        response = response.header("mcp-session-id", format!("s-{n}"));
                    }
                    let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": {}});
                    response
                        .body(axum::body::Body::from(answer.to_string()))
                        .unwrap()
                }
            }),
        )
        .layer(authz.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let post_with = |auth: Option<String>, session: Option<&'static str>, body: Value| {
        let resource = resource.clone();
        async move {
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if let Some(a) = auth {
                headers.push(("authorization".into(), a));
            }
            if let Some(s) = session {
                headers.push(("mcp-session-id".into(), s.into()));
            }
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            send("POST", &resource, &h, body.to_string().as_bytes()).await
        }
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let whoami =
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami"}});
    let token = format!("Bearer {}", double.token(&resource, "mcp:tools"));
    // Opened without a token: s-0.
    let (status, headers, _) = post_with(None, None, init.clone()).await;
    assert_eq!(
        (status, headers["mcp-session-id"].to_str().unwrap()),
        (200, "s-0")
    );
    let (status, _, _) = post_with(None, Some("s-0"), whoami.clone()).await;
    assert_eq!(
        status, 200,
        "the anonymous session serves calls without a token"
    );
    let (status, _, _) = post_with(Some(token.clone()), Some("s-0"), whoami.clone()).await;
    assert_eq!(status, 404, "a signed-in caller must not use it");
    // Opened with a token: s-1, the principal's.
    let (status, headers, _) = post_with(Some(token.clone()), None, init).await;
    assert_eq!(
        (status, headers["mcp-session-id"].to_str().unwrap()),
        (200, "s-1")
    );
    let (status, _, _) = post_with(Some(token), Some("s-1"), whoami.clone()).await;
    assert_eq!(status, 200);
    let (status, headers, _) = post_with(None, Some("s-1"), whoami).await;
    assert_eq!(status, 401, "a caller without a token gets the challenge");
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(opened.load(Ordering::SeqCst), 2);
}

/// A list answer the filter cannot read (content-coded, or not JSON) never reaches the caller
/// as it was: a JSON-RPC error takes its place; and the list request goes without
/// Accept-Encoding.
#[tokio::test]
async fn a_list_answer_the_filter_cannot_read_is_replaced_by_an_error() {
    let (double, resource) = start(policy()).await;
    let auth = token(&double, &resource, "mcp:tools", &[]);
    let list = json!({"jsonrpc": "2.0", "id": 1.0, "method": "tools/list"});
    let (status, headers, text) = send(
        "POST",
        &resource,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("accept-encoding", "gzip"),
            ("x-gzip", "1"),
        ],
        list.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("content-encoding"));
    let v: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(v["error"]["code"], -32603, "{v}");
    // An id the server writes back differently (1.0 as 1) is still the list's.
    let (_, _, text) = post_rpc(&resource, &auth, list, false).await;
    let answer = &messages(&text, false)[0];
    assert_eq!(names(&answer["result"], "tools"), ["whoami", "no_rule"]);
}

/// MCP 2026-07-28 `Mcp-Param-*` headers: once a `tools/list` answer (JSON or an event stream,
/// filtered or passed as it is) declared `deploy`'s `env` argument as `Mcp-Param-Env`, a call of
/// `deploy` must carry it, matching; before any list went through, it cannot be checked. A list
/// answer only learned from keeps its bytes and its `Content-Length`.
#[tokio::test]
async fn mcp_param_headers_follow_the_declarations_of_the_list_answers() {
    for (policy, validate) in [(policy(), false), (ScopePolicy::new(["mcp:tools"]), true)] {
        for sse in [false, true] {
            let (double, resource) = start_with(policy.clone(), validate).await;
            let auth = token(&double, &resource, "mcp:tools", &["deployer"]);
            let post = |method: &'static str, env: Option<&'static str>, body: Value| {
                let (resource, auth) = (resource.clone(), auth.clone());
                async move {
                    let mut headers = vec![
                        ("authorization", auth.as_str()),
                        ("content-type", "application/json"),
                        ("accept", "application/json, text/event-stream"),
                        ("mcp-protocol-version", "2026-07-28"),
                        ("mcp-method", method),
                    ];
                    if method == "tools/call" {
                        headers.push(("mcp-name", "deploy"));
                    }
                    if let Some(env) = env {
                        headers.push(("mcp-param-env", env));
                    }
                    if sse {
                        headers.push(("x-sse", "1"));
                    }
                    let (status, h, out) =
                        send("POST", &resource, &headers, body.to_string().as_bytes()).await;
                    (status, h, String::from_utf8(out.to_vec()).unwrap())
                }
            };
            let deploy = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": {"name": "deploy", "arguments": {"env": "staging"}}});
            // Nothing learned yet: not checked.
            assert_eq!(
                post("tools/call", Some("prod"), deploy.clone()).await.0,
                200
            );
            let list = json!({"jsonrpc": "2.0", "id": "l", "method": "tools/list"});
            let (status, headers, text) = post("tools/list", None, list).await;
            assert_eq!(status, 200);
            if !sse && validate {
                assert_eq!(headers["content-length"], text.len().to_string().as_str());
                assert_eq!(messages(&text, false)[0]["result"]["cacheScope"], "public");
            }
            for (env, want) in [(Some("prod"), 400), (None, 400), (Some("staging"), 200)] {
                let (status, _, text) = post("tools/call", env, deploy.clone()).await;
                assert_eq!(
                    status, want,
                    "{env:?} sse={sse} validate={validate}: {text}"
                );
                if want == 400 {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(
                        (v["id"].clone(), v["error"]["code"].clone()),
                        (json!(4), json!(-32020))
                    );
                }
            }
        }
    }
}
