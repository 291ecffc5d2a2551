//! Costs that should stay flat as the work grows: one decision (or the piece of it that
//! scales) against
//! - `issuers/N`: authorization servers configured (1, 10, 100), cached token of the last one;
//! - `jwks_select/N`: keys in one JWK Set (1, 10, 1 000), the token naming the last key;
//! - `tool_rules/N`: per-tool scope rules (1, 100, 10 000), a call of the last tool;
//! - `cached_tokens/N`: entries in the verified-token cache (1 k, 100 k, 1 M), a hit; the memory
//!   the entries take is printed (the cache's own estimate and the process's resident growth);
//! - `body/N`: JSON-RPC body size with tool scopes (1 KB, 100 KB, 1 MB), reported as throughput.
//!
//! `cargo bench -p mcp-authz-benches --bench scale`

#![allow(missing_docs)]

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mcp_authz_core::jose::jwk::KidPolicy;
use mcp_authz_core::token_cache::{PrincipalCache, TokenCache, TokenCacheLimits};
use mcp_authz_core::{Guard, JwkSet, JwksLimits, KeyState, ScopePolicy, UnixTime, VerifierConfig};
use mcp_authz_testkit::jwt::{new_p256, p256_jwk, sign_es256};
use serde_json::{json, Value};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_700_000_000;

fn issuer(i: usize) -> String {
    format!("https://as-{i}.example.com")
}

fn claims(iss: &str) -> Value {
    json!({
        "iss": iss, "sub": "user-1", "aud": RESOURCE, "client_id": "client-abc",
        "scope": "mcp:tools mcp:read", "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "jti": "scale-1",
    })
}

fn call(tool: &str, argument: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": argument}},
    }))
    .unwrap_or_default()
}

