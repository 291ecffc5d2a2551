//! `mcp-authz proxy`: OAuth 2.0 in front of an existing MCP server (Streamable HTTP), without
//! writing code.
//!
//! Requests to the resource path pass the authorization middleware, then go to the upstream,
//! streaming both ways (SSE included). The proxy itself serves the RFC 9728 documents, the
//! challenges and `/healthz`; other paths are 404. The client's `Authorization` header never
//! reaches the upstream; the verified identity does, in headers the proxy sets after removing any
//! the client sent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use clap::Args;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_authz_core::dpop::DpopMode;
use mcp_authz_core::mcp_request::encode_header_value;
use mcp_authz_core::token_introspection::ClientAuthentication;
use mcp_authz_core::{IntrospectionMode, Principal, ScopePolicy, TypPolicy};
use mcp_authz_driver::https_connector;
use mcp_authz_hyper::Authz;
use serde::Deserialize;

/// Arguments of `mcp-authz proxy` (every one may also come from `--config FILE`; flags win).
#[derive(Debug, Args, Default, Clone)]
pub struct ProxyArgs {
    /// An authorization server's RFC 8414 metadata URL (repeatable: each is trusted, and listed
    /// in the protected-resource metadata in this order; a token is verified by the one its iss
    /// names, with that server's keys alone).
    #[arg(long, value_name = "URL")]
    metadata_url: Vec<String>,
    /// The public URL of the protected MCP endpoint (what clients connect to; tokens' aud).
    #[arg(long, value_name = "URL")]
    resource: Option<String>,
    /// The MCP server to forward to, e.g. http://127.0.0.1:9000/mcp.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// A scope every request needs (repeatable); also the scope the first 401 asks for.
    #[arg(long = "scope", value_name = "SCOPE")]
    scope: Vec<String>,
    /// A scope one tool needs, as TOOL=SCOPE (repeatable).
    #[arg(long = "tool-scope", value_name = "TOOL=SCOPE")]
    tool_scope: Vec<String>,
    /// resource_name in the protected-resource metadata.
    #[arg(long, value_name = "NAME")]
    resource_name: Option<String>,
    /// Accept authorization servers without registration_endpoint.
    #[arg(long)]
    allow_missing_registration: bool,
    /// Accept http URLs on loopback hosts (development only).
    #[arg(long)]
    allow_http_loopback: bool,
    /// Accept tokens with typ JWT (authorization servers without RFC 9068 support).
    #[arg(long)]
    lenient_typ: bool,
    /// Refuse access tokens that live longer than this (exp - iat, or exp - now without iat)
    /// [default: no limit].
    #[arg(long, value_name = "SECONDS")]
    max_token_lifetime: Option<u64>,
    #[command(flatten)]
    audience: crate::AudienceArgs,
    #[command(flatten)]
    tenants: crate::TenantArgs,
    /// Also accept Entra ID v1 tokens (iss sts.windows.net/{tid}) from each Entra ID
    /// v2 authorization server: the same keys sign both.
    #[arg(long)]
    entra_v1_tokens: bool,
    /// Which access tokens are introspected (RFC 7662) at the first authorization server's
    /// introspection_endpoint: never, non-jwt (tokens that are not JWTs), always [default: never].
    #[arg(long, value_name = "MODE")]
    introspect: Option<String>,
    /// This resource server's client id at the introspection endpoint.
    #[arg(long, value_name = "ID")]
    introspection_client_id: Option<String>,
    /// A file holding the client secret (one line); else the environment variable
    /// MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET. Never a command-line argument.
    #[arg(long, value_name = "FILE")]
    introspection_client_secret_file: Option<PathBuf>,
    /// How the client authenticates: basic (client_secret_basic) or post (client_secret_post)
    /// [default: basic].
    #[arg(long, value_name = "METHOD")]
    introspection_auth: Option<String>,
    /// The longest an introspection answer is kept: a revoked token is refused at most this
    /// long after its revocation [default: 300].
    #[arg(long, value_name = "SECONDS")]
    introspection_cache_ttl: Option<u64>,
    /// Also serve browsers from ORIGIN (scheme://host[:port], repeatable). Without it, only the
    /// resource's own origin and requests without Origin are served; others get 403.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origin: Vec<String>,
    /// Also serve Origin: null (sandboxed frames, file: pages).
    #[arg(long)]
    allow_null_origin: bool,
    /// DPoP-bound access tokens (RFC 9449): off (Bearer only), allowed (Bearer, and DPoP with
    /// its proof), required (DPoP only) [default: off]. A token bound to a key is never accepted
    /// as Bearer.
    #[arg(long, value_name = "MODE")]
    dpop: Option<String>,
    /// Require server nonces in DPoP proofs, made under the secret in FILE (any length; give
    /// every replica the same file) [default: no nonces].
    #[arg(long, value_name = "FILE")]
    dpop_nonce_secret_file: Option<PathBuf>,
    /// Seconds to wait for the upstream's response headers [default: 60].
    #[arg(long, value_name = "SECONDS")]
    upstream_timeout: Option<u64>,
    /// Seconds a client has to send a whole request head; the same bound applies to an idle
    /// keep-alive connection waiting for its next request [default: 60].
    #[arg(long, value_name = "SECONDS")]
    header_timeout: Option<u64>,
    /// Seconds a client may pause while sending a request body before it is cut off
    /// [default: 60].
    #[arg(long, value_name = "SECONDS")]
    body_timeout: Option<u64>,
    /// Connections served at once; more wait to be accepted [default: 1024].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Also send the upstream a signed identity: a 60-second ES256 JWT in the header
    /// {prefix}Assertion, verifiable with the JWK Set at /.well-known/mcp-authz/jwks.json.
    #[arg(long)]
    identity_assertion: bool,
    /// The P-256 key (PKCS#8 PEM) that signs the identity assertions [default: made at start].
    #[arg(long, value_name = "FILE")]
    identity_assertion_key: Option<PathBuf>,
    /// Write one JSON line per request to stdout: time, method, path, status, decision reason,
    /// issuer, kid, client id, subject, duration. Never a token or another header's value.
    /// Values: off, json [default: off].
    #[arg(long, value_name = "FORMAT")]
    access_log: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics, a listener of its own [default: off].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Prefix of the identity headers sent upstream [default: X-Mcp-Authz-].
    #[arg(long, value_name = "PREFIX")]
    identity_header_prefix: Option<String>,
    /// A TOML file with the same keys as the flags (kebab-case); flags win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The same settings, from a TOML file.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    metadata_url: Option<OneOrMany>,
    resource: Option<String>,
    upstream: Option<String>,
    listen: Option<SocketAddr>,
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    tool_scope: Vec<String>,
    resource_name: Option<String>,
    #[serde(default)]
    allow_missing_registration: bool,
    #[serde(default)]
    allow_http_loopback: bool,
    #[serde(default)]
    lenient_typ: bool,
    max_token_lifetime: Option<u64>,
    #[serde(default)]
    audience: Vec<String>,
    #[serde(default)]
    client_id_audience: Vec<String>,
    roles_as_scopes: Option<String>,
    #[serde(default)]
    tenant: Vec<String>,
    #[serde(default)]
    allow_any_tenant: bool,
    #[serde(default)]
    entra_v1_tokens: bool,
    introspect: Option<String>,
    introspection_client_id: Option<String>,
    introspection_client_secret_file: Option<PathBuf>,
    introspection_auth: Option<String>,
    introspection_cache_ttl: Option<u64>,
    #[serde(default)]
    allowed_origin: Vec<String>,
    #[serde(default)]
    allow_null_origin: bool,
    dpop: Option<String>,
    dpop_nonce_secret_file: Option<PathBuf>,
    upstream_timeout: Option<u64>,
    header_timeout: Option<u64>,
    body_timeout: Option<u64>,
    max_connections: Option<usize>,
    metrics_listen: Option<SocketAddr>,
    access_log: Option<String>,
    #[serde(default)]
    identity_assertion: bool,
    identity_assertion_key: Option<PathBuf>,
    identity_header_prefix: Option<String>,
}

