//! Where rate-limit state lives: in this process (the default, nothing to run), or in Redis (or
//! Valkey) shared by every replica (feature `redis`, `AuthzOptions::store`).
//!
//! The decision is the core's ([`gcra`](mcp_authz_core::rate_limit::gcra)); a store only keeps one number per key, the
//! theoretical arrival time, and applies the core's update atomically. In Redis that is a
//! compare-and-set script: read the value, decide, write the new value only if the value read is
//! still there (else decide again, a few times). Keys are `mcp-authz:rl:` and the hex SHA-256 of
//! the caller and the limit's scope ([`RateLimitKey`]), never a token or an identifier, and
//! every key expires when its value is worth nothing (the arrival time has passed).
//!
//! When the store cannot be reached (or answers too slowly: 250 ms), the limits fail open by
//! default (the request is decided as if unlimited) or closed (`503` + `Retry-After`), as the
//! options say; each failure is counted and logged at most once every 10 s.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcp_authz_core::rate_limit::{RateDecision, RateLimit, RateLimitKey};

use crate::caches::SharedRateLimiter;

/// Why the store could not decide.
#[derive(Debug)]
pub(crate) struct StoreUnavailable(String);

impl std::fmt::Display for StoreUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rate-limit state of one resource.
#[derive(Debug)]
pub(crate) enum RateStore {
    /// In this process.
    Memory(SharedRateLimiter),
    /// In Redis, shared by replicas.
    #[cfg(feature = "redis")]
    Redis(Box<RedisRates>),
}

impl RateStore {
    /// Decides one request of `key` at `now_ms` under `limit`, and stores the outcome.
    pub(crate) async fn check(
        &self,
        key: RateLimitKey,
        limit: &RateLimit,
        now_ms: u64,
    ) -> Result<RateDecision, StoreUnavailable> {
        match self {
            Self::Memory(m) => Ok(m.check(key, limit, now_ms)),
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.check(key, limit, now_ms).await,
        }
    }
}

/// Logs a store failure at most once per interval (every failure is counted).
#[derive(Debug, Default)]
pub(crate) struct FailureLog(Mutex<Option<Instant>>);

impl FailureLog {
    /// Counts `error` and logs it unless one was logged in the last 10 s.
    pub(crate) fn failed(&self, error: &StoreUnavailable, fail_closed: bool) {
        crate::observe::store_error("rate_limit");
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return;
        }
        *last = Some(Instant::now());
        let policy = if fail_closed {
            "requests get 503 (fail closed)"
        } else {
            "limits are not applied (fail open)"
        };
        tracing::warn!(target: "mcp_authz", error = %error, "the rate-limit store cannot be reached: {policy}; logged at most every 10 s");
    }
}

/// Rate-limit state in Redis (see the module docs).
#[cfg(feature = "redis")]
pub(crate) struct RedisRates {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
    /// When connecting last failed: for a second after, requests do not wait on another try.
    failed_at: Mutex<Option<Instant>>,
    swap: redis::Script,
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRates").finish_non_exhaustive()
    }
}

/// The key prefix of every key the store writes.
#[cfg(feature = "redis")]
const PREFIX: &str = "mcp-authz:rl:";

/// How long one store operation may take before the request is decided without it.
#[cfg(feature = "redis")]
const STORE_TIMEOUT: Duration = Duration::from_millis(250);

#[cfg(feature = "redis")]
impl RedisRates {
    /// A store at `url` (`redis://HOST:PORT/DB`, `rediss://` for TLS); connects on first use,
    /// and again after a failure.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("--store {url}: {e}"))?;
        // Compare and set: write ARGV[2] (expiring in ARGV[3] ms) only if the key still holds
        // ARGV[1] ("" for absent). The decision itself is made by the caller (the core's GCRA).
        let swap = redis::Script::new(
            r"local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0",
        );
        Ok(Self {
            client,
            connection: tokio::sync::Mutex::new(None),
            failed_at: Mutex::new(None),
            swap,
        })
    }

    async fn connection(&self) -> Result<redis::aio::ConnectionManager, StoreUnavailable> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let recently = |m: &Mutex<Option<Instant>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        };
        if recently(&self.failed_at) {
            return Err(StoreUnavailable(
                "Redis was unreachable a moment ago".into(),
            ));
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(STORE_TIMEOUT))
            .set_response_timeout(Some(STORE_TIMEOUT))
            .set_number_of_retries(0);
        let made = tokio::time::timeout(
            STORE_TIMEOUT * 2,
            redis::aio::ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        .map_err(|_| StoreUnavailable("connecting to Redis timed out".into()))
        .and_then(|r| r.map_err(|e| StoreUnavailable(format!("connecting to Redis: {e}"))));
        let made = match made {
            Ok(m) => m,
            Err(e) => {
                *self
                    .failed_at
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
                return Err(e);
            }
        };
        *slot = Some(made.clone());
        Ok(made)
    }

    async fn check(
        &self,
        key: RateLimitKey,
        limit: &RateLimit,
        now_ms: u64,
    ) -> Result<RateDecision, StoreUnavailable> {
        let name = format!("{PREFIX}{}", hex(&key.0));
        let mut conn = self.connection().await?;
        let fail = |e: redis::RedisError| StoreUnavailable(format!("Redis: {e}"));
        // A few rounds: another replica may write between our read and our write.
        for _ in 0..8 {
            let read: Option<String> = tokio::time::timeout(
                STORE_TIMEOUT,
                redis::cmd("GET").arg(&name).query_async(&mut conn),
            )
            .await
            .map_err(|_| StoreUnavailable("Redis did not answer in time".into()))?
            .map_err(fail)?;
            let tat = read.as_deref().and_then(|v| v.parse::<u64>().ok());
            let (decision, next) = mcp_authz_core::rate_limit::gcra(tat, now_ms, limit);
            let Some(next) = next else {
                return Ok(decision);
            };
            let ttl = next.saturating_sub(now_ms).max(1) + 1_000;
            let swapped: i64 = tokio::time::timeout(
                STORE_TIMEOUT,
                self.swap
                    .key(&name)
                    .arg(read.unwrap_or_default())
                    .arg(next.to_string())
                    .arg(ttl)
                    .invoke_async(&mut conn),
            )
            .await
            .map_err(|_| StoreUnavailable("Redis did not answer in time".into()))?
            .map_err(fail)?;
            if swapped == 1 {
                return Ok(decision);
            }
        }
        Err(StoreUnavailable(
            "Redis: the limit's state kept changing under us".into(),
        ))
    }
}

#[cfg(feature = "redis")]
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
