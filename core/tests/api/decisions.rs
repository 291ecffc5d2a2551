//! The per-request decision across methods, paths, headers, bodies and scope policies.

use std::sync::Arc;

use mcp_authz_core::decision::{colon_hierarchy, Decision, Guard, KeyState, Request, ScopePolicy};
use mcp_authz_core::{JwkSet, Response, VerifierConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::*;

const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn guard() -> Guard {
    Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"])
            .with_tool_scopes("delete", ["mcp:admin"])
            .with_method_scopes("resources/read", ["mcp:read"]),
    )
}

fn token_with_scope(scope: &str) -> String {
    let mut c = claims();
    c["scope"] = json!(scope);
    forge(&header("ES256"), &c)
}

fn decide(g: &Guard, req: &Request<'_>) -> Decision {
    g.decide(req, KeyState::Ready(&jwks()), NOW)
}

fn respond(d: Decision) -> Response {
    match d {
        Decision::Respond(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn www(r: &Response) -> &str {
    r.header("www-authenticate").unwrap_or("")
}

fn call(tool: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":{}}})).unwrap()
}

#[test]
fn metadata_documents_at_both_well_known_paths() {
    let g = guard();
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        for method in ["GET", "HEAD"] {
            let r = respond(decide(&g, &Request::new(method, path)));
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
            let doc: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(doc["resource"], RESOURCE);
            assert_eq!(doc["authorization_servers"], json!([ISSUER]));
            assert_eq!(
                doc["scopes_supported"],
                json!(["mcp:tools", "mcp:read", "mcp:admin"])
            );
        }
        let r = respond(decide(&g, &Request::new("OPTIONS", path)));
        assert_eq!(r.status, 204);
        assert!(r
            .header("access-control-allow-headers")
            .unwrap()
            .contains("MCP-Protocol-Version"));
        let r = respond(decide(&g, &Request::new("POST", path)));
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some("GET, HEAD, OPTIONS"))
        );
    }
}

#[test]
fn other_paths_are_not_the_guards_business() {
    let g = guard();
    for path in [
        "/",
        "/mcp/",
        "/mcpx",
        "/healthz",
        "/.well-known/oauth-protected-resource/other",
    ] {
        assert_eq!(
            decide(&g, &Request::new("POST", path)),
            Decision::NotProtected,
            "{path}"
        );
    }
}

#[test]
fn no_token_on_every_method_is_401_with_the_base_scope() {
    let g = guard();
    for method in ["POST", "GET", "DELETE", "PUT"] {
        let r = respond(decide(&g, &Request::new(method, "/mcp")));
        assert_eq!(r.status, 401);
        assert_eq!(
            www(&r),
            format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:tools""#)
        );
    }
    // The CORS preflight needs no token.
    assert_eq!(
        respond(decide(&g, &Request::new("OPTIONS", "/mcp"))).status,
        204
    );
}

