//! When to fetch an authorization server's metadata
//! ([RFC 8414 §3](https://www.rfc-editor.org/rfc/rfc8414#section-3)) again, as a state machine
//! the driver polls (the `poll_timeout`/`handle_*` shape of the JWK Set refresh policy).
//!
//! A resource server that starts before its authorization server keeps trying: after each
//! failure it waits longer (exponential, capped, with jitter in the upper half so that replicas
//! started together do not retry together), and once the metadata is validated it checks it
//! again at a long interval, so that a changed document is noticed.
//!
//! ```
//! use mcp_authz_core::rediscovery::{Rediscovery, RediscoveryConfig};
//! use mcp_authz_core::UnixTime;
//!
//! let t0 = UnixTime::from_secs(1_000);
//! let mut r = Rediscovery::new(RediscoveryConfig::default(), t0);
//! assert_eq!(r.poll_timeout(), t0); // at once
//! r.handle_failed(t0, 0);
//! r.handle_failed(t0, 0);
//! assert_eq!(r.failures(), 2);
//! assert!(r.poll_timeout() > t0);
//! r.handle_validated(t0);
//! assert_eq!(r.poll_timeout(), t0.saturating_add(RediscoveryConfig::default().revalidate_secs));
//! ```

use crate::time::UnixTime;

/// The schedule's settings, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RediscoveryConfig {
    /// The wait after the first failure (default 1).
    pub backoff_initial: u64,
    /// The longest wait after failures (default 60).
    pub backoff_max: u64,
    /// How long validated metadata is trusted before it is fetched and checked again (default
    /// 3600).
    pub revalidate_secs: u64,
}

impl Default for RediscoveryConfig {
    fn default() -> Self {
        Self {
            backoff_initial: 1,
            backoff_max: 60,
            revalidate_secs: 3_600,
        }
    }
}

impl RediscoveryConfig {
    /// Sets the first and the longest wait after failures.
    #[must_use]
    pub fn with_backoff(mut self, initial: u64, max: u64) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// Sets how long validated metadata is trusted before it is checked again.
    #[must_use]
    pub fn with_revalidate_secs(mut self, secs: u64) -> Self {
        self.revalidate_secs = secs;
        self
    }
}

/// When the next fetch of one authorization server's metadata is due (see the module docs).
#[derive(Debug, Clone)]
pub struct Rediscovery {
    config: RediscoveryConfig,
    failures: u32,
    next_at: UnixTime,
}

impl Rediscovery {
    /// A schedule whose first fetch is due `now`.
    pub fn new(config: RediscoveryConfig, now: UnixTime) -> Self {
        Self {
            config,
            failures: 0,
            next_at: now,
        }
    }

    /// When the next fetch is due.
    pub fn poll_timeout(&self) -> UnixTime {
        self.next_at
    }

    /// Failures since the last validated fetch.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A fetch failed, or the document was not acceptable: the next one after the backoff
    /// (`random` is the caller's randomness for the jitter; any value).
    pub fn handle_failed(&mut self, now: UnixTime, random: u32) {
        self.failures = self.failures.saturating_add(1);
        let c = &self.config;
        let wait =
            crate::time::capped_backoff(self.failures, c.backoff_initial, c.backoff_max, random);
        self.next_at = now.saturating_add(wait);
    }

    /// The metadata was fetched and validated: checked again after the revalidation interval.
    pub fn handle_validated(&mut self, now: UnixTime) {
        self.failures = 0;
        self.next_at = now.saturating_add(self.config.revalidate_secs.max(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let t0 = UnixTime::from_secs(0);
        let config = RediscoveryConfig::default().with_backoff(2, 30);
        let mut r = Rediscovery::new(config, t0);
        let mut waits = alloc::vec::Vec::new();
        for _ in 0..6 {
            r.handle_failed(t0, 0);
            waits.push(r.poll_timeout().as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 15, 15]);
        for random in [1, 7, u32::MAX] {
            r.handle_failed(t0, random);
            assert!((15..=30).contains(&r.poll_timeout().as_secs()));
        }
        r.handle_validated(t0);
        assert_eq!((r.failures(), r.poll_timeout().as_secs()), (0, 3_600));
    }
}
