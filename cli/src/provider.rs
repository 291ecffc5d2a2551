//! Which authorization server a metadata document comes from, and what `mcp-authz proxy` needs to
//! accept its real tokens: the advice `mcp-authz check` prints.
//!
//! Recognised from the metadata alone (the issuer's host and path, the endpoints' shape, members
//! only one provider publishes), after each provider's documentation. The advice names flags of
//! `mcp-authz proxy` (the builders have setters of the same names); the README's provider table
//! says the same.

use mcp_authz_core::access_token::TENANT_PLACEHOLDER;
use serde_json::{Map, Value};

/// An authorization server product with known token quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// Auth0 (a tenant domain or a custom domain).
    Auth0,
    /// Microsoft Entra ID (v2.0 endpoints).
    Entra,
    /// Okta (a custom authorization server, or the org authorization server).
    Okta,
    /// Keycloak (a realm).
    Keycloak,
    /// Amazon Cognito (a user pool).
    Cognito,
    /// Google (accounts.google.com).
    Google,
}

impl Provider {
    /// The stable name (`auth0`, `entra`, …), as `check --json` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth0 => "auth0",
            Self::Entra => "entra",
            Self::Okta => "okta",
            Self::Keycloak => "keycloak",
            Self::Cognito => "cognito",
            Self::Google => "google",
        }
    }

    /// The product's name, for people.
    pub fn title(self) -> &'static str {
        match self {
            Self::Auth0 => "Auth0",
            Self::Entra => "Microsoft Entra ID",
            Self::Okta => "Okta",
            Self::Keycloak => "Keycloak",
            Self::Cognito => "Amazon Cognito",
            Self::Google => "Google",
        }
    }
}

/// One thing to configure, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// The `mcp-authz proxy` flag (with a placeholder value), or `None` for a note that no flag
    /// answers.
    pub flag: Option<&'static str>,
    /// Why, in one sentence.
    pub why: &'static str,
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default()
}

fn member<'a>(doc: &'a Map<String, Value>, name: &str) -> &'a str {
    doc.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The provider `doc` (a metadata document whose issuer is `issuer`) comes from, if known.
pub fn recognise(issuer: &str, doc: &Map<String, Value>) -> Option<Provider> {
    let host = host_of(issuer).to_ascii_lowercase();
    let token = member(doc, "token_endpoint");
    if host.contains("microsoftonline.")
        || host.ends_with(".ciamlogin.com")
        || doc.contains_key("cloud_instance_name")
    {
        return Some(Provider::Entra);
    }
    if host.starts_with("cognito-idp.") && host.ends_with(".amazonaws.com") {
        return Some(Provider::Cognito);
    }
    if host == "accounts.google.com" {
        return Some(Provider::Google);
    }
    if token.contains("/protocol/openid-connect/token") || issuer.contains("/realms/") {
        return Some(Provider::Keycloak);
    }
    let okta_host = [".okta.com", ".oktapreview.com", ".okta-emea.com"]
        .iter()
        .any(|s| host.ends_with(s));
    if okta_host || token.ends_with("/v1/token") {
        return Some(Provider::Okta);
    }
    if host.ends_with(".auth0.com")
        || (token.ends_with("/oauth/token")
            && member(doc, "registration_endpoint").ends_with("/oidc/register"))
    {
        return Some(Provider::Auth0);
    }
    None
}

