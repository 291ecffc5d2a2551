//! The security invariants, held against readings made here independently of the core:
//! every `Step::Allow` satisfies every rule that applies, whatever the token's scopes, the
//! method, the content type and coding, the body, and the MCP headers; and the three ways around
//! the rules found on main (a form body, member names a case-insensitive server reads, public
//! paths over the resource) stay closed.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use mcp_authz_core::exchange::{BodyFailure, Step};
use mcp_authz_core::list_filter::{EventData, Filtered, ListFilter};
use mcp_authz_core::rules::{Requirement, RoleClaims};
use mcp_authz_core::{Guard, KeyState, PublicPathError, Request, ScopePolicy, VerifierConfig};
use proptest::prelude::*;
use serde_json::json;

use crate::common::*;
use crate::ordered::{calls, Names};

/// The scopes tokens are made with: every subset of these.
const SCOPES: [&str; 4] = ["mcp:tools", "mcp:admin", "mcp:read", "other"];

/// The policy shapes the proxy can be configured with: the base scopes alone, or with method
/// scopes, or with tool scopes, or with rules over roles and clients for a tool, a prompt and
/// resources.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Base,
    Methods,
    Tools,
    Rules,
}

/// Bit of a token subset: the token carries Keycloak realm role `admin`.
const ROLE_BIT: usize = 1 << 4;
/// Bit of a token subset: the token's `client_id` is `ops`.
const CLIENT_BIT: usize = 1 << 5;

/// What a token holds, stated here from its subset bits (not read from the token).
struct Held {
    scopes: BTreeSet<&'static str>,
    admin_role: bool,
    ops_client: bool,
}

impl Shape {
    fn policy(self) -> ScopePolicy {
        let base = ScopePolicy::new(["mcp:tools"]);
        match self {
            Shape::Base => base,
            Shape::Methods => base
                .with_method_scopes("resources/read", ["mcp:read"])
                .with_method_scopes("tools/call", ["mcp:admin"]),
            Shape::Tools => base.with_tool_scopes("admin_tool", ["mcp:admin"]),
            Shape::Rules => {
                let rule = |r: &str| r.parse::<Requirement>().unwrap();
                base.with_role_claims(
                    RoleClaims::none().with(RoleClaims::provider("keycloak").unwrap()),
                )
                .with_tool_rule("admin_tool", rule("role=admin | mcp:admin client=ops"))
                .with_prompt_rule("secret_prompt", rule("role=admin"))
                .with_resource_rule("file:///secret/*".parse().unwrap(), rule("role=admin"))
            }
        }
    }

    /// Whether a token holding `held` meets this shape's rule for one call `(method, name,
    /// uri)`, stated here.
    fn meets(self, held: &Held, method: &str, name: Option<&str>, uri: Option<&str>) -> bool {
        if !matches!(self, Shape::Rules) {
            return self
                .needs(method, name)
                .iter()
                .all(|s| held.scopes.contains(s));
        }
        // A URI the server might decode or resolve into a secret one counts as secret.
        // The test's URIs are `file:///…` or bare words: only the former, without encoding or
        // dot segments, is read one way by every URL parser.
        let secret = |u: &str| {
            u.starts_with("file:///secret/")
                || !u.starts_with("file:///")
                || u.contains(['%', '\\'])
                || u.split(['/', '?', '#'])
                    .any(|seg| seg == "." || seg == "..")
        };
        match (method, name) {
            ("tools/call", Some("admin_tool")) => {
                held.admin_role || (held.scopes.contains("mcp:admin") && held.ops_client)
            }
            ("prompts/get", Some("secret_prompt")) => held.admin_role,
            ("resources/read" | "resources/subscribe" | "resources/unsubscribe", _) => {
                held.admin_role || uri.is_some_and(|u| !secret(u))
            }
            _ => true,
        }
    }

    /// The scopes one call needs under this shape, stated here (not read from the policy).
    fn needs(self, method: &str, name: Option<&str>) -> Vec<&'static str> {
        match (self, method, name) {
            (Shape::Methods, "resources/read", _) => vec!["mcp:read"],
            (Shape::Methods, "tools/call", _) => vec!["mcp:admin"],
            (Shape::Tools, "tools/call", Some("admin_tool")) => vec!["mcp:admin"],
            _ => vec![],
        }
    }

    fn reads_body(self) -> bool {
        !matches!(self, Shape::Base)
    }
}

