//! The verified-token cache: skips the signature check for a token already verified.
//!
//! Keyed by the token's last 32 bytes (the end of its signature: distinct for distinct verified
//! tokens, and only verified tokens are inserted), with the full token compared on a hit, so no
//! two tokens sharing an ending can pass for each other. A SHA-256 of the whole token was a
//! third of a cached request's cost in the layer. Bounded by entries and by bytes. An entry
//! lives at most until the token's `exp` and never longer than a configured maximum; every hit
//! re-checks `exp`/`nbf`/`iat` against `now` and the issuer and audience against the verifier's
//! configuration ([`Principal::recheck`]); the required scopes are checked per request by the
//! caller as for any other principal. Entries go when the key that verified them leaves the key
//! set ([`TokenCache::retain_keys`], or [`TokenCache::retain_keys_of`] for one issuer's keys), and
//! an entry is used only under the verifier configuration it was verified with: a guard with
//! several authorization servers shares one cache among its verifiers.
//!
//! Like the rest of the core it takes `now` as an argument and does no IO. It needs `&mut self`
//! to insert; adapters share one behind a lock held only for the lookup or the insert, never
//! across a signature check ([`PrincipalCache`]).
//!
//! ```
//! use mcp_authz_core::token_cache::{TokenCache, TokenCacheLimits};
//! use mcp_authz_core::{AccessTokenVerifier, JwkSet, UnixTime, VerifierConfig};
//!
//! let verifier = AccessTokenVerifier::new(VerifierConfig::new("https://as.example", "https://rs.example/mcp"));
//! let mut cache = TokenCache::new(TokenCacheLimits::default());
//! let now = UnixTime::from_secs(1_700_000_000);
//! // A miss: verify (outside any lock), then insert what verified.
//! assert!(cache.get(&verifier, "a.b.c", now).is_none());
//! match verifier.verify("a.b.c", &JwkSet::default(), now) {
//!     Ok(principal) => cache.insert(&verifier, "a.b.c", principal.into(), now),
//!     Err(e) => assert_eq!(e.reason(), "invalid_base64"),
//! }
//! ```

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use core::cell::RefCell;

use crate::access_token::{AccessTokenVerifier, Principal};
use crate::jose::jwk::JwkSet;
use crate::time::UnixTime;

/// Bounds of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCacheLimits {
    /// Most entries (default 10 000).
    pub max_entries: usize,
    /// Most bytes of tokens and claims held, approximately (default 16 MiB).
    pub max_bytes: usize,
    /// Longest an entry lives, whatever the token's `exp` (default 3600 s).
    pub max_ttl_secs: u64,
}

impl Default for TokenCacheLimits {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 16 * 1024 * 1024,
            max_ttl_secs: 3600,
        }
    }
}

impl TokenCacheLimits {
    /// Limits of `max_entries` entries, `max_bytes` bytes and `max_ttl_secs` seconds.
    pub fn new(max_entries: usize, max_bytes: usize, max_ttl_secs: u64) -> Self {
        Self {
            max_entries,
            max_bytes,
            max_ttl_secs,
        }
    }
}

#[derive(Debug)]
struct Entry {
    token: String,
    principal: Arc<Principal>,
    evict_at: UnixTime,
    bytes: usize,
    /// The identity of the configuration it was verified under
    /// ([`AccessTokenVerifier::config_id`]): however many issuers share the cache, an entry is
    /// only ever a hit for the configuration that verified it.
    config: [u8; 32],
}