/// Installs the Prometheus exporter as the `metrics` recorder, serving `GET /metrics` on its own
/// listener at `addr`; histograms get buckets from 100 µs to 10 s.
///
/// # Errors
/// When the listener cannot be bound or a recorder is installed already.
pub fn install_metrics(addr: SocketAddr) -> Result<(), String> {
    let buckets = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0,
    ];
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&buckets)
        .map_err(|e| e.to_string())?
        .install()
        .map_err(|e| e.to_string())
}

/// Every optional setting at its default, as the flags have them: no scopes, no relaxations,
/// JWTs only, no DPoP, nginx-like limits, no metrics or access log, a 60 s upstream timeout and
/// the `X-Mcp-Authz-` prefix. The required settings (`metadata_urls`, `resource`, `upstream`)
/// are empty here and must be set: [`build`] refuses to start without them.
impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            metadata_urls: Vec::new(),
            resource: String::new(),
            upstream: http::Uri::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            scopes: Vec::new(),
            tool_scopes: Vec::new(),
            resource_name: None,
            allow_missing_registration: false,
            allow_http_loopback: false,
            lenient_typ: false,
            max_token_lifetime: None,
            audiences: Vec::new(),
            audienceless_clients: Vec::new(),
            roles_as_scopes: None,
            tenants: Vec::new(),
            allow_any_tenant: false,
            entra_v1_tokens: false,
            introspection: None,
            allowed_origins: Vec::new(),
            allow_null_origin: false,
            dpop: DpopMode::Off,
            dpop_nonce_secret: None,
            limits: ServeLimits::default(),
            metrics_listen: None,
            access_log: false,
            identity_assertion: None,
            upstream_timeout: Duration::from_secs(60),
            identity_header_prefix: "X-Mcp-Authz-".into(),
        }
    }
}

