//! The HTTPS client that fetches authorization-server metadata and JWK Sets.
//!
//! `hyper-util`'s client with `hyper-rustls` (the `ring` provider and the bundled web PKI roots:
//! no OpenSSL, nothing to install on the host). Connect and total timeouts; the body is read up
//! to a cap and no further; redirects are not followed (a `3xx` is just a status); `https` only,
//! except `http` to loopback hosts when the development option allows it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_authz_core::as_metadata::is_loopback_host;
use mcp_authz_core::UnixTime;

/// How the client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchOptions {
    /// Time allowed to establish the connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for the whole exchange, body included (default 10 s).
    pub total_timeout: Duration,
    /// Allow plain `http` to `localhost`, `127.0.0.0/8` and `[::1]` (development only).
    pub allow_http_loopback: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            allow_http_loopback: false,
        }
    }
}

impl FetchOptions {
    /// Sets [`FetchOptions::allow_http_loopback`].
    #[must_use]
    pub fn allow_http_loopback(mut self, yes: bool) -> Self {
        self.allow_http_loopback = yes;
        self
    }

    /// Sets both timeouts.
    #[must_use]
    pub fn timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.total_timeout = total;
        self
    }
}

/// A fetched response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The status code.
    pub status: u16,
    /// The `Cache-Control` header.
    pub cache_control: Option<String>,
    /// The `Expires` header, parsed.
    pub expires: Option<UnixTime>,
    /// The body (at most the cap).
    pub body: Bytes,
}

/// Why a fetch produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// Not an absolute URL.
    InvalidUrl,
    /// Not `https` (and not an allowed loopback `http` URL).
    NotHttps,
    /// The connection or the exchange failed.
    Connect(String),
    /// No complete response within the total timeout.
    Timeout,
    /// The body was larger than the cap.
    TooLarge,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidUrl => f.write_str("not an absolute URL"),
            Self::NotHttps => f.write_str(
                "not an https URL (http is allowed only for loopback hosts in development mode)",
            ),
            Self::Connect(e) => write!(f, "request failed: {e}"),
            Self::Timeout => f.write_str("timed out"),
            Self::TooLarge => f.write_str("response body larger than allowed"),
        }
    }
}

impl std::error::Error for FetchError {}

/// The HTTPS client.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    options: FetchOptions,
}

/// The TLS-capable connector of every outgoing client here and in the CLI's proxy: hyper-util's
/// `HttpConnector` (no Nagle, `connect_timeout`) under hyper-rustls with the ring provider and
/// the bundled web PKI roots, HTTP/1.1 and, when `http2`, HTTP/2 by ALPN. It connects to `http`
/// URLs too: callers decide which schemes they allow.
///
/// # Errors
/// When the TLS configuration cannot be built (the ring provider is always available, so this
/// does not happen in practice).
pub fn https_connector(
    connect_timeout: Duration,
    http2: bool,
) -> Result<HttpsConnector<HttpConnector>, FetchError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| FetchError::Connect(e.to_string()))?
        .https_or_http()
        .enable_http1();
    Ok(if http2 {
        builder.enable_http2().wrap_connector(http)
    } else {
        builder.wrap_connector(http)
    })
}

/// The current time as the core takes it.
pub fn now() -> UnixTime {
    UnixTime::from_secs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

impl HttpFetcher {
    /// A client with `options`.
    ///
    /// # Errors
    /// When the TLS configuration cannot be built (the ring provider is always available, so
    /// this does not happen in practice).
    pub fn new(options: FetchOptions) -> Result<Self, FetchError> {
        let https = https_connector(options.connect_timeout, true)?;
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { client, options })
    }

    /// The options.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// Whether `url` may be fetched under the options.
    ///
    /// # Errors
    /// [`FetchError::InvalidUrl`] or [`FetchError::NotHttps`].
    pub fn check_url(&self, url: &str) -> Result<http::Uri, FetchError> {
        let uri: http::Uri = url.parse().map_err(|_| FetchError::InvalidUrl)?;
        let host = uri.host().ok_or(FetchError::InvalidUrl)?;
        match uri.scheme_str() {
            Some("https") => Ok(uri),
            Some("http") if self.options.allow_http_loopback && is_loopback_host(host) => Ok(uri),
            Some(_) => Err(FetchError::NotHttps),
            None => Err(FetchError::InvalidUrl),
        }
    }

    /// `GET url`, reading at most `max_bytes` of body.
    ///
    /// # Errors
    /// A [`FetchError`] when there is no complete response.
    pub async fn get(&self, url: &str, max_bytes: usize) -> Result<Fetched, FetchError> {
        let uri = self.check_url(url)?;
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|_| FetchError::InvalidUrl)?;
        self.send(request, max_bytes).await
    }

    /// `POST url` with a form `body` (`application/x-www-form-urlencoded`) and, when given, an
    /// `Authorization` header: an RFC 7662 introspection call. Reads at most `max_bytes`.
    ///
    /// # Errors
    /// A [`FetchError`] when there is no complete response.
    pub async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        body: String,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        let uri = self.check_url(url)?;
        let mut request = http::Request::post(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::USER_AGENT, USER_AGENT);
        if let Some(value) = authorization {
            let mut value =
                http::HeaderValue::from_str(value).map_err(|_| FetchError::InvalidUrl)?;
            value.set_sensitive(true);
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| FetchError::InvalidUrl)?;
        self.send(request, max_bytes).await
    }

    async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| FetchError::Connect(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let header = |name: http::header::HeaderName| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let cache_control = header(http::header::CACHE_CONTROL);
            let expires = header(http::header::EXPIRES)
                .and_then(|v| httpdate::parse_http_date(&v).ok())
                .map(|t| {
                    UnixTime::from_secs(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
                });
            let body = Limited::new(body, max_bytes).collect().await.map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    FetchError::TooLarge
                } else {
                    FetchError::Connect(e.to_string())
                }
            })?;
            Ok(Fetched {
                status: parts.status.as_u16(),
                cache_control,
                expires,
                body: body.to_bytes(),
            })
        };
        tokio::time::timeout(self.options.total_timeout, exchange)
            .await
            .unwrap_or(Err(FetchError::Timeout))
    }
}

const USER_AGENT: &str = concat!("mcp-authz/", env!("CARGO_PKG_VERSION"));

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
