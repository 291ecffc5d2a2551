//! The request head as the core reads it, from an `http::HeaderMap`.

use mcp_authz_core::param_headers::PARAM_HEADER_PREFIX;
use mcp_authz_core::Request as CoreRequest;

/// Every value of the request headers the core reads, borrowed from a `HeaderMap` (shared by
/// both adapters). Its `Debug` is the core request's: no `Authorization` or `DPoP` bytes.
#[derive(Default)]
pub(crate) struct CoreHeaders<'a> {
    authorization: Vec<&'a [u8]>,
    mcp_method: Vec<&'a [u8]>,
    mcp_name: Vec<&'a [u8]>,
    content_type: Vec<&'a [u8]>,
    content_encoding: Vec<&'a [u8]>,
    origin: Vec<&'a [u8]>,
    dpop: Vec<&'a [u8]>,
    cors_request_headers: Vec<&'a [u8]>,
    mcp_session_id: Vec<&'a [u8]>,
    mcp_protocol_version: Vec<&'a [u8]>,
    mcp_params: Vec<(&'a [u8], &'a [u8])>,
}

impl std::fmt::Debug for CoreHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.request("", "", None, true), f)
    }
}

impl<'a> CoreHeaders<'a> {
    /// Collects the values from `headers`, in one pass over them (a lookup by name per header
    /// the core reads parsed and hashed ten names a request; `HeaderMap` names are lower case,
    /// and each name's values come in order).
    pub(crate) fn new(headers: &'a http::HeaderMap) -> Self {
        let mut all = Self::default();
        for (name, value) in headers {
            let value = value.as_bytes();
            let into = match name.as_str() {
                "authorization" => &mut all.authorization,
                "mcp-method" => &mut all.mcp_method,
                "mcp-name" => &mut all.mcp_name,
                "content-type" => &mut all.content_type,
                "content-encoding" => &mut all.content_encoding,
                "origin" => &mut all.origin,
                "dpop" => &mut all.dpop,
                "access-control-request-headers" => &mut all.cors_request_headers,
                "mcp-session-id" => &mut all.mcp_session_id,
                "mcp-protocol-version" => &mut all.mcp_protocol_version,
                other if other.starts_with(PARAM_HEADER_PREFIX) => {
                    all.mcp_params.push((other.as_bytes(), value));
                    continue;
                }
                _ => continue,
            };
            into.push(value);
        }
        all
    }

    /// The core's view of the request head: `path` is the path the guard judges (adapters
    /// behind a stage prefix pass the public path), `has_body` whether a body may follow.
    pub(crate) fn request(
        &'a self,
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        has_body: bool,
    ) -> CoreRequest<'a> {
        let req = CoreRequest::new(method, path)
            .with_query(query)
            .with_authorization(&self.authorization)
            .with_mcp_headers(&self.mcp_method, &self.mcp_name)
            .with_origin(&self.origin)
            .with_dpop(&self.dpop)
            .with_cors_request_headers(&self.cors_request_headers)
            .with_mcp_session_id(&self.mcp_session_id)
            .with_mcp_protocol_version(&self.mcp_protocol_version)
            .with_mcp_params(&self.mcp_params);
        match has_body {
            true => req.with_body(&self.content_type, &self.content_encoding),
            false => req,
        }
    }
}
