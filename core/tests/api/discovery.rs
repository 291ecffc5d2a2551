//! Authorization-server metadata (RFC 8414 / OIDC Discovery) and protected-resource metadata
//! (RFC 9728): provider-shaped documents, URL forms, and every field problem.

use mcp_authz_core::as_metadata::{
    issuer_from_metadata_url, issuer_matches, metadata_urls_for_issuer, validate, MetadataPolicy,
    MetadataUrlError, ProblemKind, Warning, REQUIRED_FIELDS,
};
use mcp_authz_core::ProtectedResourceMetadata;
use serde_json::{json, Value};

use crate::common::data;

#[test]
fn provider_documents_get_their_verdicts() {
    let cases: Value = serde_json::from_str(&data("as-metadata/cases.json")).unwrap();
    for case in cases["cases"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let doc = data(&format!("as-metadata/{file}"));
        let url = case["metadata_url"].as_str().unwrap();
        let issuer = issuer_from_metadata_url(url).unwrap();
        let strict = validate(doc.as_bytes(), &issuer, &MetadataPolicy::new());
        assert_eq!(
            strict.is_valid(),
            case["valid"].as_bool().unwrap(),
            "{file}: {strict:?}"
        );
        let problems: Vec<Value> = strict
            .problems
            .iter()
            .map(|p| json!([p.field, p.kind.reason()]))
            .collect();
        assert_eq!(
            Value::from(problems),
            case.get("problems").cloned().unwrap_or(json!([])),
            "{file}"
        );
        let warnings: Vec<&str> = strict.warnings.iter().map(|w| w.reason()).collect();
        assert_eq!(json!(warnings), case["warnings"], "{file}");

        let lenient = validate(
            doc.as_bytes(),
            &issuer,
            &MetadataPolicy::new().allow_missing_registration(true),
        );
        assert!(lenient.is_valid(), "{file}: {lenient:?}");
        let warnings: Vec<&str> = lenient.warnings.iter().map(|w| w.reason()).collect();
        let expected = case
            .get("warnings_with_missing_registration_allowed")
            .unwrap_or(&case["warnings"]);
        assert_eq!(json!(warnings), *expected, "{file}");
        let metadata = lenient.metadata.unwrap();
        // The issuer is kept byte for byte, terminating slash included.
        let raw: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(metadata.issuer(), raw["issuer"].as_str().unwrap());
        assert_eq!(metadata.jwks_uri(), raw["jwks_uri"].as_str().unwrap());
    }
}

#[test]
fn metadata_url_to_issuer_for_every_form() {
    let pairs = [
        ("https://h.example/.well-known/oauth-authorization-server/tenant", "https://h.example/tenant"),
        ("https://h.example/oauth2/default/.well-known/oauth-authorization-server", "https://h.example/oauth2/default"),
        ("https://h.example/.well-known/openid-configuration/tenant", "https://h.example/tenant"),
        ("https://h.example/realms/x/.well-known/openid-configuration", "https://h.example/realms/x"),
        ("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration", "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"),
        ("https://h.example/.well-known/oauth-authorization-server", "https://h.example"),
        ("https://h.example/.well-known/openid-configuration", "https://h.example"),
        ("http://127.0.0.1:9400/.well-known/oauth-authorization-server", "http://127.0.0.1:9400"),
        ("https://h.example:8443/.well-known/oauth-authorization-server/a/b", "https://h.example:8443/a/b"),
    ];
    for (url, issuer) in pairs {
        assert_eq!(
            issuer_from_metadata_url(url).as_deref(),
            Ok(issuer),
            "{url}"
        );
    }
    assert_eq!(
        issuer_from_metadata_url("https://h.example/metadata.json"),
        Err(MetadataUrlError::NotWellKnown)
    );
    assert_eq!(
        issuer_from_metadata_url("https://h.example/.well-known/oauth-authorization-serverX"),
        Err(MetadataUrlError::NotWellKnown)
    );
    assert_eq!(
        issuer_from_metadata_url("https://h.example/.well-known/openid-configuration?x=1"),
        Err(MetadataUrlError::QueryOrFragment)
    );
    assert_eq!(
        issuer_from_metadata_url("h.example/.well-known/openid-configuration"),
        Err(MetadataUrlError::NotAUrl)
    );
    assert_eq!(
        issuer_from_metadata_url("ftp://h.example/.well-known/openid-configuration"),
        Err(MetadataUrlError::NotAUrl)
    );
}

