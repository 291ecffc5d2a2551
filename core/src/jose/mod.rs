//! JOSE: JSON Web Signature ([RFC 7515](https://www.rfc-editor.org/rfc/rfc7515)), JSON Web Key
//! ([RFC 7517](https://www.rfc-editor.org/rfc/rfc7517)) and the algorithms of
//! [RFC 7518](https://www.rfc-editor.org/rfc/rfc7518), [RFC 8037](https://www.rfc-editor.org/rfc/rfc8037)
//! and [RFC 9864](https://www.rfc-editor.org/rfc/rfc9864).
//!
//! - [`alg`]: the static allow-list table, each algorithm bound to its key type and the backend's verifier.
//! - [`jwk`]: JWK Sets, parsed strictly, each unusable key skipped with a reason.
//! - [`jws`]: compact serialization and the signature check.

pub mod alg;
pub mod jwk;
pub mod jwks_refresh;
pub mod jws;
mod prepared;

use alloc::vec::Vec;
use base64ct::{Base64UrlUnpadded, Encoding};

/// Decodes canonical unpadded base64url ([RFC 7515 §2](https://www.rfc-editor.org/rfc/rfc7515#section-2)).
///
/// Padding, whitespace, characters outside the URL-safe alphabet and non-zero trailing bits are
/// all errors: a value has exactly one accepted encoding.
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(input).ok()
}

/// Encodes bytes as unpadded base64url.
pub fn base64url_encode(input: &[u8]) -> alloc::string::String {
    Base64UrlUnpadded::encode_string(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(base64url_decode("QQ").as_deref(), Some(&b"A"[..]));
        assert_eq!(base64url_decode("").as_deref(), Some(&b""[..]));
        // Padding, whitespace, the standard alphabet, non-canonical trailing bits, bad length.
        for bad in [
            "QQ==", "QQ=", " QQ", "QQ\n", "Q Q", "a+b/", "QR", "Q", "QUJD\r\n",
        ] {
            assert_eq!(base64url_decode(bad), None, "{bad:?}");
        }
        assert_eq!(base64url_decode("_-8").as_deref(), Some(&[0xff, 0xef][..]));
    }
}
