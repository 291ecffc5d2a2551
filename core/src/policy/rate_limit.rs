//! Rate limits per caller and per tool: the generic cell rate algorithm (GCRA, the
//! leaky bucket as a meter, [ITU-T I.371](https://www.itu.int/rec/T-REC-I.371)) as a pure
//! function of the stored state and the time, and the `RateLimit-Policy` and `RateLimit`
//! fields of the refusal ([draft-ietf-httpapi-ratelimit-headers-10](https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/10/)).
//!
//! A limit of `quota` requests per `window` with a `burst` lets a caller spend `burst` requests
//! at once, then one every `window / quota`. Per key the store keeps one number, the theoretical
//! arrival time (TAT) in milliseconds; [`gcra`] decides a request from it and says what to
//! store, so that a store (in memory, or shared by replicas) only has to apply the update
//! atomically. Keys are SHA-256 digests of the caller's identity ([`RateLimitKey`]): no token
//! or identifier is stored.
//!
//! ```
//! use mcp_authz_core::rate_limit::{gcra, RateDecision, RateLimit};
//! let limit: RateLimit = "2/s".parse().unwrap();
//! let (first, tat) = gcra(None, 0, &limit);
//! assert!(matches!(first, RateDecision::Allowed { remaining: 1, .. }));
//! let (second, tat) = gcra(tat, 0, &limit);
//! assert!(matches!(second, RateDecision::Allowed { remaining: 0, .. }));
//! let (third, _) = gcra(tat, 0, &limit);
//! assert!(matches!(third, RateDecision::Limited { retry_after_secs: 1, .. }));
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use crate::access_token::Principal;
use crate::crypto::sha256;

/// `quota` requests per `window_secs`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    quota: u32,
    window_secs: u32,
    burst: u32,
}

/// Why a rate limit does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitError(&'static str);

impl fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl RateLimit {
    /// `quota` requests per `window_secs` seconds, at most `burst` at once (each at least 1).
    pub fn new(quota: u32, window_secs: u32, burst: u32) -> Self {
        Self {
            quota: quota.max(1),
            window_secs: window_secs.max(1),
            burst: burst.max(1),
        }
    }

    /// Requests per window.
    pub fn quota(&self) -> u32 {
        self.quota
    }

    /// The window, in seconds.
    pub fn window_secs(&self) -> u32 {
        self.window_secs
    }

    /// Requests at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Milliseconds between two requests at the steady rate.
    fn emission_ms(&self) -> u64 {
        (u64::from(self.window_secs) * 1000 / u64::from(self.quota)).max(1)
    }

    /// How far ahead of now the TAT may be: the burst, less the one request being decided.
    fn tolerance_ms(&self) -> u64 {
        self.emission_ms() * u64::from(self.burst - 1)
    }

    /// The `RateLimit-Policy` field of a policy named `name`: `"name";q=QUOTA;w=WINDOW`.
    pub fn policy_field(&self, name: &str) -> String {
        format!("\"{name}\";q={};w={}", self.quota, self.window_secs)
    }
}

/// `QUOTA/UNIT` (`s`, `sec`, `min`, `h`, `hour`, `day`), optionally `burst=N`:
/// `60/min`, `10/s burst=20`. Without `burst`, the quota.
impl FromStr for RateLimit {
    type Err = RateLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut words = s.split_ascii_whitespace();
        let rate = words
            .next()
            .ok_or(RateLimitError("expected QUOTA/UNIT, e.g. 60/min"))?;
        let (quota, unit) = rate
            .split_once('/')
            .ok_or(RateLimitError("expected QUOTA/UNIT, e.g. 60/min"))?;
        let quota: u32 = quota
            .parse()
            .ok()
            .filter(|q| *q > 0)
            .ok_or(RateLimitError("the quota is not a positive number"))?;
        let window_secs = match unit {
            "s" | "sec" | "second" => 1,
            "min" | "minute" => 60,
            "h" | "hour" => 3_600,
            "d" | "day" => 86_400,
            _ => return Err(RateLimitError("the unit is none of s, min, h, day")),
        };
        let burst = match words.next() {
            None => quota,
            Some(b) => b
                .strip_prefix("burst=")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .ok_or(RateLimitError("expected burst=N after the rate"))?,
        };
        if words.next().is_some() {
            return Err(RateLimitError("expected QUOTA/UNIT [burst=N]"));
        }
        Ok(Self::new(quota, window_secs, burst))
    }
}

