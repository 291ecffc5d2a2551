//! `mcp-authz proxy` as a process: flags, the TOML config (flags win), exit codes, SIGTERM.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
}

/// A TOML file (named after `name`, removed when dropped) with an unreachable provider, a
/// resource and an upstream, then `extra` lines.
fn config_file(name: &str, extra: &str) -> tempfile::TempPath {
    let file = tempfile::Builder::new()
        .prefix(&format!("mcp-authz-proxy-{name}-"))
        .suffix(".toml")
        .tempfile()
        .unwrap();
    let base = r#"
metadata-url = "http://127.0.0.1:1/.well-known/oauth-authorization-server"
resource = "http://127.0.0.1:1/mcp"
upstream = "http://127.0.0.1:2/mcp"
allow-http-loopback = true
"#;
    std::fs::write(file.path(), format!("{base}{extra}\n")).unwrap();
    file.into_temp_path()
}

#[test]
fn missing_or_bad_settings_exit_2() {
    let out = bin()
        .args([
            "proxy",
            "--fail-fast",
            "--resource",
            "http://127.0.0.1:1/mcp",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metadata-url is required"));
    let out = bin()
        .args([
            "proxy",
            "--fail-fast",
            "--metadata-url",
            "http://127.0.0.1:1/.well-known/oauth-authorization-server",
        ])
        .args([
            "--resource",
            "http://127.0.0.1:1/mcp",
            "--upstream",
            "nonsense",
            "--allow-http-loopback",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--upstream nonsense"));
    let out = bin()
        .args([
            "proxy",
            "--fail-fast",
            "--metadata-url",
            "http://127.0.0.1:1/.well-known/oauth-authorization-server",
        ])
        .args([
            "--resource",
            "http://127.0.0.1:1/mcp",
            "--upstream",
            "http://127.0.0.1:2/mcp",
            "--tool-scope",
            "noequals",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unreachable_provider_refuses_to_start() {
    let out = bin()
        .args([
            "proxy",
            "--fail-fast",
            "--metadata-url",
            "http://127.0.0.1:1/.well-known/oauth-authorization-server",
        ])
        .args([
            "--resource",
            "http://127.0.0.1:1/mcp",
            "--upstream",
            "http://127.0.0.1:2/mcp",
            "--allow-http-loopback",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "not starting: cannot fetch http://127.0.0.1:1/.well-known/oauth-authorization-server"
        ),
        "{err}"
    );
}

#[test]
fn config_file_with_flags_winning() {
    let cfg = config_file(
        "cfg",
        "scope = [\"mcp:tools\"]\ntool-scope = [\"admin_reset=mcp:admin\"]",
    );
    // From the file alone: it tries the (unreachable) provider, so it got that far.
    let out = bin()
        .args(["proxy", "--fail-fast", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:1/.well-known"));
    // A flag wins over the file.
    let out = bin()
        .args([
            "proxy",
            "--fail-fast",
            "--config",
            cfg.to_str().unwrap(),
            "--metadata-url",
            "http://127.0.0.1:3/.well-known/oauth-authorization-server",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:3/.well-known"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Several servers as an array, and the tenant keys: accepted (it gets to the first fetch).
    std::fs::write(
        &cfg,
        r#"
metadata-url = ["http://127.0.0.1:4/.well-known/oauth-authorization-server", "http://127.0.0.1:5/.well-known/openid-configuration"]
resource = "http://127.0.0.1:1/mcp"
upstream = "http://127.0.0.1:2/mcp"
allow-http-loopback = true
tenant = ["72f988bf-86f1-41af-91ab-2d7cd011db47"]
allow-any-tenant = false
entra-v1-tokens = true
"#,
    )
    .unwrap();
    let out = bin()
        .args(["proxy", "--fail-fast", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:4/.well-known"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Unknown keys are refused.
    std::fs::write(&cfg, "metadata_url = \"x\"\n").unwrap();
    let out = bin()
        .args(["proxy", "--fail-fast", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg(unix)]
fn demo_stops_cleanly_on_sigterm() {
    let mut child = bin()
        .args(["demo", "--port-base", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Wait for the walkthrough (the proxy is about to serve).
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while !seen.contains("Ctrl-C stops everything") && Instant::now() < deadline {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("MCP URL (protected):"), "{seen}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn introspection_settings_are_checked_and_the_secret_never_comes_from_an_argument() {
    let base = [
        "proxy",
        "--fail-fast",
        "--metadata-url",
        "http://127.0.0.1:1/.well-known/oauth-authorization-server",
        "--resource",
        "http://127.0.0.1:1/mcp",
        "--upstream",
        "http://127.0.0.1:2/mcp",
        "--allow-http-loopback",
    ];
    let run = |extra: &[&str], env: Option<&str>| {
        let mut cmd = bin();
        cmd.args(base).args(extra);
        cmd.env_remove("MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET");
        if let Some(secret) = env {
            cmd.env("MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET", secret);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--introspect", "sometimes"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("never, non-jwt or always"), "{err}");
    let (code, err) = run(&["--introspect", "non-jwt"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("--introspection-client-id"), "{err}");
    let (code, err) = run(
        &["--introspect", "non-jwt", "--introspection-client-id", "rs"],
        None,
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET"),
        "{err}"
    );
    // There is no flag for the secret itself.
    let (code, _) = run(&["--introspection-client-secret", "s3cret"], None);
    assert_eq!(code, Some(2));
    // From the environment: it gets as far as the (unreachable) authorization server, and the
    // secret is printed nowhere.
    let (code, err) = run(
        &["--introspect", "always", "--introspection-client-id", "rs"],
        Some("s3cret-value"),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains("s3cret-value"));
    let (code, err) = run(
        &[
            "--introspect",
            "non-jwt",
            "--introspection-client-id",
            "rs",
            "--introspection-auth",
            "digest",
        ],
        Some("s"),
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("basic or post"), "{err}");
}

/// The TOML file and the flags fill the same settings: a list given as a flag replaces the
/// file's (`method-scope` here), a bad `METHOD=SCOPE` is a settings error (2) whichever side it
/// comes from.
#[test]
fn method_scopes_from_the_file_or_the_flags() {
    let cfg = config_file("ms", "method-scope = [\"noequals\"]");
    let file_only = bin()
        .args(["proxy", "--fail-fast", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(file_only.status.code(), Some(2));
    let err = String::from_utf8_lossy(&file_only.stderr);
    assert!(
        err.contains("--method-scope noequals: expected METHOD=SCOPE"),
        "{err}"
    );
    // The flag replaces the file's list: the settings pass, and it gets to the first fetch.
    let flag_wins = bin()
        .args(["proxy", "--fail-fast", "--config", cfg.to_str().unwrap()])
        .args(["--method-scope", "resources/read=mcp:resources"])
        .output()
        .unwrap();
    assert_eq!(flag_wins.status.code(), Some(1));
    let err = String::from_utf8_lossy(&flag_wins.stderr);
    assert!(err.contains("not starting: cannot fetch"), "{err}");
}

/// A prefix that cannot start a header name is a settings error (2), named, before anything
/// is fetched.
#[test]
fn an_identity_header_prefix_that_is_no_header_name_exits_2() {
    let cfg = config_file("prefix", "identity-header-prefix = \"X Bad:\"");
    let out = bin()
        .args(["proxy", "--fail-fast", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--identity-header-prefix X Bad:: not a header name prefix"),
        "{err}"
    );
}

#[test]
fn rules_that_do_not_parse_or_name_roles_without_a_role_claim_exit_2() {
    let base = [
        "proxy",
        "--fail-fast",
        "--metadata-url",
        "http://127.0.0.1:1/.well-known/oauth-authorization-server",
        "--resource",
        "http://127.0.0.1:1/mcp",
        "--upstream",
        "http://127.0.0.1:2/mcp",
        "--allow-http-loopback",
    ];
    for (extra, expected) in [
        (vec!["--tool-rule", "deploy rol=admin"], "unknown condition"),
        (
            vec!["--tool-rule", "deploy"],
            "expected \"TOOL REQUIREMENT\"",
        ),
        (vec!["--tool-rule", "deploy role=admin"], "no --role-claim"),
        (
            vec![
                "--resource-rule",
                "file:///{ role=admin",
                "--role-claim",
                "keycloak",
            ],
            "--resource-rule",
        ),
        (vec!["--role-claim", "a..b"], "--role-claim a..b"),
        (
            vec!["--public-tool", "t", "--tool-scope", "t=mcp:admin"],
            "--public-tool t",
        ),
        (
            vec!["--public-tool", "t", "--allow-client", "ops"],
            "--public-tool t",
        ),
    ] {
        let out = bin().args(base).args(&extra).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
}

#[cfg(feature = "cedar")]
#[test]
fn a_cedar_policy_that_does_not_parse_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cedar");
    std::fs::write(
        &bad,
        "permit(principal, action, resource) when { principal. };",
    )
    .unwrap();
    let out = bin()
        .args([
            "proxy",
            "--fail-fast",
            "--metadata-url",
            "http://127.0.0.1:1/.well-known/oauth-authorization-server",
            "--resource",
            "http://127.0.0.1:1/mcp",
            "--upstream",
            "http://127.0.0.1:2/mcp",
            "--allow-http-loopback",
            "--policy",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--policy") && err.contains("bad.cedar"),
        "{err}"
    );
}

/// `[[route]]` tables in the file: route settings outside them, or an unknown key in one, are
/// refused (exit 2) before anything is fetched; well-formed tables get as far as the fetch.
#[test]
fn route_tables_in_the_config_file() {
    let routes = r#"
[[route]]
name = "github"
metadata-url = "http://127.0.0.1:1/.well-known/oauth-authorization-server"
resource = "http://127.0.0.1:8080/github/mcp"
upstream = "http://127.0.0.1:9001/mcp"
allow-http-loopback = true

[[route]]
name = "jira"
metadata-url = "http://127.0.0.1:1/.well-known/oauth-authorization-server"
resource = "http://127.0.0.1:8080/jira/mcp"
upstream = "http://127.0.0.1:9002/mcp"
allow-http-loopback = true
"#;
    let run = |text: &str, extra: &[&str]| {
        let cfg = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(cfg.path(), text).unwrap();
        let out = bin()
            .args([
                "proxy",
                "--fail-fast",
                "--config",
                cfg.path().to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(routes, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not starting: cannot fetch"), "{err}");
    let (code, err) = run(routes, &["--scope", "mcp:tools"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`scope` is given outside the [[route]] tables"),
        "{err}"
    );
    let (code, err) = run(&format!("scope = [\"x\"]\n{routes}"), &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`scope` is given outside"), "{err}");
    let (code, err) = run(&format!("{routes}listen-on = 1\n"), &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("[[route]] number 2: unknown field `listen-on`"),
        "{err}"
    );
}
