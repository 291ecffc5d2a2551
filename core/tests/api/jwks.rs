//! JWK Set parsing: usable keys, skipped keys with their reasons, refused documents.

use mcp_authz_core::jose::jwk::KeySkipReason;
use mcp_authz_core::{JwkSet, JwksError, JwksLimits};
use serde_json::{json, Value};

use crate::common::{data, jwk_values};

fn parse(doc: &Value) -> Result<JwkSet, JwksError> {
    JwkSet::parse(&serde_json::to_vec(doc).unwrap(), &JwksLimits::default())
}

fn skipped_reason(key: Value) -> KeySkipReason {
    let set = parse(&json!({ "keys": [key] })).unwrap();
    assert!(set.is_empty());
    set.skipped()[0].reason
}

#[test]
fn all_four_key_kinds_parse() {
    let set = parse(&json!({ "keys": jwk_values() })).unwrap();
    assert_eq!(set.keys().len(), 4);
    assert!(set.skipped().is_empty());
    for kid in ["rsa", "p256", "p384", "ed25519"] {
        assert!(set.contains_kid(kid), "{kid}");
    }
}

#[test]
fn unusable_keys_are_skipped_with_a_reason_and_the_rest_still_works() {
    let [rsa, p256, _, ed] = <[Value; 4]>::try_from(jwk_values()).unwrap();
    let with = |mut key: Value, member: &str, value: Value| {
        key[member] = value;
        key
    };
    let without = |mut key: Value, member: &str| {
        key.as_object_mut().unwrap().remove(member);
        key
    };
    let cases = [
        (
            with(rsa.clone(), "use", json!("enc")),
            KeySkipReason::NotForSignature,
        ),
        (
            with(rsa.clone(), "alg", json!("RSA-OAEP-256")),
            KeySkipReason::NotForSignature,
        ),
        (
            with(rsa.clone(), "alg", json!("HS256")),
            KeySkipReason::UnsupportedAlg,
        ),
        (
            with(rsa.clone(), "alg", json!("ES256")),
            KeySkipReason::AlgKeyMismatch,
        ),
        (
            with(rsa.clone(), "key_ops", json!(["sign"])),
            KeySkipReason::VerifyNotAllowed,
        ),
        (
            with(rsa.clone(), "key_ops", json!("verify")),
            KeySkipReason::InvalidMember,
        ),
        (
            with(rsa.clone(), "use", json!(1)),
            KeySkipReason::InvalidMember,
        ),
        (
            with(rsa.clone(), "kid", json!(7)),
            KeySkipReason::InvalidMember,
        ),
        (
            with(rsa.clone(), "n", json!("AQAB=")),
            KeySkipReason::InvalidMember,
        ),
        (without(rsa.clone(), "e"), KeySkipReason::InvalidMember),
        (
            with(rsa.clone(), "kty", json!("rsa")),
            KeySkipReason::UnsupportedKeyType,
        ),
        (without(rsa, "kty"), KeySkipReason::UnsupportedKeyType),
        (
            with(p256.clone(), "crv", json!("P-521")),
            KeySkipReason::UnsupportedCurve,
        ),
        (
            with(p256.clone(), "crv", json!("secp256k1")),
            KeySkipReason::UnsupportedCurve,
        ),
        (
            with(p256.clone(), "x", json!("AAAA")),
            KeySkipReason::InvalidMember,
        ),
        (without(p256, "y"), KeySkipReason::InvalidMember),
        (
            with(ed.clone(), "crv", json!("X25519")),
            KeySkipReason::UnsupportedCurve,
        ),
        (
            with(ed.clone(), "crv", json!("Ed448")),
            KeySkipReason::UnsupportedCurve,
        ),
        (
            with(ed, "alg", json!("ES256")),
            KeySkipReason::AlgKeyMismatch,
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
            KeySkipReason::InvalidMember,
        ),
    ];
    for (key, reason) in cases {
        assert_eq!(skipped_reason(key.clone()), reason, "{key}");
        // The same bad key next to good ones: the good ones still work.
        let mut keys = jwk_values();
        keys.insert(1, key);
        let set = parse(&json!({ "keys": keys })).unwrap();
        assert_eq!(set.keys().len(), 4);
        assert_eq!(set.skipped().len(), 1);
        assert_eq!(set.skipped()[0].index, 1);
    }
}

