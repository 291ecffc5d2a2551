//! Where the state shared by requests lives: rate-limit counters, DPoP proofs seen (RFC 9449
//! §11.1) and MCP session owners. In this process (the default, nothing to run), or in Redis
//! (or Valkey) shared by every replica (feature `redis`, `AuthzOptions::store`), so that a
//! proof replayed to another replica is refused, a session opened on one replica belongs to its
//! caller on all of them, and a limit holds across all of them.
//!
//! The decisions are the core's (the request exchange asks for `Step::LookupSession` and
//! `Step::RecordProof`; [`gcra`](mcp_authz_core::rate_limit::gcra) decides a limit); a store
//! only keeps values and applies updates atomically. In Redis: a proof is `SET NX` with an
//! expiry (the first replica to record it wins); a session owner is `SET NX` when the session
//! opens (the first response wins) and read with `GETEX`, which keeps it another idle period;
//! a limit is one number per key, the theoretical arrival time, written by a compare-and-set
//! script (read, decide, write only if the value read is still there; else decide again).
//! Keys are `mcp-authz:{rl,dpop,session}:` and a hex SHA-256 (of the caller and the limit's
//! scope, of the proof's `jti` and `htu`, of the session id), never a token or an identifier,
//! and every key expires. Single-use values (the facade's transactions, `mcp-authz:once:` and a
//! SHA-256 of their id) are `SET NX` with an expiry and taken with `GETDEL`. Optionally (`AuthzOptions::share_introspection`), introspection
//! answers too (`mcp-authz:introspection:` and the token's SHA-256; the value is the
//! authorization server's response, read again by the core on every use, kept until the core's
//! `keep_until`): one call to the authorization server per token for all replicas, and one
//! moment at which all of them see a revocation.
//!
//! When the store cannot be reached (or answers too slowly: 250 ms), rate limits fail open by
//! default (the request is decided as if unlimited) or closed (`503` + `Retry-After`); DPoP
//! replay and session checks fail closed by default (`503`), or open (a proof taken as new, a
//! session as unbound), as the options say. Each failure is counted
//! (`mcp_authz_store_errors_total{op}`) and logged at most once every 10 s per use.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcp_authz_core::dpop::ProofKey;
use mcp_authz_core::rate_limit::{RateDecision, RateLimit, RateLimitKey};
use mcp_authz_core::session::{SessionKey, SessionOwner};
use mcp_authz_core::{ProofRecord, UnixTime};

use crate::caches::{SharedRateLimiter, SharedReplayCache, SharedSessionBindings};

/// Why the store could not answer.
#[derive(Debug)]
pub(crate) struct StoreUnavailable(String);

impl std::fmt::Display for StoreUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shared state of one resource.
#[derive(Debug)]
pub(crate) enum Store {
    /// In this process.
    Memory(Box<MemoryState>),
    /// In Redis, shared by replicas.
    #[cfg(feature = "redis")]
    Redis(Box<RedisStore>),
}

/// The in-process state.
#[derive(Debug, Default)]
pub(crate) struct MemoryState {
    rates: SharedRateLimiter,
    replay: SharedReplayCache,
    sessions: SharedSessionBindings,
    single_use: Mutex<SingleUse>,
}

/// Values taken once (the facade's transactions): bounded, expiring.
#[derive(Debug, Default)]
struct SingleUse {
    values: std::collections::BTreeMap<[u8; 32], (String, UnixTime)>,
    order: std::collections::VecDeque<[u8; 32]>,
}

/// The most single-use values kept in this process (the oldest go first).
const MAX_SINGLE_USE: usize = 10_000;

impl Store {
    /// The in-process store.
    pub(crate) fn memory() -> Self {
        Self::Memory(Box::default())
    }

    /// Decides one request of `key` at `now_ms` under `limit`, and stores the outcome.
    pub(crate) async fn check_rate(
        &self,
        key: RateLimitKey,
        limit: &RateLimit,
        now_ms: u64,
    ) -> Result<RateDecision, StoreUnavailable> {
        match self {
            Self::Memory(m) => Ok(m.rates.check(key, limit, now_ms)),
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.check_rate(key, limit, now_ms).await,
        }
    }

