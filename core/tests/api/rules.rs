//! Rules beyond scopes, with role claims shaped as Keycloak, Auth0 and Cognito put them in access
//! tokens (their documented claim layouts), client allow-lists, any-of requirements, and the two
//! kinds of denial: a step-up a scope can satisfy, and a refusal no scope can.

use mcp_authz_core::exchange::Step;
use mcp_authz_core::rules::{Requirement, RoleClaims};
use mcp_authz_core::{Guard, KeyState, Request, ScopePolicy, VerifierConfig};
use serde_json::{json, Value};

use crate::common::*;

fn rule(text: &str) -> Requirement {
    text.parse().unwrap()
}

/// The step for a `tools/call` of `tool` with a token carrying `extra` claims.
fn call(policy: ScopePolicy, extra: Value, tool: &str) -> Step {
    let mut c = claims();
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    let auth = format!("Bearer {}", forge(&header("EdDSA"), &c));
    let auth = [auth.as_bytes()];
    let ct: [&[u8]; 1] = [b"application/json"];
    let body =
        json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool}}).to_string();
    let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), policy);
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&ct, &[]);
    let keys = jwks();
    let mut ex = guard.exchange();
    loop {
        match ex.poll(&req, KeyState::Ready(&keys), NOW, None) {
            Step::ReadBody { .. } => ex.handle_body(body.as_bytes()),
            step => return step,
        }
    }
}

fn roles(provider: &str) -> RoleClaims {
    RoleClaims::none().with(RoleClaims::provider(provider).unwrap())
}

fn allowed(step: &Step) -> bool {
    matches!(step, Step::Allow(_))
}

fn www(step: &Step) -> Option<String> {
    let Step::Respond(r) = step else { return None };
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, v)| v.clone())
}

#[test]
fn keycloak_realm_and_client_roles() {
    let policy = || {
        ScopePolicy::new(["mcp:tools"])
            .with_role_claims(
                roles("keycloak").with("resource_access.mcp-server.roles".parse().unwrap()),
            )
            .with_tool_rule("deploy", rule("role=deployer"))
    };
    // Keycloak: realm roles under realm_access.roles, client roles under resource_access.<client>.roles.
    let realm = json!({"realm_access": {"roles": ["offline_access", "deployer"]}});
    let client = json!({"resource_access": {"mcp-server": {"roles": ["deployer"]}, "account": {"roles": ["x"]}}});
    let other_client = json!({"resource_access": {"account": {"roles": ["deployer"]}}});
    assert!(allowed(&call(policy(), realm, "deploy")));
    assert!(allowed(&call(policy(), client, "deploy")));
    let step = call(policy(), other_client, "deploy");
    assert!(!allowed(&step));
    // Another tool needs only the base scope.
    assert!(allowed(&call(policy(), json!({}), "whoami")));
}

#[test]
fn auth0_permissions_and_cognito_groups() {
    let auth0 = || {
        ScopePolicy::new(["mcp:tools"])
            .with_role_claims(roles("auth0"))
            .with_tool_rule("refund", rule("role=refund:create"))
    };
    assert!(allowed(&call(
        auth0(),
        json!({"permissions": ["read:orders", "refund:create"]}),
        "refund"
    )));
    assert!(!allowed(&call(
        auth0(),
        json!({"permissions": ["read:orders"]}),
        "refund"
    )));
    let cognito = || {
        ScopePolicy::new(["mcp:tools"])
            .with_role_claims(roles("cognito"))
            .with_tool_rule("refund", rule("group=finance"))
    };
    assert!(allowed(&call(
        cognito(),
        json!({"cognito:groups": ["finance"]}),
        "refund"
    )));
    // A string where an array was expected still counts; another claim name does not.
    assert!(allowed(&call(
        cognito(),
        json!({"cognito:groups": "finance"}),
        "refund"
    )));
    assert!(!allowed(&call(
        cognito(),
        json!({"groups": ["finance"]}),
        "refund"
    )));
}

#[test]
fn client_allow_list_and_any_of() {
    let policy = || {
        ScopePolicy::new(["mcp:tools"]).with_tool_rule(
            "admin_reset",
            rule("client=ops-console | client=ci mcp:admin"),
        )
    };
    assert!(allowed(&call(
        policy(),
        json!({"client_id": "ops-console"}),
        "admin_reset"
    )));
    assert!(allowed(&call(
        policy(),
        json!({"client_id": "ci", "scope": "mcp:tools mcp:admin"}),
        "admin_reset"
    )));
    // The ci client without mcp:admin: a scope fixes it, so a step-up challenge naming it.
    let step = call(policy(), json!({"client_id": "ci"}), "admin_reset");
    let challenge = www(&step).unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="mcp:tools mcp:admin""#),
        "{challenge}"
    );
    // Any other client: nothing it could be granted helps.
    let step = call(
        policy(),
        json!({"client_id": "client-1", "scope": "mcp:tools mcp:admin"}),
        "admin_reset",
    );
    let Step::Respond(r) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(r.status, 403);
    assert_eq!(
        www(&step),
        None,
        "no step-up challenge for a refusal no scope fixes"
    );
    assert_eq!(r.reason, Some("not_permitted"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["id"], 7);
    assert_eq!(v["error"]["code"], -32003);
    let meta = &v["error"]["data"]["_meta"]["io.modelcontextprotocol/authorization"];
    assert_eq!(meta["remediation"], "unavailable");
    assert_eq!(meta["reason"], "insufficient_authorization");
}