/// One token per subset of [`SCOPES`] (bit `i` set: `SCOPES[i]` granted), with or without the
/// admin role ([`ROLE_BIT`]) and client `ops` ([`CLIENT_BIT`]).
fn token(subset: usize) -> &'static str {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    let all = TOKENS.get_or_init(|| {
        (0..1 << (SCOPES.len() + 2))
            .map(|bits| {
                let granted: Vec<&str> = (0..SCOPES.len())
                    .filter(|i| bits & (1 << i) != 0)
                    .map(|i| SCOPES[i])
                    .collect();
                let mut c = claims();
                c["scope"] = json!(granted.join(" "));
                if bits & ROLE_BIT != 0 {
                    c["realm_access"] = json!({"roles": ["viewer", "admin"]});
                } else {
                    c["realm_access"] = json!({"roles": ["viewer"], "admin": ["admin"]});
                }
                if bits & CLIENT_BIT != 0 {
                    c["client_id"] = json!("ops");
                }
                format!("Bearer {}", forge(&header("EdDSA"), &c))
            })
            .collect()
    });
    &all[subset]
}

fn granted(subset: usize) -> BTreeSet<&'static str> {
    (0..SCOPES.len())
        .filter(|i| subset & (1 << i) != 0)
        .map(|i| SCOPES[i])
        .collect()
}

fn held(subset: usize) -> Held {
    Held {
        scopes: granted(subset),
        admin_role: subset & ROLE_BIT != 0,
        ops_client: subset & CLIENT_BIT != 0,
    }
}

/// Drives an exchange as the adapters do, answering `ReadBody` with `body`.
fn verdict(g: &Guard, req: &Request<'_>, body: Option<&[u8]>) -> Step {
    let keys = jwks();
    let mut exchange = g.exchange();
    loop {
        match exchange.poll(req, KeyState::Ready(&keys), NOW, None) {
            Step::ReadBody { max_bytes } => match body {
                Some(b) if b.len() <= max_bytes => exchange.handle_body(b),
                Some(_) => exchange.handle_body_failed(BodyFailure::TooLarge),
                None => exchange.handle_body_failed(BodyFailure::Unreadable),
            },
            Step::RefreshKeys { .. } => exchange.handle_keys_refreshed(false),
            step => return step,
        }
    }
}

fn status(step: &Step) -> u16 {
    match step {
        Step::Respond(r) => r.status,
        Step::Allow(_) | Step::AllowPublic(_) => 200,
        other => panic!("not a verdict: {other:?}"),
    }
}

/// A member name as JSON text: quoted, sometimes with its first character `\u`-escaped.
fn name_text(name: &str, escaped: bool) -> String {
    match (escaped, name.chars().next()) {
        (true, Some(c)) if c.is_ascii() => format!("\"\\u{:04x}{}\"", c as u32, &name[1..]),
        _ => json!(name).to_string(),
    }
}

