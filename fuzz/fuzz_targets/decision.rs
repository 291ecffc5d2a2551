//! The request decision over arbitrary requests: never panics, and never allows a request
//! without a token signed by the fixed key.
#![no_main]
#[path = "common.rs"]
mod common;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_authz_core::decision::{Decision, Guard, KeyState, Request, ScopePolicy};
use mcp_authz_core::VerifierConfig;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    authorization: Vec<&'a [u8]>,
    mcp_method: Option<&'a str>,
    mcp_name: Option<&'a str>,
    body: Option<&'a [u8]>,
    form: bool,
    keys_available: bool,
}

fuzz_target!(|input: Input<'_>| {
    let guard = Guard::new(
        VerifierConfig::new(common::ISSUER, common::RESOURCE),
        ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin", ["mcp:admin"]).with_method_scopes("resources/read", ["r"]),
    );
    let auth: Vec<&[u8]> = input.authorization.iter().take(3).copied().collect();
    let req = Request::new(input.method, input.path)
        .with_query(input.query)
        .with_authorization(&auth)
        .with_mcp_headers(input.mcp_method, input.mcp_name)
        .with_body(input.body)
        .with_form_access_token(input.form);
    let keys = if input.keys_available {
        KeyState::Ready(common::keys())
    } else {
        KeyState::Unavailable { retry_after_secs: 5 }
    };
    if let Decision::Allow(_) = guard.decide(&req, keys, common::NOW) {
        panic!("allowed without a valid token: {input:?}");
    }
});
