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

/// What kind of answer the inner service gave to a list request, for the list filter: one it can
/// read whole, one it reads event by event, or one it cannot read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListAnswer {
    /// `application/json` without a content coding.
    Json,
    /// `text/event-stream` without a content coding.
    EventStream,
    /// Another type, no type, or a content coding: what it lists cannot be known.
    Unreadable,
}

impl ListAnswer {
    /// The kind of the answer with these headers (media type case-insensitive, parameters
    /// ignored; `Content-Encoding: identity` is no coding).
    pub fn of(headers: &http::HeaderMap) -> Self {
        let encoded = headers
            .get_all(http::header::CONTENT_ENCODING)
            .iter()
            .any(|v| !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity"));
        let essence = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        match (essence.as_deref(), encoded) {
            (Some("application/json"), false) => Self::Json,
            (Some("text/event-stream"), false) => Self::EventStream,
            _ => Self::Unreadable,
        }
    }
}
