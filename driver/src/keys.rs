//! The keys of one authorization server, as every adapter holds them: [`KeyStore`], the tokio
//! driver of the core's JWK Set refresh policy
//! ([`JwksRefresh`](mcp_authz_core::jwks_refresh::JwksRefresh)), or a fixed set.
//!
//! - [`Refresh::Background`] (servers): a task sleeps until the policy's `poll_timeout`, fetches
//!   when `poll_fetch` says so, and feeds the result back. Requests never wait for a routine
//!   refresh, nor take the policy's lock: after every change the driver publishes the policy's
//!   [`fresh_until`](JwksRefresh::fresh_until) (the keys, and until when they are usable), and
//!   requests read that with atomic loads.
//! - [`Refresh::Inline`] (AWS Lambda, where no task runs while the environment is frozen): the
//!   fetch the policy wants is run at the start of the request that finds it due
//!   (`KeyStore::run_due`).
//!
//! A request whose token names an unknown `kid` asks the policy (`KeyStore::await_kid`); when
//! it says to wait, the request waits (bounded) for the one fetch in flight, shared by every
//! request waiting on it. No lock is held across a fetch. Fixed keys (offline builds) fetch
//! nothing, and an unknown `kid` is refused at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use mcp_authz_core::jwks_refresh::{
    FetchFailure, FetchResponse, JwksRefresh, JwksRefreshConfig, KidMiss, RetryAfter,
};
use mcp_authz_core::{JwkSet, UnixTime};
use tokio::sync::{watch, Notify};

use crate::fetch::{now, FetchError, HttpFetcher};

/// Who runs the fetches the refresh policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// A background task on the current tokio runtime.
    Background,
    /// The requests themselves, when they find a fetch due (`KeyStore::run_due`).
    Inline,
}

/// Called with the new key set when it changed, so that caches drop what a removed key verified.
pub type OnNewKeys = Arc<dyn Fn(&JwkSet) + Send + Sync>;

/// Keys fetched from `jwks_uri` and kept fresh by the policy.
struct Live {
    policy: Mutex<JwksRefresh>,
    /// The policy's [`JwksRefresh::fresh_until`], published whenever its lock is released
    /// ([`Locked`]): what requests read.
    fresh: ArcSwapOption<(Arc<JwkSet>, UnixTime)>,
    jwks_uri: String,
    fetcher: HttpFetcher,
    refresh: Refresh,
    on_new_keys: Option<OnNewKeys>,
    wake: Notify,
    /// Counts completed fetches (success or failure); waiters watch it.
    completed: watch::Sender<u64>,
}

impl Live {
    /// The policy, locked. A panic elsewhere while it was locked leaves a state machine whose
    /// every method keeps its invariants, so the lock's poison is ignored. Whatever the holder
    /// changes, what requests read is published again before the lock is released
    /// ([`Locked`]): no change can skip it.
    fn policy(&self) -> Locked<'_> {
        Locked {
            guard: self.policy.lock().unwrap_or_else(PoisonError::into_inner),
            fresh: &self.fresh,
        }
    }

    /// The keys to verify with at `now`: the published keys while they are usable (no lock);
    /// past that instant, the policy's answer (how long clients should wait).
    fn current(&self, now: UnixTime) -> Result<Arc<JwkSet>, RetryAfter> {
        if let Some((keys, until)) = self.fresh.load().as_deref() {
            if now <= *until {
                return Ok(keys.clone());
            }
        }
        self.policy().current(now)
    }
}

/// The refresh policy under its lock; on release it publishes the policy's
/// [`fresh_until`](JwksRefresh::fresh_until) for the requests (still under the lock, so the
/// publications follow the changes in order).
struct Locked<'a> {
    guard: MutexGuard<'a, JwksRefresh>,
    fresh: &'a ArcSwapOption<(Arc<JwkSet>, UnixTime)>,
}

impl std::ops::Deref for Locked<'_> {
    type Target = JwksRefresh;

    fn deref(&self) -> &JwksRefresh {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut JwksRefresh {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.fresh.store(self.guard.fresh_until().map(Arc::new));
    }
}

// One per authorization server, built once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Source {
    Live(Live),
    Fixed(Arc<JwkSet>),
    /// Not known yet (the metadata naming `jwks_uri` is still being fetched): no keys, until
    /// [`KeyStore::resolve`] puts the live store in.
    Deferred(std::sync::RwLock<Option<KeyStore>>),
}