/// What to configure for tokens of `provider` to pass (see the README's provider table).
pub fn advice(provider: Provider, issuer: &str, doc: &Map<String, Value>) -> Vec<Advice> {
    let a = |flag, why| Advice {
        flag: Some(flag),
        why,
    };
    let note = |why| Advice { flag: None, why };
    let mut out = match provider {
        Provider::Auth0 => vec![
            a("--audience API_IDENTIFIER", "Auth0 sets aud to the API identifier (and its userinfo URL), and ignores the RFC 8707 resource unless the tenant's Resource Parameter Compatibility Profile is on"),
            a("--lenient-typ", "Auth0 access tokens carry typ JWT, not at+jwt"),
            a("--role-claim auth0", "for role= rules: Auth0 RBAC puts permissions in the permissions claim (with \"Add Permissions in the Access Token\" on)"),
            a("--as-facade auth0 --facade-audience API_IDENTIFIER --facade-client-id ID --facade-redirect-uri URI", "MCP clients never send audience, and without it Auth0 issues an opaque token: the facade adds it (docs/facade.md)"),
        ],
        Provider::Entra => vec![
            a("--audience APPLICATION_ID", "Entra sets aud to the application's GUID (v2 tokens) or its Application ID URI api://… (v1 tokens), never to the resource URL"),
            a("--lenient-typ", "Entra access tokens carry typ JWT"),
            a("--entra-v1-tokens", "an application whose manifest leaves accessTokenAcceptedVersion unset gets v1 tokens, issued by https://sts.windows.net/{tid}/"),
            a("--roles-as-scopes PREFIX", "app roles come in roles, not in scp (delegated scopes in scp are read by default)"),
            a("--role-claim entra", "for role= rules instead: app roles are in the roles claim"),
            note("the token must be for your own API (Expose an API): tokens for Microsoft Graph cannot be verified by anyone but Graph"),
            a("--as-facade entra --facade-api-uri api://APP --facade-client-id ID --facade-redirect-uri URI", "MCP clients send resource, which Entra v2 refuses (AADSTS9010010), find no PKCE method in its metadata and cannot register: the facade stands in (docs/facade.md)"),
        ],
        Provider::Okta => vec![
            a("--audience AUDIENCE", "a custom authorization server sets aud to its configured audience (api://default for the default one)"),
            a("--lenient-typ", "Okta access tokens carry no at+jwt typ"),
            a("--role-claim okta", "for role= rules: groups are in the groups claim, once a groups claim is added to the authorization server's access tokens"),
            a("--as-facade okta --facade-client-id ID --facade-redirect-uri URI", "Okta registers clients only with an API token: the facade hands MCP clients a pre-registered app (docs/facade.md)"),
        ],
        Provider::Keycloak => vec![
            a("--audience CLIENT_ID", "released Keycloak does not implement RFC 8707: aud is account or a client id an audience mapper adds"),
            a("--client-id-audience CLIENT_ID", "clients registered dynamically get tokens without aud at all; this accepts a listed client's tokens without one (valid for every resource of the realm)"),
            a("--lenient-typ", "Keycloak access tokens carry typ JWT"),
            a("--role-claim keycloak", "for role= rules: realm roles are in realm_access.roles; add --role-claim resource_access.CLIENT_ID.roles for a client's roles"),
        ],
        Provider::Cognito => vec![
            a("--client-id-audience CLIENT_ID", "Cognito access tokens have no aud, only client_id and token_use access"),
            a("--lenient-typ", "Cognito access tokens carry no typ"),
            a("--role-claim cognito", "for role= rules: user pool groups are in cognito:groups"),
        ],
        Provider::Google => vec![note(
            "Google's access tokens are opaque, not JWTs: they cannot be verified with jwks_uri (its JWTs are ID tokens, which are not access tokens)",
        )],
    };
    if provider == Provider::Okta && !issuer.contains("/oauth2/") {
        out.push(note("this is the org authorization server: its access tokens are for Okta's own APIs and cannot be verified by a resource server; use a custom authorization server (…/oauth2/default)"));
    }
    if issuer.contains(TENANT_PLACEHOLDER) {
        out.push(a("--tenant TID", "the issuer is a tenant template (multi-tenant metadata): tokens name their own tenant, and only listed tenants are accepted"));
        out.push(a(
            "--allow-any-tenant",
            "instead of --tenant: accept every tenant (a multi-tenant SaaS)",
        ));
    }
    let metadata_documents =
        doc.get("client_id_metadata_document_supported") == Some(&Value::Bool(true));
    if !doc.contains_key("registration_endpoint") && !metadata_documents {
        out.push(a("--allow-missing-registration", "there is neither a registration_endpoint nor Client ID Metadata Document support: MCP clients must be registered with the provider beforehand (their client id configured in the client)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> (String, Map<String, Value>) {
        let path = format!(
            "{}/../core/tests/data/as-metadata/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let Value::Object(map) = v else { panic!() };
        (map["issuer"].as_str().unwrap().to_owned(), map)
    }

    #[test]
    fn the_provider_shaped_documents_are_recognised() {
        for (file, provider) in [
            ("auth0.json", Provider::Auth0),
            ("entra.json", Provider::Entra),
            ("entra-common.json", Provider::Entra),
            ("okta.json", Provider::Okta),
            ("keycloak.json", Provider::Keycloak),
            ("google.json", Provider::Google),
            ("cognito.json", Provider::Cognito),
        ] {
            let (issuer, map) = doc(file);
            assert_eq!(recognise(&issuer, &map), Some(provider), "{file}");
        }
        let cognito = serde_json::json!({
            "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
            "token_endpoint": "https://pool.auth.eu-west-1.amazoncognito.com/oauth2/token",
        });
        let Value::Object(map) = cognito else {
            panic!()
        };
        assert_eq!(
            recognise(map["issuer"].as_str().unwrap(), &map),
            Some(Provider::Cognito)
        );
        // Something else: no guess.
        let other = serde_json::json!({"issuer": "https://as.example.com", "token_endpoint": "https://as.example.com/token"});
        let Value::Object(map) = other else { panic!() };
        assert_eq!(recognise("https://as.example.com", &map), None);
    }

    #[test]
    fn advice_names_the_flags_each_provider_needs() {
        let flags = |file: &str| {
            let (issuer, map) = doc(file);
            let p = recognise(&issuer, &map).unwrap();
            advice(p, &issuer, &map)
                .into_iter()
                .filter_map(|a| a.flag)
                .collect::<Vec<_>>()
        };
        let entra = flags("entra-common.json");
        for f in [
            "--audience APPLICATION_ID",
            "--lenient-typ",
            "--tenant TID",
            "--allow-missing-registration",
        ] {
            assert!(entra.contains(&f), "{f}: {entra:?}");
        }
        assert!(
            !flags("entra.json").contains(&"--tenant TID"),
            "a single tenant needs no list"
        );
        assert!(flags("keycloak.json").contains(&"--client-id-audience CLIENT_ID"));
        assert!(flags("auth0.json").contains(&"--audience API_IDENTIFIER"));
        // The facade each provider needs for MCP clients (docs/facade.md).
        assert!(entra.iter().any(|f| f.starts_with("--as-facade entra ")));
        assert!(flags("auth0.json")
            .iter()
            .any(|f| f.starts_with("--as-facade auth0 ")));
        assert!(flags("okta.json")
            .iter()
            .any(|f| f.starts_with("--as-facade okta ")));
        assert!(!flags("keycloak.json")
            .iter()
            .any(|f| f.starts_with("--as-facade")));
        assert!(!flags("auth0.json").contains(&"--allow-missing-registration"));
        assert!(flags("google.json").contains(&"--allow-missing-registration"));
        // Client ID Metadata Documents stand in for the registration endpoint.
        assert!(!flags("keycloak-cimd.json").contains(&"--allow-missing-registration"));
        assert!(flags("cognito.json").contains(&"--client-id-audience CLIENT_ID"));
    }

    #[test]
    fn every_role_claim_the_advice_names_is_one_the_proxy_takes() {
        let mut named = 0;
        for file in [
            "auth0.json",
            "cognito.json",
            "entra.json",
            "keycloak.json",
            "okta.json",
        ] {
            let (issuer, map) = doc(file);
            let provider = recognise(&issuer, &map).unwrap();
            for a in advice(provider, &issuer, &map) {
                if let Some(value) = a.flag.and_then(|f| f.strip_prefix("--role-claim ")) {
                    named += 1;
                    assert!(
                        mcp_authz_core::rules::RoleClaims::provider(value).is_some(),
                        "{file}: {value}"
                    );
                }
            }
        }
        assert_eq!(named, 5);
    }
}
