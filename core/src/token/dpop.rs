//! Sender-constrained access tokens: DPoP proofs
//! ([RFC 9449](https://www.rfc-editor.org/rfc/rfc9449)) as the resource server checks them, with
//! no IO.
//!
//! [`verify_proof`] is the check of [§4.3](https://www.rfc-editor.org/rfc/rfc9449#section-4.3)
//! and [§7.1](https://www.rfc-editor.org/rfc/rfc9449#section-7.1), in this order:
//! 1. exactly one `DPoP` header (a comma-joined value is two);
//! 2. a compact JWS, at most 8 KiB, strict base64url and JSON (as access tokens);
//! 3. `typ` is `dpop+jwt`; `alg` is an asymmetric algorithm of the configured set;
//! 4. `jwk` is a public key only (a private member refuses it), fitting `alg`;
//! 5. the signature verifies with that `jwk`;
//! 6. `htm` is the request's method; `htu` is the request's URI without query and fragment
//!    (compared as RFC 8707 audiences are: scheme and host case-insensitive, default port
//!    omitted);
//! 7. `iat` within the configured window of `now` (default ±300 s);
//! 8. `jti` present, and never seen before within the window ([`ReplayCache`]);
//! 9. `ath` is base64url(SHA-256(the access token)).
//!
//! The caller then compares the proof key's RFC 7638 thumbprint ([`VerifiedProof::jkt`]) with the
//! token's `cnf.jkt` ([§6.1](https://www.rfc-editor.org/rfc/rfc9449#section-6.1)).
//!
//! 10. with [`DpopNonces`] configured, a `nonce` this server (or a replica sharing its secret)
//!     handed out in this window or the last (§9).
//!
//! Step 8 needs state: [`check_proof`] makes every other check and hands back an
//! [`UnrecordedProof`] whose [`ProofKey`] the caller records wherever replays are remembered —
//! a [`ReplayCache`] in this process ([`UnrecordedProof::record`]; [`verify_proof`] does both),
//! or a store shared by replicas (the request [`Exchange`](crate::exchange::Exchange) asks for
//! that with `Step::RecordProof`). Server nonces ([`DpopNonces`]) bound replays across replicas
//! without a store.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;

use serde_json::{Map, Value};

use crate::error::DpopError;
use crate::jose::alg::AlgorithmSet;
use crate::jose::jwk::parse_public_jwk;
use crate::jose::jws::CompactJws;
use crate::jose::{base64url_decode, base64url_encode};
use crate::json;
use crate::resource_indicator::same_resource;
use crate::time::UnixTime;

/// The default largest proof accepted, in bytes.
pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;
/// The default window around `now` within which a proof's `iat` must lie, in seconds.
pub const DEFAULT_IAT_WINDOW_SECS: u64 = 300;
/// The longest `jti` accepted, in bytes.
pub const MAX_JTI_LEN: usize = 256;

/// Whether a resource takes DPoP-bound tokens (RFC 9449).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DpopMode {
    /// Bearer tokens only; `Authorization: DPoP` is not a credential here (the default). A
    /// token bound to a key (`cnf`) is still refused as a bearer token.
    #[default]
    Off,
    /// Bearer tokens, and DPoP-bound tokens with their proof.
    Allowed,
    /// DPoP-bound tokens with their proof only.
    Required,
}

impl DpopMode {
    /// The mode named `off`, `allowed` or `required`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "off" => Some(Self::Off),
            "allowed" => Some(Self::Allowed),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

/// Server-provided nonces ([RFC 9449 §9](https://www.rfc-editor.org/rfc/rfc9449#section-9)),
/// stateless: a nonce is the current time window and an HMAC-SHA-256 of it under a secret that
/// every replica shares, so any replica accepts any replica's nonce, and a proof must be made
/// after the client learned one — replay protection across replicas without a shared store.
#[derive(Clone, PartialEq, Eq)]
pub struct DpopNonces {
    secret: [u8; 32],
    window_secs: u64,
}

impl core::fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DpopNonces")
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

impl DpopNonces {
    /// Nonces under `secret` (32 random bytes, the same on every replica), each valid for the
    /// window it was made in and the next (`window_secs`, default 300).
    pub fn new(secret: [u8; 32], window_secs: u64) -> Self {
        Self {
            secret,
            window_secs: window_secs.max(1),
        }
    }

