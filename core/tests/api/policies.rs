//! The JWK Set refresh policy and the verified-token cache, driven in virtual time (no tokio, no
//! clock): a simulated authorization server answers the policy's fetches.

use std::cell::RefCell;
use std::sync::Arc;

use mcp_authz_core::exchange::Step;
use mcp_authz_core::jwks_refresh::{
    FetchFailure, FetchResponse, JwksRefresh, JwksRefreshConfig, KidMiss,
};
use mcp_authz_core::token_cache::{TokenCache, TokenCacheLimits};
use mcp_authz_core::{Guard, KeyState, Request, ScopePolicy};
use mcp_authz_core::{UnixTime, VerifierConfig};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

use crate::common::*;

/// A simulated authorization server's `jwks_uri`.
struct FakeAs {
    keys: Vec<Value>,
    up: bool,
    status: u16,
    cache_control: Option<String>,
    body_override: Option<Vec<u8>>,
    served: usize,
}

impl FakeAs {
    fn new() -> Self {
        Self {
            keys: jwk_values(),
            up: true,
            status: 200,
            cache_control: Some("max-age=600".into()),
            body_override: None,
            served: 0,
        }
    }
}

/// Drains `poll_fetch` at `now`, answering each fetch from `fake`. Returns how many fetches ran.
fn drive(policy: &mut JwksRefresh, fake: &mut FakeAs, now: UnixTime) -> usize {
    let mut n = 0;
    while let Some(f) = policy.poll_fetch(now) {
        n += 1;
        fake.served += 1;
        if !fake.up {
            policy.handle_fetch_failed(now, f.id, FetchFailure::Connect, 12345);
            continue;
        }
        let body = fake
            .body_override
            .clone()
            .unwrap_or_else(|| serde_json::to_vec(&json!({ "keys": fake.keys })).unwrap());
        let resp = FetchResponse::new(fake.status, &body)
            .with_cache_control(fake.cache_control.as_deref());
        let _ = policy.handle_fetched(now, f.id, &resp, 0);
    }
    n
}

fn t(secs: u64) -> UnixTime {
    UnixTime::from_secs(IAT + secs)
}

fn guard() -> Guard {
    Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    )
}

fn new_ed25519() -> Ed25519KeyPair {
    let pk8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap()
}

fn sign_with(key: &Ed25519KeyPair, kid: &str, now: UnixTime) -> String {
    let h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
    let mut c = claims();
    c["iat"] = json!(now.as_secs());
    c["nbf"] = json!(now.as_secs());
    c["exp"] = json!(now.as_secs() + 3600);
    let input = format!(
        "{}.{}",
        b64u(&serde_json::to_vec(&h).unwrap()),
        b64u(&serde_json::to_vec(&c).unwrap())
    );
    format!("{input}.{}", b64u(key.sign(input.as_bytes()).as_ref()))
}

fn jwk_of(key: &Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64u(key.public_key().as_ref())})
}

/// An adapter's loop for one request, driving the core's exchange: on `RefreshKeys` ask the
/// policy; fetch if told to (keeping the cache in step); report; poll again.
fn request(
    g: &Guard,
    policy: &mut JwksRefresh,
    fake: &mut FakeAs,
    cache: &RefCell<TokenCache>,
    token: &str,
    now: UnixTime,
) -> Step {
    let auth_value = format!("Bearer {token}");
    let auth: [&[u8]; 1] = [auth_value.as_bytes()];
    let req = Request::new("POST", "/mcp").with_authorization(&auth);
    let mut exchange = g.exchange();
    loop {
        match exchange.poll(&req, policy.keys(now), now, Some(cache)) {
            Step::RefreshKeys { kid, .. } => {
                let refreshed = match policy.handle_unknown_kid(now, &kid) {
                    KidMiss::AwaitFetch => {
                        drive(policy, fake, now);
                        if let Some(keys) = policy.last_good_keys() {
                            cache.borrow_mut().retain_keys(keys);
                        }
                        true
                    }
                    _ => false,
                };
                exchange.handle_keys_refreshed(refreshed);
            }
            step => return step,
        }
    }
}

