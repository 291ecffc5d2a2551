//! The authorization-server facade's rewrites and refusals, per profile: what the provider
//! receives, what the client gets back, and that nothing is ever redirected to a URI that is not
//! on the allow-list.

use std::collections::BTreeMap;

use mcp_authz_core::as_facade::{
    Facade, FacadeError, FacadeProfile, Transaction, MAX_REQUEST_BYTES, TRANSACTION_TTL_SECS,
};
use mcp_authz_core::UnixTime;
use proptest::prelude::*;
use serde_json::json;

use crate::common::form_decode;

const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
const ISSUER: &str = "https://mcp.example.com/facade/entra";
const AUTHORIZE: &str = "https://login.microsoftonline.com/t/oauth2/v2.0/authorize";
const TOKEN: &str = "https://login.microsoftonline.com/t/oauth2/v2.0/token";

fn facade(profile: FacadeProfile, secret: Option<&str>) -> Facade {
    Facade::new(
        ISSUER,
        profile,
        AUTHORIZE,
        TOKEN,
        vec![
            "api://mcp-app/mcp.tools".into(),
            "openid".into(),
            "offline_access".into(),
        ],
        "app-client-id",
        secret.map(String::from),
        vec![
            "http://127.0.0.1/callback".into(),
            "https://claude.ai/api/mcp/auth_callback".into(),
        ],
    )
    .for_resource(MCP, vec!["mcp.tools".into(), "mcp:tools".into()])
}

const MCP: &str = "https://mcp.example.com/mcp";

fn entra() -> Facade {
    facade(
        FacadeProfile::Entra {
            api_uri: "api://mcp-app".into(),
        },
        None,
    )
}

/// The query of `url` as a map (each key once).
fn query(url: &str) -> BTreeMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    let mut out = BTreeMap::new();
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap();
        assert!(
            out.insert(form_decode(k), form_decode(v)).is_none(),
            "repeated {k}"
        );
    }
    out
}

const GOOD: &str = "response_type=code&client_id=app-client-id&redirect_uri=http%3A%2F%2F127.0.0.1%3A53123%2Fcallback&scope=mcp.tools+offline_access+openid&state=client-state-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example.com%2Fmcp";

