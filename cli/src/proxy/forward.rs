//! Forwarding an allowed request to the upstream MCP server: the identity headers set after the
//! client's copies are removed, the `Authorization` and `DPoP` headers and the hop-by-hop headers
//! dropped, the forwarding headers stated from what the proxy saw, and the answer streamed back
//! (SSE included), small JSON answers in one write.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use mcp_authz_core::mcp_request::encode_header_value;
use mcp_authz_core::Principal;

use super::serve::ClientAddr;

pub(super) type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

pub(super) struct ProxyState {
    pub(super) client: UpstreamClient,
    pub(super) upstream: http::Uri,
    pub(super) timeout: Duration,
    pub(super) identity: [HeaderName; 3],
    /// The identity headers' prefix, lower case: every client header starting with it is
    /// removed.
    pub(super) identity_prefix: String,
    /// The signed identity, and its header.
    pub(super) assertion: Option<(Arc<crate::assertion::Asserter>, HeaderName)>,
    /// The route's name (the `route` label of the upstream metric).
    pub(super) route: Arc<str>,
    /// The upstream's own token, exchanged for each caller's (`--upstream-token-exchange`,
    /// `--upstream-obo`): what it is for.
    pub(super) exchange: Option<mcp_authz_core::token_exchange::ExchangeTarget>,
}

/// Removes the hop-by-hop headers: the fixed ones and those the `Connection` header names
/// (RFC 9110 §7.6.1).
fn remove_hop_by_hop(headers: &mut http::HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1).
/// Names rather than strings: a removal by `&str` parses and hashes the name every time.
const HOP_BY_HOP: [HeaderName; 8] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
];

/// The headers in which a client could claim another address, scheme or host (RFC 7239, and
/// the de-facto `X-Forwarded-*` and `X-Real-IP`): removed from every request, then set by the
/// proxy from what it saw (`X-Real-IP` is not set).
const FORWARDED: [HeaderName; 5] = [
    http::header::FORWARDED,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-real-ip"),
];

pub(super) fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The upstream URI for a request: the upstream URL with the request's query.
fn upstream_uri(base: &http::Uri, query: Option<&str>) -> Option<http::Uri> {
    let path = base.path();
    let pq = match query {
        Some(q) => format!("{path}?{q}"),
        // The upstream URL as configured (its own query, if any, is not the request's).
        None if base.query().is_none() => return Some(base.clone()),
        None => path.to_owned(),
    };
    let mut parts = base.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    http::Uri::from_parts(parts).ok()
}

/// Sets `Authorization: Bearer` to a token of the upstream (`target`) exchanged for the
/// caller's; `Some` answer instead when there is none (`502`, or `503` with `Retry-After` when
/// the authorization server could not be asked): the request then goes nowhere. A request
/// without a caller (a public path) goes on without a token.
async fn exchanged_authorization(
    parts: &mut http::request::Parts,
    target: &mcp_authz_core::token_exchange::ExchangeTarget,
) -> Option<Response> {
    parts.extensions.get::<Arc<Principal>>()?;
    let Some(tokens) = parts.extensions.get::<mcp_authz_hyper::DownstreamTokens>() else {
        // A caller without its exchange: cannot happen (the layer gives every caller one);
        // never forwarded without the upstream's token.
        return Some(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "no token exchange for this request",
        ));
    };
    let refused = match tokens.token_for(target).await {
        Ok(token) => match HeaderValue::from_str(&format!("Bearer {}", token.access_token())) {
            Ok(mut v) => {
                v.set_sensitive(true);
                parts.headers.insert(http::header::AUTHORIZATION, v);
                return None;
            }
            // The core admits only visible ASCII: cannot happen; deny.
            Err(_) => mcp_authz_core::ExchangeError::Malformed,
        },
        Err(e) => e,
    };
    let error = mcp_authz_core::Error::from(refused);
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({
        "error": if status == StatusCode::SERVICE_UNAVAILABLE { "temporarily_unavailable" } else { "server_error" },
        "error_description": error.description(),
        "reason": error.reason(),
    });
    let mut response = (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    Some(response)
}