#[test]
fn a_valid_token_is_allowed_with_its_principal() {
    let g = guard();
    let token = format!("Bearer {}", token_with_scope("mcp:tools"));
    let auth: [&[u8]; 1] = [token.as_bytes()];
    for method in ["POST", "GET", "DELETE"] {
        match decide(&g, &Request::new(method, "/mcp").with_authorization(&auth)) {
            Decision::Allow(p) => assert_eq!(p.subject(), Some("user-1")),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn bad_tokens_and_bad_requests() {
    let g = guard();
    let expired = {
        let mut c = claims();
        c["exp"] = json!(IAT - 3600);
        format!("Bearer {}", forge(&header("ES256"), &c))
    };
    let auth: [&[u8]; 1] = [expired.as_bytes()];
    let r = respond(decide(
        &g,
        &Request::new("POST", "/mcp").with_authorization(&auth),
    ));
    assert_eq!(r.status, 401);
    assert!(www(&r).starts_with(
        r#"Bearer error="invalid_token", error_description="the access token expired""#
    ));

    let two: [&[u8]; 2] = [b"Bearer a", b"Bearer b"];
    assert_eq!(
        respond(decide(
            &g,
            &Request::new("POST", "/mcp").with_authorization(&two)
        ))
        .status,
        400
    );
    let joined: [&[u8]; 1] = [b"Bearer a,Bearer b"];
    let r = respond(decide(
        &g,
        &Request::new("POST", "/mcp").with_authorization(&joined),
    ));
    assert_eq!(r.status, 400);
    assert!(www(&r).contains(r#"error="invalid_request""#));
    let good = format!("Bearer {}", token_with_scope("mcp:tools"));
    let auth: [&[u8]; 1] = [good.as_bytes()];
    let q = respond(decide(
        &g,
        &Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_query(Some("access_token=x")),
    ));
    assert_eq!(q.status, 400);
    let f = respond(decide(
        &g,
        &Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_form_access_token(true),
    ));
    assert_eq!(f.status, 400);
}

#[test]
fn tool_scopes_from_the_body() {
    let g = guard();
    let basic = format!("Bearer {}", token_with_scope("mcp:tools"));
    let admin = format!("Bearer {}", token_with_scope("mcp:tools mcp:admin"));
    let (basic, admin): ([&[u8]; 1], [&[u8]; 1]) = ([basic.as_bytes()], [admin.as_bytes()]);
    let delete = call("delete");
    let echo = call("echo");
    assert!(g.needs_body("POST", "/mcp"));
    assert!(!g.needs_body("GET", "/mcp"));

    // Another tool: the base scope is enough.
    let req = Request::new("POST", "/mcp")
        .with_authorization(&basic)
        .with_body(Some(&echo));
    assert!(matches!(decide(&g, &req), Decision::Allow(_)));
    // The admin tool: 403 naming every scope the call needs.
    let req = Request::new("POST", "/mcp")
        .with_authorization(&basic)
        .with_body(Some(&delete));
    let r = respond(decide(&g, &req));
    assert_eq!(r.status, 403);
    assert_eq!(
        www(&r),
        format!(
            r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this request needs", resource_metadata="{PRM_URL}", scope="mcp:tools mcp:admin""#
        )
    );
    let req = Request::new("POST", "/mcp")
        .with_authorization(&admin)
        .with_body(Some(&delete));
    assert!(matches!(decide(&g, &req), Decision::Allow(_)));
    // A method scope.
    let read = serde_json::to_vec(
        &json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"x"}}),
    )
    .unwrap();
    let req = Request::new("POST", "/mcp")
        .with_authorization(&basic)
        .with_body(Some(&read));
    assert_eq!(
        respond(decide(&g, &req))
            .header("www-authenticate")
            .map(|h| h.ends_with(r#"scope="mcp:tools mcp:read""#)),
        Some(true)
    );
}

#[test]
fn batches_need_the_union() {
    let g = guard();
    let basic = format!("Bearer {}", token_with_scope("mcp:tools mcp:read"));
    let auth: [&[u8]; 1] = [basic.as_bytes()];
    let batch = serde_json::to_vec(&json!([
        {"jsonrpc":"2.0","id":1,"method":"tools/list"},
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete"}},
        {"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"x"}}
    ]))
    .unwrap();
    let r = respond(decide(
        &g,
        &Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_body(Some(&batch)),
    ));
    assert_eq!(r.status, 403);
    assert!(
        www(&r).ends_with(r#"scope="mcp:tools mcp:read mcp:admin""#),
        "{}",
        www(&r)
    );
}

#[test]
fn mcp_headers_and_their_mismatch_with_the_body() {
    let g = guard();
    let basic = format!("Bearer {}", token_with_scope("mcp:tools"));
    let auth: [&[u8]; 1] = [basic.as_bytes()];
    let delete = call("delete");
    let echo = call("echo");
    // Headers alone (newest transport, body not buffered): the tool scope applies.
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_mcp_headers(Some("tools/call"), Some("delete"));
    assert_eq!(respond(decide(&g, &req)).status, 403);
    // Headers that agree with the body.
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_mcp_headers(Some("tools/call"), Some("echo"))
        .with_body(Some(&echo));
    assert!(matches!(decide(&g, &req), Decision::Allow(_)));
    // Headers that lie about the body: 400, not a scope bypass.
    for (m, n) in [
        (Some("tools/call"), Some("echo")),
        (Some("tools/list"), None),
        (None, Some("echo")),
    ] {
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_mcp_headers(m, n)
            .with_body(Some(&delete));
        let r = respond(decide(&g, &req));
        assert_eq!(r.status, 400, "{m:?} {n:?}");
        assert!(www(&r).contains("the MCP request headers contradict the request body"));
    }
    // A body the policy needs but cannot read (here: a duplicate "name" that a lenient parser
    // downstream would resolve to another tool) is refused.
    let sneaky = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete"}}"#;
    let r = respond(decide(
        &g,
        &Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_body(Some(sneaky)),
    ));
    assert_eq!(r.status, 400);
    assert!(www(&r).contains(r#"error="invalid_request""#));
}

#[test]
fn scope_hierarchy_hook() {
    let g = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"])
            .with_tool_scopes("delete", ["admin:delete"])
            .with_implication(Arc::new(colon_hierarchy)),
    );
    // "mcp" implies the base "mcp:tools"; "admin" implies "admin:delete".
    let broad = format!("Bearer {}", token_with_scope("mcp admin"));
    let auth: [&[u8]; 1] = [broad.as_bytes()];
    let delete = call("delete");
    assert!(matches!(
        decide(
            &g,
            &Request::new("POST", "/mcp")
                .with_authorization(&auth)
                .with_body(Some(&delete))
        ),
        Decision::Allow(_)
    ));
    let narrow = format!("Bearer {}", token_with_scope("mcp:tools admin:delete:x"));
    let auth: [&[u8]; 1] = [narrow.as_bytes()];
    assert_eq!(
        respond(decide(
            &g,
            &Request::new("POST", "/mcp")
                .with_authorization(&auth)
                .with_body(Some(&delete))
        ))
        .status,
        403
    );
}

#[test]
fn keys_unavailable_is_503_never_401_or_allow() {
    let g = guard();
    let token = format!("Bearer {}", token_with_scope("mcp:tools"));
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let r = respond(g.decide(
        &Request::new("POST", "/mcp").with_authorization(&auth),
        KeyState::Unavailable {
            retry_after_secs: 9,
        },
        NOW,
    ));
    assert_eq!((r.status, r.header("retry-after")), (503, Some("9")));
    // Without a token the answer is still the discovery challenge: clients can start OAuth.
    let r = respond(g.decide(
        &Request::new("POST", "/mcp"),
        KeyState::Unavailable {
            retry_after_secs: 9,
        },
        NOW,
    ));
    assert_eq!(r.status, 401);
}

#[test]
fn unknown_kid_asks_for_keys() {
    let g = guard();
    let token = format!("Bearer {}", token_with_scope("mcp:tools"));
    let auth: [&[u8]; 1] = [token.as_bytes()];
    match g.decide(
        &Request::new("POST", "/mcp").with_authorization(&auth),
        KeyState::Ready(&JwkSet::default()),
        NOW,
    ) {
        Decision::KeysNeeded { kid, rejection } => {
            assert_eq!(kid, "p256");
            assert_eq!(rejection.status, 401);
            assert!(www(&rejection).contains("the access token key is unknown"));
        }
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decide_never_panics(
        method in prop_oneof![Just("GET".to_string()), Just("POST".to_string()), Just("OPTIONS".to_string()), "[A-Z]{0,8}"],
        path in prop_oneof![Just("/mcp".to_string()), Just("/.well-known/oauth-protected-resource".to_string()), ".{0,30}"],
        query in proptest::option::of(".{0,30}"),
        auth in proptest::collection::vec(any::<Vec<u8>>(), 0..3),
        mcp_method in proptest::option::of(".{0,12}"),
        mcp_name in proptest::option::of(".{0,12}"),
        body in proptest::option::of(prop_oneof![any::<Vec<u8>>(), Just(call("delete"))]),
    ) {
        let g = guard();
        let auth_refs: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
        let req = Request::new(&method, &path)
            .with_query(query.as_deref())
            .with_authorization(&auth_refs)
            .with_mcp_headers(mcp_method.as_deref(), mcp_name.as_deref())
            .with_body(body.as_deref());
        let _ = decide(&g, &req);
    }
}
