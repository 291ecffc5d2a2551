//! The caches every adapter shares between requests, behind `std` mutexes: verified tokens,
//! DPoP proofs seen, session bindings, and the `Mcp-Param-*` declarations of the MCP server's
//! tools.

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

/// What the MCP server's tools declare to be mirrored into `Mcp-Param-*` headers, as learned from
/// its `tools/list` answers (`mcp_authz_core::param_headers`), by tool name: the latest answer
/// that lists a tool wins; a tool listed without declarations, or with an invalid definition,
/// is forgotten. At most [`MAX_DECLARING_TOOLS`] tools are held.
#[derive(Debug, Default)]
pub(crate) struct SharedToolHeaders(
    std::sync::RwLock<
        std::collections::HashMap<String, Arc<mcp_authz_core::param_headers::ToolHeaders>>,
    >,
);

/// How many tools with `Mcp-Param-*` declarations are remembered at most (further ones are not
/// checked by the guard; the MCP server still must check them).
const MAX_DECLARING_TOOLS: usize = 10_000;

impl SharedToolHeaders {
    /// Learns from one JSON-RPC message of a `tools/list` answer (JSON, or one event's data).
    pub(crate) fn learn(&self, message: &[u8]) {
        let learned = mcp_authz_core::param_headers::tool_headers_of_list(message);
        if learned.is_empty() {
            return;
        }
        // Nothing panics while the lock is held, so a poisoned lock still holds sound data.
        let mut tools = self.0.write().unwrap_or_else(|e| e.into_inner());
        for (name, headers) in learned {
            match headers.filter(|h| !h.is_empty()) {
                Some(h) if tools.len() < MAX_DECLARING_TOOLS || tools.contains_key(&name) => {
                    tools.insert(name, Arc::new(h));
                }
                Some(_) => {}
                None => {
                    tools.remove(&name);
                }
            }
        }
    }
}

impl mcp_authz_core::param_headers::DeclaredHeaders for SharedToolHeaders {
    fn of_tool(&self, name: &str) -> Option<Arc<mcp_authz_core::param_headers::ToolHeaders>> {
        let tools = self.0.read().unwrap_or_else(|e| e.into_inner());
        tools.get(name).cloned()
    }
}

/// Rate-limit state per key (`mcp_authz_core::rate_limit`: one theoretical arrival time per
/// caller and limit), behind a `std` mutex; per process. Bounded: past [`MAX_RATE_KEYS`] keys,
/// the ones whose time has passed (worth nothing: a fresh key starts there) are dropped first.
#[derive(Debug, Default)]
pub(crate) struct SharedRateLimiter(
    Mutex<std::collections::HashMap<mcp_authz_core::rate_limit::RateLimitKey, u64>>,
);

/// How many callers' rate-limit states are held at most before the expired ones are swept.
const MAX_RATE_KEYS: usize = 100_000;

impl SharedRateLimiter {
    /// Decides one request of `key` at `now_ms` under `limit`, and stores the outcome.
    pub(crate) fn check(
        &self,
        key: mcp_authz_core::rate_limit::RateLimitKey,
        limit: &mcp_authz_core::rate_limit::RateLimit,
        now_ms: u64,
    ) -> mcp_authz_core::rate_limit::RateDecision {
        let mut states = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (decision, tat) =
            mcp_authz_core::rate_limit::gcra(states.get(&key).copied(), now_ms, limit);
        if let Some(tat) = tat {
            if states.len() >= MAX_RATE_KEYS && !states.contains_key(&key) {
                states.retain(|_, t| *t > now_ms);
            }
            // Still full of live callers: the newcomer is decided but not remembered.
            if states.len() < MAX_RATE_KEYS || states.contains_key(&key) {
                states.insert(key, tat);
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use mcp_authz_core::param_headers::DeclaredHeaders as _;
    use mcp_authz_core::session::{SessionBindings, SessionKey, SessionOwner};

    #[test]
    fn tool_headers_follow_the_latest_list() {
        let store = SharedToolHeaders::default();
        let list = |schema: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"result":{{"tools":[{{"name":"sql","inputSchema":{schema}}}]}}}}"#
            )
        };
        let declaring = list(r#"{"properties":{"r":{"type":"string","x-mcp-header":"Region"}}}"#);
        store.learn(declaring.as_bytes());
        let names = |s: &SharedToolHeaders| {
            s.of_tool("sql")
                .map(|h| h.names().map(String::from).collect::<Vec<_>>())
        };
        assert_eq!(names(&store), Some(vec!["Region".to_string()]));
        // Not a tools/list result: nothing changes.
        store.learn(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#);
        assert_eq!(names(&store), Some(vec!["Region".to_string()]));
        // Listed again without declarations, or with an invalid one: forgotten.
        store.learn(list(r#"{"properties":{"r":{"type":"string"}}}"#).as_bytes());
        assert_eq!(names(&store), None);
        store.learn(declaring.as_bytes());
        store
            .learn(list(r#"{"properties":{"r":{"type":"number","x-mcp-header":"R"}}}"#).as_bytes());
        assert_eq!(names(&store), None);
    }

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