#[test]
fn rsa_key_under_2048_bits_is_skipped() {
    let forge: Value = serde_json::from_str(&data("interop/forge-keys.json")).unwrap();
    let small = forge["rsa1024_public_jwk"].clone();
    assert_eq!(skipped_reason(small), KeySkipReason::RsaModulusTooSmall);
}

#[test]
fn private_key_material_refuses_the_whole_set() {
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut keys = jwk_values();
        keys[0][member] = json!("AQAB");
        assert_eq!(
            parse(&json!({ "keys": keys })),
            Err(JwksError::PrivateKeyMaterial),
            "{member}"
        );
    }
    let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
    assert_eq!(
        parse(&json!({ "keys": [oct] })),
        Err(JwksError::PrivateKeyMaterial)
    );
}

#[test]
fn documents_that_are_not_jwk_sets() {
    let l = JwksLimits::default();
    assert_eq!(JwkSet::parse(b"[]", &l), Err(JwksError::InvalidJson));
    assert_eq!(JwkSet::parse(b"{", &l), Err(JwksError::InvalidJson));
    assert_eq!(JwkSet::parse(b"{}", &l), Err(JwksError::NotAJwkSet));
    assert_eq!(
        JwkSet::parse(br#"{"keys":{}}"#, &l),
        Err(JwksError::NotAJwkSet)
    );
    assert_eq!(
        JwkSet::parse(br#"{"keys":[1]}"#, &l),
        Err(JwksError::NotAJwkSet)
    );
    assert_eq!(
        JwkSet::parse(br#"{"keys":[],"keys":[]}"#, &l),
        Err(JwksError::DuplicateMember)
    );
    let dup = br#"{"keys":[{"kty":"OKP","kty":"RSA"}]}"#;
    assert_eq!(JwkSet::parse(dup, &l), Err(JwksError::DuplicateMember));
    assert!(JwkSet::parse(br#"{"keys":[]}"#, &l).unwrap().is_empty());
}

#[test]
fn size_limits() {
    let doc = serde_json::to_vec(&json!({ "keys": jwk_values() })).unwrap();
    assert!(JwkSet::parse(&doc, &JwksLimits::new(doc.len(), 4)).is_ok());
    assert_eq!(
        JwkSet::parse(&doc, &JwksLimits::new(doc.len() - 1, 4)),
        Err(JwksError::TooLarge)
    );
    assert_eq!(
        JwkSet::parse(&doc, &JwksLimits::new(doc.len(), 3)),
        Err(JwksError::TooManyKeys)
    );
    let defaults = JwksLimits::default();
    assert_eq!((defaults.max_bytes, defaults.max_keys), (64 * 1024, 32));
}

#[test]
fn rfc7517_appendix_a1_public_keys() {
    // RFC 7517 Appendix A.1: an EC P-256 key and a 2048-bit RSA key.
    let doc = br#"{"keys":
       [
         {"kty":"EC",
          "crv":"P-256",
          "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
          "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
          "use":"enc",
          "kid":"1"},

         {"kty":"RSA",
          "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
          "e":"AQAB",
          "alg":"RS256",
          "kid":"2011-04-29"}
       ]
     }"#;
    let set = JwkSet::parse(doc, &JwksLimits::default()).unwrap();
    // The EC key is an encryption key ("use":"enc"): skipped; the RSA key is usable.
    assert_eq!(set.keys().len(), 1);
    assert_eq!(set.keys()[0].kid(), Some("2011-04-29"));
    assert_eq!(set.skipped()[0].reason, KeySkipReason::NotForSignature);
    assert_eq!(set.skipped()[0].kid.as_deref(), Some("1"));
}
