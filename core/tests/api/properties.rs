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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A guard with an exact issuer and a tenant template: the verdict on any `iss`/`tid` pair is
    /// the rule as stated here, independently of how routing and the tenant check implement it.
    #[test]
    fn issuer_routing_and_tenants_agree_with_their_statement(
        kind in 0..5u8, tid in "[a-z0-9/-]{0,5}", other in "[ -~]{0,24}", with_tid in any::<bool>(),
    ) {
        use mcp_authz_core::exchange::Step;
        use mcp_authz_core::{Guard, KeyState, Request, ScopePolicy, VerifierConfig};
        const TEMPLATE: &str = "https://login.example/{tenantid}/v2.0";
        let guard = Guard::new(VerifierConfig::new(ISSUER, RESOURCE), ScopePolicy::default())
            .with_issuer(VerifierConfig::new(TEMPLATE, RESOURCE).with_tenants(["t1", "t2"]));
        let of = |t: &str| format!("https://login.example/{t}/v2.0");
        let iss = match kind {
            0 => Some(ISSUER.to_owned()),
            1 => Some(of(&tid)),
            2 => Some(of("t1")),
            3 => Some(other.clone()),
            _ => None,
        };
        let mut c = claims();
        let obj = c.as_object_mut().unwrap();
        match &iss {
            Some(i) => { obj.insert("iss".into(), json!(i)); }
            None => { obj.remove("iss"); }
        }
        if with_tid {
            obj.insert("tid".into(), json!(tid));
        }
        let token = format!("Bearer {}", forge(&header("ES256"), &c));
        let auth: [&[u8]; 1] = [token.as_bytes()];
        let req = Request::new("GET", "/mcp").with_authorization(&auth);
        let keys = jwks();
        let both = [KeyState::Ready(&keys), KeyState::Ready(&keys)];
        let step = guard.exchange().poll(&req, &both[..], NOW, None);
        let listed = ["t1", "t2"].contains(&tid.as_str());
        let expected = match iss.as_deref() {
            Some(i) if i == ISSUER => true,
            Some(i) => with_tid && !tid.is_empty() && !tid.contains('/') && i == of(&tid) && listed,
            None => false,
        };
        prop_assert_eq!(matches!(step, Step::Allow(_)), expected, "{:?} {:?}", iss, step);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No introspection response makes the reader panic, and none that is not an object with
    /// `"active": true` is ever accepted.
    #[test]
    fn introspection_responses_never_panic_and_only_active_true_passes(
        body in any::<Vec<u8>>(), status in 100u16..600,
        active in prop_oneof![Just(json!(true)), Just(json!(false)), Just(json!("true")), Just(json!(1)), Just(json!(null))],
        exp in any::<i64>(), scope in any::<String>(),
    ) {
        use mcp_authz_core::token_introspection::{parse_response, ClientAuthentication};
        use mcp_authz_core::{IntrospectionConfig, VerifierConfig};
        let config = IntrospectionConfig::new("https://as/i", ClientAuthentication::ClientSecretPost {
            client_id: "rs".into(), client_secret: "s".into() });
        let v = VerifierConfig::new(ISSUER, RESOURCE);
        let _ = parse_response(status, &body, &v, &config, NOW);
        let doc = json!({"active": active, "aud": RESOURCE, "exp": exp, "scope": scope});
        let bytes = serde_json::to_vec(&doc).unwrap();
        let verdict = parse_response(status, &bytes, &v, &config, NOW);
        if matches!(verdict, Ok(Ok(_))) {
            prop_assert_eq!(status, 200);
            prop_assert_eq!(&doc["active"], &json!(true));
            // Not expired, with the 60 s leeway.
            prop_assert!(exp > 0 && (exp as u64) + 60 > NOW.as_secs());
        }
    }
}