/// What [`gcra`] decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit.
    Allowed {
        /// Requests the caller may still make at once.
        remaining: u32,
        /// Seconds until the caller's full burst is available again.
        reset_secs: u32,
    },
    /// Over the limit: refused, never forwarded.
    Limited {
        /// Seconds until one more request is allowed (`Retry-After`, at least 1).
        retry_after_secs: u32,
    },
}

impl RateDecision {
    /// The `RateLimit` field for the policy `name`: `"name";r=REMAINING;t=RESET`.
    pub fn limit_field(&self, name: &str) -> String {
        match self {
            Self::Allowed {
                remaining,
                reset_secs,
            } => format!("\"{name}\";r={remaining};t={reset_secs}"),
            Self::Limited { retry_after_secs } => {
                format!("\"{name}\";r=0;t={retry_after_secs}")
            }
        }
    }
}

fn ceil_secs(ms: u64) -> u32 {
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
}

/// Decides one request at `now_ms` under `limit`, from the key's stored TAT (`None`: never
/// seen, or expired). Returns the decision and the TAT to store: `Some` when allowed (keep it
/// until it passes: it is worthless after), `None` when refused (the stored value stands).
pub fn gcra(tat_ms: Option<u64>, now_ms: u64, limit: &RateLimit) -> (RateDecision, Option<u64>) {
    let tat = tat_ms.unwrap_or(now_ms).max(now_ms);
    let emission = limit.emission_ms();
    let allow_at = tat.saturating_sub(limit.tolerance_ms());
    if now_ms < allow_at {
        let retry = ceil_secs(allow_at - now_ms).max(1);
        return (
            RateDecision::Limited {
                retry_after_secs: retry,
            },
            None,
        );
    }
    let new_tat = tat.saturating_add(emission);
    // How many more could be spent at once now: the room left under the tolerance.
    let room = (now_ms + limit.tolerance_ms()).saturating_sub(new_tat - emission);
    let remaining = u32::try_from(room / emission)
        .unwrap_or(u32::MAX)
        .min(limit.burst - 1);
    (
        RateDecision::Allowed {
            remaining,
            reset_secs: ceil_secs(new_tat - now_ms),
        },
        Some(new_tat),
    )
}

/// The key a rate limit is counted under: SHA-256 of the caller's issuer and subject (or,
/// without one, client id) and the limit's scope (`*` for every request, else a tool name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RateLimitKey(pub [u8; 32]);

impl RateLimitKey {
    /// The key of `principal`'s requests under the limit `scope`.
    pub fn of(principal: &Principal, scope: &str) -> Self {
        let who = match principal.subject() {
            Some(sub) => ("sub", sub),
            None => ("client", principal.client_id().unwrap_or("")),
        };
        let mut input: Vec<u8> = Vec::new();
        for part in [principal.issuer(), who.0, who.1, scope] {
            let len = u64::try_from(part.len()).unwrap_or(u64::MAX);
            input.extend_from_slice(&len.to_be_bytes());
            input.extend_from_slice(part.as_bytes());
        }
        Self(sha256(&input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!("60/min".parse(), Ok(RateLimit::new(60, 60, 60)));
        assert_eq!("10/s burst=20".parse(), Ok(RateLimit::new(10, 1, 20)));
        assert_eq!("5/day".parse(), Ok(RateLimit::new(5, 86_400, 5)));
        for bad in [
            "",
            "60",
            "0/min",
            "x/min",
            "6/week",
            "6/min burst",
            "6/min burst=0",
            "6/min a b",
        ] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let limit: RateLimit = "60/min burst=3".parse().unwrap();
        let mut tat = None;
        let mut decide = |now: u64| {
            let (d, next) = gcra(tat, now, &limit);
            if next.is_some() {
                tat = next;
            }
            d
        };
        for remaining in [2, 1, 0] {
            assert!(
                matches!(decide(0), RateDecision::Allowed { remaining: r, .. } if r == remaining)
            );
        }
        assert_eq!(
            decide(0),
            RateDecision::Limited {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            decide(999),
            RateDecision::Limited {
                retry_after_secs: 1
            }
        );
        assert!(matches!(
            decide(1_000),
            RateDecision::Allowed { remaining: 0, .. }
        ));
        // After a quiet spell the burst is back.
        assert!(matches!(
            decide(60_000),
            RateDecision::Allowed { remaining: 2, .. }
        ));
        assert_eq!(limit.policy_field("tool"), "\"tool\";q=60;w=60");
        assert_eq!(
            RateDecision::Limited {
                retry_after_secs: 4
            }
            .limit_field("tool"),
            "\"tool\";r=0;t=4"
        );
    }
}
