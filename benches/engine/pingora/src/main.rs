//! Prototype of `mcp-authz proxy` on Pingora 0.9.1 (see NOTES.md): requests to `/mcp` are
//! authorized (body buffered first), then forwarded to the upstream; everything else is 404.
//!
//! pingora-proto --listen 127.0.0.1:0 --upstream http://127.0.0.1:9000/mcp
//!     [--pingora-server [--upgrade]]

mod authz;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{Fds, Server};
use pingora_core::services::Service as _;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::Result;
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{ProxyHttp, Session};

/// The largest request body buffered for the decision (mcp-authz's default).
const MAX_BODY: usize = 1024 * 1024;
/// Pingora forwards a body already read in `request_filter` only from the session's retry
/// buffer, which holds 64 KiB (`BODY_BUF_LIMIT` in pingora-core, not configurable): a larger
/// body could not be sent on, so it is refused. NOTES.md has the ways around it.
const REPLAY_LIMIT: usize = 64 * 1024;

struct AuthzProxy {
    upstream: SocketAddr,
    /// The upstream URL's authority (the Host header sent) and path.
    authority: String,
    path: String,
}

/// Per-request state, created by `new_ctx` and handed to every filter.
#[derive(Default)]
struct Ctx {
    upstream_headers: Vec<(String, String)>,
}

#[async_trait]
impl ProxyHttp for AuthzProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    /// Runs once the request head is read. `Ok(true)`: a response was written here, the request
    /// ends; `Ok(false)`: go on to `upstream_peer` and forward.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if session.req_header().uri.path() != "/mcp" {
            return respond(session, (404, Vec::new(), b"not found".to_vec())).await;
        }
        let limit = MAX_BODY.min(REPLAY_LIMIT);
        let expect = session.req_header().headers.get(http::header::EXPECT);
        let expects_continue =
            expect.is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        // Reading the body here would otherwise consume it: bytes read while retry buffering is
        // on are kept, and the proxy phase sends them upstream first (proxy_h1.rs/proxy_h2.rs:
        // `get_retry_buffer()`), then finds the downstream body done.
        session.enable_retry_buffering();
        if expects_continue {
            // Nobody else answers it now that the proxy, not the upstream, reads the body.
            session.write_continue_response().await?;
        }
        let mut buf = Vec::new();
        while let Some(chunk) = session.read_request_body().await? {
            if buf.len() + chunk.len() > limit {
                return respond(session, too_large()).await;
            }
            buf.extend_from_slice(&chunk);
        }
        if session.retry_buffer_truncated() {
            return respond(session, too_large()).await;
        }
        let decision = {
            let req = session.req_header();
            let body = (!buf.is_empty()).then_some(buf.as_slice());
            authz::authorize(req.method.as_str(), req.uri.path(), &req.headers, body).await
        };
        match decision {
            Ok(headers) => {
                ctx.upstream_headers = headers;
                Ok(false)
            }
            Err(refusal) => respond(session, refusal).await,
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        // Plain HTTP: no TLS, no SNI. Connections are pooled per peer (ServerConf's
        // upstream_keepalive_pool_size); the peer's options bound connect, read and idle times.
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        peer.options.connection_timeout = Some(Duration::from_secs(5));
        Ok(Box::new(peer))
    }

    /// `upstream_request` starts as a copy of the client's request head, hop-by-hop fields
    /// already removed; it is sent as left here (called again on each retry).
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        upstream_request.remove_header(&http::header::AUTHORIZATION);
        upstream_request.remove_header(&http::header::EXPECT);
        let target = match upstream_request.uri.query() {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        };
        upstream_request.set_raw_path(target.as_bytes())?;
        upstream_request.insert_header(http::header::HOST, self.authority.as_str())?;
        for (name, value) in &ctx.upstream_headers {
            upstream_request.insert_header(name.clone(), value.as_str())?;
        }
        Ok(())
    }
}

