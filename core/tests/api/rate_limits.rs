//! Rate limits (GCRA): whatever the arrival times, the requests allowed never exceed the burst
//! plus the steady rate over any span; a refusal says when the next one is allowed, and is.

use mcp_authz_core::rate_limit::{gcra, RateDecision, RateLimit};
use proptest::prelude::*;

proptest! {
    #[test]
    fn allowed_requests_never_exceed_the_burst_plus_the_rate(
        quota in 1u32..50,
        window in prop_oneof![Just(1u32), Just(60), Just(3600)],
        burst in 1u32..20,
        mut gaps in proptest::collection::vec(0u64..5_000, 1..120),
    ) {
        let limit = RateLimit::new(quota, window, burst);
        let emission = (u64::from(window) * 1000 / u64::from(quota)).max(1);
        let mut now = 1_000_000u64;
        let mut tat = None;
        let mut allowed: Vec<u64> = Vec::new();
        gaps.truncate(120);
        for gap in gaps {
            now += gap;
            let (decision, next) = gcra(tat, now, &limit);
            match decision {
                RateDecision::Allowed { remaining, .. } => {
                    prop_assert!(remaining < burst);
                    prop_assert!(next.is_some());
                    tat = next;
                    allowed.push(now);
                }
                RateDecision::Limited { retry_after_secs } => {
                    prop_assert!(next.is_none());
                    prop_assert!(retry_after_secs >= 1);
                    // Waiting as told is enough.
                    let (later, _) = gcra(tat, now + u64::from(retry_after_secs) * 1000, &limit);
                    let allowed_later = matches!(later, RateDecision::Allowed { .. });
                    prop_assert!(allowed_later);
                }
            }
        }
        // Over any span [a, b] between allowed requests: at most burst + (b - a) / emission.
        for (i, a) in allowed.iter().enumerate() {
            for (j, b) in allowed.iter().enumerate().skip(i) {
                let count = (j - i + 1) as u64;
                prop_assert!(count <= u64::from(burst) + (b - a) / emission, "{count} in {} ms", b - a);
            }
        }
    }
}