/// How long clients are told to wait while the keys are not known yet.
const DEFERRED_RETRY_AFTER_SECS: u32 = 5;

/// The keys of one authorization server: fetched and kept fresh, or fixed (offline).
#[derive(Clone)]
pub struct KeyStore {
    source: Arc<Source>,
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
    /// them fresh as `refresh` says. When the first fetch fails the store still starts: requests
    /// with a token get 503 + `Retry-After` until a retry succeeds ([`KeyStore::first_failure`]
    /// says why).
    pub(crate) async fn start(
        jwks_uri: String,
        fetcher: HttpFetcher,
        config: JwksRefreshConfig,
        refresh: Refresh,
        on_new_keys: Option<OnNewKeys>,
    ) -> Self {
        let (completed, _) = watch::channel(0);
        let source = Arc::new(Source::Live(Live {
            policy: Mutex::new(JwksRefresh::new(config)),
            fresh: ArcSwapOption::empty(),
            jwks_uri,
            fetcher,
            refresh,
            on_new_keys,
            wake: Notify::new(),
            completed,
        }));
        if let Source::Live(live) = &*source {
            run_due_fetch(live).await;
        }
        if refresh == Refresh::Background {
            tokio::spawn(background(Arc::downgrade(&source)));
        }
        Self { source }
    }

    /// A store that always holds `keys` and fetches nothing.
    pub(crate) fn fixed(keys: JwkSet) -> Self {
        Self {
            source: Arc::new(Source::Fixed(Arc::new(keys))),
        }
    }

    /// A store whose `jwks_uri` is not known yet: requests with a token get 503 +
    /// `Retry-After` until [`KeyStore::resolve`] gives it the live store.
    pub(crate) fn deferred() -> Self {
        Self {
            source: Arc::new(Source::Deferred(std::sync::RwLock::new(None))),
        }
    }