pub(super) async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let Some(uri) = upstream_uri(&state.upstream, parts.uri.query()) else {
        return json_error(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the upstream URL could not be built",
        );
    };
    let client_host = parts.headers.get(http::header::HOST).cloned();
    // Nobody forges the identity headers: every client header under the prefix goes first.
    let forged: Vec<HeaderName> = parts
        .headers
        .keys()
        .filter(|n| n.as_str().starts_with(&state.identity_prefix))
        .cloned()
        .collect();
    for name in forged {
        parts.headers.remove(name);
    }
    remove_hop_by_hop(&mut parts.headers);
    parts.headers.remove(http::header::AUTHORIZATION);
    // The proof was for this proxy's resource and is spent: the upstream gets the identity.
    parts.headers.remove(HeaderName::from_static("dpop"));
    if let Some(p) = parts.extensions.get::<Arc<Principal>>() {
        let values = [
            p.subject().unwrap_or(""),
            p.client_id().unwrap_or(""),
            &p.scopes().collect::<Vec<_>>().join(" "),
        ];
        // Any claim value travels: what is not plain visible ASCII goes in the MCP
        // `=?base64?…?=` form (always a valid header value), never dropped or sent as raw bytes.
        for (name, value) in state.identity.iter().zip(values) {
            let encoded = encode_header_value(value);
            match HeaderValue::from_str(&encoded) {
                Ok(v) => {
                    parts.headers.insert(name.clone(), v);
                }
                // Cannot happen (the encoding is visible ASCII); if it does, the request
                // does not go out without its identity.
                Err(_) => {
                    return json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "the identity could not be sent",
                    )
                }
            }
        }
        if let Some((asserter, name)) = &state.assertion {
            let signed = asserter
                .assert(p)
                .ok()
                .and_then(|jwt| HeaderValue::from_str(&jwt).ok());
            match signed {
                Some(v) => {
                    parts.headers.insert(name.clone(), v);
                }
                // The upstream expects it: nothing goes out without it.
                None => {
                    return json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "the identity assertion could not be signed",
                    )
                }
            }
        }
    }
    // The upstream's own token for this caller, in place of the caller's (which never leaves).
    if let Some(target) = &state.exchange {
        if let Some(answer) = exchanged_authorization(&mut parts, target).await {
            return answer;
        }
    }
    // What the client says of where it came from is not believed: the proxy states it.
    for name in &FORWARDED {
        parts.headers.remove(name);
    }
    if let Some(host) = client_host {
        parts
            .headers
            .insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if let Some(ClientAddr(peer)) = parts.extensions.get::<ClientAddr>().copied() {
        let ip = peer.ip();
        let node = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            // RFC 7239 §6: an IPv6 node is bracketed and quoted.
            std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        let stated = [
            ("x-forwarded-for", ip.to_string()),
            ("x-forwarded-proto", "http".to_owned()),
            ("forwarded", format!("for={node};proto=http")),
        ];
        for (name, value) in stated {
            if let Ok(v) = HeaderValue::from_str(&value) {
                parts.headers.insert(HeaderName::from_static(name), v);
            }
        }
    }
    if let Some(authority) = uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(http::header::HOST, authority);
    }
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    let request = http::Request::from_parts(parts, body);
    let sent = std::time::Instant::now();
    match tokio::time::timeout(state.timeout, state.client.request(request)).await {
        Ok(Ok(response)) => {
            mcp_authz_driver::observe::upstream(&state.route, response.status().as_u16(), sent);
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            // A small answer of known length (a JSON-RPC response) is read whole first, so the
            // client gets its head and body in one write instead of two; the profile of the
            // forward path was dominated by socket writes (BENCHMARKS.md). Anything else streams
            // through as it arrives (SSE included), with backpressure.
            if known_small(&parts.headers) {
                return match tokio::time::timeout(state.timeout, body.collect()).await {
                    Ok(Ok(whole)) => Response::from_parts(parts, Body::from(whole.to_bytes())),
                    Ok(Err(_)) | Err(_) => json_error(
                        StatusCode::BAD_GATEWAY,
                        "bad_gateway",
                        "the MCP server's response broke off",
                    ),
                };
            }
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "mcp_authz", error = %e, "upstream request failed");
            json_error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the MCP server is not reachable",
            )
        }
        Err(_) => json_error(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            "the MCP server did not answer in time",
        ),
    }
}

/// Upstream answers up to this size, with a `Content-Length`, are read whole before they are sent.
const WHOLE_RESPONSE_MAX: u64 = 64 * 1024;

/// Whether a response declares a body of at most [`WHOLE_RESPONSE_MAX`] bytes and is not an
/// event stream.
fn known_small(headers: &http::HeaderMap) -> bool {
    let sse = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    let len = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    !sse && len.is_some_and(|n| n <= WHOLE_RESPONSE_MAX)
}
