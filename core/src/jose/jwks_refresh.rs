//! The JWK Set refresh policy, as an IO-free state machine driven by the caller (one per issuer).
//!
//! The policy never fetches anything and never reads a clock. The driver (an adapter) asks it
//! what to do and tells it what happened, in the `poll_*` / `handle_*` style of `quinn-proto`:
//!
//! - [`JwksRefresh::poll_fetch`]`(now)`: `Some(FetchRequest)` when a fetch of `jwks_uri` should
//!   start now. At most one is in flight at a time (single flight).
//! - [`JwksRefresh::handle_fetched`]`(now, id, response, random)`: an HTTP response arrived (any status).
//! - [`JwksRefresh::handle_fetch_failed`]`(now, id, why, random)`: no response (connect error,
//!   timeout, body over the cap). `random` is the caller's randomness for the backoff jitter.
//! - [`JwksRefresh::poll_timeout`]: when the policy needs the driver next; sleep until then, and
//!   call [`JwksRefresh::handle_timeout`]`(now)` when it passes (a fetch overdue for its report
//!   counts as failed), then `poll_fetch`.
//! - [`JwksRefresh::keys`]`(now)`: what requests verify with: [`KeyState::Ready`] or
//!   [`KeyState::Unavailable`] (answered with 503 + `Retry-After`).
//! - [`JwksRefresh::handle_unknown_kid`]`(now, kid)`: a token named a key the set lacks. The
//!   answer says whether to wait for a fetch or reject now; a flood of random `kid`s costs one
//!   fetch per cooldown and a bounded negative cache.
//!
//! Key rotation: at most one fetch triggered by unknown `kid`s runs per cooldown. Outside the
//! cooldown an unknown `kid` fetches at once (the request waits for it); inside it, the request
//! is refused, and the `kid` schedules one deferred fetch at the moment the cooldown ends —
//! one however many arrive, merged with any fetch that starts before then. A `kid` is only
//! remembered as missing (the negative cache, which schedules nothing more) once a fetch that
//! started after it was first seen has completed without it. So a key published at time `T` is
//! accepted for every token arriving after `T + cooldown + fetch duration`, whatever happened
//! before `T`, and a removed key stops verifying when the fetch that dropped it completes.
//!
//! The rule, as in `str0m`: after every `handle_*` call, drain `poll_fetch` and re-arm the timer
//! from `poll_timeout`.
//!
//! ```
//! use mcp_authz_core::jwks_refresh::{FetchResponse, JwksRefresh, JwksRefreshConfig};
//! use mcp_authz_core::{KeyState, UnixTime};
//!
//! let mut policy = JwksRefresh::new(JwksRefreshConfig::default());
//! let mut now = UnixTime::from_secs(1_700_000_000);
//! // Before any success there are no keys: requests with a token get 503.
//! assert!(matches!(policy.keys(now), KeyState::Unavailable { .. }));
//! // The driver loop: fetch when asked, report the result, sleep until `poll_timeout`.
//! for _ in 0..3 {
//!     while let Some(fetch) = policy.poll_fetch(now) {
//!         let body = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
//!             "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#; // GET jwks_uri
//!         let response = FetchResponse::new(200, body).with_cache_control(Some("max-age=600"));
//!         policy.handle_fetched(now, fetch.id, &response, 0).unwrap();
//!     }
//!     assert!(matches!(policy.keys(now), KeyState::Ready(_)));
//!     now = policy.poll_timeout(); // sleep until then
//!     policy.handle_timeout(now);
//! }
//! ```

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use crate::error::JwksError;
use crate::jose::jwk::{JwkSet, JwksLimits};
use crate::time::UnixTime;

