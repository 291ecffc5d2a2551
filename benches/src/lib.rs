//! Fixtures for the benchmarks of the mcp-authz hot path (criterion; see `benches/`).
//!
//! The tokens are the committed interop test data of the core: JWT access tokens signed by
//! jwcrypto (`core/tests/data/interop/jwcrypto.json`), so the benchmarks verify the same bytes
//! another library produced.

use base64ct::{Base64UrlUnpadded, Encoding};
use mcp_authz_core::{AccessTokenVerifier, JwkSet, JwksLimits, UnixTime, VerifierConfig};
use ring::signature::{self, UnparsedPublicKey};
use serde_json::Value;

/// The body of the decision benchmarks: one `tools/call`, read for the per-tool rule.
pub const CALL_BODY: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;

/// The guard of the decision benchmarks: `verifier`'s issuer and resource, `mcp:tools` for
/// every call and `mcp:admin` for the tool `admin` (so every body is read).
pub fn tool_guard(verifier: &AccessTokenVerifier) -> mcp_authz_core::Guard {
    mcp_authz_core::Guard::new(
        VerifierConfig::new(verifier.config().issuer(), verifier.config().resource()),
        mcp_authz_core::ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin", ["mcp:admin"]),
    )
}

/// `f` of the request the decision benchmarks make: `POST /mcp` with `Bearer token` and a JSON
/// body (the body itself is handed to [`decide`]).
pub fn with_call_request<R>(token: &str, f: impl FnOnce(&mcp_authz_core::Request<'_>) -> R) -> R {
    let auth = format!("Bearer {token}");
    let headers: [&[u8]; 1] = [auth.as_bytes()];
    let json: [&[u8]; 1] = [b"application/json"];
    f(&mcp_authz_core::Request::new("POST", "/mcp")
        .with_authorization(&headers)
        .with_body(&json, &[]))
}

/// One decision as an adapter drives it: poll the exchange with `keys` (a `KeyState`, or one
/// per authorization server), hand it `body` when it asks, and say whether the verdict allows.
pub fn decide<K: mcp_authz_core::jwks_refresh::KeySource + ?Sized>(
    guard: &mcp_authz_core::Guard,
    request: &mcp_authz_core::Request<'_>,
    body: &[u8],
    keys: &K,
    now: UnixTime,
    cache: Option<&dyn mcp_authz_core::token_cache::PrincipalCache>,
) -> bool {
    use mcp_authz_core::exchange::Step;
    let mut exchange = guard.exchange();
    loop {
        match exchange.poll(std::hint::black_box(request), keys, now, cache) {
            Step::ReadBody { .. } => exchange.handle_body(std::hint::black_box(body)),
            step => return matches!(step, Step::Allow(_)),
        }
    }
}

/// One benchmark case: a valid token and everything needed to verify it two ways.
pub struct Case {
    /// The JWS `alg`.
    pub alg: String,
    /// The compact token.
    pub token: String,
    /// The JWS signing input (`header.payload`).
    pub signing_input: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The key material of the JWK the token names, decoded once, as `ring` takes it.
    pub key: RingKey,
}

/// Key material, decoded ahead of time so the floor measures `ring` alone.
pub enum RingKey {
    /// RSA modulus and exponent.
    Rsa(Vec<u8>, Vec<u8>),
    /// SEC 1 uncompressed EC point.
    Ec(Vec<u8>),
    /// Ed25519 public key.
    Ed25519(Vec<u8>),
}

/// The jwcrypto test data: the verifier, its key set, the instant the tokens are valid at, and
/// one case per algorithm.
pub fn fixtures() -> (AccessTokenVerifier, JwkSet, UnixTime, Vec<Case>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/data/interop/jwcrypto.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let file: Value = serde_json::from_str(&text).unwrap_or_default();
    let jwks = serde_json::to_vec(&file["jwks"]).unwrap_or_default();
    let keys = JwkSet::parse(&jwks, &JwksLimits::default()).unwrap_or_default();
    let verifier = AccessTokenVerifier::new(VerifierConfig::new(
        file["issuer"].as_str().unwrap_or_default(),
        file["resource"].as_str().unwrap_or_default(),
    ));
    let now = UnixTime::from_secs(file["now"].as_u64().unwrap_or_default());
    let mut cases = Vec::new();
    for t in file["tokens"].as_array().into_iter().flatten() {
        let note = t["note"].as_str().unwrap_or_default();
        if t["expect"] != "valid" || !(note.starts_with("a valid") || note.starts_with("RFC 9864"))
        {
            continue;
        }
        let token = t["token"].as_str().unwrap_or_default().to_string();
        let Some((input, sig)) = token.rsplit_once('.') else {
            continue;
        };
        let header: Value = input
            .split('.')
            .next()
            .and_then(|h| Base64UrlUnpadded::decode_vec(h).ok())
            .and_then(|h| serde_json::from_slice(&h).ok())
            .unwrap_or_default();
        let kid = header["kid"].clone();
        let jwk = file["jwks"]["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["kid"] == kid)
            .cloned()
            .unwrap_or_default();
        cases.push(Case {
            alg: t["alg"].as_str().unwrap_or_default().to_string(),
            signing_input: input.as_bytes().to_vec(),
            signature: Base64UrlUnpadded::decode_vec(sig).unwrap_or_default(),
            token,
            key: match jwk["kty"].as_str() {
                Some("RSA") => RingKey::Rsa(member(&jwk, "n"), member(&jwk, "e")),
                Some("EC") => {
                    let mut p = vec![4u8];
                    p.extend(member(&jwk, "x"));
                    p.extend(member(&jwk, "y"));
                    RingKey::Ec(p)
                }
                _ => RingKey::Ed25519(member(&jwk, "x")),
            },
        });
    }
    (verifier, keys, now, cases)
}

fn member(jwk: &Value, name: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(jwk[name].as_str().unwrap_or_default()).unwrap_or_default()
}

/// The floor: `ring` verifying the same signature with the same key and nothing else.
/// Returns whether it verified.
pub fn ring_verify(case: &Case) -> bool {
    let (msg, sig) = (case.signing_input.as_slice(), case.signature.as_slice());
    let rsa = |params: &'static signature::RsaParameters| match &case.key {
        RingKey::Rsa(n, e) => signature::RsaPublicKeyComponents { n, e }
            .verify(params, msg, sig)
            .is_ok(),
        _ => false,
    };
    let other = |alg: &'static dyn signature::VerificationAlgorithm| match &case.key {
        RingKey::Ec(k) | RingKey::Ed25519(k) => {
            UnparsedPublicKey::new(alg, k).verify(msg, sig).is_ok()
        }
        RingKey::Rsa(..) => false,
    };
    match case.alg.as_str() {
        "RS256" => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => rsa(&signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => rsa(&signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => rsa(&signature::RSA_PSS_2048_8192_SHA512),
        "ES256" => other(&signature::ECDSA_P256_SHA256_FIXED),
        "ES384" => other(&signature::ECDSA_P384_SHA384_FIXED),
        "EdDSA" | "Ed25519" => other(&signature::ED25519),
        _ => false,
    }
}

/// The floor of the aws-lc-rs backend: the case's key parsed once ahead
/// (`aws_lc_rs::signature::ParsedPublicKey`), then nothing but its verification.
pub struct AwsLcFloor(aws_lc_rs::signature::ParsedPublicKey);

impl AwsLcFloor {
    /// The parsed key for the case's algorithm; `None` for an algorithm it does not know.
    pub fn new(case: &Case) -> Option<Self> {
        use aws_lc_rs::signature::{self as s, ParsedPublicKey, RsaPublicKeyComponents};
        let rsa = |params: &'static s::RsaParameters| match &case.key {
            RingKey::Rsa(n, e) => RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(params)
                .ok(),
            _ => None,
        };
        let other = |alg: &'static dyn s::VerificationAlgorithm| match &case.key {
            RingKey::Ec(k) | RingKey::Ed25519(k) => ParsedPublicKey::new(alg, k).ok(),
            RingKey::Rsa(..) => None,
        };
        let parsed = match case.alg.as_str() {
            "RS256" => rsa(&s::RSA_PKCS1_2048_8192_SHA256),
            "RS384" => rsa(&s::RSA_PKCS1_2048_8192_SHA384),
            "RS512" => rsa(&s::RSA_PKCS1_2048_8192_SHA512),
            "PS256" => rsa(&s::RSA_PSS_2048_8192_SHA256),
            "PS384" => rsa(&s::RSA_PSS_2048_8192_SHA384),
            "PS512" => rsa(&s::RSA_PSS_2048_8192_SHA512),
            "ES256" => other(&s::ECDSA_P256_SHA256_FIXED),
            "ES384" => other(&s::ECDSA_P384_SHA384_FIXED),
            "EdDSA" | "Ed25519" => other(&s::ED25519),
            _ => None,
        };
        parsed.map(Self)
    }

    /// Whether the case's signature verifies.
    pub fn verify(&self, case: &Case) -> bool {
        self.0
            .verify_sig(&case.signing_input, &case.signature)
            .is_ok()
    }
}

