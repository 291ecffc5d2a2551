//! RFC 7662 introspection: the request and response against the RFC's own examples, every
//! refusal and failure, the cache's lifetimes and single flight, and the exchange's step.

use std::sync::Arc;

use mcp_authz_core::exchange::Step;
use mcp_authz_core::token_introspection::{
    parse_response, ClientAuthentication, IntrospectionFailure, Lookup,
};
use mcp_authz_core::{
    Error, Guard, IntrospectionCache, IntrospectionConfig, IntrospectionMode, KeyState, Request,
    ScopePolicy, TokenError, UnixTime, VerifierConfig,
};
use serde_json::{json, Value};

use crate::common::*;

/// RFC 7662 §2.1's client: `s6BhdRkqt3` / `gX1fBat3bV`.
fn basic() -> ClientAuthentication {
    ClientAuthentication::ClientSecretBasic {
        client_id: "s6BhdRkqt3".into(),
        client_secret: "gX1fBat3bV".into(),
    }
}

/// RFC 7662 §2.2's resource server and authorization server.
fn rfc_verifier() -> VerifierConfig {
    VerifierConfig::new(
        "https://server.example.com/",
        "https://protected.example.net/resource",
    )
}

fn config() -> IntrospectionConfig {
    IntrospectionConfig::new("https://server.example.com/introspect", basic())
}

/// RFC 7662 §2.2's example response (its `exp` is 1419356238).
fn rfc_response() -> Value {
    json!({
        "active": true, "client_id": "l238j323ds-23ij4", "username": "jdoe",
        "scope": "read write dolphin", "sub": "Z5O3upPC88QrAjx00dis",
        "aud": "https://protected.example.net/resource", "iss": "https://server.example.com/",
        "exp": 1419356238u64, "iat": 1419350238u64, "extension_field": "twenty-seven"
    })
}

const RFC_NOW: UnixTime = UnixTime::from_secs(1419350300);

#[test]
fn the_request_of_rfc7662_section_2_1() {
    let r = config().request("mF_9.B5f-4.1JqM");
    assert_eq!(r.url, "https://server.example.com/introspect");
    assert_eq!(r.body, "token=mF_9.B5f-4.1JqM&token_type_hint=access_token");
    assert_eq!(
        r.authorization.as_deref(),
        Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW")
    );
    // client_secret_post puts the credentials in the form; characters are form-encoded, and
    // so are they inside Basic (RFC 6749 §2.3.1).
    let post = IntrospectionConfig::new(
        "https://as/i",
        ClientAuthentication::ClientSecretPost {
            client_id: "a b".into(),
            client_secret: "p&q=:".into(),
        },
    )
    .request("t+/=");
    assert_eq!(post.authorization, None);
    assert_eq!(
        post.body,
        "token=t%2B%2F%3D&token_type_hint=access_token&client_id=a+b&client_secret=p%26q%3D%3A"
    );
    let odd = IntrospectionConfig::new(
        "https://as/i",
        ClientAuthentication::ClientSecretBasic {
            client_id: "a:b".into(),
            client_secret: "é".into(),
        },
    )
    .request("t");
    // base64("a%3Ab:%C3%A9")
    assert_eq!(odd.authorization.as_deref(), Some("Basic YSUzQWI6JUMzJUE5"));
    // Neither the token nor the secret shows in Debug.
    let shown = format!("{r:?} {:?}", basic());
    assert!(
        !shown.contains("mF_9") && !shown.contains("gX1fBat3bV"),
        "{shown}"
    );
}

#[test]
fn the_response_of_rfc7662_section_2_2() {
    let body = serde_json::to_vec(&rfc_response()).unwrap();
    let p = parse_response(200, &body, &rfc_verifier(), &config(), RFC_NOW)
        .unwrap()
        .unwrap();
    assert_eq!(p.subject(), Some("Z5O3upPC88QrAjx00dis"));
    assert_eq!(p.client_id(), Some("l238j323ds-23ij4"));
    assert!(p.scopes().eq(["read", "write", "dolphin"]));
    assert_eq!(p.expires_at(), UnixTime::from_secs(1419356238));
    assert_eq!(p.algorithm(), None, "no signature was checked here");
    assert_eq!(p.claim("extension_field"), Some(json!("twenty-seven")));
    // The inactive example.
    assert_eq!(
        parse_response(
            200,
            br#"{"active": false}"#,
            &rfc_verifier(),
            &config(),
            RFC_NOW
        ),
        Ok(Err(TokenError::Inactive))
    );
}

