//! Key rotation under the refresh policy, in virtual time: a simulated authorization server
//! publishes and drops keys, fetches take a while, tokens arrive with legitimate and random
//! `kid`s, and the guarantees hold whatever the arrival pattern.

use std::collections::BTreeSet;

use mcp_authz_core::jwks_refresh::{FetchResponse, JwksRefresh, JwksRefreshConfig, KidMiss};
use mcp_authz_core::{KeyState, UnixTime};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

use crate::common::b64u;

const COOLDOWN: u64 = 30;
/// How long a request with an unknown `kid` waits for a fetch (the hyper adapter's default 5 s).
const KID_WAIT: u64 = 5;

fn jwk(kid: &str) -> Value {
    let pk8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap();
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64u(key.public_key().as_ref())})
}

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
}

/// The authorization server, the policy and a driver that follows the policy's rules: drain
/// `poll_fetch` every second, complete each fetch `fetch_secs` after it started (with the key set
/// the server had when it started), let `AwaitFetch` requests wait for the next completion.
struct Sim {
    policy: JwksRefresh,
    published: Vec<(String, Value)>,
    fetch_secs: u64,
    /// The fetch in flight: id, start, the key set served.
    in_flight: Option<(u64, u64, Vec<u8>)>,
    fetch_starts: Vec<u64>,
    /// Completed fetches: the event number, the kids served.
    fetch_ends: Vec<(u64, BTreeSet<String>)>,
    /// Requests waiting for a fetch: (arrival, arrival event, kid).
    waiting: Vec<(u64, u64, String)>,
    /// Every request: arrival second, arrival event, kid, outcome.
    outcomes: Vec<(u64, u64, String, Outcome)>,
    now: u64,
    /// Orders arrivals and fetch completions within a second.
    events: u64,
}

impl Sim {
    fn new(keys: Vec<(String, Value)>, fetch_secs: u64) -> Self {
        let mut config = JwksRefreshConfig::default();
        config.kid_miss_cooldown = COOLDOWN;
        // No routine refresh inside the simulated span: every fetch is a kid miss's.
        config.min_ttl = 86_400;
        let mut sim = Self {
            policy: JwksRefresh::new(config),
            published: keys,
            fetch_secs,
            in_flight: None,
            fetch_starts: Vec::new(),
            fetch_ends: Vec::new(),
            waiting: Vec::new(),
            outcomes: Vec::new(),
            now: 0,
            events: 0,
        };
        sim.tick();
        sim
    }

    fn body(&self) -> Vec<u8> {
        let keys: Vec<&Value> = self.published.iter().map(|(_, v)| v).collect();
        serde_json::to_vec(&json!({ "keys": keys })).unwrap()
    }

    fn at(&self) -> UnixTime {
        UnixTime::from_secs(1_700_000_000 + self.now)
    }

    fn known(&self, kid: &str) -> bool {
        match self.policy.keys(self.at()) {
            KeyState::Ready(keys) => keys.contains_kid(kid),
            KeyState::Unavailable { .. } => false,
        }
    }

    /// Completes the fetch due now, then starts what the policy asks for (completing it at once
    /// when fetches take no time).
    fn tick(&mut self) {
        loop {
            if let Some((id, started, body)) = self.in_flight.take() {
                if started + self.fetch_secs <= self.now {
                    let at = self.at();
                    let response =
                        FetchResponse::new(200, &body).with_cache_control(Some("max-age=86400"));
                    self.policy.handle_fetched(at, id, &response, 0).unwrap();
                    let kids = self.published_at_fetch(&body);
                    self.events += 1;
                    self.fetch_ends.push((self.events, kids));
                    // Waiting requests decide once more.
                    for (arrival, event, kid) in std::mem::take(&mut self.waiting) {
                        let outcome = match self.known(&kid) {
                            true => Outcome::Accepted,
                            false => Outcome::Refused,
                        };
                        self.outcomes.push((arrival, event, kid, outcome));
                    }
                } else {
                    self.in_flight = Some((id, started, body));
                }
            }
            if self.in_flight.is_some() {
                break;
            }
            match self.policy.poll_fetch(self.at()) {
                Some(f) => {
                    self.fetch_starts.push(self.now);
                    self.in_flight = Some((f.id, self.now, self.body()));
                }
                None => break,
            }
        }
        // Requests that waited longer than the adapter waits are refused.
        let now = self.now;
        let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(arrival, _, _)| now >= arrival + KID_WAIT);
        self.waiting = waiting;
        for (arrival, event, kid) in expired {
            self.outcomes.push((arrival, event, kid, Outcome::Refused));
        }
    }

    fn published_at_fetch(&self, body: &[u8]) -> BTreeSet<String> {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    fn advance_to(&mut self, t: u64) {
        while self.now < t {
            self.now += 1;
            self.tick();
        }
    }

    /// A token naming `kid` arrives now.
    fn request(&mut self, kid: &str) {
        self.events += 1;
        let (now, event, kid) = (self.now, self.events, kid.to_owned());
        if self.known(&kid) {
            self.outcomes.push((now, event, kid, Outcome::Accepted));
            return;
        }
        let at = self.at();
        match self.policy.handle_unknown_kid(at, &kid) {
            KidMiss::AwaitFetch if self.known(&kid) => {
                self.outcomes.push((now, event, kid, Outcome::Accepted));
            }
            KidMiss::AwaitFetch => {
                self.waiting.push((now, event, kid));
                self.tick();
            }
            _ => {
                self.outcomes.push((now, event, kid, Outcome::Refused));
                // A deferred fetch may be scheduled: the driver re-arms its timer.
                self.tick();
            }
        }
    }

    fn publish(&mut self, kid: &str, jwk: Value) {
        self.published.push((kid.to_owned(), jwk));
    }

    fn drop_key(&mut self, kid: &str) {
        self.published.retain(|(k, _)| k != kid);
    }

    fn outcome_of(&self, arrival: u64, kid: &str) -> Option<Outcome> {
        self.outcomes
            .iter()
            .find(|(t, _, k, _)| *t == arrival && k == kid)
            .map(|(_, _, _, o)| *o)
    }
}

