//! The tokio driver of the core's introspection cache
//! ([`mcp_authz_core::token_introspection::IntrospectionCache`]): the answer to
//! `Step::Introspect`, for both adapters.
//!
//! A lookup under a short lock; on a miss, the one call for that token (single flight: the
//! others wait for it, bounded by the in-flight timeout), `POST`ed with the shared fetcher, read
//! by the core, kept by the core. No lock is held across the call. Neither the token nor the
//! client secret is ever logged.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mcp_authz_core::token_introspection::{
    parse_response, IntrospectionFailure, Lookup, MAX_RESPONSE_BYTES,
};
use mcp_authz_core::{Error, IntrospectionCache, IntrospectionConfig, Principal, VerifierConfig};
use tokio::sync::watch;

use crate::fetch::{now, FetchError, HttpFetcher};
use crate::store::{FailureLog, Store, StoreUse};

/// Introspection for one authorization server: its cache, and the client that calls it.
#[derive(Debug)]
pub struct Introspector {
    cache: Mutex<IntrospectionCache>,
    fetcher: HttpFetcher,
    /// Counts completed calls; requests waiting on another's call watch it.
    completed: watch::Sender<u64>,
    in_flight_wait: Duration,
    /// The store replicas share answers through, when they do (`AuthzOptions::share_introspection`).
    shared: OnceLock<Arc<Store>>,
    failures: FailureLog,
}

/// The answer to `Step::Introspect` for `token`, under the guard's first verifier: from
/// `introspector`, or, when the adapter was built without one, 503 (nothing can check the token).
///
/// # Errors
/// As [`Introspector::introspect`].
pub(crate) async fn answer_introspection(
    introspector: Option<&Introspector>,
    token: &str,
    verifier: &VerifierConfig,
) -> Result<Arc<Principal>, Error> {
    match introspector {
        Some(i) => i.introspect(token, verifier).await,
        None => Err(Error::IntrospectionUnavailable {
            retry_after_secs: 30,
        }),
    }
}

impl Introspector {
    /// An introspector for `config`, calling out with `fetcher`.
    pub fn new(config: IntrospectionConfig, fetcher: HttpFetcher) -> Self {
        let (completed, _) = watch::channel(0);
        // Wait for another request's call as long as that call may take.
        let in_flight_wait = fetcher.options().total_timeout;
        Self {
            cache: Mutex::new(IntrospectionCache::new(config)),
            fetcher,
            completed,
            in_flight_wait,
            shared: OnceLock::new(),
            failures: FailureLog::default(),
        }
    }

    /// Shares answers with other replicas through `store`: a miss here asks the store before
    /// the authorization server, and an answer the server gave is kept there for all.
    pub(crate) fn share_through(&self, store: Arc<Store>) {
        let _ = self.shared.set(store);
    }

    /// The shared store, if answers are shared, and what names `token`'s answer there
    /// ([`IntrospectionConfig::shared_key`]): one digest for the lookup and the keeping.
    fn shared_for(&self, token: &str) -> Option<(&Store, [u8; 32])> {
        let store = self.shared.get()?;
        let key = self.cache.lock().ok()?.config().shared_key(token);
        Some((store, key))
    }

    /// The answer another replica kept under `key`, if any. A store that cannot answer is
    /// skipped (the authorization server is asked, as without a store).
    async fn shared_answer(&self, store: &Store, key: [u8; 32]) -> Option<(u16, Vec<u8>)> {
        match store.introspection_answer(key).await {
            Ok(kept) => kept,
            Err(e) => {
                self.failures.failed(StoreUse::Introspection, &e, false);
                None
            }
        }
    }

    /// Calls made so far (cache misses that went to the authorization server).
    pub fn calls(&self) -> u64 {
        self.cache.lock().map_or(0, |c| c.calls())
    }