    /// Records the proof `key` as used until `until`, if it is not recorded yet.
    pub(crate) async fn record_proof(
        &self,
        key: ProofKey,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<ProofRecord, StoreUnavailable> {
        match self {
            Self::Memory(m) => {
                use mcp_authz_core::dpop::ReplayCache as _;
                Ok(match m.replay.insert_new(key.0, until, now) {
                    true => ProofRecord::New,
                    false => ProofRecord::Seen,
                })
            }
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.record_proof(key, until, now).await,
        }
    }

    /// The owner of `session` (`None` when unbound), marking it used `now`.
    pub(crate) async fn session_owner(
        &self,
        session: SessionKey,
        now: UnixTime,
    ) -> Result<Option<SessionOwner>, StoreUnavailable> {
        match self {
            Self::Memory(m) => {
                use mcp_authz_core::session::SessionBindings as _;
                Ok(m.sessions.owner(&session, now))
            }
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.session_owner(session).await,
        }
    }

    /// The introspection answer (HTTP status and body, as the authorization server gave it) a
    /// replica kept for the token with this digest; `None` in this process's store (the
    /// introspector's own cache is the in-process one).
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(crate) async fn introspection_answer(
        &self,
        token: [u8; 32],
    ) -> Result<Option<(u16, Vec<u8>)>, StoreUnavailable> {
        match self {
            Self::Memory(_) => Ok(None),
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.introspection_answer(token).await,
        }
    }

    /// Keeps an introspection answer for the token with this digest until `ttl_ms` from now,
    /// for every replica.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(crate) async fn keep_introspection_answer(
        &self,
        token: [u8; 32],
        status: u16,
        body: &[u8],
        ttl_ms: u64,
    ) -> Result<(), StoreUnavailable> {
        match self {
            Self::Memory(_) => Ok(()),
            #[cfg(feature = "redis")]
            Self::Redis(r) => {
                r.keep_introspection_answer(token, status, body, ttl_ms)
                    .await
            }
        }
    }

    /// Keeps `value` under `key` until `until`, to be taken once (by any replica sharing the
    /// store).
    pub(crate) async fn put_single_use(
        &self,
        key: [u8; 32],
        value: String,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreUnavailable> {
        match self {
            Self::Memory(m) => {
                let mut s = m
                    .single_use
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                while let Some(oldest) = s.order.front().copied() {
                    let expired = s.values.get(&oldest).is_none_or(|(_, t)| *t <= now);
                    if !expired && s.values.len() < MAX_SINGLE_USE {
                        break;
                    }
                    s.order.pop_front();
                    s.values.remove(&oldest);
                }
                s.order.push_back(key);
                s.values.insert(key, (value, until));
                Ok(())
            }
            #[cfg(feature = "redis")]
            Self::Redis(r) => {
                let ttl_ms = until.as_secs().saturating_sub(now.as_secs()).max(1) * 1000;
                r.put_single_use(key, &value, ttl_ms).await
            }
        }
    }

    /// Takes the value under `key` (once), if it has not expired at `now`.
    pub(crate) async fn take_single_use(
        &self,
        key: [u8; 32],
        now: UnixTime,
    ) -> Result<Option<String>, StoreUnavailable> {
        match self {
            Self::Memory(m) => {
                let mut s = m
                    .single_use
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Ok(s.values
                    .remove(&key)
                    .filter(|(_, until)| now < *until)
                    .map(|(v, _)| v))
            }
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.take_single_use(key).await,
        }
    }

    /// Binds `session` to `owner` unless it is bound already (the first binding stays).
    /// Returns the bindings held in this process (`None` for a shared store).
    pub(crate) async fn bind_session(
        &self,
        session: SessionKey,
        owner: SessionOwner,
        now: UnixTime,
    ) -> Result<Option<usize>, StoreUnavailable> {
        match self {
            Self::Memory(m) => Ok(Some(m.sessions.bind(session, owner, now))),
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.bind_session(session, owner).await.map(|()| None),
        }
    }
}

/// What the store was asked for, in metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreUse {
    /// Rate-limit counters.
    RateLimit,
    /// DPoP proofs seen.
    DpopReplay,
    /// Session owners.
    Sessions,
    /// Introspection answers.
    Introspection,
    /// Single-use values (the facade's transactions).
    SingleUse,
}

