//! JSON Web Keys and JWK Sets ([RFC 7517](https://www.rfc-editor.org/rfc/rfc7517)), limited to the
//! public signature-verification keys of [RFC 7518 §6](https://www.rfc-editor.org/rfc/rfc7518#section-6)
//! (RSA, EC P-256 and P-384) and [RFC 8037 §2](https://www.rfc-editor.org/rfc/rfc8037#section-2)
//! (OKP Ed25519).
//!
//! A set is parsed strictly (duplicate member names refuse the whole document) and each key on its
//! own: a key this crate cannot or must not use (encryption keys, unknown types, short RSA moduli,
//! `key_ops` without `verify`, …) is skipped with a [`KeySkipReason`], and the rest of the set
//! still works. A key that carries private material refuses the whole set.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::{Map, Value};

use crate::error::{JwksError, TokenError};
use crate::jose::alg::{Algorithm, KeyKind};
use crate::jose::base64url_decode;
use crate::json::{self, JsonError};

/// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3 requires 2048).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (the limit of both crypto backends).
pub const MAX_RSA_BITS: usize = 8192;

/// A public key, in the form the crypto backends take it.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PublicKey {
    /// RSA: big-endian modulus and exponent, without leading zero bytes.
    Rsa {
        /// The modulus `n`.
        n: Vec<u8>,
        /// The public exponent `e`.
        e: Vec<u8>,
    },
    /// A P-256 point, SEC 1 uncompressed (`0x04 || x || y`, 65 bytes).
    P256(Vec<u8>),
    /// A P-384 point, SEC 1 uncompressed (`0x04 || x || y`, 97 bytes).
    P384(Vec<u8>),
    /// An Ed25519 public key (32 bytes).
    Ed25519(Vec<u8>),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { n, .. } => write!(f, "PublicKey::Rsa({} bits)", bit_len(n)),
            Self::P256(_) => f.write_str("PublicKey::P256"),
            Self::P384(_) => f.write_str("PublicKey::P384"),
            Self::Ed25519(_) => f.write_str("PublicKey::Ed25519"),
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn bit_len(be: &[u8]) -> usize {
    let be = strip_leading_zeros(be);
    match be.first() {
        Some(first) => be.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

impl PublicKey {
    /// An RSA key from its modulus and exponent (big-endian; leading zeros are ignored).
    ///
    /// # Errors
    /// A modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`], or an empty or even exponent.
    pub fn rsa(n: &[u8], e: &[u8]) -> Result<Self, KeySkipReason> {
        let (n, e) = (strip_leading_zeros(n), strip_leading_zeros(e));
        let bits = bit_len(n);
        if bits < MIN_RSA_BITS {
            return Err(KeySkipReason::RsaModulusTooSmall);
        }
        if bits > MAX_RSA_BITS {
            return Err(KeySkipReason::RsaModulusTooLarge);
        }
        if e.is_empty() || e.len() > 4 || e.last().is_some_and(|b| b & 1 == 0) {
            return Err(KeySkipReason::InvalidMember);
        }
        Ok(Self::Rsa {
            n: n.into(),
            e: e.into(),
        })
    }

    /// An EC key from its affine coordinates, each exactly the curve's field size
    /// (RFC 7518 §6.2.1.2). Whether the point is on the curve is checked by the crypto backend when a
    /// signature is verified.
    ///
    /// # Errors
    /// Coordinates of the wrong length, or a curve other than P-256 or P-384.
    pub fn ec(kind: KeyKind, x: &[u8], y: &[u8]) -> Result<Self, KeySkipReason> {
        let size = match kind {
            KeyKind::P256 => 32,
            KeyKind::P384 => 48,
            _ => return Err(KeySkipReason::UnsupportedCurve),
        };
        if x.len() != size || y.len() != size {
            return Err(KeySkipReason::InvalidMember);
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(if kind == KeyKind::P256 {
            Self::P256(point)
        } else {
            Self::P384(point)
        })
    }

    /// An Ed25519 key (32 bytes).
    ///
    /// # Errors
    /// Any other length.
    pub fn ed25519(x: &[u8]) -> Result<Self, KeySkipReason> {
        if x.len() != 32 {
            return Err(KeySkipReason::InvalidMember);
        }
        Ok(Self::Ed25519(x.into()))
    }

    /// The kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa { .. } => KeyKind::Rsa,
            Self::P256(_) => KeyKind::P256,
            Self::P384(_) => KeyKind::P384,
            Self::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// The encoded public key the backends take for EC and Ed25519 (empty for RSA).
    pub(crate) fn raw_bytes(&self) -> &[u8] {
        match self {
            Self::Rsa { .. } => &[],
            Self::P256(b) | Self::P384(b) | Self::Ed25519(b) => b,
        }
    }
}

/// One usable verification key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: PublicKey,
    fingerprint: [u8; 32],
    /// The key in the backend's parsed form, built here, once ([`crate::crypto`]).
    prepared: super::prepared::Prepared,
}

/// SHA-256 over the key kind and material: equal exactly when the key material is equal.
fn fingerprint(key: &PublicKey) -> [u8; 32] {
    let mut ctx = crate::crypto::digest::Context::new(&crate::crypto::digest::SHA256);
    match key {
        PublicKey::Rsa { n, e } => {
            ctx.update(b"RSA\0");
            ctx.update(&(n.len() as u64).to_be_bytes());
            ctx.update(n);
            ctx.update(e);
        }
        PublicKey::P256(b) => {
            ctx.update(b"P-256\0");
            ctx.update(b);
        }
        PublicKey::P384(b) => {
            ctx.update(b"P-384\0");
            ctx.update(b);
        }
        PublicKey::Ed25519(b) => {
            ctx.update(b"Ed25519\0");
            ctx.update(b);
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl Jwk {
    /// A key with an optional `kid` and an optional `alg` binding.
    ///
    /// # Errors
    /// When `alg` needs another kind of key than `key` is.
    pub fn new(
        kid: Option<String>,
        alg: Option<Algorithm>,
        key: PublicKey,
    ) -> Result<Self, KeySkipReason> {
        if alg.is_some_and(|a| a.key_kind() != key.kind()) {
            return Err(KeySkipReason::AlgKeyMismatch);
        }
        let fingerprint = fingerprint(&key);
        let prepared = super::prepared::Prepared::new(&key, alg);
        Ok(Self {
            kid,
            alg,
            key,
            fingerprint,
            prepared,
        })
    }

    /// The key ID (`kid`), if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the key is bound to (`alg`), if any.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The key material.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    pub(crate) fn prepared(&self) -> &super::prepared::Prepared {
        &self.prepared
    }

    /// A SHA-256 fingerprint of the key material (not RFC 7638: it ignores `kid` and `alg` and
    /// serves to tell whether two keys are the same key).
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// Whether this key may verify a signature made with `alg`: the key type and curve must be
    /// the ones `alg` needs, and a key bound to an `alg` verifies only that algorithm.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.key.kind() == alg.key_kind() && self.alg.is_none_or(|b| alg.permitted_by_key_alg(b))
    }
}

/// Why one key of a set was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySkipReason {
    /// `kty` is missing, not a string, or not `RSA`, `EC` or `OKP`.
    UnsupportedKeyType,
    /// `crv` is missing or not `P-256`, `P-384` (EC) or `Ed25519` (OKP).
    UnsupportedCurve,
    /// `use` is present and not `sig`, or `alg` names an encryption algorithm.
    NotForSignature,
    /// `key_ops` is present and does not allow `verify`.
    VerifyNotAllowed,
    /// `alg` is present and not a signature algorithm this crate supports.
    UnsupportedAlg,
    /// `alg` needs another kind of key.
    AlgKeyMismatch,
    /// A member is missing, of the wrong type, not canonical base64url, or of the wrong length.
    InvalidMember,
    /// The RSA modulus is shorter than 2048 bits.
    RsaModulusTooSmall,
    /// The RSA modulus is longer than 8192 bits.
    RsaModulusTooLarge,
}

impl KeySkipReason {
    /// The stable snake_case name of this reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnsupportedKeyType => "unsupported_kty",
            Self::UnsupportedCurve => "unsupported_crv",
            Self::NotForSignature => "not_for_signature",
            Self::VerifyNotAllowed => "verify_not_allowed",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::AlgKeyMismatch => "alg_key_mismatch",
            Self::InvalidMember => "invalid_member",
            Self::RsaModulusTooSmall => "rsa_modulus_too_small",
            Self::RsaModulusTooLarge => "rsa_modulus_too_large",
        }
    }
}