/// One poll of a fresh exchange (no refresh, no body).
fn poll_once(g: &Guard, req: &Request<'_>, keys: KeyState<'_>, now: UnixTime) -> Step {
    g.exchange().poll(req, keys, now, None)
}

fn status(d: &Step) -> u16 {
    match d {
        Step::Allow(_) => 200,
        Step::Respond(r) => r.status,
        other => panic!("{other:?}"),
    }
}

#[test]
fn first_fetch_then_routine_refresh_ahead_of_expiry() {
    let mut policy = JwksRefresh::new(JwksRefreshConfig::default());
    let mut fake = FakeAs::new();
    assert!(matches!(policy.keys(t(0)), KeyState::Unavailable { .. }));
    assert_eq!(policy.poll_timeout(), UnixTime::EPOCH, "due at once");
    assert_eq!(drive(&mut policy, &mut fake, t(0)), 1);
    assert!(matches!(policy.keys(t(0)), KeyState::Ready(_)));
    // max-age=600: the refresh is due at 80 %, before the keys go stale.
    assert_eq!(policy.poll_timeout(), t(480));
    assert_eq!(drive(&mut policy, &mut fake, t(479)), 0);
    assert_eq!(drive(&mut policy, &mut fake, t(480)), 1);
    assert_eq!(policy.poll_timeout(), t(960));
    // Single flight: while a fetch is out, no second one starts.
    let f = policy.poll_fetch(t(960)).unwrap();
    assert!(policy.poll_fetch(t(960)).is_none());
    assert_eq!(policy.poll_timeout(), t(990), "the in-flight deadline");
    // A fetch never reported back times out and is retried after a backoff.
    assert!(policy.poll_fetch(t(990)).is_none());
    assert_eq!(policy.last_failure(), Some(FetchFailure::Timeout));
    let late = FetchResponse::new(200, b"{}");
    assert_eq!(
        policy.handle_fetched(t(991), f.id, &late, 0),
        Ok(false),
        "stale reports are ignored"
    );
}

#[test]
fn key_rotation() {
    let g = guard();
    let mut policy = JwksRefresh::new(JwksRefreshConfig::default());
    let mut fake = FakeAs::new();
    let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
    drive(&mut policy, &mut fake, t(0));
    let old_token = valid_token("EdDSA");
    assert_eq!(
        status(&request(
            &g,
            &mut policy,
            &mut fake,
            &cache,
            &old_token,
            t(1)
        )),
        200
    );
    assert_eq!(cache.borrow().len(), 1);

    // The AS rotates: a new key appears next to the old one and signs new tokens.
    let new_key = new_ed25519();
    fake.keys.push(jwk_of(&new_key, "ed-2026"));
    let new_token = sign_with(&new_key, "ed-2026", t(10));
    let before = fake.served;
    assert_eq!(
        status(&request(
            &g,
            &mut policy,
            &mut fake,
            &cache,
            &new_token,
            t(10)
        )),
        200
    );
    assert_eq!(fake.served - before, 1, "exactly one fetch for the new kid");
    assert_eq!(
        status(&request(
            &g,
            &mut policy,
            &mut fake,
            &cache,
            &new_token,
            t(11)
        )),
        200
    );
    assert_eq!(fake.served - before, 1);

    // The old key disappears: from the next fetch on, its tokens are rejected and its cache
    // entries are gone.
    fake.keys.retain(|k| k["kid"] != "ed25519");
    let before = fake.served;
    let d = request(&g, &mut policy, &mut fake, &cache, &new_token, t(700));
    assert_eq!(status(&d), 200);
    drive(&mut policy, &mut fake, t(700));
    assert!(fake.served > before, "routine refresh");
    cache
        .borrow_mut()
        .retain_keys(policy.last_good_keys().unwrap());
    assert_eq!(cache.borrow().len(), 1, "only the new key's token is left");
    let d = request(&g, &mut policy, &mut fake, &cache, &old_token, t(701));
    assert_eq!(status(&d), 401);
}

