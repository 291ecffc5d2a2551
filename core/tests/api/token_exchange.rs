//! Token exchange (RFC 8693) and Entra on-behalf-of: the requests as the RFCs and Microsoft's
//! documentation spell them, RFC 8693 §2.3's example response, Entra's error answers, the
//! cache's lifetimes, and no input that panics.

use std::collections::BTreeMap;

use mcp_authz_core::token_exchange::{
    parse_response, AssertionSigner, ExchangeCache, ExchangeClient, ExchangeConfig, ExchangeKey,
    ExchangeLookup, ExchangeProfile, ExchangeTarget, ExchangedToken, CLIENT_ASSERTION_TYPE,
    GRANT_JWT_BEARER, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN,
};
use mcp_authz_core::token_introspection::ClientAuthentication;
use mcp_authz_core::{ExchangeError, UnixTime};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::*;

const TOKEN_ENDPOINT: &str = "https://as.example.com/token";

/// RFC 8693 §2.3's example response (an access token for `https://backend.example.com`).
const RFC_8693_RESPONSE: &str = r#"{
  "access_token":"eyJhbGciOiJFUzI1NiIsImtpZCI6IjllciJ9.eyJhdWQiOiJodHRwczovL2JhY2tlbmQuZXhhbXBsZS5jb20iLCJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUuY29tIiwiZXhwIjoxNDQxOTE3NTkzLCJpYXQiOjE0NDE5MTc1MzMsInN1YiI6ImJkY0BleGFtcGxlLmNvbSIsInNjb3BlIjoiYXBpIn0.40y3ZgQedw6rxf59WlwHDD9jryFOr0_Wh3CGozQBihNBhnXEQgU85AI9x3KmsPottVMLPIWvmDCMy5-kdXjwhw",
  "issued_token_type":"urn:ietf:params:oauth:token-type:access_token",
  "token_type":"Bearer",
  "expires_in":60
}"#;

fn form(body: &str) -> BTreeMap<String, String> {
    let pairs: Vec<(String, String)> = url_pairs(body);
    let map: BTreeMap<_, _> = pairs.iter().cloned().collect();
    assert_eq!(map.len(), pairs.len(), "a parameter repeated: {body}");
    map
}

/// `application/x-www-form-urlencoded` pairs, decoded independently of the encoder under test.
fn url_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn basic(id: &str, secret: &str) -> ExchangeClient {
    ExchangeClient::Secret(ClientAuthentication::ClientSecretBasic {
        client_id: id.into(),
        client_secret: secret.into(),
    })
}

#[test]
fn token_exchange_request_is_rfc_8693_section_2_1() {
    let config = ExchangeConfig::new(
        TOKEN_ENDPOINT,
        ExchangeProfile::TokenExchange,
        basic("mcp proxy", "s3cr:t&"),
    );
    let target = ExchangeTarget::resource("https://backend.example.com/api")
        .with_audience("backend")
        .with_scope("api:read api:write");
    let r = config
        .request("the-subject-token", &target, NOW, "unused", None)
        .unwrap();
    assert_eq!(r.url, TOKEN_ENDPOINT);
    let f = form(&r.body);
    assert_eq!(f["grant_type"], GRANT_TOKEN_EXCHANGE);
    assert_eq!(f["subject_token"], "the-subject-token");
    assert_eq!(f["subject_token_type"], TOKEN_TYPE_ACCESS_TOKEN);
    assert_eq!(f["resource"], "https://backend.example.com/api");
    assert_eq!(f["audience"], "backend");
    assert_eq!(f["scope"], "api:read api:write");
    assert!(!f.contains_key("client_secret") && !f.contains_key("requested_token_type"));
    // RFC 6749 §2.3.1: the id and secret form-encoded, then Basic.
    let header = r.authorization.clone().unwrap();
    let raw = <base64ct::Base64 as base64ct::Encoding>::decode_vec(
        header.strip_prefix("Basic ").unwrap(),
    )
    .unwrap();
    assert_eq!(String::from_utf8(raw).unwrap(), "mcp+proxy:s3cr%3At%26");
    // The token never shows in Debug.
    assert!(!format!("{r:?}").contains("the-subject-token"));
}