#[test]
fn every_refusal_and_failure() {
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = rfc_response();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let verdict = |body: &[u8]| parse_response(200, body, &rfc_verifier(), &config(), RFC_NOW);
    let refused: Vec<(&str, Vec<u8>, TokenError)> = vec![
        (
            "another audience",
            with(&|v| v["aud"] = json!("https://other.example/api")),
            TokenError::WrongAudience,
        ),
        (
            "another issuer",
            with(&|v| v["iss"] = json!("https://evil.example/")),
            TokenError::WrongIssuer,
        ),
        (
            "expired",
            with(&|v| v["exp"] = json!(1419350000u64 - 120)),
            TokenError::Expired,
        ),
        (
            "not yet valid",
            with(&|v| v["nbf"] = json!(1419350300u64 + 600)),
            TokenError::NotYetValid,
        ),
        (
            "no exp",
            with(&|v| drop(v.as_object_mut().unwrap().remove("exp"))),
            TokenError::MissingExp,
        ),
        (
            "a refresh token",
            with(&|v| v["token_type"] = json!("refresh_token")),
            TokenError::NotAnAccessToken,
        ),
        (
            "token_type not a string",
            with(&|v| v["token_type"] = json!(7)),
            TokenError::InvalidClaimType,
        ),
        (
            "scope not a string",
            with(&|v| v["scope"] = json!(["read"])),
            TokenError::InvalidClaimType,
        ),
        (
            "no aud",
            with(&|v| drop(v.as_object_mut().unwrap().remove("aud"))),
            TokenError::MissingAudience,
        ),
    ];
    for (what, body, reason) in refused {
        assert_eq!(verdict(&body), Ok(Err(reason)), "{what}");
    }
    // Accepted variants: a Bearer token_type (any case), no iss (the AS vouches), `exp` absent
    // when allowed.
    for body in [
        with(&|v| v["token_type"] = json!("Bearer")),
        with(&|v| v["token_type"] = json!("bearer")),
        with(&|v| drop(v.as_object_mut().unwrap().remove("iss"))),
    ] {
        assert!(matches!(verdict(&body), Ok(Ok(_))));
    }
    let no_exp = with(&|v| drop(v.as_object_mut().unwrap().remove("exp")));
    let lenient = config().allow_missing_exp(true);
    assert!(matches!(
        parse_response(200, &no_exp, &rfc_verifier(), &lenient, RFC_NOW),
        Ok(Ok(_))
    ));
    // Not an introspection response at all: the AS failed, nothing is accepted or refused.
    let failures: Vec<(&str, u16, Vec<u8>, IntrospectionFailure)> = vec![
        ("500", 500, b"{}".to_vec(), IntrospectionFailure::Status),
        (
            "401 (our credentials)",
            401,
            br#"{"error":"invalid_client"}"#.to_vec(),
            IntrospectionFailure::Status,
        ),
        (
            "garbage",
            200,
            b"<html>".to_vec(),
            IntrospectionFailure::Malformed,
        ),
        (
            "active as a string",
            200,
            with(&|v| v["active"] = json!("true")),
            IntrospectionFailure::Malformed,
        ),
        (
            "active as a number",
            200,
            with(&|v| v["active"] = json!(1)),
            IntrospectionFailure::Malformed,
        ),
        (
            "no active",
            200,
            with(&|v| drop(v.as_object_mut().unwrap().remove("active"))),
            IntrospectionFailure::Malformed,
        ),
        (
            "duplicate active",
            200,
            br#"{"active":false,"active":true}"#.to_vec(),
            IntrospectionFailure::Malformed,
        ),
        (
            "too large",
            200,
            vec![b' '; 70_000],
            IntrospectionFailure::Malformed,
        ),
    ];
    for (what, status, body, failure) in failures {
        assert_eq!(
            parse_response(status, &body, &rfc_verifier(), &config(), RFC_NOW),
            Err(failure),
            "{what}"
        );
    }
}

