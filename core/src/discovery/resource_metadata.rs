//! OAuth 2.0 Protected Resource Metadata ([RFC 9728](https://www.rfc-editor.org/rfc/rfc9728)):
//! the document that tells MCP clients which authorization server governs this resource, and the
//! well-known URLs it is served at.
//!
//! MCP clients check that `resource` has the origin of the MCP URL and is a path prefix of it, send
//! it verbatim as the `resource` parameter (the authorization server copies it into `aud`), and
//! use `authorization_servers[0]` as the issuer, comparing it byte for byte with the issuer's own
//! metadata. So `resource` is exactly the configured resource URL and the issuers are copied
//! verbatim.

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::resource_indicator::UriParts;

/// The RFC 9728 well-known suffix ([§3](https://www.rfc-editor.org/rfc/rfc9728#section-3)).
pub const PRM_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Scopes that never appear in `scopes_supported`: the MCP specification says a resource SHOULD
/// NOT advertise `offline_access` (refresh tokens are the client's and authorization server's
/// business).
const NEVER_ADVERTISED: [&str; 1] = ["offline_access"];

/// A protected-resource metadata document ([RFC 9728 §2](https://www.rfc-editor.org/rfc/rfc9728#section-2)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    resource_policy_uri: Option<String>,
    resource_tos_uri: Option<String>,
    dpop_algs: Vec<String>,
    dpop_required: bool,
}

impl ProtectedResourceMetadata {
    /// The document for `resource` (exactly the configured resource URL), governed by the
    /// authorization server whose issuer is `issuer` (copied verbatim).
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: alloc::vec![issuer.into()],
            scopes_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            resource_policy_uri: None,
            resource_tos_uri: None,
            dpop_algs: Vec::new(),
            dpop_required: false,
        }
    }

    /// Adds another authorization server (clients use the first; others are listed after it).
    #[must_use]
    pub fn with_authorization_server(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if !self.authorization_servers.contains(&issuer) {
            self.authorization_servers.push(issuer);
        }
        self
    }

    /// Replaces `authorization_servers` with `issuers`, in this order (duplicates dropped); an
    /// empty list leaves it as it was (the document must name one).
    #[must_use]
    pub fn with_authorization_servers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list: Vec<String> = Vec::new();
        for issuer in issuers {
            let issuer = issuer.into();
            if !list.contains(&issuer) {
                list.push(issuer);
            }
        }
        if !list.is_empty() {
            self.authorization_servers = list;
        }
        self
    }

    /// Sets `scopes_supported` (duplicates and `offline_access` are dropped; order is kept).
    #[must_use]
    pub fn with_scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported.clear();
        for scope in scopes {
            let scope = scope.into();
            if !scope.is_empty()
                && !NEVER_ADVERTISED.contains(&scope.as_str())
                && !self.scopes_supported.contains(&scope)
            {
                self.scopes_supported.push(scope);
            }
        }
        self
    }

    /// Sets `resource_name`, a human-readable name.
    #[must_use]
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Sets `resource_documentation`, a URL of human-readable documentation.
    #[must_use]
    pub fn with_resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// Sets `resource_policy_uri`.
    #[must_use]
    pub fn with_resource_policy_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_policy_uri = Some(url.into());
        self
    }

    /// Sets `resource_tos_uri`.
    #[must_use]
    pub fn with_resource_tos_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_tos_uri = Some(url.into());
        self
    }

    /// `dpop_signing_alg_values_supported` and `dpop_bound_access_tokens_required`
    /// ([RFC 9728 §2](https://www.rfc-editor.org/rfc/rfc9728#section-2), RFC 9449): the
    /// algorithms DPoP proofs may use, and whether only DPoP-bound tokens are accepted.
    #[must_use]
    pub fn with_dpop<I, S>(mut self, algs: I, required: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dpop_algs = algs.into_iter().map(Into::into).collect();
        self.dpop_required = required;
        self
    }

    /// `resource`.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `authorization_servers`.
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// `scopes_supported`.
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The document as a JSON object. `bearer_methods_supported` is always `["header"]`: MCP
    /// forbids tokens in the query string or the body.
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("resource".into(), Value::from(self.resource.as_str()));
        m.insert(
            "authorization_servers".into(),
            Value::from(self.authorization_servers.clone()),
        );
        m.insert(
            "bearer_methods_supported".into(),
            Value::from(alloc::vec!["header"]),
        );
        if !self.scopes_supported.is_empty() {
            m.insert(
                "scopes_supported".into(),
                Value::from(self.scopes_supported.clone()),
            );
        }
        let optional = [
            ("resource_name", &self.resource_name),
            ("resource_documentation", &self.resource_documentation),
            ("resource_policy_uri", &self.resource_policy_uri),
            ("resource_tos_uri", &self.resource_tos_uri),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                m.insert(name.into(), Value::from(v.as_str()));
            }
        }
        if !self.dpop_algs.is_empty() {
            m.insert(
                "dpop_signing_alg_values_supported".into(),
                Value::from(self.dpop_algs.clone()),
            );
            m.insert(
                "dpop_bound_access_tokens_required".into(),
                Value::from(self.dpop_required),
            );
        }
        Value::Object(m)
    }

    /// The document as JSON bytes, ready to serve.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a `Value` to a `Vec` cannot fail.
        serde_json::to_vec(&self.to_json_value()).unwrap_or_default()
    }

    /// The path-aware well-known URL ([RFC 9728 §3.1](https://www.rfc-editor.org/rfc/rfc9728#section-3.1)):
    /// `https://h/.well-known/oauth-protected-resource/mcp` for `https://h/mcp`. MCP clients that
    /// got no `resource_metadata` in the challenge try it first.
    pub fn well_known_url(&self) -> String {
        well_known_urls(&self.resource).0
    }

    /// The root well-known URL, `https://h/.well-known/oauth-protected-resource`, which clients
    /// try next. The same as [`Self::well_known_url`] for a resource without a path.
    pub fn root_well_known_url(&self) -> String {
        well_known_urls(&self.resource).1
    }

    /// The paths of both well-known URLs (path-aware first); serve the document at both.
    pub fn well_known_paths(&self) -> (String, String) {
        well_known_paths(&self.resource)
    }
}