/// The policy's parameters. All durations are in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksRefreshConfig {
    /// Shortest freshness accepted from the response (default 300 s, also used for `no-store`,
    /// `no-cache` and `max-age=0`).
    pub min_ttl: u64,
    /// Longest freshness accepted from the response (default 24 h).
    pub max_ttl: u64,
    /// Freshness when the response says nothing (default 600 s).
    pub default_ttl: u64,
    /// At most one fetch triggered by unknown `kid`s per this many seconds (default 30 s).
    pub kid_miss_cooldown: u64,
    /// How many unknown `kid`s are remembered (default 1024).
    pub negative_cache_size: usize,
    /// How long an unknown `kid` is remembered as unknown (default 60 s).
    pub negative_ttl: u64,
    /// How long the last good keys keep serving while fetches fail (default 24 h). Past this,
    /// the keys are unavailable.
    pub max_staleness: u64,
    /// First retry delay after a failure (default 2 s); doubles per failure.
    pub backoff_initial: u64,
    /// Longest retry delay (default 300 s).
    pub backoff_max: u64,
    /// A fetch not reported back within this many seconds counts as failed (default 30 s).
    pub fetch_timeout: u64,
    /// Size caps applied to every fetched set.
    pub limits: JwksLimits,
}

impl Default for JwksRefreshConfig {
    fn default() -> Self {
        Self {
            min_ttl: 300,
            max_ttl: 24 * 3600,
            default_ttl: 600,
            kid_miss_cooldown: 30,
            negative_cache_size: 1024,
            negative_ttl: 60,
            max_staleness: 24 * 3600,
            backoff_initial: 2,
            backoff_max: 300,
            fetch_timeout: 30,
            limits: JwksLimits::default(),
        }
    }
}

/// A fetch the driver must perform now: `GET jwks_uri`, then report with the same `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchRequest {
    /// Identifies the fetch; reports with another id are ignored.
    pub id: u64,
}

/// An HTTP response to a [`FetchRequest`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FetchResponse<'a> {
    /// The status code.
    pub status: u16,
    /// The `Cache-Control` header value, if any.
    pub cache_control: Option<&'a str>,
    /// The `Expires` header, as an instant (the driver parses the HTTP date).
    pub expires: Option<UnixTime>,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> FetchResponse<'a> {
    /// A response with a status and a body, and no caching headers.
    pub fn new(status: u16, body: &'a [u8]) -> Self {
        Self {
            status,
            cache_control: None,
            expires: None,
            body,
        }
    }

    /// Sets the `Cache-Control` header.
    #[must_use]
    pub fn with_cache_control(mut self, value: Option<&'a str>) -> Self {
        self.cache_control = value;
        self
    }

    /// Sets the `Expires` header.
    #[must_use]
    pub fn with_expires(mut self, at: Option<UnixTime>) -> Self {
        self.expires = at;
        self
    }
}

/// Why a fetch produced no usable key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchFailure {
    /// The connection failed.
    Connect,
    /// No complete response in time.
    Timeout,
    /// The body was larger than the cap.
    TooLarge,
    /// A status other than 200.
    Status(u16),
    /// The body is not a usable JWK Set.
    InvalidJwks(JwksError),
    /// The set has no usable key.
    NoUsableKey,
}

impl FetchFailure {
    /// A stable snake_case name (for logs and metric labels: a fixed set).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
            Self::Status(_) => "status",
            Self::InvalidJwks(_) => "invalid_jwks",
            Self::NoUsableKey => "no_usable_key",
        }
    }
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect => f.write_str("connection failed"),
            Self::Timeout => f.write_str("timed out"),
            Self::TooLarge => f.write_str("response larger than allowed"),
            Self::Status(s) => write!(f, "HTTP status {s}"),
            Self::InvalidJwks(e) => write!(f, "{e}"),
            Self::NoUsableKey => f.write_str("the JWK Set has no usable key"),
        }
    }
}

impl core::error::Error for FetchFailure {}

/// What to do about a token whose `kid` the key set lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KidMiss {
    /// A fetch is in flight or due now: wait for it (bounded), then decide again.
    AwaitFetch,
    /// Reject the token now: the `kid` is known to be missing, or the cooldown is running.
    Reject,
}

#[derive(Debug, Clone)]
struct InFlight {
    id: u64,
    started: UnixTime,
}

