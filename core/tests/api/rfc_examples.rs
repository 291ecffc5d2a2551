//! The signature examples of RFC 7515 Appendix A, RFC 7520 §4 and RFC 8037 Appendix A.4
//! (`data/rfc/examples.json`), through the same JWS path tokens take.

use mcp_authz_core::jose::jws::CompactJws;
use mcp_authz_core::{
    AccessTokenVerifier, JwkSet, JwksLimits, TokenError, TypPolicy, UnixTime, VerifierConfig,
};
use serde_json::{json, Value};

use crate::common::data;

fn examples() -> Vec<Value> {
    let doc: Value = serde_json::from_str(&data("rfc/examples.json")).unwrap();
    doc["examples"].as_array().unwrap().clone()
}

fn key_set(key: &Value) -> JwkSet {
    let doc = serde_json::to_vec(&json!({ "keys": [key] })).unwrap();
    JwkSet::parse(&doc, &JwksLimits::default()).unwrap()
}

#[test]
fn every_example_gets_its_verdict() {
    let examples = examples();
    assert_eq!(examples.len(), 8);
    for ex in examples {
        let source = ex["source"].as_str().unwrap();
        let token = ex["token"].as_str().unwrap();
        let expect = ex["expect"].as_str().unwrap();
        let keys = key_set(&ex["key"]);
        match CompactJws::parse(token, 8192) {
            Ok(jws) if expect == "valid" => {
                assert_eq!(keys.keys().len(), 1, "{source}");
                jws.verify(&keys.keys()[0])
                    .unwrap_or_else(|e| panic!("{source}: {e}"));
            }
            Err(e) => assert_eq!(e.reason(), expect, "{source}"),
            Ok(_) => panic!("{source}: parsed, expected {expect}"),
        }
    }
}

#[test]
fn every_valid_example_fails_when_tampered() {
    for ex in examples().into_iter().filter(|ex| ex["expect"] == "valid") {
        let source = ex["source"].as_str().unwrap();
        let keys = key_set(&ex["key"]);
        let token = ex["token"].as_str().unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        // Flip one bit of the signature (keeping the base64url canonical) and one of the payload.
        let mut sig_bytes = mcp_authz_core::jose::base64url_decode(sig).unwrap();
        sig_bytes[10] ^= 0x01;
        let bad_sig = format!(
            "{input}.{}",
            mcp_authz_core::jose::base64url_encode(&sig_bytes)
        );
        let (header, payload) = input.split_once('.').unwrap();
        let mut payload_bytes = mcp_authz_core::jose::base64url_decode(payload).unwrap();
        payload_bytes[0] ^= 0x20;
        let bad_payload = format!(
            "{header}.{}.{sig}",
            mcp_authz_core::jose::base64url_encode(&payload_bytes)
        );
        for bad in [bad_sig, bad_payload] {
            let jws = CompactJws::parse(&bad, 8192).unwrap();
            assert_eq!(
                jws.verify(&keys.keys()[0]),
                Err(TokenError::InvalidSignature),
                "{source}"
            );
        }
    }
}

#[test]
fn rfc7515_a2_and_a3_as_whole_tokens() {
    // The examples are JWTs from 2011 ({"iss":"joe","exp":1300819380}) without `aud` or `typ`:
    // with a lenient `typ` and a clock before their expiry they verify up to the audience check,
    // which proves that the signature passed (claims are checked only after it).
    let config = VerifierConfig::new("joe", "https://mcp.example.com/mcp")
        .with_typ_policy(TypPolicy::Lenient)
        .with_kid_policy(mcp_authz_core::jose::jwk::KidPolicy::SingleKeyFallback);
    let verifier = AccessTokenVerifier::new(config);
    let before_expiry = UnixTime::from_secs(1_300_819_000);
    for ex in examples()
        .iter()
        .filter(|ex| ex["source"].as_str().unwrap().starts_with("RFC 7515"))
    {
        if ex["expect"] != "valid" {
            continue;
        }
        let keys = key_set(&ex["key"]);
        let token = ex["token"].as_str().unwrap();
        let err = verifier.verify(token, &keys, before_expiry).unwrap_err();
        assert_eq!(err.reason(), "missing_aud", "{}", ex["source"]);
        let err = verifier
            .verify(token, &keys, UnixTime::from_secs(1_300_819_441))
            .unwrap_err();
        assert_eq!(err.reason(), "expired", "{}", ex["source"]);
    }
}
