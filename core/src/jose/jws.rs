//! JWS compact serialization ([RFC 7515 §7.1](https://www.rfc-editor.org/rfc/rfc7515#section-7.1))
//! and the JOSE header ([RFC 7515 §4](https://www.rfc-editor.org/rfc/rfc7515#section-4)).
//!
//! Parsing is strict: exactly three non-empty parts; canonical unpadded base64url; a header that
//! is a JSON object without duplicate names (RFC 7515 §5.2 step 4); `alg` from the supported
//! table, never `none`; `crit` refused unless empty of extensions we understand (we understand
//! none). `jku`, `x5u`, `jwk` and `x5c` are never used to find a key: keys come only from the
//! configured JWK Set.

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::error::TokenError;
use crate::jose::alg::{verify_signature, Algorithm};
use crate::jose::base64url_decode;
use crate::jose::jwk::Jwk;
use crate::json::{self, JsonError};

/// The JOSE header parameters this crate acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
}

impl Header {
    /// The signature algorithm (`alg`).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key ID (`kid`), if present.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The media type of the whole token (`typ`), if present.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    fn from_object(obj: &Map<String, Value>) -> Result<Self, TokenError> {
        let alg = match obj.get("alg") {
            Some(Value::String(name)) if name.eq_ignore_ascii_case("none") => {
                return Err(TokenError::AlgNone)
            }
            Some(Value::String(name)) => {
                Algorithm::from_name(name).ok_or(TokenError::UnsupportedAlg)?
            }
            _ => return Err(TokenError::InvalidHeader),
        };
        match obj.get("crit") {
            None => {}
            // RFC 7515 §4.1.11: a non-empty array of names. We implement no extension, so any
            // well-formed `crit` names one we do not understand.
            Some(Value::Array(names))
                if !names.is_empty() && names.iter().all(Value::is_string) =>
            {
                return Err(TokenError::UnsupportedCrit)
            }
            Some(_) => return Err(TokenError::InvalidHeader),
        }
        let optional_string = |name: &str| match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(TokenError::InvalidHeader),
        };
        Ok(Self {
            alg,
            kid: optional_string("kid")?,
            typ: optional_string("typ")?,
        })
    }
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    signing_input: &'a str,
    header: Header,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Parses `token`, refusing anything longer than `max_len` bytes before decoding it.
    ///
    /// # Errors
    /// [`TokenError::TooLarge`], [`TokenError::Malformed`], [`TokenError::InvalidBase64`],
    /// [`TokenError::InvalidJson`], [`TokenError::DuplicateMember`], or a header error
    /// ([`TokenError::InvalidHeader`], [`TokenError::AlgNone`], [`TokenError::UnsupportedAlg`],
    /// [`TokenError::UnsupportedCrit`]).
    pub fn parse(token: &'a str, max_len: usize) -> Result<Self, TokenError> {
        if token.len() > max_len {
            return Err(TokenError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if h.is_empty() || p.is_empty() {
            return Err(TokenError::Malformed);
        }
        // The header first: an unsecured JWS (`alg: none`, empty signature) is reported as such.
        let header_bytes = base64url_decode(h).ok_or(TokenError::InvalidBase64)?;
        let header = Header::from_object(&json_object(&header_bytes)?)?;
        if s.is_empty() {
            return Err(TokenError::Malformed);
        }
        let payload = base64url_decode(p).ok_or(TokenError::InvalidBase64)?;
        let signature = base64url_decode(s).ok_or(TokenError::InvalidBase64)?;
        // `h.len() + 1 + p.len()` is within `token`, which is longer still by the signature.
        let signing_input = token
            .get(..h.len() + 1 + p.len())
            .ok_or(TokenError::Malformed)?;
        Ok(Self {
            signing_input,
            header,
            payload,
            signature,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The decoded payload bytes (not yet trusted).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// Verifies the signature with `key`, which must fit the header's `alg`.
    ///
    /// # Errors
    /// [`TokenError::KeyAlgMismatch`] or [`TokenError::InvalidSignature`].
    pub fn verify(&self, key: &Jwk) -> Result<(), TokenError> {
        if !key.fits(self.header.alg) {
            return Err(TokenError::KeyAlgMismatch);
        }
        verify_signature(
            self.header.alg,
            key.key(),
            self.signing_input.as_bytes(),
            &self.signature,
        )
    }
}

/// Parses a JOSE header or JWT claims set: a JSON object without duplicate member names.
pub(crate) fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, TokenError> {
    json::parse_object(bytes).map_err(|e| match e {
        JsonError::Invalid => TokenError::InvalidJson,
        JsonError::DuplicateMember => TokenError::DuplicateMember,
    })
}
