//! JWS compact serialization ([RFC 7515 §7.1](https://www.rfc-editor.org/rfc/rfc7515#section-7.1))
//! and the JOSE header ([RFC 7515 §4](https://www.rfc-editor.org/rfc/rfc7515#section-4)).
//!
//! Parsing is strict: exactly three non-empty parts; canonical unpadded base64url; a header that
//! is a JSON object without duplicate names (RFC 7515 §5.2 step 4); `alg` from the supported
//! table, never `none`; `crit` refused unless empty of extensions we understand (we understand
//! none). `jku`, `x5u`, `jwk` and `x5c` are never used to find a key: keys come only from the
//! configured JWK Set.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use base64_simd::{Out, URL_SAFE_NO_PAD};

use crate::error::TokenError;
use crate::jose::alg::{verify_with_jwk, Algorithm};
use crate::jose::jwk::Jwk;
use crate::json::{self, JsonError, Member};

/// The JOSE header parameters this crate acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<Cow<'static, str>>,
}

/// `typ` values as the usual authorization servers spell them, kept without an allocation.
const COMMON_TYPS: [&str; 4] = ["at+jwt", "application/at+jwt", "JWT", "jwt"];

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

    pub(crate) fn into_kid(self) -> Option<String> {
        self.kid
    }

    /// Parses the decoded header: strict JSON, then the parameters we act on.
    fn parse(bytes: &[u8]) -> Result<Self, TokenError> {
        let [alg, crit, kid, typ] = read_object(bytes, |name| match name {
            "alg" => Some(0),
            "crit" => Some(1),
            "kid" => Some(2),
            "typ" => Some(3),
            _ => None,
        })?;
        let alg = match alg {
            Some(Member::Str(name)) if name.eq_ignore_ascii_case("none") => {
                return Err(TokenError::AlgNone)
            }
            Some(Member::Str(name)) => {
                Algorithm::from_name(&name).ok_or(TokenError::UnsupportedAlg)?
            }
            _ => return Err(TokenError::InvalidHeader),
        };
        match crit {
            None => {}
            // RFC 7515 §4.1.11: a non-empty array of names. We implement no extension, so any
            // well-formed `crit` names one we do not understand.
            Some(Member::Strings(names)) if !names.is_empty() => {
                return Err(TokenError::UnsupportedCrit)
            }
            Some(_) => return Err(TokenError::InvalidHeader),
        }
        let kid = match kid {
            None => None,
            Some(Member::Str(s)) => Some(s.into_owned()),
            Some(_) => return Err(TokenError::InvalidHeader),
        };
        let typ = match typ {
            None => None,
            Some(Member::Str(s)) => Some(match COMMON_TYPS.iter().find(|t| **t == s) {
                Some(common) => Cow::Borrowed(*common),
                None => Cow::Owned(s.into_owned()),
            }),
            Some(_) => return Err(TokenError::InvalidHeader),
        };
        Ok(Self { alg, kid, typ })
    }
}

