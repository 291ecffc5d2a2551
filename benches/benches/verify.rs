//! Full token verification (parse, key lookup, signature, claims) against `ring`'s bare
//! signature check of the same bytes and key, per algorithm.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mcp_authz_benches::{fixtures, ring_verify};

fn verify(c: &mut Criterion) {
    let (verifier, keys, now, cases) = fixtures();
    for case in &cases {
        let mut group = c.benchmark_group(format!("verify/{}", case.alg));
        group.bench_function("ours", |b| {
            b.iter(|| verifier.verify(black_box(&case.token), &keys, now).is_ok())
        });
        group.bench_function("ring", |b| b.iter(|| ring_verify(black_box(case))));
        group.finish();
    }
}

/// A verified-token cache hit (digest, lookup, full-token compare, claim re-checks) next to the
/// RS256 verification it replaces.
fn cache_hit(c: &mut Criterion) {
    use mcp_authz_core::token_cache::{TokenCache, TokenCacheLimits};
    let (verifier, keys, now, cases) = fixtures();
    let Some(case) = cases.iter().find(|c| c.alg == "RS256") else {
        return;
    };
    let Ok(principal) = verifier.verify(&case.token, &keys, now) else {
        return;
    };
    let mut cache = TokenCache::new(TokenCacheLimits::default());
    cache.insert(&verifier, &case.token, principal.into(), now);
    let mut group = c.benchmark_group("cache");
    group.bench_function("hit", |b| {
        b.iter(|| cache.get(&verifier, black_box(&case.token), now).is_some())
    });
    group.bench_function("rs256_verify", |b| {
        b.iter(|| verifier.verify(black_box(&case.token), &keys, now).is_ok())
    });
    group.finish();
}

criterion_group!(benches, verify, cache_hit);
criterion_main!(benches);
