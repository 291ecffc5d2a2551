//! MCP sessions bound to the caller that opened them
//! ([MCP 2025-11-25, Streamable HTTP, Session Management](https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management)).
//!
//! A server may answer `initialize` with an `Mcp-Session-Id`; the client then sends it on every
//! request. The upstream MCP server knows nothing of tokens, so without a binding any principal
//! holding a session id could use another's session. The adapter binds a session id to the
//! principal ([`SessionOwner`]: issuer, subject, client id) of the request whose response
//! carried it; a later request with that id and another principal is refused with `404`, as the
//! specification answers an unknown session, and never reaches the upstream (the check is part
//! of the verdict: [`crate::verdict`]). The binding does not depend on the token's bytes, so a
//! refreshed token keeps its session.
//!
//! A session opened without a token (public tools) is bound to [`SessionOwner::anonymous`]: it
//! serves only requests without a token, and a signed-in caller naming it gets `404`.
//!
//! Session ids are kept only as SHA-256 ([`SessionKey`]). A binding that was evicted (the store
//! is bounded) or that idled out is unknown again: the request goes on, and the upstream judges
//! the id as it would without the binding.

use alloc::collections::{BTreeMap, BTreeSet};

use crate::access_token::Principal;
use crate::crypto::{sha256, sha256_of_parts};
use crate::time::UnixTime;

/// Who a session belongs to: SHA-256 of the principal's issuer, subject and client id (each
/// length-prefixed, so no two triples share a digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionOwner([u8; 32]);

impl SessionOwner {
    /// The owner of a session opened without a token (a client of public tools,
    /// [`ScopePolicy::with_public_tool`](crate::ScopePolicy::with_public_tool)): it serves only
    /// requests without a token; a signed-in caller naming it gets `404` and starts a new session.
    /// No principal's owner is this one (its length prefix is one no string has).
    pub fn anonymous() -> Self {
        let mut input = alloc::vec::Vec::new();
        input.extend_from_slice(&u64::MAX.to_be_bytes());
        input.extend_from_slice(b"anonymous");
        Self(sha256(&input))
    }

    /// The owner a session opened by `principal` gets.
    pub fn of(principal: &Principal) -> Self {
        Self::of_parts(
            principal.issuer(),
            principal.subject().unwrap_or(""),
            principal.client_id().unwrap_or(""),
        )
    }

    /// The owner of the principal with this issuer, subject and client id (`""` for one it
    /// lacks): what [`SessionOwner::of`] computes, for stores that keep owners elsewhere.
    pub fn of_parts(issuer: &str, subject: &str, client_id: &str) -> Self {
        Self(sha256_of_parts(&[issuer, subject, client_id]))
    }

    /// The digest, for a store that keeps owners elsewhere (a shared store across replicas).
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The owner whose digest [`SessionOwner::to_bytes`] gave.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

/// A session id as it is kept: its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// The key of the `Mcp-Session-Id` value `id`.
    pub fn of(id: &[u8]) -> Self {
        Self(sha256(id))
    }

    /// The digest, to name the binding in a shared store.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

/// Where the exchange looks up who a session belongs to. Lookups go through `&self` and it is
/// `Sync`, so the implementor chooses the locking (a mutex in the adapters; shared storage for
/// replicas).
pub trait SessionBindings: Sync {
    /// The owner of `session`, if it is bound (and still `now`).
    fn owner(&self, session: &SessionKey, now: UnixTime) -> Option<SessionOwner>;
}

/// The default limits of [`MemorySessionBindings`].
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;
/// How long an unused binding is kept, in seconds (one day).
pub const DEFAULT_SESSION_IDLE_SECS: u64 = 24 * 3600;

/// Session bindings in memory, bounded: at most `max` bindings, each dropped after `idle_secs`
/// without use; when full, the binding unused the longest goes first.
#[derive(Debug, Clone)]
pub struct MemorySessionBindings {
    entries: BTreeMap<SessionKey, (SessionOwner, UnixTime)>,
    /// The same bindings by last use, oldest first: eviction and idling in O(log n).
    by_use: BTreeSet<(UnixTime, SessionKey)>,
    max: usize,
    idle_secs: u64,
}

impl Default for MemorySessionBindings {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_IDLE_SECS)
    }
}

impl MemorySessionBindings {
    /// An empty store of at most `max` bindings (at least one), each kept `idle_secs` after its
    /// last use.
    pub fn new(max: usize, idle_secs: u64) -> Self {
        Self {
            entries: BTreeMap::new(),
            by_use: BTreeSet::new(),
            max: max.max(1),
            idle_secs,
        }
    }

    /// Binds `session` to `owner` unless it is bound already: the first response that carried
    /// the id wins, and nobody rebinds it. Returns the owner it is bound to now.
    pub fn bind(
        &mut self,
        session: SessionKey,
        owner: SessionOwner,
        now: UnixTime,
    ) -> SessionOwner {
        if let Some(current) = self.owner(&session, now) {
            return current;
        }
        if self.entries.len() >= self.max {
            if let Some((_, oldest)) = self.by_use.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(session, (owner, now));
        self.by_use.insert((now, session));
        owner
    }

    /// The owner of `session`, marking it used `now`; `None` when unbound or idle too long (the
    /// idle binding is dropped).
    pub fn owner(&mut self, session: &SessionKey, now: UnixTime) -> Option<SessionOwner> {
        let (owner, used) = self.entries.get_mut(session)?;
        let (owner, last) = (*owner, *used);
        self.by_use.remove(&(last, *session));
        if now.as_secs() > last.as_secs().saturating_add(self.idle_secs) {
            self.entries.remove(session);
            return None;
        }
        *used = now.max(last);
        self.by_use.insert((*used, *session));
        Some(owner)
    }

    /// Bindings held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(n: u8) -> SessionOwner {
        SessionOwner([n; 32])
    }

    #[test]
    fn the_first_binding_wins_and_idle_or_evicted_ones_are_unknown() {
        let t = UnixTime::from_secs;
        let mut b = MemorySessionBindings::new(2, 10);
        let (s1, s2, s3) = (
            SessionKey::of(b"1"),
            SessionKey::of(b"2"),
            SessionKey::of(b"3"),
        );
        assert_eq!(b.bind(s1, owner(1), t(0)), owner(1));
        assert_eq!(b.bind(s1, owner(2), t(1)), owner(1), "never rebound");
        assert_eq!(b.owner(&s1, t(5)), Some(owner(1)));
        b.bind(s2, owner(2), t(6));
        // Full: the binding unused the longest (s1, used at 5) goes.
        b.bind(s3, owner(3), t(7));
        assert_eq!(b.len(), 2);
        assert_eq!(b.owner(&s1, t(7)), None);
        assert_eq!(b.owner(&s3, t(17)), Some(owner(3)));
        assert_eq!(b.owner(&s2, t(17)), None, "idle past 10 s");
        assert_eq!(b.len(), 1);
    }
}
