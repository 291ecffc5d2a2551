//! The JWK Set fetch step both adapters run for the core's refresh policy, and the verified-token
//! cache behind a mutex.

use std::sync::{Arc, Mutex};

use mcp_authz_core::jwks_refresh::{FetchFailure, FetchResponse, JwksRefresh};
use mcp_authz_core::token_cache::{PrincipalCache, TokenCache, TokenCacheLimits};
use mcp_authz_core::{AccessTokenVerifier, JwkSet, Principal, UnixTime};

use crate::fetch::{now, FetchError, HttpFetcher};

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

    /// Drops the entries verified by keys that `keys` no longer holds.
    pub fn retain_keys(&self, keys: &JwkSet) {
        if let Ok(mut c) = self.0.lock() {
            c.retain_keys(keys);
        }
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
pub struct SharedReplayCache(Mutex<mcp_authz_core::dpop::MemoryReplayCache>);

impl mcp_authz_core::dpop::ReplayCache for SharedReplayCache {
    fn insert_new(&self, key: [u8; 32], until: UnixTime, now: UnixTime) -> bool {
        self.0.lock().is_ok_and(|mut c| c.insert(key, until, now))
    }
}

/// Randomness for the backoff jitter.
pub fn random() -> u32 {
    let mut b = [0u8; 4];
    // Jitter only; a failure leaves it at zero.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u32::from_le_bytes(b)
}

/// Runs the fetch `policy` wants now, if any: `GET jwks_uri` with `fetcher`, the result reported
/// to the policy, and `on_new_keys` called with the new set when the key set changed (so caches
/// drop what a removed key verified). No lock is held across the IO. Returns whether a fetch
/// ran.
///
/// Both adapters drive the core's policy with this: `mcp-authz-hyper` from its background task,
/// `mcp-authz-lambda` inline at invocation time.
pub async fn fetch_due(
    policy: &Mutex<JwksRefresh>,
    fetcher: &HttpFetcher,
    jwks_uri: &str,
    on_new_keys: impl FnOnce(&JwkSet),
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
    crate::observe::jwks_fetch(
        jwks_uri,
        match outcome {
            None => Ok(p.last_good_keys().map_or(0, |k| k.keys().len())),
            Some(why) => Err(why.reason()),
        },
    );
    if let Some(keys) = p.last_good_keys() {
        if p.generation() != generation_before {
            on_new_keys(keys);
        }
    }
    true
}
