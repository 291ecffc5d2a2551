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
