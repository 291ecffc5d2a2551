//! The tokio driver of the core's JWK Set refresh policy
//! ([`mcp_authz_core::jwks_refresh::JwksRefresh`]).
//!
//! A background task sleeps until the policy's `poll_timeout`, fetches when `poll_fetch` says so,
//! and feeds the result back. Requests read the current keys through a short lock and never wait
//! for a routine refresh. A request whose token names an unknown `kid` asks the policy; when it
//! says to wait, the request wakes the task and waits (bounded) for the single fetch in flight,
//! shared by every request waiting on it. No lock is held across a fetch.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use mcp_authz_core::jwks_refresh::{
    FetchFailure, FetchResponse, JwksRefresh, JwksRefreshConfig, KidMiss,
};
use mcp_authz_core::token_cache::{PrincipalCache, TokenCache, TokenCacheLimits};
use mcp_authz_core::{AccessTokenVerifier, JwkSet, Principal, UnixTime};
use tokio::sync::{watch, Notify};

use crate::fetch::{now, FetchError, HttpFetcher};

struct Shared {
    policy: Mutex<JwksRefresh>,
    jwks_uri: String,
    fetcher: HttpFetcher,
    wake: Notify,
    /// Counts completed fetches (success or failure); waiters watch it.
    completed: watch::Sender<u64>,
    cache: Option<SharedCache>,
}

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

    /// Drops the entries verified by keys that `keys` no longer holds.
    pub fn retain_keys(&self, keys: &JwkSet) {
        if let Ok(mut c) = self.0.lock() {
            c.retain_keys(keys);
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

/// The keys of one issuer, kept fresh by a background task.
#[derive(Clone)]
pub struct KeyStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("jwks_uri", &self.shared.jwks_uri)
            .finish_non_exhaustive()
    }
}

fn random() -> u32 {
    let mut b = [0u8; 4];
    // Jitter only; a failure leaves it at zero.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u32::from_le_bytes(b)
}

impl KeyStore {
    /// Fetches the keys once (so they are there before the first request is served), then keeps
    /// them fresh from a background task on the current tokio runtime. When the first fetch
    /// fails the store still starts: requests get 503 + `Retry-After` until a retry succeeds
    /// ([`KeyStore::first_failure`] says why).
    pub async fn start(
        jwks_uri: String,
        fetcher: HttpFetcher,
        config: JwksRefreshConfig,
        cache: Option<TokenCacheLimits>,
    ) -> Self {
        let (completed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            policy: Mutex::new(JwksRefresh::new(config)),
            jwks_uri,
            fetcher,
            wake: Notify::new(),
            completed,
            cache: cache.map(SharedCache::new),
        });
        run_due_fetch(&shared).await;
        tokio::spawn(background(Arc::downgrade(&shared)));
        Self { shared }
    }

    /// Why the keys are missing, when no fetch has succeeded yet.
    pub fn first_failure(&self) -> Option<FetchFailure> {
        match self.shared.policy.lock() {
            Ok(p) if p.last_good_keys().is_none() => {
                Some(p.last_failure().unwrap_or(FetchFailure::Connect))
            }
            _ => None,
        }
    }

    /// The `jwks_uri` fetched.
    pub fn jwks_uri(&self) -> &str {
        &self.shared.jwks_uri
    }

    /// The keys to verify with now, or the `Retry-After` seconds when there are none.
    ///
    /// # Errors
    /// Seconds after which clients may retry.
    pub fn current(&self) -> Result<Arc<JwkSet>, u32> {
        match self.shared.policy.lock() {
            Ok(p) => p.current(now()),
            Err(_) => Err(30),
        }
    }

    /// The verified-token cache, when enabled.
    pub fn cache(&self) -> Option<&SharedCache> {
        self.shared.cache.as_ref()
    }

    /// How many fetches of the JWK Set were started.
    pub fn fetches(&self) -> u64 {
        self.shared.policy.lock().map_or(0, |p| p.fetches_started())
    }

    /// A token named `kid`, which the current keys lack. Returns `true` when a fetch completed
    /// while waiting (decide again), `false` when the token should be rejected now.
    pub async fn await_kid(&self, kid: &str, max_wait: Duration) -> bool {
        let mut completed = self.shared.completed.subscribe();
        let start = *completed.borrow_and_update();
        let miss = match self.shared.policy.lock() {
            Ok(mut p) => p.handle_unknown_kid(now(), kid),
            Err(_) => KidMiss::Reject,
        };
        if miss != KidMiss::AwaitFetch {
            // The policy may have deferred a fetch to the end of the cooldown: the task re-arms
            // its timer from `poll_timeout`.
            self.shared.wake.notify_one();
            return false;
        }
        if self.current().is_ok_and(|k| k.contains_kid(kid)) {
            return true;
        }
        self.shared.wake.notify_one();
        let waited = tokio::time::timeout(max_wait, completed.wait_for(|n| *n != start)).await;
        matches!(waited, Ok(Ok(_)))
    }
}

