//! The only place where a core [`Response`] (a challenge, a metadata document, a preflight)
//! becomes an HTTP response.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_body_util::Full;
use mcp_authz_core::Response;

/// Converts a core response, with the body type `make_body` builds. For `HEAD` the headers are
/// kept and the body dropped.
pub(crate) fn build<B>(
    response: Response,
    head: bool,
    make_body: impl FnOnce(Bytes) -> B,
) -> http::Response<B> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(response.body)
    };
    let mut out = http::Response::new(make_body(body));
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

/// A plain JSON error made by an adapter itself (oversized bodies, internal errors), with the
/// body type `make_body` builds.
pub fn json_error_with<B>(
    status: http::StatusCode,
    error: &str,
    description: &str,
    make_body: impl FnOnce(Bytes) -> B,
) -> http::Response<B> {
    let mut m = serde_json::Map::new();
    m.insert("error".into(), error.into());
    m.insert("error_description".into(), description.into());
    let body = serde_json::to_vec(&m).unwrap_or_default();
    let mut out = http::Response::new(make_body(Bytes::from(body)));
    *out.status_mut() = status;
    out.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

/// [`json_error_with`] with a `Full<Bytes>` body.
pub fn json_error(
    status: http::StatusCode,
    error: &str,
    description: &str,
) -> http::Response<Full<Bytes>> {
    json_error_with(status, error, description, Full::new)
}
