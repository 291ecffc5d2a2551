//! RFC 6750 bearer extraction and the challenges, byte for byte; the header parsed back by an
//! independent `WWW-Authenticate` parser (crate `http-auth`).

use http_auth::parser::ChallengeParser;
use mcp_authz_core::challenge::{bearer_token, Challenger};
use mcp_authz_core::{Error, RequestError, TokenError};
use proptest::prelude::*;

const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

#[test]
fn extraction() {
    fn ok<'a>(h: &[&'a [u8]]) -> Result<Option<&'a str>, RequestError> {
        bearer_token(h, None, false)
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
    // A token in the query or the body is refused, even next to a header.
    assert_eq!(
        bearer_token(&[b"Bearer a"], Some("x=1&access_token=t"), false),
        Err(RequestError::TokenInQuery)
    );
    assert_eq!(
        bearer_token(&[], Some("access_token=t"), false),
        Err(RequestError::TokenInQuery)
    );
    assert_eq!(
        bearer_token(&[b"Bearer a"], None, true),
        Err(RequestError::TokenInBody)
    );
    assert_eq!(
        bearer_token(&[b"Bearer a"], Some("token=x"), false),
        Ok(Some("a"))
    );
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
            Some("WWW-Authenticate")
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

#[test]
fn descriptions_never_carry_input() {
    let c = Challenger::new(PRM);
    for e in TokenError::ALL {
        let r = c.reject(&Error::InvalidToken(e), &[]);
        let h = header(&r);
        assert!(h.contains(e.description()), "{h}");
    }
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
        let _ = bearer_token(&[&h], q.as_deref(), false);
    }
}
