//! `mcp-authz verify` as a black box: the real binary, the interop test data of the core (tokens
//! made by PyJWT), exit codes and JSON lines.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data/interop")
        .join(name)
}

struct Fixture {
    jwks: PathBuf,
    tokens: Vec<(String, String)>,
    dir: PathBuf,
    /// Removes `dir` when the fixture is dropped.
    _tmp: tempfile::TempDir,
}

fn fixture(test: &str) -> Fixture {
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(data("pyjwt.json")).unwrap()).unwrap();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("mcp-authz-cli-{test}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, serde_json::to_vec(&file["jwks"]).unwrap()).unwrap();
    let tokens = file["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["token"].as_str().unwrap().to_string(),
                t["expect"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Fixture {
        jwks,
        tokens,
        dir,
        _tmp: tmp,
    }
}

/// Runs `verify` at the fixture's instant, unless `extra` sets `--now` itself.
fn run(f: &Fixture, extra: &[&str]) -> Output {
    let now: &[&str] = if extra.contains(&"--now") {
        &[]
    } else {
        &["--now", "1700000060"]
    };
    Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args(["verify", "--jwks"])
        .arg(&f.jwks)
        .args([
            "--issuer",
            "https://auth.example.com",
            "--resource",
            "https://mcp.example.com/mcp",
        ])
        .args(now)
        .args(extra)
        .output()
        .unwrap()
}

fn json_line(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_valid_token_prints_the_principal_and_exits_0() {
    let f = fixture("valid");
    let (token, _) = f.tokens.iter().find(|(_, e)| e == "valid").unwrap();
    let out = run(&f, &[token]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_line(&out);
    assert_eq!(v["valid"], true);
    assert_eq!(v["sub"], "user-123");
    assert_eq!(v["client_id"], "client-abc");
    assert_eq!(v["scopes"], serde_json::json!(["mcp:tools", "mcp:read"]));
    assert_eq!(v["exp"], 1_700_003_600);
}

#[test]
fn a_rejected_token_prints_the_reason_and_exits_1() {
    let f = fixture("rejected");
    for (token, expect) in f.tokens.iter().filter(|(_, e)| e != "valid") {
        let out = run(&f, &[token]);
        assert_eq!(out.status.code(), Some(1));
        let v = json_line(&out);
        assert_eq!(v["valid"], false);
        assert_eq!(v["error"], "invalid_token");
        assert_eq!(v["reason"], expect.as_str());
        // Never the token itself, on either stream.
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(!String::from_utf8_lossy(&all).contains(&token[..20]));
    }
}

#[test]
fn tokens_file_gives_one_line_per_token_in_order() {
    let f = fixture("file");
    let list = f.dir.join("tokens.txt");
    let mut text: String = f.tokens.iter().map(|(t, _)| format!("{t}\r\n")).collect();
    text.push_str("garbage\n");
    std::fs::write(&list, text).unwrap();
    let out = run(&f, &["--tokens", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), f.tokens.len() + 1);
    for ((_, expect), line) in f.tokens.iter().zip(&lines) {
        match expect.as_str() {
            "valid" => assert_eq!(line["valid"], true),
            reason => assert_eq!(line["reason"], reason),
        }
    }
    assert_eq!(lines.last().unwrap()["reason"], "malformed_jws");
}

#[test]
fn required_scopes() {
    let f = fixture("scope");
    let (token, _) = f.tokens.iter().find(|(_, e)| e == "valid").unwrap();
    let ok = run(
        &f,
        &[
            "--require-scope",
            "mcp:tools",
            "--require-scope",
            "mcp:read",
            token,
        ],
    );
    assert_eq!(ok.status.code(), Some(0));
    let out = run(&f, &["--require-scope", "mcp:admin", token]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_line(&out);
    assert_eq!(v["error"], "insufficient_scope");
    assert_eq!(v["reason"], "insufficient_scope");
}

#[test]
fn lenient_typ_and_leeway_and_clock() {
    let f = fixture("flags");
    let (typ_jwt, _) = f.tokens.iter().find(|(_, e)| e == "invalid_typ").unwrap();
    assert_eq!(run(&f, &[typ_jwt]).status.code(), Some(1));
    assert_eq!(run(&f, &["--lenient-typ", typ_jwt]).status.code(), Some(0));
    let (token, _) = f.tokens.iter().find(|(_, e)| e == "valid").unwrap();
    // exp is 1700003600: 30 s after it, valid only with a leeway over 30 s.
    let late = ["--now", "1700003630"];
    let out = run(&f, &[late[0], late[1], "--leeway", "0", token]);
    assert_eq!(json_line(&out)["reason"], "expired");
    assert_eq!(
        run(&f, &[late[0], late[1], "--leeway", "31", token])
            .status
            .code(),
        Some(0)
    );
    // Without --now the system clock is used: these 2023 tokens have long expired.
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args(["verify", "--jwks"])
        .arg(&f.jwks)
        .args([
            "--issuer",
            "https://auth.example.com",
            "--resource",
            "https://mcp.example.com/mcp",
            token,
        ])
        .output()
        .unwrap();
    assert_eq!(json_line(&out)["reason"], "expired");
}

#[test]
fn max_token_lifetime() {
    let f = fixture("lifetime");
    let (token, _) = f.tokens.iter().find(|(_, e)| e == "valid").unwrap();
    // The PyJWT token lives exactly one hour (iat 1700000000, exp 1700003600).
    let out = run(&f, &["--max-token-lifetime", "3599", token]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_line(&out)["reason"], "lifetime_too_long");
    assert_eq!(
        run(&f, &["--max-token-lifetime", "3600", token])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn extra_audiences_and_roles() {
    let f = fixture("audiences");
    let (token, _) = f.tokens.iter().find(|(_, e)| e == "valid").unwrap();
    // The token's aud is https://mcp.example.com/mcp: for another resource it is refused,
    // unless that aud is listed as an extra audience.
    let other = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-authz"));
        cmd.args(["verify", "--jwks"])
            .arg(&f.jwks)
            .args([
                "--issuer",
                "https://auth.example.com",
                "--resource",
                "https://other.example.com/mcp",
            ])
            .args(["--now", "1700000060"])
            .args(extra)
            .arg(token);
        cmd.output().unwrap()
    };
    assert_eq!(json_line(&other(&[]))["reason"], "wrong_aud");
    let out = other(&["--audience", "https://mcp.example.com/mcp"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The no-aud mode does not accept a token whose aud names another resource.
    assert_eq!(
        json_line(&other(&["--client-id-audience", "client-abc"]))["reason"],
        "wrong_aud"
    );
}

#[test]
fn unusable_inputs_exit_2_with_a_message() {
    let f = fixture("bad");
    let (token, _) = f.tokens.first().unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("not json", "{".into()),
        ("no keys", r#"{"keys":[]}"#.into()),
        (
            "private key",
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.into(),
        ),
    ];
    for (what, doc) in cases {
        std::fs::write(&f.jwks, doc).unwrap();
        let out = run(&f, &[token]);
        assert_eq!(out.status.code(), Some(2), "{what}");
        assert!(out.stdout.is_empty(), "{what}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("mcp-authz verify:"),
            "{what}"
        );
    }
    std::fs::remove_file(&f.jwks).unwrap();
    assert_eq!(run(&f, &[token]).status.code(), Some(2));
    // No token at all, or both forms: a usage error.
    let f = fixture("usage");
    assert_eq!(run(&f, &[]).status.code(), Some(2));
    assert_eq!(run(&f, &["a.b.c", "--tokens", "x"]).status.code(), Some(2));
    assert_eq!(
        run(&f, &["--tokens", "/nonexistent/tokens"]).status.code(),
        Some(2)
    );
}

#[test]
fn several_issuers_each_with_its_own_keys() {
    let f = fixture("issuers");
    let jwcrypto: Value =
        serde_json::from_str(&std::fs::read_to_string(data("jwcrypto.json")).unwrap()).unwrap();
    let other_keys = f.dir.join("jwcrypto-jwks.json");
    std::fs::write(&other_keys, serde_json::to_vec(&jwcrypto["jwks"]).unwrap()).unwrap();
    let token_of = |expect: &str| {
        f.tokens
            .iter()
            .find(|(_, e)| e == expect)
            .map(|(t, _)| t.clone())
            .unwrap()
    };
    let jwcrypto_valid = jwcrypto["tokens"][0]["token"].as_str().unwrap().to_owned();
    let two = |token: &str, pairs: &[(&str, &PathBuf)], extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-authz"));
        cmd.arg("verify");
        for (issuer, jwks) in pairs {
            cmd.args(["--issuer", issuer]).arg("--jwks").arg(jwks);
        }
        cmd.args([
            "--resource",
            "https://mcp.example.com/mcp",
            "--now",
            "1700000060",
        ])
        .args(extra)
        .arg(token);
        cmd.output().unwrap()
    };
    let (ours, evil) = ("https://auth.example.com", "https://evil.example.com");
    let pairs = [(ours, &f.jwks), (evil, &other_keys)];
    // PyJWT's token names auth.example.com, whose keys are PyJWT's: valid.
    let out = two(&token_of("valid"), &pairs, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_line(&out)["iss"], ours);
    // jwcrypto's token names auth.example.com too, but is signed by a key of the other issuer's
    // set: only auth.example.com's keys are tried.
    assert_eq!(
        json_line(&two(&jwcrypto_valid, &pairs, &[]))["reason"],
        "unknown_kid"
    );
    // With jwcrypto's keys as auth.example.com's, it is valid.
    let swapped = [(ours, &other_keys), (evil, &f.jwks)];
    assert_eq!(two(&jwcrypto_valid, &swapped, &[]).status.code(), Some(0));
    // The token naming evil.example.com is checked with evil.example.com's keys alone: with
    // jwcrypto's keys it names an unknown key; with PyJWT's (which signed it), it is valid.
    assert_eq!(
        json_line(&two(&token_of("wrong_iss"), &pairs, &[]))["reason"],
        "unknown_kid"
    );
    assert_eq!(
        two(&token_of("wrong_iss"), &swapped, &[]).status.code(),
        Some(0)
    );
    // An issuer no pair names: wrong_iss.
    assert_eq!(
        json_line(&two(&token_of("wrong_iss"), &pairs[..1], &[]))["reason"],
        "wrong_iss"
    );
    // Unpaired flags, and a tenant template without tenants: usage errors.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-authz"));
    cmd.args(["verify", "--issuer", ours, "--issuer", evil, "--jwks"])
        .arg(&f.jwks)
        .args(["--resource", "https://mcp.example.com/mcp"])
        .arg(token_of("valid"));
    assert_eq!(cmd.output().unwrap().status.code(), Some(2));
    let template = [("https://login.microsoftonline.com/{tenantid}/v2.0", &f.jwks)];
    let out = two(&token_of("valid"), &template, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tenant"));
    assert_eq!(
        json_line(&two(&token_of("valid"), &template, &["--allow-any-tenant"]))["reason"],
        "wrong_iss"
    );
}

#[test]
fn an_entra_tenant_template_with_tenants() {
    use mcp_authz_testkit::jwt::{new_p256, p256_jwk, sign_es256};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = new_p256().unwrap();
    let jwks = dir.join("entra.json");
    std::fs::write(
        &jwks,
        serde_json::json!({"keys": [p256_jwk(&key, "k1")]}).to_string(),
    )
    .unwrap();
    let (ours, theirs) = (
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "9188040d-6c67-4c5b-b112-36a304b66dad",
    );
    let token = |tid: &str, iss_tid: &str| {
        let claims = serde_json::json!({
            "iss": format!("https://login.microsoftonline.com/{iss_tid}/v2.0"), "tid": tid,
            "aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "sub": "u1", "azp": "client-app",
            "scp": "mcp.tools", "iat": 1_700_000_000u64, "exp": 1_700_003_600u64,
        });
        sign_es256(&key, "k1", &claims).unwrap()
    };
    let verify = |token: &str, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
            .args([
                "verify",
                "--issuer",
                "https://login.microsoftonline.com/{tenantid}/v2.0",
                "--jwks",
            ])
            .arg(&jwks)
            .args([
                "--resource",
                "https://mcp.example.com/mcp",
                "--now",
                "1700000060",
                "--lenient-typ",
            ])
            .args(["--audience", "6e74172b-be56-4843-9ff4-e66a39bb12e3"])
            .args(extra)
            .arg(token)
            .output()
            .unwrap();
        json_line(&out)
    };
    let v = verify(&token(ours, ours), &["--tenant", ours]);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["tid"], ours);
    assert_eq!(v["scopes"], serde_json::json!(["mcp.tools"]));
    assert_eq!(
        verify(&token(theirs, theirs), &["--tenant", ours])["reason"],
        "tenant_not_allowed"
    );
    assert_eq!(
        verify(
            &token(ours, theirs),
            &["--tenant", ours, "--tenant", theirs]
        )["reason"],
        "iss_tid_mismatch"
    );
    assert_eq!(
        verify(&token(theirs, theirs), &["--allow-any-tenant"])["valid"],
        true
    );
}
