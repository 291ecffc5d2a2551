//! Paired timing of our verification against the floors of both crypto backends and against
//! jsonwebtoken 9 (ring) and 10 (aws-lc-rs): blocks of each, interleaved, so that drift in the
//! machine's speed falls on all sides alike. Prints the medians of the per-block times and ratios
//! per alg, for the backend this build of the core verifies with.
//!
//! `cargo run --release -p mcp-authz-benches --bin paired [blocks]` (ring, the default) and
//! `cargo run --release -p mcp-authz-benches --no-default-features --features aws-lc-rs --bin paired [blocks]`.
//!
//! - ring floor: `ring` verifying the signature from the decoded key, what ring 0.17 allows;
//! - aws-lc floor: `aws-lc-rs` verifying with a key parsed once ahead (`ParsedPublicKey`);
//! - "own floor" is the floor of the backend this build uses.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use mcp_authz_benches::{fixtures, ring_verify, AwsLcFloor, JsonWebToken, JsonWebToken10};

const BACKEND: &str = mcp_authz_core::crypto::BACKEND;

/// One implementation under test: its column name, and one verification (whether it accepted).
type Contender<'a> = (&'static str, Box<dyn Fn() -> bool + 'a>);

fn main() {
    let blocks: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (verifier, keys, now, cases) = fixtures();
    let aws_backend = BACKEND == "aws-lc-rs";
    let (goal_jwt9, goal_jwt10) = if aws_backend {
        ("≤ 0.80", "≤ 0.90")
    } else {
        ("≤ 0.90", "—")
    };
    println!("backend of the core: {BACKEND}; {blocks} blocks of ~2 ms each, interleaved");
    println!();
    println!(
        "| alg | ours | ring floor | aws-lc floor | jsonwebtoken 9 | jsonwebtoken 10 | ours/own floor (goal ≤ 1.03) | ours/ring floor | ours/jwt 9 (goal {goal_jwt9}) | ours/jwt 10 (goal {goal_jwt10}) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let (issuer, resource) = (verifier.config().issuer(), verifier.config().resource());
    for case in &cases {
        let aws = AwsLcFloor::new(case);
        let jwt9 = JsonWebToken::new(case, issuer, resource);
        let jwt10 = JsonWebToken10::new(case, issuer, resource);
        let mut contenders: Vec<Contender<'_>> = vec![
            (
                "ours",
                Box::new(|| verifier.verify(black_box(&case.token), &keys, now).is_ok()),
            ),
            ("ring", Box::new(|| ring_verify(black_box(case)))),
        ];
        if let Some(aws) = &aws {
            contenders.push(("aws", Box::new(move || aws.verify(black_box(case)))));
        }
        if let Some(j) = &jwt9 {
            contenders.push(("jwt9", Box::new(move || j.decode(black_box(&case.token)))));
        }
        if let Some(j) = &jwt10 {
            contenders.push(("jwt10", Box::new(move || j.decode(black_box(&case.token)))));
        }
        // Every contender must accept the case, or its time means nothing.
        for (name, f) in &contenders {
            assert!(f(), "{name} refused the {} case", case.alg);
        }
        // About 2 ms per block, sized on the ring floor.
        let per_block = (2_000_000 / estimate(|| ring_verify(black_box(case)))).max(1);
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
        for _ in 0..blocks {
            for ((_, f), t) in contenders.iter().zip(times.iter_mut()) {
                let start = Instant::now();
                for _ in 0..per_block {
                    black_box(f());
                }
                t.push(start.elapsed().as_nanos() as f64 / per_block as f64);
            }
        }
        let col = |name: &str| contenders.iter().position(|(n, _)| *n == name);
        let ours = col("ours").map(|i| times[i].clone()).unwrap_or_default();
        // The median of the per-block ratios ours/other, or a dash.
        let ratio = |name: &str| match col(name) {
            Some(i) => {
                let mut r: Vec<f64> = ours.iter().zip(&times[i]).map(|(o, x)| o / x).collect();
                format!("{:.3}", median(&mut r))
            }
            None => "—".to_owned(),
        };
        let time = |name: &str| match col(name) {
            Some(i) => format!("{:.2} µs", median(&mut times[i].clone()) / 1000.0),
            None => "—".to_owned(),
        };
        let own = if aws_backend { "aws" } else { "ring" };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            case.alg,
            time("ours"),
            time("ring"),
            time("aws"),
            time("jwt9"),
            time("jwt10"),
            ratio(own),
            ratio("ring"),
            ratio("jwt9"),
            ratio("jwt10"),
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