fn members(ms: &[(&str, String, bool)]) -> String {
    let inner: Vec<String> = ms
        .iter()
        .map(|(k, v, escaped)| format!("{}:{v}", name_text(k, *escaped)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// One JSON-RPC message shaped as a call (`method`, `params.name`), whose member names may be
/// case variants, repeated, or shadowed, in any order.
fn message() -> impl Strategy<Value = String> {
    let string = || {
        prop::sample::select(vec![
            "tools/call",
            "tools/call",
            "tools/list",
            "resources/read",
            "resources/subscribe",
            "prompts/get",
            "whoami",
            "admin_tool",
            "admin_tool",
            "secret_prompt",
            "file:///a",
            "file:///secret/k",
            "file:///public/../secret/k",
            "file:///%73ecret/k",
        ])
        .prop_map(|s| json!(s).to_string())
    };
    let param = prop::sample::select(vec![
        "name",
        "name",
        "name",
        "uri",
        "Name",
        "NAME",
        "nAme",
        "URI",
        "arguments",
        "n\u{e4}me",
    ]);
    let params =
        prop::collection::vec((param, string(), any::<bool>()), 0..4).prop_map(|ms| members(&ms));
    let top = prop::sample::select(vec![
        "method",
        "method",
        "method",
        "params",
        "params",
        "params",
        "Method",
        "METHOD",
        "Params",
        "param\u{17f}",
        "PARAMS",
        "jsonrpc",
        "id",
        "ID",
        "\u{131}d",
        "extra",
    ]);
    let value = prop_oneof![3 => params.clone(), 3 => string(), 1 => Just("1".to_string())];
    let method = prop::sample::select(vec!["method", "method", "method", "Method", "METHOD"]);
    let params_key = prop::sample::select(vec!["params", "params", "Params", "param\u{17f}"]);
    (
        (method, string(), any::<bool>()),
        (params_key, params, any::<bool>()),
        prop::collection::vec((top, value, any::<bool>()), 0..3),
    )
        .prop_flat_map(|(m, p, extra)| {
            let mut all = vec![m, p];
            all.extend(extra);
            Just(all).prop_shuffle()
        })
        .prop_map(|ms| members(&ms))
}

fn body() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        message().prop_map(Some),
        prop::collection::vec(message(), 1..4).prop_map(|ms| Some(format!("[{}]", ms.join(",")))),
        Just(Some("a=b&method=tools/call".into())),
        Just(Some(
            r#"{"method":"tools/call","params":{"name":"admin_tool"}}"#.into()
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever the valid token's scopes, the method, the content type and coding, the body and
    /// the MCP headers: an `Allow` holds the base scopes, and, with a policy that reads bodies,
    /// the scopes of every call that a case-sensitive and a case-insensitive server would find
    /// in the body, and of the call the headers announce.
    #[test]
    fn every_allow_holds_every_requirement_that_applies(
        shape in prop::sample::select(vec![Shape::Base, Shape::Methods, Shape::Tools, Shape::Rules, Shape::Rules]),
        subset in 0usize..64,
        method in prop::sample::select(vec!["POST", "GET", "DELETE", "PUT"]),
        content_type in prop::sample::select(vec![
            None, Some("application/json"), Some("application/json"), Some("application/json"),
            Some("application/json; charset=utf-8"), Some("application/x-www-form-urlencoded"),
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            Some("Application/X-WWW-Form-Urlencoded"), Some("text/plain"), Some("application/vnd.x+json"),
        ]),
        encoding in prop::sample::select(vec![None, None, None, Some("identity"), Some("gzip")]),
        body in body(),
        mcp_method in prop::sample::select(vec![None, None, None, None, Some("tools/call"), Some("tools/list"), Some("resources/read"), Some("prompts/get")]),
        mcp_name in prop::sample::select(vec![None, None, Some("whoami"), Some("admin_tool"), Some("secret_prompt"), Some("file:///secret/x")]),
    ) {
        let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), shape.policy());
        let auth = [token(subset).as_bytes()];
        let ct: Vec<&[u8]> = content_type.iter().map(|c| c.as_bytes()).collect();
        let ce: Vec<&[u8]> = encoding.iter().map(|c| c.as_bytes()).collect();
        let mm: Vec<&[u8]> = mcp_method.iter().map(|c| c.as_bytes()).collect();
        let mn: Vec<&[u8]> = mcp_name.iter().map(|c| c.as_bytes()).collect();
        let mut req = Request::new(method, "/mcp").with_authorization(&auth).with_mcp_headers(&mm, &mn);
        if body.is_some() {
            req = req.with_body(&ct, &ce);
        }
        let step = verdict(&guard, &req, body.as_deref().map(str::as_bytes));
        let Step::Allow(allowed) = &step else { return Ok(()) };
        let held = held(subset);
        prop_assert!(allowed.principal().has_scope("mcp:tools"));
        prop_assert!(held.scopes.contains("mcp:tools"), "base scope missing: {step:?}");
        if !shape.reads_body() {
            return Ok(());
        }
        if let Some(m) = mcp_method {
            // Mcp-Name is the tool or prompt name, or the URI of resources/read.
            let uri = mcp_name.filter(|_| m == "resources/read");
            let name = mcp_name.filter(|_| m != "resources/read");
            if m != "resources/read" || uri.is_some() {
                prop_assert!(shape.meets(&held, m, name, uri), "headers {m} {mcp_name:?} under {shape:?}");
            }
        }
        if let Some(body) = &body {
            for names in [Names::Exact, Names::GoFolded] {
                let read = calls(body.as_bytes(), names);
                prop_assert!(read.is_some(), "a body no JSON reader reads was allowed: {body}");
                for (m, n, u) in read.unwrap_or_default() {
                    prop_assert!(
                        shape.meets(&held, &m, n.as_deref(), u.as_deref()),
                        "{m} {n:?} {u:?} allowed for {body:?} under {shape:?}"
                    );
                }
            }
        }
    }
}

/// One well-formed call: a method and the name or URI it carries.
fn rule_call() -> impl Strategy<Value = (&'static str, &'static str)> {
    let method = prop::sample::select(vec![
        "tools/call",
        "tools/call",
        "prompts/get",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "tools/list",
    ]);
    let target = prop::sample::select(vec![
        "admin_tool",
        "whoami",
        "secret_prompt",
        "greeting",
        "file:///a",
        "file:///secret/k",
        "file:///secret/",
        "file:///public/../secret/k",
        "file:///%73ecret/k",
        "file:///secret\\k",
        "file:///./secret/k",
        "FILE:///secret/k",
        "file://localhost/secret/k",
        "file:/secret/k",
    ]);
    (method, target)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// With rules over roles, clients, prompts and resources, and well-formed bodies: a request
    /// is allowed exactly when the token holds the base scope and meets the rule of every call,
    /// as stated here; a refusal a scope cannot fix is a 403 without a challenge.
    #[test]
    fn rules_allow_exactly_what_they_state(
        subset in 0usize..64,
        batch in prop::collection::vec(rule_call(), 1..3),
    ) {
        let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), Shape::Rules.policy());
        let auth = [token(subset).as_bytes()];
        let ct: [&[u8]; 1] = [b"application/json"];
        let messages: Vec<serde_json::Value> = batch
            .iter()
            .enumerate()
            .map(|(i, (m, t))| {
                let member = if m.starts_with("resources/") { "uri" } else { "name" };
                json!({"jsonrpc": "2.0", "id": i, "method": m, "params": {member: t}})
            })
            .collect();
        let body = match messages.as_slice() {
            [one] => one.to_string(),
            _ => serde_json::Value::Array(messages.clone()).to_string(),
        };
        let req = Request::new("POST", "/mcp").with_authorization(&auth).with_body(&ct, &[]);
        let step = verdict(&guard, &req, Some(body.as_bytes()));
        let held = held(subset);
        // Lists are filtered under these rules, so a batch holding one is refused.
        // (Repeats of one call are one call: the filter applies to every answer of the body.)
        let distinct: BTreeSet<_> = batch.iter().collect();
        let list_in_batch = distinct.len() > 1 && batch.iter().any(|(m, _)| m.ends_with("/list"));
        let expected = held.scopes.contains("mcp:tools")
            && !list_in_batch
            && batch.iter().all(|(m, t)| {
                let (name, uri) = match m.starts_with("resources/") {
                    true => (None, Some(*t)),
                    false => (Some(*t), None),
                };
                Shape::Rules.meets(&held, m, name, uri)
            });
        prop_assert_eq!(matches!(step, Step::Allow(_)), expected, "{} with {}", body, subset);
        if let Step::Respond(r) = &step {
            let challenged = r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"));
            // Without a step-up: a refusal no scope fixes, which names the denial in JSON-RPC.
            if r.status == 403 && !challenged {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                prop_assert_eq!(&v["error"]["data"]["authorization"]["remediation"], "unavailable");
            }
        }
    }
}

