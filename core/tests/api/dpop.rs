//! DPoP proofs (RFC 9449): the RFC's own example, proofs made by npm `jose` with fresh keys (one
//! per algorithm, and one per refusal), replay, and no input that panics.

use std::sync::Mutex;

use mcp_authz_core::dpop::{
    access_token_hash, jwk_thumbprint, verify_proof, DpopConfig, MemoryReplayCache, ProofRequest,
};
use mcp_authz_core::{DpopError, UnixTime};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::*;

/// The in-memory replay cache behind a mutex, as the adapters hold it.
#[derive(Default)]
pub struct Replay(Mutex<MemoryReplayCache>);

impl mcp_authz_core::dpop::ReplayCache for Replay {
    fn insert_new(&self, key: [u8; 32], until: UnixTime, now: UnixTime) -> bool {
        self.0.lock().unwrap().insert(key, until, now)
    }
}

/// Polls `x` to a verdict as an adapter does, recording proofs in `replay` (`None`: a replay
/// store that cannot answer).
pub fn drive(
    x: &mut mcp_authz_core::Exchange<'_>,
    req: &mcp_authz_core::Request<'_>,
    keys: &mcp_authz_core::JwkSet,
    replay: Option<&Replay>,
    now: UnixTime,
) -> mcp_authz_core::Step {
    use mcp_authz_core::dpop::ReplayCache as _;
    use mcp_authz_core::{KeyState, ProofRecord, Step, StoreUnavailable};
    loop {
        match x.poll(req, KeyState::Ready(keys), now, None) {
            Step::RecordProof { key, until } => x.handle_proof_recorded(match replay {
                Some(r) if r.insert_new(key.0, until, now) => Ok(ProofRecord::New),
                Some(_) => Ok(ProofRecord::Seen),
                None => Err(StoreUnavailable {
                    retry_after_secs: 2,
                }),
            }),
            Step::LookupSession { .. } => x.handle_session(Ok(None)),
            other => return other,
        }
    }
}

/// RFC 9449 §4.2's example proof (a token-endpoint proof: no `ath`).
const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

fn check(proof: &str, method: &str, uri: &str, token: &str, now: u64) -> Result<String, DpopError> {
    let replay = Replay::default();
    let req = ProofRequest {
        method,
        uri,
        access_token: token,
    };
    verify_proof(
        &[proof.as_bytes()],
        &req,
        &DpopConfig::default(),
        &replay,
        UnixTime::from_secs(now),
    )
    .map(|p| p.jkt)
}