    fn for_window(&self, window: u64) -> String {
        let key = crate::crypto::hmac::Key::new(crate::crypto::hmac::HMAC_SHA256, &self.secret);
        let tag = crate::crypto::hmac::sign(&key, &window.to_be_bytes());
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend_from_slice(tag.as_ref());
        base64url_encode(&bytes)
    }

    /// The nonce to hand out at `now` (the `DPoP-Nonce` header).
    pub fn current(&self, now: UnixTime) -> String {
        self.for_window(now.as_secs() / self.window_secs)
    }

    /// Whether `nonce` was handed out in this window or the one before.
    pub fn is_valid(&self, nonce: &str, now: UnixTime) -> bool {
        let window = now.as_secs() / self.window_secs;
        let Some(bytes) = base64url_decode(nonce) else {
            return false;
        };
        let Some(stated) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            return false;
        };
        let stated = u64::from_be_bytes(stated);
        if stated != window && stated.saturating_add(1) != window {
            return false;
        }
        let key = crate::crypto::hmac::Key::new(crate::crypto::hmac::HMAC_SHA256, &self.secret);
        // The backend's verification compares in constant time.
        crate::crypto::hmac::verify(
            &key,
            &stated.to_be_bytes(),
            bytes.get(8..).unwrap_or_default(),
        )
        .is_ok()
    }
}

/// How proofs are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopConfig {
    algorithms: AlgorithmSet,
    iat_window_secs: u64,
    max_proof_len: usize,
    nonces: Option<DpopNonces>,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            algorithms: AlgorithmSet::all(),
            iat_window_secs: DEFAULT_IAT_WINDOW_SECS,
            max_proof_len: DEFAULT_MAX_PROOF_LEN,
            nonces: None,
        }
    }
}

impl DpopConfig {
    /// Accept proofs signed with these algorithms only (all asymmetric ones by default).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: AlgorithmSet) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// The window around `now` within which `iat` must lie (default 300 s).
    #[must_use]
    pub fn with_iat_window_secs(mut self, secs: u64) -> Self {
        self.iat_window_secs = secs;
        self
    }

    /// Require server nonces in proofs (RFC 9449 §9): a proof without a valid `nonce` gets
    /// 401 `use_dpop_nonce` with a fresh `DPoP-Nonce` header.
    #[must_use]
    pub fn with_nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The server nonces, when required.
    pub fn nonces(&self) -> Option<&DpopNonces> {
        self.nonces.as_ref()
    }

    /// The accepted algorithms (for `WWW-Authenticate: DPoP algs=…` and the metadata's
    /// `dpop_signing_alg_values_supported`).
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// The `iat` window, in seconds.
    pub fn iat_window_secs(&self) -> u64 {
        self.iat_window_secs
    }
}

/// The request a proof must be for. Its `Debug` leaves the access token out.
#[derive(Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The request's public URI without query and fragment (what the client called).
    pub uri: &'a str,
    /// The access token presented with the proof.
    pub access_token: &'a str,
}

impl core::fmt::Debug for ProofRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProofRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what `cnf.jkt` must be.
    pub jkt: String,
    /// `iat`.
    pub issued_at: UnixTime,
}

/// Remembers the `jti`s of proofs already accepted, so that none is accepted twice within the
/// `iat` window. `&self` and `Sync`, so that an implementation can be a shared store used from
/// many tasks; the lock, if any, is the implementor's (`mcp-authz-driver` has a mutex one).
pub trait ReplayCache: Sync {
    /// Records the proof `key` (a digest of its `jti` and `htu`) as used until `until`; `false`
    /// when it is already recorded and not expired at `now` (a replay).
    fn insert_new(&self, key: [u8; 32], until: UnixTime, now: UnixTime) -> bool;
}

