//! The signature algorithms this crate accepts: a static table binding each JWS `alg` name
//! ([RFC 7518 §3.1](https://www.rfc-editor.org/rfc/rfc7518#section-3.1),
//! [RFC 8037 §3.1](https://www.rfc-editor.org/rfc/rfc8037#section-3.1),
//! [RFC 9864 §2.2](https://www.rfc-editor.org/rfc/rfc9864#section-2.2)) to the key type it needs
//! and to the verifier of the crypto backend ([`crate::crypto`]) that checks it.
//!
//! `none` and the HMAC algorithms (`HS*`) are absent on purpose: an unsecured token is never
//! valid, and a resource server that holds only public keys must never treat one as an HMAC
//! secret (the classic algorithm-confusion attack).

use core::fmt;

use crate::crypto::signature::{self, RsaParameters, VerificationAlgorithm};

use crate::error::TokenError;
use crate::jose::jwk::{Jwk, PublicKey};

/// A JWS signature algorithm this crate can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    Ps512,
    /// ECDSA with P-256 and SHA-256, signature as fixed-length `r || s`.
    Es256,
    /// ECDSA with P-384 and SHA-384, signature as fixed-length `r || s`.
    Es384,
    /// EdDSA (RFC 8037); this crate supports it with Ed25519 keys only.
    EdDsa,
    /// Ed25519, the fully specified name of RFC 9864.
    Ed25519,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `kty: RSA`, modulus of at least 2048 bits.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    P256,
    /// `kty: EC`, `crv: P-384`.
    P384,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

/// The backend's verifier for an algorithm.
#[derive(Clone, Copy)]
pub(crate) enum Verifier {
    Rsa(&'static RsaParameters),
    Other(&'static dyn VerificationAlgorithm),
}

struct Spec {
    alg: Algorithm,
    name: &'static str,
    key: KeyKind,
    /// Exact signature length, where the algorithm fixes one.
    signature_len: Option<usize>,
    verifier: Verifier,
}

#[rustfmt::skip]
static TABLE: [Spec; 10] = [
    Spec { alg: Algorithm::Rs256, name: "RS256", key: KeyKind::Rsa, signature_len: None, verifier: Verifier::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256) },
    Spec { alg: Algorithm::Rs384, name: "RS384", key: KeyKind::Rsa, signature_len: None, verifier: Verifier::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384) },
    Spec { alg: Algorithm::Rs512, name: "RS512", key: KeyKind::Rsa, signature_len: None, verifier: Verifier::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512) },
    Spec { alg: Algorithm::Ps256, name: "PS256", key: KeyKind::Rsa, signature_len: None, verifier: Verifier::Rsa(&signature::RSA_PSS_2048_8192_SHA256) },
    Spec { alg: Algorithm::Ps384, name: "PS384", key: KeyKind::Rsa, signature_len: None, verifier: Verifier::Rsa(&signature::RSA_PSS_2048_8192_SHA384) },
    Spec { alg: Algorithm::Ps512, name: "PS512", key: KeyKind::Rsa, signature_len: None, verifier: Verifier::Rsa(&signature::RSA_PSS_2048_8192_SHA512) },
    Spec { alg: Algorithm::Es256, name: "ES256", key: KeyKind::P256, signature_len: Some(64), verifier: Verifier::Other(&signature::ECDSA_P256_SHA256_FIXED) },
    Spec { alg: Algorithm::Es384, name: "ES384", key: KeyKind::P384, signature_len: Some(96), verifier: Verifier::Other(&signature::ECDSA_P384_SHA384_FIXED) },
    Spec { alg: Algorithm::EdDsa, name: "EdDSA", key: KeyKind::Ed25519, signature_len: Some(64), verifier: Verifier::Other(&signature::ED25519) },
    Spec { alg: Algorithm::Ed25519, name: "Ed25519", key: KeyKind::Ed25519, signature_len: Some(64), verifier: Verifier::Other(&signature::ED25519) },
];

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 10] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
        Self::Ed25519,
    ];

    fn spec(self) -> &'static Spec {
        // An exhaustive match: a new algorithm does not compile until it has its row.
        let [rs256, rs384, rs512, ps256, ps384, ps512, es256, es384, eddsa, ed25519] = &TABLE;
        match self {
            Self::Rs256 => rs256,
            Self::Rs384 => rs384,
            Self::Rs512 => rs512,
            Self::Ps256 => ps256,
            Self::Ps384 => ps384,
            Self::Ps512 => ps512,
            Self::Es256 => es256,
            Self::Es384 => es384,
            Self::EdDsa => eddsa,
            Self::Ed25519 => ed25519,
        }
    }

    /// The backend's verifier for this algorithm.
    pub(crate) fn verifier(self) -> Verifier {
        self.spec().verifier
    }

    /// Looks up a JWS `alg` value. Names are case-sensitive (RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Self> {
        TABLE.iter().find(|s| s.name == name).map(|s| s.alg)
    }

    /// The JWS `alg` value.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind of key this algorithm needs.
    pub fn key_kind(self) -> KeyKind {
        self.spec().key
    }

    /// Whether a JWK whose `alg` is `bound` may verify tokens signed with `self`.
    ///
    /// A key's `alg` binds it to that one algorithm, with one equivalence: `EdDSA` over an
    /// Ed25519 key *is* `Ed25519` (RFC 9864 §2.2), so a key published under either name verifies
    /// tokens that use either name.
    pub fn permitted_by_key_alg(self, bound: Algorithm) -> bool {
        self == bound
            || (self.key_kind() == KeyKind::Ed25519 && bound.key_kind() == KeyKind::Ed25519)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms: the verifier's allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// No algorithm.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Every supported algorithm.
    pub fn all() -> Self {
        Self::from_iter(Algorithm::ALL)
    }

    fn bit(alg: Algorithm) -> u16 {
        1 << (alg as u16)
    }

    /// Adds `alg`.
    #[must_use]
    pub fn with(self, alg: Algorithm) -> Self {
        Self(self.0 | Self::bit(alg))
    }

    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & Self::bit(alg) != 0
    }

    /// The algorithms in the set, in table order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl Default for AlgorithmSet {
    fn default() -> Self {
        Self::all()
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        iter.into_iter().fold(Self::empty(), Self::with)
    }
}

