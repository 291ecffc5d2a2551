//! Shared helpers: test keys (from `data/interop/forge-keys.json`, made by another library) and a
//! token forger that signs any header and claims bytes, so tests can craft hostile tokens.

use std::sync::OnceLock;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use mcp_authz_core::{AccessTokenVerifier, JwkSet, JwksLimits, UnixTime, VerifierConfig};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://auth.example.com";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const IAT: u64 = 1_700_000_000;
pub const NOW: UnixTime = UnixTime::from_secs(IAT + 60);

pub fn data(path: &str) -> String {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

pub fn b64u(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

pub struct Keys {
    pub rsa: RsaKeyPair,
    pub p256: EcdsaKeyPair,
    pub p384: EcdsaKeyPair,
    pub ed25519: Ed25519KeyPair,
    pub rng: SystemRandom,
}

/// A PKCS#8 private key of `data/interop/forge-keys.json`, DER.
pub fn forge_key_der(name: &str) -> Vec<u8> {
    let file: Value = serde_json::from_str(&data("interop/forge-keys.json")).unwrap();
    Base64::decode_vec(file[name].as_str().unwrap()).unwrap()
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let der = forge_key_der;
        let rng = SystemRandom::new();
        Keys {
            rsa: RsaKeyPair::from_pkcs8(&der("rsa2048_pkcs8")).unwrap(),
            p256: EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der("p256_pkcs8"),
                &rng,
            )
            .unwrap(),
            p384: EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &der("p384_pkcs8"),
                &rng,
            )
            .unwrap(),
            ed25519: Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der("ed25519_pkcs8")).unwrap(),
            rng,
        }
    })
}

/// The public JWKs of the forge keys: kids `rsa`, `p256`, `p384`, `ed25519`.
pub fn jwk_values() -> Vec<Value> {
    let k = keys();
    let rsa = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(k.rsa.public());
    let point = |p: &[u8], size: usize| (b64u(&p[1..1 + size]), b64u(&p[1 + size..]));
    let (x256, y256) = point(k.p256.public_key().as_ref(), 32);
    let (x384, y384) = point(k.p384.public_key().as_ref(), 48);
    vec![
        json!({"kty":"RSA","kid":"rsa","use":"sig",
               "n": b64u(&rsa.n), "e": b64u(&rsa.e)}),
        json!({"kty":"EC","crv":"P-256","kid":"p256","x":x256,"y":y256}),
        json!({"kty":"EC","crv":"P-384","kid":"p384","x":x384,"y":y384,"key_ops":["verify"]}),
        json!({"kty":"OKP","crv":"Ed25519","kid":"ed25519","x":b64u(k.ed25519.public_key().as_ref())}),
    ]
}

pub fn jwks_with(keys: Vec<Value>) -> JwkSet {
    let doc = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
    JwkSet::parse(&doc, &JwksLimits::default()).unwrap()
}

pub fn jwks() -> JwkSet {
    jwks_with(jwk_values())
}

pub fn verifier() -> AccessTokenVerifier {
    AccessTokenVerifier::new(VerifierConfig::new(ISSUER, RESOURCE))
}

/// Claims of a valid token at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": RESOURCE, "sub": "user-1", "client_id": "client-1",
        "scope": "mcp:tools mcp:read", "iat": IAT, "nbf": IAT, "exp": IAT + 3600, "jti": "j1",
    })
}

/// The kid of the forge key that signs `alg`.
pub fn kid_for(alg: &str) -> &'static str {
    match alg {
        "ES256" => "p256",
        "ES384" => "p384",
        "EdDSA" | "Ed25519" => "ed25519",
        _ => "rsa",
    }
}

pub fn header(alg: &str) -> Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": kid_for(alg)})
}

/// Signs `signing_input` as `alg` with the forge key for it.
pub fn sign_raw(alg: &str, signing_input: &[u8]) -> Vec<u8> {
    let k = keys();
    let rsa = |params: &'static dyn signature::RsaEncoding| {
        let mut sig = vec![0; k.rsa.public().modulus_len()];
        k.rsa.sign(params, &k.rng, signing_input, &mut sig).unwrap();
        sig
    };
    match alg {
        "RS256" => rsa(&signature::RSA_PKCS1_SHA256),
        "RS384" => rsa(&signature::RSA_PKCS1_SHA384),
        "RS512" => rsa(&signature::RSA_PKCS1_SHA512),
        "PS256" => rsa(&signature::RSA_PSS_SHA256),
        "PS384" => rsa(&signature::RSA_PSS_SHA384),
        "PS512" => rsa(&signature::RSA_PSS_SHA512),
        "ES256" => k
            .p256
            .sign(&k.rng, signing_input)
            .unwrap()
            .as_ref()
            .to_vec(),
        "ES384" => k
            .p384
            .sign(&k.rng, signing_input)
            .unwrap()
            .as_ref()
            .to_vec(),
        "EdDSA" | "Ed25519" => k.ed25519.sign(signing_input).as_ref().to_vec(),
        other => panic!("no forge key for {other}"),
    }
}

/// A compact JWS of exactly these header and payload bytes, signed as `alg`.
pub fn forge_raw(alg: &str, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64u(header), b64u(payload));
    let sig = sign_raw(alg, input.as_bytes());
    format!("{input}.{}", b64u(&sig))
}

/// A compact JWS of `header` and `claims`, signed with the forge key for the header's `alg`.
pub fn forge(header: &Value, claims: &Value) -> String {
    let alg = header["alg"].as_str().unwrap();
    forge_raw(
        alg,
        &serde_json::to_vec(header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
    )
}

/// A valid token signed as `alg`.
pub fn valid_token(alg: &str) -> String {
    forge(&header(alg), &claims())
}

/// One `application/x-www-form-urlencoded` name or value decoded by the standard rules (`+` a
/// space, `%XX` a byte), independently of the encoders under test.
pub fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}