/// Runs the fetch `policy` wants now, if any: `GET jwks_uri` with `fetcher`, the result reported
/// to the policy, and `cache` kept in step when the key set changes (a key that left the set takes
/// its cached verifications with it). No lock is held across the IO. Returns whether a fetch ran.
///
/// Both adapters drive the core's policy with this: this crate from its background task, the
/// Lambda adapter inline at invocation time.
pub async fn fetch_due(
    policy: &Mutex<JwksRefresh>,
    fetcher: &HttpFetcher,
    jwks_uri: &str,
    cache: Option<&SharedCache>,
) -> bool {
    let request = match policy.lock() {
        Ok(mut p) => p
            .poll_fetch(now())
            .map(|r| (r, p.config().limits.max_bytes)),
        Err(_) => None,
    };
    let Some((request, max)) = request else {
        return false;
    };
    let result = fetcher.get(jwks_uri, max).await;
    let Ok(mut p) = policy.lock() else {
        return false;
    };
    let generation_before = p.generation();
    let at = now();
    let outcome = match &result {
        Ok(f) => {
            let response = FetchResponse::new(f.status, &f.body)
                .with_cache_control(f.cache_control.as_deref())
                .with_expires(f.expires);
            p.handle_fetched_with_jitter(at, request.id, &response, random())
                .err()
        }
        Err(e) => {
            let why = match e {
                FetchError::Timeout => FetchFailure::Timeout,
                FetchError::TooLarge => FetchFailure::TooLarge,
                _ => FetchFailure::Connect,
            };
            p.handle_fetch_failed(at, request.id, why, random());
            Some(why)
        }
    };
    match (&outcome, &result) {
        (None, _) => tracing::debug!(target: "mcp_authz", jwks_uri, "JWK Set fetched"),
        (Some(why), Err(e)) => {
            tracing::warn!(target: "mcp_authz", jwks_uri, failure = %why, error = %e, "JWK Set fetch failed; keeping the last good keys")
        }
        (Some(why), Ok(_)) => {
            tracing::warn!(target: "mcp_authz", jwks_uri, failure = %why, "JWK Set fetch failed; keeping the last good keys")
        }
    }
    if let (Some(cache), Some(keys)) = (cache, p.last_good_keys()) {
        if p.generation() != generation_before {
            cache.retain_keys(keys);
        }
    }
    true
}

/// Runs a due fetch and tells the requests waiting on one that it completed.
async fn run_due_fetch(shared: &Shared) -> bool {
    let ran = fetch_due(
        &shared.policy,
        &shared.fetcher,
        &shared.jwks_uri,
        shared.cache.as_ref(),
    )
    .await;
    if ran {
        shared.completed.send_modify(|n| *n += 1);
    }
    ran
}

async fn background(shared: Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        // Woken by the timer or a request: let the policy see the time first.
        if let Ok(mut p) = s.policy.lock() {
            p.handle_timeout(now());
        }
        while run_due_fetch(&s).await {}
        let wake_at = s.policy.lock().ok().map(|p| p.poll_timeout());
        let sleep = match wake_at {
            Some(at) => Duration::from_secs(at.as_secs().saturating_sub(now().as_secs()).max(1)),
            None => Duration::from_secs(60),
        };
        // Wake at the policy's time, when a request asks for keys, or at least once a minute to
        // notice that the store was dropped.
        let notified = s.wake.notified();
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(sleep.min(Duration::from_secs(60))) => {}
        }
        drop(s);
    }
}