#[test]
fn a_removed_key_rejects_even_a_cached_token() {
    // Even if the adapter forgot `retain_keys`, a cache hit needs its key in the current set.
    let g = guard();
    let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
    let token = valid_token("ES256");
    let auth_value = format!("Bearer {token}");
    let auth: [&[u8]; 1] = [auth_value.as_bytes()];
    let req = Request::new("POST", "/mcp").with_authorization(&auth);
    assert!(matches!(
        g.exchange()
            .poll(&req, KeyState::Ready(&jwks()), NOW, Some(&cache)),
        Step::Allow(_)
    ));
    let mut keys = jwk_values();
    keys.retain(|k| k["kid"] != "p256");
    let without = jwks_with(keys);
    assert!(matches!(
        g.exchange()
            .poll(&req, KeyState::Ready(&without), NOW, Some(&cache)),
        Step::RefreshKeys { .. }
    ));
}

#[test]
fn flood_of_unknown_kids() {
    let g = guard();
    let config = JwksRefreshConfig::default();
    let mut policy = JwksRefresh::new(config);
    let mut fake = FakeAs::new();
    let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
    drive(&mut policy, &mut fake, t(0));
    let before = fake.served;
    let attacker = new_ed25519();
    let mut rejected = 0;
    for i in 0..10_000u64 {
        let now = t(100 + i / 1000); // 10 000 requests over 10 virtual seconds
        let token = sign_with(&attacker, &format!("random-{i}"), now);
        let d = request(&g, &mut policy, &mut fake, &cache, &token, now);
        if status(&d) == 401 {
            rejected += 1;
        }
        assert!(policy.negative_cache_len() <= config.negative_cache_size);
    }
    assert_eq!(rejected, 10_000);
    assert_eq!(fake.served - before, 1, "one fetch per 30 s cooldown");
    assert!(cache.borrow().is_empty());
    // After the cooldown, one more fetch may happen for a new kid, and no more.
    let token = sign_with(&attacker, "after", t(131));
    let _ = request(&g, &mut policy, &mut fake, &cache, &token, t(131));
    assert_eq!(fake.served - before, 2);
}

#[test]
fn authorization_server_down_for_two_hours_then_past_max_staleness() {
    let config = JwksRefreshConfig::default();
    let mut policy = JwksRefresh::new(config);
    let mut fake = FakeAs::new();
    drive(&mut policy, &mut fake, t(0));
    fake.up = false;
    let down_from = policy.poll_timeout();
    // Follow the policy's own timer for two hours.
    let mut now = down_from;
    let mut attempts = 0;
    let mut gaps = Vec::new();
    let mut last = None;
    while now <= down_from.saturating_add(7200) {
        let n = drive(&mut policy, &mut fake, now);
        if n > 0 {
            attempts += n;
            if let Some(prev) = last {
                gaps.push(now.as_secs() - UnixTime::as_secs(prev));
            }
            last = Some(now);
        }
        assert!(
            matches!(policy.keys(now), KeyState::Ready(_)),
            "stale keys keep serving"
        );
        now = policy.poll_timeout().max(now.saturating_add(1));
    }
    eprintln!("AS down 2 h: {attempts} fetch attempts, gaps {gaps:?}");
    // Backoff grows (2 s, 4 s, … capped at 300 s, with jitter in the upper half).
    assert!(
        gaps.windows(2).all(|w| w[1] + 1 >= w[0] || w[0] > 150),
        "{gaps:?}"
    );
    assert!(
        *gaps.last().unwrap() <= 300 && *gaps.last().unwrap() >= 150,
        "{gaps:?}"
    );
    // 7 doubling steps to the cap, then about one attempt per 150–300 s.
    assert!(
        (25..=60).contains(&attempts),
        "{attempts} attempts: {gaps:?}"
    );
    assert_eq!(policy.consecutive_failures() as usize, attempts);

    // Past the maximum staleness (24 h after the last success): 503 with a sensible Retry-After.
    let late = t(24 * 3600 + 1);
    drive(&mut policy, &mut fake, late);
    match policy.keys(late) {
        KeyState::Unavailable { retry_after_secs } => {
            assert!((1..=300).contains(&retry_after_secs), "{retry_after_secs}")
        }
        KeyState::Ready(_) => panic!("keys older than the maximum staleness are served"),
    }
    let token = format!("Bearer {}", valid_token("ES256"));
    let auth: [&[u8]; 1] = [token.as_bytes()];
    match poll_once(
        &guard(),
        &Request::new("POST", "/mcp").with_authorization(&auth),
        policy.keys(late),
        late,
    ) {
        Step::Respond(r) => {
            assert_eq!(r.status, 503);
            assert!(r.header("retry-after").is_some());
        }
        other => panic!("{other:?}"),
    }
    // The AS comes back: one success and the keys are ready again.
    fake.up = true;
    let back = policy.poll_timeout().max(late);
    drive(&mut policy, &mut fake, back);
    assert!(matches!(policy.keys(back), KeyState::Ready(_)));
    assert_eq!(policy.consecutive_failures(), 0);
}