/// The refresh policy for one issuer's JWK Set (see the module docs).
#[derive(Debug, Clone)]
pub struct JwksRefresh {
    config: JwksRefreshConfig,
    keys: Option<Arc<JwkSet>>,
    /// When the current keys were fetched.
    fetched_at: Option<UnixTime>,
    /// When a routine refresh is due.
    refresh_at: UnixTime,
    /// When the next attempt may start (after a failure).
    retry_at: UnixTime,
    /// Set by an unknown `kid`: fetch as soon as possible.
    urgent: bool,
    in_flight: Option<InFlight>,
    next_id: u64,
    consecutive_failures: u32,
    last_failure: Option<FetchFailure>,
    /// When the last fetch triggered by an unknown `kid` started (the cooldown runs from it).
    last_kid_fetch: Option<UnixTime>,
    /// The fetch scheduled for the end of the cooldown by `kid`s seen during it.
    deferred_at: Option<UnixTime>,
    /// Unknown `kid`s no fetch has answered yet, with when each was first seen (bounded).
    pending: BTreeMap<String, UnixTime>,
    negative: BTreeMap<String, UnixTime>,
    negative_order: VecDeque<(String, UnixTime)>,
    generation: u64,
    fetches: u64,
}

impl JwksRefresh {
    /// A policy with no keys yet; the first [`JwksRefresh::poll_fetch`] asks for a fetch.
    pub fn new(config: JwksRefreshConfig) -> Self {
        Self {
            config,
            keys: None,
            fetched_at: None,
            refresh_at: UnixTime::EPOCH,
            retry_at: UnixTime::EPOCH,
            urgent: false,
            in_flight: None,
            next_id: 1,
            consecutive_failures: 0,
            last_failure: None,
            last_kid_fetch: None,
            deferred_at: None,
            pending: BTreeMap::new(),
            negative: BTreeMap::new(),
            negative_order: VecDeque::new(),
            generation: 0,
            fetches: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &JwksRefreshConfig {
        &self.config
    }

    /// Increases every time the key set is replaced (caches keyed to keys compare it).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many fetches were started so far.
    pub fn fetches_started(&self) -> u64 {
        self.fetches
    }

    /// Failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The last failure, if the last fetch failed.
    pub fn last_failure(&self) -> Option<FetchFailure> {
        self.last_failure
    }

    /// Whether a fetch is in flight.
    pub fn is_fetching(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The id of the fetch in flight, if any.
    pub fn in_flight(&self) -> Option<u64> {
        self.in_flight.as_ref().map(|f| f.id)
    }

    /// How many unknown `kid`s are remembered as missing.
    pub fn negative_cache_len(&self) -> usize {
        self.negative.len()
    }

    /// When the fetch deferred to the end of the kid-miss cooldown is due, if one is scheduled.
    pub fn deferred_fetch(&self) -> Option<UnixTime> {
        self.deferred_at
    }

    fn expire_in_flight(&mut self, now: UnixTime) {
        if let Some(f) = &self.in_flight {
            if now >= f.started.saturating_add(self.config.fetch_timeout) {
                let id = f.id;
                self.fail(now, id, FetchFailure::Timeout, 0);
            }
        }
    }

    /// The timer from [`JwksRefresh::poll_timeout`] passed: a fetch not reported within the
    /// fetch timeout counts as failed (and a retry is scheduled). Nothing else changes: a due
    /// fetch is then returned by [`JwksRefresh::poll_fetch`].
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.expire_in_flight(now);
    }

    /// Asks whether a fetch should start now; if so it is in flight until reported.
    #[must_use]
    pub fn poll_fetch(&mut self, now: UnixTime) -> Option<FetchRequest> {
        self.expire_in_flight(now);
        if self.in_flight.is_some() || now < self.retry_at {
            return None;
        }
        let deferred_due = self.deferred_at.is_some_and(|at| now >= at);
        let due = self.keys.is_none() || self.urgent || now >= self.refresh_at || deferred_due;
        if !due {
            return None;
        }
        if deferred_due {
            // The deferred fetch is kid-triggered: a new cooldown starts with it.
            self.last_kid_fetch = Some(now);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.fetches += 1;
        self.urgent = false;
        // Whatever started it, this fetch answers every kid seen so far.
        self.deferred_at = None;
        self.in_flight = Some(InFlight { id, started: now });
        Some(FetchRequest { id })
    }

    /// When the driver should call [`JwksRefresh::handle_timeout`] and
    /// [`JwksRefresh::poll_fetch`] next: the in-flight fetch's deadline while one runs, else the
    /// next due fetch (routine refresh, deferred kid fetch or retry). There is always one: the
    /// keys are refreshed ahead of expiry for as long as the policy lives.
    #[must_use]
    pub fn poll_timeout(&self) -> UnixTime {
        if let Some(f) = &self.in_flight {
            return f.started.saturating_add(self.config.fetch_timeout);
        }
        let due = if self.keys.is_none() || self.urgent {
            UnixTime::EPOCH
        } else {
            self.deferred_at
                .map_or(self.refresh_at, |at| at.min(self.refresh_at))
        };
        due.max(self.retry_at)
    }

    /// Reports the HTTP response to fetch `id`, with the caller's randomness for the retry
    /// jitter (any value; `0` for none). Returns whether the key set changed.
    ///
    /// # Errors
    /// The [`FetchFailure`] when the response is not a usable key set (non-200, oversize, bad
    /// JSON, no usable key): the last good keys keep serving and a retry is scheduled.
    pub fn handle_fetched(
        &mut self,
        now: UnixTime,
        id: u64,
        response: &FetchResponse<'_>,
        random: u32,
    ) -> Result<bool, FetchFailure> {
        if self.in_flight.as_ref().is_none_or(|f| f.id != id) {
            // A stale report (timed out already): ignored.
            return Ok(false);
        }
        let parsed = if response.status != 200 {
            Err(FetchFailure::Status(response.status))
        } else if response.body.len() > self.config.limits.max_bytes {
            Err(FetchFailure::TooLarge)
        } else {
            match JwkSet::parse(response.body, &self.config.limits) {
                Ok(set) if set.is_empty() => Err(FetchFailure::NoUsableKey),
                Ok(set) => Ok(set),
                Err(e) => Err(FetchFailure::InvalidJwks(e)),
            }
        };
        let set = match parsed {
            Ok(set) => set,
            Err(why) => {
                self.fail(now, id, why, random);
                return Err(why);
            }
        };
        let started = self.in_flight.as_ref().map_or(now, |f| f.started);
        self.in_flight = None;
        let ttl = self.ttl(now, response);
        // Refresh ahead of expiry (at 80 % of the freshness) so requests never wait for it.
        self.refresh_at = now.saturating_add(ttl - ttl / 5);
        self.retry_at = UnixTime::EPOCH;
        self.consecutive_failures = 0;
        self.last_failure = None;
        self.fetched_at = Some(now);
        // Unknown kids that the new set has are unknown no longer.
        let negative = core::mem::take(&mut self.negative);
        self.negative = negative
            .into_iter()
            .filter(|(kid, _)| !set.contains_kid(kid))
            .collect();
        self.negative_order
            .retain(|(kid, _)| self.negative.contains_key(kid));
        // Kids seen before this fetch started are answered: missing now means missing. Kids
        // first seen while it ran may have been published after the server answered: they keep
        // a deferred fetch.
        let pending = core::mem::take(&mut self.pending);
        for (kid, seen) in pending {
            if set.contains_kid(&kid) {
                continue;
            }
            if seen <= started {
                self.remember_unknown(now, &kid);
            } else {
                self.pending.insert(kid, seen);
            }
        }
        if !self.pending.is_empty() {
            self.defer(now);
        }
        let changed = self.keys.as_deref() != Some(&set);
        if changed {
            self.generation += 1;
            self.keys = Some(Arc::new(set));
        }
        Ok(changed)
    }

    /// Reports that fetch `id` produced no response. `random` is the caller's randomness for the
    /// backoff jitter.
    pub fn handle_fetch_failed(&mut self, now: UnixTime, id: u64, why: FetchFailure, random: u32) {
        if self.in_flight.as_ref().is_some_and(|f| f.id == id) {
            self.fail(now, id, why, random);
        }
    }

    fn fail(&mut self, now: UnixTime, _id: u64, why: FetchFailure, random: u32) {
        self.in_flight = None;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failure = Some(why);
        self.retry_at = now.saturating_add(self.backoff(random));
    }

    /// The delay before the next attempt after `consecutive_failures` failures: exponential,
    /// capped, with jitter in its upper half (`delay/2 + random % (delay/2 + 1)`).
    fn backoff(&self, random: u32) -> u64 {
        crate::time::capped_backoff(
            self.consecutive_failures,
            self.config.backoff_initial,
            self.config.backoff_max,
            random,
        )
    }

    fn ttl(&self, now: UnixTime, response: &FetchResponse<'_>) -> u64 {
        let c = &self.config;
        let (min, max) = (c.min_ttl.max(1), c.max_ttl.max(c.min_ttl.max(1)));
        let directive = response
            .cache_control
            .map(parse_cache_control)
            .unwrap_or_default();
        let ttl = if directive.no_store_or_cache {
            min
        } else if let Some(age) = directive.max_age {
            age
        } else if let Some(expires) = response.expires {
            expires.as_secs().saturating_sub(now.as_secs())
        } else {
            c.default_ttl
        };
        ttl.clamp(min, max)
    }

    /// When the current keys were fetched (`None` before the first success).
    pub fn fetched_at(&self) -> Option<UnixTime> {
        self.fetched_at
    }

    /// The keys requests verify with now: the last good set while it is no older than the
    /// maximum staleness, else [`KeyState::Unavailable`] with a `Retry-After` in seconds.
    pub fn keys(&self, now: UnixTime) -> KeyState<'_> {
        match self.fresh(now) {
            Ok(keys) => KeyState::Ready(keys),
            Err(retry_after_secs) => KeyState::Unavailable { retry_after_secs },
        }
    }

    /// [`JwksRefresh::keys`] as a shared handle, for drivers that verify outside their lock.
    ///
    /// # Errors
    /// The seconds after which clients may retry, when no keys are fresh enough.
    pub fn current(&self, now: UnixTime) -> Result<Arc<JwkSet>, RetryAfter> {
        self.fresh(now).cloned().map_err(RetryAfter::from_secs)
    }

    /// The keys [`JwksRefresh::current`] answers with, and the last instant it does: until the
    /// policy next changes, `current(now)` is `Ok` with these keys for every `now` up to that
    /// instant, and `Err` after it (`None`: `Err` at every instant). A driver publishes this
    /// after each change it makes, so that requests read the keys without taking the policy's
    /// lock.
    pub fn fresh_until(&self) -> Option<(Arc<JwkSet>, UnixTime)> {
        self.usable().map(|(keys, until)| (keys.clone(), until))
    }

    /// The last good keys and the last instant they may be used: their fetch plus the maximum
    /// staleness.
    fn usable(&self) -> Option<(&Arc<JwkSet>, UnixTime)> {
        let (keys, at) = (self.keys.as_ref()?, self.fetched_at?);
        Some((keys, at.saturating_add(self.config.max_staleness)))
    }

    /// The last good keys while no older than the maximum staleness, else the `Retry-After`.
    fn fresh(&self, now: UnixTime) -> Result<&Arc<JwkSet>, u32> {
        match self.usable() {
            Some((keys, until)) if now <= until => Ok(keys),
            _ => {
                let next = self.poll_timeout();
                let wait = next.as_secs().saturating_sub(now.as_secs()).clamp(1, 3600);
                Err(u32::try_from(wait).unwrap_or(3600))
            }
        }
    }

    /// The current key set, however stale.
    pub fn last_good_keys(&self) -> Option<&JwkSet> {
        self.keys.as_deref()
    }

    /// A request's token names `kid`, which the current set lacks (see the module docs).
    #[must_use]
    pub fn handle_unknown_kid(&mut self, now: UnixTime, kid: &str) -> KidMiss {
        self.expire_in_flight(now);
        if self.keys.as_ref().is_some_and(|k| k.contains_kid(kid)) {
            // A fetch completed since the caller looked: decide again.
            return KidMiss::AwaitFetch;
        }
        if self.in_flight.is_some() || self.urgent {
            self.note_pending(now, kid);
            return KidMiss::AwaitFetch;
        }
        let cooling = self
            .last_kid_fetch
            .is_some_and(|at| now < at.saturating_add(self.config.kid_miss_cooldown));
        if !cooling && now >= self.retry_at {
            // Outside the cooldown every unknown kid fetches, even one a fetch missed before:
            // the key may have been published since.
            self.last_kid_fetch = Some(now);
            self.urgent = true;
            self.note_pending(now, kid);
            return KidMiss::AwaitFetch;
        }
        // Inside the cooldown (or the failure backoff): refused now; a kid that no fetch has
        // answered yet gets the fetch at the end of the cooldown.
        let known_missing = self.negative.get(kid).is_some_and(|until| now < *until);
        if !known_missing {
            self.note_pending(now, kid);
            self.defer(now);
        }
        KidMiss::Reject
    }

    /// Schedules the deferred fetch at the end of the cooldown (or of the failure backoff),
    /// unless one is scheduled already.
    fn defer(&mut self, now: UnixTime) {
        if self.deferred_at.is_none() {
            let cooldown_end = self
                .last_kid_fetch
                .map_or(now, |at| at.saturating_add(self.config.kid_miss_cooldown));
            self.deferred_at = Some(cooldown_end.max(self.retry_at).max(now));
        }
    }

    /// Remembers `kid` as unanswered, from when it was first seen (bounded like the negative
    /// cache: past the bound a kid is not remembered, but its deferred fetch still runs).
    fn note_pending(&mut self, now: UnixTime, kid: &str) {
        if self.pending.contains_key(kid) || self.pending.len() >= self.config.negative_cache_size {
            return;
        }
        self.pending.insert(String::from(kid), now);
    }

    fn remember_unknown(&mut self, now: UnixTime, kid: &str) {
        if self.config.negative_cache_size == 0 {
            return;
        }
        let until = now.saturating_add(self.config.negative_ttl);
        if self.negative.insert(String::from(kid), until).is_none() {
            self.negative_order.push_back((String::from(kid), until));
        }
        // Bounded: drop expired entries, then the oldest beyond the cap.
        while let Some((oldest, at)) = self.negative_order.front() {
            let over = self.negative.len() > self.config.negative_cache_size;
            if !over && now < *at {
                break;
            }
            let oldest = oldest.clone();
            self.negative_order.pop_front();
            if self
                .negative
                .get(&oldest)
                .is_some_and(|u| *u <= now || over)
            {
                self.negative.remove(&oldest);
            }
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct CacheDirectives {
    max_age: Option<u64>,
    no_store_or_cache: bool,
}

/// Reads `max-age`, `no-store` and `no-cache` from a `Cache-Control` value
/// ([RFC 9111 §5.2](https://www.rfc-editor.org/rfc/rfc9111#section-5.2)). Directive names are
/// case-insensitive; an unparseable `max-age` is ignored; the smallest of several wins.
fn parse_cache_control(value: &str) -> CacheDirectives {
    let mut d = CacheDirectives::default();
    for directive in value.split(',') {
        let directive = directive.trim_matches([' ', '\t']);
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (
                n.trim_matches([' ', '\t']),
                Some(a.trim_matches([' ', '\t', '"'])),
            ),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            d.no_store_or_cache = true;
        } else if name.eq_ignore_ascii_case("max-age") {
            let secs = arg.filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()));
            // Overlong numbers mean "very long" (RFC 9111 §1.2.2): saturate.
            if let Some(a) = secs {
                let v = a.parse::<u64>().unwrap_or(u64::MAX);
                d.max_age = Some(d.max_age.map_or(v, |m: u64| m.min(v)));
            }
        }
    }
    d
}

/// How long clients should wait before retrying, when no keys are fresh enough: the value of the
/// `Retry-After` header of the 503 ([RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetryAfter(u32);

impl RetryAfter {
    /// A wait of `secs` seconds.
    pub const fn from_secs(secs: u32) -> Self {
        Self(secs)
    }

    /// The wait, in seconds.
    pub const fn secs(self) -> u32 {
        self.0
    }
}

/// The keys the exchange may verify with.
#[derive(Debug, Clone, Copy)]
pub enum KeyState<'a> {
    /// A usable key set.
    Ready(&'a JwkSet),
    /// No usable keys (never fetched, or too stale): requests with a token get 503.
    Unavailable {
        /// Seconds after which clients may retry.
        retry_after_secs: u32,
    },
}

impl<'a> KeyState<'a> {
    /// The state of what a key source answers (`JwksRefresh::current`): the keys, or the
    /// seconds after which clients may retry.
    pub fn of(keys: &'a Result<Arc<JwkSet>, RetryAfter>) -> Self {
        match keys {
            Ok(keys) => Self::Ready(keys),
            Err(retry_after) => Self::Unavailable {
                retry_after_secs: retry_after.secs(),
            },
        }
    }
}

/// Where the exchange finds the keys of each authorization server the guard trusts: issuer
/// number `i` is the `i`-th configured (0 for the first, then in the order of
/// [`Guard::with_issuer`](crate::Guard::with_issuer)).
///
/// A single [`KeyState`] is the source of a guard with one authorization server; a slice of
/// them, or of what key sources answer (`JwksRefresh::current`), serves several. A source
/// without keys for the issuer a token routes to gets the request refused (500), never
/// verified with another issuer's keys.
pub trait KeySource {
    /// The keys of issuer number `issuer`, or `None` when this source has none for it.
    fn keys_for(&self, issuer: usize) -> Option<KeyState<'_>>;
}

impl KeySource for KeyState<'_> {
    fn keys_for(&self, issuer: usize) -> Option<KeyState<'_>> {
        (issuer == 0).then_some(*self)
    }
}

