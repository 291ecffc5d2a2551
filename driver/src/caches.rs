//! The caches every adapter shares between requests, behind `std` mutexes: verified tokens and
//! DPoP proofs seen.

use std::sync::{Arc, Mutex};

use mcp_authz_core::token_cache::{PrincipalCache, TokenCache, TokenCacheLimits};
use mcp_authz_core::{AccessTokenVerifier, JwkSet, Principal, UnixTime};

/// The verified-token cache behind a `std` mutex, locked only inside a lookup or an insert.
#[derive(Debug)]
pub struct SharedCache(Mutex<TokenCache>);

impl SharedCache {
    /// A cache with `limits`.
    pub fn new(limits: TokenCacheLimits) -> Self {
        Self(Mutex::new(TokenCache::new(limits)))
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |c| c.len())
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups so far: (hits, misses).
    pub fn stats(&self) -> (u64, u64) {
        self.0.lock().map_or((0, 0), |c| c.stats())
    }

    /// Drops the entries `verifier` verified by keys that `keys` no longer holds (one issuer's
    /// key set changed).
    pub fn retain_keys_of(&self, verifier: &AccessTokenVerifier, keys: &JwkSet) {
        if let Ok(mut c) = self.0.lock() {
            c.retain_keys_of(verifier, keys);
        }
    }
}

impl PrincipalCache for SharedCache {
    fn get(
        &self,
        verifier: &AccessTokenVerifier,
        token: &str,
        now: UnixTime,
    ) -> Option<Arc<Principal>> {
        self.0.lock().ok()?.get(verifier, token, now)
    }

    fn insert(
        &self,
        verifier: &AccessTokenVerifier,
        token: &str,
        principal: Arc<Principal>,
        now: UnixTime,
    ) {
        if let Ok(mut c) = self.0.lock() {
            c.insert(verifier, token, principal, now);
        }
    }
}

/// The DPoP replay cache behind a `std` mutex (RFC 9449 §11.1; per process: see
/// `mcp_authz_core::dpop`).
#[derive(Debug, Default)]
pub(crate) struct SharedReplayCache(Mutex<mcp_authz_core::dpop::MemoryReplayCache>);

impl mcp_authz_core::dpop::ReplayCache for SharedReplayCache {
    fn insert_new(&self, key: [u8; 32], until: UnixTime, now: UnixTime) -> bool {
        self.0.lock().is_ok_and(|mut c| c.insert(key, until, now))
    }
}

/// The MCP session bindings behind a `std` mutex (see `mcp_authz_core::session`; per process).
#[derive(Debug, Default)]
pub(crate) struct SharedSessionBindings(Mutex<mcp_authz_core::session::MemorySessionBindings>);

impl SharedSessionBindings {
    /// Binds `session` to `owner` unless it is bound already; returns how many bindings are
    /// held then.
    pub(crate) fn bind(
        &self,
        session: mcp_authz_core::session::SessionKey,
        owner: mcp_authz_core::session::SessionOwner,
        now: UnixTime,
    ) -> usize {
        self.0.lock().map_or(0, |mut b| {
            b.bind(session, owner, now);
            b.len()
        })
    }
}

impl mcp_authz_core::session::SessionBindings for SharedSessionBindings {
    fn owner(
        &self,
        session: &mcp_authz_core::session::SessionKey,
        now: UnixTime,
    ) -> Option<mcp_authz_core::session::SessionOwner> {
        // A poisoned lock answers "unknown", as an empty store does.
        self.0.lock().ok()?.owner(session, now)
    }
}