#[test]
fn issuer_to_metadata_urls_in_client_order() {
    assert_eq!(
        metadata_urls_for_issuer("https://auth.example.com/tenant1"),
        [
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
            "https://auth.example.com/.well-known/openid-configuration/tenant1",
            "https://auth.example.com/tenant1/.well-known/openid-configuration",
        ]
    );
    for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
        assert_eq!(
            metadata_urls_for_issuer(issuer),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
    }
    // Every URL built from an issuer maps back to it.
    for issuer in [
        "https://a.example/t",
        "https://a.example",
        "https://a.example/x/y",
    ] {
        for url in metadata_urls_for_issuer(issuer) {
            assert_eq!(issuer_from_metadata_url(&url).unwrap(), issuer, "{url}");
        }
    }
}

#[test]
fn trailing_slash_issuer_matches_the_root_url() {
    // Auth0: issuer "https://tenant.auth0.com/", served at the root well-known URL.
    let implied =
        issuer_from_metadata_url("https://tenant.auth0.com/.well-known/oauth-authorization-server")
            .unwrap();
    assert!(issuer_matches("https://tenant.auth0.com/", &implied));
    assert!(issuer_matches("https://TENANT.auth0.com", &implied));
    assert!(!issuer_matches("https://tenant.auth0.com/x", &implied));
    assert!(!issuer_matches("https://tenant.auth0.com.evil/", &implied));
    assert!(!issuer_matches("http://tenant.auth0.com/", &implied));
}

fn good_doc() -> Value {
    json!({
        "issuer": "https://as.example.com",
        "authorization_endpoint": "https://as.example.com/authorize",
        "token_endpoint": "https://as.example.com/token",
        "registration_endpoint": "https://as.example.com/register",
        "jwks_uri": "https://as.example.com/jwks",
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["mcp:tools"],
        "authorization_response_iss_parameter_supported": true,
    })
}

fn check(doc: &Value, policy: &MetadataPolicy) -> mcp_authz_core::as_metadata::Report {
    validate(
        &serde_json::to_vec(doc).unwrap(),
        "https://as.example.com",
        policy,
    )
}

#[test]
fn a_good_document_is_valid_without_warnings() {
    let r = check(&good_doc(), &MetadataPolicy::new());
    assert!(r.is_valid() && r.warnings.is_empty(), "{r:?}");
    assert_eq!(r.metadata.unwrap().scopes_supported(), ["mcp:tools"]);
}

#[test]
fn every_required_field_missing_empty_mistyped_or_on_http() {
    let policy = MetadataPolicy::new();
    for field in REQUIRED_FIELDS {
        // Without a registration endpoint (or a metadata document) clients cannot register.
        let absent = match field {
            "registration_endpoint" => ProblemKind::NoRegistration,
            _ => ProblemKind::Missing,
        };
        let variants: [(Value, ProblemKind); 6] = [
            (Value::Null, absent),
            (json!(""), ProblemKind::Empty),
            (json!(42), ProblemKind::NotAString),
            (json!("/relative/path"), ProblemKind::NotAUrl),
            (
                json!(format!("http://as.example.com/{field}")),
                ProblemKind::NotHttps,
            ),
            (
                json!(format!("https://as.example.com/{field}#frag")),
                ProblemKind::QueryOrFragment,
            ),
        ];
        for (value, kind) in variants {
            let mut doc = good_doc();
            if value.is_null() {
                doc.as_object_mut().unwrap().remove(field);
            } else {
                doc[field] = value.clone();
            }
            let r = check(&doc, &policy);
            assert!(!r.is_valid() && r.metadata.is_none(), "{field} {value}");
            assert_eq!(
                r.problems_of(field).collect::<Vec<_>>(),
                [kind],
                "{field} {value}: {r:?}"
            );
            assert_eq!(r.problems.len(), 1, "{field} {value}: {r:?}");
        }
    }
}