#[test]
fn nothing_ever_fetched_is_unavailable_never_401() {
    let mut policy = JwksRefresh::new(JwksRefreshConfig::default());
    let mut fake = FakeAs::new();
    fake.up = false;
    drive(&mut policy, &mut fake, t(0));
    let token = format!("Bearer {}", valid_token("ES256"));
    let auth: [&[u8]; 1] = [token.as_bytes()];
    match poll_once(
        &guard(),
        &Request::new("POST", "/mcp").with_authorization(&auth),
        policy.keys(t(1)),
        t(1),
    ) {
        Step::Respond(r) => assert_eq!((r.status, r.header("retry-after")), (503, Some("1"))),
        other => panic!("{other:?}"),
    }
}

/// The freshness each response yields: the time from the fetch to the next routine refresh, over
/// 0.8.
fn next_refresh_after(cache_control: Option<&str>, expires: Option<UnixTime>) -> u64 {
    let mut policy = JwksRefresh::new(JwksRefreshConfig::default());
    let f = policy.poll_fetch(t(0)).unwrap();
    let body = serde_json::to_vec(&json!({ "keys": jwk_values() })).unwrap();
    let resp = FetchResponse::new(200, &body)
        .with_cache_control(cache_control)
        .with_expires(expires);
    policy.handle_fetched(t(0), f.id, &resp, 0).unwrap();
    policy.poll_timeout().as_secs() - t(0).as_secs()
}

#[test]
fn cache_control_variants() {
    // ttl - ttl/5: the refresh starts at 80 % of the freshness, clamped to [300 s, 24 h].
    assert_eq!(next_refresh_after(Some("max-age=1000"), None), 800);
    assert_eq!(
        next_refresh_after(Some("public, max-age=3600, must-revalidate"), None),
        2880
    );
    assert_eq!(next_refresh_after(Some("no-store"), None), 240);
    assert_eq!(next_refresh_after(Some("no-cache"), None), 240);
    assert_eq!(next_refresh_after(Some("max-age=0"), None), 240);
    assert_eq!(
        next_refresh_after(None, None),
        480,
        "10 min when the response says nothing"
    );
    assert_eq!(
        next_refresh_after(Some("max-age=999999999999"), None),
        69120,
        "24 h cap"
    );
    assert_eq!(next_refresh_after(None, Some(t(2000))), 1600);
    assert_eq!(
        next_refresh_after(None, Some(t(0).saturating_sub(50))),
        240,
        "Expires in the past"
    );
    assert_eq!(
        next_refresh_after(Some("max-age=1000"), Some(t(5000))),
        800,
        "max-age wins"
    );
}