/// Every item a fake server lists, per list method: (method, the call that uses an item,
/// result key, item member, items).
const LISTS: [(&str, &str, &str, &str, &[&str]); 4] = [
    (
        "tools/list",
        "tools/call",
        "tools",
        "name",
        &["admin_tool", "whoami", "secret_prompt"],
    ),
    (
        "prompts/list",
        "prompts/get",
        "prompts",
        "name",
        &["secret_prompt", "greeting", "admin_tool"],
    ),
    (
        "resources/list",
        "resources/read",
        "resources",
        "uri",
        &[
            "file:///a",
            "file:///secret/k",
            "file:///public/../secret/k",
            "file:///%73ecret/k",
        ],
    ),
    (
        "resources/templates/list",
        "resources/read",
        "resourceTemplates",
        "uriTemplate",
        &["file:///secret/{name}", "file:///docs/{name}"],
    ),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An item appears in a filtered list if and only if calling it with the same token is
    /// allowed (the exchange's own verdict on the call), and the result is marked private.
    #[test]
    fn a_listed_item_is_exactly_one_the_caller_may_use(subset in 0usize..64, which in 0usize..4) {
        let (list, call, key, member, items) = LISTS[which];
        let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), Shape::Rules.policy());
        let auth = [token(subset).as_bytes()];
        let ct: [&[u8]; 1] = [b"application/json"];
        let post = |body: &serde_json::Value| {
            let req = Request::new("POST", "/mcp").with_authorization(&auth).with_body(&ct, &[]);
            verdict(&guard, &req, Some(body.to_string().as_bytes()))
        };
        let step = post(&json!({"jsonrpc": "2.0", "id": "l1", "method": list}));
        let Step::Allow(allowed) = step else {
            // Only a token without the base scope is refused the list itself.
            prop_assert!(!held(subset).scopes.contains("mcp:tools"));
            return Ok(());
        };
        let listed: Vec<serde_json::Value> = items.iter().map(|i| json!({member: i, "description": "x"})).collect();
        let response = json!({"jsonrpc": "2.0", "id": "l1", "result": {key: listed, "nextCursor": "c2", "cacheScope": "public", "ttlMs": 1000}});
        let filter = ListFilter::new(guard.scope_policy(), allowed.principal(), allowed.lists());
        let filtered = filter.filter_json(response.to_string().as_bytes());
        let filtered: serde_json::Value = match filtered {
            Filtered::Changed(bytes) => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("a list result was not filtered: {other:?}"),
        };
        prop_assert_eq!(&filtered["result"]["cacheScope"], "private");
        prop_assert_eq!(&filtered["result"]["nextCursor"], "c2", "pagination intact");
        let shown: Vec<&str> = filtered["result"][key].as_array().unwrap().iter().map(|i| i[member].as_str().unwrap()).collect();
        for item in items {
            let param = if member == "name" { "name" } else { "uri" };
            let use_it = post(&json!({"jsonrpc": "2.0", "id": 2, "method": call, "params": {param: item}}));
            prop_assert_eq!(shown.contains(item), matches!(use_it, Step::Allow(_)), "{} {} for {}", call, item, subset);
        }
        // The answer's id does not matter (a server may write the request's 1.0 as 1); an error
        // or a notification passes as it is; what does not parse must not pass.
        let other_id = json!({"jsonrpc": "2.0", "id": 1, "result": {key: listed}});
        prop_assert!(matches!(filter.filter_json(other_id.to_string().as_bytes()), Filtered::Changed(_)));
        let error = json!({"jsonrpc": "2.0", "id": "l1", "error": {"code": -1, "message": "x"}});
        prop_assert_eq!(filter.filter_json(error.to_string().as_bytes()), Filtered::Unchanged);
        prop_assert_eq!(filter.filter_json(b"{\"tools\": ["), Filtered::Unreadable);
        // The same, event by event.
        prop_assert_eq!(filter.filter_event_data(&error.to_string()), EventData::Keep);
        prop_assert_eq!(filter.filter_event_data("{\"tools\": ["), EventData::Drop);
        prop_assert!(matches!(filter.filter_event_data(&other_id.to_string()), EventData::Replace(_)));
    }
}