/// `jsonwebtoken` 9 (ring-based) set up to do our checks on a case: the key pre-built from the
/// same JWK, iss, aud, exp and nbf validated.
pub struct JsonWebToken {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl JsonWebToken {
    /// For the algorithms the comparison covers (RS256, PS256, ES256, EdDSA); `None` otherwise.
    pub fn new(case: &Case, issuer: &str, resource: &str) -> Option<Self> {
        use jsonwebtoken::{Algorithm as A, DecodingKey};
        let b64 = |b: &[u8]| Base64UrlUnpadded::encode_string(b);
        let alg = match case.alg.as_str() {
            "RS256" => A::RS256,
            "PS256" => A::PS256,
            "ES256" => A::ES256,
            "EdDSA" => A::EdDSA,
            _ => return None,
        };
        let key = match &case.key {
            RingKey::Rsa(n, e) => DecodingKey::from_rsa_components(&b64(n), &b64(e)).ok()?,
            RingKey::Ec(p) => {
                DecodingKey::from_ec_components(&b64(p.get(1..33)?), &b64(p.get(33..65)?)).ok()?
            }
            RingKey::Ed25519(x) => DecodingKey::from_ed_components(&b64(x)).ok()?,
        };
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[resource]);
        // The fixtures' claims are valid at their `now` (2023): jsonwebtoken reads the system
        // clock, so its leeway must cover the distance to that instant.
        validation.leeway = 10 * 365 * 24 * 3600;
        validation.validate_nbf = true;
        Some(Self { key, validation })
    }

