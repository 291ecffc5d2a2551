//! `mcp-authz proxy`: OAuth 2.0 in front of an existing MCP server (Streamable HTTP), without
//! writing code.
//!
//! Requests to the resource path pass the authorization middleware, then go to the upstream,
//! streaming both ways (SSE included). The proxy itself serves the RFC 9728 documents, the
//! challenges, `/healthz` (liveness) and `/readyz` (readiness: every authorization server's
//! metadata validated and keys loaded); other paths are 404. The client's `Authorization` header never
//! reaches the upstream; the verified identity does, in headers the proxy sets after removing any
//! the client sent.
//!
//! In three parts: [`config`] (every setting, once, as flag and TOML key), [`serve`](mod@serve) (listener,
//! limits, shutdown) and `forward` (the upstream request); [`build`] puts them together behind
//! the `mcp-authz-hyper` layer.

pub mod config;
mod facade;
mod forward;
pub mod serve;
pub mod tls;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use http::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_authz_core::Principal;
use mcp_authz_driver::https_connector;
use mcp_authz_hyper::{Authz, AuthzBuilder};

pub use config::{
    ProxyArgs, ProxyConfig, ProxyIntrospection, RouteConfig, ServerConfig, CLIENT_SECRET_ENV,
};
pub use serve::{
    install_metrics, serve, serve_tls, shutdown_signal, ClientAddr, ServeLimits, SharedApp,
    MAX_HEADERS, MAX_HEAD_BYTES,
};
pub use tls::{Tls, TlsFiles};

use forward::{forward, json_error, ProxyState};