/// How long clients may take, and how many are served at once (nginx's habits: 60 s for a
/// request head, 60 s between body reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// The time to send a whole request head; also the longest a new connection may send
    /// nothing and an idle keep-alive connection waits for its next request (hyper bounds all
    /// three with one timer).
    pub header_timeout: Duration,
    /// The longest pause while a request body is sent.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// The largest request head (request line and headers) a client may send, in bytes; more is
/// refused (hyper answers `431`). nginx's default is four 8 KiB buffers.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most header fields one request may have (hyper answers `431` beyond).
pub const MAX_HEADERS: usize = 100;

/// The TCP peer of a request, as the proxy's server saw it (in the request's extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Serves `app` on `listener` under `limits` until `stop` completes, then lets in-flight
/// requests finish. Connections beyond `max_connections` wait in the listen backlog.
///
/// HTTP/1.1 only (HTTP/2 without TLS is not served: MCP clients speak HTTP/1.1 over plain
/// connections, and an HTTP/2 preface is refused like any malformed head). Every connection
/// is bounded from its first moment: a head (the first one included: a connection that sends
/// nothing) must arrive within `header_timeout`, which also bounds an idle keep-alive
/// connection; a head may hold [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`]; a body may not pause
/// longer than `body_timeout`.
///
/// # Errors
/// When the listener fails for good.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServeLimits,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper starts the head timer when it starts reading a head, which is at once on a new
    // connection: silent connections are closed like slow ones.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: wait a little, keep serving.
                    tracing::warn!(target: "mcp_authz", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, pause) = (app.clone(), limits.body_timeout);
        let service = TowerToHyperService::new(tower::service_fn(
            move |req: http::Request<hyper::body::Incoming>| {
                let mut app = app.clone();
                async move {
                    let mut req = req.map(|b| Body::new(ReadTimeout::new(b, pause)));
                    req.extensions_mut().insert(ClientAddr(peer));
                    tower::Service::call(&mut app, req).await
                }
            },
        ));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A request body that fails when the client pauses longer than `pause` between frames