/// One whole decision as an adapter drives it: verify (or the cache), then the body.
fn decide(
    guard: &Guard,
    token: &str,
    body: &[u8],
    keys: &[KeyState<'_>],
    cache: &dyn PrincipalCache,
) -> bool {
    let now = UnixTime::from_secs(NOW);
    mcp_authz_benches::with_call_request(token, |req| {
        mcp_authz_benches::decide(guard, req, body, keys, now, Some(cache))
    })
}

fn jwks(keys: &[Value]) -> JwkSet {
    let doc = serde_json::to_vec(&json!({ "keys": keys })).unwrap_or_default();
    JwkSet::parse(&doc, &JwksLimits::new(usize::MAX, usize::MAX)).unwrap_or_default()
}

fn scale(c: &mut Criterion) {
    let Ok(key) = new_p256() else { return };
    let set = jwks(&[p256_jwk(&key, "k0")]);
    let body = call("whoami", "");

    let mut group = c.benchmark_group("issuers");
    for n in [1usize, 10, 100] {
        let mut guard = Guard::new(
            VerifierConfig::new(issuer(0), RESOURCE),
            ScopePolicy::new(["mcp:tools"]),
        );
        for i in 1..n {
            guard = guard.with_issuer(VerifierConfig::new(issuer(i), RESOURCE));
        }
        let keys: Vec<KeyState<'_>> = (0..n).map(|_| KeyState::Ready(&set)).collect();
        let tokens: Vec<String> = (0..n)
            .filter_map(|i| sign_es256(&key, "k0", &claims(&issuer(i))).ok())
            .collect();
        let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
        // Every issuer's token once (the cache holds one per issuer), then the last one's.
        assert!(tokens
            .iter()
            .all(|t| decide(&guard, t, &body, &keys, &cache)));
        let last = tokens.last().cloned().unwrap_or_default();
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| decide(&guard, black_box(&last), &body, &keys, &cache))
        });
        // Alternating over all issuers: every lookup under another configuration.
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("round_robin", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % tokens.len();
                decide(&guard, black_box(&tokens[i]), &body, &keys, &cache)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("jwks_select");
    let more: Vec<Value> = (0..1000)
        .filter_map(|i| {
            new_p256()
                .ok()
                .map(|k| p256_jwk(&k, &format!("key-{i:04}")))
        })
        .collect();
    for n in [1usize, 10, 1000] {
        let mut keys: Vec<Value> = more.iter().take(n - 1).cloned().collect();
        keys.push(p256_jwk(&key, "the-key"));
        let set = jwks(&keys);
        assert_eq!(set.keys().len(), n);
        let alg = mcp_authz_core::Algorithm::Es256;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                set.select(black_box(Some("the-key")), alg, KidPolicy::Required)
                    .is_ok()
            })
        });
    }
    group.finish();

    let token = sign_es256(&key, "k0", &claims(&issuer(0))).unwrap_or_default();
    let keys = [KeyState::Ready(&set)];

    let mut group = c.benchmark_group("tool_rules");
    for n in [1usize, 100, 10_000] {
        let mut policy = ScopePolicy::new(["mcp:tools"]);
        for i in 0..n {
            policy = policy.with_tool_scopes(format!("tool-{i}"), ["mcp:read"]);
        }
        let guard = Guard::new(VerifierConfig::new(issuer(0), RESOURCE), policy);
        let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
        let body = call(&format!("tool-{}", n - 1), "");
        assert!(decide(&guard, &token, &body, &keys, &cache));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| decide(&guard, black_box(&token), &body, &keys, &cache))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("cached_tokens");
    let guard = Guard::new(
        VerifierConfig::new(issuer(0), RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    );
    let Some(verifier) = guard.verifiers().next() else {
        return;
    };
    let Ok(principal) = verifier.verify(&token, &set, UnixTime::from_secs(NOW)) else {
        panic!("the scale bench's token does not verify");
    };
    let principal = Arc::new(principal);
    for n in [1_000usize, 100_000, 1_000_000] {
        let rss = resident_bytes();
        let cache = RefCell::new(TokenCache::new(TokenCacheLimits::new(
            n + 1,
            usize::MAX,
            3600,
        )));
        // Entries under tokens as long as the real one, each ending differently (as distinct
        // signatures do: the cache keys entries by a token's end); the principal is shared
        // (what differs per entry is the key, the token text and the bookkeeping).
        for i in 0..n {
            let mut fake = String::from(&token[..token.len() - 20]);
            fake.push_str(&format!("{i:020}"));
            cache
                .borrow_mut()
                .insert(verifier, &fake, principal.clone(), UnixTime::from_secs(NOW));
        }
        cache.borrow_mut().insert(
            verifier,
            &token,
            principal.clone(),
            UnixTime::from_secs(NOW),
        );
        let grown = resident_bytes().saturating_sub(rss);
        assert_eq!(cache.borrow().len(), n + 1, "every entry is kept");
        println!(
            "cached_tokens/{n}: {} entries, estimate {:.1} MB, resident growth {:.1} MB ({} B per entry)",
            cache.borrow().len(),
            cache.borrow().bytes() as f64 / 1e6,
            grown as f64 / 1e6,
            grown / n.max(1),
        );
        assert!(decide(&guard, &token, &body, &keys, &cache));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| decide(&guard, black_box(&token), &body, &keys, &cache))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("body");
    let guard = Guard::new(
        VerifierConfig::new(issuer(0), RESOURCE),
        ScopePolicy::new(["mcp:tools"]).with_tool_scopes("whoami", ["mcp:read"]),
    )
    .with_max_body_bytes(4 << 20);
    let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
    for size in [1_000usize, 100_000, 1_000_000] {
        let body = call("whoami", &"x".repeat(size.saturating_sub(100)));
        assert!(decide(&guard, &token, &body, &keys, &cache));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| decide(&guard, black_box(&token), &body, &keys, &cache))
        });
    }
    group.finish();
}

/// The process's resident set, from `/proc/self/statm` (0 where there is none).
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

criterion_group!(benches, scale);
criterion_main!(benches);