    /// Answers served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.cache.lock().map_or(0, |c| c.hits())
    }

    fn unavailable(&self) -> Error {
        self.cache.lock().map_or(
            Error::IntrospectionUnavailable {
                retry_after_secs: 5,
            },
            |c| c.config().unavailable(),
        )
    }

    /// How often a response stream opened with an introspected token asks again whether the
    /// token is active: the longest an active answer is cached (at least a second).
    pub fn recheck_interval(&self) -> Duration {
        let secs = self.cache.lock().map_or(1, |c| c.config().max_ttl_secs());
        Duration::from_secs(secs.max(1))
    }

    /// Whether `token` is still active under `verifier`, for a stream it opened: the cached
    /// answer while it lives, else the authorization server's. Anything but an active answer
    /// (inactive, expired, the server unreachable) is `false`: the stream ends, and the client's
    /// next request gets the refusal or the `503`.
    pub async fn still_active(&self, token: &str, verifier: &VerifierConfig) -> bool {
        self.introspect(token, verifier).await.is_ok()
    }

    /// The answer for `token` under `verifier` (the guard's first verifier): from the cache, from
    /// another request's call in flight, or from a call of its own.
    ///
    /// # Errors
    /// The refusal ([`Error::InvalidToken`]) or [`Error::IntrospectionUnavailable`].
    pub async fn introspect(
        &self,
        token: &str,
        verifier: &VerifierConfig,
    ) -> Result<Arc<Principal>, Error> {
        // A waiter looks again after each completed call; a few rounds are plenty.
        for _ in 0..4 {
            let mut completed = self.completed.subscribe();
            completed.borrow_and_update();
            let lookup = match self.cache.lock() {
                Ok(mut c) => c.lookup(token, verifier, now()),
                Err(_) => return Err(self.unavailable()),
            };
            match lookup {
                Lookup::Active(p) => return Ok(p),
                Lookup::Refused(e) => return Err(Error::InvalidToken(e)),
                Lookup::InFlight => {
                    let waited =
                        tokio::time::timeout(self.in_flight_wait, completed.changed()).await;
                    if !matches!(waited, Ok(Ok(()))) {
                        return Err(self.unavailable());
                    }
                }
                Lookup::Miss => {
                    if let Some(answer) = self.call(token, verifier).await {
                        return answer;
                    }
                    // Another request started the call between the lookup and ours: wait
                    // for it on the next round.
                }
                // A later kind of answer: deny.
                _ => return Err(self.unavailable()),
            }
        }
        Err(self.unavailable())
    }

    /// The call for `token`; `None` when another request's call is already out.
    async fn call(
        &self,
        token: &str,
        verifier: &VerifierConfig,
    ) -> Option<Result<Arc<Principal>, Error>> {
        let started = match self.cache.lock() {
            Ok(mut c) => c.start(token, now()),
            Err(_) => return Some(Err(self.unavailable())),
        };
        let (ticket, request) = started?;
        // Another replica's answer, read again here exactly as if the server had just sent it.
        let shared = self.shared_for(token);
        let kept_answer = match shared {
            Some((store, key)) => self.shared_answer(store, key).await,
            None => None,
        };
        let (fetched, from_store) = match kept_answer {
            Some((status, body)) => (
                Ok(crate::fetch::Fetched {
                    status,
                    cache_control: None,
                    expires: None,
                    body: body.into(),
                }),
                true,
            ),
            None => (
                self.fetcher
                    .post_form(
                        &request.url,
                        request.authorization.as_deref(),
                        request.body,
                        MAX_RESPONSE_BYTES,
                    )
                    .await,
                false,
            ),
        };
        let outcome = match &fetched {
            Ok(f) => {
                let config = self.cache.lock().map(|c| c.config().clone());
                match config {
                    Ok(config) => parse_response(f.status, &f.body, verifier, &config, now()),
                    Err(_) => Err(IntrospectionFailure::NoResponse),
                }
            }
            Err(_) => Err(IntrospectionFailure::NoResponse),
        };
        if let Err(failure) = &outcome {
            let error = match &fetched {
                Err(FetchError::Timeout) => "timeout".to_owned(),
                Err(e) => e.to_string(),
                Ok(f) => format!("HTTP {}", f.status),
            };
            tracing::warn!(target: "mcp_authz", endpoint = %request.url, failure = failure.reason(), error = %error, "token introspection failed: requests needing it get 503");
        }
        crate::observe::introspection(match (&outcome, from_store) {
            (Ok(_), true) => "shared",
            (Ok(Ok(_)), false) => "active",
            (Ok(Err(_)), false) => "refused",
            (Err(failure), _) => failure.reason(),
        });
        if let (Ok(verdict), Ok(f), Some((store, key)), false) =
            (&outcome, &fetched, shared, from_store)
        {
            let now = now();
            let until = self
                .cache
                .lock()
                .ok()
                .map(|c| c.config().keep_until(verdict, now));
            if let Some(until) = until {
                let ttl_ms = until.as_secs().saturating_sub(now.as_secs()) * 1000;
                if ttl_ms > 0 {
                    let kept = store
                        .keep_introspection_answer(key, f.status, &f.body, ttl_ms)
                        .await;
                    if let Err(e) = kept {
                        self.failures.failed(StoreUse::Introspection, &e, false);
                    }
                }
            }
        }
        let answer = match self.cache.lock() {
            Ok(mut c) => c.finish(ticket, token, outcome, now()),
            Err(_) => Err(self.unavailable()),
        };
        self.completed.send_modify(|n| *n += 1);
        Some(answer)
    }
}
