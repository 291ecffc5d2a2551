//! The proxy's signed identity for the upstream (`--identity-assertion`): a short-lived ES256 JWT
//! (RFC 7519, RFC 7515) in one header, the way Pomerium's `X-Pomerium-Jwt-Assertion` works, so
//! that an upstream can refuse requests that did not come through the proxy.
//!
//! Claims: `iss` the proxy's resource URL, `aud` the upstream URL, `sub`, `client_id`, `scope`,
//! `token_iss` (the authorization server that issued the client's token), `iat`, `exp`
//! (`iat` + at most 60 s) and `jti`. The key is P-256, loaded from a PKCS#8 PEM file or made at
//! start; its public JWK Set is served at [`JWKS_PATH`], the `kid` being its RFC 7638 thumbprint.
//! Signing is `ring`'s; base64url is the `base64` crate's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use mcp_authz_core::Principal;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

fn b64u(bytes: impl AsRef<[u8]>) -> String {
    Base64UrlUnpadded::encode_string(bytes.as_ref())
}

/// The RFC 7638 thumbprint of the P-256 public key (`x`, `y` base64url): SHA-256 over the
/// required members in lexicographic order, without whitespace (§3).
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64u(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// Where the proxy serves the public keys of its assertions.
pub const JWKS_PATH: &str = "/.well-known/mcp-authz/jwks.json";

/// The longest an assertion lives.
pub const MAX_LIFETIME: Duration = Duration::from_secs(60);

/// Signs identity assertions for one upstream.
pub struct Asserter {
    key: EcdsaKeyPair,
    kid: String,
    jwks: String,
    issuer: String,
    audience: String,
    lifetime: Duration,
    rng: SystemRandom,
}

impl std::fmt::Debug for Asserter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asserter")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Asserter {
    /// An asserter for `issuer` (the proxy's resource URL) to `audience` (the upstream URL),
    /// with the P-256 key of the PKCS#8 PEM file `key_file`, or a key made now.
    ///
    /// # Errors
    /// When the file cannot be read or holds no P-256 PKCS#8 key.
    pub fn new(
        issuer: &str,
        audience: &str,
        key_file: Option<&std::path::Path>,
        lifetime: Duration,
    ) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let pkcs8: Vec<u8> = match key_file {
            Some(path) => {
                use rustls::pki_types::pem::PemObject;
                let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(&pem)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                der.secret_pkcs8_der().to_vec()
            }
            None => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| "cannot make a P-256 key".to_owned())?
                .as_ref()
                .to_vec(),
        };
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|_| "the identity assertion key is not a P-256 PKCS#8 key".to_owned())?;
        // Uncompressed point: 0x04 || x || y.
        let point = key.public_key().as_ref();
        let (x, y) = match (point.get(1..33), point.get(33..65)) {
            (Some(x), Some(y)) => (b64u(x), b64u(y)),
            _ => return Err("unexpected P-256 public key".into()),
        };
        let kid = thumbprint(&x, &y);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig",
        }]})
        .to_string();
        Ok(Self {
            key,
            kid,
            jwks,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime: lifetime.min(MAX_LIFETIME),
            rng,
        })
    }

    /// The public JWK Set document.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The assertion for `principal`, now.
    ///
    /// # Errors
    /// When the system clock or the signature fails.
    pub fn assert(&self, principal: &Principal) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970".to_owned())?
            .as_secs();
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| "no randomness".to_owned())?;
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let claims = serde_json::json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": principal.subject(),
            "client_id": principal.client_id(),
            "scope": principal.scopes().collect::<Vec<_>>().join(" "),
            "token_iss": principal.issuer(),
            "iat": now,
            "exp": now + self.lifetime.as_secs(),
            "jti": b64u(jti),
        });
        let input = format!("{}.{}", b64u(header.to_string()), b64u(claims.to_string()));
        let signature = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| "signing failed".to_owned())?;
        Ok(format!("{input}.{}", b64u(signature.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::Base64;

    #[test]
    fn a_key_file_gives_a_stable_kid_and_a_bad_one_an_error() {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            Base64::encode_string(der.as_ref())
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.pem");
        std::fs::write(&file, pem).unwrap();
        let a = Asserter::new("https://p/mcp", "http://u/mcp", Some(&file), MAX_LIFETIME).unwrap();
        let b = Asserter::new("https://p/mcp", "http://u/mcp", Some(&file), MAX_LIFETIME).unwrap();
        assert_eq!(a.jwks(), b.jwks(), "the same key, the same thumbprint");
        let made = Asserter::new("https://p/mcp", "http://u/mcp", None, MAX_LIFETIME).unwrap();
        assert_ne!(a.jwks(), made.jwks());
        // Never longer than 60 s.
        let long = Asserter::new(
            "https://p/mcp",
            "http://u/mcp",
            None,
            Duration::from_secs(3600),
        );
        assert_eq!(long.unwrap().lifetime, MAX_LIFETIME);
        std::fs::write(&file, "not a key").unwrap();
        assert!(Asserter::new("https://p/mcp", "http://u/mcp", Some(&file), MAX_LIFETIME).is_err());
    }

    #[test]
    fn the_kid_is_the_rfc7638_thumbprint() {
        // RFC 7517 Appendix A.1's P-256 key; the expected value was computed with npm `jose`'s
        // `calculateJwkThumbprint` (the interop rig's node_modules).
        let x = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
        let y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
        assert_eq!(
            thumbprint(x, y),
            "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s"
        );
    }
}