/// `(path-aware, root)` well-known paths for a resource URL: a terminating `/` after the host is
/// removed, then the well-known suffix goes between the host and the path (and query).
pub fn well_known_paths(resource: &str) -> (String, String) {
    let (path, query) = match UriParts::split(resource) {
        Some(u) => (u.path, u.query),
        None => ("", None),
    };
    let path = if path == "/" { "" } else { path };
    let mut aware = String::from(PRM_WELL_KNOWN);
    aware.push_str(path);
    if let Some(q) = query {
        aware.push('?');
        aware.push_str(q);
    }
    (aware, String::from(PRM_WELL_KNOWN))
}

/// `(path-aware, root)` well-known URLs for a resource URL.
pub fn well_known_urls(resource: &str) -> (String, String) {
    let origin = match UriParts::split(resource) {
        Some(u) => {
            let mut o = String::from(u.scheme);
            o.push_str("://");
            o.push_str(u.authority);
            o
        }
        None => String::new(),
    };
    let (aware, root) = well_known_paths(resource);
    (origin.clone() + &aware, origin + &root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_forms() {
        assert_eq!(
            well_known_urls("https://h.example/mcp"),
            (
                "https://h.example/.well-known/oauth-protected-resource/mcp".into(),
                "https://h.example/.well-known/oauth-protected-resource".into()
            )
        );
        for bare in ["https://h.example", "https://h.example/"] {
            let (a, r) = well_known_urls(bare);
            assert_eq!(a, "https://h.example/.well-known/oauth-protected-resource");
            assert_eq!(a, r);
        }
        assert_eq!(
            well_known_paths("http://127.0.0.1:9401/a/b/").0,
            "/.well-known/oauth-protected-resource/a/b/"
        );
    }
}
