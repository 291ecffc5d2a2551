//! A DPoP client for the proxy's tests (RFC 9449): a P-256 key, an access token the AS double
//! bound to it (`cnf.jkt`), and proofs made with the key.

#![allow(dead_code)]

use serde_json::Value;

/// A DPoP client: its key, and an access token the AS double bound to it.
pub(crate) struct DpopClient {
    key: ring::signature::EcdsaKeyPair,
    jwk: Value,
    pub(crate) token: String,
}

impl DpopClient {
    pub(crate) fn new(double: &mcp_authz_testkit::as_double::AsDouble, resource: &str) -> Self {
        use mcp_authz_core::dpop::jwk_thumbprint;
        use mcp_authz_testkit::jwt::{new_p256, p256_jwk};
        let key = new_p256().unwrap();
        let mut jwk = p256_jwk(&key, "unused");
        jwk.as_object_mut().unwrap().remove("kid");
        let jkt = jwk_thumbprint(jwk.as_object().unwrap()).unwrap();
        let mut claims = double.claims(resource, "mcp:tools");
        claims["cnf"] = serde_json::json!({ "jkt": jkt });
        let token = double.sign(&claims);
        Self { key, jwk, token }
    }

    pub(crate) fn proof(&self, jti: &str, htu: &str, nonce: Option<&str>) -> String {
        use mcp_authz_core::dpop::access_token_hash;
        use mcp_authz_testkit::jwt::{b64u, unix_now};
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let mut body = serde_json::json!({"jti": jti, "htm": "POST", "htu": htu, "iat": unix_now(),
            "ath": access_token_hash(&self.token)});
        if let Some(n) = nonce {
            body["nonce"] = serde_json::json!(n);
        }
        let input = format!(
            "{}.{}",
            b64u(header.to_string().as_bytes()),
            b64u(body.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64u(sig.as_ref()))
    }
}