/// What a request without a token may call when `whoami` is public, stated here.
fn anonymous_may(method: &str, name: Option<&str>) -> bool {
    match method {
        "tools/call" => name == Some("whoami"),
        m => [
            "initialize",
            "notifications/initialized",
            "notifications/cancelled",
            "ping",
            "server/discover",
            "tools/list",
        ]
        .contains(&m),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Without any credentials: with `whoami` public, an `AllowPublic` holds only calls a
    /// client may make without a token, as a case-sensitive and a case-insensitive server would
    /// read the body, with the MCP headers agreeing; without a public tool, never an
    /// `AllowPublic` on the resource path. Every other answer is the 401 challenge or a 400.
    #[test]
    fn without_a_token_only_public_tools_and_their_discovery_pass(
        public_tool in any::<bool>(),
        shape in prop::sample::select(vec![Shape::Base, Shape::Tools, Shape::Rules]),
        method in prop::sample::select(vec!["POST", "POST", "GET", "DELETE"]),
        content_type in prop::sample::select(vec![
            None, Some("application/json"), Some("application/json"), Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ]),
        encoding in prop::sample::select(vec![None, None, Some("gzip")]),
        body in body(),
        mcp_method in prop::sample::select(vec![None, None, Some("tools/call"), Some("tools/list")]),
        mcp_name in prop::sample::select(vec![None, None, Some("whoami"), Some("admin_tool")]),
        path in prop::sample::select(vec!["/mcp", "/mcp", "/mcp/", "/other"]),
    ) {
        let mut policy = shape.policy();
        if public_tool {
            policy = policy.with_public_tool("whoami");
        }
        let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), policy);
        let ct: Vec<&[u8]> = content_type.iter().map(|c| c.as_bytes()).collect();
        let ce: Vec<&[u8]> = encoding.iter().map(|c| c.as_bytes()).collect();
        let mm: Vec<&[u8]> = mcp_method.iter().map(|c| c.as_bytes()).collect();
        let mn: Vec<&[u8]> = mcp_name.iter().map(|c| c.as_bytes()).collect();
        let mut req = Request::new(method, path).with_mcp_headers(&mm, &mn);
        if body.is_some() {
            req = req.with_body(&ct, &ce);
        }
        let step = verdict(&guard, &req, body.as_deref().map(str::as_bytes));
        let Step::AllowPublic(_) = &step else {
            prop_assert!(matches!(status(&step), 401 | 400), "{step:?}");
            return Ok(());
        };
        prop_assert!(public_tool, "no public tool, yet served without a token: {body:?}");
        prop_assert_eq!(method, "POST");
        prop_assert_eq!(path, "/mcp");
        let body = body.unwrap_or_default();
        for names in [Names::Exact, Names::GoFolded] {
            let read = calls(body.as_bytes(), names);
            prop_assert!(read.as_ref().is_some_and(|r| !r.is_empty()), "{body}");
            // A list reaches an anonymous caller only as a single request, which is filtered.
            let lists = read.iter().flatten().filter(|(m, _, _)| m == "tools/list").count();
            prop_assert!(lists == 0 || body.trim_start().starts_with('{'), "an unfiltered list: {body}");
            for (m, n, _) in read.unwrap_or_default() {
                prop_assert!(anonymous_may(&m, n.as_deref()), "{m} {n:?} without a token: {body}");
            }
        }
        if let Some(m) = mcp_method {
            prop_assert!(anonymous_may(m, mcp_name.filter(|_| m == "tools/call")), "headers {m} {mcp_name:?}");
        }
    }
}

