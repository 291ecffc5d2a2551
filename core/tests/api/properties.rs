//! Property tests: no input makes a parser or the verifier panic, and what we build parses back.

use mcp_authz_core::jose::jws::CompactJws;
use mcp_authz_core::jose::{base64url_decode, base64url_encode};
use mcp_authz_core::resource_indicator::same_resource;
use mcp_authz_core::{JwkSet, JwksLimits};
use proptest::prelude::*;
use serde_json::json;

use crate::common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verify_never_panics_on_arbitrary_strings(s in ".{0,600}") {
        let _ = verifier().verify(&s, &jwks(), NOW);
    }

    #[test]
    fn verify_never_panics_on_token_shaped_input(
        h in "[A-Za-z0-9_=+/ -]{0,80}", p in "[A-Za-z0-9_=+/ -]{0,80}", s in "[A-Za-z0-9_=+/ -]{0,100}",
    ) {
        let _ = verifier().verify(&format!("{h}.{p}.{s}"), &jwks(), NOW);
    }

    #[test]
    fn verify_never_panics_on_arbitrary_header_and_claims(h in any::<Vec<u8>>(), c in any::<Vec<u8>>()) {
        let token = forge_raw("ES256", &h, &c);
        prop_assert!(verifier().verify(&token, &jwks(), NOW).is_err());
        // The same bytes, with the signature left as garbage.
        let _ = verifier().verify(&format!("{}.{}.AAAA", base64url_encode(&h), base64url_encode(&c)), &jwks(), NOW);
    }

    #[test]
    fn json_shaped_headers_never_panic(
        alg in prop_oneof![Just(json!("ES256")), Just(json!("none")), Just(json!(7)), Just(json!(null)), any::<String>().prop_map(|s| json!(s))],
        kid in prop_oneof![Just(json!("p256")), Just(json!(["p256"])), any::<String>().prop_map(|s| json!(s))],
        typ in prop_oneof![Just(json!("at+jwt")), Just(json!({})), any::<String>().prop_map(|s| json!(s))],
        exp in prop_oneof![any::<i64>().prop_map(|n| json!(n)), any::<f64>().prop_map(|f| json!(f)), Just(json!("1"))],
    ) {
        let h = json!({"alg": alg, "kid": kid, "typ": typ});
        let mut c = claims();
        c["exp"] = exp;
        let token = forge_raw("ES256", &serde_json::to_vec(&h).unwrap(), &serde_json::to_vec(&c).unwrap());
        let _ = verifier().verify(&token, &jwks(), NOW);
    }

    #[test]
    fn jwks_parse_never_panics(doc in any::<Vec<u8>>()) {
        let _ = JwkSet::parse(&doc, &JwksLimits::default());
    }

    #[test]
    fn jwks_parse_never_panics_on_key_shaped_json(
        kty in prop_oneof![Just("RSA"), Just("EC"), Just("OKP"), Just("oct"), Just("x")],
        crv in prop_oneof![Just("P-256"), Just("P-384"), Just("Ed25519"), Just("P-521")],
        n in any::<Vec<u8>>(), x in any::<Vec<u8>>(), y in any::<Vec<u8>>(),
        alg in prop_oneof![Just("RS256"), Just("ES256"), Just("EdDSA"), Just("HS256"), Just("")],
    ) {
        let key = json!({"kty": kty, "crv": crv, "alg": alg, "n": base64url_encode(&n), "e": "AQAB",
            "x": base64url_encode(&x), "y": base64url_encode(&y)});
        let doc = serde_json::to_vec(&json!({"keys": [key]})).unwrap();
        if let Ok(set) = JwkSet::parse(&doc, &JwksLimits::default()) {
            prop_assert_eq!(set.keys().len() + set.skipped().len(), 1);
        }
    }

    #[test]
    fn compact_parse_never_panics(s in any::<String>()) {
        let _ = CompactJws::parse(&s, 8192);
    }

    #[test]
    fn base64url_round_trips(bytes in any::<Vec<u8>>()) {
        let enc = base64url_encode(&bytes);
        prop_assert_eq!(base64url_decode(&enc), Some(bytes));
        prop_assert!(!enc.contains(['=', '+', '/']));
    }

    #[test]
    fn built_tokens_parse_back(sub in "[ -~]{0,40}", scope in "[a-z:]{1,10}( [a-z:]{1,10}){0,4}") {
        let mut c = claims();
        c["sub"] = json!(sub);
        c["scope"] = json!(scope);
        let p = verifier().verify(&forge(&header("EdDSA"), &c), &jwks(), NOW).unwrap();
        prop_assert_eq!(p.subject(), Some(sub.as_str()));
        let want: Vec<&str> = scope.split(' ').collect();
        for s in &want {
            prop_assert!(p.has_scope(s));
        }
    }

    #[test]
    fn same_resource_never_panics_and_is_reflexive_on_clean_urls(a in ".{0,60}", b in ".{0,60}") {
        let _ = same_resource(&a, &b);
        if !a.contains('#') {
            prop_assert!(same_resource(&a, &a));
        }
    }
}
