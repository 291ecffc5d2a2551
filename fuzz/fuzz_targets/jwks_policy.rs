//! The JWK Set refresh policy driven by a fuzzer-chosen sequence of events and times: at most one
//! fetch in flight, bounded negative cache, and keys served only while fresh enough.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_authz_core::jwks_refresh::{FetchFailure, FetchResponse, JwksRefresh, JwksRefreshConfig};
use mcp_authz_core::{KeyState, UnixTime};

const GOOD: &[u8] = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"p256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

#[derive(Arbitrary, Debug)]
enum Event<'a> {
    Poll,
    Fetched { status: u16, cache_control: Option<&'a str>, expires: Option<u32>, good_body: bool, body: &'a [u8] },
    Failed { random: u32 },
    UnknownKid(&'a str),
    Timeout,
}

fuzz_target!(|events: Vec<(u16, Event<'_>)>| {
    let config = JwksRefreshConfig::default();
    let mut policy = JwksRefresh::new(config);
    let mut now = UnixTime::from_secs(1_700_000_000);
    let mut in_flight: Option<u64> = None;
    let mut last_success: Option<UnixTime> = None;
    for (dt, event) in events.into_iter().take(300) {
        now = now.saturating_add(u64::from(dt));
        match event {
            Event::Poll => {
                if let Some(f) = policy.poll_fetch(now) {
                    in_flight = Some(f.id);
                }
            }
            Event::Fetched { status, cache_control, expires, good_body, body } => {
                if let Some(id) = in_flight.take() {
                    let live = policy.in_flight() == Some(id);
                    let body = if good_body { GOOD } else { body };
                    let response = FetchResponse::new(status, body)
                        .with_cache_control(cache_control)
                        .with_expires(expires.map(|e| UnixTime::from_secs(u64::from(e))));
                    if policy.handle_fetched(now, id, &response, 0).is_ok() && live {
                        last_success = Some(now);
                    }
                }
            }
            Event::Failed { random } => {
                if let Some(id) = in_flight.take() {
                    policy.handle_fetch_failed(now, id, FetchFailure::Connect, random);
                }
            }
            Event::UnknownKid(kid) => {
                let _ = policy.handle_unknown_kid(now, kid);
            }
            Event::Timeout => {
                now = now.max(policy.poll_timeout());
                policy.handle_timeout(now);
            }
        }
        if policy.in_flight().is_none() {
            in_flight = None;
        }
        match policy.keys(now) {
            KeyState::Ready(_) => {
                assert!(last_success.is_some_and(|s| now <= s.saturating_add(config.max_staleness)));
            }
            KeyState::Unavailable { retry_after_secs } => assert!((1..=3600).contains(&retry_after_secs)),
        }
        assert!(policy.negative_cache_len() <= config.negative_cache_size);
    }
});