/// The scenario of the issue: the AS adds k2 and signs with it; within the kid-miss cooldown it
/// rotates again (adds k3, drops k1). k3 must be accepted when the cooldown ends, and k1 refused
/// from the fetch that dropped it.
#[test]
fn two_rotations_within_one_cooldown() {
    let (k1, k2, k3) = (jwk("k1"), jwk("k2"), jwk("k3"));
    let mut sim = Sim::new(vec![("k1".into(), k1)], 1);
    sim.advance_to(5);
    sim.request("k1");
    // Rotation 1 at t = 10: k2 published and used; one fetch, the request waits for it.
    sim.advance_to(10);
    sim.publish("k2", k2);
    sim.request("k2");
    sim.advance_to(12);
    assert_eq!(sim.outcome_of(10, "k2"), Some(Outcome::Accepted));
    // Rotation 2 at t = 15, inside the cooldown that started at 10: k3 in, k1 out.
    sim.advance_to(15);
    sim.publish("k3", k3);
    sim.drop_key("k1");
    sim.request("k3");
    assert_eq!(
        sim.outcome_of(15, "k3"),
        Some(Outcome::Refused),
        "refused now"
    );
    assert_eq!(
        sim.policy.deferred_fetch(),
        Some(UnixTime::from_secs(1_700_000_000 + 40)),
        "one fetch when the cooldown ends"
    );
    for t in [16, 20, 39] {
        sim.advance_to(t);
        sim.request("k3");
        sim.request("k1");
        assert_eq!(sim.outcome_of(t, "k1"), Some(Outcome::Accepted), "{t}");
    }
    // The deferred fetch starts at 40 and completes at 41: k3 in, k1 out.
    sim.advance_to(41);
    assert_eq!(sim.fetch_starts, [0, 10, 40]);
    sim.request("k3");
    sim.request("k1");
    assert_eq!(sim.outcome_of(41, "k3"), Some(Outcome::Accepted));
    assert_eq!(sim.outcome_of(41, "k1"), Some(Outcome::Refused));
    // k1 is now known to be missing: more k1 tokens inside the new cooldown fetch nothing.
    for t in 42..70 {
        sim.advance_to(t);
        sim.request("k1");
    }
    assert_eq!(sim.fetch_starts, [0, 10, 40]);
}

#[test]
fn ten_thousand_random_kids_in_ten_seconds_cost_at_most_two_fetches() {
    let mut sim = Sim::new(vec![("k1".into(), jwk("k1"))], 1);
    sim.advance_to(100);
    for i in 0..10_000u64 {
        sim.advance_to(100 + i / 1000);
        sim.request(&format!("random-{i}"));
    }
    // Past the cooldown, with the deferred fetch and nothing else.
    sim.advance_to(200);
    assert_eq!(sim.fetch_starts, [0, 100, 130]);
    assert!(sim.policy.negative_cache_len() <= 1024);
    assert!(sim
        .outcomes
        .iter()
        .all(|(_, _, _, o)| *o == Outcome::Refused));
}

/// One token arrival in a generated pattern.
#[derive(Debug, Clone)]
enum Arrival {
    /// A token signed with the key that is published at `publish_at`.
    New,
    /// A token signed with the key that is dropped at `drop_at`.
    Old,
    /// An attacker's random `kid` (a few of them repeat).
    Random(u8),
    /// The attacker guessing the next key's `kid` before it is published.
    GuessNew,
}

