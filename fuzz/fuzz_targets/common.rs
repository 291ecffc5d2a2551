//! Fixed keys and configuration shared by the targets: an Ed25519 key from a fixed seed (so the
//! structure-aware target can sign what the fuzzer builds) and an RSA and a P-256 public key.

#![allow(dead_code)]

use std::sync::OnceLock;

use base64ct::{Base64UrlUnpadded, Encoding};
use mcp_authz_core::{AccessTokenVerifier, JwkSet, JwksLimits, UnixTime, VerifierConfig};
use ring::signature::{Ed25519KeyPair, KeyPair};

pub const ISSUER: &str = "https://auth.example.com";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const NOW: UnixTime = UnixTime::from_secs(1_700_000_060);

pub fn signer() -> &'static Ed25519KeyPair {
    static KEY: OnceLock<Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("seed"))
}

pub fn b64u(b: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(b)
}

pub fn keys() -> &'static JwkSet {
    static KEYS: OnceLock<JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let x = b64u(signer().public_key().as_ref());
        let doc = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"{x}"}},
            {{"kty":"EC","crv":"P-256","kid":"p256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}]}}"#
        );
        JwkSet::parse(doc.as_bytes(), &JwksLimits::default()).expect("fixed key set")
    })
}

pub fn verifier() -> &'static AccessTokenVerifier {
    static V: OnceLock<AccessTokenVerifier> = OnceLock::new();
    V.get_or_init(|| AccessTokenVerifier::new(VerifierConfig::new(ISSUER, RESOURCE)))
}

/// A compact JWS of exactly these bytes, signed EdDSA with the fixed key.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64u(header), b64u(payload));
    let sig = signer().sign(input.as_bytes());
    format!("{input}.{}", b64u(sig.as_ref()))
}