const FORM: [&[u8]; 1] = [b"application/x-www-form-urlencoded"];

#[test]
fn a_form_body_needs_the_base_scopes() {
    let guard = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    );
    let lacking = [token(0b1000).as_bytes()]; // "other" only
    let holding = [token(0b0001).as_bytes()];
    let charset: [&[u8]; 1] = [b"application/x-www-form-urlencoded; charset=utf-8"];
    for ct in [&FORM[..], &charset[..]] {
        for method in ["POST", "GET"] {
            let req = |auth| {
                Request::new(method, "/mcp")
                    .with_authorization(auth)
                    .with_body(ct, &[])
            };
            let body = Some(&b"a=b"[..]);
            assert_eq!(status(&verdict(&guard, &req(&lacking), body)), 403);
            assert_eq!(status(&verdict(&guard, &req(&holding), body)), 200);
            // The form is still read for a token, which is refused in a body.
            let with_token = Some(&b"access_token=x"[..]);
            assert_eq!(status(&verdict(&guard, &req(&holding), with_token)), 400);
        }
    }
}

/// The bodies that made a Go MCP server run `admin_tool` on main (issue: security invariants),
/// each refused before the server sees it.
#[test]
fn names_a_case_insensitive_server_reads_are_refused() {
    let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), Shape::Tools.policy());
    let auth = [token(0b0001).as_bytes()];
    let json: [&[u8]; 1] = [b"application/json"];
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&json, &[]);
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","Name":"admin_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"admin_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"admin_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"Params":{"name":"admin_tool"}}"#,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"whoami\"},\"param\u{17f}\":{\"name\":\"admin_tool\"}}",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"param\u017f":{"name":"admin_tool"}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"admin_tool"}}]"#,
    ] {
        let step = verdict(&guard, &req, Some(body.as_bytes()));
        assert_eq!(status(&step), 400, "{body}: {step:?}");
        // Independently: the case-insensitive reading of that body runs admin_tool.
        let go = calls(body.as_bytes(), Names::GoFolded).unwrap();
        assert!(
            go.iter()
                .any(|(m, n, _)| m == "tools/call" && n.as_deref() == Some("admin_tool")),
            "{body}"
        );
    }
    let plain = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#;
    assert_eq!(status(&verdict(&guard, &req, Some(plain.as_bytes()))), 200);
}

#[test]
fn public_paths_never_cover_the_resource_or_its_metadata() {
    let guard = || {
        Guard::new(
            VerifierConfig::new(ISSUER, RESOURCE),
            ScopePolicy::new(["mcp:tools"]),
        )
    };
    for path in ["/mcp", "/mcp/", "/mcp/tools", "/mcp/a/b"] {
        assert!(
            matches!(
                guard().with_public_path(path),
                Err(PublicPathError::UnderResource(_))
            ),
            "{path}"
        );
    }
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource/other",
    ] {
        assert!(
            matches!(
                guard().with_public_path(path),
                Err(PublicPathError::WellKnown(_))
            ),
            "{path}"
        );
    }
    for path in ["", "healthz", "/healthz?x=1", "/a#b"] {
        assert!(
            matches!(
                guard().with_public_path(path),
                Err(PublicPathError::NotAPath(_))
            ),
            "{path}"
        );
    }
    for path in ["/healthz", "/mcpx", "/", "/.well-known/other"] {
        assert!(guard().with_public_path(path).is_ok(), "{path}");
    }
    // A resource at a trailing-slash path: its slash-less twin is covered too.
    let slash = Guard::new(
        VerifierConfig::new(ISSUER, "https://mcp.example.com/mcp/"),
        ScopePolicy::default(),
    );
    assert!(slash.with_public_path("/mcp").is_err());
    // A resource at the root: only the root itself is refused.
    let root = || {
        Guard::new(
            VerifierConfig::new(ISSUER, "https://mcp.example.com"),
            ScopePolicy::default(),
        )
    };
    assert!(root().with_public_path("/").is_err());
    assert!(root().with_public_path("/healthz").is_ok());
    assert!(PublicPathError::UnderResource("/mcp".into())
        .to_string()
        .contains("/mcp"));
}