proptest! {
    /// Every string survives the header encoding: it decodes back to itself, and the header
    /// value is always plain visible ASCII (never CR/LF, never raw UTF-8).
    #[test]
    fn header_values_round_trip(s in any::<String>()) {
        use mcp_authz_core::mcp_request::{decode_header_value, encode_header_value};
        let encoded = encode_header_value(&s);
        prop_assert!(encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        prop_assert_eq!(decode_header_value(encoded.as_bytes()).unwrap(), s.as_str());
    }
}

proptest! {
    /// The guard's issuer index answers what a walk over the verifiers in order answers: the
    /// first whose issuers (exact or tenant templates, repeated across verifiers or not) route
    /// the token's `iss`, or `wrong_iss`.
    #[test]
    fn issuer_routing_is_the_first_verifier_that_routes(
        configs in proptest::collection::vec(
            proptest::collection::vec(0usize..6, 1..3), 1..6),
        iss in 0usize..8,
    ) {
        use mcp_authz_core::{Error, Guard, ScopePolicy, TokenError, VerifierConfig};
        const NAMES: [&str; 8] = [
            "https://a.example",
            "https://b.example",
            "https://login.example/{tenantid}/v2.0",
            "https://c.example",
            "https://login.example/{tenantid}/v1",
            "https://a.example/",
            "https://login.example/t1/v2.0",
            "https://login.example/t2/v1",
        ];
        let config = |names: &[usize]| {
            let mut c = VerifierConfig::new(NAMES[names[0]], RESOURCE).with_any_tenant();
            for n in &names[1..] {
                c = c.with_additional_issuer(NAMES[*n]);
            }
            c
        };
        let mut guard = Guard::new(config(&configs[0]), ScopePolicy::default());
        for names in &configs[1..] {
            guard = guard.with_issuer(config(names));
        }
        let payload = base64url_encode(json!({ "iss": NAMES[iss] }).to_string().as_bytes());
        let token = format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln");
        let expected = match configs.len() {
            1 => Some(0),
            _ => guard.verifiers().position(|v| v.config().routes(NAMES[iss])),
        };
        match (guard.route(&token), expected) {
            (Ok(i), Some(e)) => prop_assert_eq!(i, e),
            (Err(Error::InvalidToken(TokenError::WrongIssuer)), None) => {}
            (got, e) => prop_assert!(false, "{got:?} where {e:?} was expected"),
        }
    }
}

proptest! {
    /// Key selection through the set's `kid` index answers what a walk over the keys in
    /// document order answers: the one key of that `kid` fitting the algorithm, or the precise
    /// refusal (unknown, mismatched, ambiguous), with or without a `kid`.
    #[test]
    fn key_selection_is_the_walk_over_the_keys(
        picks in proptest::collection::vec((0usize..4, proptest::option::of(0usize..4)), 0..12),
        kid in proptest::option::of(0usize..5),
        alg in 0usize..4,
        required in any::<bool>(),
    ) {
        use mcp_authz_core::jose::jwk::KidPolicy;
        use mcp_authz_core::{Algorithm, TokenError};
        const KIDS: [&str; 5] = ["a", "b", "B", "", "z"];
        let values = jwk_values();
        let keys: Vec<_> = picks
            .iter()
            .map(|(key, kid)| {
                let mut v = values[*key].clone();
                match kid {
                    Some(k) => v["kid"] = json!(KIDS[*k]),
                    None => { v.as_object_mut().unwrap().remove("kid"); }
                }
                v
            })
            .collect();
        let set = jwks_with(keys);
        let alg = [Algorithm::Rs256, Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa][alg];
        let kid = kid.map(|k| KIDS[k]);
        let policy = if required { KidPolicy::Required } else { KidPolicy::SingleKeyFallback };
        // The reference: the selection rules, read off the keys in order.
        let expected: Result<usize, TokenError> = match kid {
            Some(kid) => {
                let named: Vec<usize> = (0..set.keys().len()).filter(|i| set.keys()[*i].kid() == Some(kid)).collect();
                let fitting: Vec<usize> = named.iter().copied().filter(|i| set.keys()[*i].fits(alg)).collect();
                match (named.len(), fitting.len()) {
                    (0, _) => Err(TokenError::UnknownKid),
                    (_, 0) => Err(TokenError::KeyAlgMismatch),
                    (_, 1) => Ok(fitting[0]),
                    _ => Err(TokenError::AmbiguousKid),
                }
            }
            None if policy == KidPolicy::Required => Err(TokenError::MissingKid),
            None => {
                let fitting: Vec<usize> = (0..set.keys().len()).filter(|i| set.keys()[*i].fits(alg)).collect();
                match fitting.len() {
                    0 => Err(TokenError::UnknownKid),
                    1 => Ok(fitting[0]),
                    _ => Err(TokenError::MissingKid),
                }
            }
        };
        let got = set
            .select(kid, alg, policy)
            .map(|k| set.keys().iter().position(|x| std::ptr::eq(x, k)).unwrap());
        prop_assert_eq!(got, expected);
        if let Some(kid) = kid {
            prop_assert_eq!(set.contains_kid(kid), set.keys().iter().any(|k| k.kid() == Some(kid)));
        }
    }
}
