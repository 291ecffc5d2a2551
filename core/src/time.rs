//! Time, as a value the caller passes in.
//!
//! Nothing in this crate reads a clock: every function that needs "now" takes a [`UnixTime`]. The
//! adapters read the system clock once per request; tests pass any instant they like.
//! JWT time claims are `NumericDate`s, seconds since the Unix epoch
//! ([RFC 7519 §2](https://www.rfc-editor.org/rfc/rfc7519#section-2)).

use core::fmt;

/// An instant, in whole seconds since 1970-01-01T00:00:00Z (ignoring leap seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The epoch itself.
    pub const EPOCH: UnixTime = UnixTime(0);

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// `self + secs`, saturating at the far future.
    pub const fn saturating_add(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// `self - secs`, saturating at the epoch.
    pub const fn saturating_sub(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The wait before the next attempt after `failures` consecutive failures: `initial` doubled per
/// failure, capped at `max`, with jitter in its upper half (`delay/2 + random % (delay/2 + 1)`)
/// so that clients that failed together do not retry together. `random` is the caller's
/// randomness (any value; `0` for none).
pub(crate) fn capped_backoff(failures: u32, initial: u64, max: u64, random: u32) -> u64 {
    let exp = failures.saturating_sub(1).min(32);
    let delay = initial.max(1).saturating_mul(1u64 << exp).min(max.max(1));
    let half = delay / 2;
    (delay - half) + u64::from(random) % (half + 1)
}