/// Why the proxy did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A setting is missing or wrong (exit status 2).
    Config(String),
    /// The authorization server's metadata or keys could not be used (exit status 1).
    Startup(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(m) | Self::Startup(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BuildError {}

/// Everything the proxy needs to serve, started (metadata validated, keys fetched).
pub struct Proxy {
    /// The router to serve.
    pub app: Router,
    /// The started middleware (metadata, keys) of the first route.
    pub authz: Authz,
    /// Every route's name and started middleware, in the configured order.
    pub routes: Vec<(String, Authz)>,
}

impl Proxy {
    /// Whether every route's authorization servers have validated metadata and keys.
    pub fn is_ready(&self) -> bool {
        self.routes.iter().all(|(_, a)| a.is_ready())
    }
}

/// The paths the proxy serves itself, which no route may take.
const OWN_PATHS: [&str; 3] = ["/healthz", "/readyz", crate::assertion::JWKS_PATH];

/// Checks the settings, validates the metadata, fetches the keys and builds the proxy's router:
/// each route's resource path and its path-aware metadata behind that route's middleware (the
/// root metadata path too when there is one route), the proxy's own paths, and 404 for any
/// other path, which reaches no upstream.
///
/// # Errors
/// [`BuildError::Config`] for a setting that is missing or wrong, [`BuildError::Startup`] when
/// an authorization server cannot be used.
pub async fn build(config: &ProxyConfig) -> Result<Proxy, BuildError> {
    let access_log = config.server.access_log().map_err(BuildError::Config)?;
    let routes = config.all_routes().map_err(BuildError::Config)?;
    // Every setting of every route is checked before anything is fetched.
    let mut prepared = Vec::with_capacity(routes.len());
    let mut facades = std::collections::HashMap::new();
    for (name, route) in &routes {
        if let Some(settings) = route.facade().map_err(BuildError::Config)? {
            let resource = route.resource().map_err(BuildError::Config)?;
            let issuer =
                facade::issuer_for(resource, &settings.profile).map_err(BuildError::Config)?;
            facades.insert(name.clone(), (settings, issuer, route.allow_http_loopback));
        }
        let (builder, upstream) = authorization(route).map_err(BuildError::Config)?;
        let mut builder = builder
            .lazy_start(!config.server.fail_fast)
            .route_name(name.clone())
            .rate_limits_fail_closed(config.server.rate_limits_fail_closed)
            .state_fail_open(config.server.store_fail_open);
        if let Some(url) = &config.server.store {
            builder = builder.store(url.clone());
        }
        let state = forwarding(route, upstream, name).map_err(BuildError::Config)?;
        prepared.push((name.clone(), builder, state));
    }
    let single = prepared.len() == 1;
    let not_found = || async { json_error(StatusCode::NOT_FOUND, "not_found", "no such path") };
    let mut taken: Vec<String> = OWN_PATHS.iter().map(|p| (*p).to_owned()).collect();
    let mut claim = |path: &str, name: &str| match taken.iter().any(|t| t == path) {
        true => Err(BuildError::Config(format!(
            "route {name}: the path {path} is taken (by another route or the proxy itself)"
        ))),
        false => {
            taken.push(path.to_owned());
            Ok(())
        }
    };
    let mut app = Router::new();
    let mut started = Vec::with_capacity(prepared.len());
    let mut jwks: Vec<serde_json::Value> = Vec::new();
    for (name, builder, state) in prepared {
        let authz = builder
            .build()
            .await
            .map_err(|e| BuildError::Startup(e.to_string()))?;
        if let Some((asserter, _)) = &state.assertion {
            let keys: serde_json::Value = serde_json::from_str(asserter.jwks())
                .map_err(|e| BuildError::Config(e.to_string()))?;
            jwks.extend(
                keys.get("keys")
                    .and_then(|k| k.as_array())
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        let resource_path = authz.guard().resource_path().to_owned();
        let (aware, root) = authz.guard().metadata().well_known_paths();
        claim(&resource_path, &name)?;
        claim(&aware, &name)?;
        // The well-known paths and the resource go through the middleware (which answers the
        // former itself).
        let mut protected = Router::new()
            .route(&resource_path, any(forward))
            .route(&aware, any(not_found));
        // The root form names one resource: served only when the proxy protects one.
        if root != aware && single {
            claim(&root, &name)?;
            protected = protected.route(&root, any(not_found));
        }
        app = app.merge(protected.with_state(state).layer(authz.layer()));
        if let Some((settings, issuer, loopback)) = facades.remove(&name) {
            let facade = facade::FacadeState::new(issuer, settings, authz.clone(), loopback)
                .map_err(BuildError::Config)?;
            for path in facade.paths() {
                claim(&path, &name)?;
            }
            app = app.merge(facade.router());
        }
        started.push((name, authz));
    }
    let ready: Vec<Authz> = started.iter().map(|(_, a)| a.clone()).collect();
    let names: Vec<String> = started.iter().map(|(n, _)| n.clone()).collect();
    let app = app
        .route(
            "/readyz",
            get(move || {
                let report: Vec<serde_json::Value> = ready
                    .iter()
                    .zip(&names)
                    .map(|(a, name)| {
                        let mut r = a.readiness();
                        if let Some(o) = r.as_object_mut() {
                            o.insert("route".into(), name.clone().into());
                        }
                        r
                    })
                    .collect();
                let all = ready.iter().all(Authz::is_ready);
                let status = match all {
                    true => StatusCode::OK,
                    false => StatusCode::SERVICE_UNAVAILABLE,
                };
                let body = match report.as_slice() {
                    [one] => one.to_string(),
                    _ => serde_json::json!({"ready": all, "routes": report}).to_string(),
                };
                async move {
                    (
                        status,
                        [
                            (http::header::CONTENT_TYPE, "application/json"),
                            (http::header::CACHE_CONTROL, "no-store"),
                        ],
                        body,
                    )
                }
            }),
        )
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
        .fallback(not_found);
    let app = match jwks.is_empty() {
        // The assertions' public keys (every route's): served to anyone, like the metadata.
        false => {
            let jwks = serde_json::json!({ "keys": jwks }).to_string();
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
        true => app,
    };
    let app = match access_log {
        true => app.layer(axum::middleware::from_fn(log_request)),
        false => app,
    };
    let authz = started
        .first()
        .map(|(_, a)| a.clone())
        .ok_or_else(|| BuildError::Config("no route".into()))?;
    Ok(Proxy {
        app,
        authz,
        routes: started,
    })
}

/// The authorization middleware of `route`, configured (not started), and its upstream.
fn authorization(route: &RouteConfig) -> Result<(AuthzBuilder, http::Uri), String> {
    let metadata_urls = route.metadata_urls()?;
    let mut builder = Authz::builder(route.resource()?);
    let upstream = route.upstream()?;
    for url in metadata_urls {
        builder = builder.metadata_url(url.clone());
    }
    if let Some(i) = route.introspection()? {
        builder = builder
            .introspection(i.mode)
            .introspection_client(i.client)
            .share_introspection(route.share_introspection);
        if let Some(ttl) = i.cache_ttl {
            builder =
                builder.introspection_cache_ttl(ttl, ttl.min(std::time::Duration::from_secs(10)));
        }
    }
    if let Some((profile, client, key)) = route.token_exchange()? {
        builder = builder.token_exchange(profile, client);
        if let Some(key) = key {
            builder = builder.token_exchange_key(key);
        }
    }
    if let Some(secret) = route.dpop_nonce_secret()? {
        builder = builder.dpop_nonce_secret(secret);
    }
    let (all, tools) = route.rate_limits()?;
    if let Some(limit) = all {
        builder = builder.rate_limit(limit);
    }
    for (tool, limit) in tools {
        builder = builder.tool_rate_limit(tool, limit);
    }
    let name = route.resource_name.clone();
    // With a facade, clients are sent to it instead of the provider (RFC 9728
    // `authorization_servers`).
    let facade_issuer = match route.facade()? {
        Some(f) => Some(facade::issuer_for(route.resource()?, &f.profile)?),
        None => None,
    };
    let builder = builder
        .allowed_origins(route.allowed_origin.clone())
        .allow_null_origin(route.allow_null_origin)
        .dpop(route.dpop_mode()?)
        .scopes(route.scope_policy()?)
        .tenants(route.tenants.tenant.clone())
        .allow_any_tenant(route.tenants.allow_any_tenant)
        .entra_v1_issuers(route.entra_v1_tokens)
        .validate_mcp_headers(route.validate_mcp_headers)
        // The facade registers clients itself.
        .allow_missing_registration(route.allow_missing_registration || route.as_facade.is_some())
        .allow_http_loopback(route.allow_http_loopback)
        .typ_policy(route.typ_policy())
        .max_token_lifetime(route.max_token_lifetime.map(std::time::Duration::from_secs))
        .audiences(route.audience.audience.clone())
        .audienceless_clients(route.audience.client_id_audience.clone())
        .roles_as_scopes(route.audience.roles_as_scopes.clone())
        .resource_metadata(move |m| {
            let m = match &facade_issuer {
                Some(issuer) => m.with_authorization_servers([issuer.clone()]),
                None => m,
            };
            match &name {
                Some(n) => m.with_resource_name(n.clone()),
                None => m,
            }
        });
    Ok((builder, upstream))
}

/// What forwarding to `upstream` needs: the client, the identity headers and the signed
/// identity.
fn forwarding(
    route: &RouteConfig,
    upstream: http::Uri,
    name: &str,
) -> Result<Arc<ProxyState>, String> {
    let headers = route.identity_headers()?;
    // HTTP/1.1 only: the proxy forwards requests as HTTP/1.1.
    let https =
        https_connector(std::time::Duration::from_secs(5), false).map_err(|e| e.to_string())?;
    let identity = [headers.subject, headers.client_id, headers.scopes];
    let assertion = match route.identity_assertion {
        true => {
            let asserter = crate::assertion::Asserter::new(
                route.resource()?,
                &upstream.to_string(),
                route.identity_assertion_key.as_deref(),
                crate::assertion::MAX_LIFETIME,
            )?;
            Some((Arc::new(asserter), headers.assertion))
        }
        false => None,
    };
    Ok(Arc::new(ProxyState {
        client: Client::builder(TokioExecutor::new()).build(https),
        upstream,
        timeout: route.upstream_timeout(),
        identity,
        identity_prefix: headers.prefix,
        assertion,
        route: name.into(),
        exchange: route.exchange_target()?,
    }))
}

/// One JSON line per request on stdout, after the response head: what the layer decided
/// ([`mcp_authz_hyper::Decision`]), never a token or another header's value.
async fn log_request(req: Request, next: axum::middleware::Next) -> Response {
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

/// `mcp-authz proxy`: resolve the configuration, start, serve until SIGINT/SIGTERM.
pub fn run(args: ProxyArgs) -> std::process::ExitCode {
    crate::init_tracing();
    let config = match args.clone().resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-authz proxy: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // One worker: a single thread does everything (accepts, requests, the upstream's
    // connections, timers), as an nginx worker does, with no thread ever woken for another.
    let mut runtime = match config.server.workers {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(workers) => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.worker_threads(workers);
            runtime
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-authz proxy: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        // The recorder first: start-up's own fetches are counted.
        if let Some(addr) = config.server.metrics_listen {
            if let Err(e) = install_metrics(addr) {
                eprintln!("mcp-authz proxy: cannot serve metrics on {addr}: {e}");
                return std::process::ExitCode::from(2);
            }
        }
        // The certificate is checked before anything is fetched.
        let tls = match config
            .server
            .tls()
            .and_then(|f| f.map(Tls::new).transpose())
        {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("mcp-authz proxy: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        let proxy = match build(&config).await {
            Ok(p) => p,
            Err(BuildError::Config(e)) => {
                eprintln!("mcp-authz proxy: {e}");
                return std::process::ExitCode::from(2);
            }
            Err(BuildError::Startup(e)) => {
                eprintln!("mcp-authz proxy: not starting: {e}");
                return std::process::ExitCode::from(1);
            }
        };
        let listen = config.server.listen();
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mcp-authz proxy: cannot listen on {listen}: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        // Handlers before the start line: a signal right after it is a graceful stop.
        let stop = shutdown_signal();
        let routes = config.all_routes().unwrap_or_default();
        for ((name, authz), (_, route)) in proxy.routes.iter().zip(&routes) {
            let issuers: Vec<&str> = authz
                .guard()
                .verifiers()
                .map(|v| v.config().issuer())
                .collect();
            let label = match routes.len() {
                1 => String::new(),
                _ => format!("route {name}: "),
            };
            eprintln!(
                "mcp-authz proxy: {label}{} -> {} (authorization servers: {})",
                route.resource.as_deref().unwrap_or(""),
                route.upstream.as_deref().unwrap_or(""),
                issuers.join(", ")
            );
        }
        let app = SharedApp::from(proxy.app);
        reload_on_hangup(args, config.clone(), app.clone());
        let served = match &tls {
            Some(tls) => {
                tls::watch(tls.certificate.clone(), std::time::Duration::from_secs(2));
                serve_tls(listener, app, config.server.limits(), tls, stop).await
            }
            None => serve(listener, app, config.server.limits(), stop).await,
        };
        match served {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mcp-authz proxy: {e}");
                std::process::ExitCode::from(1)
            }
        }
    })
}

/// On every `SIGHUP`, reads the configuration again (the same flags over the file as it is now)
/// and builds the routes anew, discovering their authorization servers first: on success new
/// requests get the new routes, rules, scopes and upstreams, while requests and streams already
/// started finish on the old ones; a file that does not resolve or build is refused with the
/// reason, and the running configuration kept. The listener, its limits and TLS files are read
/// at start only: a change there is logged as needing a restart. Each outcome is logged and
/// counted (`mcp_authz_config_reloads_total{outcome}`).
pub fn reload_on_hangup(args: ProxyArgs, running: ProxyConfig, app: SharedApp) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!(target: "mcp_authz", "no SIGHUP handler: the configuration is not reloaded");
            return;
        };
        tokio::spawn(async move {
            let server_settings = |c: &ProxyConfig| serde_json::to_value(&c.server).ok();
            let started = server_settings(&running);
            while hup.recv().await.is_some() {
                let outcome = match args.clone().resolve() {
                    Ok(mut config) => {
                        if server_settings(&config) != started {
                            tracing::warn!(target: "mcp_authz", "listener settings changed (listen, limits, TLS files, metrics, access log): they take effect at the next restart");
                        }
                        // Swapped in only with its metadata validated and its keys loaded:
                        // never a window of 503s.
                        config.server.fail_fast = true;
                        let routes = config.all_routes().map(|r| r.len()).unwrap_or(0);
                        match build(&config).await {
                            Ok(proxy) => {
                                app.replace(proxy.app);
                                tracing::info!(target: "mcp_authz", routes, "configuration reloaded: new requests get it, requests in flight finish on the old one");
                                "reloaded"
                            }
                            Err(e) => {
                                tracing::error!(target: "mcp_authz", error = %e, "configuration reload refused: the running configuration is kept");
                                "refused"
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(target: "mcp_authz", error = %e, "configuration reload refused: the running configuration is kept");
                        "refused"
                    }
                };
                mcp_authz_driver::observe::config_reload(outcome);
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (args, running, app);
}
