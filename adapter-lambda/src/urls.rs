//! The public URLs of a Lambda event: the ones the client used, never `req.uri()`.
//!
//! API Gateway and ALB turn events into requests differently, and `uri()` can hold a path the
//! client never used (`/{stage}/{basePath}/…` on REST custom domains). So:
//!
//! | front door | client-visible path | host |
//! |---|---|---|
//! | REST API (v1) | `requestContext.path` (`/{stage}/p` on execute-api, `/{basePath}/p` on custom domains) | `requestContext.domainName` |
//! | HTTP API (v2), Function URL | `rawPath` (holds `/{stage}` for named stages) | `requestContext.domainName` |
//! | ALB | `path` | `Host`, only when listed in `allowed_hosts` (the client sets it) |
//!
//! The scheme is `X-Forwarded-Proto`, else `https`. A configured public base URL overrides the
//! inference: it is the only reliable way behind custom domains with base paths and CloudFront.

use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

/// Where an event came from, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicView {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The path prefix before the application's own paths (`/prod` for an execute-api named
    /// stage, the base path of a configured public base URL), or empty.
    pub prefix: String,
    /// The path the client requested.
    pub path: String,
}

/// Why the public URL could not be inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// No domain in the event, and the `Host` header is not an allowed host.
    UnknownHost,
}

/// Configuration of the inference.
#[derive(Debug, Clone, Default)]
pub struct PublicUrls {
    /// `https://api.example.com[/base]`: when set, the origin and prefix come from here.
    pub public_base_url: Option<String>,
    /// Hosts accepted from the `Host` header when the event carries no domain (ALB).
    pub allowed_hosts: Vec<String>,
}

fn split_base(base: &str) -> (String, String) {
    let base = base.trim_end_matches('/');
    match base.find("://").map(|i| i + 3) {
        Some(start) => match base[start..].find('/') {
            Some(slash) => (
                base[..start + slash].to_owned(),
                base[start + slash..].to_owned(),
            ),
            None => (base.to_owned(), String::new()),
        },
        None => (base.to_owned(), String::new()),
    }
}

impl PublicUrls {
    /// The client's view of `req`.
    ///
    /// # Errors
    /// [`UrlError::UnknownHost`] when no trustworthy host is known.
    pub fn view<B>(&self, req: &http::Request<B>) -> Result<PublicView, UrlError> {
        let (visible, stage, domain) = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(c)) => (
                c.path
                    .clone()
                    .unwrap_or_else(|| req.raw_http_path().to_owned()),
                c.stage.clone(),
                c.domain_name.clone(),
            ),
            Some(RequestContext::ApiGatewayV2(c)) => {
                let raw = req.raw_http_path();
                let path = if raw.is_empty() {
                    c.http.path.clone().unwrap_or_default()
                } else {
                    raw.to_owned()
                };
                (path, c.stage.clone(), c.domain_name.clone())
            }
            _ => (req.raw_http_path().to_owned(), None, None),
        };
        let path = if visible.is_empty() {
            req.uri().path().to_owned()
        } else {
            visible
        };
        if let Some(base) = &self.public_base_url {
            let (origin, prefix) = split_base(base);
            // Some front doors show the base path in the event (REST custom domains), others
            // route on it and hand the function the rest (the cargo-lambda emulator's
            // `/lambda-url/{name}`): the client saw the base path either way.
            let shows_prefix =
                prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"));
            let path = if shows_prefix {
                path
            } else {
                format!("{prefix}{path}")
            };
            return Ok(PublicView {
                origin,
                prefix,
                path,
            });
        }
        let host = match domain.filter(|d| !d.is_empty()) {
            Some(d) => d,
            None => {
                let h = req
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if h.is_empty() || !self.allowed_hosts.iter().any(|a| a.eq_ignore_ascii_case(h)) {
                    return Err(UrlError::UnknownHost);
                }
                h.to_owned()
            }
        };
        let scheme = match req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            Some("http") => "http",
            _ => "https",
        };
        // An execute-api named stage shows up as the first path segment.
        let prefix = match stage.as_deref() {
            Some(s) if !s.is_empty() && s != "$default" && path.starts_with(&format!("/{s}/")) => {
                format!("/{s}")
            }
            _ => String::new(),
        };
        Ok(PublicView {
            origin: format!("{scheme}://{host}"),
            prefix,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_split() {
        assert_eq!(
            split_base("https://a.example"),
            ("https://a.example".into(), String::new())
        );
        assert_eq!(
            split_base("https://a.example/"),
            ("https://a.example".into(), String::new())
        );
        assert_eq!(
            split_base("https://a.example/v1/"),
            ("https://a.example".into(), "/v1".into())
        );
    }
}
