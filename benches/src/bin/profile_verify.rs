//! Verifies one fixture token in a loop, for profilers:
//! `valgrind --tool=callgrind target/release/profile_verify ES256 2000`.
//!
//! With a third argument `floor`, verifies the same signature with `ring` alone (the decoded key
//! and signature, as the paired runner's floor): the instructions of `ours` less those of
//! `floor`, each less a run of one, are our own work per token.

#![allow(missing_docs)]

fn main() {
    let alg = std::env::args().nth(1).unwrap_or_else(|| "RS256".into());
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let (verifier, keys, now, cases) = mcp_authz_benches::fixtures();
    let Some(case) = cases.iter().find(|c| c.alg == alg) else {
        eprintln!("no fixture for {alg}");
        std::process::exit(2);
    };
    let floor = std::env::args().nth(3).is_some_and(|a| a == "floor");
    let mut ok = 0;
    if floor {
        for _ in 0..n {
            ok += usize::from(mcp_authz_benches::ring_verify(std::hint::black_box(case)));
        }
        println!("{ok}/{n} valid (ring floor)");
        return;
    }
    for _ in 0..n {
        ok += usize::from(
            verifier
                .verify(std::hint::black_box(&case.token), &keys, now)
                .is_ok(),
        );
    }
    println!("{ok}/{n} valid");
}