/// Verifies `signature` over `message` with `key` under `alg`.
///
/// The Wycheproof and RFC-example tests call this; the token path calls
/// `verify_with_jwk`, which makes the same checks with the key as its JWK Set prepared it
/// (with `aws-lc-rs`, parsed once; this function parses it for the one call, through the same
/// `ParsedPublicKey` code). ECDSA signatures must be the fixed-length `r || s` form of
/// RFC 7518 §3.4; a DER-encoded signature is refused.
///
/// # Errors
/// [`TokenError::KeyAlgMismatch`] when the key is of another kind than `alg` needs,
/// [`TokenError::InvalidSignature`] when the signature does not verify.
pub fn verify_signature(
    alg: Algorithm,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), TokenError> {
    precheck(alg, key, signature)?;
    verdict(super::prepared::verify_once(alg, key, message, signature))
}

/// [`verify_signature`] with the key of a JWK Set, through its prepared form.
pub(crate) fn verify_with_jwk(
    alg: Algorithm,
    jwk: &Jwk,
    message: &[u8],
    signature: &[u8],
) -> Result<(), TokenError> {
    precheck(alg, jwk.key(), signature)?;
    verdict(jwk.prepared().verify(alg, jwk.key(), message, signature))
}

fn precheck(alg: Algorithm, key: &PublicKey, signature: &[u8]) -> Result<(), TokenError> {
    let spec = alg.spec();
    if key.kind() != spec.key {
        return Err(TokenError::KeyAlgMismatch);
    }
    if spec.signature_len.is_some_and(|len| len != signature.len()) {
        return Err(TokenError::InvalidSignature);
    }
    Ok(())
}

fn verdict(verified: bool) -> Result<(), TokenError> {
    match verified {
        true => Ok(()),
        false => Err(TokenError::InvalidSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_has_its_own_row() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.spec().alg, alg);
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
    }

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(Algorithm::from_name(&alg.name().to_ascii_lowercase()), None);
        }
        for never in [
            "none", "None", "HS256", "HS384", "HS512", "ES512", "RSA-OAEP", "",
        ] {
            assert_eq!(Algorithm::from_name(never), None, "{never}");
        }
    }

    #[test]
    fn table_is_in_declaration_order() {
        for (i, spec) in TABLE.iter().enumerate() {
            assert_eq!(spec.alg as usize, i);
        }
    }

    #[test]
    fn algorithm_set() {
        let set: AlgorithmSet = [Algorithm::Rs256, Algorithm::Es256].into_iter().collect();
        assert!(set.contains(Algorithm::Rs256));
        assert!(!set.contains(Algorithm::Ps256));
        assert_eq!(set.iter().count(), 2);
        assert_eq!(AlgorithmSet::all().iter().count(), Algorithm::ALL.len());
    }
}