#[test]
fn entra_on_behalf_of_request_is_the_jwt_bearer_grant() {
    let config = ExchangeConfig::new(
        "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
        ExchangeProfile::EntraOnBehalfOf,
        ExchangeClient::Secret(ClientAuthentication::ClientSecretPost {
            client_id: "app-id".into(),
            client_secret: "secret".into(),
        }),
    );
    let f = form(
        &config
            .request(
                "user-token",
                &ExchangeTarget::resource("https://graph.microsoft.com/"),
                NOW,
                "j",
                None,
            )
            .unwrap()
            .body,
    );
    assert_eq!(f["grant_type"], GRANT_JWT_BEARER);
    assert_eq!(f["assertion"], "user-token");
    assert_eq!(f["requested_token_use"], "on_behalf_of");
    // No scope given: everything the app was granted on the resource.
    assert_eq!(f["scope"], "https://graph.microsoft.com/.default");
    assert_eq!(
        (f["client_id"].as_str(), f["client_secret"].as_str()),
        ("app-id", "secret")
    );
    assert!(!f.contains_key("subject_token") && !f.contains_key("resource"));
    let named = ExchangeTarget::resource("api://downstream").with_scope("api://downstream/read");
    let f = form(&config.request("t", &named, NOW, "j", None).unwrap().body);
    assert_eq!(f["scope"], "api://downstream/read");
    // Nothing to ask for: refused before anything is sent.
    assert_eq!(
        config.request("t", &ExchangeTarget::default(), NOW, "j", None),
        Err(ExchangeError::NoScope)
    );
}

/// An ES256 signer over a fresh P-256 key, as an adapter holds one.
struct Es256 {
    key: ring::signature::EcdsaKeyPair,
}

impl AssertionSigner for Es256 {
    fn alg(&self) -> &str {
        "ES256"
    }
    fn key_id(&self) -> Option<&str> {
        Some("client-key-1")
    }
    fn x5t_s256(&self) -> Option<&str> {
        None
    }
    fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        let rng = ring::rand::SystemRandom::new();
        self.key.sign(&rng, input).ok().map(|s| s.as_ref().to_vec())
    }
}

#[test]
fn private_key_jwt_is_rfc_7523_and_verifies_with_the_public_key() {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING as ALG};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ALG, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ALG, pkcs8.as_ref(), &rng).unwrap();
    let public = key.public_key().as_ref().to_vec();
    let signer = Es256 { key };
    let config = ExchangeConfig::new(
        TOKEN_ENDPOINT,
        ExchangeProfile::TokenExchange,
        ExchangeClient::PrivateKeyJwt {
            client_id: "proxy-client".into(),
        },
    );
    let target = ExchangeTarget::audience("backend");
    // Without a signer nothing is sent.
    assert_eq!(
        config.request("t", &target, NOW, "jti-1", None),
        Err(ExchangeError::ClientAssertion)
    );
    let r = config
        .request("t", &target, NOW, "jti-1", Some(&signer))
        .unwrap();
    assert!(r.authorization.is_none());
    let f = form(&r.body);
    assert_eq!(f["client_assertion_type"], CLIENT_ASSERTION_TYPE);
    assert_eq!(f["client_id"], "proxy-client");
    let jwt = &f["client_assertion"];
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let de = |s: &str| -> Value {
        serde_json::from_slice(
            &<base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(s).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        de(parts[0]),
        json!({"alg": "ES256", "typ": "JWT", "kid": "client-key-1"})
    );
    assert_eq!(
        de(parts[1]),
        json!({"iss": "proxy-client", "sub": "proxy-client", "aud": TOKEN_ENDPOINT,
               "iat": NOW.as_secs(), "exp": NOW.as_secs() + 60, "jti": "jti-1"})
    );
    // The signature verifies with ring's own verifier and the public key alone.
    let signature =
        <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(parts[2]).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .unwrap();
}

#[test]
fn rfc_8693_example_response_is_read() {
    let t = parse_response(
        ExchangeProfile::TokenExchange,
        200,
        RFC_8693_RESPONSE.as_bytes(),
    )
    .unwrap();
    assert!(t
        .access_token()
        .starts_with("eyJhbGciOiJFUzI1NiIsImtpZCI6IjllciJ9."));
    assert_eq!(t.issued_token_type(), Some(TOKEN_TYPE_ACCESS_TOKEN));
    assert_eq!(t.expires_in(), Some(60));
    assert!(!format!("{t:?}").contains("eyJ"), "Debug shows the token");
}

