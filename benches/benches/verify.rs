//! The token-verification hot path, against its floor and a well-known implementation:
//! - `verify/{alg}/ours`: our full verification (parse, key lookup, signature, claims);
//! - `verify/{alg}/ring`: `ring` verifying the same signature with the same, pre-decoded key;
//! - `verify/{alg}/jsonwebtoken`: `jsonwebtoken` 9 (also ring-based) `decode` with the same
//!   checks (iss, aud, exp), key pre-built;
//! - `cache/hit` next to `cache/rs256_verify`, and the other pieces of a request.
//!
//! `cargo run -p mcp-authz-benches --bin report` turns the results into ratios.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mcp_authz_benches::{fixtures, ring_verify, RingKey};

fn jsonwebtoken_key(
    case: &mcp_authz_benches::Case,
) -> Option<(jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm)> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use jsonwebtoken::{Algorithm as A, DecodingKey};
    let b64 = |b: &[u8]| Base64UrlUnpadded::encode_string(b);
    let alg = match case.alg.as_str() {
        "RS256" => A::RS256,
        "PS256" => A::PS256,
        "ES256" => A::ES256,
        "EdDSA" => A::EdDSA,
        _ => return None,
    };
    let key = match &case.key {
        RingKey::Rsa(n, e) => DecodingKey::from_rsa_components(&b64(n), &b64(e)).ok()?,
        RingKey::Ec(p) => {
            DecodingKey::from_ec_components(&b64(p.get(1..33)?), &b64(p.get(33..65)?)).ok()?
        }
        RingKey::Ed25519(x) => DecodingKey::from_ed_components(&b64(x)).ok()?,
    };
    Some((key, alg))
}

fn verify(c: &mut Criterion) {
    let (verifier, keys, now, cases) = fixtures();
    let issuer = verifier.config().issuer().to_owned();
    let resource = verifier.config().resource().to_owned();
    for case in &cases {
        let mut group = c.benchmark_group(format!("verify/{}", case.alg));
        group.bench_function("ours", |b| {
            b.iter(|| verifier.verify(black_box(&case.token), &keys, now).is_ok())
        });
        group.bench_function("ring", |b| b.iter(|| ring_verify(black_box(case))));
        if let Some((key, alg)) = jsonwebtoken_key(case) {
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.set_issuer(&[&issuer]);
            validation.set_audience(&[&resource]);
            // The fixtures' claims are valid at `now` (2023): jsonwebtoken reads the system
            // clock, so its leeway must cover the distance to that instant.
            validation.leeway = 10 * 365 * 24 * 3600;
            validation.validate_nbf = true;
            // Same work as ours whether or not it accepts; assert it accepts, once.
            assert!(
                jsonwebtoken::decode::<serde_json::Value>(&case.token, &key, &validation).is_ok(),
                "{}",
                case.alg
            );
            group.bench_function("jsonwebtoken", |b| {
                b.iter(|| {
                    jsonwebtoken::decode::<serde_json::Value>(
                        black_box(&case.token),
                        &key,
                        &validation,
                    )
                    .is_ok()
                })
            });
        }
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

/// The other pieces of a request: JWK Set parsing, metadata validation, challenge building, and
/// the whole decision (with and without the cache).
fn pieces(c: &mut Criterion) {
    use std::cell::RefCell;

    use mcp_authz_core::as_metadata::{validate, MetadataPolicy};
    use mcp_authz_core::decision::{Decision, Guard, KeyState, Request, ScopePolicy};
    use mcp_authz_core::token_cache::{TokenCache, TokenCacheLimits};
    use mcp_authz_core::{JwkSet, JwksLimits, VerifierConfig};

    let (verifier, keys, now, cases) = fixtures();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/data/");
    let jwks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{data}interop/jwcrypto.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    let jwks = serde_json::to_vec(&jwks["jwks"]).unwrap_or_default();
    let auth0 = std::fs::read(format!("{data}as-metadata/auth0.json")).unwrap_or_default();
    let mut group = c.benchmark_group("pieces");
    group.bench_function("jwks_parse_4_keys", |b| {
        b.iter(|| JwkSet::parse(black_box(&jwks), &JwksLimits::default()).is_ok())
    });
    group.bench_function("metadata_validate_auth0", |b| {
        b.iter(|| {
            validate(
                black_box(&auth0),
                "https://example-tenant.us.auth0.com",
                &MetadataPolicy::new(),
            )
            .is_valid()
        })
    });
    let guard = Guard::new(
        VerifierConfig::new(verifier.config().issuer(), verifier.config().resource()),
        ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin", ["mcp:admin"]),
    );
    group.bench_function("challenge_no_credentials", |b| {
        b.iter(|| {
            guard
                .challenger()
                .no_credentials(black_box(&["mcp:tools"]))
                .status
        })
    });
    if let Some(case) = cases.iter().find(|c| c.alg == "ES256") {
        let auth = format!("Bearer {}", case.token);
        let headers: [&[u8]; 1] = [auth.as_bytes()];
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;
        let req = Request::new("POST", "/mcp")
            .with_authorization(&headers)
            .with_body(Some(body));
        group.bench_function("decision_es256_uncached", |b| {
            b.iter(|| {
                matches!(
                    guard.decide(black_box(&req), KeyState::Ready(&keys), now),
                    Decision::Allow(_)
                )
            })
        });
        let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
        group.bench_function("decision_cached", |b| {
            b.iter(|| {
                matches!(
                    guard.decide_cached(black_box(&req), KeyState::Ready(&keys), now, &cache),
                    Decision::Allow(_)
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, verify, cache_hit, pieces);
criterion_main!(benches);
