//! `Mcp-Param-*` headers (MCP 2026-07-28, SEP-2243) through the exchange: declarations learned
//! from a `tools/list` answer, a `tools/call` checked against its arguments, and the property
//! that an allowed request's headers mirror its arguments exactly.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use mcp_authz_core::exchange::Step;
use mcp_authz_core::param_headers::{tool_headers_of_list, DeclaredHeaders, ToolHeaders};
use mcp_authz_core::{Guard, KeyState, Request, ScopePolicy, VerifierConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::*;

/// What the MCP server listed (the conformance suite's shape: a string argument mirrored, and
/// one nested under an object).
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[
  {"name":"sql","inputSchema":{"type":"object","properties":{
    "region":{"type":"string","x-mcp-header":"Region"},
    "limit":{"type":"integer","x-mcp-header":"Limit"},
    "where":{"type":"object","properties":{"zone":{"type":"string","x-mcp-header":"Zone"}}},
    "query":{"type":"string"}}}},
  {"name":"plain","inputSchema":{"type":"object","properties":{"q":{"type":"string"}}}}]}}"#;

struct Learned(HashMap<String, Arc<ToolHeaders>>);

impl DeclaredHeaders for Learned {
    fn of_tool(&self, name: &str) -> Option<Arc<ToolHeaders>> {
        self.0.get(name).cloned()
    }
}

fn learned() -> Learned {
    Learned(
        tool_headers_of_list(LIST.as_bytes())
            .into_iter()
            .filter_map(|(name, h)| Some((name, Arc::new(h?))))
            .collect(),
    )
}

fn guard(validate: bool) -> Guard {
    Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    )
    .with_mcp_header_validation(validate)
}

/// The verdict's status (200 for an allowed request) and the JSON-RPC error code, if any.
fn status(
    g: &Guard,
    declared: Option<&Learned>,
    version: Option<&str>,
    params: &[(&str, &str)],
    body: &Value,
) -> (u16, Option<i64>) {
    let mut c = claims();
    c["scope"] = json!("mcp:tools");
    let token = format!("Bearer {}", forge(&header("ES256"), &c));
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let ct: [&[u8]; 1] = [b"application/json"];
    let v: Vec<&[u8]> = version.iter().map(|v| v.as_bytes()).collect();
    let name = body["params"]["name"].as_str().unwrap_or("").to_owned();
    let (method, named): ([&[u8]; 1], [&[u8]; 1]) = ([b"tools/call"], [name.as_bytes()]);
    let params: Vec<(&[u8], &[u8])> = params
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&ct, &[])
        .with_mcp_protocol_version(&v)
        .with_mcp_headers(&method, &named)
        .with_mcp_params(&params);
    let bytes = serde_json::to_vec(body).unwrap();
    let keys = jwks();
    let mut exchange = g.exchange();
    if let Some(d) = declared {
        exchange = exchange.with_declared_headers(d);
    }
    loop {
        match exchange.poll(&req, KeyState::Ready(&keys), NOW, None) {
            Step::ReadBody { .. } => exchange.handle_body(&bytes),
            Step::Allow(_) => return (200, None),
            Step::Respond(r) => {
                let code = serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v["error"]["code"].as_i64());
                return (r.status, code);
            }
            other => panic!("{other:?}"),
        }
    }
}

fn call(arguments: Value) -> Value {
    json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"sql","arguments":arguments}})
}

const V: Option<&str> = Some("2026-07-28");
const MISMATCH: (u16, Option<i64>) = (400, Some(-32020));

#[test]
fn a_call_carries_each_declared_header_matching_its_argument() {
    let (g, d) = (guard(true), learned());
    let args = json!({"region":"us-west1","limit":42,"where":{"zone":"b"},"query":"select 1"});
    let all = [
        ("mcp-param-region", "us-west1"),
        ("mcp-param-limit", "42"),
        ("mcp-param-zone", "b"),
    ];
    assert_eq!(
        status(&g, Some(&d), V, &all, &call(args.clone())),
        (200, None)
    );
    // The conformance suite's cases: base64 decoded first, invalid base64, a missing header
    // while the value is in the body, a header that does not match.
    let mut enc = all;
    enc[0].1 = "=?base64?dXMtd2VzdDE=?=";
    assert_eq!(
        status(&g, Some(&d), V, &enc, &call(args.clone())),
        (200, None)
    );
    enc[0].1 = "=?base64?dXMtd2VzdDE?=";
    assert_eq!(status(&g, Some(&d), V, &enc, &call(args.clone())), MISMATCH);
    assert_eq!(
        status(&g, Some(&d), V, &all[1..], &call(args.clone())),
        MISMATCH
    );
    let mut wrong = all;
    wrong[1].1 = "43";
    assert_eq!(
        status(&g, Some(&d), V, &wrong, &call(args.clone())),
        MISMATCH
    );
    // Values not in the body need no header.
    assert_eq!(
        status(
            &g,
            Some(&d),
            V,
            &[],
            &call(json!({"region":null,"query":"q"}))
        ),
        (200, None)
    );
    // A member name a case-insensitive server would read as `region`: refused as unreadable.
    let shadowed = json!({"region":"us-west1","REGION":"eu","limit":42,"where":{"zone":"b"}});
    assert_eq!(status(&g, Some(&d), V, &all, &call(shadowed)).0, 400);
    // Undeclared headers and undeclared tools pass as they are.
    let plain = json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"plain","arguments":{"q":"x"}}});
    assert_eq!(
        status(&g, Some(&d), V, &[("mcp-param-q", "y")], &plain),
        (200, None)
    );
    // Earlier revisions carry none while the body is read.
    let old = Some("2025-11-25");
    let tool_scoped = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]).with_tool_scopes("sql", ["mcp:tools"]),
    );
    let (m, _) = status(&tool_scoped, Some(&d), old, &all, &call(args.clone()));
    assert_eq!(m, 400);
    // Without what the tools declare, the headers cannot be checked: forwarded.
    assert_eq!(status(&g, None, V, &all[1..], &call(args)), (200, None));
}