impl StoreUse {
    fn name(self) -> &'static str {
        match self {
            Self::RateLimit => "rate_limit",
            Self::DpopReplay => "dpop_replay",
            Self::Sessions => "sessions",
            Self::Introspection => "introspection",
            Self::SingleUse => "single_use",
        }
    }
}

/// Logs store failures at most once per interval per use (every failure is counted).
#[derive(Debug, Default)]
pub(crate) struct FailureLog(Mutex<[Option<Instant>; 5]>);

impl FailureLog {
    /// Counts `error` of `used_for` and logs it unless one of that use was logged in the last
    /// 10 s.
    pub(crate) fn failed(&self, used_for: StoreUse, error: &StoreUnavailable, fail_closed: bool) {
        crate::observe::store_error(used_for.name());
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let [rate, replay, sessions, introspection, single_use] = &mut *last;
        let slot = match used_for {
            StoreUse::RateLimit => rate,
            StoreUse::DpopReplay => replay,
            StoreUse::Sessions => sessions,
            StoreUse::Introspection => introspection,
            StoreUse::SingleUse => single_use,
        };
        if slot.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return;
        }
        *slot = Some(Instant::now());
        let policy = match (used_for, fail_closed) {
            (_, true) => "requests that need it get 503 (fail closed)",
            (StoreUse::RateLimit, false) => "limits are not applied (fail open)",
            (StoreUse::DpopReplay, false) => "proofs are taken as new (fail open)",
            (StoreUse::Sessions, false) => "sessions are taken as unbound (fail open)",
            (StoreUse::Introspection, false) => "tokens are introspected by each replica",
            (StoreUse::SingleUse, false) => "single-use values cannot be kept",
        };
        let used_for = used_for.name();
        tracing::warn!(target: "mcp_authz", error = %error, used_for, "the state store cannot be reached: {policy}; logged at most every 10 s");
    }
}

/// Shared state in Redis (see the module docs).
#[cfg(feature = "redis")]
pub(crate) struct RedisStore {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
    /// When connecting last failed: for a second after, requests do not wait on another try.
    failed_at: Mutex<Option<Instant>>,
    swap: redis::Script,
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

/// The key prefixes of the keys the store writes: rate limits, proofs, sessions.
#[cfg(feature = "redis")]
const RATE_PREFIX: &str = "mcp-authz:rl:";
#[cfg(feature = "redis")]
const PROOF_PREFIX: &str = "mcp-authz:dpop:";
#[cfg(feature = "redis")]
const SESSION_PREFIX: &str = "mcp-authz:session:";
#[cfg(feature = "redis")]
const INTROSPECTION_PREFIX: &str = "mcp-authz:introspection:";
#[cfg(feature = "redis")]
const SINGLE_USE_PREFIX: &str = "mcp-authz:once:";

/// How long a session binding is kept in Redis after its last use (as in this process).
#[cfg(feature = "redis")]
const SESSION_IDLE_MS: u64 = mcp_authz_core::session::DEFAULT_SESSION_IDLE_SECS * 1000;

/// How long one store operation may take before the request is decided without it.
#[cfg(feature = "redis")]
const STORE_TIMEOUT: Duration = Duration::from_millis(250);

#[cfg(feature = "redis")]
impl RedisStore {
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

