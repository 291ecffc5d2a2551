//! The tokio driver of the core's JWK Set refresh policy
//! ([`mcp_authz_core::jwks_refresh::JwksRefresh`]).
//!
//! A background task sleeps until the policy's `poll_timeout`, fetches when `poll_fetch` says so,
//! and feeds the result back. Requests read the current keys through a short lock and never wait
//! for a routine refresh. A request whose token names an unknown `kid` asks the policy; when it
//! says to wait, the request wakes the task and waits (bounded) for the single fetch in flight,
//! shared by every request waiting on it. No lock is held across a fetch.
//!
//! Offline (`AuthzBuilder::build_offline`) the keys are fixed: nothing is fetched, an unknown
//! `kid` is refused at once.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use mcp_authz_core::jwks_refresh::{FetchFailure, JwksRefresh, JwksRefreshConfig, KidMiss};
use mcp_authz_core::{AccessTokenVerifier, JwkSet};
use mcp_authz_driver::{fetch_due, now, HttpFetcher, SharedCache};
use tokio::sync::{watch, Notify};

/// Keys fetched from `jwks_uri` and kept fresh by the background task.
struct Live {
    policy: Mutex<JwksRefresh>,
    jwks_uri: String,
    fetcher: HttpFetcher,
    wake: Notify,
    /// Counts completed fetches (success or failure); waiters watch it.
    completed: watch::Sender<u64>,
}

// One per key store, built once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Source {
    Live(Live),
    Fixed(Arc<JwkSet>),
}

struct Shared {
    source: Source,
    /// The guard's verified-token cache, and this issuer's verifier, whose entries go when a
    /// key leaves this set.
    cache: Option<(Arc<SharedCache>, AccessTokenVerifier)>,
}

/// The guard's verified-token cache and the verifier of one issuer.
pub(crate) type IssuerCache = Option<(Arc<SharedCache>, AccessTokenVerifier)>;

/// The keys of one issuer: fetched and kept fresh by a background task, or fixed (offline).
#[derive(Clone)]
pub struct KeyStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("jwks_uri", &self.jwks_uri())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Fetches the keys once (so they are there before the first request is served), then keeps
    /// them fresh from a background task on the current tokio runtime. When the first fetch
    /// fails the store still starts: requests get 503 + `Retry-After` until a retry succeeds
    /// ([`KeyStore::first_failure`] says why).
    pub(crate) async fn start(
        jwks_uri: String,
        fetcher: HttpFetcher,
        config: JwksRefreshConfig,
        cache: IssuerCache,
    ) -> Self {
        let (completed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            source: Source::Live(Live {
                policy: Mutex::new(JwksRefresh::new(config)),
                jwks_uri,
                fetcher,
                wake: Notify::new(),
                completed,
            }),
            cache,
        });
        run_due_fetch(&shared).await;
        tokio::spawn(background(Arc::downgrade(&shared)));
        Self { shared }
    }

    /// A store that always holds `keys` and fetches nothing.
    pub(crate) fn fixed(keys: JwkSet) -> Self {
        Self {
            shared: Arc::new(Shared {
                source: Source::Fixed(Arc::new(keys)),
                cache: None,
            }),
        }
    }

    /// Why the keys are missing, when no fetch has succeeded yet.
    pub fn first_failure(&self) -> Option<FetchFailure> {
        let Source::Live(live) = &self.shared.source else {
            return None;
        };
        match live.policy.lock() {
            Ok(p) if p.last_good_keys().is_none() => {
                Some(p.last_failure().unwrap_or(FetchFailure::Connect))
            }
            _ => None,
        }
    }

    /// The `jwks_uri` fetched (none offline).
    pub fn jwks_uri(&self) -> Option<&str> {
        match &self.shared.source {
            Source::Live(live) => Some(&live.jwks_uri),
            Source::Fixed(_) => None,
        }
    }

    /// How many fetches of the JWK Set were started.
    pub fn fetches(&self) -> u64 {
        match &self.shared.source {
            Source::Live(live) => live.policy.lock().map_or(0, |p| p.fetches_started()),
            Source::Fixed(_) => 0,
        }
    }

    /// The keys to verify with now, or the `Retry-After` seconds when there are none.
    pub(crate) fn current(&self) -> Result<Arc<JwkSet>, u32> {
        match &self.shared.source {
            Source::Live(live) => match live.policy.lock() {
                Ok(p) => p.current(now()),
                Err(_) => Err(30),
            },
            Source::Fixed(keys) => Ok(keys.clone()),
        }
    }

    /// A token named `kid`, which the current keys lack. Returns `true` when a fetch completed
    /// while waiting (decide again), `false` when the token should be rejected now.
    pub(crate) async fn await_kid(&self, kid: &str, max_wait: Duration) -> bool {
        let Source::Live(live) = &self.shared.source else {
            return false;
        };
        let mut completed = live.completed.subscribe();
        let start = *completed.borrow_and_update();
        let miss = match live.policy.lock() {
            Ok(mut p) => p.handle_unknown_kid(now(), kid),
            Err(_) => KidMiss::Reject,
        };
        mcp_authz_driver::observe::kid_miss(match miss {
            KidMiss::AwaitFetch => "fetch",
            _ => "rejected",
        });
        if miss != KidMiss::AwaitFetch {
            // The policy may have deferred a fetch to the end of the cooldown: the task re-arms
            // its timer from `poll_timeout`.
            live.wake.notify_one();
            return false;
        }
        if self.current().is_ok_and(|k| k.contains_kid(kid)) {
            return true;
        }
        live.wake.notify_one();
        let waited = tokio::time::timeout(max_wait, completed.wait_for(|n| *n != start)).await;
        matches!(waited, Ok(Ok(_)))
    }
}

/// Runs a due fetch and tells the requests waiting on one that it completed.
async fn run_due_fetch(shared: &Shared) -> bool {
    let Source::Live(live) = &shared.source else {
        return false;
    };
    let cache = shared.cache.as_ref();
    let ran = fetch_due(&live.policy, &live.fetcher, &live.jwks_uri, |keys| {
        if let Some((cache, verifier)) = cache {
            cache.retain_keys_of(verifier, keys);
        }
    })
    .await;
    if ran {
        live.completed.send_modify(|n| *n += 1);
    }
    ran
}

async fn background(shared: Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        let Source::Live(live) = &s.source else {
            return;
        };
        // Woken by the timer or a request: let the policy see the time first.
        if let Ok(mut p) = live.policy.lock() {
            p.handle_timeout(now());
        }
        while run_due_fetch(&s).await {}
        let (wake_at, fetched_at) = match live.policy.lock() {
            Ok(p) => (Some(p.poll_timeout()), p.fetched_at()),
            Err(_) => (None, None),
        };
        if let Some(at) = fetched_at {
            let age = now().as_secs().saturating_sub(at.as_secs());
            mcp_authz_driver::observe::jwks_age(&live.jwks_uri, age);
        }
        let sleep = match wake_at {
            Some(at) => Duration::from_secs(at.as_secs().saturating_sub(now().as_secs()).max(1)),
            None => Duration::from_secs(60),
        };
        // Wake at the policy's time, when a request asks for keys, or at least once a minute to
        // notice that the store was dropped.
        let notified = live.wake.notified();
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(sleep.min(Duration::from_secs(60))) => {}
        }
        drop(s);
    }
}