#[test]
fn claims_subjects_issuers_and_pointers() {
    let policy = |r: &str| ScopePolicy::new(["mcp:tools"]).with_tool_rule("t", rule(r));
    assert!(allowed(&call(policy("sub=user-1"), json!({}), "t")));
    assert!(!allowed(&call(policy("sub=user-2"), json!({}), "t")));
    assert!(allowed(&call(
        policy(&format!("iss={ISSUER}")),
        json!({}),
        "t"
    )));
    assert!(allowed(&call(
        policy("claim:org.tier=gold"),
        json!({"org": {"tier": "gold"}}),
        "t"
    )));
    assert!(!allowed(&call(
        policy("claim:org.tier=gold"),
        json!({"org": {"tier": "silver"}}),
        "t"
    )));
    assert!(allowed(&call(
        policy("claim:level=3"),
        json!({"level": 3}),
        "t"
    )));
    assert!(allowed(&call(
        policy("claim:/https:~1~1example.com~1roles=admin"),
        json!({"https://example.com/roles": ["admin"]}),
        "t"
    )));
    assert!(allowed(&call(
        policy("claim:email_verified=true"),
        json!({"email_verified": true}),
        "t"
    )));
    assert!(!allowed(&call(
        policy("claim:email_verified=true"),
        json!({"email_verified": "yes"}),
        "t"
    )));
}

#[test]
fn all_scopes_can_be_asked_for_at_the_first_challenge() {
    let policy = ScopePolicy::new(["mcp:tools"])
        .with_tool_scopes("admin_reset", ["mcp:admin"])
        .with_tool_rule("deploy", rule("role=deployer | mcp:deploy"));
    assert_eq!(policy.challenged(), ["mcp:tools"]);
    let policy = policy.with_all_scopes_challenged(true);
    assert_eq!(
        policy.challenged(),
        ["mcp:tools", "mcp:admin", "mcp:deploy"]
    );
    let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), policy);
    let req = Request::new("POST", "/mcp");
    let keys = jwks();
    let step = guard
        .exchange()
        .poll(&req, KeyState::Ready(&keys), NOW, None);
    assert!(www(&step)
        .unwrap()
        .contains(r#"scope="mcp:tools mcp:admin mcp:deploy""#));
}

#[test]
fn a_rule_for_every_request_holds_with_or_without_a_body() {
    let policy = || ScopePolicy::new(["mcp:tools"]).with_rule(rule("client=ops | client=ci"));
    assert!(allowed(&call(
        policy(),
        json!({"client_id": "ops"}),
        "whoami"
    )));
    let step = call(policy(), json!({"client_id": "client-1"}), "whoami");
    assert!(!allowed(&step) && www(&step).is_none(), "{step:?}");
    // Without a body (a GET stream), the same.
    let mut c = claims();
    c["client_id"] = json!("client-1");
    let auth = format!("Bearer {}", forge(&header("EdDSA"), &c));
    let auth = [auth.as_bytes()];
    let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), policy());
    let keys = jwks();
    let req = Request::new("GET", "/mcp").with_authorization(&auth);
    let step = guard
        .exchange()
        .poll(&req, KeyState::Ready(&keys), NOW, None);
    let Step::Respond(r) = &step else {
        panic!("{step:?}")
    };
    assert_eq!((r.status, r.reason), (403, Some("not_permitted")));
}

#[test]
fn a_call_without_a_readable_name_meets_every_tool_rule() {
    let policy = || ScopePolicy::new(["mcp:tools"]).with_tool_rule("deploy", rule("role=deployer"));
    // `call` names the tool; a number where the name goes is no name the policy can read.
    let mut c = claims();
    c["client_id"] = json!("client-1");
    let auth = format!("Bearer {}", forge(&header("EdDSA"), &c));
    let auth = [auth.as_bytes()];
    let ct: [&[u8]; 1] = [b"application/json"];
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["deploy"]}})
        .to_string();
    let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), policy());
    let req = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&ct, &[]);
    let keys = jwks();
    let mut ex = guard.exchange();
    let step = loop {
        match ex.poll(&req, KeyState::Ready(&keys), NOW, None) {
            Step::ReadBody { .. } => ex.handle_body(body.as_bytes()),
            step => break step,
        }
    };
    assert!(!allowed(&step), "{step:?}");
}

#[test]
fn a_public_tool_is_not_served_without_a_token_past_a_rule_that_covers_it() {
    let p = ScopePolicy::new(["mcp:tools"]).with_public_tool("whoami");
    assert_eq!(p.contradicts_public("tools/call", Some("whoami")), None);
    let p2 = p.clone().with_tool_scopes("whoami", ["mcp:admin"]);
    assert!(p2
        .contradicts_public("tools/call", Some("whoami"))
        .is_some());
    let p3 = p.clone().with_rule(rule("client=ops"));
    assert!(p3.contradicts_public("tools/list", None).is_some());
    let p4 = p.with_method_rule("tools/list", rule("role=x"));
    assert!(p4.contradicts_public("tools/list", None).is_some());
    // Through the exchange: no token, a public tool with a rule: the challenge.
    let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), p2);
    let ct: [&[u8]; 1] = [b"application/json"];
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}})
        .to_string();
    let req = Request::new("POST", "/mcp").with_body(&ct, &[]);
    let keys = jwks();
    let mut ex = guard.exchange();
    let step = loop {
        match ex.poll(&req, KeyState::Ready(&keys), NOW, None) {
            Step::ReadBody { .. } => ex.handle_body(body.as_bytes()),
            step => break step,
        }
    };
    let Step::Respond(r) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(r.status, 401);
}
