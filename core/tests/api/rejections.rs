//! One negative test for every rejection reason, each built from a valid token by changing one
//! thing, and a check that every `TokenError` variant is produced by at least one case.

use std::collections::BTreeSet;

use mcp_authz_core::jose::jwk::KidPolicy;
use mcp_authz_core::{
    AccessTokenVerifier, Algorithm, AlgorithmSet, Error, JwkSet, TokenError, TypPolicy, UnixTime,
    VerifierConfig,
};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{json, Value};

use crate::common::*;

/// The common verifier, with a maximum lifetime (one day) that the valid token is well within.
fn verify(token: &str) -> Result<mcp_authz_core::Principal, Error> {
    let config = VerifierConfig::new(ISSUER, RESOURCE).with_max_lifetime_secs(Some(86_400));
    AccessTokenVerifier::new(config).verify(token, &jwks(), NOW)
}

fn reason_of(token: &str) -> TokenError {
    match verify(token) {
        Err(Error::InvalidToken(e)) => e,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut c = claims();
    c[name] = value;
    c
}

fn without_claim(name: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(name);
    c
}

fn with_header(alg: &str, name: &str, value: Value) -> Value {
    let mut h = header(alg);
    h[name] = value;
    h
}

/// Every case: (what it is, the token, the verdict).
fn cases() -> Vec<(&'static str, String, TokenError)> {
    let h = header("ES256");
    let c = claims();
    let good = valid_token("ES256");
    let (input, sig) = good.rsplit_once('.').unwrap();
    let (h64, p64) = input.split_once('.').unwrap();

    // HS256 keyed with the RSA public key's modulus bytes, the classic algorithm confusion.
    let rsa_n =
        mcp_authz_core::jose::base64url_decode(jwk_values()[0]["n"].as_str().unwrap()).unwrap();
    let hs_input = format!(
        "{}.{}",
        b64u(br#"{"alg":"HS256","typ":"at+jwt","kid":"rsa"}"#),
        b64u(&serde_json::to_vec(&c).unwrap())
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &rsa_n),
        hs_input.as_bytes(),
    );
    let hs256 = format!("{hs_input}.{}", b64u(mac.as_ref()));

    // The published kid `p256`, signed by another P-256 key.
    let rng = SystemRandom::new();
    let other_pk8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let other = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        other_pk8.as_ref(),
        &rng,
    )
    .unwrap();
    assert_ne!(
        other.public_key().as_ref(),
        keys().p256.public_key().as_ref()
    );
    let reused = format!(
        "{input}.{}",
        b64u(other.sign(&rng, input.as_bytes()).unwrap().as_ref())
    );

    // The same ES256 signature in DER (ASN.1) form.
    let der_key = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &forge_key_der("p256_pkcs8"),
        &rng,
    );
    let der = format!(
        "{input}.{}",
        b64u(
            der_key
                .unwrap()
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
        )
    );

    let tampered_payload = {
        let mut c = claims();
        c["sub"] = json!("admin");
        format!("{h64}.{}.{sig}", b64u(&serde_json::to_vec(&c).unwrap()))
    };

    let big = with_claim("pad", json!("x".repeat(9000)));

    vec![
        (
            "alg none",
            format!("{}.{p64}.", b64u(br#"{"alg":"none","typ":"at+jwt"}"#)),
            TokenError::AlgNone,
        ),
        (
            "alg NONE with a signature",
            format!(
                "{}.{p64}.{sig}",
                b64u(br#"{"alg":"NONE","kid":"p256","typ":"at+jwt"}"#)
            ),
            TokenError::AlgNone,
        ),
        (
            "HS256 keyed with the RSA public key",
            hs256,
            TokenError::UnsupportedAlg,
        ),
        (
            "ES512",
            forge_raw(
                "ES256",
                br#"{"alg":"ES512","typ":"at+jwt","kid":"p256"}"#,
                p64.as_bytes(),
            ),
            TokenError::UnsupportedAlg,
        ),
        (
            "unknown kid",
            forge(&with_header("ES256", "kid", json!("nope")), &c),
            TokenError::UnknownKid,
        ),
        (
            "kid reused with another key",
            reused,
            TokenError::InvalidSignature,
        ),
        (
            "alg/kty mismatch: ES256 naming the RSA key",
            forge_raw(
                "ES256",
                br#"{"alg":"ES256","typ":"at+jwt","kid":"rsa"}"#,
                &serde_json::to_vec(&c).unwrap(),
            ),
            TokenError::KeyAlgMismatch,
        ),
        (
            "alg/crv mismatch: ES384 naming the P-256 key",
            forge_raw(
                "ES384",
                br#"{"alg":"ES384","typ":"at+jwt","kid":"p256"}"#,
                &serde_json::to_vec(&c).unwrap(),
            ),
            TokenError::KeyAlgMismatch,
        ),
        ("DER ECDSA signature", der, TokenError::InvalidSignature),
        (
            "ECDSA r = s = 0",
            format!("{input}.{}", b64u(&[0u8; 64])),
            TokenError::InvalidSignature,
        ),
        (
            "tampered payload",
            tampered_payload,
            TokenError::InvalidSignature,
        ),
        (
            "truncated signature",
            format!("{input}.{}", &sig[..sig.len() - 2]),
            TokenError::InvalidSignature,
        ),
        (
            "expired",
            forge(&h, &with_claim("exp", json!(IAT - 61))),
            TokenError::Expired,
        ),
        (
            "nbf in the future",
            forge(&h, &with_claim("nbf", json!(NOW.as_secs() + 61))),
            TokenError::NotYetValid,
        ),
        (
            "iat in the future",
            forge(&h, &with_claim("iat", json!(NOW.as_secs() + 61))),
            TokenError::IssuedInFuture,
        ),
        (
            "missing exp",
            forge(&h, &without_claim("exp")),
            TokenError::MissingExp,
        ),
        (
            "wrong iss",
            forge(&h, &with_claim("iss", json!("https://evil.example.com"))),
            TokenError::WrongIssuer,
        ),
        (
            "iss with a trailing slash",
            forge(&h, &with_claim("iss", json!(format!("{ISSUER}/")))),
            TokenError::WrongIssuer,
        ),
        (
            "missing iss",
            forge(&h, &without_claim("iss")),
            TokenError::MissingIssuer,
        ),
        (
            "aud of another resource",
            forge(
                &h,
                &with_claim("aud", json!("https://other.example.com/mcp")),
            ),
            TokenError::WrongAudience,
        ),
        (
            "aud array without us",
            forge(
                &h,
                &with_claim(
                    "aud",
                    json!(["https://a.example.com", "https://mcp.example.com/mcp/"]),
                ),
            ),
            TokenError::WrongAudience,
        ),
        (
            "missing aud",
            forge(&h, &without_claim("aud")),
            TokenError::MissingAudience,
        ),
        (
            "typ JWT",
            forge(&with_header("ES256", "typ", json!("JWT")), &c),
            TokenError::InvalidTyp,
        ),
        (
            "no typ",
            forge(&json!({"alg":"ES256","kid":"p256"}), &c),
            TokenError::InvalidTyp,
        ),
        (
            "unknown crit",
            forge(&with_header("ES256", "crit", json!(["urn:x"])), &c),
            TokenError::UnsupportedCrit,
        ),
        (
            "empty crit",
            forge(&with_header("ES256", "crit", json!([])), &c),
            TokenError::InvalidHeader,
        ),
        (
            "kid not a string",
            forge(&with_header("ES256", "kid", json!(1)), &c),
            TokenError::InvalidHeader,
        ),
        (
            "alg not a string",
            forge_raw(
                "ES256",
                br#"{"alg":["ES256"],"typ":"at+jwt","kid":"p256"}"#,
                p64.as_bytes(),
            ),
            TokenError::InvalidHeader,
        ),
        (
            "missing kid",
            forge(&json!({"alg":"ES256","typ":"at+jwt"}), &c),
            TokenError::MissingKid,
        ),
        (
            "string exp",
            forge(&h, &with_claim("exp", json!("1700003600"))),
            TokenError::InvalidClaimType,
        ),
        (
            "negative exp",
            forge(&h, &with_claim("exp", json!(-1))),
            TokenError::InvalidClaimType,
        ),
        (
            "exp past 2^53 - 1",
            forge(&h, &with_claim("exp", json!(9_007_199_254_740_992u64))),
            TokenError::InvalidClaimType,
        ),
        (
            "exp = u64::MAX",
            forge(&h, &with_claim("exp", json!(u64::MAX))),
            TokenError::InvalidClaimType,
        ),
        (
            "exp past u64::MAX, a float",
            forge_raw(
                "ES256",
                &serde_json::to_vec(&h).unwrap(),
                serde_json::to_string(&c)
                    .unwrap()
                    .replace(&format!("\"exp\":{}", IAT + 3600), "\"exp\":1e300")
                    .as_bytes(),
            ),
            TokenError::InvalidClaimType,
        ),
        (
            "nbf past 2^53 - 1",
            forge(&h, &with_claim("nbf", json!(9.1e15))),
            TokenError::InvalidClaimType,
        ),
        (
            "iat past 2^53 - 1",
            forge(&h, &with_claim("iat", json!(1u64 << 60))),
            TokenError::InvalidClaimType,
        ),
        (
            "lives two days",
            forge(&h, &with_claim("exp", json!(IAT + 2 * 86_400))),
            TokenError::LifetimeTooLong,
        ),
        (
            "no iat, expires in two days",
            forge(&h, &{
                let mut c = without_claim("iat");
                c["exp"] = json!(NOW.as_secs() + 2 * 86_400);
                c
            }),
            TokenError::LifetimeTooLong,
        ),
        (
            "numeric iss",
            forge(&h, &with_claim("iss", json!(1))),
            TokenError::InvalidClaimType,
        ),
        (
            "aud object",
            forge(&h, &with_claim("aud", json!({"a": 1}))),
            TokenError::InvalidClaimType,
        ),
        (
            "aud array of numbers",
            forge(&h, &with_claim("aud", json!([1]))),
            TokenError::InvalidClaimType,
        ),
        (
            "scope array",
            forge(&h, &with_claim("scope", json!(["a"]))),
            TokenError::InvalidClaimType,
        ),
        (
            "null sub",
            forge(&h, &with_claim("sub", Value::Null)),
            TokenError::InvalidClaimType,
        ),
        (
            "duplicate alg in the header",
            forge_raw(
                "ES256",
                br#"{"alg":"ES256","alg":"none","typ":"at+jwt","kid":"p256"}"#,
                p64.as_bytes(),
            ),
            TokenError::DuplicateMember,
        ),
        (
            "duplicate exp in the claims",
            forge_raw(
                "ES256",
                &serde_json::to_vec(&h).unwrap(),
                format!(
                    r#"{{"iss":"{ISSUER}","aud":"{RESOURCE}","exp":1,"exp":{}}}"#,
                    IAT + 3600
                )
                .as_bytes(),
            ),
            TokenError::DuplicateMember,
        ),
        (
            "padding in base64url",
            format!("{h64}.{p64}=.{sig}"),
            TokenError::InvalidBase64,
        ),
        (
            "whitespace in base64url",
            format!("{h64}.{p64}.{} ", sig),
            TokenError::InvalidBase64,
        ),
        (
            "standard base64 alphabet",
            format!("{h64}.{p64}.+{}", &sig[1..]),
            TokenError::InvalidBase64,
        ),
        (
            "header not JSON",
            format!("{}.{p64}.{sig}", b64u(b"alg=ES256")),
            TokenError::InvalidJson,
        ),
        (
            "header a JSON array",
            format!("{}.{p64}.{sig}", b64u(b"[]")),
            TokenError::InvalidJson,
        ),
        (
            "claims not JSON",
            forge_raw("ES256", &serde_json::to_vec(&h).unwrap(), b"not json"),
            TokenError::InvalidJson,
        ),
        (
            "claims not UTF-8",
            forge_raw(
                "ES256",
                &serde_json::to_vec(&h).unwrap(),
                b"{\"sub\":\"\xff\"}",
            ),
            TokenError::InvalidJson,
        ),
        ("oversize token", forge(&h, &big), TokenError::TooLarge),
        ("two parts", input.to_string(), TokenError::Malformed),
        ("four parts", format!("{good}.{sig}"), TokenError::Malformed),
        (
            "empty payload",
            format!("{h64}..{sig}"),
            TokenError::Malformed,
        ),
        ("empty", String::new(), TokenError::Malformed),
    ]
}

#[test]
fn every_case_is_rejected_for_its_reason() {
    for (what, token, expected) in cases() {
        assert_eq!(reason_of(&token), expected, "{what}");
    }
}

/// A second P-256 public key, different from the forge key, published under the same `kid`.
fn p256_twin() -> Value {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    // Uncompressed point: 0x04 || x || y.
    let point = key.public_key().as_ref();
    let mut twin = jwk_values()[1].clone();
    assert_eq!(twin["kid"], "p256");
    twin["x"] = json!(b64u(&point[1..33]));
    twin["y"] = json!(b64u(&point[33..65]));
    assert_ne!(twin, jwk_values()[1], "a different key");
    twin
}

/// The cases that need another configuration or key set: (what, token, keys, verifier,
/// verdict).
fn configured_cases() -> Vec<(
    &'static str,
    String,
    JwkSet,
    AccessTokenVerifier,
    TokenError,
)> {
    let only_rs256: AlgorithmSet = [Algorithm::Rs256].into_iter().collect();
    let rs256_only =
        AccessTokenVerifier::new(VerifierConfig::new(ISSUER, RESOURCE).with_algorithms(only_rs256));
    let mut twins = jwk_values();
    twins.push(p256_twin());
    // Entra ID multi-tenant: a tenant-templated issuer.
    let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
    let entra = |tid: &str, iss_tid: &str| {
        let mut c = claims();
        c["iss"] = json!(format!("https://login.microsoftonline.com/{iss_tid}/v2.0"));
        c["tid"] = json!(tid);
        forge(&header("ES256"), &c)
    };
    let templated = || VerifierConfig::new(template, RESOURCE).with_tenants(["tenant-a"]);
    vec![
        (
            "a tenant outside the allow-list",
            entra("tenant-b", "tenant-b"),
            jwks(),
            AccessTokenVerifier::new(templated()),
            TokenError::TenantNotAllowed,
        ),
        (
            "iss names another tenant than tid",
            entra("tenant-a", "tenant-b"),
            jwks(),
            AccessTokenVerifier::new(templated()),
            TokenError::IssuerTenantMismatch,
        ),
        (
            "ES256 with only RS256 allowed",
            valid_token("ES256"),
            jwks(),
            rs256_only,
            TokenError::AlgNotAllowed,
        ),
        (
            "two P-256 keys under one kid",
            valid_token("ES256"),
            jwks_with(twins),
            verifier(),
            TokenError::AmbiguousKid,
        ),
    ]
}

#[test]
fn configured_cases_are_rejected_for_their_reason() {
    for (what, token, keys, v, expected) in configured_cases() {
        assert_eq!(
            v.verify(&token, &keys, NOW).unwrap_err(),
            Error::InvalidToken(expected),
            "{what}"
        );
    }
}

/// The reasons only an introspection response can give (RFC 7662): (what, response, verdict).
fn introspection_cases() -> Vec<(&'static str, Value, TokenError)> {
    let active = |extra: Value| {
        let mut v = json!({"active": true, "iss": ISSUER, "aud": RESOURCE, "exp": IAT + 3600});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    vec![
        (
            "active: false",
            json!({"active": false}),
            TokenError::Inactive,
        ),
        (
            "a refresh token",
            active(json!({"token_type": "refresh_token"})),
            TokenError::NotAnAccessToken,
        ),
    ]
}

#[test]
fn introspection_cases_are_rejected_for_their_reason() {
    use mcp_authz_core::token_introspection::{parse_response, ClientAuthentication};
    let config = mcp_authz_core::IntrospectionConfig::new(
        "https://auth.example.com/introspect",
        ClientAuthentication::ClientSecretPost {
            client_id: "rs".into(),
            client_secret: "s".into(),
        },
    );
    for (what, body, expected) in introspection_cases() {
        let body = serde_json::to_vec(&body).unwrap();
        let verdict = parse_response(
            200,
            &body,
            &VerifierConfig::new(ISSUER, RESOURCE),
            &config,
            NOW,
        );
        assert_eq!(verdict, Ok(Err(expected)), "{what}");
    }
}

#[test]
fn every_reason_is_covered() {
    // Every verdict of the three lists is asserted by the tests above; here they are counted.
    let covered: BTreeSet<&str> = cases()
        .iter()
        .map(|(_, _, e)| e.reason())
        .chain(configured_cases().iter().map(|(_, _, _, _, e)| e.reason()))
        .chain(introspection_cases().iter().map(|(_, _, e)| e.reason()))
        // The binding verdicts only the exchange gives (DPoP), as observed there.
        .chain(
            crate::dpop::exchange::verdicts()
                .into_iter()
                .filter_map(|(_, r)| r),
        )
        .collect();
    for reason in TokenError::ALL {
        assert!(
            covered.contains(reason.reason()),
            "no negative test for {}",
            reason.reason()
        );
    }
}

#[test]
fn the_valid_token_is_valid_for_every_algorithm() {
    for alg in [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519",
    ] {
        let p = verify(&valid_token(alg)).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(p.algorithm().unwrap().name(), alg);
        assert_eq!(p.subject(), Some("user-1"));
        assert_eq!(p.client_id(), Some("client-1"));
        assert!(p.scopes().eq(["mcp:tools", "mcp:read"]));
        assert_eq!(p.key_id(), Some(kid_for(alg)));
        assert_eq!(p.issuer(), ISSUER);
        assert!(p.audience().eq([RESOURCE]));
        assert_eq!(p.jwt_id(), Some("j1"));
        assert_eq!(p.claim("nbf"), Some(json!(IAT)));
    }
}

#[test]
fn alg_outside_the_allow_list() {
    let only_rs256: AlgorithmSet = [Algorithm::Rs256].into_iter().collect();
    let v =
        AccessTokenVerifier::new(VerifierConfig::new(ISSUER, RESOURCE).with_algorithms(only_rs256));
    v.verify(&valid_token("RS256"), &jwks(), NOW).unwrap();
    for alg in ["ES256", "PS256", "EdDSA", "Ed25519", "ES384"] {
        let err = v.verify(&valid_token(alg), &jwks(), NOW).unwrap_err();
        assert_eq!(err, Error::InvalidToken(TokenError::AlgNotAllowed), "{alg}");
    }
}

#[test]
fn ambiguous_kid() {
    // Two P-256 keys published under one kid: refused rather than guessed.
    let mut keys = jwk_values();
    keys.push(p256_twin());
    let set = jwks_with(keys);
    let err = verifier()
        .verify(&valid_token("ES256"), &set, NOW)
        .unwrap_err();
    assert_eq!(err, Error::InvalidToken(TokenError::AmbiguousKid));
    // Same kid on keys of different types is fine: the alg picks the one that fits.
    let mut keys = jwk_values();
    keys[0]["kid"] = json!("p256");
    let set = jwks_with(keys);
    verifier().verify(&valid_token("ES256"), &set, NOW).unwrap();
    let mut rs = header("RS256");
    rs["kid"] = json!("p256");
    verifier()
        .verify(&forge(&rs, &claims()), &set, NOW)
        .unwrap();
}

#[test]
fn key_alg_binding() {
    // An RSA key bound to RS256 does not verify PS256, though the key type fits.
    let mut keys = jwk_values();
    keys[0]["alg"] = json!("RS256");
    let set = jwks_with(keys);
    verifier().verify(&valid_token("RS256"), &set, NOW).unwrap();
    let err = verifier()
        .verify(&valid_token("PS256"), &set, NOW)
        .unwrap_err();
    assert_eq!(err, Error::InvalidToken(TokenError::KeyAlgMismatch));
    // An Ed25519 key published as "EdDSA" verifies "Ed25519" tokens too (RFC 9864 §2.2), and
    // the reverse.
    for (key_alg, token_alg) in [("EdDSA", "Ed25519"), ("Ed25519", "EdDSA")] {
        let mut keys = jwk_values();
        keys[3]["alg"] = json!(key_alg);
        verifier()
            .verify(&valid_token(token_alg), &jwks_with(keys), NOW)
            .unwrap();
    }
}

#[test]
fn missing_kid_with_single_key_fallback() {
    let v = AccessTokenVerifier::new(
        VerifierConfig::new(ISSUER, RESOURCE).with_kid_policy(KidPolicy::SingleKeyFallback),
    );
    let no_kid = forge(&json!({"alg":"ES256","typ":"at+jwt"}), &claims());
    // Exactly one key fits ES256: used.
    v.verify(&no_kid, &jwks(), NOW).unwrap();
    // Two keys fit: refused.
    let mut keys = jwk_values();
    let mut second = keys[1].clone();
    second["kid"] = json!("p256-b");
    keys.push(second);
    let err = v.verify(&no_kid, &jwks_with(keys), NOW).unwrap_err();
    assert_eq!(err, Error::InvalidToken(TokenError::MissingKid));
    // No key fits.
    let err = v.verify(&no_kid, &JwkSet::default(), NOW).unwrap_err();
    assert_eq!(err, Error::InvalidToken(TokenError::UnknownKid));
}

#[test]
fn time_boundaries_with_and_without_leeway() {
    let h = header("ES256");
    let exp = IAT + 3600;
    let token = forge(&h, &claims());
    let strict =
        AccessTokenVerifier::new(VerifierConfig::new(ISSUER, RESOURCE).with_leeway_secs(0));
    let at = |secs| UnixTime::from_secs(secs);
    // exp: valid strictly before exp (+ leeway).
    strict.verify(&token, &jwks(), at(exp - 1)).unwrap();
    assert_eq!(
        strict
            .verify(&token, &jwks(), at(exp))
            .unwrap_err()
            .reason(),
        "expired"
    );
    verifier().verify(&token, &jwks(), at(exp + 59)).unwrap();
    assert_eq!(
        verifier()
            .verify(&token, &jwks(), at(exp + 60))
            .unwrap_err()
            .reason(),
        "expired"
    );
    // nbf: valid from nbf (- leeway).
    strict.verify(&token, &jwks(), at(IAT)).unwrap();
    assert_eq!(
        strict
            .verify(&token, &jwks(), at(IAT - 1))
            .unwrap_err()
            .reason(),
        "not_yet_valid"
    );
    verifier().verify(&token, &jwks(), at(IAT - 60)).unwrap();
    // Fractional NumericDates round toward the stricter answer.
    let frac = forge(&h, &with_claim("exp", json!(exp as f64 + 0.5)));
    strict.verify(&frac, &jwks(), at(exp - 1)).unwrap();
    assert_eq!(
        strict.verify(&frac, &jwks(), at(exp)).unwrap_err().reason(),
        "expired"
    );
    let nbf_frac = forge(&h, &with_claim("nbf", json!(IAT as f64 + 0.5)));
    assert_eq!(
        strict
            .verify(&nbf_frac, &jwks(), at(IAT))
            .unwrap_err()
            .reason(),
        "not_yet_valid"
    );
    // Without nbf and iat, only exp matters.
    let mut c = without_claim("nbf");
    c.as_object_mut().unwrap().remove("iat");
    strict.verify(&forge(&h, &c), &jwks(), at(0)).unwrap();
}

#[test]
fn audience_forms() {
    let h = header("ES256");
    for aud in [
        json!(RESOURCE),
        json!(["https://other.example.com", RESOURCE]),
        json!("HTTPS://MCP.EXAMPLE.COM:443/mcp"),
    ] {
        verify(&forge(&h, &with_claim("aud", aud.clone())))
            .unwrap_or_else(|e| panic!("{aud}: {e}"));
    }
    for aud in [
        json!("https://mcp.example.com/mcp#x"),
        json!("https://mcp.example.com"),
        json!([]),
    ] {
        assert_eq!(
            reason_of(&forge(&h, &with_claim("aud", aud.clone()))),
            TokenError::WrongAudience,
            "{aud}"
        );
    }
}

#[test]
fn lenient_typ() {
    let v = AccessTokenVerifier::new(
        VerifierConfig::new(ISSUER, RESOURCE).with_typ_policy(TypPolicy::Lenient),
    );
    for typ in [json!("JWT"), json!("application/jwt"), json!("at+jwt")] {
        v.verify(
            &forge(&with_header("ES256", "typ", typ), &claims()),
            &jwks(),
            NOW,
        )
        .unwrap();
    }
    let err = v.verify(
        &forge(&with_header("ES256", "typ", json!("dpop+jwt")), &claims()),
        &jwks(),
        NOW,
    );
    assert_eq!(err.unwrap_err().reason(), "invalid_typ");
}

#[test]
fn scopes_from_scope_or_scp() {
    let h = header("ES256");
    let p = verify(&forge(&h, &with_claim("scope", json!("  a b  a ")))).unwrap();
    assert!(p.has_scope("a") && p.has_scope("b") && !p.has_scope(""));
    let mut c = without_claim("scope");
    c["scp"] = json!(["x", "y"]);
    let p = verify(&forge(&h, &c)).unwrap();
    assert!(p.scopes().eq(["x", "y"]));
    c["scp"] = json!("x y");
    let p = verify(&forge(&h, &c)).unwrap();
    assert!(p.scopes().eq(["x", "y"]));
    assert_eq!(p.require_scopes(["x"]), Ok(()));
    assert_eq!(p.require_scopes(["x", "z"]), Err(Error::InsufficientScope));
    assert_eq!(
        Error::InsufficientScope.bearer_error().unwrap().as_str(),
        "insufficient_scope"
    );
    // azp stands in for a missing client_id.
    let mut c = without_claim("client_id");
    c["azp"] = json!("the-azp");
    assert_eq!(verify(&forge(&h, &c)).unwrap().client_id(), Some("the-azp"));
}

#[test]
fn max_token_len_is_configurable() {
    let token = valid_token("RS256");
    let exact = AccessTokenVerifier::new(
        VerifierConfig::new(ISSUER, RESOURCE).with_max_token_len(token.len()),
    );
    exact.verify(&token, &jwks(), NOW).unwrap();
    let short = AccessTokenVerifier::new(
        VerifierConfig::new(ISSUER, RESOURCE).with_max_token_len(token.len() - 1),
    );
    assert_eq!(
        short.verify(&token, &jwks(), NOW).unwrap_err().reason(),
        "token_too_large"
    );
}

#[test]
fn a_key_removed_from_the_set_no_longer_verifies() {
    let token = valid_token("EdDSA");
    verify(&token).unwrap();
    let mut keys = jwk_values();
    keys.remove(3);
    let err = verifier()
        .verify(&token, &jwks_with(keys), NOW)
        .unwrap_err();
    assert_eq!(err, Error::InvalidToken(TokenError::UnknownKid));
}

#[test]
fn rejections_never_echo_token_bytes() {
    for (what, token, _) in cases() {
        let err = verify(&token).unwrap_err();
        for text in [
            err.to_string(),
            format!("{err:?}"),
            err.description().to_string(),
        ] {
            assert!(
                token.len() < 8 || !text.contains(&token[..8]),
                "{what}: {text}"
            );
        }
    }
}

#[test]
fn claims_beyond_the_accessors_are_kept_as_the_token_carried_them() {
    let mut claims = claims();
    claims["permissions"] = json!(["read:a", "write:b"]);
    claims["org"] = json!({"id": "o-1", "roles": ["admin"]});
    claims["sub"] = json!("us\u{e9}r-1");
    let p = verifier()
        .verify(&forge(&header("ES256"), &claims), &jwks(), NOW)
        .unwrap();
    assert_eq!(p.subject(), Some("us\u{e9}r-1"));
    assert_eq!(Value::Object(p.claims()), claims);
    assert_eq!(
        p.claim("org"),
        Some(json!({"id": "o-1", "roles": ["admin"]}))
    );
    assert_eq!(p.claim("absent"), None);
    let text: Value = serde_json::from_str(p.claims_json()).unwrap();
    assert_eq!(text, claims);
    // An escaped string is read the same as a plain one.
    let escaped = forge_raw(
        "ES256",
        &serde_json::to_vec(&header("ES256")).unwrap(),
        serde_json::to_string(&claims)
            .unwrap()
            .replace("user-1", "\\u0075ser-1")
            .replace("us\u{e9}r-1", "us\\u00e9r-1")
            .as_bytes(),
    );
    let q = verifier().verify(&escaped, &jwks(), NOW).unwrap();
    assert_eq!(q.subject(), Some("us\u{e9}r-1"));
    assert_eq!(q.claims(), p.claims());
}

#[test]
fn claim_range_and_lifetime_boundaries() {
    let h = header("ES256");
    // 2^53 - 1 is the last NumericDate in range; with no lifetime limit such a token is valid.
    let far = forge(&h, &with_claim("exp", json!(9_007_199_254_740_991u64)));
    assert!(verifier().verify(&far, &jwks(), NOW).is_ok());
    assert_eq!(reason_of(&far), TokenError::LifetimeTooLong);
    // Exactly the maximum lifetime is accepted; one second more is not.
    let config = VerifierConfig::new(ISSUER, RESOURCE).with_max_lifetime_secs(Some(3600));
    let v = AccessTokenVerifier::new(config);
    assert!(v.verify(&valid_token("ES256"), &jwks(), NOW).is_ok());
    let longer = forge(&h, &with_claim("exp", json!(IAT + 3601)));
    assert_eq!(
        v.verify(&longer, &jwks(), NOW).unwrap_err(),
        Error::InvalidToken(TokenError::LifetimeTooLong)
    );
    // Off by default.
    assert!(verifier().verify(&longer, &jwks(), NOW).is_ok());
}