    /// One command, within the store's time.
    async fn query<T: redis::FromRedisValue>(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreUnavailable> {
        tokio::time::timeout(STORE_TIMEOUT, cmd.query_async(conn))
            .await
            .map_err(|_| StoreUnavailable("Redis did not answer in time".into()))?
            .map_err(|e| StoreUnavailable(format!("Redis: {e}")))
    }

    async fn record_proof(
        &self,
        key: ProofKey,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<ProofRecord, StoreUnavailable> {
        let mut conn = self.connection().await?;
        let ttl_ms = until.as_secs().saturating_sub(now.as_secs()).max(1) * 1000;
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{PROOF_PREFIX}{}", hex(&key.0)))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let set: Option<String> = self.query(&mut conn, &cmd).await?;
        Ok(match set {
            Some(_) => ProofRecord::New,
            None => ProofRecord::Seen,
        })
    }

    async fn session_owner(
        &self,
        session: SessionKey,
    ) -> Result<Option<SessionOwner>, StoreUnavailable> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("GETEX");
        cmd.arg(format!("{SESSION_PREFIX}{}", hex(&session.to_bytes())))
            .arg("PX")
            .arg(SESSION_IDLE_MS);
        let owner: Option<String> = self.query(&mut conn, &cmd).await?;
        match owner {
            None => Ok(None),
            // A value this store did not write: the binding is unknowable, so not "unbound".
            Some(v) => unhex(&v)
                .map(|b| Some(SessionOwner::from_bytes(b)))
                .ok_or_else(|| {
                    StoreUnavailable("Redis: a session owner that is not a digest".into())
                }),
        }
    }

    async fn put_single_use(
        &self,
        key: [u8; 32],
        value: &str,
        ttl_ms: u64,
    ) -> Result<(), StoreUnavailable> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{SINGLE_USE_PREFIX}{}", hex(&key)))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let _: Option<String> = self.query(&mut conn, &cmd).await?;
        Ok(())
    }

    async fn take_single_use(&self, key: [u8; 32]) -> Result<Option<String>, StoreUnavailable> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(format!("{SINGLE_USE_PREFIX}{}", hex(&key)));
        self.query(&mut conn, &cmd).await
    }

    async fn introspection_answer(
        &self,
        token: [u8; 32],
    ) -> Result<Option<(u16, Vec<u8>)>, StoreUnavailable> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{INTROSPECTION_PREFIX}{}", hex(&token)));
        let kept: Option<Vec<u8>> = self.query(&mut conn, &cmd).await?;
        Ok(kept.and_then(|v| match v.as_slice() {
            [hi, lo, body @ ..] => Some((u16::from_be_bytes([*hi, *lo]), body.to_vec())),
            _ => None,
        }))
    }

    async fn keep_introspection_answer(
        &self,
        token: [u8; 32],
        status: u16,
        body: &[u8],
        ttl_ms: u64,
    ) -> Result<(), StoreUnavailable> {
        let mut conn = self.connection().await?;
        let mut value = Vec::with_capacity(body.len() + 2);
        value.extend_from_slice(&status.to_be_bytes());
        value.extend_from_slice(body);
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{INTROSPECTION_PREFIX}{}", hex(&token)))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms.max(1));
        let _: Option<String> = self.query(&mut conn, &cmd).await?;
        Ok(())
    }

    async fn bind_session(
        &self,
        session: SessionKey,
        owner: SessionOwner,
    ) -> Result<(), StoreUnavailable> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{SESSION_PREFIX}{}", hex(&session.to_bytes())))
            .arg(hex(&owner.to_bytes()))
            .arg("NX")
            .arg("PX")
            .arg(SESSION_IDLE_MS);
        // Set, or bound already (the first binding stays): both are fine.
        let _: Option<String> = self.query(&mut conn, &cmd).await?;
        Ok(())
    }

    async fn check_rate(
        &self,
        key: RateLimitKey,
        limit: &RateLimit,
        now_ms: u64,
    ) -> Result<RateDecision, StoreUnavailable> {
        let name = format!("{RATE_PREFIX}{}", hex(&key.0));
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

/// Lower-case hex of `bytes` (Redis key names, random identifiers).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(feature = "redis")]
fn unhex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}
