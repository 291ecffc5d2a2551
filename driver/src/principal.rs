//! The verified principal, one call away from a request.

use std::sync::Arc;

use mcp_authz_core::Principal;

/// The [`Principal`] the middleware put in a request, from the request, its parts or its
/// extensions: `parts.principal()` (an rmcp tool gets `Extension<http::request::Parts>`), or
/// `req.principal()` in a plain handler.
pub trait PrincipalExt {
    /// The verified principal; `None` on a public path (or a request the middleware never saw).
    fn principal(&self) -> Option<&Arc<Principal>>;
}

impl PrincipalExt for http::Extensions {
    fn principal(&self) -> Option<&Arc<Principal>> {
        self.get::<Arc<Principal>>()
    }
}

impl PrincipalExt for http::request::Parts {
    fn principal(&self) -> Option<&Arc<Principal>> {
        self.extensions.principal()
    }
}

impl<B> PrincipalExt for http::Request<B> {
    fn principal(&self) -> Option<&Arc<Principal>> {
        self.extensions().principal()
    }
}
