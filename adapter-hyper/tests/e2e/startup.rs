//! Start-up: metadata that is not acceptable refuses to start, naming every problem; discovery
//! from an issuer; keys required at start-up when asked.

use mcp_authz_hyper::{Authz, StartupError};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn unacceptable_metadata_names_every_problem() {
    let double = AsDouble::start().await;
    double.set(|k| {
        k.metadata = Some(json!({
            "issuer": "http://127.0.0.1:1",
            "token_endpoint": 5,
            "jwks_uri": "https://keys.example/jwks",
        }))
    });
    let err = Authz::builder("http://127.0.0.1:9/mcp")
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .build()
        .await
        .unwrap_err();
    let StartupError::Metadata { report, .. } = &err else {
        panic!("{err}")
    };
    let fields: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.field, p.kind.reason()))
        .collect();
    assert_eq!(
        fields,
        [
            ("issuer", "issuer_mismatch"),
            ("authorization_endpoint", "missing"),
            ("token_endpoint", "not_a_string"),
            ("registration_endpoint", "no_registration"),
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("registration_endpoint: missing") && text.contains("issuer: does not match"),
        "{text}"
    );
}

#[tokio::test]
async fn http_metadata_needs_the_development_option() {
    let double = AsDouble::start().await;
    let err = Authz::builder("http://127.0.0.1:9/mcp")
        .metadata_url(double.metadata_url())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, StartupError::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("not an https URL"), "{err}");
}

#[tokio::test]
async fn unreachable_provider_refuses_to_start() {
    let double = AsDouble::start().await;
    double.set(|k| k.metadata_down = true);
    let err = Authz::builder("http://127.0.0.1:9/mcp")
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, StartupError::Fetch { .. }), "{err}");
}

#[tokio::test]
async fn discovery_from_the_issuer() {
    let double = AsDouble::start().await;
    let authz = Authz::builder("http://127.0.0.1:9/mcp")
        .issuer(double.issuer())
        .allow_http_loopback(true)
        .build()
        .await
        .unwrap();
    assert_eq!(
        authz.authorization_server().unwrap().issuer(),
        double.issuer()
    );
    assert_eq!(
        authz.guard().metadata().authorization_servers(),
        [double.issuer()]
    );
}

#[tokio::test]
async fn keys_can_be_required_at_startup() {
    let double = AsDouble::start().await;
    double.set(|k| k.jwks_down = true);
    let err = Authz::builder("http://127.0.0.1:9/mcp")
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .require_keys_at_startup(true)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, StartupError::Jwks { .. }), "{err}");
}
