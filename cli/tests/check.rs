//! `mcp-authz check --file` as a black box, on the provider-shaped metadata documents of the core.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn doc(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data/as-metadata")
        .join(name)
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

const ENTRA_URL: &str = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0/.well-known/openid-configuration";

/// The Keycloak realm with Client ID Metadata Documents and no registration endpoint: valid
/// without any option, the registration path named, no `--allow-missing-registration` advised.
#[test]
fn a_cimd_server_needs_no_registration_endpoint() {
    let keycloak = doc("keycloak-cimd.json");
    let out = check(&[
        "--file",
        keycloak.to_str().unwrap(),
        "--metadata-url",
        "https://keycloak.example.com/realms/mcp/.well-known/openid-configuration",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(
        v["client_registration"],
        json!([
            "pre-registered client id (when the client has one)",
            "Client ID Metadata Document"
        ])
    );
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["warning"].as_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        [
            "registration_by_metadata_document_only",
            "metadata_document_without_public_clients"
        ]
    );
    let advice = v["advice"].to_string();
    assert!(!advice.contains("--allow-missing-registration"), "{advice}");
}

#[test]
fn json_output_and_exit_codes() {
    let okta = doc("okta.json");
    let out = check(&[
        "--file",
        okta.to_str().unwrap(),
        "--metadata-url",
        "https://dev-123456.okta.com/oauth2/default/.well-known/oauth-authorization-server",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        json!({"valid": true, "issuer": "https://dev-123456.okta.com/oauth2/default", "problems": [],
            "warnings": [{"field": "authorization_response_iss_parameter_supported", "warning": "iss_parameter_missing",
                "message": "not true: MCP clients cannot check the authorization response's iss against mix-up attacks (RFC 9207)"}],
            "client_registration": ["pre-registered client id (when the client has one)", "Dynamic Client Registration"],
            "provider": "okta", "advice": [
                {"flag": "--audience AUDIENCE", "why": "a custom authorization server sets aud to its configured audience (api://default for the default one)"},
                {"flag": "--lenient-typ", "why": "Okta access tokens carry no at+jwt typ"},
                {"flag": "--role-claim okta", "why": "for role= rules: groups are in the groups claim, once a groups claim is added to the authorization server's access tokens"},
                {"flag": "--as-facade okta --facade-client-id ID --facade-redirect-uri URI", "why": "Okta registers clients only with an API token: the facade hands MCP clients a pre-registered app (docs/facade.md)"}],
            "introspection_endpoint": "https://dev-123456.okta.com/oauth2/default/v1/introspect"})
    );

    let entra = doc("entra.json");
    let out = check(&[
        "--file",
        entra.to_str().unwrap(),
        "--metadata-url",
        ENTRA_URL,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["field"], "registration_endpoint");
    assert_eq!(v["problems"][0]["problem"], "no_registration");
    assert_eq!(v["warnings"][0]["warning"], "pkce_methods_missing");

    let out = check(&[
        "--file",
        entra.to_str().unwrap(),
        "--metadata-url",
        ENTRA_URL,
        "--json",
        "--allow-missing-registration",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn explicit_issuer_and_mismatch() {
    let auth0 = doc("auth0.json");
    let ok = check(&[
        "--file",
        auth0.to_str().unwrap(),
        "--issuer",
        "https://example-tenant.us.auth0.com/",
    ]);
    assert_eq!(ok.status.code(), Some(0));
    let text = String::from_utf8(ok.stdout).unwrap();
    assert!(text.contains("✓ jwks_uri"), "{text}");
    assert!(text.contains("\nvalid\n"), "{text}");
    // The provider is recognised, and what its tokens need is printed after the verdict.
    let advice = text.split_once("\nvalid\n").unwrap().1;
    assert!(advice.contains("Auth0: for its real tokens"), "{text}");
    assert!(advice.contains("--audience API_IDENTIFIER"), "{text}");
    let bad = check(&[
        "--file",
        auth0.to_str().unwrap(),
        "--issuer",
        "https://other.example.com",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8(bad.stdout).unwrap();
    assert!(text.contains("✗ issuer"), "{text}");
    assert!(text.contains("NOT valid: 1 problem"), "{text}");
}

#[test]
fn unusable_input_exits_2() {
    let auth0 = doc("auth0.json");
    let f = auth0.to_str().unwrap();
    for args in [
        vec![
            "--file",
            "/nonexistent.json",
            "--issuer",
            "https://a.example",
        ],
        vec![
            "--file",
            f,
            "--metadata-url",
            "https://a.example/metadata.json",
        ],
        vec!["--file", f],
        vec![],
    ] {
        let out = check(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Not JSON at all is a verdict (not valid), not unusable input.
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("page.html");
    std::fs::write(&html, "<html>login</html>").unwrap();
    let out = check(&[
        "--file",
        html.to_str().unwrap(),
        "--issuer",
        "https://a.example",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["problems"],
        json!([{"field": "document", "problem": "not_json_object", "message": "the document is not a JSON object"}])
    );
}

/// Serves the document `make_doc(origin)` at `path` on 127.0.0.1 from a background thread;
/// returns the origin.
fn serve(path: &'static str, make_doc: impl Fn(&str) -> Value + Send + 'static) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let origin = format!("http://{}", listener.local_addr().unwrap());
            let body = serde_json::to_vec(&make_doc(&origin)).unwrap();
            tx.send(origin).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let body = body.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let status = if req.uri().path() == path { 200 } else { 404 };
                            let body = bytes::Bytes::from(body.clone());
                            async move {
                                let mut r = http::Response::new(http_body_util::Full::new(body));
                                *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

#[test]
fn check_fetches_a_metadata_url() {
    let okta: Value =
        serde_json::from_str(&std::fs::read_to_string(doc("okta.json")).unwrap()).unwrap();
    let path = "/oauth2/default/.well-known/oauth-authorization-server";
    let served = okta.clone();
    let origin = serve(path, move |origin| {
        let mut d = served.clone();
        d["issuer"] = json!(format!("{origin}/oauth2/default"));
        d
    });
    let url = format!("{origin}{path}");
    let out = check(&[&url, "--allow-http-loopback", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["issuer"], format!("{origin}/oauth2/default"));

    // A document naming another issuer than its URL implies: a problem (exit 1).
    let origin = serve(path, move |_| okta.clone());
    let out = check(&[
        &format!("{origin}{path}"),
        "--allow-http-loopback",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["problems"][0],
        json!({"field": "issuer", "problem": "issuer_mismatch", "message": "does not match the issuer the metadata URL implies"})
    );

    // http without the development flag, an unreachable port, a 404: unusable input (exit 2).
    assert_eq!(check(&[&url, "--json"]).status.code(), Some(2));
    let closed = "http://127.0.0.1:1/.well-known/oauth-authorization-server";
    assert_eq!(
        check(&[closed, "--allow-http-loopback"]).status.code(),
        Some(2)
    );
    let missing = format!("{origin}/.well-known/oauth-authorization-server");
    let out = check(&[&missing, "--allow-http-loopback"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 404"));
}

#[test]
fn entra_multi_tenant_metadata_asks_for_tenants() {
    let common = doc("entra-common.json");
    let out = check(&[
        "--file",
        common.to_str().unwrap(),
        "--metadata-url",
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
        "--allow-missing-registration",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["provider"], "entra");
    assert_eq!(
        v["issuer"],
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );
    let flags: Vec<&str> = v["advice"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["flag"].as_str())
        .collect();
    for f in [
        "--audience APPLICATION_ID",
        "--lenient-typ",
        "--tenant TID",
        "--allow-any-tenant",
        "--allow-missing-registration",
    ] {
        assert!(flags.contains(&f), "{f}: {flags:?}");
    }
    // The same template served from a tenant's own URL is a mismatch.
    let out = check(&[
        "--file",
        common.to_str().unwrap(),
        "--metadata-url",
        ENTRA_URL,
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn whether_opaque_tokens_can_be_introspected() {
    let keycloak = doc("keycloak.json");
    let out = check(&[
        "--file",
        keycloak.to_str().unwrap(),
        "--metadata-url",
        "https://keycloak.example.com/realms/mcp/.well-known/openid-configuration",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("introspection_endpoint   https://keycloak.example.com/realms/mcp/protocol/openid-connect/token/introspect (opaque tokens can be checked"),
        "{text}"
    );
    let auth0 = doc("auth0.json");
    let out = check(&[
        "--file",
        auth0.to_str().unwrap(),
        "--issuer",
        "https://example-tenant.us.auth0.com/",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["introspection_endpoint"], Value::Null);
}
