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

/// The MCP session bindings behind a `std` mutex (see `mcp_authz_core::session`; per process):
/// signed-in callers' sessions, and, in a store of their own, sessions opened without a token
/// (public tools), so that anonymous `initialize`s can never evict a signed-in caller's binding.
#[derive(Debug)]
pub(crate) struct SharedSessionBindings {
    signed_in: Mutex<mcp_authz_core::session::MemorySessionBindings>,
    anonymous: Mutex<mcp_authz_core::session::MemorySessionBindings>,
}

/// How many sessions opened without a token are bound at most (the oldest go first).
const MAX_ANONYMOUS_SESSIONS: usize = 10_000;

impl Default for SharedSessionBindings {
    fn default() -> Self {
        use mcp_authz_core::session::{MemorySessionBindings, DEFAULT_SESSION_IDLE_SECS};
        Self {
            signed_in: Mutex::default(),
            anonymous: Mutex::new(MemorySessionBindings::new(
                MAX_ANONYMOUS_SESSIONS,
                DEFAULT_SESSION_IDLE_SECS,
            )),
        }
    }
}

impl SharedSessionBindings {
    /// Binds `session` to `owner` unless it is bound already; returns how many bindings are
    /// held then (both stores).
    pub(crate) fn bind(
        &self,
        session: mcp_authz_core::session::SessionKey,
        owner: mcp_authz_core::session::SessionOwner,
        now: UnixTime,
    ) -> usize {
        use mcp_authz_core::session::SessionBindings as _;
        let anonymous = owner == mcp_authz_core::session::SessionOwner::anonymous();
        // Bound already (in either store): the first binding stays.
        if self.owner(&session, now).is_some() {
            return self.len();
        }
        let store = match anonymous {
            true => &self.anonymous,
            false => &self.signed_in,
        };
        if let Ok(mut b) = store.lock() {
            b.bind(session, owner, now);
        }
        self.len()
    }

    fn len(&self) -> usize {
        let count = |m: &Mutex<mcp_authz_core::session::MemorySessionBindings>| {
            m.lock().map_or(0, |b| b.len())
        };
        count(&self.signed_in) + count(&self.anonymous)
    }
}

impl mcp_authz_core::session::SessionBindings for SharedSessionBindings {
    fn owner(
        &self,
        session: &mcp_authz_core::session::SessionKey,
        now: UnixTime,
    ) -> Option<mcp_authz_core::session::SessionOwner> {
        // A poisoned lock answers "unknown", as an empty store does.
        let signed_in = self
            .signed_in
            .lock()
            .ok()
            .and_then(|mut b| b.owner(session, now));
        signed_in.or_else(|| self.anonymous.lock().ok()?.owner(session, now))
    }
}

#[cfg(test)]
mod tests {
    use mcp_authz_core::session::{SessionBindings, SessionKey, SessionOwner};

    use super::*;

    #[test]
    fn anonymous_sessions_never_evict_a_signed_in_callers_binding() {
        let store = SharedSessionBindings::default();
        let now = UnixTime::from_secs(1_000);
        // A signed-in owner: any owner other than the anonymous one.
        let alice = SessionOwner::of_parts("https://issuer", "alice", "client");
        store.bind(SessionKey::of(b"alice-session"), alice, now);
        for i in 0..(MAX_ANONYMOUS_SESSIONS + 50) {
            let id = format!("anonymous-{i}");
            store.bind(
                SessionKey::of(id.as_bytes()),
                SessionOwner::anonymous(),
                now,
            );
        }
        assert_eq!(
            store.owner(&SessionKey::of(b"alice-session"), now),
            Some(alice)
        );
        assert_eq!(store.len(), MAX_ANONYMOUS_SESSIONS + 1);
        // The first binding stays: an anonymous response cannot rebind alice's session.
        store.bind(
            SessionKey::of(b"alice-session"),
            SessionOwner::anonymous(),
            now,
        );
        assert_eq!(
            store.owner(&SessionKey::of(b"alice-session"), now),
            Some(alice)
        );
    }
}
