//! Verifies one fixture token in a loop, for profilers:
//! `valgrind --tool=callgrind target/release/profile_verify ES256 2000`.
//!
//! With a third argument `floor`, verifies the same signature with `ring` alone (the decoded key
//! and signature, as the paired runner's floor): the instructions of `ours` less those of
//! `floor`, each less a run of one, are our own work per token.
//!
//! With `decision`, runs the whole decision of `pieces/decision_cached` instead (the token from
//! the verified-token cache, then the JSON-RPC body read for a per-tool rule): the instructions
//! of an in-process request through the core, less a run of one, per request.

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
    let mode = std::env::args().nth(3).unwrap_or_default();
    if mode == "decision" {
        let ok = decisions(&verifier, &keys, now, &case.token, n);
        println!("{ok}/{n} allowed (cached decision)");
        return;
    }
    let floor = mode == "floor";
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

/// `n` decisions on one request carrying `token`, as `pieces/decision_cached` makes them.
fn decisions(
    verifier: &mcp_authz_core::AccessTokenVerifier,
    keys: &mcp_authz_core::JwkSet,
    now: mcp_authz_core::UnixTime,
    token: &str,
    n: usize,
) -> usize {
    use mcp_authz_benches::{decide, tool_guard, with_call_request, CALL_BODY};
    use mcp_authz_core::token_cache::{TokenCache, TokenCacheLimits};
    use mcp_authz_core::KeyState;

    let guard = tool_guard(verifier);
    let cache = std::cell::RefCell::new(TokenCache::new(TokenCacheLimits::default()));
    let keys = KeyState::Ready(keys);
    with_call_request(token, |req| {
        (0..n)
            .filter(|_| decide(&guard, req, CALL_BODY, &keys, now, Some(&cache)))
            .count()
    })
}
