//! Reads criterion's results (`target/criterion/**/new/estimates.json`) and prints the ratios the
//! benchmarks exist for: ours/ring and ours/jsonwebtoken per algorithm, the cache hit in ns and as
//! a fraction of an RS256 verification, and the other pieces.
//!
//! `cargo bench -p mcp-authz-benches && cargo run -p mcp-authz-benches --bin report`

#![allow(missing_docs)]

use std::path::{Path, PathBuf};

fn estimate(root: &Path, id: &str) -> Option<f64> {
    let path = root.join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("criterion");
    if !root.exists() {
        eprintln!(
            "no results in {}: run `cargo bench -p mcp-authz-benches` first",
            root.display()
        );
        std::process::exit(2);
    }
    // ring/jsonwebtoken is the lowest ours/jsonwebtoken any verifier calling ring's verify can
    // reach: both pay ring's full verification, key parsing included, per token.
    println!("| alg | ours | ring | jsonwebtoken | ours/ring (goal ≤ 1.03) | ours/jsonwebtoken (goal ≤ 0.90) | ring/jsonwebtoken (the floor of the previous column) |");
    println!("|---|---|---|---|---|---|---|");
    for alg in [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519",
    ] {
        let ours = estimate(&root, &format!("verify_{alg}/ours"));
        let ring = estimate(&root, &format!("verify_{alg}/ring"));
        let jwt = estimate(&root, &format!("verify_{alg}/jsonwebtoken"));
        let Some(ours) = ours else { continue };
        let cell = |v: Option<f64>| v.map_or("—".to_owned(), fmt_ns);
        let ratio = |v: Option<f64>| v.map_or("—".to_owned(), |d| format!("{:.3}", ours / d));
        let floor = match (ring, jwt) {
            (Some(r), Some(j)) => format!("{:.3}", r / j),
            _ => "—".to_owned(),
        };
        println!(
            "| {alg} | {} | {} | {} | {} | {} | {floor} |",
            fmt_ns(ours),
            cell(ring),
            cell(jwt),
            ratio(ring),
            ratio(jwt)
        );
    }
    if let (Some(hit), Some(rs)) = (
        estimate(&root, "cache/hit"),
        estimate(&root, "cache/rs256_verify"),
    ) {
        println!();
        println!(
            "cache hit: {} (goal ≤ 1 µs) = {:.3} of an RS256 verification ({})",
            fmt_ns(hit),
            hit / rs,
            fmt_ns(rs)
        );
    }
    if let (Some(ct), Some(fast)) = (
        estimate(&root, "base64_rs256_token/base64ct"),
        estimate(&root, "base64_rs256_token/base64"),
    ) {
        println!();
        println!(
            "decoding the RS256 token's segments: base64ct {}, base64 {} ({:.2}x)",
            fmt_ns(ct),
            fmt_ns(fast),
            ct / fast
        );
    }
    println!();
    for piece in [
        "jwks_parse_4_keys",
        "metadata_validate_auth0",
        "challenge_no_credentials",
        "decision_es256_uncached",
        "decision_cached",
    ] {
        if let Some(v) = estimate(&root, &format!("pieces/{piece}")) {
            println!("{piece}: {}", fmt_ns(v));
        }
    }
}