    /// `decode::<serde_json::Value>`; whether it accepted.
    pub fn decode(&self, token: &str) -> bool {
        jsonwebtoken::decode::<Value>(token, &self.key, &self.validation).is_ok()
    }
}

/// `jsonwebtoken` 10 on its `aws_lc_rs` provider, set up exactly as [`JsonWebToken`].
pub struct JsonWebToken10 {
    key: jsonwebtoken10::DecodingKey,
    validation: jsonwebtoken10::Validation,
}

impl JsonWebToken10 {
    /// For RS256, PS256, ES256 and EdDSA; `None` otherwise.
    pub fn new(case: &Case, issuer: &str, resource: &str) -> Option<Self> {
        use jsonwebtoken10::{Algorithm as A, DecodingKey};
        let b64 = |b: &[u8]| Base64UrlUnpadded::encode_string(b);
        let alg = match case.alg.as_str() {
            "RS256" => A::RS256,
            "PS256" => A::PS256,
            "ES256" => A::ES256,
            "EdDSA" => A::EdDSA,
            _ => return None,
        };
        let key = match &case.key {
            RingKey::Rsa(n, e) => DecodingKey::from_rsa_components(&b64(n), &b64(e)).ok()?,
            RingKey::Ec(p) => {
                DecodingKey::from_ec_components(&b64(p.get(1..33)?), &b64(p.get(33..65)?)).ok()?
            }
            RingKey::Ed25519(x) => DecodingKey::from_ed_components(&b64(x)).ok()?,
        };
        let mut validation = jsonwebtoken10::Validation::new(alg);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[resource]);
        validation.leeway = 10 * 365 * 24 * 3600;
        validation.validate_nbf = true;
        Some(Self { key, validation })
    }

    /// `decode::<serde_json::Value>`; whether it accepted.
    pub fn decode(&self, token: &str) -> bool {
        jsonwebtoken10::decode::<Value>(token, &self.key, &self.validation).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_verifies_both_ways() {
        let (verifier, keys, now, cases) = fixtures();
        assert_eq!(cases.len(), 10);
        for case in &cases {
            assert!(ring_verify(case), "{}", case.alg);
            let aws = AwsLcFloor::new(case).unwrap_or_else(|| panic!("{}", case.alg));
            assert!(aws.verify(case), "{}", case.alg);
            let (iss, aud) = (verifier.config().issuer(), verifier.config().resource());
            if let (Some(j9), Some(j10)) = (
                JsonWebToken::new(case, iss, aud),
                JsonWebToken10::new(case, iss, aud),
            ) {
                assert!(j9.decode(&case.token), "jsonwebtoken 9, {}", case.alg);
                assert!(j10.decode(&case.token), "jsonwebtoken 10, {}", case.alg);
            }
            verifier
                .verify(&case.token, &keys, now)
                .unwrap_or_else(|e| panic!("{}: {e}", case.alg));
        }
    }
}
