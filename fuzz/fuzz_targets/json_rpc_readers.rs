//! Differential: whenever the core accepts a JSON-RPC body for the scope policy, its reading
//! (each call's method, `params.name`, `params.uri`) equals what three other readers find:
//! - `serde_json::Value`: case-sensitive member names, the last duplicate winning;
//! - a member-by-member reader with exact names, the last match winning;
//! - a Go `encoding/json`-like reader: member names matched case-insensitively with Unicode
//!   simple folding (`ſ` is `s`, `K` is `k`), the last match winning.
//! Where any of them reads another call, the core must have refused the body.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_authz_core::mcp_request::fuzz_reading;
use serde_json::Value;

#[path = "../../core/tests/api/ordered.rs"]
mod ordered;
use ordered::{Calls, Names};

/// Member names: the ones the policy reads, their case variants and Unicode look-alikes.
const NAMES: &[&str] = &[
    "jsonrpc", "id", "method", "params", "name", "uri", "arguments", "Method", "METHOD",
    "Params", "param\u{17f}", "PARAMS", "Name", "NAME", "nAme", "URI", "Uri", "ID", "\u{131}d",
    "\u{130}D", "jsonRPC", "n\u{e4}me", "\u{ff4e}ame", "x",
];
const STRINGS: &[&str] = &[
    "tools/call", "tools/list", "resources/read", "prompts/get", "whoami", "admin_tool",
    "file:///a", "",
];

#[derive(Arbitrary, Debug)]
enum Val {
    Str(u8),
    Num(i8),
    Null,
    Obj(Vec<(u8, bool, Val)>),
    Arr(Vec<Val>),
}

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Raw(&'a [u8]),
    One(Vec<(u8, bool, Val)>),
    Batch(Vec<Vec<(u8, bool, Val)>>),
}

fn name(i: u8, escaped: bool, out: &mut String) {
    let n = NAMES[usize::from(i) % NAMES.len()];
    match n.chars().next() {
        // The first character \u-escaped: readers must decode before they compare.
        Some(c) if escaped => {
            out.push_str(&format!("\"\\u{:04x}", c as u32));
            out.push_str(&serde_json::to_string(&n[c.len_utf8()..]).unwrap()[1..]);
        }
        _ => out.push_str(&serde_json::to_string(n).unwrap()),
    }
}

fn object(members: &[(u8, bool, Val)], depth: u8, out: &mut String) {
    out.push('{');
    for (i, (n, e, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        name(*n, *e, out);
        out.push(':');
        value(v, depth + 1, out);
    }
    out.push('}');
}

fn value(v: &Val, depth: u8, out: &mut String) {
    match v {
        _ if depth > 4 => out.push_str("null"),
        Val::Str(i) => out.push_str(&serde_json::to_string(STRINGS[usize::from(*i) % STRINGS.len()]).unwrap()),
        Val::Num(n) => out.push_str(&n.to_string()),
        Val::Null => out.push_str("null"),
        Val::Obj(ms) => object(ms, depth, out),
        Val::Arr(vs) => {
            out.push('[');
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value(v, depth + 1, out);
            }
            out.push(']');
        }
    }
}

/// The `serde_json::Value` reading (case-sensitive, last duplicate wins).
fn value_reading(body: &[u8]) -> Option<Calls> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let messages = match doc {
        Value::Array(items) if !items.is_empty() => items,
        Value::Array(_) => return None,
        one => vec![one],
    };
    let mut calls = Vec::new();
    for m in &messages {
        let obj = m.as_object()?;
        let method = match obj.get("method") {
            None => continue,
            Some(Value::String(s)) => s.clone(),
            Some(_) => return None,
        };
        let params = obj.get("params").and_then(Value::as_object);
        let string = |n: &str| params.and_then(|p| p.get(n)).and_then(Value::as_str).map(String::from);
        calls.push((method, string("name"), string("uri")));
    }
    calls.sort();
    calls.dedup();
    Some(calls)
}

fuzz_target!(|input: Input<'_>| {
    let body: Vec<u8> = match &input {
        Input::Raw(b) => b.to_vec(),
        Input::One(ms) => {
            let mut s = String::new();
            object(ms, 0, &mut s);
            s.into_bytes()
        }
        Input::Batch(messages) => {
            let mut s = String::from("[");
            for (i, ms) in messages.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                object(ms, 0, &mut s);
            }
            s.push(']');
            s.into_bytes()
        }
    };
    let Some(core) = fuzz_reading(&body) else { return };
    let text = String::from_utf8_lossy(&body);
    assert_eq!(Some(&core), value_reading(&body).as_ref(), "divergence from serde_json::Value: {text}");
    assert_eq!(Some(&core), ordered::calls(&body, Names::Exact).as_ref(), "divergence from the member-by-member reader: {text}");
    assert_eq!(Some(&core), ordered::calls(&body, Names::GoFolded).as_ref(), "divergence from the case-insensitive reader: {text}");
});