/// (nginx's `client_body_timeout`). Unlike tower-http's `TimeoutBody`, it keeps the body's
/// `is_end_stream` and `size_hint`, which the authorization layer reads to know whether a
/// body follows.
struct ReadTimeout<B> {
    body: B,
    pause: Duration,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<B> ReadTimeout<B> {
    fn new(body: B, pause: Duration) -> Self {
        Self {
            body,
            pause,
            sleep: None,
        }
    }
}

/// The error of a body whose client paused too long.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client paused too long while sending the request body")
    }
}

impl std::error::Error for BodyTimedOut {}

impl<B> http_body::Body for ReadTimeout<B>
where
    B: http_body::Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let pause = this.pause;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
                match std::future::Future::poll(sleep.as_mut(), cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// How the proxy introspects tokens (RFC 7662).
#[derive(Debug, Clone)]
pub struct ProxyIntrospection {
    /// Which tokens.
    pub mode: IntrospectionMode,
    /// This resource server's credentials (`Debug` shows no secret).
    pub client: ClientAuthentication,
    /// The longest a positive answer is kept (default 300 s).
    pub cache_ttl: Option<Duration>,
}

/// The environment variable the introspection client secret may come from.
pub const CLIENT_SECRET_ENV: &str = "MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET";

/// The introspection settings: the mode, and (when it is not `never`) the client id and the
/// secret, read from its file or from [`CLIENT_SECRET_ENV`], never from an argument.
fn introspection(
    mode: Option<String>,
    client_id: Option<String>,
    secret_file: Option<PathBuf>,
    auth: Option<String>,
    cache_ttl: Option<u64>,
) -> Result<Option<ProxyIntrospection>, String> {
    let mode = match mode.as_deref() {
        None => IntrospectionMode::Never,
        Some(name) => IntrospectionMode::from_name(name)
            .ok_or_else(|| format!("--introspect {name}: expected never, non-jwt or always"))?,
    };
    if mode == IntrospectionMode::Never {
        return Ok(None);
    }
    let client_id = client_id.ok_or_else(|| {
        format!(
            "--introspect {} needs --introspection-client-id",
            mode.name()
        )
    })?;
    let secret = match secret_file {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        None => std::env::var(CLIENT_SECRET_ENV).map_err(|_| {
            format!(
                "--introspect {} needs the client secret: --introspection-client-secret-file FILE or {CLIENT_SECRET_ENV}",
                mode.name()
            )
        })?,
    };
    if secret.is_empty() {
        return Err("the introspection client secret is empty".into());
    }
    let auth = match auth.as_deref().unwrap_or("basic") {
        "basic" => ClientAuthentication::ClientSecretBasic {
            client_id,
            client_secret: secret,
        },
        "post" => ClientAuthentication::ClientSecretPost {
            client_id,
            client_secret: secret,
        },
        other => {
            return Err(format!(
                "--introspection-auth {other}: expected basic or post"
            ))
        }
    };
    Ok(Some(ProxyIntrospection {
        mode,
        client: auth,
        cache_ttl: cache_ttl.map(Duration::from_secs),
    }))
}

/// A TOML value that is one string or an array of them (`metadata-url`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// The merged, checked configuration.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The authorization servers' metadata URLs, in order.
    pub metadata_urls: Vec<String>,
    /// The public URL of the protected MCP endpoint.
    pub resource: String,
    /// The MCP server requests are forwarded to.
    pub upstream: http::Uri,
    /// Where the proxy listens.
    pub listen: SocketAddr,
    /// Scopes every request needs.
    pub scopes: Vec<String>,
    /// `(tool, scope)` pairs.
    pub tool_scopes: Vec<(String, String)>,
    /// `resource_name` of the protected-resource metadata.
    pub resource_name: Option<String>,
    /// Accept metadata without `registration_endpoint`.
    pub allow_missing_registration: bool,
    /// Accept `http` URLs on loopback hosts (development only).
    pub allow_http_loopback: bool,
    /// Accept `typ: JWT` tokens.
    pub lenient_typ: bool,
    /// The longest token lifetime accepted, in seconds.
    pub max_token_lifetime: Option<u64>,
    /// Exact audiences accepted besides the resource.
    pub audiences: Vec<String>,
    /// Clients whose tokens are accepted without any `aud`.
    pub audienceless_clients: Vec<String>,
    /// The prefix under which `roles` become scopes.
    pub roles_as_scopes: Option<String>,
    /// The tenants a tenant-templated issuer accepts.
    pub tenants: Vec<String>,
    /// Accept every tenant of a tenant-templated issuer.
    pub allow_any_tenant: bool,
    /// Accept Entra ID v1 tokens from Entra ID v2 servers.
    pub entra_v1_tokens: bool,
    /// Opaque tokens (`None`: JWTs only).
    pub introspection: Option<ProxyIntrospection>,
    /// Origins served besides the resource's own.
    pub allowed_origins: Vec<String>,
    /// Serve `Origin: null`.
    pub allow_null_origin: bool,
    /// DPoP-bound tokens.
    pub dpop: DpopMode,
    /// The DPoP nonce secret (SHA-256 of the secret file), when nonces are required.
    pub dpop_nonce_secret: Option<[u8; 32]>,
    /// How long to wait for the upstream's response headers.
    pub upstream_timeout: Duration,
    /// The client connection limits.
    pub limits: ServeLimits,
    /// Where Prometheus metrics are served (`None`: nowhere).
    pub metrics_listen: Option<SocketAddr>,
    /// One JSON line per request on stdout.
    pub access_log: bool,
    /// A signed identity for the upstream: `None` for none, `Some(None)` with a key made at
    /// start, `Some(Some(file))` with the key of that file.
    pub identity_assertion: Option<Option<PathBuf>>,
    /// Prefix of the identity headers sent upstream.
    pub identity_header_prefix: String,
}

