//! The HTTP vocabulary between the adapters and the core
//! ([RFC 9110 §6](https://www.rfc-editor.org/rfc/rfc9110#section-6), messages as the core sees
//! them): what an adapter knows of a request's head ([`Request`]), the keys it may verify with
//! ([`KeyState`]), and a complete answer for it to send ([`Response`]). No IO, no HTTP types:
//! adapters convert in one place each.

use alloc::string::String;
use alloc::vec::Vec;

pub use crate::jose::jwks_refresh::{KeySource, KeyState, RetryAfter};

/// A complete HTTP answer, ready for an adapter to turn into its own response type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(&'static str, String)>,
    /// The body (for `HEAD`, adapters send none).
    pub body: Vec<u8>,
    /// Why the request was refused (the stable reason name), for logs; `None` for answers that
    /// are not refusals (metadata documents, preflights).
    pub reason: Option<&'static str>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the adapter knows of one request: its head, never its body (the exchange asks for the
/// body when the scope policy needs it, after the token was verified).
///
/// Its `Debug` shows how many `Authorization` and `DPoP` values there are and whether a query
/// is present, never their bytes (a token may travel in any of them).
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// Every `Authorization` header value.
    pub authorization: &'a [&'a [u8]],
    /// Every `Mcp-Method` header value.
    pub mcp_method: &'a [&'a [u8]],
    /// Every `Mcp-Name` header value.
    pub mcp_name: &'a [&'a [u8]],
    /// Every `Content-Type` header value.
    pub content_type: &'a [&'a [u8]],
    /// Every `Content-Encoding` header value.
    pub content_encoding: &'a [&'a [u8]],
    /// Every `Origin` header value.
    pub origin: &'a [&'a [u8]],
    /// Every `DPoP` header value (RFC 9449 proofs).
    pub dpop: &'a [&'a [u8]],
    /// Every `MCP-Protocol-Version` value.
    pub mcp_protocol_version: &'a [&'a [u8]],
    /// Every `Mcp-Session-Id` value (a session's id is a credential of sorts: `Debug` shows how
    /// many, not the bytes).
    pub mcp_session_id: &'a [&'a [u8]],
    /// Every `Mcp-Param-*` header (MCP 2026-07-28 tool parameters mirrored into headers;
    /// [`param_headers`](crate::param_headers)): its name, as received, and its value.
    pub mcp_params: &'a [(&'a [u8], &'a [u8])],
    /// Every `Access-Control-Request-Headers` value (a CORS preflight's; the
    /// [Fetch standard](https://fetch.spec.whatwg.org/#http-access-control-request-headers)).
    pub cors_request_headers: &'a [&'a [u8]],
    /// Whether the request may have a body: anything but a known-empty one (chunked bodies and
    /// bodies of unknown length count).
    pub has_body: bool,
}

/// A header's values in `Debug`: printed as visible ASCII, or escaped.
struct Values<'a>(&'a [&'a [u8]]);

impl core::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|v| v.escape_ascii()))
            .finish()
    }
}

/// Values that may carry a token in `Debug`: their number only.
struct Redacted(usize);

impl core::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "<{} value(s) redacted>", self.0)
    }
}

impl core::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &Redacted(usize::from(self.query.is_some())))
            .field("authorization", &Redacted(self.authorization.len()))
            .field("mcp_method", &Values(self.mcp_method))
            .field("mcp_name", &Values(self.mcp_name))
            .field("content_type", &Values(self.content_type))
            .field("content_encoding", &Values(self.content_encoding))
            .field("origin", &Values(self.origin))
            .field("dpop", &Redacted(self.dpop.len()))
            .field("mcp_protocol_version", &Values(self.mcp_protocol_version))
            .field("mcp_session_id", &Redacted(self.mcp_session_id.len()))
            .field("mcp_params", &self.mcp_params.len())
            .field("cors_request_headers", &Values(self.cors_request_headers))
            .field("has_body", &self.has_body)
            .finish()
    }
}

impl<'a> Request<'a> {
    /// A request with only a method and a path (no body).
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            ..Self::default()
        }
    }

    /// Sets the query string.
    #[must_use]
    pub fn with_query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    /// Sets the `Authorization` header values.
    #[must_use]
    pub fn with_authorization(mut self, values: &'a [&'a [u8]]) -> Self {
        self.authorization = values;
        self
    }

    /// Sets the `DPoP` header values.
    #[must_use]
    pub fn with_dpop(mut self, values: &'a [&'a [u8]]) -> Self {
        self.dpop = values;
        self
    }

    /// Sets the `Origin` header values.
    #[must_use]
    pub fn with_origin(mut self, values: &'a [&'a [u8]]) -> Self {
        self.origin = values;
        self
    }

    /// Sets the `MCP-Protocol-Version` values.
    #[must_use]
    pub fn with_mcp_protocol_version(mut self, values: &'a [&'a [u8]]) -> Self {
        self.mcp_protocol_version = values;
        self
    }

    /// Sets the `Mcp-Session-Id` values.
    #[must_use]
    pub fn with_mcp_session_id(mut self, values: &'a [&'a [u8]]) -> Self {
        self.mcp_session_id = values;
        self
    }

    /// Sets the `Access-Control-Request-Headers` values (a CORS preflight's).
    #[must_use]
    pub fn with_cors_request_headers(mut self, values: &'a [&'a [u8]]) -> Self {
        self.cors_request_headers = values;
        self
    }

    /// Sets the `Mcp-Method` and `Mcp-Name` header values.
    #[must_use]
    pub fn with_mcp_headers(mut self, method: &'a [&'a [u8]], name: &'a [&'a [u8]]) -> Self {
        self.mcp_method = method;
        self.mcp_name = name;
        self
    }

    /// Sets the `Mcp-Param-*` headers: each one's name (with its prefix) and value.
    #[must_use]
    pub fn with_mcp_params(mut self, params: &'a [(&'a [u8], &'a [u8])]) -> Self {
        self.mcp_params = params;
        self
    }

    /// Says that the request has a body, sent with these `Content-Type` and `Content-Encoding`
    /// header values.
    #[must_use]
    pub fn with_body(
        mut self,
        content_type: &'a [&'a [u8]],
        content_encoding: &'a [&'a [u8]],
    ) -> Self {
        self.content_type = content_type;
        self.content_encoding = content_encoding;
        self.has_body = true;
        self
    }
}