fn arrivals() -> impl Strategy<Value = Vec<(u64, Arrival)>> {
    let arrival = prop_oneof![
        Just(Arrival::New),
        Just(Arrival::Old),
        any::<u8>().prop_map(Arrival::Random),
        Just(Arrival::GuessNew),
    ];
    proptest::collection::vec((0u64..240, arrival), 0..120).prop_map(|mut v| {
        v.sort_by_key(|(t, _)| *t);
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// For every arrival pattern:
    /// - a key published at `T` is accepted for every token arriving after
    ///   `T + cooldown + fetch duration`;
    /// - kid-triggered fetches start at least a cooldown apart;
    /// - a dropped key is refused for every token arriving after the fetch that dropped it.
    #[test]
    fn rotation_guarantees_hold_for_any_arrival_pattern(
        pattern in arrivals(),
        publish_at in 1u64..200,
        drop_at in 1u64..200,
        fetch_secs in prop_oneof![Just(0u64), Just(1), Just(3)],
    ) {
        let (old, new) = (jwk("old"), jwk("new"));
        // A key that stays, so the set is never empty (an empty set is refused as unusable).
        let stable = ("stable".to_owned(), jwk("stable"));
        let mut sim = Sim::new(vec![stable, ("old".into(), old)], fetch_secs);
        // The server's changes happen at their instants, between the arrivals.
        let mut changes = vec![(publish_at, Some(new)), (drop_at, None)];
        changes.sort_by_key(|(t, _)| *t);
        let mut changes = changes.into_iter().peekable();
        for (t, arrival) in &pattern {
            while let Some((at, _)) = changes.peek() {
                if at > t {
                    break;
                }
                let (at, change) = changes.next().unwrap();
                sim.advance_to(at);
                match change {
                    Some(jwk) => sim.publish("new", jwk),
                    None => sim.drop_key("old"),
                }
            }
            sim.advance_to(*t);
            match arrival {
                // Before `publish_at` both are a guess of the next kid.
                Arrival::New | Arrival::GuessNew => sim.request("new"),
                Arrival::Old => sim.request("old"),
                Arrival::Random(n) => sim.request(&format!("random-{n}")),
            }
        }
        sim.advance_to(260);

        let accepted_after = publish_at + COOLDOWN + fetch_secs;
        for (t, _, kid, outcome) in &sim.outcomes {
            if kid == "new" && *t > accepted_after {
                prop_assert_eq!(*outcome, Outcome::Accepted, "new key at {} (published {})", t, publish_at);
            }
        }
        // The first fetch (no keys yet) aside, fetches start at least a cooldown apart.
        let starts = &sim.fetch_starts[1..];
        for w in starts.windows(2) {
            prop_assert!(w[1] - w[0] >= COOLDOWN, "fetches at {:?}", sim.fetch_starts);
        }
        // The first completed fetch that no longer has the old key.
        let gone = sim
            .fetch_ends
            .iter()
            .find(|(_, kids)| !kids.contains("old"))
            .map(|(t, _)| *t);
        if let Some(gone) = gone {
            for (t, event, kid, outcome) in &sim.outcomes {
                if kid == "old" && *event > gone {
                    prop_assert_eq!(*outcome, Outcome::Refused, "old key at {} (event {}, gone at event {})", t, event, gone);
                }
            }
        }
    }
}

/// The worst-case delay from publishing a key to accepting its tokens, measured: an attacker
/// sends a random `kid` every second (keeping the cooldown busy), the legitimate client sends a
/// token with the new key every second from its publication on, fetches take `d` seconds. For
/// each publication instant inside the cooldown cycle, the delay is the arrival time of the first
/// new-key token after which every one is accepted, minus the publication.
#[test]
fn worst_case_acceptance_delay_of_a_new_key() {
    for d in [0u64, 1, 3] {
        let mut worst = 0;
        for publish_at in 40..(40 + COOLDOWN + 2) {
            let stable = ("stable".to_owned(), jwk("stable"));
            let mut sim = Sim::new(vec![stable], d);
            let mut new_jwk = Some(jwk("new"));
            for t in 1..200 {
                sim.advance_to(t);
                sim.request(&format!("random-{t}"));
                if t >= publish_at {
                    if let Some(j) = new_jwk.take() {
                        sim.publish("new", j);
                    }
                    sim.request("new");
                }
            }
            sim.advance_to(210);
            let last_refused = sim
                .outcomes
                .iter()
                .filter(|(_, _, k, o)| k == "new" && *o == Outcome::Refused)
                .map(|(t, _, _, _)| *t)
                .max();
            let delay = last_refused.map_or(0, |t| t + 1 - publish_at);
            worst = worst.max(delay);
        }
        eprintln!("fetch {d} s, cooldown {COOLDOWN} s: worst-case acceptance delay {worst} s");
        assert!(worst <= COOLDOWN + d, "{worst}");
    }
}
