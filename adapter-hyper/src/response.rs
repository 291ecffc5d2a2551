//! The only place where a core [`Response`] (a challenge, a metadata document, a preflight)
//! becomes an HTTP response.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_body_util::Full;
use mcp_authz_core::Response;

/// Converts a core response. For `HEAD` the headers are kept and the body dropped.
pub fn to_http(response: Response, head: bool) -> http::Response<Full<Bytes>> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(response.body)
    };
    let mut out = http::Response::new(Full::new(body));
    *out.status_mut() = http::StatusCode::from_u16(response.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (name, value) in response.headers {
        // The core's header names are static lower-case tokens; values are ASCII it built.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    out
}

/// A plain JSON error response made by the adapter itself (oversized bodies, internal errors).
pub fn json_error(
    status: http::StatusCode,
    error: &str,
    description: &str,
) -> http::Response<Full<Bytes>> {
    let body = format!(r#"{{"error":"{error}","error_description":"{description}"}}"#);
    let mut out = http::Response::new(Full::new(Bytes::from(body)));
    *out.status_mut() = status;
    out.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}
