//! Paired timing of our verification against ring's floor: blocks of each, interleaved, so that
//! drift in the machine's speed falls on both sides alike. Prints the median block ratio per alg.
//! `cargo run --release -p mcp-authz-benches --bin paired [blocks]`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use mcp_authz_benches::{fixtures, ring_verify};

fn main() {
    let blocks: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (verifier, keys, now, cases) = fixtures();
    println!(
        "| alg | ours (median) | ring (median) | ours − ring (median of paired blocks) | ours/ring (median of paired blocks) |"
    );
    println!("|---|---|---|---|---|");
    for case in &cases {
        // About 2 ms per block.
        let per_block = (2_000_000 / estimate(|| ring_verify(black_box(case)))).max(1);
        let mut ours_ns = Vec::new();
        let mut ring_ns = Vec::new();
        let mut ratios = Vec::new();
        let mut overheads = Vec::new();
        for _ in 0..blocks {
            let t = Instant::now();
            for _ in 0..per_block {
                black_box(verifier.verify(black_box(&case.token), &keys, now).is_ok());
            }
            let o = t.elapsed().as_nanos() as f64 / per_block as f64;
            let t = Instant::now();
            for _ in 0..per_block {
                black_box(ring_verify(black_box(case)));
            }
            let r = t.elapsed().as_nanos() as f64 / per_block as f64;
            ours_ns.push(o);
            ring_ns.push(r);
            ratios.push(o / r);
            overheads.push(o - r);
        }
        println!(
            "| {} | {:.2} µs | {:.2} µs | {:.0} ns | {:.3} |",
            case.alg,
            median(&mut ours_ns) / 1000.0,
            median(&mut ring_ns) / 1000.0,
            median(&mut overheads),
            median(&mut ratios)
        );
    }
}

fn estimate(f: impl Fn() -> bool) -> u128 {
    let t = Instant::now();
    for _ in 0..100 {
        black_box(f());
    }
    (t.elapsed().as_nanos() / 100).max(1)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