/// Registration: a Client ID Metadata Document is enough without `registration_endpoint` (MCP
/// clients prefer it since 2025-11-25); neither is refused with a problem that says so, unless
/// the operator says every client is pre-registered. Only the JSON `true` announces CIMD.
#[test]
fn client_id_metadata_documents_stand_in_for_registration() {
    let mut doc = good_doc();
    doc.as_object_mut().unwrap().remove("registration_endpoint");
    let r = check(&doc, &MetadataPolicy::new());
    assert_eq!(
        r.problems_of("registration_endpoint").collect::<Vec<_>>(),
        [ProblemKind::NoRegistration]
    );
    assert!(ProblemKind::NoRegistration
        .as_str()
        .starts_with("missing, and client_id_metadata_document_supported"));
    for not_true in [json!("true"), json!(1), json!(false), json!(null)] {
        doc["client_id_metadata_document_supported"] = not_true.clone();
        let r = check(&doc, &MetadataPolicy::new());
        assert!(!r.is_valid(), "{not_true}");
    }
    doc["client_id_metadata_document_supported"] = json!(true);
    let r = check(&doc, &MetadataPolicy::new());
    assert!(r.is_valid(), "{r:?}");
    assert!(r
        .metadata
        .as_ref()
        .unwrap()
        .client_id_metadata_document_supported());
    assert!(r
        .warnings
        .contains(&Warning::RegistrationByMetadataDocumentOnly));
    // Public clients need `none` at the token endpoint; absent means client_secret_basic.
    assert!(r
        .warnings
        .contains(&Warning::MetadataDocumentWithoutPublicClients));
    doc["token_endpoint_auth_methods_supported"] = json!(["none", "client_secret_basic"]);
    let r = check(&doc, &MetadataPolicy::new());
    assert!(!r
        .warnings
        .contains(&Warning::MetadataDocumentWithoutPublicClients));
    // With both, nothing is said about registration.
    doc["registration_endpoint"] = json!("https://as.example.com/register");
    let r = check(&doc, &MetadataPolicy::new());
    assert!(r.is_valid());
    assert!(!r
        .warnings
        .iter()
        .any(|w| w.field() == "registration_endpoint"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let doc = json!({"issuer": "https://other.example.com", "token_endpoint": 1, "jwks_uri": "http://as.example.com/jwks"});
    let r = check(&doc, &MetadataPolicy::new());
    let got: Vec<(&str, &str)> = r
        .problems
        .iter()
        .map(|p| (p.field, p.kind.reason()))
        .collect();
    assert_eq!(
        got,
        [
            ("issuer", "issuer_mismatch"),
            ("authorization_endpoint", "missing"),
            ("token_endpoint", "not_a_string"),
            ("registration_endpoint", "no_registration"),
            ("jwks_uri", "not_https"),
        ]
    );
    assert_eq!(r.issuer.as_deref(), Some("https://other.example.com"));
}

#[test]
fn issuer_with_a_query_and_documents_that_are_not_objects() {
    let mut doc = good_doc();
    doc["issuer"] = json!("https://as.example.com?x=1");
    assert_eq!(
        check(&doc, &MetadataPolicy::new())
            .problems_of("issuer")
            .collect::<Vec<_>>(),
        [ProblemKind::QueryOrFragment]
    );
    for (bytes, kind) in [
        (&b"[]"[..], ProblemKind::NotJsonObject),
        (b"<html>", ProblemKind::NotJsonObject),
        (
            br#"{"issuer":"a","issuer":"b"}"#,
            ProblemKind::DuplicateMember,
        ),
    ] {
        let r = validate(bytes, "https://as.example.com", &MetadataPolicy::new());
        assert_eq!(r.problems_of("document").collect::<Vec<_>>(), [kind]);
    }
    let huge = vec![b' '; 300 * 1024];
    let r = validate(&huge, "https://as.example.com", &MetadataPolicy::new());
    assert_eq!(
        r.problems_of("document").collect::<Vec<_>>(),
        [ProblemKind::TooLarge]
    );
}

#[test]
fn http_only_for_loopback_and_only_when_allowed() {
    let mut doc = good_doc();
    for f in REQUIRED_FIELDS {
        doc[f] = json!(format!("http://127.0.0.1:9400/{f}"));
    }
    doc["issuer"] = json!("http://127.0.0.1:9400");
    let bytes = serde_json::to_vec(&doc).unwrap();
    let strict = validate(&bytes, "http://127.0.0.1:9400", &MetadataPolicy::new());
    assert_eq!(strict.problems.len(), 5);
    assert!(strict
        .problems
        .iter()
        .all(|p| p.kind == ProblemKind::NotHttps));
    let dev = validate(
        &bytes,
        "http://127.0.0.1:9400",
        &MetadataPolicy::new().allow_http_loopback(true),
    );
    assert!(dev.is_valid(), "{dev:?}");
    // A non-loopback http URL stays refused even in development mode.
    doc["jwks_uri"] = json!("http://10.0.0.1/jwks");
    let r = validate(
        &serde_json::to_vec(&doc).unwrap(),
        "http://127.0.0.1:9400",
        &MetadataPolicy::new().allow_http_loopback(true),
    );
    assert_eq!(
        r.problems_of("jwks_uri").collect::<Vec<_>>(),
        [ProblemKind::NotHttps]
    );
}

#[test]
fn warnings() {
    let policy = MetadataPolicy::new();
    let mut doc = good_doc();
    doc["code_challenge_methods_supported"] = json!(["plain"]);
    doc["response_types_supported"] = json!(["token"]);
    doc["jwks_uri"] = json!("https://keys.example.net/jwks");
    let r = check(&doc, &policy);
    assert!(r.is_valid());
    assert_eq!(
        r.warnings,
        [
            Warning::PkceS256Missing,
            Warning::CodeResponseTypeMissing,
            Warning::JwksOnOtherOrigin
        ]
    );
    doc.as_object_mut()
        .unwrap()
        .remove("code_challenge_methods_supported");
    assert_eq!(
        check(&doc, &policy).warnings[0],
        Warning::PkceMethodsMissing
    );
}

#[test]
fn protected_resource_metadata_document() {
    let prm =
        ProtectedResourceMetadata::new("https://mcp.example.com/mcp", "https://tenant.auth0.com/")
            .with_scopes_supported(["mcp:tools", "offline_access", "mcp:admin", "mcp:tools", ""])
            .with_resource_name("Example \"MCP\" server")
            .with_resource_documentation("https://mcp.example.com/docs")
            .with_authorization_server("https://backup.example.com");
    assert_eq!(
        prm.to_json_value(),
        json!({
            "resource": "https://mcp.example.com/mcp",
            "authorization_servers": ["https://tenant.auth0.com/", "https://backup.example.com"],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:tools", "mcp:admin"],
            "resource_name": "Example \"MCP\" server",
            "resource_documentation": "https://mcp.example.com/docs",
        })
    );
    let parsed: Value = serde_json::from_slice(&prm.to_json()).unwrap();
    assert_eq!(parsed, prm.to_json_value());
    assert_eq!(
        prm.well_known_url(),
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        prm.root_well_known_url(),
        "https://mcp.example.com/.well-known/oauth-protected-resource"
    );
    let min = ProtectedResourceMetadata::new("https://m.example/mcp", "https://as.example")
        .to_json_value();
    assert!(min.get("scopes_supported").is_none() && min.get("resource_name").is_none());
}

#[test]
fn a_tenant_template_issuer_only_from_the_multi_tenant_metadata() {
    use mcp_authz_core::as_metadata::tenant_template_matches;
    let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
    for segment in ["common", "organizations", "consumers"] {
        assert!(tenant_template_matches(
            template,
            &format!("https://login.microsoftonline.com/{segment}/v2.0")
        ));
    }
    // A tenant's own metadata states its own issuer: a template there is a mismatch, and so
    // is a template on another host or path.
    assert!(!tenant_template_matches(
        template,
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    ));
    assert!(!tenant_template_matches(
        "https://evil.example/{tenantid}/v2.0",
        "https://login.microsoftonline.com/common/v2.0"
    ));
    assert!(!tenant_template_matches(
        "https://login.microsoftonline.com/common/v2.0",
        "https://login.microsoftonline.com/common/v2.0"
    ));
    let doc = data("as-metadata/entra-common.json");
    let tenant_url = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
    let r = validate(
        doc.as_bytes(),
        tenant_url,
        &MetadataPolicy::new().allow_missing_registration(true),
    );
    assert_eq!(
        r.problems
            .iter()
            .map(|p| (p.field, p.kind.reason()))
            .collect::<Vec<_>>(),
        [("issuer", "issuer_mismatch")]
    );
}