    /// Puts the live `store` into a deferred one (once; later calls change nothing).
    pub(crate) fn resolve(&self, store: KeyStore) {
        if let Source::Deferred(slot) = &*self.source {
            let mut slot = slot.write().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(store);
            }
        }
    }

    /// The live store behind a deferred one, once resolved.
    fn resolved(&self) -> Option<KeyStore> {
        match &*self.source {
            Source::Deferred(slot) => slot.read().unwrap_or_else(PoisonError::into_inner).clone(),
            _ => None,
        }
    }

    /// Whether keys are there to verify with now.
    pub fn has_keys(&self) -> bool {
        self.current().is_ok()
    }

    /// Why the keys are missing, when no fetch has succeeded yet.
    pub fn first_failure(&self) -> Option<FetchFailure> {
        if let Source::Deferred(_) = &*self.source {
            return self
                .resolved()
                .map_or(Some(FetchFailure::Connect), |s| s.first_failure());
        }
        let Source::Live(live) = &*self.source else {
            return None;
        };
        let p = live.policy();
        p.last_good_keys()
            .is_none()
            .then(|| p.last_failure().unwrap_or(FetchFailure::Connect))
    }

    /// The `jwks_uri` fetched (none offline, or while it is not known yet).
    pub fn jwks_uri(&self) -> Option<String> {
        match &*self.source {
            Source::Live(live) => Some(live.jwks_uri.clone()),
            Source::Fixed(_) => None,
            Source::Deferred(_) => self.resolved()?.jwks_uri(),
        }
    }

    /// How many fetches of the JWK Set were started.
    pub fn fetches(&self) -> u64 {
        match &*self.source {
            Source::Live(live) => live.policy().fetches_started(),
            Source::Fixed(_) => 0,
            Source::Deferred(_) => self.resolved().map_or(0, |s| s.fetches()),
        }
    }

    /// The keys to verify with now, or how long clients should wait when there are none.
    pub(crate) fn current(&self) -> Result<Arc<JwkSet>, RetryAfter> {
        match &*self.source {
            Source::Live(live) => live.current(now()),
            Source::Fixed(keys) => Ok(keys.clone()),
            Source::Deferred(_) => match self.resolved() {
                Some(s) => s.current(),
                None => Err(RetryAfter::from_secs(DEFERRED_RETRY_AFTER_SECS)),
            },
        }
    }

    /// With [`Refresh::Inline`], runs the fetch the policy wants now, if any; otherwise nothing.
    pub(crate) async fn run_due(&self) {
        match &*self.source {
            Source::Live(live) if live.refresh == Refresh::Inline => {
                run_due_fetch(live).await;
            }
            Source::Deferred(_) => {
                if let Some(s) = self.resolved() {
                    Box::pin(s.run_due()).await;
                }
            }
            _ => {}
        }
    }

    /// A token named `kid`, which the current keys lack. Returns `true` when a fetch completed
    /// within `max_wait` (decide again), `false` when the token should be rejected now.
    pub(crate) async fn await_kid(&self, kid: &str, max_wait: Duration) -> bool {
        if let Source::Deferred(_) = &*self.source {
            return match self.resolved() {
                Some(s) => Box::pin(s.await_kid(kid, max_wait)).await,
                None => false,
            };
        }
        let Source::Live(live) = &*self.source else {
            return false;
        };
        let mut completed = live.completed.subscribe();
        let start = *completed.borrow_and_update();
        let miss = live.policy().handle_unknown_kid(now(), kid);
        crate::observe::kid_miss(match miss {
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
        let fetched = async {
            if live.refresh == Refresh::Inline && run_due_fetch(live).await {
                return;
            }
            live.wake.notify_one();
            // A fetch is in flight (another request's, or the task's): wait for it.
            let _ = completed.wait_for(|n| *n != start).await;
        };
        tokio::time::timeout(max_wait, fetched).await.is_ok()
    }
}

/// Runs the fetch the policy wants now, if any: `GET jwks_uri`, the result reported to the
/// policy, the new set handed to `on_new_keys` when it changed, and the requests waiting on a
/// fetch told. Returns whether a fetch ran.
async fn run_due_fetch(live: &Live) -> bool {
    let request = {
        let mut p = live.policy();
        p.poll_fetch(now())
            .map(|r| (r, p.config().limits.max_bytes))
    };
    let Some((request, max)) = request else {
        return false;
    };
    let result = live.fetcher.get(&live.jwks_uri, max).await;
    let jwks_uri = live.jwks_uri.as_str();
    {
        let mut p = live.policy();
        let generation_before = p.generation();
        let at = now();
        let outcome = match &result {
            Ok(f) => {
                let response = FetchResponse::new(f.status, &f.body)
                    .with_cache_control(f.cache_control.as_deref())
                    .with_expires(f.expires);
                p.handle_fetched(at, request.id, &response, random()).err()
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
        crate::observe::jwks_fetch(
            jwks_uri,
            match outcome {
                None => Ok(p.last_good_keys().map_or(0, |k| k.keys().len())),
                Some(why) => Err(why.reason()),
            },
        );
        if let (Some(keys), Some(on_new_keys)) = (p.last_good_keys(), &live.on_new_keys) {
            if p.generation() != generation_before {
                on_new_keys(keys);
            }
        }
    }
    live.completed.send_modify(|n| *n += 1);
    true
}

/// 128 random bits, hex: an identifier nobody can guess (a client assertion's `jti`, a facade
/// transaction's id); `None` when the system has no randomness to give.
pub fn random_id() -> Option<String> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).ok()?;
    Some(crate::store::hex(&b))
}

/// Randomness for the backoff jitter.
pub(crate) fn random() -> u32 {
    let mut b = [0u8; 4];
    // Jitter only; a failure leaves it at zero.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u32::from_le_bytes(b)
}

/// The task of a [`Refresh::Background`] store; it ends when the store is dropped.
async fn background(source: Weak<Source>) {
    loop {
        let Some(s) = source.upgrade() else { return };
        let Source::Live(live) = &*s else {
            return;
        };
        // Woken by the timer or a request: let the policy see the time first.
        live.policy().handle_timeout(now());
        while run_due_fetch(live).await {}
        let (wake_at, fetched_at) = {
            let p = live.policy();
            (p.poll_timeout(), p.fetched_at())
        };
        if let Some(at) = fetched_at {
            let age = now().as_secs().saturating_sub(at.as_secs());
            crate::observe::jwks_age(&live.jwks_uri, age);
        }
        let sleep = Duration::from_secs(wake_at.as_secs().saturating_sub(now().as_secs()).max(1));
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
