//! The token-verification hot path, against its floor and a well-known implementation:
//! - `verify/{alg}/ours`: our full verification (parse, key lookup, signature, claims);
//! - `verify/{alg}/ring`: `ring` verifying the same signature with the same, pre-decoded key;
//! - `verify/{alg}/jsonwebtoken`: `jsonwebtoken` 9 (also ring-based) `decode` with the same
//!   checks (iss, aud, exp), key pre-built;
//! - `cache/hit` next to `cache/rs256_verify`, and the other pieces of a request;
//! - `dpop/proof_check_es256` next to `dpop/token_verify_es256` (RFC 9449);
//! - `cache/introspection_hit`: an opaque token answered from the introspection cache (RFC 7662;
//!   goal ≤ 1 µs), next to the same two.
//!
//! `cargo run -p mcp-authz-benches --bin report` turns the results into ratios.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mcp_authz_benches::{fixtures, ring_verify, JsonWebToken};

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
        if let Some(jwt) = JsonWebToken::new(case, &issuer, &resource) {
            // Same work as ours whether or not it accepts; assert it accepts, once.
            assert!(jwt.decode(&case.token), "{}", case.alg);
            group.bench_function("jsonwebtoken", |b| {
                b.iter(|| jwt.decode(black_box(&case.token)))
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
    // An opaque token whose introspection answer is cached.
    use mcp_authz_core::token_introspection::{parse_response, ClientAuthentication, Lookup};
    use mcp_authz_core::{IntrospectionCache, IntrospectionConfig};
    let config = IntrospectionConfig::new(
        "https://as.example/introspect",
        ClientAuthentication::ClientSecretBasic {
            client_id: "rs".into(),
            client_secret: "s".into(),
        },
    );
    let opaque = "2YotnFZFEjr1zCsicMWpAA-opaque-access-token-of-43-chars";
    let answer = serde_json::json!({
        "active": true, "iss": verifier.config().issuer(), "aud": verifier.config().resource(),
        "sub": "user-123", "client_id": "client-abc", "scope": "mcp:tools mcp:read",
        "exp": now.as_secs() + 3000, "iat": now.as_secs(), "token_type": "Bearer",
    });
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    let mut introspection = IntrospectionCache::new(config.clone());
    if let Some((ticket, _)) = introspection.start(opaque, now) {
        let outcome = parse_response(200, &body, verifier.config(), &config, now);
        let _ = introspection.finish(ticket, opaque, outcome, now);
    }
    group.bench_function("introspection_hit", |b| {
        b.iter(|| {
            matches!(
                introspection.lookup(black_box(opaque), verifier.config(), now),
                Lookup::Active(_)
            )
        })
    });
    group.finish();
}

/// The other pieces of a request: JWK Set parsing, metadata validation, challenge building, and
/// the whole decision (with and without the cache).
fn pieces(c: &mut Criterion) {
    use std::cell::RefCell;

    use mcp_authz_benches::{decide, tool_guard, with_call_request, CALL_BODY};
    use mcp_authz_core::as_metadata::{validate, MetadataPolicy};
    use mcp_authz_core::token_cache::PrincipalCache;
    use mcp_authz_core::token_cache::{TokenCache, TokenCacheLimits};
    use mcp_authz_core::{JwkSet, JwksLimits, KeyState};

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
    let guard = tool_guard(&verifier);
    group.bench_function("challenge_no_credentials", |b| {
        b.iter(|| {
            guard
                .challenger()
                .no_credentials(black_box(&["mcp:tools"]))
                .status
        })
    });
    if let Some(case) = cases.iter().find(|c| c.alg == "ES256") {
        let keys = KeyState::Ready(&keys);
        with_call_request(&case.token, |req| {
            // The whole exchange, as an adapter drives it: verify, then read the JSON-RPC body.
            let decide = |cache: Option<&dyn PrincipalCache>| {
                decide(&guard, req, CALL_BODY, &keys, now, cache)
            };
            group.bench_function("decision_es256_uncached", |b| b.iter(|| decide(None)));
            let cache = RefCell::new(TokenCache::new(TokenCacheLimits::default()));
            group.bench_function("decision_cached", |b| b.iter(|| decide(Some(&cache))));
        });
    }
    group.finish();
}

/// Decoding the three segments of the RS256 fixture token: `base64ct` (constant-time, what the
/// core uses for key material) against `base64` (what it uses for token segments), both strict.
fn base64_segments(c: &mut Criterion) {
    use base64::Engine as _;
    use base64ct::{Base64UrlUnpadded, Encoding};
    let (_, _, _, cases) = fixtures();
    let Some(case) = cases.iter().find(|c| c.alg == "RS256") else {
        return;
    };
    let segments: Vec<&str> = case.token.split('.').collect();
    let mut group = c.benchmark_group("base64_rs256_token");
    group.bench_function("base64ct", |b| {
        b.iter(|| {
            segments
                .iter()
                .map(|s| Base64UrlUnpadded::decode_vec(black_box(s)).map_or(0, |v| v.len()))
                .sum::<usize>()
        })
    });
    group.bench_function("base64", |b| {
        b.iter(|| {
            segments
                .iter()
                .map(|s| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(black_box(s))
                        .map_or(0, |v| v.len())
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

/// A DPoP proof check (RFC 9449: parse, `jwk`, signature, claims, thumbprint, replay cache) next
/// to the ES256 access-token verification of the same request.
fn dpop(c: &mut Criterion) {
    use mcp_authz_core::dpop::{
        access_token_hash, verify_proof, DpopConfig, MemoryReplayCache, ProofRequest, ReplayCache,
    };
    use mcp_authz_core::UnixTime;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use std::sync::Mutex;
    struct Replay(Mutex<MemoryReplayCache>);
    impl ReplayCache for Replay {
        fn insert_new(&self, key: [u8; 32], until: UnixTime, now: UnixTime) -> bool {
            // Every iteration checks the same proof: record nothing, as for a fresh one.
            let _ = (key, until, now);
            self.0.lock().is_ok()
        }
    }
    let (verifier, keys, now, cases) = fixtures();
    let Some(case) = cases.iter().find(|c| c.alg == "ES256") else {
        return;
    };
    let rng = ring::rand::SystemRandom::new();
    let Ok(pkcs8) = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng) else {
        return;
    };
    let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
    else {
        return;
    };
    let b64 = |b: &[u8]| mcp_authz_core::jose::base64url_encode(b);
    let point = key.public_key().as_ref();
    let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
        return;
    };
    let uri = verifier.config().resource().to_owned();
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256",
        "jwk": {"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)}});
    let claims = serde_json::json!({"jti": "bench", "htm": "POST", "htu": uri,
        "iat": now.as_secs(), "ath": access_token_hash(&case.token)});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let Ok(sig) = key.sign(&rng, input.as_bytes()) else {
        return;
    };
    let proof = format!("{input}.{}", b64(sig.as_ref()));
    let replay = Replay(Mutex::new(MemoryReplayCache::default()));
    let config = DpopConfig::default();
    let request = ProofRequest {
        method: "POST",
        uri: &uri,
        access_token: &case.token,
    };
    let mut group = c.benchmark_group("dpop");
    group.bench_function("proof_check_es256", |b| {
        b.iter(|| {
            verify_proof(
                &[black_box(proof.as_bytes())],
                &request,
                &config,
                &replay,
                now,
            )
            .is_ok()
        })
    });
    group.bench_function("token_verify_es256", |b| {
        b.iter(|| verifier.verify(black_box(&case.token), &keys, now).is_ok())
    });
    group.finish();
}

criterion_group!(benches, verify, cache_hit, pieces, base64_segments, dpop);
criterion_main!(benches);
