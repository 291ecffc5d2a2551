//! HTTP helpers for tests: a loopback listener, and one request on a fresh connection.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Paths that routers which nest a service at `/mcp` (axum's `nest_service`) also send to it,
/// plus one elsewhere: a protected server must refuse each without a token.
pub const PATHS_UNDER_MCP: [&str; 7] = [
    "/mcp/",
    "/mcp/x",
    "/mcp/.",
    "/mcp//",
    "/mcp/%2e",
    "/mcp/..;/mcp",
    "/other",
];

/// A listener on 127.0.0.1 and the URL of `/mcp` on it.
///
/// # Panics
/// When no loopback port can be had.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/mcp", listener.local_addr().expect("an address"));
    (listener, url)
}

/// One request on a fresh HTTP/1.1 connection; the response body as it streams.
///
/// # Panics
/// When the request cannot be built or sent.
pub async fn send_streaming(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, hyper::body::Incoming) {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a request");
    let resp = client.request(req).await.expect("a response");
    let (parts, body) = resp.into_parts();
    (parts.status.as_u16(), parts.headers, body)
}

/// [`send_streaming`], with the whole body collected.
///
/// # Panics
/// When the request fails or the body cannot be read.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, Bytes) {
    let (status, headers, body) = send_streaming(method, url, headers, body).await;
    let bytes = body.collect().await.expect("a body").to_bytes();
    (status, headers, bytes)
}