#[test]
fn bad_responses_keep_the_last_good_keys() {
    let cases: Vec<(u16, Option<Vec<u8>>, FetchFailure)> = vec![
        (500, None, FetchFailure::Status(500)),
        (404, None, FetchFailure::Status(404)),
        (
            200,
            Some(b"<html>".to_vec()),
            FetchFailure::InvalidJwks(mcp_authz_core::JwksError::InvalidJson),
        ),
        (
            200,
            Some(br#"{"keys":[]}"#.to_vec()),
            FetchFailure::NoUsableKey,
        ),
        (
            200,
            Some(br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#.to_vec()),
            FetchFailure::NoUsableKey,
        ),
        (200, Some(vec![b' '; 70 * 1024]), FetchFailure::TooLarge),
    ];
    for (status, body, expected) in cases {
        let mut policy = JwksRefresh::new(JwksRefreshConfig::default());
        let mut fake = FakeAs::new();
        drive(&mut policy, &mut fake, t(0));
        let generation = policy.generation();
        fake.status = status;
        fake.body_override = body;
        assert_eq!(drive(&mut policy, &mut fake, t(480)), 1);
        assert_eq!(policy.last_failure(), Some(expected), "{status}");
        assert_eq!(policy.generation(), generation);
        let KeyState::Ready(keys) = policy.keys(t(481)) else {
            panic!("{status}: keys lost")
        };
        assert_eq!(keys.keys().len(), 4);
        // Retried after the backoff (1–2 s for the first failure), not before.
        assert_eq!(drive(&mut policy, &mut fake, t(480)), 0);
        assert!(policy.poll_timeout() <= t(482));
    }
}

#[test]
fn token_cache_hits_misses_and_rechecks() {
    let verifier = verifier();
    let mut cache = TokenCache::new(TokenCacheLimits::default());
    let token = valid_token("RS256");
    let p = Arc::new(verifier.verify(&token, &jwks(), NOW).unwrap());
    assert!(cache.get(&verifier, &token, NOW).is_none());
    cache.insert(&verifier, &token, p.clone(), NOW);
    assert_eq!(cache.get(&verifier, &token, NOW).as_deref(), Some(&*p));
    // A hit after exp (+ leeway) is a miss, and the entry is gone.
    let after = UnixTime::from_secs(IAT + 3600 + 60);
    assert!(cache.get(&verifier, &token, after).is_none());
    assert!(cache.is_empty());
    // Another configuration (other resource) never hits on an entry made under the first.
    cache.insert(&verifier, &token, p.clone(), NOW);
    let other = mcp_authz_core::AccessTokenVerifier::new(VerifierConfig::new(
        ISSUER,
        "https://other.example/mcp",
    ));
    assert!(cache.get(&other, &token, NOW).is_none());
    // ... and the entry made under the first stays for it (a guard with several issuers
    // shares one cache among its verifiers).
    assert_eq!(cache.get(&verifier, &token, NOW).as_deref(), Some(&*p));
    // One issuer's key change drops only that verifier's entries.
    cache.retain_keys_of(&other, &mcp_authz_core::JwkSet::default());
    assert_eq!(cache.len(), 1);
    cache.retain_keys_of(&verifier, &mcp_authz_core::JwkSet::default());
    assert!(cache.is_empty(), "its key left the set");
    // Same token, different required scope: the principal comes back and the scope check is
    // the caller's, every time.
    cache.insert(&verifier, &token, p.clone(), NOW);
    let hit = cache.get(&verifier, &token, NOW).unwrap();
    assert!(hit.require_scopes(["mcp:tools"]).is_ok());
    assert!(hit.require_scopes(["mcp:admin"]).is_err());
    // A token that merely shares a prefix is not a hit.
    let mut forged = token.clone();
    forged.push('A');
    assert!(cache.get(&verifier, &forged, NOW).is_none());
    // Nor one that shares its ending (the entry key) but not all of it, at any length; and
    // looking it up leaves the entry alone.
    for cut in [1, 100, token.len() - 40, token.len() - 32] {
        let mut forged = String::from("X");
        forged.push_str(&token[cut..]);
        assert!(cache.get(&verifier, &forged, NOW).is_none(), "{cut}");
    }
    assert!(cache.get(&verifier, &token, NOW).is_some());
    // Entries never outlive max_ttl.
    let mut short = TokenCache::new(TokenCacheLimits::new(10, 1 << 20, 5));
    short.insert(&verifier, &token, p.clone(), NOW);
    assert!(short
        .get(&verifier, &token, NOW.saturating_add(4))
        .is_some());
    assert!(short
        .get(&verifier, &token, NOW.saturating_add(5))
        .is_none());
}

#[test]
fn a_cache_shared_by_many_configurations_keeps_every_ones_entries() {
    // Forty verifiers (a guard with forty authorization servers, or forty resources) share
    // one cache: each one's entry stays a hit for it alone, whatever the others do (a cache
    // that told only a few configurations apart started over and verified every token again).
    let token = valid_token("RS256");
    let p = Arc::new(verifier().verify(&token, &jwks(), NOW).unwrap());
    let verifiers: Vec<_> = (0..40)
        .map(|i| {
            mcp_authz_core::AccessTokenVerifier::new(
                VerifierConfig::new(ISSUER, RESOURCE).with_leeway_secs(i),
            )
        })
        .collect();
    let mut cache = TokenCache::new(TokenCacheLimits::default());
    for (i, v) in verifiers.iter().enumerate() {
        let mut t = token.clone();
        t.push_str(&format!("{i}"));
        cache.insert(v, &t, p.clone(), NOW);
    }
    assert_eq!(cache.len(), 40);
    for (i, v) in verifiers.iter().enumerate() {
        let mut t = token.clone();
        t.push_str(&format!("{i}"));
        assert!(cache.get(v, &t, NOW).is_some(), "{i}");
        let other = &verifiers[(i + 1) % verifiers.len()];
        assert!(cache.get(other, &t, NOW).is_none(), "{i}");
    }
    // Equal configurations built apart are one configuration.
    let again = mcp_authz_core::AccessTokenVerifier::new(
        VerifierConfig::new(ISSUER, RESOURCE).with_leeway_secs(7),
    );
    assert!(cache.get(&again, &format!("{token}7"), NOW).is_some());
}

#[test]
fn cached_decisions_still_check_scopes() {
    let g = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]).with_tool_scopes("rm", ["mcp:admin"]),
    );
    let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
    let token = format!("Bearer {}", valid_token("ES256"));
    let auth: [&[u8]; 1] = [token.as_bytes()];
    let rm = serde_json::to_vec(
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm"}}),
    )
    .unwrap();
    let keys = jwks();
    let plain = Request::new("POST", "/mcp").with_authorization(&auth);
    assert!(matches!(
        g.exchange()
            .poll(&plain, KeyState::Ready(&keys), NOW, Some(&cache)),
        Step::Allow(_)
    ));
    assert_eq!(cache.borrow().stats(), (0, 1));
    let json: [&[u8]; 1] = [b"application/json"];
    let admin = Request::new("POST", "/mcp")
        .with_authorization(&auth)
        .with_body(&json, &[]);
    let mut exchange = g.exchange();
    assert!(matches!(
        exchange.poll(&admin, KeyState::Ready(&keys), NOW, Some(&cache)),
        Step::ReadBody { .. }
    ));
    exchange.handle_body(&rm);
    match exchange.poll(&admin, KeyState::Ready(&keys), NOW, Some(&cache)) {
        Step::Respond(r) => assert_eq!(r.status, 403),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        cache.borrow().stats(),
        (1, 1),
        "the second decision was a cache hit"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What `fresh_until` publishes is `current`'s answer at every instant until the next
    /// change: whatever fetches succeed, fail, time out or are asked for by unknown kids, a
    /// driver reading the published keys without the lock allows exactly what the policy does.
    #[test]
    fn published_keys_are_currents_answer_until_the_next_change(
        events in prop::collection::vec((0u64..200_000, 0u8..6), 1..40),
        max_staleness in 0u64..100_000,
    ) {
        let mut config = JwksRefreshConfig::default();
        config.max_staleness = max_staleness;
        let mut policy = JwksRefresh::new(config);
        let mut fake = FakeAs::new();
        let mut now = 0;
        for (dt, what) in events {
            now += dt;
            let at = t(now);
            match what {
                0 => fake.up = false,
                1 => fake.up = true,
                2 => fake.body_override = Some(b"{\"keys\":[]}".to_vec()),
                3 => fake.body_override = None,
                4 => {
                    let _ = policy.handle_unknown_kid(at, "unknown");
                }
                _ => policy.handle_timeout(at),
            }
            drive(&mut policy, &mut fake, at);
            let published = policy.fresh_until();
            // Probes from now on, around the published instant and far beyond.
            let until = published.as_ref().map_or(now, |(_, u)| u.as_secs().saturating_sub(IAT));
            for probe in [now, now + 1, until.saturating_sub(1), until, until + 1, now + 10_000_000] {
                if probe < now {
                    continue;
                }
                let answer = policy.current(t(probe));
                match &published {
                    Some((keys, until)) if t(probe) <= *until => {
                        prop_assert!(answer.as_ref().is_ok_and(|k| Arc::ptr_eq(k, keys)), "{probe}");
                    }
                    _ => prop_assert!(answer.is_err(), "{probe}"),
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Under any workload of inserts and lookups the bounds hold.
    #[test]
    fn token_cache_bounds_hold(
        max_entries in 1usize..20,
        max_bytes in 2_000usize..20_000,
        ops in prop::collection::vec((0usize..40, 0u64..4000, any::<bool>()), 1..200),
    ) {
        let verifier = verifier();
        let tokens: Vec<String> = (0..40).map(|i| {
            let mut c = claims();
            c["jti"] = json!(format!("j{i}"));
            c["pad"] = json!("x".repeat(i * 37));
            forge(&header("EdDSA"), &c)
        }).collect();
        let keys = jwks();
        let mut cache = TokenCache::new(TokenCacheLimits::new(max_entries, max_bytes, 3600));
        for (i, dt, insert) in ops {
            let now = NOW.saturating_add(dt);
            let token = &tokens[i];
            if insert {
                if let Ok(p) = verifier.verify(token, &keys, now) {
                    cache.insert(&verifier, token, Arc::new(p), now);
                }
            } else if let Some(p) = cache.get(&verifier, token, now) {
                // Every hit is still a valid token at `now`.
                prop_assert!(p.recheck(verifier.config(), now).is_ok());
                let jti = format!("j{i}");
                prop_assert_eq!(p.jwt_id(), Some(jti.as_str()));
            }
            prop_assert!(cache.len() <= max_entries);
            prop_assert!(cache.bytes() <= max_bytes);
        }
    }

    /// Any sequence of events and times leaves the policy consistent: at most one fetch in
    /// flight, and keys served only while fresh enough.
    #[test]
    fn refresh_policy_survives_any_event_sequence(
        events in prop::collection::vec((0u8..5, 0u64..2000, any::<u32>()), 1..150),
    ) {
        let config = JwksRefreshConfig::default();
        let mut policy = JwksRefresh::new(config);
        let body = serde_json::to_vec(&json!({ "keys": jwk_values() })).unwrap();
        let mut now = t(0);
        let mut in_flight: Option<u64> = None;
        let mut last_success: Option<UnixTime> = None;
        for (kind, dt, random) in events {
            now = now.saturating_add(dt);
            match kind {
                0 => if let Some(f) = policy.poll_fetch(now) {
                    prop_assert!(in_flight.is_none() || policy.last_failure() == Some(FetchFailure::Timeout));
                    in_flight = Some(f.id);
                },
                1 => if let Some(id) = in_flight.take() {
                    let live = policy.in_flight() == Some(id);
                    if policy.handle_fetched(now, id, &FetchResponse::new(200, &body), 0).is_ok() && live {
                        last_success = Some(now);
                    }
                },
                2 => if let Some(id) = in_flight.take() {
                    policy.handle_fetch_failed(now, id, FetchFailure::Connect, random);
                },
                3 => { let _ = policy.handle_unknown_kid(now, &format!("k{random}")); },
                _ => { let _ = policy.poll_timeout(); },
            }
            if !policy.is_fetching() { in_flight = None; }
            match policy.keys(now) {
                KeyState::Ready(_) => prop_assert!(last_success.is_some_and(|s| now <= s.saturating_add(config.max_staleness))),
                KeyState::Unavailable { retry_after_secs } => prop_assert!((1..=3600).contains(&retry_after_secs)),
            }
            prop_assert!(policy.negative_cache_len() <= config.negative_cache_size);
        }
    }
}
