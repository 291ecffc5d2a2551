//! The cryptographic backend: exactly one of `ring` (the default, and the only one for no_std
//! and wasm) or `aws-lc-rs` (std builds), chosen by the cargo feature of the same name.
//!
//! Both provide the same digest and HMAC APIs, so the crate uses the chosen crate's modules as
//! they are. Signature verification differs in one way that matters for speed: `aws-lc-rs` can
//! keep a parsed public key (`aws_lc_rs::signature::ParsedPublicKey`), with the RSA Montgomery
//! constants computed once instead of on every verification, so with that backend a prepared
//! key is built when a key is loaded (a JWK Set parsed) and never per token. With `ring` there is
//! nothing to keep: `ring` 0.17 parses the key on every verification.
//!
//! The JOSE algorithm table names the verifiers through the chosen crate's
//! `signature` module, which both spell alike.

#[cfg(all(feature = "ring", feature = "aws-lc-rs"))]
compile_error!(
    "mcp-authz-core: the features `ring` and `aws-lc-rs` are both enabled; choose exactly one \
     crypto backend (for aws-lc-rs: `default-features = false, features = [\"aws-lc-rs\"]` on \
     every mcp-authz crate in the build)"
);
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "mcp-authz-core: no crypto backend; enable exactly one of the features `ring` (the default) \
     or `aws-lc-rs`"
);

#[cfg(feature = "ring")]
pub(crate) use ring::{digest, hmac, signature};

#[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
pub(crate) use aws_lc_rs::{digest, hmac, signature};

/// The name of the backend this build verifies with: `"ring"` or `"aws-lc-rs"`.
pub const BACKEND: &str = if cfg!(feature = "ring") {
    "ring"
} else {
    "aws-lc-rs"
};

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// SHA-256 of `parts`, each preceded by its length (8 bytes, big-endian), so that no two lists
/// of parts hash the same input (`["ab", "c"]` is not `["a", "bc"]`).
pub(crate) fn sha256_of_parts(parts: &[&str]) -> [u8; 32] {
    let mut input = alloc::vec::Vec::new();
    for part in parts {
        let len = u64::try_from(part.len()).unwrap_or(u64::MAX);
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    sha256(&input)
}