/// The in-memory [`ReplayCache`]: bounded (default 100 000 proofs; when full, the oldest go
/// first, so a sustained rate above `max / window` weakens replay detection for the oldest),
/// entries dropped once their window has passed.
#[derive(Debug)]
pub struct MemoryReplayCache {
    seen: BTreeMap<[u8; 32], UnixTime>,
    order: VecDeque<([u8; 32], UnixTime)>,
    max_entries: usize,
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl MemoryReplayCache {
    /// A cache of at most `max_entries` proofs.
    pub fn new(max_entries: usize) -> Self {
        Self {
            seen: BTreeMap::new(),
            order: VecDeque::new(),
            max_entries: max_entries.max(1),
        }
    }

    /// Proofs held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no proof is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// [`ReplayCache::insert_new`], with `&mut self`.
    pub fn insert(&mut self, key: [u8; 32], until: UnixTime, now: UnixTime) -> bool {
        while let Some((old, at)) = self.order.front().copied() {
            if at > now && self.seen.len() < self.max_entries {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&old) == Some(&at) {
                self.seen.remove(&old);
            }
        }
        match self.seen.get(&key) {
            Some(at) if *at > now => false,
            _ => {
                self.seen.insert(key, until);
                self.order.push_back((key, until));
                true
            }
        }
    }
}

/// What a replay store records of a proof: SHA-256 of its `jti` and `htu`, so that no proof
/// bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProofKey(pub [u8; 32]);

/// A proof that passed every check but the replay check: record its [`key`](Self::key) until
/// [`until`](Self::until), and accept it only if it was not recorded before.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a proof is verified only once recorded as used"]
pub struct UnrecordedProof {
    key: ProofKey,
    until: UnixTime,
    proof: VerifiedProof,
}

impl UnrecordedProof {
    /// The proof key's RFC 7638 thumbprint, to compare with the token's `cnf.jkt` before
    /// recording.
    pub fn jkt(&self) -> &str {
        &self.proof.jkt
    }

    /// The key to record (a digest, never the proof).
    pub fn key(&self) -> ProofKey {
        self.key
    }

    /// When the record may be forgotten: past it, the proof's `iat` is out of the window.
    pub fn until(&self) -> UnixTime {
        self.until
    }

    /// The proof, once the caller recorded its key and found it new (a replay store's answer).
    pub fn recorded(self) -> VerifiedProof {
        self.proof
    }

    /// Records the proof in `replay` at `now`.
    ///
    /// # Errors
    /// [`DpopError::Replayed`] when it was recorded before, within the window.
    pub fn record(
        self,
        replay: &dyn ReplayCache,
        now: UnixTime,
    ) -> Result<VerifiedProof, DpopError> {
        match replay.insert_new(self.key.0, self.until, now) {
            true => Ok(self.proof),
            false => Err(DpopError::Replayed),
        }
    }
}

/// The RFC 7638 thumbprint of a public JWK (its required members, lexicographic order, no
/// whitespace, SHA-256, base64url), or `None` for a key type it does not define here.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let s = |name: &str| jwk.get(name).and_then(Value::as_str);
    let canonical = match s("kty")? {
        "EC" => alloc::format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            quote(s("crv")?),
            quote(s("x")?),
            quote(s("y")?)
        ),
        "RSA" => alloc::format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            quote(s("e")?),
            quote(s("n")?)
        ),
        "OKP" => alloc::format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            quote(s("crv")?),
            quote(s("x")?)
        ),
        _ => return None,
    };
    Some(base64url_encode(&crate::crypto::sha256(
        canonical.as_bytes(),
    )))
}

/// A JSON string literal for `s` (serde_json's escaping).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// `ath`: base64url(SHA-256(the ASCII access token)) (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    base64url_encode(&crate::crypto::sha256(token.as_bytes()))
}

/// Checks the `DPoP` header values `proofs` for `request` at `now` (see the module docs), and
/// records the proof in `replay`: [`check_proof`], then [`UnrecordedProof::record`].
///
/// # Errors
/// The [`DpopError`] of the first check that fails.
pub fn verify_proof(
    proofs: &[&[u8]],
    request: &ProofRequest<'_>,
    config: &DpopConfig,
    replay: &dyn ReplayCache,
    now: UnixTime,
) -> Result<VerifiedProof, DpopError> {
    check_proof(proofs, request, config, now)?.record(replay, now)
}

