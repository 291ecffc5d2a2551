//! The request exchange across methods, paths, headers, bodies and scope policies: deny by
//! default, the body policy, the MCP 2026-07-28 request headers, and the exchange's protocol.

use std::sync::Arc;

use base64::Engine as _;
use mcp_authz_core::exchange::{BodyFailure, Step};
use mcp_authz_core::guard::MAX_REFLECTED_HEADERS;
use mcp_authz_core::scope_policy::colon_hierarchy;
use mcp_authz_core::{Guard, KeyState, Request, ScopePolicy};
use mcp_authz_core::{JwkSet, Response, VerifierConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::*;

const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const JSON: [&[u8]; 1] = [b"application/json"];

/// Header values, as the adapters hand them over.
type Values<'a> = &'a [&'a [u8]];

fn guard() -> Guard {
    Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"])
            .with_tool_scopes("delete", ["mcp:admin"])
            .with_method_scopes("resources/read", ["mcp:read"]),
    )
    .with_public_path("/healthz")
    .unwrap()
}

fn base_only() -> Guard {
    Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    )
}

fn token_with_scope(scope: &str) -> String {
    let mut c = claims();
    c["scope"] = json!(scope);
    format!("Bearer {}", forge(&header("ES256"), &c))
}

/// What an adapter saw while driving one exchange.
#[derive(Debug)]
struct Run {
    verdict: Step,
    body_read: bool,
}

/// Drives an exchange as the adapters do: `ReadBody` is answered with `body` (a read failure
/// when `None`), `RefreshKeys` with "no refresh".
fn run(g: &Guard, req: &Request<'_>, body: Option<&[u8]>) -> Run {
    let keys = jwks();
    let mut exchange = g.exchange();
    let (mut body_read, mut refresh_asked) = (false, false);
    loop {
        match exchange.poll(req, KeyState::Ready(&keys), NOW, None) {
            Step::ReadBody { max_bytes } => {
                assert!(!body_read, "the body is asked for once");
                body_read = true;
                match body {
                    Some(b) if b.len() <= max_bytes => exchange.handle_body(b),
                    Some(_) => exchange.handle_body_failed(BodyFailure::TooLarge),
                    None => exchange.handle_body_failed(BodyFailure::Unreadable),
                }
            }
            Step::RefreshKeys { .. } => {
                assert!(!refresh_asked, "a refresh is asked for once");
                refresh_asked = true;
                exchange.handle_keys_refreshed(false);
            }
            verdict => {
                assert!(!refresh_asked, "the test keys hold every kid");
                return Run { verdict, body_read };
            }
        }
    }
}

fn respond(r: Run) -> Response {
    match r.verdict {
        Step::Respond(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn allowed(r: &Run) -> bool {
    matches!(r.verdict, Step::Allow(_))
}

fn www(r: &Response) -> &str {
    r.header("www-authenticate").unwrap_or("")
}

fn json_body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap()
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
            let r = respond(run(&g, &Request::new(method, path), None));
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
            let doc = json_body(&r);
            assert_eq!(doc["resource"], RESOURCE);
            assert_eq!(doc["authorization_servers"], json!([ISSUER]));
            assert_eq!(
                doc["scopes_supported"],
                json!(["mcp:tools", "mcp:read", "mcp:admin"])
            );
        }
        let r = respond(run(&g, &Request::new("OPTIONS", path), None));
        assert_eq!(r.status, 204);
        assert!(r
            .header("access-control-allow-headers")
            .unwrap()
            .contains("MCP-Protocol-Version"));
        let r = respond(run(&g, &Request::new("POST", path), None));
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some("GET, HEAD, OPTIONS"))
        );
    }
}

/// The regression of the fail-open layer: axum's `nest_service("/mcp", …)` routes all of these
/// to the MCP service, and the guard used to let every path but `/mcp` through untouched.
#[test]
fn every_other_path_needs_a_token() {
    let g = guard();
    for path in [
        "/mcp/",
        "/mcp/x",
        "/mcp/.",
        "/mcp//",
        "/mcp/%2e",
        "/mcp/..;/mcp",
        "/",
        "/mcpx",
        "/healthz/",
        "/HEALTHZ",
        "/%68ealthz",
        "/.well-known/oauth-protected-resource/other",
        "",
    ] {
        for method in ["POST", "GET", "DELETE", "PUT"] {
            let r = run(&g, &Request::new(method, path), Some(&call("delete")));
            assert!(!r.body_read, "{method} {path}");
            let r = respond(r);
            assert_eq!(r.status, 401, "{method} {path}");
            assert_eq!(
                www(&r),
                format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:tools""#)
            );
        }
        // Only the resource's own preflight is public.
        assert_eq!(
            respond(run(&g, &Request::new("OPTIONS", path), None)).status,
            401,
            "{path}"
        );
    }
}

#[test]
fn public_paths_match_exactly_and_need_nothing() {
    let g = guard();
    for method in ["GET", "POST", "HEAD"] {
        let r = run(&g, &Request::new(method, "/healthz"), None);
        assert!(matches!(r.verdict, Step::AllowPublic(_)), "{r:?}");
        assert!(!r.body_read);
    }
    assert_eq!(g.public_paths(), ["/healthz"]);
}