#[test]
fn responses_that_are_not_usable_are_refused_precisely() {
    let te = ExchangeProfile::TokenExchange;
    let obo = ExchangeProfile::EntraOnBehalfOf;
    let ok = json!({"access_token": "abc.def", "token_type": "Bearer",
        "issued_token_type": TOKEN_TYPE_ACCESS_TOKEN, "expires_in": 3599});
    let with = |k: &str, v: Value| {
        let mut o = ok.clone();
        o[k] = v;
        o.to_string()
    };
    let without = |k: &str| {
        let mut o = ok.clone();
        o.as_object_mut().unwrap().remove(k);
        o.to_string()
    };
    let cases: Vec<(ExchangeProfile, u16, String, Option<ExchangeError>)> = vec![
        (te, 200, ok.to_string(), None),
        // Entra's on-behalf-of answer has no issued_token_type.
        (obo, 200, without("issued_token_type"), None),
        (te, 200, without("issued_token_type"), Some(ExchangeError::NotABearerToken)),
        (te, 200, with("issued_token_type", json!("urn:ietf:params:oauth:token-type:refresh_token")), Some(ExchangeError::NotABearerToken)),
        (te, 200, with("token_type", json!("N_A")), Some(ExchangeError::NotABearerToken)),
        (te, 200, with("token_type", json!("DPoP")), Some(ExchangeError::NotABearerToken)),
        (te, 200, with("token_type", json!("bearer")), None),
        (te, 200, without("token_type"), Some(ExchangeError::NotABearerToken)),
        (te, 200, without("access_token"), Some(ExchangeError::Malformed)),
        (te, 200, with("access_token", json!("")), Some(ExchangeError::Malformed)),
        (te, 200, with("access_token", json!("has space")), Some(ExchangeError::Malformed)),
        (te, 200, with("access_token", json!("line\nbreak")), Some(ExchangeError::Malformed)),
        (te, 200, with("access_token", json!(42)), Some(ExchangeError::Malformed)),
        (te, 200, with("expires_in", json!("60")), Some(ExchangeError::Malformed)),
        (te, 200, with("expires_in", json!(-1)), Some(ExchangeError::Malformed)),
        (te, 200, without("expires_in"), None),
        (te, 200, r#"{"access_token":"a","access_token":"b","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}"#.into(), Some(ExchangeError::Malformed)),
        (te, 200, "<html>".into(), Some(ExchangeError::Malformed)),
        (te, 500, ok.to_string(), Some(ExchangeError::Unavailable)),
        (te, 503, String::new(), Some(ExchangeError::Unavailable)),
        (te, 302, String::new(), Some(ExchangeError::Unavailable)),
        // RFC 6749 §5.2 and RFC 8693 §2.2.2 error answers.
        (te, 400, json!({"error": "invalid_grant"}).to_string(), Some(ExchangeError::InvalidGrant)),
        (te, 401, json!({"error": "invalid_client"}).to_string(), Some(ExchangeError::InvalidClient)),
        (te, 400, json!({"error": "invalid_target"}).to_string(), Some(ExchangeError::InvalidTarget)),
        (te, 400, json!({"error": "invalid_scope"}).to_string(), Some(ExchangeError::InvalidScope)),
        (te, 400, json!({"error": "unauthorized_client"}).to_string(), Some(ExchangeError::UnauthorizedClient)),
        (te, 400, json!({"error": "unsupported_grant_type"}).to_string(), Some(ExchangeError::UnsupportedGrantType)),
        (te, 400, json!({"error": "invalid_request"}).to_string(), Some(ExchangeError::InvalidRequest)),
        (te, 400, json!({"error": "something_else"}).to_string(), Some(ExchangeError::Refused)),
        (te, 400, "not json".into(), Some(ExchangeError::Malformed)),
        // Entra ID's answers (the shape of login.microsoftonline.com's errors).
        (obo, 400, json!({"error": "invalid_grant", "error_description": "AADSTS65001: The user or administrator has not consented to use the application.", "error_codes": [65001]}).to_string(), Some(ExchangeError::ConsentRequired)),
        (obo, 400, json!({"error": "unauthorized_client", "error_description": "AADSTS7000114: Application is not allowed to make application on-behalf-of calls.", "error_codes": [7000114]}).to_string(), Some(ExchangeError::AppOnlyCaller)),
        (obo, 400, json!({"error": "invalid_grant", "error_description": "AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication.", "error_codes": [50076], "suberror": "basic_action"}).to_string(), Some(ExchangeError::InteractionRequired)),
        (obo, 400, json!({"error": "interaction_required", "error_codes": [53003]}).to_string(), Some(ExchangeError::InteractionRequired)),
        (obo, 400, json!({"error": "invalid_grant", "error_codes": [50013]}).to_string(), Some(ExchangeError::InvalidGrant)),
    ];
    for (profile, status, body, expected) in cases {
        let got = parse_response(profile, status, body.as_bytes());
        match expected {
            None => assert!(got.is_ok(), "{status} {body}: {got:?}"),
            Some(e) => assert_eq!(got, Err(e), "{status} {body}"),
        }
    }
}

fn principal(exp: u64) -> mcp_authz_core::Principal {
    let mut c = claims();
    c["exp"] = json!(exp);
    verifier()
        .verify(&forge(&header("ES256"), &c), &jwks(), NOW)
        .unwrap()
}

fn issued(expires_in: Option<u64>) -> ExchangedToken {
    let mut body = json!({"access_token": "downstream", "token_type": "Bearer",
        "issued_token_type": TOKEN_TYPE_ACCESS_TOKEN});
    if let Some(e) = expires_in {
        body["expires_in"] = json!(e);
    }
    parse_response(
        ExchangeProfile::TokenExchange,
        200,
        body.to_string().as_bytes(),
    )
    .unwrap()
}

#[test]
fn the_cache_keeps_a_token_until_shortly_before_it_expires_never_past_the_inbound_exp() {
    let config = ExchangeConfig::new(
        TOKEN_ENDPOINT,
        ExchangeProfile::TokenExchange,
        basic("c", "s"),
    );
    let mut cache = ExchangeCache::new(config);
    let target = ExchangeTarget::audience("api");
    let long = principal(NOW.as_secs() + 3_600);
    let key = ExchangeKey::of(&long, "inbound-token", "c", &target);
    assert_eq!(cache.lookup(key, NOW), ExchangeLookup::Miss);
    let ticket = cache.start(key, NOW).unwrap();
    // Single flight: a second request waits.
    assert_eq!(cache.lookup(key, NOW), ExchangeLookup::InFlight);
    assert!(cache.start(key, NOW).is_none());
    let exp = long.expires_at();
    cache
        .finish(ticket, Ok(issued(Some(300))), exp, NOW)
        .unwrap();
    // 300 s, less the 30 s margin.
    assert!(matches!(
        cache.lookup(key, NOW.saturating_add(269)),
        ExchangeLookup::Issued(_)
    ));
    assert_eq!(
        cache.lookup(key, NOW.saturating_add(270)),
        ExchangeLookup::Miss
    );
    // The inbound token ends first: the issued one is not used past it.
    let short = principal(NOW.as_secs() + 100);
    let key = ExchangeKey::of(&short, "inbound-token", "c", &target);
    let ticket = cache.start(key, NOW).unwrap();
    cache
        .finish(ticket, Ok(issued(Some(3_600))), short.expires_at(), NOW)
        .unwrap();
    assert!(matches!(
        cache.lookup(key, NOW.saturating_add(99)),
        ExchangeLookup::Issued(_)
    ));
    assert_eq!(
        cache.lookup(key, NOW.saturating_add(100)),
        ExchangeLookup::Miss
    );
    // Without expires_in: a minute, less the margin.
    let key = ExchangeKey::of(
        &long,
        "inbound-token",
        "c",
        &ExchangeTarget::audience("other"),
    );
    let ticket = cache.start(key, NOW).unwrap();
    cache.finish(ticket, Ok(issued(None)), exp, NOW).unwrap();
    assert_eq!(
        cache.lookup(key, NOW.saturating_add(30)),
        ExchangeLookup::Miss
    );
    // An issued token whose lifetime is shorter than the margin is used once, never kept.
    let key = ExchangeKey::of(
        &long,
        "inbound-token",
        "c",
        &ExchangeTarget::audience("brief"),
    );
    let ticket = cache.start(key, NOW).unwrap();
    assert!(cache.finish(ticket, Ok(issued(Some(10))), exp, NOW).is_ok());
    assert_eq!(cache.lookup(key, NOW), ExchangeLookup::Miss);
}

#[test]
fn refusals_are_kept_briefly_and_failures_not_at_all() {
    let config = ExchangeConfig::new(
        TOKEN_ENDPOINT,
        ExchangeProfile::TokenExchange,
        basic("c", "s"),
    );
    let mut cache = ExchangeCache::new(config);
    let p = principal(NOW.as_secs() + 3_600);
    let refused = ExchangeKey::of(&p, "inbound-token", "c", &ExchangeTarget::audience("a"));
    let ticket = cache.start(refused, NOW).unwrap();
    let _ = cache.finish(
        ticket,
        Err(ExchangeError::InvalidGrant),
        p.expires_at(),
        NOW,
    );
    assert_eq!(
        cache.lookup(refused, NOW.saturating_add(4)),
        ExchangeLookup::Refused(ExchangeError::InvalidGrant)
    );
    assert_eq!(
        cache.lookup(refused, NOW.saturating_add(5)),
        ExchangeLookup::Miss
    );
    let down = ExchangeKey::of(&p, "inbound-token", "c", &ExchangeTarget::audience("b"));
    let ticket = cache.start(down, NOW).unwrap();
    let _ = cache.finish(ticket, Err(ExchangeError::Unavailable), p.expires_at(), NOW);
    assert_eq!(cache.lookup(down, NOW), ExchangeLookup::Miss);
}

#[test]
fn keys_separate_callers_clients_and_targets() {
    let p = principal(NOW.as_secs() + 3_600);
    let mut c = claims();
    c["sub"] = json!("someone-else");
    let q = verifier()
        .verify(&forge(&header("ES256"), &c), &jwks(), NOW)
        .unwrap();
    let t = ExchangeTarget::audience("api");
    let keys = [
        ExchangeKey::of(&p, "inbound-token", "c", &t),
        ExchangeKey::of(&q, "inbound-token", "c", &t),
        ExchangeKey::of(&p, "inbound-token", "other-client", &t),
        ExchangeKey::of(&p, "inbound-token", "c", &t.clone().with_scope("read")),
        ExchangeKey::of(&p, "inbound-token", "c", &ExchangeTarget::resource("api")),
    ];
    let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
    // Another token of the same user (fewer scopes, no step-up): another key.
    assert_ne!(ExchangeKey::of(&p, "another-token", "c", &t), keys[0]);
    assert_eq!(distinct.len(), keys.len());
    assert_eq!(ExchangeKey::of(&p, "inbound-token", "c", &t), keys[0]);
}

proptest! {
    /// Whatever the status and bytes, reading an answer never panics, and an issued token is a
    /// non-empty printable bearer token.
    #[test]
    fn any_answer_is_read_without_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        for profile in [ExchangeProfile::TokenExchange, ExchangeProfile::EntraOnBehalfOf] {
            if let Ok(t) = parse_response(profile, status, &body) {
                prop_assert_eq!(status, 200);
                prop_assert!(!t.access_token().is_empty());
                prop_assert!(t.access_token().bytes().all(|b| (0x21..=0x7e).contains(&b)));
            }
        }
    }

    /// Whatever the lifetimes, a kept token is never served at or past the inbound `exp`.
    #[test]
    fn never_served_past_the_inbound_exp(expires_in in proptest::option::of(0u64..10_000), inbound in 1u64..10_000, later in 0u64..20_000) {
        let config = ExchangeConfig::new(TOKEN_ENDPOINT, ExchangeProfile::TokenExchange, basic("c", "s"));
        let mut cache = ExchangeCache::new(config);
        let p = principal(NOW.as_secs() + inbound);
        let key = ExchangeKey::of(&p, "inbound-token", "c", &ExchangeTarget::audience("a"));
        let ticket = cache.start(key, NOW).unwrap();
        let _ = cache.finish(ticket, Ok(issued(expires_in)), p.expires_at(), NOW);
        let at = NOW.saturating_add(later);
        if let ExchangeLookup::Issued(_) = cache.lookup(key, at) {
            prop_assert!(at < p.expires_at());
        }
    }
}

#[test]
fn every_exchange_refusal_has_a_reason_and_a_status() {
    for e in ExchangeError::ALL {
        let error = mcp_authz_core::Error::from(*e);
        assert!(error.reason().starts_with("exchange_"));
        let expected = if *e == ExchangeError::Unavailable {
            503
        } else {
            502
        };
        assert_eq!(error.http_status(), expected, "{e:?}");
        assert!(error.bearer_error().is_none());
    }
    let _ = UnixTime::from_secs(0);
}