/// Every check of the module docs but the replay check (step 8's `jti` must still be present):
/// the caller records the [`UnrecordedProof`] and accepts it only when it is new.
///
/// # Errors
/// The [`DpopError`] of the first check that fails.
pub fn check_proof(
    proofs: &[&[u8]],
    request: &ProofRequest<'_>,
    config: &DpopConfig,
    now: UnixTime,
) -> Result<UnrecordedProof, DpopError> {
    let proof = match proofs {
        [] => return Err(DpopError::MissingProof),
        [one] => *one,
        _ => return Err(DpopError::MultipleProofs),
    };
    let proof = core::str::from_utf8(proof).map_err(|_| DpopError::Malformed)?;
    if proof.contains(',') {
        return Err(DpopError::MultipleProofs);
    }
    let jws =
        CompactJws::parse(proof.trim(), config.max_proof_len).map_err(|_| DpopError::Malformed)?;
    let typ_ok = jws.header().typ().is_some_and(|t| {
        t.eq_ignore_ascii_case("dpop+jwt") || t.eq_ignore_ascii_case("application/dpop+jwt")
    });
    if !typ_ok {
        return Err(DpopError::InvalidTyp);
    }
    let alg = jws.header().alg();
    if !config.algorithms.contains(alg) {
        return Err(DpopError::AlgNotAllowed);
    }
    // The `jwk` header member: the header is decoded again, whole, to read it.
    let header_b64 = jws.signing_input().split('.').next().unwrap_or_default();
    let header_bytes = base64url_decode(header_b64).ok_or(DpopError::Malformed)?;
    let header = json::parse_object(&header_bytes).map_err(|_| DpopError::Malformed)?;
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(DpopError::InvalidJwk);
    };
    let key = parse_public_jwk(jwk).map_err(|private| match private {
        true => DpopError::PrivateJwk,
        false => DpopError::InvalidJwk,
    })?;
    if !key.fits(alg) {
        return Err(DpopError::InvalidJwk);
    }
    jws.verify(&key).map_err(|_| DpopError::InvalidSignature)?;
    let jkt = jwk_thumbprint(jwk).ok_or(DpopError::InvalidJwk)?;

    let claims = json::parse_object(jws.payload()).map_err(|_| DpopError::Malformed)?;
    let text = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(DpopError::InvalidClaim),
    };
    let htm = text("htm")?.ok_or(DpopError::MethodMismatch)?;
    if htm != request.method {
        return Err(DpopError::MethodMismatch);
    }
    let htu = text("htu")?.ok_or(DpopError::UriMismatch)?;
    let htu = htu.split(['?', '#']).next().unwrap_or_default();
    let expected = request.uri.split(['?', '#']).next().unwrap_or_default();
    if !same_resource(htu, expected) {
        return Err(DpopError::UriMismatch);
    }
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or(DpopError::InvalidClaim)?,
        Some(_) => return Err(DpopError::InvalidClaim),
        None => return Err(DpopError::IatOutOfWindow),
    };
    let window = config.iat_window_secs;
    if iat > now.as_secs().saturating_add(window) || iat.saturating_add(window) < now.as_secs() {
        return Err(DpopError::IatOutOfWindow);
    }
    let jti = text("jti")?.ok_or(DpopError::MissingJti)?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(DpopError::MissingJti);
    }
    match text("ath")? {
        Some(ath) if ath == access_token_hash(request.access_token) => {}
        _ => return Err(DpopError::AthMismatch),
    }
    if let Some(nonces) = &config.nonces {
        if !text("nonce")?.is_some_and(|n| nonces.is_valid(n, now)) {
            return Err(DpopError::UseNonce);
        }
    }
    // Last, once the proof is otherwise good: a bad proof never fills a replay store.
    let mut ctx = crate::crypto::digest::Context::new(&crate::crypto::digest::SHA256);
    ctx.update(jti.as_bytes());
    ctx.update(b"\0");
    ctx.update(expected.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    let until = UnixTime::from_secs(iat.saturating_add(window).saturating_add(1));
    Ok(UnrecordedProof {
        key: ProofKey(key),
        until,
        proof: VerifiedProof {
            jkt,
            issued_at: UnixTime::from_secs(iat),
        },
    })
}
