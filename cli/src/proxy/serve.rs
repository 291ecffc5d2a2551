//! The proxy's server: the listener, the limits every connection is held to from its first
//! moment, graceful shutdown, and the metrics listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;

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
    app: impl Into<SharedApp>,
    limits: ServeLimits,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, app.into(), limits, None, stop).await
}

/// The router the listener serves, replaceable while it runs (a configuration reload): each
/// request is served by the router current when it arrives.
#[derive(Clone, Debug)]
pub struct SharedApp(Arc<std::sync::RwLock<Router>>);

impl From<Router> for SharedApp {
    fn from(app: Router) -> Self {
        Self(Arc::new(std::sync::RwLock::new(app)))
    }
}

impl SharedApp {
    /// The router new requests get.
    pub fn current(&self) -> Router {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Serves `app` to every request from now on; requests already started finish on theirs.
    pub fn replace(&self, app: Router) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = app;
    }
}

/// [`serve`] over TLS ([`super::tls`]): the handshake must complete within `header_timeout`;
/// a client that chose `h2` through ALPN is served HTTP/2 (header lists up to
/// [`MAX_HEAD_BYTES`]), any other HTTP/1.1 with the limits of [`serve`].
///
/// # Errors
/// When the listener fails for good.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: impl Into<SharedApp>,
    limits: ServeLimits,
    tls: &super::tls::Tls,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(
        listener,
        app.into(),
        limits,
        Some(tls.acceptor.clone()),
        stop,
    )
    .await
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    app: SharedApp,
    limits: ServeLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
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
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(limits.header_timeout);
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
                // The router current when the request arrives: a reload changes what new
                // requests get, and this one finishes on the one it started with.
                let mut app = app.current();
                async move {
                    let mut req = req.map(|b| Body::new(ReadTimeout::new(b, pause)));
                    req.extensions_mut().insert(ClientAddr(peer));
                    tower::Service::call(&mut app, req).await
                }
            },
        ));
        let Some(acceptor) = tls.clone() else {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
            continue;
        };
        let (watcher, http1, http2) = (graceful.watcher(), builder.clone(), h2.clone());
        let handshake_limit = limits.header_timeout;
        tokio::spawn(async move {
            // A client that never finishes its handshake holds a slot no longer than a head.
            let Ok(Ok(stream)) =
                tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await
            else {
                drop(permit);
                return;
            };
            let alpn_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            let io = TokioIo::new(stream);
            let _ = match alpn_h2 {
                true => watcher.watch(http2.serve_connection(io, service)).await,
                false => watcher.watch(http1.serve_connection(io, service)).await,
            };
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