#[test]
fn no_token_on_every_method_is_401_with_the_base_scope() {
    let g = guard();
    for method in ["POST", "GET", "DELETE", "PUT"] {
        let r = respond(run(&g, &Request::new(method, "/mcp"), None));
        assert_eq!(r.status, 401);
        assert_eq!(
            www(&r),
            format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:tools""#)
        );
    }
    // The CORS preflight of the resource needs no token.
    assert_eq!(
        respond(run(&g, &Request::new("OPTIONS", "/mcp"), None)).status,
        204
    );
}

/// The preflight reflects the `Mcp-Param-*` headers a browser asks for (MCP 2026-07-28 mirrors
/// tool parameters into headers named by the tool's schema) and nothing else: other names, names
/// that are not tokens, and anything past the bound are left out.
#[test]
fn the_preflight_allows_the_mcp_param_headers_asked_for() {
    let g = guard();
    let allowed = |asked: &[&[u8]]| {
        let r = respond(run(
            &g,
            &Request::new("OPTIONS", "/mcp").with_cors_request_headers(asked),
            None,
        ));
        assert_eq!(r.status, 204);
        assert_eq!(r.header("vary"), Some("Access-Control-Request-Headers"));
        r.header("access-control-allow-headers").unwrap().to_owned()
    };
    let fixed = allowed(&[]);
    assert!(fixed.contains("Mcp-Method") && !fixed.to_ascii_lowercase().contains("mcp-param"));
    let got = allowed(&[
        b"content-type, Mcp-Param-Region",
        b"mcp-param-user_id,x-evil",
    ]);
    assert_eq!(got, format!("{fixed}, mcp-param-region, mcp-param-user_id"));
    for refused in [
        &b"mcp-param-"[..],
        b"mcp-param-a b",
        b"mcp-param-\xff",
        b"mcp-param-a\r\nset-cookie: x",
        b"mcp-paramx",
        b"x-mcp-param-a",
    ] {
        assert_eq!(
            allowed(&[refused]),
            fixed,
            "{:?}",
            refused.escape_ascii().to_string()
        );
    }
    let many: String = (0..100)
        .map(|i| format!("mcp-param-p{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let got = allowed(&[many.as_bytes()]);
    assert_eq!(got.matches("mcp-param-").count(), MAX_REFLECTED_HEADERS);
    // The metadata documents' preflight reflects them too.
    let r = respond(run(
        &g,
        &Request::new("OPTIONS", "/.well-known/oauth-protected-resource/mcp")
            .with_cors_request_headers(&[b"mcp-param-a"]),
        None,
    ));
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .ends_with(", mcp-param-a"));
}

#[test]
fn a_valid_token_is_allowed_with_its_principal_on_any_path() {
    let g = guard();
    let token = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    for path in ["/mcp", "/mcp/", "/other"] {
        for method in ["POST", "GET", "DELETE"] {
            match run(
                &g,
                &Request::new(method, path).with_authorization(&auth),
                None,
            )
            .verdict
            {
                Step::Allow(a) => assert_eq!(a.principal().subject(), Some("user-1")),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn bad_tokens_and_bad_requests() {
    let g = base_only();
    let expired = {
        let mut c = claims();
        c["exp"] = json!(IAT - 3600);
        format!("Bearer {}", forge(&header("ES256"), &c))
    };
    let auth: [&[u8]; 1] = [expired.as_bytes()];
    let r = respond(run(
        &g,
        &Request::new("POST", "/mcp").with_authorization(&auth),
        None,
    ));
    assert_eq!(r.status, 401);
    assert!(www(&r).starts_with(
        r#"Bearer error="invalid_token", error_description="the access token expired""#
    ));

    let two: [&[u8]; 2] = [b"Bearer a", b"Bearer b"];
    let r = respond(run(
        &g,
        &Request::new("POST", "/mcp").with_authorization(&two),
        None,
    ));
    assert_eq!(
        (r.status, r.reason),
        (400, Some("multiple_authorization_headers"))
    );
    let joined: [&[u8]; 1] = [b"Bearer a,Bearer b"];
    let r = respond(run(
        &g,
        &Request::new("POST", "/mcp").with_authorization(&joined),
        None,
    ));
    assert_eq!(r.status, 400);
    assert!(www(&r).contains(r#"error="invalid_request""#));
    let good = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [good.as_bytes()];
    let q = respond(run(
        &g,
        &Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_query(Some("access_token=x")),
        None,
    ));
    assert_eq!((q.status, q.reason), (400, Some("token_in_query")));
    // A form body is read for an `access_token` (RFC 6750 §2.2), after the header's token was
    // verified; MCP takes the header only.
    let form: [&[u8]; 1] = [b"application/x-www-form-urlencoded"];
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&form, &[]);
    let r = run(&g, &req, Some(b"a=1&access_token=x"));
    assert!(r.body_read);
    let r = respond(r);
    assert_eq!((r.status, r.reason), (400, Some("token_in_body")));
    assert!(www(&r).contains(r#"error="invalid_request""#));
    assert!(allowed(&run(&g, &req, Some(b"a=1"))));
    // Without a valid token, the form body is never read.
    let r = run(
        &g,
        &Request::new("POST", "/mcp").with_body(&form, &[]),
        Some(b"access_token=x"),
    );
    assert!(!r.body_read);
    assert_eq!(respond(r).status, 401);
    // Without a body policy, other bodies are not read at all.
    let r = run(&g, &req.with_body(&JSON, &[]), Some(&call("delete")));
    assert!(!r.body_read && allowed(&r));
}

#[test]
fn tool_scopes_from_the_body_on_every_path() {
    let g = guard();
    let basic = token_with_scope("mcp:tools");
    let admin = token_with_scope("mcp:tools mcp:admin");
    let (basic, admin): ([&[u8]; 1], [&[u8]; 1]) = ([basic.as_bytes()], [admin.as_bytes()]);
    let delete = call("delete");
    let echo = call("echo");
    for path in ["/mcp", "/mcp/", "/mcp/x", "/anywhere"] {
        let req = |auth| {
            Request::new("POST", path)
                .with_authorization(auth)
                .with_body(&JSON, &[])
        };
        // Another tool: the base scope is enough.
        let r = run(&g, &req(&basic), Some(&echo));
        assert!(r.body_read && allowed(&r), "{path}");
        // The admin tool: 403 naming every scope the call needs.
        let r = respond(run(&g, &req(&basic), Some(&delete)));
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(
            www(&r),
            format!(
                r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this request needs", resource_metadata="{PRM_URL}", scope="mcp:tools mcp:admin""#
            )
        );
        assert!(allowed(&run(&g, &req(&admin), Some(&delete))), "{path}");
    }
    // A method scope.
    let read = serde_json::to_vec(
        &json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"x"}}),
    )
    .unwrap();
    let req = Request::new("POST", "/mcp")
        .with_authorization(&basic)
        .with_body(&JSON, &[]);
    assert!(www(&respond(run(&g, &req, Some(&read)))).ends_with(r#"scope="mcp:tools mcp:read""#));
}

#[test]
fn batches_need_the_union() {
    let g = guard();
    let basic = token_with_scope("mcp:tools mcp:read");
    let auth: [&[u8]; 1] = [basic.as_bytes()];
    let batch = serde_json::to_vec(&json!([
        {"jsonrpc":"2.0","id":1,"method":"tools/list"},
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete"}},
        {"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"x"}}
    ]))
    .unwrap();
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&JSON, &[]);
    let r = respond(run(&g, &req, Some(&batch)));
    assert_eq!(r.status, 403);
    assert!(
        www(&r).ends_with(r#"scope="mcp:tools mcp:read mcp:admin""#),
        "{}",
        www(&r)
    );
}

/// Bodies a lenient MCP server might still run as JSON-RPC: when a tool scope applies, none of
/// them gets through, whatever the bytes.
#[test]
fn bodies_the_policy_cannot_read_are_refused() {
    let g = guard();
    let basic = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [basic.as_bytes()];
    let delete = call("delete");
    let form_json = format!(
        "jsonrpc={}",
        String::from_utf8(delete.clone())
            .unwrap()
            .replace('"', "%22")
    );
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&delete);
    let cases: [(Values<'_>, Values<'_>, &[u8], u16, &str); 9] = [
        (
            &[b"application/x-www-form-urlencoded"],
            &[],
            &delete,
            415,
            "unsupported_media_type",
        ),
        (
            &[b"application/x-www-form-urlencoded"],
            &[],
            form_json.as_bytes(),
            415,
            "unsupported_media_type",
        ),
        (
            &[b"text/plain"],
            &[],
            &delete,
            415,
            "unsupported_media_type",
        ),
        (&[], &[], &delete, 415, "unsupported_media_type"),
        (
            &[b"multipart/form-data; boundary=x"],
            &[],
            &delete,
            415,
            "unsupported_media_type",
        ),
        (
            &JSON,
            &[b"gzip"],
            &delete,
            415,
            "unsupported_content_encoding",
        ),
        (
            &[b"application/json", b"text/plain"],
            &[],
            &delete,
            400,
            "multiple_content_types",
        ),
        (&JSON, &[], &bom, 400, "unreadable_body"),
        (
            &JSON,
            &[],
            b"{\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"name\":\"delete\"}}",
            400,
            "unreadable_body",
        ),
    ];
    for (ct, ce, body, status, reason) in cases {
        let req = Request::new("POST", "/mcp/")
            .with_authorization(&auth)
            .with_body(ct, ce);
        let r = respond(run(&g, &req, Some(body)));
        assert_eq!(
            (r.status, r.reason),
            (status, Some(reason)),
            "{ct:?} {ce:?}"
        );
        assert_eq!(
            r.header("www-authenticate"),
            None,
            "no challenge: the token was fine"
        );
        assert_eq!(json_body(&r)["error"], "invalid_request");
    }
    // Too large, and a stream that breaks.
    let small = guard().with_max_body_bytes(16);
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&JSON, &[]);
    assert_eq!(respond(run(&small, &req, Some(&delete))).status, 413);
    assert_eq!(respond(run(&g, &req, None)).status, 400);
    // `charset` and `+json` are fine.
    let vnd: [&[u8]; 1] = [b"application/vnd.mcp+json; charset=utf-8"];
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&vnd, &[b"identity"]);
    assert!(allowed(&run(&g, &req, Some(&call("echo")))));
}

#[test]
fn the_token_is_checked_before_the_body_is_read() {
    let g = guard();
    let delete = call("delete");
    let req = Request::new("POST", "/mcp").with_body(&JSON, &[]);
    let r = run(&g, &req, Some(&delete));
    assert!(!r.body_read);
    assert_eq!(respond(r).status, 401);
    // A token without the base scope: 403 before the body.
    let other = token_with_scope("other");
    let auth: [&[u8]; 1] = [other.as_bytes()];
    let r = run(&g, &req.with_authorization(&auth), Some(&delete));
    assert!(!r.body_read);
    assert_eq!(respond(r).status, 403);
    // A call its headers announce and the token cannot make: 403 before the body.
    let basic = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [basic.as_bytes()];
    let (m, n): ([&[u8]; 1], [&[u8]; 1]) = ([b"tools/call"], [b"delete"]);
    let r = run(
        &g,
        &req.with_authorization(&auth).with_mcp_headers(&m, &n),
        Some(&delete),
    );
    assert!(!r.body_read);
    let r = respond(r);
    assert_eq!(r.status, 403);
    assert!(www(&r).ends_with(r#"scope="mcp:tools mcp:admin""#));
}

fn b64(s: &str) -> String {
    format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s)
    )
}

#[test]
fn mcp_2026_07_28_request_headers() {
    let g = guard();
    let token = token_with_scope("mcp:tools mcp:read");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let rpc = |method: &str, params: Value| {
        serde_json::to_vec(&json!({"jsonrpc":"2.0","id":"req-7","method":method,"params":params}))
            .unwrap()
    };
    let read = rpc("resources/read", json!({"uri":"file:///notes/a.txt"}));
    let prompt = rpc("prompts/get", json!({"name":"summarise"}));
    let unicode = rpc("tools/call", json!({"name":"h\u{e9}llo","arguments":{}}));
    let echo = rpc("tools/call", json!({"name":"echo","arguments":{}}));
    let encoded_unicode = b64("h\u{e9}llo");
    let encoded_echo = b64("echo");
    let cases: [(&str, &str, &[u8]); 5] = [
        ("resources/read", "file:///notes/a.txt", &read),
        ("prompts/get", "summarise", &prompt),
        ("tools/call", &encoded_unicode, &unicode),
        ("tools/call", &encoded_echo, &echo),
        ("tools/call", "echo", &echo),
    ];
    for (method, name, body) in cases {
        let (m, n): ([&[u8]; 1], [&[u8]; 1]) = ([method.as_bytes()], [name.as_bytes()]);
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_mcp_headers(&m, &n)
            .with_body(&JSON, &[]);
        let r = run(&g, &req, Some(body));
        assert!(allowed(&r), "{method} {name}: {r:?}");
    }
    // Per-tool scopes apply to the decoded name.
    let encoded_delete = b64("delete");
    let (m, n): ([&[u8]; 1], [&[u8]; 1]) = ([b"tools/call"], [encoded_delete.as_bytes()]);
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_mcp_headers(&m, &n)
        .with_body(&JSON, &[]);
    let r = run(&g, &req, Some(&rpc("tools/call", json!({"name":"delete"}))));
    assert!(!r.body_read);
    assert_eq!(respond(r).status, 403);

    // Mismatches: 400 with the JSON-RPC error -32020 and the request's id.
    let uri_as_name = b"file:///other";
    let mismatches: [(Values<'_>, Values<'_>, &[u8]); 6] = [
        (&[b"tools/call"], &[b"other"], &echo),
        (&[b"tools/list"], &[], &echo),
        (&[], &[b"echo"], &echo),
        (&[b"resources/read"], &[uri_as_name], &read),
        (&[b"resources/read"], &[b"summarise"], &prompt),
        (&[b"prompts/get"], &[b"file:///notes/a.txt"], &prompt),
    ];
    for (m, n, body) in mismatches {
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_mcp_headers(m, n)
            .with_body(&JSON, &[]);
        let r = respond(run(&g, &req, Some(body)));
        assert_eq!(
            (r.status, r.reason),
            (400, Some("mcp_header_mismatch")),
            "{m:?} {n:?}"
        );
        assert_eq!(r.header("www-authenticate"), None);
        assert_eq!(
            json_body(&r),
            json!({"jsonrpc":"2.0","id":"req-7","error":{"code":-32020,
                "message":"the MCP request headers contradict the request body"}})
        );
    }
    // Headers that do not decode, or repeat: 400, -32020, before the body is read.
    let undecodable: [(Values<'_>, Values<'_>); 4] = [
        (&[b"tools/call"], &[b"=?base64?ZWNobw?="]),
        (&[b"tools/call"], &[b"=?base64?/w==?="]),
        (&[b"tools/call"], &[b"ech\xc3\xb6"]),
        (&[b"tools/call", b"tools/call"], &[b"echo"]),
    ];
    for (m, n) in undecodable {
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_mcp_headers(m, n)
            .with_body(&JSON, &[]);
        let r = run(&g, &req, Some(&echo));
        assert!(!r.body_read);
        let r = respond(r);
        assert_eq!(
            (r.status, r.reason),
            (400, Some("invalid_mcp_header")),
            "{n:?}"
        );
        assert_eq!(json_body(&r)["error"]["code"], -32020);
        assert_eq!(json_body(&r)["id"], Value::Null);
    }
    // Headers announcing a call over no body at all.
    let (m, n): ([&[u8]; 1], [&[u8]; 1]) = ([b"tools/call"], [b"echo"]);
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_mcp_headers(&m, &n);
    assert_eq!(respond(run(&g, &req, None)).status, 400);
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
    let broad = token_with_scope("mcp admin");
    let auth: [&[u8]; 1] = [broad.as_bytes()];
    let delete = call("delete");
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&JSON, &[]);
    assert!(allowed(&run(&g, &req, Some(&delete))));
    let narrow = token_with_scope("mcp:tools admin:delete:x");
    let auth: [&[u8]; 1] = [narrow.as_bytes()];
    assert_eq!(
        respond(run(&g, &req.with_authorization(&auth), Some(&delete))).status,
        403
    );
}

#[test]
fn keys_unavailable_is_503_never_401_or_allow() {
    let g = guard();
    let token = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let unavailable = KeyState::Unavailable {
        retry_after_secs: 9,
    };
    let req = Request::new("POST", "/mcp").with_authorization(&auth);
    let Step::Respond(r) = g.exchange().poll(&req, unavailable, NOW, None) else {
        panic!()
    };
    assert_eq!((r.status, r.header("retry-after")), (503, Some("9")));
    // Without a token the answer is still the discovery challenge: clients can start OAuth.
    let Step::Respond(r) = g
        .exchange()
        .poll(&Request::new("POST", "/mcp"), unavailable, NOW, None)
    else {
        panic!()
    };
    assert_eq!(r.status, 401);
}

#[test]
fn an_unknown_kid_asks_for_one_refresh() {
    let g = guard();
    let token = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let req = Request::new("POST", "/mcp").with_authorization(&auth);
    let (empty, keys) = (JwkSet::default(), jwks());
    // Not refreshed: 401 naming the unknown key.
    let mut x = g.exchange();
    assert_eq!(
        x.poll(&req, KeyState::Ready(&empty), NOW, None),
        Step::RefreshKeys {
            issuer: 0,
            kid: "p256".into()
        }
    );
    x.handle_keys_refreshed(false);
    let Step::Respond(r) = x.poll(&req, KeyState::Ready(&empty), NOW, None) else {
        panic!()
    };
    assert_eq!(r.status, 401);
    assert!(www(&r).contains("the access token key is unknown"));
    // Not refreshed by this request, but the keys it is polled with have the key by now
    // (another request's refresh landed): verified with them.
    let mut x = g.exchange();
    let _ = x.poll(&req, KeyState::Ready(&empty), NOW, None);
    x.handle_keys_refreshed(false);
    assert!(matches!(
        x.poll(&req, KeyState::Ready(&keys), NOW, None),
        Step::Allow(_)
    ));
    // Refreshed, and the key is there now.
    let mut x = g.exchange();
    assert!(matches!(
        x.poll(&req, KeyState::Ready(&empty), NOW, None),
        Step::RefreshKeys { .. }
    ));
    x.handle_keys_refreshed(true);
    assert!(matches!(
        x.poll(&req, KeyState::Ready(&keys), NOW, None),
        Step::Allow(_)
    ));
    // Refreshed, and still missing: no second refresh.
    let mut x = g.exchange();
    let _ = x.poll(&req, KeyState::Ready(&empty), NOW, None);
    x.handle_keys_refreshed(true);
    let Step::Respond(r) = x.poll(&req, KeyState::Ready(&empty), NOW, None) else {
        panic!()
    };
    assert_eq!(r.reason, Some("unknown_kid"));
    // Polled again without a report: rejected, not refreshed again.
    let mut x = g.exchange();
    let _ = x.poll(&req, KeyState::Ready(&empty), NOW, None);
    let Step::Respond(r) = x.poll(&req, KeyState::Ready(&keys), NOW, None) else {
        panic!()
    };
    assert_eq!(r.reason, Some("unknown_kid"));
}

#[test]
fn an_exchange_used_out_of_turn_denies() {
    let g = guard();
    let token = token_with_scope("mcp:tools mcp:admin");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let keys = jwks();
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&JSON, &[]);
    // Polled again instead of reporting the body.
    let mut x = g.exchange();
    assert!(matches!(
        x.poll(&req, KeyState::Ready(&keys), NOW, None),
        Step::ReadBody { .. }
    ));
    let Step::Respond(r) = x.poll(&req, KeyState::Ready(&keys), NOW, None) else {
        panic!()
    };
    assert_eq!((r.status, r.reason), (500, Some("no_decision")));
    // Polled after its verdict.
    let mut x = g.exchange();
    let _ = x.poll(&req, KeyState::Ready(&keys), NOW, None);
    x.handle_body(&call("echo"));
    assert!(matches!(
        x.poll(&req, KeyState::Ready(&keys), NOW, None),
        Step::Allow(_)
    ));
    let Step::Respond(r) = x.poll(&req, KeyState::Ready(&keys), NOW, None) else {
        panic!()
    };
    assert_eq!(r.status, 500);
    // Reports that were not asked for change nothing.
    let mut x = g.exchange();
    x.handle_body(&call("echo"));
    x.handle_body_failed(BodyFailure::TooLarge);
    x.handle_keys_refreshed(true);
    assert!(matches!(
        x.poll(&req, KeyState::Ready(&keys), NOW, None),
        Step::ReadBody { .. }
    ));
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any request head, any body: the exchange never panics, and never allows a request
    /// without a valid token, except a public path.
    #[test]
    fn the_exchange_never_panics_nor_allows_without_a_token(
        method in prop_oneof![Just("GET".to_string()), Just("POST".to_string()), Just("OPTIONS".to_string()), "[A-Z]{0,8}"],
        path in prop_oneof![Just("/mcp".to_string()), Just("/mcp/".to_string()), Just("/healthz".to_string()), Just("/.well-known/oauth-protected-resource".to_string()), ".{0,30}"],
        query in proptest::option::of(".{0,30}"),
        auth in proptest::collection::vec(any::<Vec<u8>>(), 0..3),
        mcp_method in proptest::collection::vec(any::<Vec<u8>>(), 0..2),
        mcp_name in proptest::collection::vec(any::<Vec<u8>>(), 0..2),
        content_type in proptest::collection::vec(prop_oneof![Just(b"application/json".to_vec()), any::<Vec<u8>>()], 0..2),
        body in proptest::option::of(prop_oneof![any::<Vec<u8>>(), Just(call("delete"))]),
    ) {
        let g = guard();
        let (auth, m, n, ct) = (refs(&auth), refs(&mcp_method), refs(&mcp_name), refs(&content_type));
        let mut req = Request::new(&method, &path)
            .with_query(query.as_deref())
            .with_authorization(&auth)
            .with_mcp_headers(&m, &n);
        if body.is_some() {
            req = req.with_body(&ct, &[]);
        }
        let r = run(&g, &req, body.as_deref());
        match r.verdict {
            Step::Allow(_) => prop_assert!(false, "allowed without a valid token"),
            Step::AllowPublic(_) => prop_assert_eq!(path.as_str(), "/healthz"),
            _ => {}
        }
    }
}

/// Drives an exchange with per-issuer keys, answering every refresh with "none"; returns the
/// refreshes asked for and the verdict.
fn run_keys(g: &Guard, token: &str, keys: &[KeyState<'_>]) -> (Vec<(usize, String)>, Step) {
    let auth = format!("Bearer {token}");
    let values: [&[u8]; 1] = [auth.as_bytes()];
    let req = Request::new("GET", "/mcp").with_authorization(&values);
    let mut x = g.exchange();
    let mut refreshes = Vec::new();
    loop {
        match x.poll(&req, keys, NOW, None) {
            Step::RefreshKeys { issuer, kid } => {
                refreshes.push((issuer, kid));
                x.handle_keys_refreshed(false);
            }
            verdict => return (refreshes, verdict),
        }
    }
}

#[test]
fn several_issuers_route_by_iss_and_verify_with_their_own_keys_alone() {
    const OTHER: &str = "https://login.other.example";
    let g = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    )
    .with_issuer(VerifierConfig::new(OTHER, "https://elsewhere.example/x"));
    assert_eq!(g.metadata().authorization_servers(), [ISSUER, OTHER]);
    assert_eq!(g.verifier_at(1).unwrap().config().resource(), RESOURCE);
    assert!(g.verifier_at(2).is_none());
    let all = jwk_values();
    // The first issuer publishes the P-256 key, the second the RSA key.
    let (first, second) = (
        jwks_with(vec![all[1].clone()]),
        jwks_with(vec![all[0].clone()]),
    );
    let keys = [KeyState::Ready(&first), KeyState::Ready(&second)];
    let token = |alg: &str, iss: Option<&str>| {
        let mut c = claims();
        match iss {
            Some(i) => c["iss"] = json!(i),
            None => drop(c.as_object_mut().unwrap().remove("iss")),
        }
        forge(&header(alg), &c)
    };
    let status = |s: &Step| match s {
        Step::Respond(r) => (r.status, r.reason),
        Step::Allow(p) => (
            200,
            Some(if p.principal().issuer() == OTHER {
                "other"
            } else {
                "first"
            }),
        ),
        other => panic!("{other:?}"),
    };
    // Each issuer's own tokens, with its own keys.
    let (asked, v) = run_keys(&g, &token("ES256", Some(ISSUER)), &keys);
    assert_eq!((asked.len(), status(&v)), (0, (200, Some("first"))));
    let (asked, v) = run_keys(&g, &token("RS256", Some(OTHER)), &keys);
    assert_eq!((asked.len(), status(&v)), (0, (200, Some("other"))));
    // A token naming one issuer, signed with the other's key: only the named issuer's keys are
    // tried (its refresh is asked for), and it is refused.
    let (asked, v) = run_keys(&g, &token("ES256", Some(OTHER)), &keys);
    assert_eq!(asked, [(1, "p256".to_owned())]);
    assert_eq!(status(&v), (401, Some("unknown_kid")));
    let (asked, v) = run_keys(&g, &token("RS256", Some(ISSUER)), &keys);
    assert_eq!(asked, [(0, "rsa".to_owned())]);
    assert_eq!(status(&v), (401, Some("unknown_kid")));
    // An `iss` no issuer has, or none: refused before any key is looked at, so no fetch.
    for (t, reason) in [
        (token("ES256", Some("https://evil.example")), "wrong_iss"),
        (token("ES256", None), "missing_iss"),
        ("not-a-token".to_owned(), "malformed_jws"),
    ] {
        let (asked, v) = run_keys(&g, &t, &keys);
        assert!(asked.is_empty());
        assert_eq!(status(&v), (401, Some(reason)));
    }
    // A second issuer without keys: its tokens get 503, the first's still pass.
    let partial = [
        KeyState::Ready(&first),
        KeyState::Unavailable {
            retry_after_secs: 7,
        },
    ];
    let (_, v) = run_keys(&g, &token("RS256", Some(OTHER)), &partial);
    assert_eq!(status(&v).0, 503);
    let (_, v) = run_keys(&g, &token("ES256", Some(ISSUER)), &partial);
    assert_eq!(status(&v).0, 200);
    // A key source that has no keys for the issuer the token routes to: denied (500), never
    // verified with another issuer's keys.
    let one = [KeyState::Ready(&first)];
    let (_, v) = run_keys(&g, &token("RS256", Some(OTHER)), &one);
    assert_eq!(status(&v), (500, Some("no_decision")));
}

#[test]
fn origin_is_validated_everywhere_but_the_metadata_documents() {
    let token = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let keys = jwks();
    let verdict = |g: &Guard, path: &str, origin: &[&[u8]]| {
        let req = Request::new("GET", path)
            .with_authorization(&auth)
            .with_origin(origin);
        match g.exchange().poll(&req, KeyState::Ready(&keys), NOW, None) {
            Step::Respond(r) => (r.status, r.reason),
            Step::Allow(_) => (200, None),
            Step::AllowPublic(_) => (200, Some("public")),
            other => panic!("{other:?}"),
        }
    };
    let g = guard();
    // No Origin (non-browser clients), and the resource's own origin (any case, default port
    // omitted as browsers do).
    assert_eq!(verdict(&g, "/mcp", &[]), (200, None));
    assert_eq!(
        verdict(&g, "/mcp", &[b"https://mcp.example.com"]),
        (200, None)
    );
    assert_eq!(
        verdict(&g, "/mcp", &[b"HTTPS://MCP.EXAMPLE.COM"]),
        (200, None)
    );
    // Anything else is 403 before the token is even looked at, on public paths too.
    for bad in [
        &b"https://evil.example"[..],
        b"http://mcp.example.com",
        b"https://mcp.example.com:8443",
        b"https://mcp.example.com.evil.example",
        b"null",
        b"\xff",
    ] {
        assert_eq!(
            verdict(&g, "/mcp", &[bad]),
            (403, Some("origin_not_allowed")),
            "{bad:?}"
        );
        assert_eq!(verdict(&g, "/healthz", &[bad]).0, 403);
    }
    assert_eq!(
        verdict(
            &g,
            "/mcp",
            &[b"https://mcp.example.com", b"https://mcp.example.com"]
        )
        .0,
        403,
        "two Origin headers"
    );
    // The metadata documents stay open to every origin.
    assert_eq!(
        verdict(
            &g,
            "/.well-known/oauth-protected-resource/mcp",
            &[b"https://evil.example"]
        )
        .0,
        200
    );
    // Configured origins, and null when asked for.
    let g = guard()
        .with_allowed_origins(["https://Inspector.example:6274/"])
        .with_null_origin(true);
    assert_eq!(
        verdict(&g, "/mcp", &[b"https://inspector.example:6274"]),
        (200, None)
    );
    assert_eq!(verdict(&g, "/mcp", &[b"null"]), (200, None));
    assert_eq!(verdict(&g, "/mcp", &[b"https://inspector.example"]).0, 403);
}

/// Header validation for any upstream (`Guard::with_mcp_header_validation`): a request that
/// declares MCP 2026-07-28 or later has its body read even under a policy of base scopes alone,
/// and `Mcp-Method` (and `Mcp-Name` for a named call) must be there and agree with it, as the
/// conformance suite's `http-header-validation` scenario checks (400, -32020); earlier revisions
/// and guards without the option are untouched.
#[test]
fn mcp_headers_are_validated_for_any_upstream_from_2026_07_28() {
    let token = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let ct: [&[u8]; 1] = [b"application/json"];
    let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#;
    let list = br#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#;
    let validating = base_only().with_mcp_header_validation(true);
    let run_with =
        |g: &Guard, version: &[u8], method: Option<&[u8]>, name: Option<&[u8]>, body: &[u8]| {
            let (v, m, n) = ([version], method.map(|m| [m]), name.map(|n| [n]));
            let req = Request::new("POST", "/mcp")
                .with_authorization(&auth)
                .with_body(&ct, &[])
                .with_mcp_protocol_version(if version.is_empty() { &[] } else { &v })
                .with_mcp_headers(
                    m.as_ref().map_or(&[][..], |m| &m[..]),
                    n.as_ref().map_or(&[][..], |n| &n[..]),
                );
            run(g, &req, Some(body))
        };
    // 2026-07-28: headers that name the call pass; missing or wrong ones are 400, -32020, id kept.
    let ok = run_with(
        &validating,
        b"2026-07-28",
        Some(b"tools/call"),
        Some(b"echo"),
        call,
    );
    assert!(allowed(&ok) && ok.body_read, "{ok:?}");
    for (method, name) in [
        (None, Some(&b"echo"[..])),
        (Some(&b"tools/call"[..]), None),
        (Some(b"tools/list"), Some(b"echo")),
        (Some(b"TOOLS/CALL"), Some(b"echo")),
        (Some(b"tools/call"), Some(b"other")),
    ] {
        let r = respond(run_with(&validating, b"2026-07-28", method, name, call));
        assert_eq!(r.status, 400, "{method:?} {name:?}");
        assert_eq!(json_body(&r)["error"]["code"], -32020);
        assert_eq!(json_body(&r)["id"], 7);
    }
    // A later revision too; a call that names nothing needs Mcp-Method alone.
    assert!(allowed(&run_with(
        &validating,
        b"2027-01-01",
        Some(b"tools/list"),
        None,
        list
    )));
    assert_eq!(
        respond(run_with(&validating, b"2026-07-28", None, None, list)).status,
        400
    );
    // Earlier revisions, no version, or a version that is not a date: nothing required, body
    // not read (the policy reads none).
    for version in [
        &b"2025-11-25"[..],
        b"",
        b"latest",
        b"2026-7-28",
        b"2026-07-28x",
    ] {
        let r = run_with(&validating, version, None, None, call);
        assert!(
            allowed(&r) && !r.body_read,
            "{:?}",
            version.escape_ascii().to_string()
        );
    }
    // Without the option and a policy that reads no body, 2026-07-28 requests pass unread.
    let r = run_with(&base_only(), b"2026-07-28", None, None, call);
    assert!(allowed(&r) && !r.body_read);
    // A policy that reads the body requires the headers from 2026-07-28 on, option or not.
    let r = respond(run_with(&guard(), b"2026-07-28", None, None, call));
    assert_eq!(
        (r.status, json_body(&r)["error"]["code"].clone()),
        (400, json!(-32020))
    );
}

/// A request of an earlier revision that carries `Mcp-Method`/`Mcp-Name` while the policy reads
/// them is refused (400, -32020): the server of that revision ignores them, so they could say
/// anything (MCP 2026-07-28: intermediaries that enforce policy on them SHOULD reject it).
#[test]
fn earlier_revisions_may_not_carry_the_headers_the_policy_reads() {
    let token = token_with_scope("mcp:tools mcp:admin");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let ct: [&[u8]; 1] = [b"application/json"];
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
    let (method, name): ([&[u8]; 1], [&[u8]; 1]) = ([b"tools/call"], [b"echo"]);
    for (version, status) in [(&b"2025-11-25"[..], 400), (b"2026-07-28", 200), (b"", 200)] {
        let v = [version];
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_body(&ct, &[])
            .with_mcp_headers(&method, &name)
            .with_mcp_protocol_version(if version.is_empty() { &[] } else { &v });
        let r = run(&guard(), &req, Some(call));
        let got = match &r.verdict {
            Step::Allow(_) => 200,
            Step::Respond(r) => r.status,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, status, "{:?}", version.escape_ascii().to_string());
    }
}

/// An allowed `subscriptions/listen` (MCP 2026-07-28) whose body was read carries the message
/// that closes its stream gracefully: the listen's result, `resultType: "complete"`, its id as
/// the subscription id. Any other request, or a listen whose body was not read, carries none.
#[test]
fn a_listen_request_carries_its_closing_result() {
    let token = token_with_scope("mcp:tools");
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let version: [&[u8]; 1] = [b"2026-07-28"];
    let closing = |g: &Guard, method: &[u8], body: &[u8]| {
        let m = [method];
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_body(&JSON, &[])
            .with_mcp_protocol_version(&version)
            .with_mcp_headers(&m, &[]);
        match run(g, &req, Some(body)).verdict {
            Step::Allow(a) => a
                .listen_closing()
                .map(|m| serde_json::from_slice::<Value>(&m).unwrap()),
            other => panic!("{other:?}"),
        }
    };
    let listen = br#"{"jsonrpc":"2.0","id":"sub-9","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}"#;
    let validating = base_only().with_mcp_header_validation(true);
    assert_eq!(
        closing(&validating, b"subscriptions/listen", listen),
        Some(json!({"jsonrpc":"2.0","id":"sub-9","result":{
            "resultType":"complete","_meta":{"io.modelcontextprotocol/subscriptionId":"sub-9"}}}))
    );
    let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(closing(&validating, b"tools/list", list), None);
    // Not read (no validation, a policy that reads no body): nothing to close with.
    assert_eq!(closing(&base_only(), b"subscriptions/listen", listen), None);
}