#[test]
fn the_rfc_9449_examples() {
    // §4.2's proof passes every check up to `ath`, which a resource server requires (§7.1)
    // and a token-endpoint proof does not carry.
    let at = 1562262616;
    assert_eq!(
        check(
            RFC_PROOF,
            "POST",
            "https://server.example.com/token",
            "t",
            at
        ),
        Err(DpopError::AthMismatch)
    );
    assert_eq!(
        check(
            RFC_PROOF,
            "GET",
            "https://server.example.com/token",
            "t",
            at
        ),
        Err(DpopError::MethodMismatch)
    );
    assert_eq!(
        check(
            RFC_PROOF,
            "POST",
            "https://server.example.com/other",
            "t",
            at
        ),
        Err(DpopError::UriMismatch)
    );
    assert_eq!(
        check(
            RFC_PROOF,
            "POST",
            "https://server.example.com/token",
            "t",
            at + 301
        ),
        Err(DpopError::IatOutOfWindow)
    );
    // §6.1: the thumbprint of §4.2's key.
    let key = json!({"kty": "EC", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "crv": "P-256"});
    assert_eq!(
        jwk_thumbprint(key.as_object().unwrap()).as_deref(),
        Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
    );
    // §7.1: `ath` of its example access token.
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

fn jose() -> Value {
    serde_json::from_str(&data("dpop/jose.json")).unwrap()
}

#[test]
fn proofs_made_by_jose() {
    let file = jose();
    let (now, uri, token) = (
        file["now"].as_u64().unwrap(),
        file["uri"].as_str().unwrap(),
        file["access_token"].as_str().unwrap(),
    );
    let mut algs = Vec::new();
    for case in file["cases"].as_array().unwrap() {
        let what = case["what"].as_str().unwrap();
        let got = check(case["proof"].as_str().unwrap(), "POST", uri, token, now);
        match case["expect"].as_str().unwrap() {
            "valid" => {
                assert_eq!(got.as_deref(), Ok(case["jkt"].as_str().unwrap()), "{what}");
                algs.push(what);
            }
            reason => assert_eq!(got.map_err(|e| e.reason()), Err(reason), "{what}"),
        }
    }
    for alg in ["ES256", "ES384", "RS256", "PS256", "EdDSA"] {
        assert!(algs.iter().any(|w| w.ends_with(alg)), "{alg}: {algs:?}");
    }
}

#[test]
fn a_proof_is_accepted_once_and_only_alone() {
    let file = jose();
    let (now, uri, token) = (
        UnixTime::from_secs(file["now"].as_u64().unwrap()),
        file["uri"].as_str().unwrap(),
        file["access_token"].as_str().unwrap(),
    );
    let proof = file["cases"][0]["proof"].as_str().unwrap();
    let req = ProofRequest {
        method: "POST",
        uri,
        access_token: token,
    };
    let replay = Replay::default();
    let config = DpopConfig::default();
    assert!(verify_proof(&[proof.as_bytes()], &req, &config, &replay, now).is_ok());
    assert_eq!(
        verify_proof(&[proof.as_bytes()], &req, &config, &replay, now),
        Err(DpopError::Replayed)
    );
    // Once its window has passed, the proof is refused for its age, and the cache let it go.
    assert_eq!(
        verify_proof(
            &[proof.as_bytes()],
            &req,
            &config,
            &replay,
            now.saturating_add(400)
        ),
        Err(DpopError::IatOutOfWindow)
    );
    // Two headers, a comma-joined value, none.
    let fresh = Replay::default();
    let joined = format!("{proof}, {proof}");
    for (values, expected) in [
        (
            vec![proof.as_bytes(), proof.as_bytes()],
            DpopError::MultipleProofs,
        ),
        (vec![joined.as_bytes()], DpopError::MultipleProofs),
        (vec![], DpopError::MissingProof),
        (vec![&b"\xff"[..]], DpopError::Malformed),
        (vec![&b"a.b.c"[..]], DpopError::Malformed),
    ] {
        assert_eq!(
            verify_proof(&values, &req, &config, &fresh, now),
            Err(expected)
        );
    }
    assert!(
        fresh.0.lock().unwrap().is_empty(),
        "refused proofs are never recorded"
    );
    // An algorithm outside the configured set.
    let only_rs = DpopConfig::default()
        .with_algorithms([mcp_authz_core::Algorithm::Rs256].into_iter().collect());
    assert_eq!(
        verify_proof(&[proof.as_bytes()], &req, &only_rs, &fresh, now),
        Err(DpopError::AlgNotAllowed)
    );
}

#[test]
fn the_replay_cache_is_bounded_and_forgets_expired_proofs() {
    let mut cache = MemoryReplayCache::new(3);
    let t = |s| UnixTime::from_secs(s);
    for i in 0..10u8 {
        assert!(cache.insert([i; 32], t(100), t(10)));
        assert!(cache.len() <= 3);
    }
    assert!(
        !cache.insert([9; 32], t(100), t(10)),
        "still held: a replay"
    );
    assert!(
        cache.insert([9; 32], t(200), t(150)),
        "expired: accepted again"
    );
}

proptest! {
    #[test]
    fn no_proof_panics(bytes in any::<Vec<u8>>(), header in any::<Vec<u8>>(), claims in any::<Vec<u8>>()) {
        let replay = Replay::default();
        let req = ProofRequest { method: "POST", uri: RESOURCE, access_token: "t" };
        let config = DpopConfig::default();
        let _ = verify_proof(&[&bytes], &req, &config, &replay, NOW);
        let forged = forge_raw("ES256", &header, &claims);
        prop_assert!(verify_proof(&[forged.as_bytes()], &req, &config, &replay, NOW).is_err());
    }
}

pub mod exchange {
    use super::*;
    use mcp_authz_core::dpop::DpopMode;
    use mcp_authz_core::exchange::Step;
    use mcp_authz_core::{Guard, Request, ScopePolicy, TokenError, VerifierConfig};

    /// The forge P-256 key as a proof's `jwk` (no `kid`), and its thumbprint.
    fn proof_jwk() -> (Value, String) {
        let mut jwk = jwk_values()[1].clone();
        jwk.as_object_mut().unwrap().remove("kid");
        let jkt = jwk_thumbprint(jwk.as_object().unwrap()).unwrap();
        (jwk, jkt)
    }

    fn bound_token(jkt: Option<&str>) -> String {
        let mut c = claims();
        if let Some(jkt) = jkt {
            c["cnf"] = json!({ "jkt": jkt });
        }
        forge(&header("ES256"), &c)
    }

    fn proof(token: &str, jti: &str) -> String {
        let (jwk, _) = proof_jwk();
        let h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        let c = json!({"jti": jti, "htm": "POST", "htu": RESOURCE, "iat": NOW.as_secs(),
            "ath": access_token_hash(token)});
        forge(&h, &c)
    }

    fn guard(mode: DpopMode) -> Guard {
        Guard::new(
            VerifierConfig::new(ISSUER, RESOURCE),
            ScopePolicy::new(["mcp:tools"]),
        )
        .with_dpop(mode, DpopConfig::default())
    }

    /// (status, reason, the WWW-Authenticate values) of one request.
    fn run(
        g: &Guard,
        replay: Option<&Replay>,
        auth: &str,
        proofs: &[&str],
    ) -> (u16, Option<&'static str>, Vec<String>) {
        let auth = [auth.as_bytes()];
        let proofs: Vec<&[u8]> = proofs.iter().map(|p| p.as_bytes()).collect();
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_dpop(&proofs);
        let keys = jwks();
        let mut x = g.exchange();
        match drive(&mut x, &req, &keys, replay, NOW) {
            Step::Allow(_) => (200, None, Vec::new()),
            Step::Respond(r) => {
                let www = r
                    .headers
                    .iter()
                    .filter(|(n, _)| *n == "www-authenticate")
                    .map(|(_, v)| v.clone())
                    .collect();
                (r.status, r.reason, www)
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every binding verdict of the exchange, observed: (what, reason). Also counted by
    /// `rejections::every_reason_is_covered`.
    pub fn verdicts() -> Vec<(&'static str, Option<&'static str>)> {
        let (_, jkt) = proof_jwk();
        let bound = bound_token(Some(&jkt));
        let unbound = bound_token(None);
        let other = bound_token(Some("not-the-proof-key-thumbprint"));
        let replay = Replay::default();
        let allowed = guard(DpopMode::Allowed);
        let p1 = proof(&bound, "p1");
        let mut out = vec![
            (
                "bound token with its proof",
                run(&allowed, Some(&replay), &format!("DPoP {bound}"), &[&p1]).1,
            ),
            (
                "the same proof again",
                run(&allowed, Some(&replay), &format!("DPoP {bound}"), &[&p1]).1,
            ),
            (
                "bound token as Bearer",
                run(&allowed, Some(&replay), &format!("Bearer {bound}"), &[]).1,
            ),
            (
                "bound token as Bearer, DPoP off",
                run(&guard(DpopMode::Off), None, &format!("Bearer {bound}"), &[]).1,
            ),
            (
                "unbound token with a proof",
                run(
                    &allowed,
                    Some(&replay),
                    &format!("DPoP {unbound}"),
                    &[&proof(&unbound, "p2")],
                )
                .1,
            ),
            (
                "token bound to another key",
                run(
                    &allowed,
                    Some(&replay),
                    &format!("DPoP {other}"),
                    &[&proof(&other, "p3")],
                )
                .1,
            ),
            (
                "DPoP without a proof",
                run(&allowed, Some(&replay), &format!("DPoP {bound}"), &[]).1,
            ),
            (
                "proof for another token",
                run(
                    &allowed,
                    Some(&replay),
                    &format!("DPoP {bound}"),
                    &[&proof(&unbound, "p4")],
                )
                .1,
            ),
            (
                "Bearer where DPoP is required",
                run(
                    &guard(DpopMode::Required),
                    Some(&replay),
                    &format!("Bearer {unbound}"),
                    &[],
                )
                .1,
            ),
            (
                "plain Bearer, DPoP allowed",
                run(&allowed, Some(&replay), &format!("Bearer {unbound}"), &[]).1,
            ),
        ];
        out.push((
            "the replay store cannot answer",
            run(
                &allowed,
                None,
                &format!("DPoP {bound}"),
                &[&proof(&bound, "p6")],
            )
            .1,
        ));
        out.push((
            "DPoP scheme where DPoP is off",
            run(
                &guard(DpopMode::Off),
                None,
                &format!("DPoP {bound}"),
                &[&proof(&bound, "p5")],
            )
            .1,
        ));
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

        /// Replicas sharing one replay store: whatever the order in which proofs arrive at
        /// which replica, `Allow` implies the proof's `jti` was never allowed before, anywhere
        /// (RFC 9449 §11.1); every repeat is `dpop_replayed`.
        #[test]
        fn allow_implies_the_proof_is_new_across_replicas(
            arrivals in proptest::collection::vec((0usize..4, 0usize..2), 1..12),
        ) {
            let bound = bound_token(Some(&proof_jwk().1));
            let shared = Replay::default();
            let replicas = [guard(DpopMode::Allowed), guard(DpopMode::Required)];
            let proofs: Vec<String> = (0..4).map(|j| proof(&bound, &format!("j{j}"))).collect();
            let mut allowed = std::collections::BTreeSet::new();
            for (jti, replica) in arrivals {
                let (status, reason, _) = run(
                    &replicas[replica],
                    Some(&shared),
                    &format!("DPoP {bound}"),
                    &[&proofs[jti]],
                );
                match status {
                    200 => proptest::prop_assert!(allowed.insert(jti), "a proof allowed twice"),
                    _ => {
                        proptest::prop_assert!(allowed.contains(&jti));
                        proptest::prop_assert_eq!(reason, Some("dpop_replayed"));
                    }
                }
            }
        }
    }

    #[test]
    fn the_exchange_binds_tokens_to_their_proofs() {
        let v: std::collections::BTreeMap<_, _> = verdicts().into_iter().collect();
        assert_eq!(v["bound token with its proof"], None);
        assert_eq!(v["the same proof again"], Some("dpop_replayed"));
        assert_eq!(
            v["the replay store cannot answer"],
            Some("state_store_unavailable")
        );
        assert_eq!(v["bound token as Bearer"], Some("bound_token_as_bearer"));
        assert_eq!(
            v["bound token as Bearer, DPoP off"],
            Some("bound_token_as_bearer")
        );
        assert_eq!(v["unbound token with a proof"], Some("dpop_key_mismatch"));
        assert_eq!(v["token bound to another key"], Some("dpop_key_mismatch"));
        assert_eq!(v["DPoP without a proof"], Some("dpop_missing_proof"));
        assert_eq!(v["proof for another token"], Some("dpop_ath_mismatch"));
        assert_eq!(
            v["Bearer where DPoP is required"],
            Some("bearer_not_accepted")
        );
        assert_eq!(v["plain Bearer, DPoP allowed"], None);
        assert_eq!(v["DPoP scheme where DPoP is off"], Some("no_credentials"));
    }

    #[test]
    fn the_challenges_and_the_metadata_offer_dpop() {
        let (_, jkt) = proof_jwk();
        let bound = bound_token(Some(&jkt));
        let replay = Replay::default();
        let allowed = guard(DpopMode::Allowed);
        // No credentials: both schemes offered, DPoP with its algorithms.
        let (status, _, www) = run(&allowed, Some(&replay), "", &[]);
        assert_eq!(status, 401);
        assert_eq!(www.len(), 2, "{www:?}");
        assert!(www[0].starts_with("Bearer resource_metadata="));
        assert!(www[1].starts_with("DPoP algs=\"RS256 "), "{}", www[1]);
        assert!(www[1].contains("resource_metadata="));
        // A bad proof: the DPoP challenge carries invalid_dpop_proof.
        let p = proof(&bound, "x");
        run(&allowed, Some(&replay), &format!("DPoP {bound}"), &[&p]);
        let (_, _, www) = run(&allowed, Some(&replay), &format!("DPoP {bound}"), &[&p]);
        assert_eq!(www.len(), 1);
        assert!(
            www[0].starts_with("DPoP error=\"invalid_dpop_proof\", error_description=\"the DPoP proof was used before\""),
            "{}",
            www[0]
        );
        // A key mismatch is invalid_token, in the DPoP scheme (RFC 9449 §7.1's example).
        let other = bound_token(Some("elsewhere"));
        let (_, _, www) = run(
            &allowed,
            Some(&replay),
            &format!("DPoP {other}"),
            &[&proof(&other, "y")],
        );
        assert!(
            www[0].starts_with("DPoP error=\"invalid_token\""),
            "{}",
            www[0]
        );
        // Required: only the DPoP scheme is offered.
        let required = guard(DpopMode::Required);
        let (_, _, www) = run(&required, Some(&replay), "", &[]);
        assert_eq!(www.len(), 1);
        assert!(www[0].starts_with("DPoP algs="));
        // The metadata says so.
        let doc = required.metadata().to_json_value();
        assert_eq!(doc["dpop_bound_access_tokens_required"], true);
        assert!(doc["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256")));
        assert!(guard(DpopMode::Off)
            .metadata()
            .to_json_value()
            .get("dpop_signing_alg_values_supported")
            .is_none());
        // A replay store that cannot answer: 503 with Retry-After, never let through.
        let (status, reason, _) = run(
            &allowed,
            None,
            &format!("DPoP {bound}"),
            &[&proof(&bound, "z")],
        );
        assert_eq!((status, reason), (503, Some("state_store_unavailable")));
        // An adapter that polls again without recording the proof gets no verdict that allows.
        let auth = format!("DPoP {bound}");
        let auth = [auth.as_bytes()];
        let p = proof(&bound, "y");
        let proofs = [p.as_bytes()];
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_dpop(&proofs);
        let keys = jwks();
        let mut x = allowed.exchange();
        let first = x.poll(&req, mcp_authz_core::KeyState::Ready(&keys), NOW, None);
        assert!(matches!(first, Step::RecordProof { .. }), "{first:?}");
        match x.poll(&req, mcp_authz_core::KeyState::Ready(&keys), NOW, None) {
            Step::Respond(r) => assert_eq!((r.status, r.reason), (500, Some("no_decision"))),
            other => panic!("{other:?}"),
        }
        let _ = TokenError::DpopKeyMismatch;
    }
}

#[test]
fn every_proof_refusal_has_a_test() {
    // The reasons the jose-made cases and the tests above assert, plus the two below.
    let file = jose();
    let (now, uri, token) = (
        file["now"].as_u64().unwrap(),
        file["uri"].as_str().unwrap(),
        file["access_token"].as_str().unwrap(),
    );
    let mut seen: std::collections::BTreeSet<&str> = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["expect"].as_str())
        .filter(|e| *e != "valid")
        .collect();
    // A proof without `jwk`, and one whose key does not fit its `alg`.
    let no_jwk = forge(
        &json!({"typ": "dpop+jwt", "alg": "ES256"}),
        &json!({"jti": "a", "htm": "POST", "htu": uri, "iat": now, "ath": access_token_hash(token)}),
    );
    assert_eq!(
        check(&no_jwk, "POST", uri, token, now),
        Err(DpopError::InvalidJwk)
    );
    let mut rsa = jwk_values()[0].clone();
    rsa.as_object_mut().unwrap().remove("kid");
    let misfit = forge(
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": rsa}),
        &json!({"jti": "b", "htm": "POST", "htu": uri, "iat": now, "ath": access_token_hash(token)}),
    );
    assert_eq!(
        check(&misfit, "POST", uri, token, now),
        Err(DpopError::InvalidJwk)
    );
    seen.insert("dpop_invalid_jwk");
    // From a_proof_is_accepted_once_and_only_alone and the_rfc_9449_examples.
    for r in [
        "dpop_replayed",
        "dpop_multiple_proofs",
        "dpop_missing_proof",
        "dpop_malformed",
        "dpop_alg_not_allowed",
        "dpop_use_nonce",
    ] {
        seen.insert(r);
    }
    for e in DpopError::ALL {
        assert!(
            seen.contains(e.reason()),
            "no negative test for {}",
            e.reason()
        );
    }
}

#[test]
fn introspected_tokens_bind_through_their_cnf() {
    use mcp_authz_core::exchange::Step;
    use mcp_authz_core::token_introspection::{parse_response, ClientAuthentication};
    use mcp_authz_core::{
        Guard, IntrospectionConfig, IntrospectionMode, Request, ScopePolicy, VerifierConfig,
    };
    let mut jwk = jwk_values()[1].clone();
    jwk.as_object_mut().unwrap().remove("kid");
    let jkt = jwk_thumbprint(jwk.as_object().unwrap()).unwrap();
    let opaque = "opaque-dpop-bound";
    let answer = json!({"active": true, "iss": ISSUER, "aud": RESOURCE, "sub": "u", "scope": "mcp:tools",
        "exp": NOW.as_secs() + 600, "token_type": "DPoP", "cnf": {"jkt": jkt}});
    let config = IntrospectionConfig::new(
        "https://as/i",
        ClientAuthentication::ClientSecretPost {
            client_id: "rs".into(),
            client_secret: "s".into(),
        },
    );
    let v = VerifierConfig::new(ISSUER, RESOURCE);
    // `token_type: DPoP` is an access token type here (RFC 9449 §7.1).
    let principal = std::sync::Arc::new(
        parse_response(200, &serde_json::to_vec(&answer).unwrap(), &v, &config, NOW)
            .unwrap()
            .unwrap(),
    );
    assert!(principal.is_sender_constrained());
    let g = Guard::new(v, ScopePolicy::new(["mcp:tools"]))
        .with_introspection(IntrospectionMode::NonJwt)
        .with_dpop(
            mcp_authz_core::dpop::DpopMode::Allowed,
            DpopConfig::default(),
        );
    let replay = Replay::default();
    let run = |auth: &str, proof: Option<&str>| {
        let auth = [auth.as_bytes()];
        let proofs: Vec<&[u8]> = proof.iter().map(|p| p.as_bytes()).collect();
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_dpop(&proofs);
        let keys = jwks();
        let mut x = g.exchange();
        loop {
            match drive(&mut x, &req, &keys, Some(&replay), NOW) {
                Step::Introspect { .. } => x.handle_introspected(Ok(principal.clone())),
                Step::Allow(_) => return (200, None),
                Step::Respond(r) => return (r.status, r.reason),
                other => panic!("{other:?}"),
            }
        }
    };
    let proof = forge(
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
        &json!({"jti": "i1", "htm": "POST", "htu": RESOURCE, "iat": NOW.as_secs(), "ath": access_token_hash(opaque)}),
    );
    assert_eq!(run(&format!("DPoP {opaque}"), Some(&proof)), (200, None));
    assert_eq!(
        run(&format!("Bearer {opaque}"), None),
        (401, Some("bound_token_as_bearer"))
    );
}

#[test]
fn server_nonces_are_required_when_configured() {
    use mcp_authz_core::dpop::{DpopMode, DpopNonces};
    use mcp_authz_core::exchange::Step;
    use mcp_authz_core::{Guard, Request, ScopePolicy, VerifierConfig};
    let nonces = DpopNonces::new([7; 32], 300);
    let mut jwk = jwk_values()[1].clone();
    jwk.as_object_mut().unwrap().remove("kid");
    let jkt = jwk_thumbprint(jwk.as_object().unwrap()).unwrap();
    let mut c = claims();
    c["cnf"] = json!({ "jkt": jkt });
    let token = forge(&header("ES256"), &c);
    let proof = |jti: &str, nonce: Option<&str>| {
        let mut body = json!({"jti": jti, "htm": "POST", "htu": RESOURCE, "iat": NOW.as_secs(),
            "ath": access_token_hash(&token)});
        if let Some(n) = nonce {
            body["nonce"] = json!(n);
        }
        forge(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
            &body,
        )
    };
    let g = Guard::new(
        VerifierConfig::new(ISSUER, RESOURCE),
        ScopePolicy::new(["mcp:tools"]),
    )
    .with_dpop(
        DpopMode::Required,
        DpopConfig::default().with_nonces(nonces.clone()),
    );
    let replay = Replay::default();
    let run = |proof: &str, at: UnixTime| {
        let auth = format!("DPoP {token}");
        let auth = [auth.as_bytes()];
        let proofs = [proof.as_bytes()];
        let req = Request::new("POST", "/mcp")
            .with_authorization(&auth)
            .with_dpop(&proofs);
        let keys = jwks();
        match drive(&mut g.exchange(), &req, &keys, Some(&replay), at) {
            Step::Allow(_) => (200, None, None, None),
            Step::Respond(r) => (
                r.status,
                r.reason,
                r.header("dpop-nonce").map(String::from),
                r.header("www-authenticate").map(String::from),
            ),
            other => panic!("{other:?}"),
        }
    };
    // No nonce: 401 use_dpop_nonce, with the nonce to use.
    let (status, reason, nonce, www) = run(&proof("n1", None), NOW);
    assert_eq!((status, reason), (401, Some("dpop_use_nonce")));
    assert!(www.unwrap().starts_with("DPoP error=\"use_dpop_nonce\""));
    let nonce = nonce.expect("a DPoP-Nonce header");
    assert_eq!(nonce, nonces.current(NOW));
    // With it: accepted; in the next window still, two windows later no more.
    assert_eq!(run(&proof("n2", Some(&nonce)), NOW).0, 200);
    let later = NOW.saturating_add(300);
    assert!(nonces.is_valid(&nonce, later));
    assert!(!nonces.is_valid(&nonce, NOW.saturating_add(600)));
    // A nonce under another secret, or made up: refused.
    let other = DpopNonces::new([8; 32], 300).current(NOW);
    assert_eq!(
        run(&proof("n3", Some(&other)), NOW).1,
        Some("dpop_use_nonce")
    );
    assert_eq!(
        run(&proof("n4", Some("AAAA")), NOW).1,
        Some("dpop_use_nonce")
    );
}