#[test]
fn request_debug_never_shows_credentials() {
    let token = token(0b0001);
    let auth = [token.as_bytes()];
    let dpop: [&[u8]; 1] = [b"eyJhbGciOiJFUzI1NiJ9.proof.sig"];
    let query = "access_token=secret-in-query";
    let req = Request::new("POST", "/mcp")
        .with_query(Some(query))
        .with_authorization(&auth)
        .with_dpop(&dpop);
    let shown = format!("{req:?} {req:#?}");
    let jwt = token.trim_start_matches("Bearer ");
    for secret in [jwt, "eyJhbGciOiJFUzI1NiJ9", "secret-in-query"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        shown.contains("/mcp") && shown.contains("redacted"),
        "{shown}"
    );
}

/// A caller: issuer, subject and client id of its tokens (two tokens of one caller differ in
/// their bytes, as a refreshed token does).
fn caller_token(subject: &str, client: &str, jti: &str) -> String {
    let mut c = claims();
    c["sub"] = json!(subject);
    c["client_id"] = json!(client);
    c["jti"] = json!(jti);
    format!("Bearer {}", forge(&header("EdDSA"), &c))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Sessions: whatever the callers, the sessions they open and the order of their requests,
    /// `Allow` implies that the session the request names is unbound or was opened by the same
    /// caller (issuer, subject, client id), token bytes aside; another caller's request gets 404.
    /// The bindings are made as an adapter makes them: by the first allowed request's caller.
    #[test]
    fn allow_implies_the_session_is_the_callers(
        steps in proptest::collection::vec((0usize..3, 0usize..3, 0usize..2), 1..24),
    ) {
        use mcp_authz_core::session::{MemorySessionBindings, SessionKey, SessionOwner, SessionBindings};
        use std::sync::Mutex;
        struct Cell(Mutex<MemorySessionBindings>);
        impl SessionBindings for Cell {
            fn owner(&self, s: &SessionKey, now: mcp_authz_core::UnixTime) -> Option<SessionOwner> {
                self.0.lock().unwrap().owner(s, now)
            }
        }
        let callers = [("alice", "app"), ("bob", "app"), ("alice", "other-app")];
        let sessions: [&[u8]; 3] = [b"s-1", b"s-2", b"s-3"];
        let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), ScopePolicy::new(["mcp:tools"]));
        let store = Cell(Mutex::new(MemorySessionBindings::default()));
        // Who opened each session, kept here independently of the store.
        let mut opened: [Option<usize>; 3] = [None; 3];
        let keys = jwks();
        for (i, (who, session, refresh)) in steps.into_iter().enumerate() {
            let (sub, client) = callers[who];
            let token = caller_token(sub, client, &format!("j{i}-{refresh}"));
            let auth = [token.as_bytes()];
            let id = [sessions[session]];
            let req = Request::new("POST", "/mcp").with_authorization(&auth).with_mcp_session_id(&id);
            let mut x = guard.exchange();
            let step = loop {
                match x.poll(&req, KeyState::Ready(&keys), NOW, None) {
                    Step::LookupSession { key } => x.handle_session(Ok(store.owner(&key, NOW))),
                    other => break other,
                }
            };
            match (&step, opened[session]) {
                (Step::Allow(allowed), None) => {
                    store.0.lock().unwrap().bind(SessionKey::of(id[0]), SessionOwner::of(allowed.principal()), NOW);
                    opened[session] = Some(who);
                }
                (Step::Allow(_), Some(owner)) => prop_assert_eq!(owner, who, "allowed into another's session"),
                (Step::Respond(r), Some(owner)) => {
                    prop_assert_ne!(owner, who);
                    prop_assert_eq!(r.status, 404);
                    prop_assert_eq!(r.reason, Some("session_not_found"));
                }
                (other, _) => prop_assert!(false, "{other:?}"),
            }
        }
    }
}

