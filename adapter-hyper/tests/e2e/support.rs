//! What the end-to-end tests share: the kit's authorization-server double and HTTP helpers, and
//! a started `Authz` against the double.

pub use mcp_authz_testkit::as_double::{AsDouble, Knobs};
pub use mcp_authz_testkit::client::{bind, send};
pub use mcp_authz_testkit::jwt::ed_jwk;
use ring::signature::Ed25519KeyPair;

/// A fresh Ed25519 key.
pub fn new_ed25519() -> Ed25519KeyPair {
    mcp_authz_testkit::jwt::new_ed25519().unwrap()
}

/// An EdDSA access token signed with `key`.
pub fn sign_eddsa(key: &Ed25519KeyPair, kid: &str, claims: &serde_json::Value) -> String {
    mcp_authz_testkit::jwt::sign_eddsa(key, kid, claims).unwrap()
}

/// A started `Authz` for `resource` against this double, with the demo scope policy.
pub async fn authz(double: &AsDouble, resource: &str) -> mcp_authz_hyper::Authz {
    authz_with(double, resource, |b| b).await
}

/// [`authz`] with more builder settings.
pub async fn authz_with(
    double: &AsDouble,
    resource: &str,
    edit: impl FnOnce(mcp_authz_hyper::AuthzBuilder) -> mcp_authz_hyper::AuthzBuilder,
) -> mcp_authz_hyper::Authz {
    let builder = mcp_authz_hyper::Authz::builder(resource);
    edit(builder)
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(
            mcp_authz_core::ScopePolicy::new(["mcp:tools"])
                .with_tool_scopes("admin_reset", ["mcp:admin"]),
        )
        .build()
        .await
        .unwrap()
}
