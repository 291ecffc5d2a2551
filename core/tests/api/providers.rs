//! Tokens in the shape real providers issue them (their documented claims and headers), signed
//! with the test keys: each is accepted with the configuration the README gives for that
//! provider, and refused, for the precise reason, without it.

use mcp_authz_core::{AccessTokenVerifier, Error, TokenError, TypPolicy, VerifierConfig};
use serde_json::{json, Value};

use crate::common::*;

/// The provider's header: these providers send `typ: JWT` or no `typ` at all.
fn header_typ(typ: Option<&str>) -> Value {
    let mut h = json!({"alg": "ES256", "kid": "p256"});
    if let Some(t) = typ {
        h["typ"] = json!(t);
    }
    h
}

fn times(mut claims: Value) -> Value {
    claims["iat"] = json!(IAT);
    claims["exp"] = json!(IAT + 3600);
    claims
}

fn verify_with(config: VerifierConfig, token: &str) -> Result<mcp_authz_core::Principal, Error> {
    AccessTokenVerifier::new(config).verify(token, &jwks(), NOW)
}

fn refused(config: VerifierConfig, token: &str) -> TokenError {
    match verify_with(config, token) {
        Err(Error::InvalidToken(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn keycloak_with_an_audience_mapper_and_without_any_audience() {
    let iss = "https://kc.example.com/realms/mcp";
    // An audience mapper adds the resource server's client id; `azp` names the client.
    let mapped = forge(
        &header_typ(Some("JWT")),
        &times(
            json!({"iss": iss, "aud": ["mcp-server", "account"], "azp": "mcp-client",
            "sub": "u1", "scope": "openid mcp:tools", "typ": "Bearer"}),
        ),
    );
    let base = || VerifierConfig::new(iss, RESOURCE).with_typ_policy(TypPolicy::Lenient);
    let p = verify_with(base().with_audiences(["mcp-server"]), &mapped).unwrap();
    assert_eq!(p.client_id(), Some("mcp-client"));
    assert!(p.has_scope("mcp:tools"));
    assert_eq!(refused(base(), &mapped), TokenError::WrongAudience);
    assert_eq!(
        refused(
            VerifierConfig::new(iss, RESOURCE).with_audiences(["mcp-server"]),
            &mapped
        ),
        TokenError::InvalidTyp
    );
    // A client registered dynamically gets no `aud` at all.
    let bare = forge(
        &header_typ(Some("JWT")),
        &times(json!({"iss": iss, "azp": "dcr-7f3a", "sub": "u1", "scope": "mcp:tools"})),
    );
    let p = verify_with(base().with_audienceless_clients(["dcr-7f3a"]), &bare).unwrap();
    assert_eq!(p.audience().count(), 0);
    assert_eq!(refused(base(), &bare), TokenError::MissingAudience);
    assert_eq!(
        refused(base().with_audienceless_clients(["another"]), &bare),
        TokenError::MissingAudience
    );
    // The audienceless mode never accepts a token for another audience.
    assert_eq!(
        refused(base().with_audienceless_clients(["mcp-client"]), &mapped),
        TokenError::WrongAudience
    );
}

#[test]
fn entra_id_v2_and_v1_tokens() {
    let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let app = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    let v2_iss = format!("https://login.microsoftonline.com/{tid}/v2.0");
    let v2 = forge(
        &header_typ(Some("JWT")),
        &times(
            json!({"iss": v2_iss, "aud": app, "azp": "client-app", "tid": tid,
            "scp": "mcp.tools mcp.read", "roles": ["Admin", "Reader"], "sub": "u1", "ver": "2.0"}),
        ),
    );
    let base = || {
        VerifierConfig::new(v2_iss.clone(), RESOURCE)
            .with_typ_policy(TypPolicy::Lenient)
            .with_audiences([app])
    };
    let p = verify_with(base(), &v2).unwrap();
    assert!(
        p.scopes().eq(["mcp.tools", "mcp.read"]),
        "scp, space-separated"
    );
    let p = verify_with(base().with_roles_as_scopes(Some("role:".into())), &v2).unwrap();
    assert!(p
        .scopes()
        .eq(["mcp.tools", "mcp.read", "role:Admin", "role:Reader"]));
    let p = verify_with(base().with_roles_as_scopes(Some(String::new())), &v2).unwrap();
    assert!(p.has_scope("Admin"));
    assert_eq!(
        refused(
            VerifierConfig::new(v2_iss.clone(), RESOURCE).with_typ_policy(TypPolicy::Lenient),
            &v2
        ),
        TokenError::WrongAudience
    );
    // v1: another issuer form and an `api://` audience.
    let v1_iss = format!("https://sts.windows.net/{tid}/");
    let v1 = forge(
        &header_typ(Some("JWT")),
        &times(
            json!({"iss": v1_iss, "aud": "api://mcp-server", "appid": "client-app",
            "tid": tid, "scp": "mcp.tools", "sub": "u1", "ver": "1.0"}),
        ),
    );
    let v1_config = || {
        VerifierConfig::new(v1_iss.clone(), RESOURCE)
            .with_typ_policy(TypPolicy::Lenient)
            .with_audiences(["api://mcp-server"])
    };
    assert!(verify_with(v1_config(), &v1).is_ok());
    // A v1 token against the v2 configuration: another issuer.
    assert_eq!(refused(base(), &v1), TokenError::WrongIssuer);
}

#[test]
fn auth0_with_an_api_identifier_or_the_resource() {
    let iss = "https://tenant.us.auth0.com/";
    let api = "https://api.example.com/mcp";
    let token = forge(
        &header_typ(Some("JWT")),
        &times(
            json!({"iss": iss, "aud": [api, "https://tenant.us.auth0.com/userinfo"],
            "azp": "auth0-client", "sub": "auth0|u1", "scope": "openid mcp:tools"}),
        ),
    );
    let base = || VerifierConfig::new(iss, RESOURCE).with_typ_policy(TypPolicy::Lenient);
    let p = verify_with(base().with_audiences([api]), &token).unwrap();
    assert_eq!(p.client_id(), Some("auth0-client"));
    assert_eq!(refused(base(), &token), TokenError::WrongAudience);
    // A tenant with resource parameters enabled puts the resource itself in `aud`.
    let rfc8707 = forge(
        &header_typ(Some("JWT")),
        &times(
            json!({"iss": iss, "aud": [RESOURCE, "https://tenant.us.auth0.com/userinfo"],
            "azp": "auth0-client", "sub": "auth0|u1", "scope": "mcp:tools"}),
        ),
    );
    assert!(verify_with(base(), &rfc8707).is_ok());
    assert_eq!(
        refused(VerifierConfig::new(iss, RESOURCE), &rfc8707),
        TokenError::InvalidTyp
    );
}

#[test]
fn okta_custom_authorization_server() {
    let iss = "https://dev-1.okta.com/oauth2/default";
    // No `typ`, scopes in an `scp` array, the client in `cid`.
    let token = forge(
        &header_typ(None),
        &times(
            json!({"iss": iss, "aud": "api://default", "cid": "0oa1b2c3", "uid": "00u9",
            "sub": "user@example.com", "scp": ["mcp:tools", "openid"]}),
        ),
    );
    let base = || VerifierConfig::new(iss, RESOURCE).with_typ_policy(TypPolicy::Lenient);
    let p = verify_with(base().with_audiences(["api://default"]), &token).unwrap();
    assert_eq!(p.client_id(), Some("0oa1b2c3"));
    assert!(p.scopes().eq(["mcp:tools", "openid"]));
    assert_eq!(refused(base(), &token), TokenError::WrongAudience);
}

#[test]
fn amazon_cognito_access_tokens_have_no_audience() {
    let iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123";
    let access = forge(
        &header_typ(None),
        &times(
            json!({"iss": iss, "client_id": "3n4b5c", "token_use": "access",
            "scope": "mcp/tools", "sub": "u1", "username": "u1"}),
        ),
    );
    let base = || VerifierConfig::new(iss, RESOURCE).with_typ_policy(TypPolicy::Lenient);
    let p = verify_with(base().with_audienceless_clients(["3n4b5c"]), &access).unwrap();
    assert!(p.has_scope("mcp/tools"));
    assert_eq!(refused(base(), &access), TokenError::MissingAudience);
    // Its ID tokens carry the client id as `aud`: not an access token for this resource.
    let id = forge(
        &header_typ(None),
        &times(json!({"iss": iss, "aud": "3n4b5c", "token_use": "id", "sub": "u1"})),
    );
    assert_eq!(
        refused(base().with_audienceless_clients(["3n4b5c"]), &id),
        TokenError::WrongAudience
    );
}

#[test]
fn roles_are_read_only_when_configured() {
    // Without the option a `roles` claim of any shape is ignored, as before.
    let token = forge(
        &header("ES256"),
        &json!({"iss": ISSUER, "aud": RESOURCE, "exp": IAT + 3600, "iat": IAT,
            "scope": "mcp:tools", "roles": {"not": "a list"}}),
    );
    let p = verify_with(VerifierConfig::new(ISSUER, RESOURCE), &token).unwrap();
    assert!(p.scopes().eq(["mcp:tools"]));
    assert_eq!(
        refused(
            VerifierConfig::new(ISSUER, RESOURCE).with_roles_as_scopes(Some("r:".into())),
            &token
        ),
        TokenError::InvalidClaimType
    );
}

#[test]
fn entra_id_multi_tenant_issuer_template() {
    // The issuer the `common` / `organizations` metadata states.
    let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
    let ours = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let theirs = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let app = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    let v2 = |tid: &str| format!("https://login.microsoftonline.com/{tid}/v2.0");
    let token = |tid: Option<Value>, iss: String| {
        let mut c = json!({"iss": iss, "aud": app, "azp": "client-app", "scp": "mcp.tools",
            "sub": "u1", "ver": "2.0"});
        if let Some(t) = tid {
            c["tid"] = t;
        }
        forge(&header_typ(Some("JWT")), &times(c))
    };
    let config = || {
        VerifierConfig::new(template, RESOURCE)
            .with_typ_policy(TypPolicy::Lenient)
            .with_audiences([app])
    };
    let right = token(Some(json!(ours)), v2(ours));
    // No allow-list: nothing is accepted (the adapters refuse to start this way).
    assert_eq!(refused(config(), &right), TokenError::TenantNotAllowed);
    // The right tenant; GUIDs compare case-insensitively.
    let p = verify_with(config().with_tenants([ours]), &right).unwrap();
    assert_eq!(p.tenant(), Some(ours));
    assert_eq!(p.issuer(), v2(ours));
    assert!(verify_with(config().with_tenants([ours.to_uppercase()]), &right).is_ok());
    // A tenant outside the list.
    let other = token(Some(json!(theirs)), v2(theirs));
    assert_eq!(
        refused(config().with_tenants([ours]), &other),
        TokenError::TenantNotAllowed
    );
    // `iss` and `tid` disagree (either way round), or there is no `tid`.
    for t in [
        token(Some(json!(ours)), v2(theirs)),
        token(Some(json!(theirs)), v2(ours)),
        token(None, v2(ours)),
        token(Some(json!("")), v2(ours)),
    ] {
        assert_eq!(
            refused(config().with_tenants([ours, theirs]), &t),
            TokenError::IssuerTenantMismatch
        );
    }
    // A `tid` that is not a string.
    assert_eq!(
        refused(
            config().with_tenants([ours]),
            &token(Some(json!(7)), v2(ours))
        ),
        TokenError::InvalidClaimType
    );
    // Another host, or a tenant segment with a `/` in it: not this issuer at all.
    let evil = token(
        Some(json!(ours)),
        format!("https://login.example.com/{ours}/v2.0"),
    );
    assert_eq!(
        refused(config().with_any_tenant(), &evil),
        TokenError::WrongIssuer
    );
    let slash = format!("{ours}/x");
    assert_eq!(
        refused(
            config().with_any_tenant(),
            &token(Some(json!(slash)), v2(&slash))
        ),
        TokenError::WrongIssuer
    );
    // Any tenant: both accepted, the `iss`/`tid` match still required.
    assert!(verify_with(config().with_any_tenant(), &other).is_ok());
    assert_eq!(
        refused(
            config().with_any_tenant(),
            &token(Some(json!(ours)), v2(theirs))
        ),
        TokenError::IssuerTenantMismatch
    );
    // A v1 token (`sts.windows.net`) against the v2 configuration: refused; accepted once its
    // issuer form is configured as an additional issuer.
    let v1 = {
        let c = json!({"iss": format!("https://sts.windows.net/{ours}/"), "aud": "api://mcp-server",
            "appid": "client-app", "tid": ours, "scp": "mcp.tools", "sub": "u1", "ver": "1.0"});
        forge(&header_typ(Some("JWT")), &times(c))
    };
    let v1_too = || {
        config()
            .with_tenants([ours])
            .with_audiences([app, "api://mcp-server"])
            .with_additional_issuer("https://sts.windows.net/{tenantid}/")
    };
    assert_eq!(
        refused(
            config()
                .with_tenants([ours])
                .with_audiences(["api://mcp-server"]),
            &v1
        ),
        TokenError::WrongIssuer
    );
    assert!(verify_with(v1_too(), &v1).is_ok());
    assert!(verify_with(v1_too(), &right).is_ok());
    // A single-tenant configuration never reads `tid`.
    let single = VerifierConfig::new(v2(ours), RESOURCE)
        .with_typ_policy(TypPolicy::Lenient)
        .with_audiences([app]);
    assert_eq!(verify_with(single, &right).unwrap().tenant(), None);
}