/// The three base64url segments of a compact JWS, not yet decoded.
struct Segments<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header '.' payload`: the bytes the signature covers.
    signing_input: &'a str,
}

impl<'a> Segments<'a> {
    fn split(token: &'a str, max_len: usize) -> Result<Self, TokenError> {
        if token.len() > max_len {
            return Err(TokenError::TooLarge);
        }
        let Some((header, rest)) = token.split_once('.') else {
            return Err(TokenError::Malformed);
        };
        let Some((payload, signature)) = rest.split_once('.') else {
            return Err(TokenError::Malformed);
        };
        // A fourth part. A fold without an early exit compiles to a vector loop; this is the
        // longest segment of an RSA token.
        if signature.bytes().fold(false, |dot, b| dot | (b == b'.')) {
            return Err(TokenError::Malformed);
        }
        if header.is_empty() || payload.is_empty() {
            return Err(TokenError::Malformed);
        }
        // `header.len() + 1 + payload.len()` is within `token`, longer still by the signature.
        let signing_input = token
            .get(..header.len() + 1 + payload.len())
            .ok_or(TokenError::Malformed)?;
        Ok(Self {
            header,
            payload,
            signature,
            signing_input,
        })
    }

    /// The header, parsed; then the signature segment must be there. Checked in this order so
    /// that an unsecured JWS (`alg: none`, empty signature) is reported as such.
    fn header(&self) -> Result<Header, TokenError> {
        let header = with_decoded::<HEADER_STACK_LEN, _>(self.header, Header::parse)?;
        if self.signature.is_empty() {
            return Err(TokenError::Malformed);
        }
        Ok(header)
    }
}

/// A decoded header up to this length stays on the stack.
const HEADER_STACK_LEN: usize = 256;
/// A decoded signature up to this length stays on the stack: RSA up to 4096 bits, ECDSA, EdDSA.
const SIGNATURE_STACK_LEN: usize = 520;

/// Decodes one JWS segment: canonical unpadded base64url
/// ([RFC 7515 §2](https://www.rfc-editor.org/rfc/rfc7515#section-2)). Padding, whitespace,
/// characters outside the URL-safe alphabet and non-zero trailing bits are all errors, exactly as
/// for [`crate::jose::base64url_decode`] (a property test holds the two to the same answers).
///
/// Token segments are decoded with `base64-simd` (SSSE3/AVX2 where the CPU has them, chosen at
/// run time with the `std` feature) rather than `base64ct`: the token bytes have already passed
/// through the HTTP stack's non-constant-time parsing, and decoding the segments was the largest
/// share of our own work per token (see `BENCHMARKS.md`). Both refuse the same strings (a
/// property test below holds them to it).
fn decode_segment(segment: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode_to_vec(segment)
        .map_err(|_| TokenError::InvalidBase64)
}

/// [`decode_segment`] without an allocation when the result fits in `N` bytes; `f` gets the
/// decoded bytes.
fn with_decoded<const N: usize, R>(
    segment: &str,
    f: impl FnOnce(&[u8]) -> Result<R, TokenError>,
) -> Result<R, TokenError> {
    // Unpadded base64 carries three bytes in four characters (a valid remainder of two or
    // three characters, one or two bytes).
    if segment.len() / 4 * 3 + 2 <= N {
        let mut stack = [0u8; N];
        let decoded = URL_SAFE_NO_PAD
            .decode(segment.as_bytes(), Out::from_slice(&mut stack))
            .map_err(|_| TokenError::InvalidBase64)?;
        f(decoded)
    } else {
        f(&decode_segment(segment)?)
    }
}

fn token_json_error(e: JsonError) -> TokenError {
    match e {
        JsonError::Invalid => TokenError::InvalidJson,
        JsonError::DuplicateMember => TokenError::DuplicateMember,
    }
}

/// The token path of [`crate::AccessTokenVerifier`]: parses `token`, lets `select` check the
/// header and choose the key, and verifies the signature with that key, without building a
/// [`CompactJws`] (the signature and header are decoded on the stack). Returns the header, the
/// key, and the decoded payload, not yet parsed.
///
/// The errors and their order are those of [`CompactJws::parse`] then [`CompactJws::verify`],
/// with `select`'s errors in between.
pub(crate) fn verify_compact<'k>(
    token: &str,
    max_len: usize,
    select: impl FnOnce(&Header) -> Result<&'k Jwk, TokenError>,
) -> Result<(Header, &'k Jwk, Vec<u8>), TokenError> {
    let segments = Segments::split(token, max_len)?;
    let header = segments.header()?;
    let payload = decode_segment(segments.payload)?;
    let key = with_decoded::<SIGNATURE_STACK_LEN, _>(segments.signature, |signature| {
        let key = select(&header)?;
        check_signature(&header, key, segments.signing_input, signature)?;
        Ok(key)
    })?;
    Ok((header, key, payload))
}

/// The `iss` claim of `token`, read before anything is verified, for one purpose only: to choose
/// which issuer's verifier (and keys) checks it. `Ok(None)` when it has none.
///
/// # Errors
/// What [`CompactJws::parse`] would say of the framing or the payload's base64 and JSON, or
/// [`TokenError::InvalidClaimType`] for an `iss` that is not a string.
pub(crate) fn peek_issuer(token: &str, max_len: usize) -> Result<Option<String>, TokenError> {
    let segments = Segments::split(token, max_len)?;
    let payload = decode_segment(segments.payload)?;
    let [iss] = read_object(&payload, |name| (name == "iss").then_some(0))?;
    match iss {
        None => Ok(None),
        Some(Member::Str(s)) => Ok(Some(s.into_owned())),
        Some(_) => Err(TokenError::InvalidClaimType),
    }
}

fn check_signature(
    header: &Header,
    key: &Jwk,
    signing_input: &str,
    signature: &[u8],
) -> Result<(), TokenError> {
    if !key.fits(header.alg) {
        return Err(TokenError::KeyAlgMismatch);
    }
    verify_with_jwk(header.alg, key, signing_input.as_bytes(), signature)
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
        let segments = Segments::split(token, max_len)?;
        let header = segments.header()?;
        Ok(Self {
            signing_input: segments.signing_input,
            header,
            payload: decode_segment(segments.payload)?,
            signature: decode_segment(segments.signature)?,
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
        check_signature(&self.header, key, self.signing_input, &self.signature)
    }
}

/// Reads the members `slot` places of a JOSE header or JWT claims set: a JSON object without
/// duplicate member names ([`json::read_object`]).
pub(crate) fn read_object<'de, const N: usize>(
    bytes: &'de [u8],
    slot: fn(&str) -> Option<usize>,
) -> Result<[Option<Member<'de>>; N], TokenError> {
    json::read_object(bytes, slot).map_err(token_json_error)
}

/// [`read_object`] of a claims set already checked as UTF-8.
pub(crate) fn read_text<'de, const N: usize>(
    text: &'de str,
    slot: fn(&str) -> Option<usize>,
) -> Result<[Option<Member<'de>>; N], TokenError> {
    json::read_text(text, slot).map_err(token_json_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{base64url_decode, base64url_encode};
    use proptest::prelude::*;

    proptest! {
        /// The token path's decoder and the key path's (`base64ct`) accept exactly the same
        /// strings and agree on the bytes.
        #[test]
        fn segment_decoding_matches_base64ct(s in "[A-Za-z0-9_+/=\\- \\n.]{0,24}") {
            prop_assert_eq!(decode_segment(&s).ok(), base64url_decode(&s));
            prop_assert_eq!(with_decoded::<8, _>(&s, |b| Ok(b.to_vec())).ok(), base64url_decode(&s));
        }

        /// The same over lengths where the SIMD decoder works in blocks (16 and 32 characters),
        /// with one character anywhere replaced by one outside the alphabet, or not.
        #[test]
        fn long_segment_decoding_matches_base64ct(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            at in any::<usize>(),
            bad in proptest::option::of(prop_oneof![Just('='), Just('+'), Just('/'), Just(' '), Just('.'), Just('\u{e9}')]),
        ) {
            let mut s = base64url_encode(&bytes);
            if let (Some(bad), false) = (bad, s.is_empty()) {
                let at = at % s.len();
                s.replace_range(at..at + 1, bad.encode_utf8(&mut [0; 4]));
            }
            prop_assert_eq!(decode_segment(&s).ok(), base64url_decode(&s));
            prop_assert_eq!(with_decoded::<SIGNATURE_STACK_LEN, _>(&s, |b| Ok(b.to_vec())).ok(), base64url_decode(&s));
        }

        #[test]
        fn segment_decoding_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let encoded = base64url_encode(&bytes);
            prop_assert_eq!(decode_segment(&encoded), Ok(bytes.clone()));
            // A last character that leaves non-zero trailing bits has no canonical decoding.
            if let Some(last) = encoded.chars().last() {
                let mut other = encoded.clone();
                other.pop();
                for c in ['A', 'B', 'Q', 'g', 'w', '_'] {
                    if c != last {
                        other.push(c);
                        prop_assert_eq!(decode_segment(&other).ok(), base64url_decode(&other));
                        other.pop();
                    }
                }
            }
        }
    }

    #[test]
    fn stack_and_heap_decoding_agree_at_the_boundary() {
        // Around the largest segment decoded on the stack (692 characters, 520 bytes).
        for len in 505..530 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let encoded = base64url_encode(&bytes);
            let decoded = with_decoded::<SIGNATURE_STACK_LEN, _>(&encoded, |b| Ok(b.to_vec()));
            assert_eq!(decoded, Ok(bytes), "{len}");
            let mut bad = encoded.clone();
            bad.push('=');
            assert_eq!(
                with_decoded::<SIGNATURE_STACK_LEN, _>(&bad, |b| Ok(b.to_vec())),
                Err(TokenError::InvalidBase64)
            );
        }
    }
}
