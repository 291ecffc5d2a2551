//! RFC 6750 bearer extraction and the challenges, byte for byte; the header parsed back by an
//! independent `WWW-Authenticate` parser (crate `http-auth`).

use http_auth::parser::ChallengeParser;
use mcp_authz_core::challenge::{credentials, Challenger, Scheme};
use mcp_authz_core::{Error, RequestError, TokenError};
use proptest::prelude::*;

const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

/// The bearer token of a request, as the exchange reads it: `DPoP` and other schemes are no bearer
/// credentials.
fn bearer_token<'a>(h: &[&'a [u8]], query: Option<&str>) -> Result<Option<&'a str>, RequestError> {
    Ok(credentials(h, query)?
        .filter(|c| c.scheme == Scheme::Bearer)
        .map(|c| c.token))
}

#[test]
fn extraction() {
    fn ok<'a>(h: &[&'a [u8]]) -> Result<Option<&'a str>, RequestError> {
        bearer_token(h, None)
    }
    assert_eq!(ok(&[]), Ok(None));
    assert_eq!(ok(&[b"Bearer abc.def.ghi"]), Ok(Some("abc.def.ghi")));
    assert_eq!(ok(&[b"bearer abc"]), Ok(Some("abc")));
    assert_eq!(ok(&[b"BEARER   abc=="]), Ok(Some("abc==")));
    assert_eq!(ok(&[b"Bearer a-b_c~d+e/f"]), Ok(Some("a-b_c~d+e/f")));
    // Another scheme is "no bearer credentials".
    assert_eq!(ok(&[b"Basic dXNlcjpwYXNz"]), Ok(None));
    assert_eq!(ok(&[b"DPoP abc"]), Ok(None));
    assert_eq!(ok(&[b"Bearerabc"]), Ok(None));
    let err = |h: &[&[u8]]| ok(h).unwrap_err();
    assert_eq!(
        err(&[b"Bearer a", b"Bearer b"]),
        RequestError::MultipleAuthorizationHeaders
    );
    assert_eq!(
        err(&[b"Bearer a,Bearer b"]),
        RequestError::MultipleCredentials
    );
    assert_eq!(
        err(&[b"Bearer a, Bearer b"]),
        RequestError::MultipleCredentials
    );
    for bad in [
        &b"Bearer"[..],
        b"Bearer ",
        b"Bearer a b",
        b"Bearer a=b",
        b"Bearer \xff",
        b"Bearer a\"b",
        b"Bearer ===",
    ] {
        assert_eq!(err(&[bad]), RequestError::MalformedAuthorization, "{bad:?}");
    }
    // A token in the query is refused, even next to a header (one in a form body:
    // `invariants::a_form_body_needs_the_base_scopes`).
    assert_eq!(
        bearer_token(&[b"Bearer a"], Some("x=1&access_token=t")),
        Err(RequestError::TokenInQuery)
    );
    assert_eq!(
        bearer_token(&[], Some("access_token=t")),
        Err(RequestError::TokenInQuery)
    );
    assert_eq!(bearer_token(&[b"Bearer a"], Some("token=x")), Ok(Some("a")));
}

fn header(r: &mcp_authz_core::Response) -> &str {
    r.header("www-authenticate").unwrap()
}