impl ProxyArgs {
    /// Merges the flags over the config file and checks the result.
    pub fn resolve(self) -> Result<ProxyConfig, String> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let required = |flag: Option<String>, file: Option<String>, name: &str| {
            flag.or(file)
                .ok_or_else(|| format!("--{name} is required (or `{name}` in --config)"))
        };
        let metadata_urls = match self.metadata_url.is_empty() {
            false => self.metadata_url,
            true => file
                .metadata_url
                .map(OneOrMany::into_vec)
                .unwrap_or_default(),
        };
        if metadata_urls.is_empty() {
            return Err("--metadata-url is required (or `metadata-url` in --config)".into());
        }
        let resource = required(self.resource, file.resource, "resource")?;
        let upstream_text = required(self.upstream, file.upstream, "upstream")?;
        let upstream: http::Uri = upstream_text
            .parse()
            .map_err(|_| format!("--upstream {upstream_text}: not a URL"))?;
        if !matches!(upstream.scheme_str(), Some("http") | Some("https"))
            || upstream.authority().is_none()
        {
            return Err(format!(
                "--upstream {upstream_text}: not an absolute http(s) URL"
            ));
        }
        let resource_uri: http::Uri = resource
            .parse()
            .map_err(|_| format!("--resource {resource}: not a URL"))?;
        if resource_uri.scheme().is_none() || resource_uri.authority().is_none() {
            return Err(format!("--resource {resource}: not an absolute URL"));
        }
        let scopes = if self.scope.is_empty() {
            file.scope
        } else {
            self.scope
        };
        let tool_scope = if self.tool_scope.is_empty() {
            file.tool_scope
        } else {
            self.tool_scope
        };
        let tool_scopes = tool_scope
            .iter()
            .map(|t| match t.split_once('=') {
                Some((tool, scope)) if !tool.is_empty() && !scope.is_empty() => {
                    Ok((tool.to_owned(), scope.to_owned()))
                }
                _ => Err(format!("--tool-scope {t}: expected TOOL=SCOPE")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let prefix = self
            .identity_header_prefix
            .or(file.identity_header_prefix)
            .unwrap_or_else(|| "X-Mcp-Authz-".into());
        for suffix in ["Subject", "Client-Id", "Scopes"] {
            HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes()).map_err(|_| {
                format!("--identity-header-prefix {prefix}: not a header name prefix")
            })?;
        }
        let introspection = introspection(
            self.introspect.or(file.introspect),
            self.introspection_client_id
                .or(file.introspection_client_id),
            self.introspection_client_secret_file
                .or(file.introspection_client_secret_file),
            self.introspection_auth.or(file.introspection_auth),
            self.introspection_cache_ttl
                .or(file.introspection_cache_ttl),
        )?;
        Ok(ProxyConfig {
            introspection,
            allowed_origins: if self.allowed_origin.is_empty() {
                file.allowed_origin
            } else {
                self.allowed_origin
            },
            allow_null_origin: self.allow_null_origin || file.allow_null_origin,
            dpop_nonce_secret: match self.dpop_nonce_secret_file.or(file.dpop_nonce_secret_file) {
                Some(path) => {
                    let secret = std::fs::read(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    if secret.len() < 16 {
                        return Err(format!(
                            "{}: a DPoP nonce secret needs at least 16 bytes",
                            path.display()
                        ));
                    }
                    let digest = ring::digest::digest(&ring::digest::SHA256, &secret);
                    let mut key = [0u8; 32];
                    key.copy_from_slice(digest.as_ref());
                    Some(key)
                }
                None => None,
            },
            dpop: match self.dpop.or(file.dpop).as_deref() {
                None => DpopMode::Off,
                Some(name) => DpopMode::from_name(name)
                    .ok_or_else(|| format!("--dpop {name}: expected off, allowed or required"))?,
            },
            metadata_urls,
            resource,
            upstream,
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            scopes,
            tool_scopes,
            resource_name: self.resource_name.or(file.resource_name),
            allow_missing_registration: self.allow_missing_registration
                || file.allow_missing_registration,
            allow_http_loopback: self.allow_http_loopback || file.allow_http_loopback,
            lenient_typ: self.lenient_typ || file.lenient_typ,
            max_token_lifetime: self.max_token_lifetime.or(file.max_token_lifetime),
            audiences: if self.audience.audience.is_empty() {
                file.audience
            } else {
                self.audience.audience
            },
            audienceless_clients: if self.audience.client_id_audience.is_empty() {
                file.client_id_audience
            } else {
                self.audience.client_id_audience
            },
            roles_as_scopes: self.audience.roles_as_scopes.or(file.roles_as_scopes),
            tenants: if self.tenants.tenant.is_empty() {
                file.tenant
            } else {
                self.tenants.tenant
            },
            allow_any_tenant: self.tenants.allow_any_tenant || file.allow_any_tenant,
            entra_v1_tokens: self.entra_v1_tokens || file.entra_v1_tokens,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            identity_assertion: match self.identity_assertion || file.identity_assertion {
                true => Some(self.identity_assertion_key.or(file.identity_assertion_key)),
                false => None,
            },
            access_log: match self.access_log.or(file.access_log).as_deref() {
                None | Some("off") => false,
                Some("json") => true,
                Some(other) => return Err(format!("--access-log {other}: expected off or json")),
            },
            limits: ServeLimits {
                header_timeout: Duration::from_secs(
                    self.header_timeout.or(file.header_timeout).unwrap_or(60),
                ),
                body_timeout: Duration::from_secs(
                    self.body_timeout.or(file.body_timeout).unwrap_or(60),
                ),
                max_connections: self
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(1024)
                    .max(1),
            },
            upstream_timeout: Duration::from_secs(
                self.upstream_timeout
                    .or(file.upstream_timeout)
                    .unwrap_or(60),
            ),
            identity_header_prefix: prefix,
        })
    }
}

type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

struct ProxyState {
    client: UpstreamClient,
    upstream: http::Uri,
    timeout: Duration,
    identity: [HeaderName; 3],
    /// The identity headers' prefix, lower case: every client header starting with it is
    /// removed.
    identity_prefix: String,
    /// The signed identity, and its header.
    assertion: Option<(Arc<crate::assertion::Asserter>, HeaderName)>,
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
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The headers in which a client could claim another address, scheme or host (RFC 7239, and
/// the de-facto `X-Forwarded-*` and `X-Real-IP`): removed from every request, then set by the
/// proxy from what it saw (`X-Real-IP` is not set).
const FORWARDED: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
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
        None => path.to_owned(),
    };
    let mut parts = base.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    http::Uri::from_parts(parts).ok()
}

async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
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
    // What the client says of where it came from is not believed: the proxy states it.
    for name in FORWARDED {
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
            mcp_authz_driver::observe::upstream(response.status().as_u16(), sent);
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

/// Everything the proxy needs to serve, started (metadata validated, keys fetched).
pub struct Proxy {
    /// The router to serve.
    pub app: Router,
    /// The started middleware (metadata, keys).
    pub authz: Authz,
}

/// Validates the metadata, fetches the keys and builds the proxy's router.
pub async fn build(config: &ProxyConfig) -> Result<Proxy, String> {
    let mut scopes = ScopePolicy::new(config.scopes.clone());
    for (tool, scope) in &config.tool_scopes {
        scopes = scopes.with_tool_scopes(tool.clone(), [scope.clone()]);
    }
    let name = config.resource_name.clone();
    let mut builder = Authz::builder(config.resource.clone());
    for url in &config.metadata_urls {
        builder = builder.metadata_url(url.clone());
    }
    if let Some(i) = &config.introspection {
        builder = builder
            .introspection(i.mode)
            .introspection_client(i.client.clone());
        if let Some(ttl) = i.cache_ttl {
            builder = builder.introspection_cache_ttl(ttl, ttl.min(Duration::from_secs(10)));
        }
    }
    if let Some(secret) = config.dpop_nonce_secret {
        builder = builder.dpop_nonce_secret(secret);
    }
    let authz = builder
        .allowed_origins(config.allowed_origins.clone())
        .allow_null_origin(config.allow_null_origin)
        .dpop(config.dpop)
        .scopes(scopes)
        .tenants(config.tenants.clone())
        .allow_any_tenant(config.allow_any_tenant)
        .entra_v1_issuers(config.entra_v1_tokens)
        .allow_missing_registration(config.allow_missing_registration)
        .allow_http_loopback(config.allow_http_loopback)
        .typ_policy(if config.lenient_typ {
            TypPolicy::Lenient
        } else {
            TypPolicy::AccessToken
        })
        .max_token_lifetime(config.max_token_lifetime.map(Duration::from_secs))
        .audiences(config.audiences.clone())
        .audienceless_clients(config.audienceless_clients.clone())
        .roles_as_scopes(config.roles_as_scopes.clone())
        .resource_metadata(move |m| match &name {
            Some(n) => m.with_resource_name(n.clone()),
            None => m,
        })
        .build()
        .await
        .map_err(|e| e.to_string())?;
    // HTTP/1.1 only: the proxy forwards requests as HTTP/1.1.
    let https = https_connector(Duration::from_secs(5), false).map_err(|e| e.to_string())?;
    let identity = ["Subject", "Client-Id", "Scopes"].map(|s| {
        HeaderName::from_bytes(format!("{}{s}", config.identity_header_prefix).as_bytes())
            .unwrap_or(HeaderName::from_static("x-mcp-authz-unknown"))
    });
    let assertion = match &config.identity_assertion {
        Some(key_file) => {
            let asserter = crate::assertion::Asserter::new(
                &config.resource,
                &config.upstream.to_string(),
                key_file.as_deref(),
                crate::assertion::MAX_LIFETIME,
            )?;
            let name = HeaderName::from_bytes(
                format!("{}Assertion", config.identity_header_prefix).as_bytes(),
            )
            .map_err(|_| "--identity-header-prefix: not a header name prefix".to_owned())?;
            Some((Arc::new(asserter), name))
        }
        None => None,
    };
    let state = Arc::new(ProxyState {
        client: Client::builder(TokioExecutor::new()).build(https),
        upstream: config.upstream.clone(),
        timeout: config.upstream_timeout,
        identity,
        identity_prefix: config.identity_header_prefix.to_ascii_lowercase(),
        assertion: assertion.clone(),
    });
    let resource_path = authz.guard().resource_path().to_owned();
    let (aware, root) = authz.guard().metadata().well_known_paths();
    let not_found = || async { json_error(StatusCode::NOT_FOUND, "not_found", "no such path") };
    // The well-known paths and the resource go through the middleware (which answers the former
    // itself); everything else is 404, and /healthz is the proxy's own.
    let mut protected = Router::new()
        .route(&resource_path, any(forward))
        .route(&aware, any(not_found));
    if root != aware {
        protected = protected.route(&root, any(not_found));
    }
    let protected = protected.with_state(state).layer(authz.layer());
    let app = Router::new()
        .route(
            "/healthz",
            get(|| async {
                (
                    StatusCode::OK,
                    [(http::header::CONTENT_TYPE, "application/json")],
                    r#"{"status":"ok"}"#,
                )
            }),
        )
        .merge(protected)
        .fallback(not_found);
    let app = match &assertion {
        // The assertions' public keys: served to anyone, like the metadata.
        Some((asserter, _)) => {
            let jwks = asserter.jwks().to_owned();
            app.route(
                crate::assertion::JWKS_PATH,
                get(move || async move {
                    (
                        StatusCode::OK,
                        [
                            (http::header::CONTENT_TYPE, "application/json"),
                            (http::header::CACHE_CONTROL, "public, max-age=300"),
                        ],
                        jwks,
                    )
                }),
            )
        }
        None => app,
    };
    let app = match config.access_log {
        true => app.layer(axum::middleware::from_fn(access_log)),
        false => app,
    };
    Ok(Proxy { app, authz })
}

/// One JSON line per request on stdout, after the response head: what the layer decided
/// ([`mcp_authz_hyper::Decision`]), never a token or another header's value.
async fn access_log(req: Request, next: axum::middleware::Next) -> Response {
    use std::io::Write;
    let started = std::time::Instant::now();
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let response = next.run(req).await;
    let decision = response.extensions().get::<mcp_authz_hyper::Decision>();
    let principal = decision.and_then(|d| d.principal.as_deref());
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let line = serde_json::json!({
        "time": time,
        "method": method,
        "path": path,
        "status": response.status().as_u16(),
        "reason": decision.and_then(|d| d.reason),
        "issuer": principal.map(Principal::issuer),
        "kid": principal.and_then(Principal::key_id),
        "client_id": principal.and_then(Principal::client_id),
        "subject": principal.and_then(Principal::subject),
        "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
    });
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    response
}

/// Resolves when SIGINT or SIGTERM arrives. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that comes right after start-up (before the
/// server awaits it) still means a graceful stop rather than the default kill. Call it inside
/// the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let recv = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = recv(int) => {}
                _ = recv(term) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(target: "mcp_authz", "shutting down: finishing in-flight requests");
    }
}

/// `mcp-authz proxy`: resolve the configuration, start, serve until SIGINT/SIGTERM.
pub fn run(args: ProxyArgs) -> std::process::ExitCode {
    crate::init_tracing();
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-authz proxy: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-authz proxy: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        // The recorder first: start-up's own fetches are counted.
        if let Some(addr) = config.metrics_listen {
            if let Err(e) = install_metrics(addr) {
                eprintln!("mcp-authz proxy: cannot serve metrics on {addr}: {e}");
                return std::process::ExitCode::from(2);
            }
        }
        let proxy = match build(&config).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("mcp-authz proxy: not starting: {e}");
                return std::process::ExitCode::from(1);
            }
        };
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mcp-authz proxy: cannot listen on {}: {e}", config.listen);
                return std::process::ExitCode::from(2);
            }
        };
        // Handlers before the start line: a signal right after it is a graceful stop.
        let stop = shutdown_signal();
        eprintln!(
            "mcp-authz proxy: {} -> {} (authorization servers: {})",
            config.resource,
            config.upstream,
            proxy
                .authz
                .guard()
                .verifiers()
                .map(|v| v.config().issuer())
                .collect::<Vec<_>>()
                .join(", ")
        );
        match serve(listener, proxy.app, config.limits, stop).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mcp-authz proxy: {e}");
                std::process::ExitCode::from(1)
            }
        }
    })
}
