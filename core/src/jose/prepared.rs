//! The parsed form of a public key, kept with the key when the backend can keep one (see
//! [`crate::crypto`]): with `aws-lc-rs` the RSA Montgomery constants are computed once per key,
//! with `ring` there is nothing to keep and each verification parses the key.

pub(crate) use backend::Prepared;

#[cfg(feature = "ring")]
mod backend {
    use crate::crypto::signature::{self, UnparsedPublicKey};
    use crate::jose::alg::{Algorithm, Verifier};
    use crate::jose::jwk::PublicKey;

    /// With `ring` there is no parsed form to keep: verification parses the key each time.
    #[derive(Clone)]
    pub(crate) struct Prepared;

    impl Prepared {
        pub(crate) fn new(_key: &PublicKey, _alg: Option<Algorithm>) -> Self {
            Self
        }

        pub(crate) fn verify(
            &self,
            alg: Algorithm,
            key: &PublicKey,
            message: &[u8],
            sig: &[u8],
        ) -> bool {
            verify_once(alg, key, message, sig)
        }
    }

    pub(crate) fn verify_once(alg: Algorithm, key: &PublicKey, message: &[u8], sig: &[u8]) -> bool {
        match (alg.verifier(), key) {
            (Verifier::Rsa(params), PublicKey::Rsa { n, e }) => {
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            (Verifier::Other(algorithm), key) => UnparsedPublicKey::new(algorithm, key.raw_bytes())
                .verify(message, sig)
                .is_ok(),
            (Verifier::Rsa(_), _) => false,
        }
    }
}

#[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
mod backend {
    use alloc::vec::Vec;

    use crate::crypto::signature::{ParsedPublicKey, RsaPublicKeyComponents};
    use crate::jose::alg::{Algorithm, Verifier};
    use crate::jose::jwk::PublicKey;

    /// The key parsed once per algorithm it may verify: one entry when the JWK names its `alg`,
    /// else one per algorithm of its kind (six for RSA, two for Ed25519's two names sharing one
    /// verifier, one for EC). A key `aws-lc-rs` refuses (a point off the curve, say) has no
    /// entry, and every signature under it fails, as it does with `ring`.
    #[derive(Clone)]
    pub(crate) struct Prepared(Vec<(Algorithm, ParsedPublicKey)>);

    fn parse(alg: Algorithm, key: &PublicKey) -> Option<ParsedPublicKey> {
        match (alg.verifier(), key) {
            (Verifier::Rsa(params), PublicKey::Rsa { n, e }) => RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(params)
                .ok(),
            (Verifier::Other(algorithm), key) => {
                ParsedPublicKey::new(algorithm, key.raw_bytes()).ok()
            }
            (Verifier::Rsa(_), _) => None,
        }
    }

    impl Prepared {
        pub(crate) fn new(key: &PublicKey, bound: Option<Algorithm>) -> Self {
            let parsed = Algorithm::ALL
                .into_iter()
                .filter(|a| a.key_kind() == key.kind())
                .filter(|a| bound.is_none_or(|b| a.permitted_by_key_alg(b)))
                .filter_map(|a| parse(a, key).map(|p| (a, p)))
                .collect();
            Self(parsed)
        }

        pub(crate) fn verify(
            &self,
            alg: Algorithm,
            _key: &PublicKey,
            message: &[u8],
            sig: &[u8],
        ) -> bool {
            self.0
                .iter()
                .find(|(a, _)| *a == alg)
                .is_some_and(|(_, p)| p.verify_sig(message, sig).is_ok())
        }
    }

    pub(crate) fn verify_once(alg: Algorithm, key: &PublicKey, message: &[u8], sig: &[u8]) -> bool {
        parse(alg, key).is_some_and(|p| p.verify_sig(message, sig).is_ok())
    }
}

pub(crate) use backend::verify_once;

impl core::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Prepared({})", crate::crypto::BACKEND)
    }
}

/// A prepared key is a function of the key material and `alg` it was built from, which the
/// [`crate::jose::Jwk`] holding it compares and hashes already.
impl PartialEq for Prepared {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Prepared {}
impl core::hash::Hash for Prepared {
    fn hash<H: core::hash::Hasher>(&self, _: &mut H) {}
}