fn active_until(exp: u64) -> Vec<u8> {
    let mut v = rfc_response();
    v["exp"] = json!(exp);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn the_cache_keeps_answers_for_their_time_and_calls_once_per_token() {
    let v = rfc_verifier();
    let mut cache = IntrospectionCache::new(config());
    let now = RFC_NOW;
    assert_eq!(cache.lookup("tok", &v, now), Lookup::Miss);
    let (ticket, request) = cache.start("tok", now).unwrap();
    assert!(request.body.starts_with("token=tok&"));
    // Single flight: while the call is out, every other request for the token waits.
    for _ in 0..1000 {
        assert_eq!(cache.lookup("tok", &v, now), Lookup::InFlight);
        assert!(cache.start("tok", now).is_none());
    }
    // Another token is independent.
    assert_eq!(cache.lookup("other", &v, now), Lookup::Miss);
    let outcome = parse_response(200, &active_until(now.as_secs() + 3600), &v, &config(), now);
    let p = cache.finish(ticket, "tok", outcome, now).unwrap();
    assert_eq!(cache.calls(), 1);
    // Kept until min(exp, 300 s).
    assert_eq!(
        cache.lookup("tok", &v, now.saturating_add(299)),
        Lookup::Active(p.clone())
    );
    assert_eq!(
        cache.lookup("tok", &v, now.saturating_add(300)),
        Lookup::Miss
    );
    // A token expiring sooner is kept until its exp (+ leeway it is refused on recheck).
    let (t, _) = cache.start("short", now).unwrap();
    let outcome = parse_response(200, &active_until(now.as_secs() + 30), &v, &config(), now);
    assert!(cache.finish(t, "short", outcome, now).is_ok());
    assert!(matches!(
        cache.lookup("short", &v, now.saturating_add(29)),
        Lookup::Active(_)
    ));
    assert_eq!(
        cache.lookup("short", &v, now.saturating_add(30)),
        Lookup::Miss
    );
    // A negative answer is kept 10 s.
    let (t, _) = cache.start("gone", now).unwrap();
    let outcome = parse_response(200, br#"{"active":false}"#, &v, &config(), now);
    assert_eq!(
        cache.finish(t, "gone", outcome, now),
        Err(Error::InvalidToken(TokenError::Inactive))
    );
    assert_eq!(
        cache.lookup("gone", &v, now.saturating_add(9)),
        Lookup::Refused(TokenError::Inactive)
    );
    assert_eq!(
        cache.lookup("gone", &v, now.saturating_add(10)),
        Lookup::Miss
    );
    // A failure is not kept: 503 now, a new call next time.
    let (t, _) = cache.start("down", now).unwrap();
    assert_eq!(
        cache.finish(t, "down", Err(IntrospectionFailure::NoResponse), now),
        Err(Error::IntrospectionUnavailable {
            retry_after_secs: 5
        })
    );
    assert_eq!(cache.lookup("down", &v, now), Lookup::Miss);
    // A call that never reports (its request was dropped) holds the others back only until the
    // in-flight timeout.
    let (_lost, _) = cache.start("lost", now).unwrap();
    assert_eq!(
        cache.lookup("lost", &v, now.saturating_add(9)),
        Lookup::InFlight
    );
    assert_eq!(
        cache.lookup("lost", &v, now.saturating_add(10)),
        Lookup::Miss
    );
    assert!(cache.start("lost", now.saturating_add(10)).is_some());
}

#[test]
fn the_cache_is_bounded() {
    let v = rfc_verifier();
    let mut cache = IntrospectionCache::new(config().with_max_entries(3));
    for i in 0..10 {
        let token = format!("t{i}");
        let (t, _) = cache.start(&token, RFC_NOW).unwrap();
        let outcome = parse_response(
            200,
            &active_until(RFC_NOW.as_secs() + 3600),
            &v,
            &config(),
            RFC_NOW,
        );
        cache.finish(t, &token, outcome, RFC_NOW).unwrap();
        assert!(cache.len() <= 3);
    }
    assert!(matches!(cache.lookup("t9", &v, RFC_NOW), Lookup::Active(_)));
    assert_eq!(cache.lookup("t0", &v, RFC_NOW), Lookup::Miss);
}

fn guard(mode: IntrospectionMode) -> Guard {
    Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]).with_tool_scopes("delete", ["mcp:admin"]),
    )
    .with_introspection(mode)
}

/// Drives one exchange; `Step::Introspect` is answered by `answer` (and counted).
fn run(
    g: &Guard,
    token: &str,
    body: Option<&[u8]>,
    answer: &dyn Fn(&str) -> Result<Arc<mcp_authz_core::Principal>, Error>,
) -> (usize, Step) {
    let auth = format!("Bearer {token}");
    let values: [&[u8]; 1] = [auth.as_bytes()];
    let json: [&[u8]; 1] = [b"application/json"];
    let mut req = Request::new("POST", "/mcp").with_authorization(&values);
    if body.is_some() {
        req = req.with_body(&json, &[]);
    }
    let keys = jwks();
    let mut x = g.exchange();
    let mut introspected = 0;
    loop {
        match x.poll(&req, KeyState::Ready(&keys), NOW, None) {
            Step::Introspect { token } => {
                introspected += 1;
                x.handle_introspected(answer(token.as_str()));
            }
            Step::ReadBody { .. } => x.handle_body(body.unwrap_or_default()),
            verdict => return (introspected, verdict),
        }
    }
}

