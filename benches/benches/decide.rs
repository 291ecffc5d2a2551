//! The cost of one authorization decision after the token is verified: whether a principal may
//! call one tool (`ListFilter::visible`, the same judge the exchange uses for a call), with
//! - `decide/base`: no rule for the tool (the base scope only);
//! - `decide/scope_rule`: a scope rule (`--tool-scope`);
//! - `decide/role_rule`: a Keycloak role rule (the claims set parsed, the role claim read);
//! - `decide/any_of_rule`: a role, or a client with a scope;
//! - `decide/cedar`: a Cedar policy set (the principal entity built from the claims, then
//!   Cedar's evaluator), next to each other in one run.
//!
//! `cargo bench -p mcp-authz-benches --bench decide`

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use mcp_authz_benches::fixtures;
use mcp_authz_core::list_filter::{ListFilter, ListKind, ListRequests};
use mcp_authz_core::rules::{Requirement, RoleClaims};
use mcp_authz_core::ScopePolicy;
use mcp_authz_hyper::CedarEngine;
use serde_json::json;

const CEDAR: &str = r#"
permit(principal, action == Action::"tools/call", resource)
  when { principal.scopes.contains("mcp:tools") && principal.client_id == "client-abc" };
forbid(principal, action == Action::"tools/call", resource == Tool::"drop_database");
"#;

fn decide(c: &mut Criterion) {
    let (verifier, keys, now, cases) = fixtures();
    let Some(case) = cases.iter().find(|c| c.alg == "ES256") else {
        return;
    };
    let Ok(principal) = verifier.verify(&case.token, &keys, now) else {
        return;
    };
    let rule = |r: &str| {
        r.parse::<Requirement>()
            .unwrap_or_else(|e| panic!("{r}: {e}"))
    };
    let base = || {
        ScopePolicy::new(["mcp:tools"])
            .with_role_claims(RoleClaims::none().with(RoleClaims::provider("keycloak").unwrap()))
    };
    let Ok(engine) = CedarEngine::from_text(CEDAR) else {
        panic!("the bench's Cedar policies do not parse");
    };
    let policies = [
        ("base", base()),
        ("scope_rule", base().with_tool_scopes("t", ["mcp:read"])),
        ("role_rule", base().with_tool_rule("t", rule("role=admin"))),
        (
            "any_of_rule",
            base().with_tool_rule("t", rule("role=admin | client=client-abc mcp:read")),
        ),
        ("cedar", base().with_engine(Arc::new(engine))),
    ];
    let tool = json!({"name": "t", "inputSchema": {"type": "object"}});
    let none = ListRequests::default();
    let mut group = c.benchmark_group("decide");
    for (name, policy) in &policies {
        let filter = ListFilter::new(policy, &principal, &none);
        // The allowing policies allow, the role rule refuses: the same work either way.
        let expected = *name != "role_rule";
        assert_eq!(filter.visible(ListKind::Tools, &tool), expected, "{name}");
        group.bench_function(*name, |b| {
            b.iter(|| filter.visible(ListKind::Tools, black_box(&tool)))
        });
    }
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