/// Writes a whole response from the proxy itself; `Ok(true)` for `request_filter` to return.
/// `Session::write_*` (not the `HttpSession` ones it derefs to) also run the downstream modules.
async fn respond(session: &mut Session, (status, headers, body): authz::Refuse) -> Result<bool> {
    let mut resp = ResponseHeader::build(status, Some(headers.len() + 1))?;
    for (name, value) in headers {
        resp.append_header(name, value)?;
    }
    resp.set_content_length(body.len())?;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(true)
}

fn too_large() -> authz::Refuse {
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let body = br#"{"error":"invalid_request","error_description":"request body too large"}"#;
    (413, json, body.to_vec())
}

fn main() {
    let (listen, proxy, mode) = parse_args().unwrap_or_else(|e| {
        eprintln!("pingora-proto: {e}");
        std::process::exit(2)
    });
    if let Some(upgrade) = mode {
        run_pingora_server(&listen, proxy, upgrade)
    }
    if let Err(e) = run_in_tokio(&listen, proxy) {
        eprintln!("pingora-proto: {e}");
        std::process::exit(1)
    }
}

/// Pingora's own `Server`: its runtimes, SIGTERM (graceful), SIGINT (fast), SIGQUIT (hand the
/// listening fds to the process started with `--upgrade`, over /tmp/pingora_upgrade.sock). It
/// must not be started inside a tokio runtime, and it does not tell which port it bound.
fn run_pingora_server(listen: &str, proxy: AuthzProxy, upgrade: bool) -> ! {
    let conf = ServerConf {
        threads: 2,
        // Default: SIGTERM waits 300 s whatever is in flight, then 5 s for the runtimes.
        grace_period_seconds: Some(5),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let mut service = pingora_proxy::http_proxy_service(&server.configuration, proxy);
    service.add_tcp(listen);
    server.add_service(service);
    server.run_forever()
}

/// The same service driven from an ordinary tokio runtime, as a test would: the socket is bound
/// here (port 0 works; the address is printed) and handed to Pingora through the fd table its
/// upgrades use, keyed by the address string given to `add_tcp`.
fn run_in_tokio(listen: &str, proxy: AuthzProxy) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?; // Pingora adopts the fd as a tokio socket.
    let bound = listener.local_addr()?.to_string();
    let mut fds = Fds::new();
    fds.add(bound.clone(), listener.into_raw_fd());
    let conf = Arc::new(ServerConf::default());
    let mut service = pingora_proxy::http_proxy_service(&conf, proxy);
    service.add_tcp(&bound);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let fds = Some(Arc::new(parking_lot::Mutex::new(fds)));
        // `Service::start_service` returns once the accept loops stop (on `shutdown`).
        let serving = tokio::spawn(async move { service.start_service(fds, shutdown, 1).await });
        println!("listening on {bound}");
        tokio::signal::ctrl_c().await?;
        let _ = stop.send(true);
        let _ = serving.await;
        Ok::<(), std::io::Error>(())
    })
}

/// `--listen ADDR` (default 127.0.0.1:8080), `--upstream http://HOST:PORT/PATH`, then
/// `--pingora-server [--upgrade]` for Pingora's `Server` (`Some(upgrade)`).
fn parse_args() -> std::result::Result<(String, AuthzProxy, Option<bool>), String> {
    let (mut listen, mut upstream, mut mode) = ("127.0.0.1:8080".to_owned(), None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen ADDR")?,
            "--upstream" => upstream = args.next(),
            "--pingora-server" => mode = mode.or(Some(false)),
            "--upgrade" => mode = Some(true),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let url = upstream.ok_or("--upstream http://HOST:PORT/PATH is required")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or("--upstream: not http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let upstream = authority
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next();
    let proxy = AuthzProxy {
        upstream: upstream.ok_or(format!("{url}: no address"))?,
        authority: authority.to_owned(),
        path: format!("/{}", path.trim_start_matches('/')),
    };
    Ok((listen, proxy, mode))
}