fn opaque_principal(scope: &str) -> Arc<mcp_authz_core::Principal> {
    let body = json!({"active": true, "iss": ISSUER, "aud": RESOURCE, "sub": "u1", "client_id": "c",
        "scope": scope, "exp": NOW.as_secs() + 600});
    let v = VerifierConfig::new(ISSUER, RESOURCE);
    let c = IntrospectionConfig::new("https://as/i", basic());
    Arc::new(
        parse_response(200, &serde_json::to_vec(&body).unwrap(), &v, &c, NOW)
            .unwrap()
            .unwrap(),
    )
}

#[test]
fn the_exchange_asks_for_introspection_by_mode() {
    let jwt = forge(&header("ES256"), &claims());
    let status = |s: &Step| match s {
        Step::Respond(r) => r.status,
        Step::Allow(_) => 200,
        other => panic!("{other:?}"),
    };
    let tools = |_: &str| Ok(opaque_principal("mcp:tools"));
    // never: an opaque token is a malformed JWT; the JWT is verified.
    let (n, v) = run(&guard(IntrospectionMode::Never), "opaque-123", None, &tools);
    assert_eq!((n, status(&v)), (0, 401));
    assert_eq!(
        run(&guard(IntrospectionMode::Never), &jwt, None, &tools).0,
        0
    );
    // non-jwt: the opaque token is introspected (the step carries it), the JWT is not.
    let seen = std::cell::RefCell::new(String::new());
    let record = |t: &str| {
        *seen.borrow_mut() = t.to_owned();
        Ok(opaque_principal("mcp:tools"))
    };
    let (n, v) = run(
        &guard(IntrospectionMode::NonJwt),
        "opaque-123",
        None,
        &record,
    );
    assert_eq!((n, status(&v)), (1, 200));
    assert_eq!(*seen.borrow(), "opaque-123");
    let (n, v) = run(&guard(IntrospectionMode::NonJwt), &jwt, None, &tools);
    assert_eq!((n, status(&v)), (0, 200));
    // always: the JWT too.
    assert_eq!(
        run(&guard(IntrospectionMode::Always), &jwt, None, &tools).0,
        1
    );
    // The introspected principal meets the same scope policy, body included.
    let delete = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}}"#;
    let (_, v) = run(
        &guard(IntrospectionMode::NonJwt),
        "opaque",
        Some(delete),
        &tools,
    );
    assert_eq!(status(&v), 403);
    let admin = |_: &str| Ok(opaque_principal("mcp:tools mcp:admin"));
    let (_, v) = run(
        &guard(IntrospectionMode::NonJwt),
        "opaque",
        Some(delete),
        &admin,
    );
    assert_eq!(status(&v), 200);
    // Refused and unavailable answers.
    let inactive = |_: &str| Err(Error::InvalidToken(TokenError::Inactive));
    let (_, v) = run(&guard(IntrospectionMode::NonJwt), "opaque", None, &inactive);
    let Step::Respond(r) = v else { panic!() };
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    let down = |_: &str| {
        Err(Error::IntrospectionUnavailable {
            retry_after_secs: 5,
        })
    };
    let (_, v) = run(&guard(IntrospectionMode::NonJwt), "opaque", None, &down);
    let Step::Respond(r) = v else { panic!() };
    assert_eq!((r.status, r.header("retry-after")), (503, Some("5")));
    assert!(r.header("www-authenticate").is_none());
    // Polled again without a report: denied.
    let g = guard(IntrospectionMode::Always);
    let auth = format!("Bearer {jwt}");
    let values: [&[u8]; 1] = [auth.as_bytes()];
    let req = Request::new("GET", "/mcp").with_authorization(&values);
    let keys = jwks();
    let mut x = g.exchange();
    let first = x.poll(&req, KeyState::Ready(&keys), NOW, None);
    assert!(matches!(first, Step::Introspect { .. }));
    assert!(
        !format!("{first:?}").contains(&jwt),
        "the step never shows the token"
    );
    let Step::Respond(r) = x.poll(&req, KeyState::Ready(&keys), NOW, None) else {
        panic!()
    };
    assert_eq!(r.status, 500);
}