#[test]
fn every_challenge_byte_for_byte() {
    let c = Challenger::new(PRM);
    let base = ["mcp:tools"];

    let r = c.no_credentials(&base);
    assert_eq!(r.status, 401);
    assert_eq!(
        header(&r),
        format!(r#"Bearer resource_metadata="{PRM}", scope="mcp:tools""#)
    );
    assert_eq!(
        r.body,
        br#"{"error":"unauthorized","error_description":"an access token is required"}"#
    );

    let r = c.reject(&Error::InvalidToken(TokenError::Expired), &base);
    assert_eq!(r.status, 401);
    assert_eq!(
        header(&r),
        format!(
            r#"Bearer error="invalid_token", error_description="the access token expired", resource_metadata="{PRM}", scope="mcp:tools""#
        )
    );
    assert_eq!(
        r.body,
        br#"{"error":"invalid_token","error_description":"the access token expired"}"#
    );

    let r = c.reject(
        &Error::InvalidRequest(RequestError::MultipleCredentials),
        &base,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        header(&r),
        format!(
            r#"Bearer error="invalid_request", error_description="more than one credential in the Authorization header", resource_metadata="{PRM}", scope="mcp:tools""#
        )
    );

    let r = c.reject(&Error::InsufficientScope, &["mcp:tools", "mcp:admin"]);
    assert_eq!(r.status, 403);
    assert_eq!(
        header(&r),
        format!(
            r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this request needs", resource_metadata="{PRM}", scope="mcp:tools mcp:admin""#
        )
    );

    let r = c.reject(
        &Error::KeysUnavailable {
            retry_after_secs: 17,
        },
        &base,
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.header("www-authenticate"), None);
    assert_eq!(r.header("retry-after"), Some("17"));
    assert_eq!(r.body, br#"{"error":"temporarily_unavailable","error_description":"the resource cannot verify access tokens right now"}"#);

    // realm first; no scope attribute without scopes.
    let r = Challenger::new(PRM).with_realm("mcp").no_credentials(&[]);
    assert_eq!(
        header(&r),
        format!(r#"Bearer realm="mcp", resource_metadata="{PRM}""#)
    );

    // Every challenge is readable by browser clients and never cached.
    for r in [
        c.no_credentials(&base),
        c.reject(&Error::InsufficientScope, &base),
    ] {
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("WWW-Authenticate, DPoP-Nonce")
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

/// Every rejection the exchange gives, for requests that carry a marker in every input an
/// attacker controls (claims, header parameters, the `Authorization` value, the query, the MCP
/// headers, the body): the marker never appears in a response header or body.
#[test]
fn descriptions_never_carry_input() {
    use mcp_authz_core::exchange::Step;
    use mcp_authz_core::{Guard, KeyState, Request, ScopePolicy, VerifierConfig};
    use serde_json::json;

    use crate::common::*;

    const MARK: &str = "LEAKMARK";
    let guard = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]).with_tool_scopes("t", ["mcp:admin"]),
    );
    let with = |name: &str, value: serde_json::Value| {
        let mut c = claims();
        c[name] = value;
        c
    };
    let mut tokens = vec![
        forge(&header("ES256"), &with("iss", json!(MARK))),
        forge(&header("ES256"), &with("aud", json!(MARK))),
        forge(&header("ES256"), &with("exp", json!(MARK))),
        forge(&header("ES256"), &with("scope", json!(MARK))),
        forge(&header("ES256"), &with("exp", json!(IAT - 999))),
        forge(
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": MARK}),
            &claims(),
        ),
        forge_raw(
            "ES256",
            &serde_json::to_vec(&json!({"alg": MARK, "typ": "at+jwt", "kid": "p256"})).unwrap(),
            &serde_json::to_vec(&claims()).unwrap(),
        ),
        forge(
            &json!({"alg": "ES256", "typ": MARK, "kid": "p256"}),
            &claims(),
        ),
        forge(
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": "p256", "crit": [MARK]}),
            &claims(),
        ),
        format!("{MARK}.{MARK}.{MARK}"),
        MARK.to_string(),
    ];
    tokens.push(forge(&header("ES256"), &with("sub", json!(MARK))));
    let auths: Vec<String> = tokens
        .iter()
        .map(|t| format!("Bearer {t}"))
        .chain([
            format!("Bearer {MARK}\u{1}"),
            format!("{MARK} x"),
            format!("Bearer a,{MARK}"),
        ])
        .collect();
    // The `id` is echoed in a JSON-RPC error, as JSON-RPC requires (re-serialized from its
    // parsed value); every other member carries the marker.
    let body = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
        "params":{"name":"t","arguments":{"x":MARK}},"extra":MARK}))
    .unwrap();
    let keys = jwks();
    let mut reasons = std::collections::BTreeSet::new();
    let mut seen = 0;
    for auth in &auths {
        for (query, mcp_name) in [
            (None, None),
            (Some(format!("access_token={MARK}")), None),
            (None, Some(MARK.as_bytes())),
        ] {
            let a: [&[u8]; 1] = [auth.as_bytes()];
            let two: [&[u8]; 2] = [auth.as_bytes(), auth.as_bytes()];
            for authorization in [&a[..], &two[..]] {
                let names: Vec<&[u8]> = mcp_name.into_iter().collect();
                let json: [&[u8]; 1] = [b"application/json"];
                let req = Request::new("POST", "/mcp")
                    .with_query(query.as_deref())
                    .with_authorization(authorization)
                    .with_mcp_headers(&[b"tools/call"], &names)
                    .with_body(&json, &[]);
                let mut exchange = guard.exchange();
                let step = loop {
                    match exchange.poll(&req, KeyState::Ready(&keys), NOW, None) {
                        Step::ReadBody { .. } => exchange.handle_body(&body),
                        Step::RefreshKeys { .. } => exchange.handle_keys_refreshed(false),
                        step => break step,
                    }
                };
                if let Step::Respond(r) = step {
                    seen += 1;
                    reasons.insert(r.reason.unwrap_or(""));
                    for (name, value) in &r.headers {
                        assert!(!value.contains(MARK), "{name}: {value}");
                    }
                    let text = String::from_utf8_lossy(&r.body);
                    assert!(!text.contains(MARK), "{text}");
                }
            }
        }
    }
    // The marker went through many distinct rejections, not one.
    assert!(
        seen > 60 && reasons.len() >= 12,
        "{seen} responses, reasons {reasons:?}"
    );
}

fn parse_back(h: &str) -> Vec<(String, String)> {
    let mut challenges = ChallengeParser::new(h);
    let c = challenges.next().expect("one challenge").expect("parses");
    assert!(c.scheme.eq_ignore_ascii_case("bearer"));
    assert!(challenges.next().is_none(), "exactly one challenge");
    c.params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_unescaped()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever printable ASCII goes into the attributes comes back out of an independent parser.
    #[test]
    fn challenges_parse_back(
        realm in "[ -~]{0,30}",
        prm in "[ -~]{1,60}",
        scopes in prop::collection::vec("[!#-\\[\\]-~]{1,12}", 0..4),
    ) {
        let c = Challenger::new(prm.clone()).with_realm(realm.clone());
        let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        for r in [c.no_credentials(&scope_refs), c.reject(&Error::InsufficientScope, &scope_refs)] {
            let params = parse_back(header(&r));
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            prop_assert_eq!(get("realm"), Some(realm.clone()));
            prop_assert_eq!(get("resource_metadata"), Some(prm.clone()));
            if scopes.is_empty() {
                prop_assert_eq!(get("scope"), None);
            } else {
                prop_assert_eq!(get("scope"), Some(scopes.join(" ")));
            }
        }
    }

    #[test]
    fn extraction_never_panics(h in any::<Vec<u8>>(), q in any::<Option<String>>()) {
        let _ = bearer_token(&[&h], q.as_deref());
    }
}