/// Two `Mcp-Session-Id` headers are refused, with or without bindings.
#[test]
fn two_session_ids_are_refused() {
    let guard = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    );
    let token = caller_token("alice", "app", "j");
    let auth = [token.as_bytes()];
    let ids: [&[u8]; 2] = [b"a", b"b"];
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_mcp_session_id(&ids);
    let step = verdict(&guard, &req, None);
    assert_eq!(status(&step), 400);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// MCP request headers, with header validation on (any policy): `Allow` implies that a
    /// request declaring 2026-07-28 or later carries `Mcp-Method` equal to its call's method and,
    /// for a call that names a tool, `Mcp-Name` equal to that name; that a request declaring an
    /// earlier revision carries neither where the policy reads them; and that headers present agree with the body whenever
    /// it is read. Stated here from the request, not read from the core.
    #[test]
    fn allow_implies_the_mcp_headers_hold(
        version in prop_oneof![Just(None), Just(Some("2025-11-25")), Just(Some("2026-07-28")), Just(Some("2027-01-01")), Just(Some("latest"))],
        method_header in prop_oneof![Just(None), Just(Some("tools/call")), Just(Some("tools/list")), Just(Some("TOOLS/CALL"))],
        name_header in prop_oneof![Just(None), Just(Some("echo")), Just(Some("other"))],
        call in prop_oneof![Just(("tools/call", Some("echo"))), Just(("tools/list", None))],
        shape in prop_oneof![Just(Shape::Base), Just(Shape::Tools)],
    ) {
        let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), shape.policy())
            .with_mcp_header_validation(true);
        let body = match call.1 {
            Some(name) => format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{}","params":{{"name":"{name}"}}}}"#, call.0),
            None => format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#, call.0),
        };
        let auth = [token(0b0011).as_bytes()];
        let json_ct: [&[u8]; 1] = [b"application/json"];
        let v = version.map(|v| [v.as_bytes()]);
        let m = method_header.map(|m| [m.as_bytes()]);
        let n = name_header.map(|n| [n.as_bytes()]);
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_body(&json_ct, &[])
            .with_mcp_protocol_version(v.as_ref().map_or(&[][..], |v| &v[..]))
            .with_mcp_headers(m.as_ref().map_or(&[][..], |m| &m[..]), n.as_ref().map_or(&[][..], |n| &n[..]));
        if let Step::Allow(_) = verdict(&guard, &req, Some(body.as_bytes())) {
            match version {
                Some(v) if v.len() == 10 && v >= "2026-07-28" => {
                    prop_assert_eq!(method_header, Some(call.0));
                    if let Some(name) = call.1 {
                        prop_assert_eq!(name_header, Some(name));
                    }
                }
                // Earlier revisions: the headers may not ride along where the policy reads them.
                Some(v) if v.len() == 10 && shape.reads_body() => {
                    prop_assert!(method_header.is_none() && name_header.is_none());
                }
                _ => {}
            }
            // Whenever the body is read (a policy that reads it, or a 2026-07-28 request),
            // headers that are there agree with it. (A policy of base scopes reads no body of an
            // earlier or undeclared revision, and its headers decide nothing.)
            let reads = shape.reads_body() || version.is_some_and(|v| v.len() == 10 && v >= "2026-07-28");
            if reads {
                if let Some(m) = method_header {
                    prop_assert_eq!(m, call.0);
                }
                if let (Some(n), Some(name)) = (name_header, call.1) {
                    prop_assert_eq!(n, name);
                }
            }
        }
    }
}

/// A request that will get the challenge (no credentials, no public tools) costs the session
/// store nothing: it is answered before any `LookupSession`; with a token it is looked up first.
#[test]
fn only_requests_that_can_go_on_look_up_their_session() {
    let guard = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    );
    let keys = jwks();
    let id: [&[u8]; 1] = [b"some-session"];
    let anonymous = Request::new("POST", "/mcp").with_mcp_session_id(&id);
    match guard
        .exchange()
        .poll(&anonymous, KeyState::Ready(&keys), NOW, None)
    {
        Step::Respond(r) => assert_eq!(r.status, 401),
        other => panic!("{other:?}"),
    }
    let token = caller_token("alice", "app", "j");
    let auth = [token.as_bytes()];
    let signed_in = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_mcp_session_id(&id);
    let step = guard
        .exchange()
        .poll(&signed_in, KeyState::Ready(&keys), NOW, None);
    assert!(matches!(step, Step::LookupSession { .. }), "{step:?}");
}
