//! The request exchange over arbitrary requests: never panics, and never allows a request
//! without a token signed by the fixed key (public paths aside, and, with a public tool, JSON
//! POSTs to the resource whose body is JSON). `Mcp-Param-*` headers are checked against
//! declarations learned from an arbitrary `tools/list` answer and a fixed one for `whoami`.
#![no_main]
#[path = "common.rs"]
mod common;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_authz_core::{Guard, KeyState, Request, ScopePolicy};
use mcp_authz_core::exchange::{BodyFailure, Step};
use mcp_authz_core::VerifierConfig;
use mcp_authz_core::param_headers::{tool_headers_of_list, DeclaredHeaders, ToolHeaders};

/// At most three values of a header.
fn cap<'a>(v: &[&'a [u8]]) -> Vec<&'a [u8]> {
    v.iter().take(3).copied().collect()
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    authorization: Vec<&'a [u8]>,
    mcp_method: Vec<&'a [u8]>,
    mcp_name: Vec<&'a [u8]>,
    content_type: Vec<&'a [u8]>,
    content_encoding: Vec<&'a [u8]>,
    body: Option<&'a [u8]>,
    body_fails: bool,
    keys_available: bool,
    refreshed: bool,
    /// A second, tenant-templated issuer behind the same guard (routing by `iss`).
    two_issuers: bool,
    /// A public tool and rules beyond scopes.
    public_tool: bool,
    mcp_params: Vec<(&'a [u8], &'a [u8])>,
    protocol_version: Option<&'a [u8]>,
    /// A `tools/list` answer the declarations are learned from.
    tool_list: &'a [u8],
}

/// What the tools declare: learned from the input's list answer, then a fixed declaration of
/// `whoami` (the public tool) mirroring `arguments.where.zone` into `Mcp-Param-Zone`.
struct Learned(Vec<(String, std::sync::Arc<ToolHeaders>)>);

impl DeclaredHeaders for Learned {
    fn of_tool(&self, name: &str) -> Option<std::sync::Arc<ToolHeaders>> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, h)| h.clone())
    }
}

const WHOAMI_LIST: &[u8] = br#"{"result":{"tools":[{"name":"whoami","inputSchema":{"properties":{
  "where":{"type":"object","properties":{"zone":{"type":"string","x-mcp-header":"Zone"}}},
  "n":{"type":"integer","x-mcp-header":"N"}}}}]}}"#;

fuzz_target!(|input: Input<'_>| {
    let mut policy = ScopePolicy::new(["mcp:tools"])
        .with_tool_scopes("admin", ["mcp:admin"])
        .with_method_scopes("resources/read", ["r"]);
    if input.public_tool {
        let rule = |r: &str| r.parse::<mcp_authz_core::rules::Requirement>().expect("a rule");
        policy = policy
            .with_public_tool("whoami")
            .with_role_claims(mcp_authz_core::rules::RoleClaims::none().with("realm_access.roles".parse().expect("a path")))
            .with_prompt_rule("p", rule("role=admin | mcp:admin client=ops"))
            .with_resource_rule("file:///s/*".parse().expect("a pattern"), rule("role=admin"));
    }
    let guard = Guard::new(VerifierConfig::new(common::ISSUER, common::RESOURCE), policy)
    .with_public_path("/healthz")
    .expect("a public path outside the resource");
    let guard = match input.two_issuers {
        true => guard.with_issuer(
            VerifierConfig::new("https://login.example/{tenantid}/v2.0", common::RESOURCE)
                .with_tenants(["t1"]),
        ),
        false => guard,
    };
    let (auth, m, n) = (cap(&input.authorization), cap(&input.mcp_method), cap(&input.mcp_name));
    let (ct, ce) = (cap(&input.content_type), cap(&input.content_encoding));
    let params: Vec<_> = input.mcp_params.iter().take(4).copied().collect();
    let version: Vec<&[u8]> = input.protocol_version.into_iter().collect();
    let mut req = Request::new(input.method, input.path)
        .with_query(input.query)
        .with_authorization(&auth)
        .with_mcp_headers(&m, &n)
        .with_mcp_params(&params)
        .with_mcp_protocol_version(&version);
    let learned = Learned(
        tool_headers_of_list(input.tool_list)
            .into_iter()
            .chain(tool_headers_of_list(WHOAMI_LIST))
            .filter_map(|(name, h)| Some((name, std::sync::Arc::new(h?))))
            .collect(),
    );
    if input.body.is_some() {
        req = req.with_body(&ct, &ce);
    }
    let keys = || {
        if input.keys_available {
            KeyState::Ready(common::keys())
        } else {
            KeyState::Unavailable { retry_after_secs: 5 }
        }
    };
    let mut exchange = guard.exchange().with_declared_headers(&learned);
    for _ in 0..4 {
        let both = [keys(), keys()];
        match exchange.poll(&req, &both[..], common::NOW, None) {
            Step::ReadBody { .. } => match (input.body, input.body_fails) {
                (Some(b), false) => exchange.handle_body(b),
                _ => exchange.handle_body_failed(BodyFailure::Unreadable),
            },
            Step::RefreshKeys { .. } => exchange.handle_keys_refreshed(input.refreshed),
            Step::Allow(_) => panic!("allowed without a valid token: {input:?}"),
            Step::AllowPublic(_) if input.path == "/healthz" => {}
            Step::AllowPublic(_) => {
                assert!(input.public_tool && input.method == "POST" && input.path == "/mcp", "{input:?}");
                let body = input.body.unwrap_or_default();
                assert!(serde_json::from_slice::<serde_json::Value>(body).is_ok(), "{input:?}");
                return;
            }
            _ => return,
        }
    }
});
