//! Paired timing of our verification against ring's floor and against jsonwebtoken: blocks of
//! each, interleaved, so that drift in the machine's speed falls on all sides alike. Prints the
//! medians of the per-block differences and ratios per alg.
//! `cargo run --release -p mcp-authz-benches --bin paired [blocks]`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use mcp_authz_benches::{fixtures, ring_verify, JsonWebToken};

fn main() {
    let blocks: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (verifier, keys, now, cases) = fixtures();
    println!(
        "| alg | ours | ring | jsonwebtoken | ours − ring | ours/ring (goal ≤ 1.03) | ours/jsonwebtoken (goal ≤ 0.90) | ring/jsonwebtoken |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (issuer, resource) = (verifier.config().issuer(), verifier.config().resource());
    for case in &cases {
        let jwt = JsonWebToken::new(case, issuer, resource);
        // About 2 ms per block.
        let per_block = (2_000_000 / estimate(|| ring_verify(black_box(case)))).max(1);
        let mut ours_ns = Vec::new();
        let mut ring_ns = Vec::new();
        let mut ratios = Vec::new();
        let mut overheads = Vec::new();
        let mut jwt_ns = Vec::new();
        let mut ours_jwt = Vec::new();
        let mut ring_jwt = Vec::new();
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
            if let Some(jwt) = &jwt {
                let t = Instant::now();
                for _ in 0..per_block {
                    black_box(jwt.decode(black_box(&case.token)));
                }
                let j = t.elapsed().as_nanos() as f64 / per_block as f64;
                jwt_ns.push(j);
                ours_jwt.push(o / j);
                ring_jwt.push(r / j);
            }
        }
        let or_dash = |v: &mut Vec<f64>, f: &dyn Fn(f64) -> String| match v.is_empty() {
            true => "—".to_owned(),
            false => f(median(v)),
        };
        println!(
            "| {} | {:.2} µs | {:.2} µs | {} | {:.0} ns | {:.3} | {} | {} |",
            case.alg,
            median(&mut ours_ns) / 1000.0,
            median(&mut ring_ns) / 1000.0,
            or_dash(&mut jwt_ns, &|m| format!("{:.2} µs", m / 1000.0)),
            median(&mut overheads),
            median(&mut ratios),
            or_dash(&mut ours_jwt, &|m| format!("{m:.3}")),
            or_dash(&mut ring_jwt, &|m| format!("{m:.3}")),
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