impl fmt::Display for KeySkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A key of the document that is not in the usable set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its position in the document's `keys` array.
    pub index: usize,
    /// Its `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: KeySkipReason,
}

/// Size limits applied to every JWK Set before and while it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksLimits {
    /// Largest accepted document, in bytes. Default 64 KiB.
    pub max_bytes: usize,
    /// Most keys accepted in the `keys` array (usable or not). Default 32.
    pub max_keys: usize,
}

impl Default for JwksLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_keys: 32,
        }
    }
}

impl JwksLimits {
    /// Limits of `max_bytes` bytes and `max_keys` keys.
    pub fn new(max_bytes: usize, max_keys: usize) -> Self {
        Self {
            max_bytes,
            max_keys,
        }
    }
}

/// Whether tokens must name their key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KidPolicy {
    /// Every token must carry a `kid` (the default).
    #[default]
    Required,
    /// A token without `kid` is verified with the one key of the set that fits its `alg`, when
    /// there is exactly one; otherwise it is refused.
    SingleKeyFallback,
}

/// The usable keys of a JWK Set, and the ones that were skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    skipped: Vec<SkippedKey>,
    /// The positions in `keys` of the keys with a `kid`, ordered by `kid` then position: a key
    /// is found by `kid` in a number of steps that grows with the logarithm of the set's size.
    by_kid: Vec<usize>,
}

