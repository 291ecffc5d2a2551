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

criterion_group!(benches, verify);
criterion_main!(benches);