impl KeySource for [KeyState<'_>] {
    fn keys_for(&self, issuer: usize) -> Option<KeyState<'_>> {
        self.get(issuer).copied()
    }
}

impl KeySource for [Result<Arc<JwkSet>, RetryAfter>] {
    fn keys_for(&self, issuer: usize) -> Option<KeyState<'_>> {
        self.get(issuer).map(KeyState::of)
    }
}

impl<T: KeySource + ?Sized> KeySource for &T {
    fn keys_for(&self, issuer: usize) -> Option<KeyState<'_>> {
        (**self).keys_for(issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_directives() {
        let p = parse_cache_control;
        assert_eq!(p("max-age=600").max_age, Some(600));
        assert_eq!(p("public, MAX-AGE=\"120\"").max_age, Some(120));
        assert_eq!(p("max-age=99999999999999999999999").max_age, Some(u64::MAX));
        assert_eq!(p("max-age=-1").max_age, None);
        assert_eq!(p("max-age=").max_age, None);
        assert_eq!(p("max-age=60, max-age=30").max_age, Some(30));
        assert!(p("no-store").no_store_or_cache);
        assert!(p("private, No-Cache").no_store_or_cache);
        assert_eq!(p(""), CacheDirectives::default());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut policy = JwksRefresh::new(JwksRefreshConfig::default());
        let mut last = 0;
        for n in 1..=12 {
            policy.consecutive_failures = n;
            let lo = policy.backoff(0);
            let hi = policy.backoff(u32::MAX);
            assert!(lo <= hi && hi <= 300, "{n}: {lo}..{hi}");
            assert!(lo >= last.min(150), "{n}");
            last = lo;
        }
        policy.consecutive_failures = 1;
        assert_eq!((policy.backoff(0), policy.backoff(1)), (1, 2));
    }
}