impl JwkSet {
    /// A set made of already-built keys.
    pub fn from_keys(keys: Vec<Jwk>) -> Self {
        Self {
            keys,
            skipped: Vec::new(),
            by_kid: Vec::new(),
        }
        .indexed()
    }

    /// The set with its `kid` index built.
    fn indexed(mut self) -> Self {
        let mut by_kid: Vec<usize> = (0..self.keys.len())
            .filter(|i| self.kid_at(*i).is_some())
            .collect();
        by_kid.sort_by(|a, b| (self.kid_at(*a), a).cmp(&(self.kid_at(*b), b)));
        self.by_kid = by_kid;
        self
    }

    fn kid_at(&self, i: usize) -> Option<&str> {
        self.keys.get(i).and_then(Jwk::kid)
    }

    /// The keys whose `kid` is `kid`, in document order.
    fn named<'s, 'k>(&'s self, kid: &'k str) -> impl Iterator<Item = &'s Jwk> + use<'s, 'k> {
        let first = self
            .by_kid
            .partition_point(|i| self.kid_at(*i).is_some_and(|k| k < kid));
        self.by_kid
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(move |i| self.kid_at(**i) == Some(kid))
            .filter_map(|i| self.keys.get(*i))
    }

    /// Parses a JWK Set document (`{"keys":[…]}`, RFC 7517 §5).
    ///
    /// # Errors
    /// A [`JwksError`] when the document as a whole is unusable; single unusable keys are
    /// reported by [`JwkSet::skipped`] instead. A set with no usable key is not an error here:
    /// check [`JwkSet::is_empty`].
    pub fn parse(document: &[u8], limits: &JwksLimits) -> Result<Self, JwksError> {
        if document.len() > limits.max_bytes {
            return Err(JwksError::TooLarge);
        }
        let root = json::parse_object(document).map_err(|e| match e {
            JsonError::Invalid => JwksError::InvalidJson,
            JsonError::DuplicateMember => JwksError::DuplicateMember,
        })?;
        let Some(Value::Array(entries)) = root.get("keys") else {
            return Err(JwksError::NotAJwkSet);
        };
        if entries.len() > limits.max_keys {
            return Err(JwksError::TooManyKeys);
        }
        let mut objects = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Object(obj) = entry else {
                return Err(JwksError::NotAJwkSet);
            };
            if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
                return Err(JwksError::PrivateKeyMaterial);
            }
            objects.push(obj);
        }
        let mut set = Self::default();
        for (index, obj) in objects.into_iter().enumerate() {
            match parse_key(obj) {
                Ok(jwk) => set.keys.push(jwk),
                Err(reason) => {
                    let kid = obj.get("kid").and_then(Value::as_str).map(String::from);
                    set.skipped.push(SkippedKey { index, kid, reason });
                }
            }
        }
        Ok(set.indexed())
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The keys that were skipped, with their reasons.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a usable key has this fingerprint.
    pub fn contains_fingerprint(&self, fingerprint: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| &k.fingerprint == fingerprint)
    }

    /// Whether a usable key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.named(kid).next().is_some()
    }

    /// Selects the key that verifies a token with header `kid` and `alg`.
    ///
    /// By `kid` first (exact, case-sensitive); then the key must fit `alg` (no algorithm
    /// confusion). Two fitting keys with the same `kid` are ambiguous and refused.
    ///
    /// # Errors
    /// [`TokenError::MissingKid`], [`TokenError::UnknownKid`], [`TokenError::KeyAlgMismatch`],
    /// [`TokenError::AmbiguousKid`].
    pub fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        policy: KidPolicy,
    ) -> Result<&Jwk, TokenError> {
        let mut named = match kid {
            Some(kid) => {
                let mut named = self.named(kid).peekable();
                if named.peek().is_none() {
                    return Err(TokenError::UnknownKid);
                }
                let mut fitting = named.filter(|k| k.fits(alg));
                let first = fitting.next().ok_or(TokenError::KeyAlgMismatch)?;
                return match fitting.next() {
                    None => Ok(first),
                    Some(_) => Err(TokenError::AmbiguousKid),
                };
            }
            None if policy == KidPolicy::Required => return Err(TokenError::MissingKid),
            None => self.keys.iter().filter(|k| k.fits(alg)),
        };
        let first = named.next().ok_or(TokenError::UnknownKid)?;
        match named.next() {
            None => Ok(first),
            Some(_) => Err(TokenError::MissingKid),
        }
    }
}