/// The oracle's reading of a header value (SEP-2243 "Value Encoding"), written apart from the
/// guard's: the sentinel's base64 decoded, anything else literal.
fn oracle_decode(raw: &str) -> Option<String> {
    let raw = raw.trim_matches([' ', '\t']);
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b) => {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).ok()?).ok()
        }
        None => Some(raw.to_owned()),
    }
}

/// Whether `header` carries `value` (a string as is, an integer of the safe range by its value,
/// a boolean in lower case).
fn oracle_mirrors(value: &Value, header: &str) -> bool {
    let Some(h) = oracle_decode(header) else {
        return false;
    };
    match value {
        Value::String(s) => *s == h,
        Value::Bool(b) => h == b.to_string(),
        Value::Number(n) => {
            let safe = 2f64.powi(53) - 1.0;
            let (Some(a), Ok(b)) = (n.as_f64(), h.parse::<f64>()) else {
                return false;
            };
            a.abs() <= safe && a == b && n.is_i64() || n.is_u64() && a <= safe && a == b
        }
        _ => false,
    }
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        "[ -~]{0,6}".prop_map(|s| Some(json!(s))),
        "\\PC{0,3}".prop_map(|s| Some(json!(s))),
        any::<i64>().prop_map(|i| Some(json!(i >> 9))),
        (-3i64..3).prop_map(|i| Some(json!(i))),
        any::<bool>().prop_map(|b| Some(json!(b))),
        Just(Some(json!({"a":1}))),
    ]
}

/// A header for `value`: none, its representation (plain or base64), something else, twice.
fn header_for(value: Option<Value>) -> impl Strategy<Value = Vec<String>> {
    let repr = match &value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "x".into(),
    };
    let encoded = format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode(&repr)
    );
    prop_oneof![
        Just(vec![]),
        Just(vec![repr.clone()]),
        Just(vec![encoded]),
        Just(vec![format!("{repr}.0")]),
        "[ -~]{0,4}".prop_map(|s| vec![s]),
        Just(vec![repr.clone(), repr]),
    ]
}

proptest! {
    /// Whatever the arguments, the headers, their case and the revision: an allowed `tools/call`
    /// of a tool that declares `Mcp-Param-Region` (from 2026-07-28 on) carries the header
    /// exactly when the argument has a value, mirroring it, and no member of the arguments
    /// could be read as `region` by a case-insensitive server; an earlier revision whose body
    /// is read carries none.
    #[test]
    fn allow_implies_the_headers_mirror_the_arguments(
        (region, headers) in value().prop_flat_map(|v| (Just(v.clone()), header_for(v))),
        shadow in prop_oneof![Just(None), Just(Some("Region")), Just(Some("REGION")), Just(Some("region"))],
        upper in any::<bool>(),
        version in prop_oneof![Just(None), Just(Some("2025-11-25")), Just(Some("2026-07-28")), Just(Some("2027-01-01"))],
        validate in any::<bool>(),
    ) {
        let d = learned();
        let g = match validate {
            true => guard(true),
            false => Guard::new(
                VerifierConfig::new(ISSUER, RESOURCE),
                ScopePolicy::new(["mcp:tools"]).with_tool_scopes("sql", ["mcp:tools"]),
            ),
        };
        let mut args = serde_json::Map::new();
        if let Some(v) = &region {
            args.insert("region".into(), v.clone());
        }
        if let Some(s) = shadow {
            args.insert(s.into(), json!("eu"));
        }
        let name = if upper { "MCP-PARAM-REGION" } else { "mcp-param-region" };
        let params: Vec<(&str, &str)> = headers.iter().map(|h| (name, h.as_str())).collect();
        let (code, _) = status(&g, Some(&d), version, &params, &call(Value::Object(args.clone())));
        if code == 200 {
            match version {
                Some("2026-07-28" | "2027-01-01") => {
                    let shadowed = args.keys().any(|k| k != "region" && k.eq_ignore_ascii_case("region"));
                    prop_assert!(!shadowed);
                    match args.get("region").filter(|v| !v.is_null()) {
                        None => prop_assert!(headers.is_empty()),
                        Some(v) => {
                            prop_assert_eq!(headers.len(), 1);
                            prop_assert!(oracle_mirrors(v, &headers[0]), "{v} {:?}", headers);
                        }
                    }
                }
                Some(_) if !validate => prop_assert!(headers.is_empty()),
                _ => {}
            }
        }
    }
}
