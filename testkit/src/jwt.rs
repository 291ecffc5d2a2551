//! Keys and signed access tokens for tests and the development authorization server: P-256 and
//! Ed25519 keys made with `ring`, their public JWKs, and RFC 9068 tokens (`typ: at+jwt`) signed
//! with them.

use std::time::{SystemTime, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// Unpadded base64url (RFC 7515 §2).
pub fn b64u(b: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(b)
}

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random string of `n` bytes, base64url.
pub fn random(n: usize) -> String {
    let mut b = vec![0u8; n];
    let _ = SystemRandom::new().fill(&mut b);
    b64u(&b)
}

/// A fresh P-256 signing key.
///
/// # Errors
/// When `ring` cannot make one (no system randomness).
pub fn new_p256() -> Result<EcdsaKeyPair, String> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| e.to_string())?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| e.to_string())
}

/// A fresh Ed25519 signing key.
///
/// # Errors
/// When `ring` cannot make one (no system randomness).
pub fn new_ed25519() -> Result<Ed25519KeyPair, String> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|e| e.to_string())?;
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())
}

/// The public JWK of a P-256 key (RFC 7518 §6.2), bound to ES256.
pub fn p256_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
    // The uncompressed point: 0x04 || x || y.
    let p = key.public_key().as_ref();
    let (x, y) = (
        p.get(1..33).unwrap_or_default(),
        p.get(33..65).unwrap_or_default(),
    );
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
           "x": b64u(x), "y": b64u(y)})
}

/// The public JWK of an Ed25519 key (RFC 8037 §2).
pub fn ed_jwk(key: &Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64u(key.public_key().as_ref())})
}

fn signing_input(alg: &str, kid: &str, claims: &Value) -> Result<String, String> {
    let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
    Ok(format!(
        "{}.{}",
        b64u(&serde_json::to_vec(&header).map_err(|e| e.to_string())?),
        b64u(&serde_json::to_vec(claims).map_err(|e| e.to_string())?)
    ))
}

/// An ES256 access token with `claims`, header `{"alg":"ES256","typ":"at+jwt","kid":kid}`.
///
/// # Errors
/// When the claims do not serialize or `ring` cannot sign.
pub fn sign_es256(key: &EcdsaKeyPair, kid: &str, claims: &Value) -> Result<String, String> {
    let input = signing_input("ES256", kid, claims)?;
    let sig = key
        .sign(&SystemRandom::new(), input.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(format!("{input}.{}", b64u(sig.as_ref())))
}

/// An EdDSA access token with `claims`.
///
/// # Errors
/// When the claims do not serialize.
pub fn sign_eddsa(key: &Ed25519KeyPair, kid: &str, claims: &Value) -> Result<String, String> {
    let input = signing_input("EdDSA", kid, claims)?;
    Ok(format!(
        "{input}.{}",
        b64u(key.sign(input.as_bytes()).as_ref())
    ))
}