/// One public JWK object (a DPoP proof's `jwk`, RFC 9449 §4.2) as a usable key; `Err(true)`
/// when it carries private key members, `Err(false)` when it is not a usable public key.
pub(crate) fn parse_public_jwk(obj: &Map<String, Value>) -> Result<Jwk, bool> {
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(true);
    }
    parse_key(obj).map_err(|_| false)
}

fn member_bytes(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeySkipReason> {
    obj.get(name)
        .and_then(Value::as_str)
        .and_then(base64url_decode)
        .ok_or(KeySkipReason::InvalidMember)
}

fn parse_key(obj: &Map<String, Value>) -> Result<Jwk, KeySkipReason> {
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(KeySkipReason::InvalidMember),
    };
    match obj.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(_)) => return Err(KeySkipReason::NotForSignature),
        Some(_) => return Err(KeySkipReason::InvalidMember),
    }
    match obj.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) => {
            if !ops.iter().all(Value::is_string) {
                return Err(KeySkipReason::InvalidMember);
            }
            if !ops.iter().any(|op| op == "verify") {
                return Err(KeySkipReason::VerifyNotAllowed);
            }
        }
        Some(_) => return Err(KeySkipReason::InvalidMember),
    }
    let alg = match obj.get("alg") {
        None => None,
        Some(Value::String(name)) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None if is_encryption_alg(name) => return Err(KeySkipReason::NotForSignature),
            None => return Err(KeySkipReason::UnsupportedAlg),
        },
        Some(_) => return Err(KeySkipReason::InvalidMember),
    };
    let crv = || obj.get("crv").and_then(Value::as_str);
    let key = match obj.get("kty").and_then(Value::as_str) {
        Some("RSA") => PublicKey::rsa(&member_bytes(obj, "n")?, &member_bytes(obj, "e")?)?,
        Some("EC") => {
            let kind = match crv() {
                Some("P-256") => KeyKind::P256,
                Some("P-384") => KeyKind::P384,
                _ => return Err(KeySkipReason::UnsupportedCurve),
            };
            PublicKey::ec(kind, &member_bytes(obj, "x")?, &member_bytes(obj, "y")?)?
        }
        Some("OKP") => match crv() {
            Some("Ed25519") => PublicKey::ed25519(&member_bytes(obj, "x")?)?,
            _ => return Err(KeySkipReason::UnsupportedCurve),
        },
        _ => return Err(KeySkipReason::UnsupportedKeyType),
    };
    Jwk::new(kid, alg, key)
}

/// Key-management and content-encryption `alg` values (RFC 7518 §4, §5; RFC 8037 §3.2).
fn is_encryption_alg(name: &str) -> bool {
    name.starts_with("RSA")
        || name.starts_with("ECDH")
        || name.starts_with("A1")
        || name.starts_with("A2")
        || name.starts_with("PBES2")
        || name == "dir"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_length() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0, 1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0, 0x7f, 0]), 15);
    }

    #[test]
    fn rsa_exponent_must_be_odd_and_small() {
        let n = [0xc5u8; 256];
        assert!(PublicKey::rsa(&n, &[1, 0, 1]).is_ok());
        assert!(PublicKey::rsa(&n, &[0, 1, 0, 1]).is_ok());
        assert_eq!(PublicKey::rsa(&n, &[2]), Err(KeySkipReason::InvalidMember));
        assert_eq!(PublicKey::rsa(&n, &[]), Err(KeySkipReason::InvalidMember));
        assert_eq!(
            PublicKey::rsa(&n, &[1, 0, 0, 0, 1]),
            Err(KeySkipReason::InvalidMember)
        );
        assert_eq!(
            PublicKey::rsa(&n[..255], &[3]),
            Err(KeySkipReason::RsaModulusTooSmall)
        );
        assert_eq!(
            PublicKey::rsa(&[0xff; 1025], &[3]),
            Err(KeySkipReason::RsaModulusTooLarge)
        );
    }
}