#[test]
fn the_metadata_is_the_facades_own() {
    let doc = entra().metadata();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(doc["registration_endpoint"], format!("{ISSUER}/register"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    // Entra's full-URI scopes, in the short form tokens carry and clients ask for.
    assert_eq!(
        doc["scopes_supported"],
        json!(["mcp.tools", "openid", "offline_access"])
    );
}

#[test]
fn entra_authorize_drops_resource_expands_scopes_and_keeps_pkce_and_state() {
    let f = entra();
    let (tx, redirect) = f.authorize(GOOD.as_bytes(), "tx-1", NOW).unwrap();
    assert!(redirect.location.starts_with(&format!("{AUTHORIZE}?")));
    let q = query(&redirect.location);
    assert!(
        !q.contains_key("resource"),
        "Entra refuses resource (AADSTS9010010)"
    );
    assert_eq!(q["scope"], "api://mcp-app/mcp.tools offline_access openid");
    assert_eq!(q["redirect_uri"], format!("{ISSUER}/callback"));
    assert_eq!(q["state"], "tx-1");
    assert_eq!(
        q["code_challenge"],
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["client_id"], "app-client-id");
    assert_eq!(q["response_type"], "code");
    // The callback sends the browser back to the client, with its own state and our iss.
    let back = f
        .callback(b"code=provider-code-1&state=tx-1&session_state=x", tx)
        .unwrap();
    assert!(back
        .location
        .starts_with("http://127.0.0.1:53123/callback?"));
    let q = query(&back.location);
    assert_eq!(q["code"], "provider-code-1");
    assert_eq!(q["state"], "client-state-1");
    assert_eq!(q["iss"], ISSUER);
}

#[test]
fn auth0_authorize_adds_the_audience() {
    let f = facade(
        FacadeProfile::Auth0 {
            audience: "https://mcp-api".into(),
        },
        None,
    );
    let (_, redirect) = f.authorize(GOOD.as_bytes(), "tx", NOW).unwrap();
    let q = query(&redirect.location);
    assert_eq!(q["audience"], "https://mcp-api");
    assert!(!q.contains_key("resource"));
    assert_eq!(q["scope"], "mcp.tools offline_access openid");
}

#[test]
fn provider_errors_are_relayed_to_the_client() {
    let f = entra();
    let (tx, _) = f.authorize(GOOD.as_bytes(), "tx", NOW).unwrap();
    let back = f
        .callback(
            b"error=access_denied&error_description=AADSTS65004%3A+User+declined&state=tx",
            tx.clone(),
        )
        .unwrap();
    let q = query(&back.location);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["error_description"], "AADSTS65004: User declined");
    assert_eq!(q["state"], "client-state-1");
    assert_eq!(f.callback(b"state=tx", tx), Err(FacadeError::Malformed));
}

#[test]
fn every_authorize_refusal() {
    let f = entra();
    let with = |from: &str, to: &str| GOOD.replace(from, to);
    let cases: Vec<(String, FacadeError)> = vec![
        (
            with(
                "http%3A%2F%2F127.0.0.1%3A53123%2Fcallback",
                "https%3A%2F%2Fevil.example%2Fcallback",
            ),
            FacadeError::RedirectUriNotAllowed,
        ),
        // Not loopback: the port matters.
        (
            with(
                "http%3A%2F%2F127.0.0.1%3A53123%2Fcallback",
                "https%3A%2F%2Fclaude.ai%3A444%2Fapi%2Fmcp%2Fauth_callback",
            ),
            FacadeError::RedirectUriNotAllowed,
        ),
        // Loopback, another path.
        (
            with("%2Fcallback", "%2Fother"),
            FacadeError::RedirectUriNotAllowed,
        ),
        (
            with(
                "http%3A%2F%2F127.0.0.1%3A53123%2Fcallback",
                "http%3A%2F%2F127.0.0.1%3A53123%2Fcallback%23frag",
            ),
            FacadeError::RedirectUriNotAllowed,
        ),
        (
            with(
                "&redirect_uri=http%3A%2F%2F127.0.0.1%3A53123%2Fcallback",
                "",
            ),
            FacadeError::RedirectUriNotAllowed,
        ),
        (
            with("client_id=app-client-id", "client_id=someone-else"),
            FacadeError::UnknownClient,
        ),
        (
            with("response_type=code", "response_type=token"),
            FacadeError::UnsupportedResponseType,
        ),
        (
            with("code_challenge_method=S256", "code_challenge_method=plain"),
            FacadeError::PkceRequired,
        ),
        (
            with(
                "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "",
            ),
            FacadeError::PkceRequired,
        ),
        (
            format!("{GOOD}&request_uri=https%3A%2F%2Fx"),
            FacadeError::UnexpectedParameter,
        ),
        (format!("{GOOD}&state=again"), FacadeError::Malformed),
        (
            format!("{GOOD}&login_hint={}", "a".repeat(MAX_REQUEST_BYTES)),
            FacadeError::TooLarge,
        ),
        (
            with(
                "state=client-state-1",
                &format!("state={}", "s".repeat(513)),
            ),
            FacadeError::TooLarge,
        ),
        // Userinfo before the host: the browser would go to evil.example, with the code.
        (
            with(
                "http%3A%2F%2F127.0.0.1%3A53123%2Fcallback",
                "http%3A%2F%2F127.0.0.1%3A1%40evil.example%2Fcallback",
            ),
            FacadeError::RedirectUriNotAllowed,
        ),
        (
            with(
                "http%3A%2F%2F127.0.0.1%3A53123%2Fcallback",
                "http%3A%2F%2Fuser%40127.0.0.1%3A53123%2Fcallback",
            ),
            FacadeError::RedirectUriNotAllowed,
        ),
        (
            with(
                "http%3A%2F%2F127.0.0.1%3A53123%2Fcallback",
                "http%3A%2F%2F127.0.0.1%3A53123%5C%40evil.example%2Fcallback",
            ),
            FacadeError::RedirectUriNotAllowed,
        ),
        // The facade's client is lent to this resource only: no other API's scope.
        (
            with(
                "scope=mcp.tools+offline_access+openid",
                "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
            ),
            FacadeError::InvalidScope,
        ),
        (
            with(
                "scope=mcp.tools+offline_access+openid",
                "scope=api%3A%2F%2Fother-app%2Fx",
            ),
            FacadeError::InvalidScope,
        ),
        (
            with("scope=mcp.tools+offline_access+openid", "scope=mcp.admin"),
            FacadeError::InvalidScope,
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(
            f.authorize(q.as_bytes(), "tx", NOW).map(|_| ()),
            Err(expected),
            "{q}"
        );
    }
    // Loopback on any port, IPv6 and localhost forms included, is the allowed loopback URI.
    for ok in [
        "http://127.0.0.1/callback",
        "http://127.0.0.1:1/callback",
        "http://127.0.0.1:65535/callback",
    ] {
        assert!(f.redirect_uri_allowed(ok), "{ok}");
    }
    assert!(!f.redirect_uri_allowed("http://[::1]:8080/callback"));
    assert!(!f.redirect_uri_allowed("http://127.0.0.1:99999999/callback"));
    assert!(!f.redirect_uri_allowed("http://127.0.0.1:/callback"));
    assert!(!f.redirect_uri_allowed("http://localhost:1@evil.example/callback"));
    // A full-URI scope under the App ID URI is the resource's own.
    let full = GOOD.replace("scope=mcp.tools", "scope=api%3A%2F%2Fmcp-app%2Fmcp.tools");
    assert!(f.authorize(full.as_bytes(), "tx", NOW).is_ok());
    // A profile that relays `resource`: only this resource's.
    let generic = facade(FacadeProfile::Generic, None);
    assert!(generic.authorize(GOOD.as_bytes(), "tx", NOW).is_ok());
    let elsewhere = GOOD.replace(
        "https%3A%2F%2Fmcp.example.com%2Fmcp",
        "https%3A%2F%2Fgraph.microsoft.com",
    );
    assert_eq!(
        generic
            .authorize(elsewhere.as_bytes(), "tx", NOW)
            .map(|_| ()),
        Err(FacadeError::InvalidTarget)
    );
    assert!(!f.redirect_uri_allowed("http://127.0.0.1.evil.example/callback"));
    assert!(!f.redirect_uri_allowed("https://127.0.0.1/callback"));
}

#[test]
fn transactions_survive_a_shared_store_and_expire() {
    let f = entra();
    let (tx, _) = f.authorize(GOOD.as_bytes(), "tx-1", NOW).unwrap();
    assert_eq!(tx.expires_at(), NOW.saturating_add(TRANSACTION_TTL_SECS));
    // Through a store replicas share: the same transaction, the same answer.
    let back = Transaction::decode(&tx.encode()).unwrap();
    assert_eq!(back, tx);
    assert_eq!(
        f.callback(b"code=c&state=tx-1", back),
        f.callback(b"code=c&state=tx-1", tx)
    );
    for junk in [
        "",
        "{}",
        r#"{"r":1,"s":null,"e":1}"#,
        r#"{"r":"x","s":2,"e":1}"#,
        "not json",
    ] {
        assert!(Transaction::decode(junk).is_none(), "{junk}");
    }
}

#[test]
fn the_token_request_goes_to_the_provider_with_the_callback_and_the_facades_client() {
    let form = "grant_type=authorization_code&code=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A53123%2Fcallback&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&client_id=app-client-id&resource=https%3A%2F%2Fmcp.example.com%2Fmcp";
    // A public client: the client id in the form, no secret.
    let r = entra().token(form.as_bytes()).unwrap();
    assert_eq!(r.url, TOKEN);
    assert!(r.authorization.is_none());
    let q = query(&format!("?{}", r.body));
    assert_eq!(q["redirect_uri"], format!("{ISSUER}/callback"));
    assert_eq!(
        q["code_verifier"],
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    assert_eq!(q["client_id"], "app-client-id");
    assert!(!q.contains_key("resource"));
    // A confidential app: HTTP Basic, no client_id in the form.
    let confidential = facade(
        FacadeProfile::Entra {
            api_uri: "api://mcp-app".into(),
        },
        Some("s3cret"),
    );
    let r = confidential.token(form.as_bytes()).unwrap();
    let basic = r.authorization.unwrap();
    let raw =
        <base64ct::Base64 as base64ct::Encoding>::decode_vec(&basic["Basic ".len()..]).unwrap();
    assert_eq!(raw, b"app-client-id:s3cret");
    assert!(!query(&format!("?{}", r.body)).contains_key("client_id"));
    // Another API's scope on a refresh: refused there too.
    assert_eq!(
        entra()
            .token(b"grant_type=refresh_token&refresh_token=rt&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default")
            .map(|_| ()),
        Err(FacadeError::InvalidScope)
    );
    // Refresh, scopes expanded.
    let r = entra()
        .token(b"grant_type=refresh_token&refresh_token=rt&scope=mcp.tools")
        .unwrap();
    assert_eq!(
        query(&format!("?{}", r.body))["scope"],
        "api://mcp-app/mcp.tools"
    );
    // Refusals.
    let f = entra();
    assert_eq!(
        f.token(b"grant_type=client_credentials").map(|_| ()),
        Err(FacadeError::UnsupportedGrantType)
    );
    assert_eq!(
        f.token(form.replace("127.0.0.1%3A53123", "evil.example").as_bytes())
            .map(|_| ()),
        Err(FacadeError::RedirectUriNotAllowed)
    );
    assert_eq!(
        f.token(
            form.replace(
                "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                ""
            )
            .as_bytes()
        )
        .map(|_| ()),
        Err(FacadeError::PkceRequired)
    );
    assert_eq!(
        f.token(
            form.replace("client_id=app-client-id", "client_id=other")
                .as_bytes()
        )
        .map(|_| ()),
        Err(FacadeError::UnknownClient)
    );
    assert_eq!(
        f.token(format!("{form}&client_secret=guess").as_bytes())
            .map(|_| ()),
        Err(FacadeError::UnexpectedParameter)
    );
}

#[test]
fn registration_hands_out_the_configured_client_for_allowed_redirect_uris() {
    let f = entra();
    let ok = f
        .register(br#"{"redirect_uris":["http://127.0.0.1:40123/callback"],"client_name":"Claude","token_endpoint_auth_method":"none"}"#)
        .unwrap();
    assert_eq!(ok["client_id"], "app-client-id");
    assert_eq!(ok["token_endpoint_auth_method"], "none");
    assert!(ok.get("client_secret").is_none());
    assert_eq!(
        f.register(br#"{"redirect_uris":["http://127.0.0.1/callback","https://evil.example/cb"]}"#),
        Err(FacadeError::RedirectUriNotAllowed)
    );
    assert_eq!(
        f.register(br#"{"redirect_uris":[]}"#),
        Err(FacadeError::InvalidClientMetadata)
    );
    assert_eq!(
        f.register(b"not json"),
        Err(FacadeError::InvalidClientMetadata)
    );
    assert_eq!(
        f.register(br#"{"redirect_uris":["a"],"redirect_uris":["b"]}"#),
        Err(FacadeError::InvalidClientMetadata)
    );
}

proptest! {
    /// Whatever the query, `authorize` never panics, and when it accepts, the browser goes to
    /// the provider alone and the client will only ever be sent back to an allowed URI.
    #[test]
    fn authorize_accepts_only_what_it_may_redirect(raw in proptest::collection::vec(any::<u8>(), 0..600), tail in "[a-z_=&%0-9A-F:/.]{0,80}") {
        let f = entra();
        for q in [raw.clone(), format!("{GOOD}&{tail}").into_bytes(), format!("{tail}&{GOOD}").into_bytes()] {
            if let Ok((tx, redirect)) = f.authorize(&q, "tx", NOW) {
                let provider = format!("{AUTHORIZE}?");
                prop_assert!(redirect.location.starts_with(&provider));
                let back = f.callback(b"code=c&state=tx", tx).unwrap();
                let target = back.location.split('?').next().unwrap().to_owned();
                prop_assert!(f.redirect_uri_allowed(&target), "{}", target);
            }
        }
    }
}
