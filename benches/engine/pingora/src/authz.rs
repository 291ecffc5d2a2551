//! The authorization decision, kept apart from Pingora. This placeholder only checks that a
//! bearer token is present; the mcp-authz driver call takes its place.

/// Where the protected-resource metadata of this resource is published.
const RESOURCE_METADATA: &str = "http://127.0.0.1/.well-known/oauth-protected-resource/mcp";

/// Headers to add to the upstream request.
pub type Forward = Vec<(String, String)>;

/// A complete response for the client instead: status, headers, body.
pub type Refuse = (u16, Vec<(String, String)>, Vec<u8>);

/// Decides whether a request may go upstream. `body` is the whole (bounded) request body, or
/// `None` when the request has none.
pub async fn authorize(
    method: &str,
    path: &str,
    headers: &http::HeaderMap,
    body: Option<&[u8]>,
) -> Result<Forward, Refuse> {
    let _ = (method, path);
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
    if bearer {
        // Stands for the identity headers; also shows that the body was seen whole.
        let seen = body.map_or(0, <[u8]>::len).to_string();
        return Ok(vec![("x-authz-body-bytes".to_owned(), seen)]);
    }
    let challenge = format!("Bearer resource_metadata=\"{RESOURCE_METADATA}\"");
    Err((
        401,
        vec![
            ("WWW-Authenticate".to_owned(), challenge),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ],
        br#"{"error":"invalid_token","error_description":"a bearer token is required"}"#.to_vec(),
    ))
}
