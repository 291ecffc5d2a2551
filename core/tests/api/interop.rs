//! Tokens signed by other JOSE libraries (PyJWT and jwcrypto; see `data/interop/README.md`), for
//! every supported algorithm, with the verdict each must get.

use mcp_authz_core::{
    AccessTokenVerifier, Algorithm, JwkSet, JwksLimits, TypPolicy, UnixTime, VerifierConfig,
};
use serde_json::Value;

use crate::common::data;

fn check_file(name: &str) -> Vec<String> {
    let file: Value = serde_json::from_str(&data(name)).unwrap();
    let jwks = serde_json::to_vec(&file["jwks"]).unwrap();
    let keys = JwkSet::parse(&jwks, &JwksLimits::default()).unwrap();
    assert!(keys.skipped().is_empty(), "{name}: {:?}", keys.skipped());
    let config = VerifierConfig::new(
        file["issuer"].as_str().unwrap(),
        file["resource"].as_str().unwrap(),
    );
    let verifier = AccessTokenVerifier::new(config.clone());
    let lenient = AccessTokenVerifier::new(config.with_typ_policy(TypPolicy::Lenient));
    let now = UnixTime::from_secs(file["now"].as_u64().unwrap());
    let mut valid_algs = Vec::new();
    for case in file["tokens"].as_array().unwrap() {
        let token = case["token"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let note = case["note"].as_str().unwrap();
        let got = verifier.verify(token, &keys, now);
        match (&got, expect) {
            (Ok(p), "valid") => {
                assert_eq!(p.algorithm().unwrap().name(), case["alg"].as_str().unwrap());
                assert_eq!(p.subject(), Some("user-123"), "{name}: {note}");
                assert!(
                    p.has_scope("mcp:tools") && p.has_scope("mcp:read"),
                    "{name}: {note}"
                );
                assert!(
                    p.client_id().is_some_and(|c| c.starts_with("client-")),
                    "{note}"
                );
                assert_eq!(p.expires_at(), UnixTime::from_secs(1_700_003_600));
                valid_algs.push(p.algorithm().unwrap().name().to_string());
            }
            (Err(e), reason) if e.reason() == reason => {}
            _ => panic!("{name}: {note}: expected {expect}, got {got:?}"),
        }
        if expect == "invalid_typ" {
            // The same token is fine for an authorization server without RFC 9068 support.
            lenient.verify(token, &keys, now).unwrap();
        }
    }
    valid_algs
}

#[test]
fn pyjwt_tokens() {
    let algs = check_file("interop/pyjwt.json");
    for alg in Algorithm::ALL.iter().filter(|a| **a != Algorithm::Ed25519) {
        assert!(
            algs.iter().any(|a| a == alg.name()),
            "no valid PyJWT token for {alg}"
        );
    }
}

#[test]
fn jwcrypto_tokens() {
    let algs = check_file("interop/jwcrypto.json");
    for alg in Algorithm::ALL {
        assert!(
            algs.iter().any(|a| a == alg.name()),
            "no valid jwcrypto token for {alg}"
        );
    }
}

#[test]
fn a_token_verifies_only_with_its_own_libraries_keys() {
    let py: Value = serde_json::from_str(&data("interop/pyjwt.json")).unwrap();
    let jc: Value = serde_json::from_str(&data("interop/jwcrypto.json")).unwrap();
    // jwcrypto's keys under PyJWT's kids: every PyJWT token must now fail its signature.
    let mut swapped = jc["jwks"].clone();
    for key in swapped["keys"].as_array_mut().unwrap() {
        let kid = key["kid"].as_str().unwrap().replace("jwcrypto-", "pyjwt-");
        key["kid"] = Value::from(kid);
    }
    let keys = JwkSet::parse(
        &serde_json::to_vec(&swapped).unwrap(),
        &JwksLimits::default(),
    )
    .unwrap();
    let verifier = AccessTokenVerifier::new(VerifierConfig::new(
        py["issuer"].as_str().unwrap(),
        py["resource"].as_str().unwrap(),
    ));
    let now = UnixTime::from_secs(py["now"].as_u64().unwrap());
    for case in py["tokens"].as_array().unwrap() {
        if case["expect"] == "valid" {
            let err = verifier
                .verify(case["token"].as_str().unwrap(), &keys, now)
                .unwrap_err();
            assert_eq!(err.reason(), "invalid_signature", "{}", case["note"]);
        }
    }
}