/// The verified-token cache (see the module docs).
#[derive(Debug)]
pub struct TokenCache {
    limits: TokenCacheLimits,
    entries: BTreeMap<[u8; 32], Entry>,
    /// Insertion order, for eviction when full.
    order: VecDeque<[u8; 32]>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// The entry key of `token`: its last 32 bytes, left-padded with zeros. A lookup with any other
/// token of that ending only misses (the token is compared in full), and an insert (of a token
/// just verified) can only replace an entry whose token ends like it: another signature with
/// the same last 24 bytes, which nobody without the signing key can make.
fn key(token: &str) -> [u8; 32] {
    let bytes = token.as_bytes();
    let tail = bytes.get(bytes.len().saturating_sub(32)..).unwrap_or(bytes);
    let mut key = [0u8; 32];
    if let Some(place) = key.get_mut(32 - tail.len()..) {
        place.copy_from_slice(tail);
    }
    key
}

/// Rough memory held by one entry: the token, its claims and the bookkeeping.
fn entry_bytes(token: &str, principal: &Principal) -> usize {
    // The principal keeps the claims set's text and a few of its strings again, parsed.
    token.len() + 2 * principal.claims_json().len() + 256
}

impl TokenCache {
    /// An empty cache.
    pub fn new(limits: TokenCacheLimits) -> Self {
        Self {
            limits,
            entries: BTreeMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// `(hits, misses)` so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// The cached principal for `token`, if it was verified before under `verifier`'s
    /// configuration (exactly) and still holds at `now`.
    pub fn get(
        &mut self,
        verifier: &AccessTokenVerifier,
        token: &str,
        now: UnixTime,
    ) -> Option<Arc<Principal>> {
        let config = verifier.config_id();
        let key = key(token);
        let hit = match self.entries.get(&key) {
            Some(e) if e.token == token && &e.config == config && now < e.evict_at => e
                .principal
                .recheck(verifier.config(), now)
                .is_ok()
                .then(|| e.principal.clone()),
            _ => None,
        };
        match hit {
            Some(p) => {
                self.hits += 1;
                Some(p)
            }
            None => {
                self.misses += 1;
                if self.entries.get(&key).is_some_and(|e| now >= e.evict_at) {
                    self.remove(&key);
                }
                None
            }
        }
    }

    /// Remembers that `token` verified as `principal` at `now` under `verifier`'s configuration.
    pub fn insert(
        &mut self,
        verifier: &AccessTokenVerifier,
        token: &str,
        principal: Arc<Principal>,
        now: UnixTime,
    ) {
        let config = *verifier.config_id();
        let evict_at = principal
            .expires_at()
            .min(now.saturating_add(self.limits.max_ttl_secs));
        let bytes = entry_bytes(token, &principal);
        if now >= evict_at || bytes > self.limits.max_bytes || self.limits.max_entries == 0 {
            return;
        }
        let key = key(token);
        self.remove(&key);
        while !self.order.is_empty()
            && (self.entries.len() >= self.limits.max_entries
                || self.bytes + bytes > self.limits.max_bytes)
        {
            if let Some(old) = self.order.pop_front() {
                self.remove(&old);
            }
        }
        self.entries.insert(
            key,
            Entry {
                token: String::from(token),
                principal,
                evict_at,
                bytes,
                config,
            },
        );
        self.order.push_back(key);
        self.bytes += bytes;
        // `order` may hold keys already removed; keep it from growing without bound.
        if self.order.len() > 2 * self.limits.max_entries.max(16) {
            let live = &self.entries;
            self.order.retain(|k| live.contains_key(k));
        }
    }

    fn remove(&mut self, key: &[u8; 32]) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.bytes;
        }
    }

    /// Drops every entry for which `gone` holds.
    fn remove_where(&mut self, gone: impl Fn(&Entry) -> bool) {
        let keys: alloc::vec::Vec<[u8; 32]> = self
            .entries
            .iter()
            .filter(|(_, e)| gone(e))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.remove(&key);
        }
        let live = &self.entries;
        self.order.retain(|k| live.contains_key(k));
    }

    /// Drops the entries verified by a key that `keys` no longer holds (same material).
    pub fn retain_keys(&mut self, keys: &JwkSet) {
        let live: BTreeSet<&[u8; 32]> = keys.keys().iter().map(|k| k.fingerprint()).collect();
        self.remove_where(|e| !live.contains(e.principal.key_fingerprint()));
    }

    /// Drops the entries that `verifier` verified with a key that `keys` no longer holds: what
    /// a guard with several authorization servers calls when one issuer's key set changes.
    pub fn retain_keys_of(&mut self, verifier: &AccessTokenVerifier, keys: &JwkSet) {
        let config = verifier.config_id();
        let live: BTreeSet<&[u8; 32]> = keys.keys().iter().map(|k| k.fingerprint()).collect();
        self.remove_where(|e| &e.config == config && !live.contains(e.principal.key_fingerprint()));
    }
}

/// A verified-token cache as the decision uses it: lookups and inserts through `&self`, so the
/// implementor chooses the locking (a `std::sync::Mutex` in the adapters, a `RefCell` in tests
/// and single-threaded drivers). A lock must be held only inside these calls.
pub trait PrincipalCache {
    /// See [`TokenCache::get`].
    fn get(
        &self,
        verifier: &AccessTokenVerifier,
        token: &str,
        now: UnixTime,
    ) -> Option<Arc<Principal>>;
    /// See [`TokenCache::insert`].
    fn insert(
        &self,
        verifier: &AccessTokenVerifier,
        token: &str,
        principal: Arc<Principal>,
        now: UnixTime,
    );
}

impl PrincipalCache for RefCell<TokenCache> {
    fn get(
        &self,
        verifier: &AccessTokenVerifier,
        token: &str,
        now: UnixTime,
    ) -> Option<Arc<Principal>> {
        self.try_borrow_mut().ok()?.get(verifier, token, now)
    }

    fn insert(
        &self,
        verifier: &AccessTokenVerifier,
        token: &str,
        principal: Arc<Principal>,
        now: UnixTime,
    ) {
        if let Ok(mut cache) = self.try_borrow_mut() {
            cache.insert(verifier, token, principal, now);
        }
    }
}
