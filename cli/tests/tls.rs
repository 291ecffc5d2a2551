//! The proxy over TLS, as a process, with real TLS clients: rustls (HTTP/1.1 and HTTP/2 through
//! ALPN), curl, and the official MCP TypeScript SDK client trusting a test CA; the certificate
//! reloaded on SIGHUP and when its files change, while an SSE stream opened before stays open
//! and keeps flowing.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_authz_testkit::auth_server::DevAuthServer;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, ServerName};

#[path = "support/node.rs"]
mod node;
#[path = "support/process.rs"]
mod process;
use process::{debian_tool, free_port, gated_events, next_data, wait_listening, Killed};

/// A test CA, and leaf certificates for `localhost` it signs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "mcp-authz test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `localhost` and 127.0.0.1, written with its chain (leaf, then the CA) to
    /// `cert` and its key to `key`; returns the leaf.
    fn leaf(&self, cert: &Path, key: &Path) -> CertificateDer<'static> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&leaf_key, &self.issuer).unwrap();
        // Written to a temporary name and renamed: a reader never sees half a file.
        let write = |path: &Path, text: String| {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        };
        write(key, leaf_key.serialize_pem());
        write(cert, format!("{}{}", leaf.pem(), self.pem));
        leaf.der().clone()
    }

    fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// A TLS connection to the proxy: the certificate it was served and the ALPN protocol chosen.
async fn connect(
    ca: &Ca,
    port: u16,
    alpn: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    CertificateDer<'static>,
    Option<Vec<u8>>,
) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = ca.client(alpn).connect(name, tcp).await.unwrap();
    let (_, session) = tls.get_ref();
    let served = session.peer_certificates().unwrap()[0].clone();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    (tls, served, alpn)
}

/// The SSE upstream: one event, then one more each time the test opens the gate.
fn upstream(gate: Arc<tokio::sync::Notify>) -> axum::Router {
    axum::Router::new().route(
        "/mcp",
        axum::routing::any(move || {
            let gate = gate.clone();
            async move { gated_events("event", gate) }
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_h2_by_alpn_and_a_reload_that_keeps_an_open_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ca = Ca::new();
    let first = ca.leaf(&cert, &key);

    let as_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_l.local_addr().unwrap());
    let port = free_port().await;
    let resource = format!("https://localhost:{port}/mcp");
    let auth =
        DevAuthServer::new(issuer.clone(), resource.clone(), vec!["mcp:tools".into()]).unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let gate = Arc::new(tokio::sync::Notify::new());
    let up_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = format!("http://{}/mcp", up_l.local_addr().unwrap());
    let app = upstream(gate.clone());
    tokio::spawn(async move { axum::serve(up_l, app).await });

    let child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args(["proxy", "--fail-fast"])
        .args([
            "--metadata-url",
            &format!("{issuer}/.well-known/oauth-authorization-server"),
        ])
        .args(["--resource", &resource, "--upstream", &up])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-http-loopback",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _child = Killed(child);
    wait_listening(port).await;

    // HTTP/2 when the client offers it; HTTP/1.1 when it offers only that.
    let (tls, served, alpn) = connect(&ca, port, &[b"h2", b"http/1.1"]).await;
    assert_eq!((served, alpn.as_deref()), (first.clone(), Some(&b"h2"[..])));
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("https://localhost:{port}/healthz"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.version()),
        (200, http::Version::HTTP_2)
    );

    // curl, trusting the test CA, over HTTP/2; the PRM document names the https resource.
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let curl = Command::new(debian_tool("curl", "curl"))
        .args([
            "-sS",
            "--http2",
            "-w",
            "\n%{http_version} %{http_code}",
            "--cacert",
        ])
        .arg(&ca_file)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!(
            "https://localhost:{port}/.well-known/oauth-protected-resource/mcp"
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&curl.stdout);
    assert!(
        out.ends_with("\n2 200"),
        "{out} {}",
        String::from_utf8_lossy(&curl.stderr)
    );
    assert!(
        out.contains(&format!("\"resource\":\"{resource}\"")),
        "{out}"
    );

    // An SSE stream over HTTP/1.1, with a token; its first event comes through.
    let (tls, _, alpn) = connect(&ca, port, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let token = auth.mint("tls-test", "mcp:tools", &resource).unwrap();
    let req = http::Request::post(format!("https://localhost:{port}/mcp"))
        .header("host", format!("localhost:{port}"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        )))
        .unwrap();
    let resp = h1.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.into_body();
    assert_eq!(next_data(&mut stream).await, "data: event 0\n\n");

    // New files, then SIGHUP: new connections get the new certificate.
    let second = ca.leaf(&cert, &key);
    assert_ne!(first, second);
    let hup = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, served, _) = connect(&ca, port, &[b"http/1.1"]).await;
        if served == second {
            break;
        }
        assert!(Instant::now() < deadline, "still the first certificate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The stream opened before the reload still flows.
    gate.notify_one();
    assert_eq!(next_data(&mut stream).await, "data: event 1\n\n");

    // Changed files alone are noticed too (no signal); a key that does not match is refused and
    // the current certificate kept.
    let third = ca.leaf(&cert, &key);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, served, _) = connect(&ca, port, &[b"http/1.1"]).await;
        if served == third {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the changed files were not noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, served, _) = connect(&ca, port, &[b"http/1.1"]).await;
    assert_eq!(served, third, "a mismatched key replaced the certificate");
    gate.notify_one();
    assert_eq!(next_data(&mut stream).await, "data: event 2\n\n");
}

#[test]
fn a_certificate_without_its_key_or_a_mismatched_pair_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ca = Ca::new();
    ca.leaf(&cert, &key);
    let run = |extra: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
            .args(["proxy", "--fail-fast"])
            .args([
                "--metadata-url",
                "http://127.0.0.1:1/.well-known/oauth-authorization-server",
            ])
            .args([
                "--resource",
                "https://localhost:1/mcp",
                "--upstream",
                "http://127.0.0.1:2/mcp",
            ])
            .arg("--allow-http-loopback")
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--tls-cert".as_ref(), cert.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--tls-cert and --tls-key go together"),
        "{err}"
    );
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let (code, err) = run(&[
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--tls-cert") && err.contains("--tls-key"),
        "{err}"
    );
}

/// The official TypeScript SDK client, trusting the test CA (`NODE_EXTRA_CA_CERTS`), completes
/// the whole flow and the step-up against the proxy over HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_completes_the_flow_over_tls() {
    node::ensure_sdk();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ca = Ca::new();
    ca.leaf(&cert, &key);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();

    let as_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_l.local_addr().unwrap());
    let port = free_port().await;
    let resource = format!("https://localhost:{port}/mcp");
    let auth = DevAuthServer::new(
        issuer.clone(),
        resource.clone(),
        vec!["mcp:tools".into(), "mcp:admin".into()],
    )
    .unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(as_l, router).await });
    let up_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = up_l.local_addr().unwrap().to_string();
    let mcp = mcp_authz_testkit::demo_mcp::demo_service(vec![
        up_addr.clone(),
        "127.0.0.1".into(),
        "localhost".into(),
    ]);
    let app = axum::Router::new().nest_service("/mcp", mcp);
    tokio::spawn(async move { axum::serve(up_l, app).await });

    let child = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args(["proxy", "--fail-fast"])
        .args([
            "--metadata-url",
            &format!("{issuer}/.well-known/oauth-authorization-server"),
        ])
        .args([
            "--resource",
            &resource,
            "--upstream",
            &format!("http://{up_addr}/mcp"),
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-http-loopback",
        ])
        .args([
            "--scope",
            "mcp:tools",
            "--tool-scope",
            "admin_reset=mcp:admin",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Killed(child);
    wait_listening(port).await;
    // The node process runs beside this runtime, which keeps serving the AS and the upstream.
    let flow = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("sdk-flow.mjs")
            .arg(&resource)
            .env("NODE_EXTRA_CA_CERTS", &ca_file)
            .current_dir(node::interop_dir())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&flow.stdout);
    assert!(
        flow.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&flow.stderr)
    );
    for expected in [
        "-> 401",
        "/.well-known/oauth-protected-resource/mcp -> 200",
        "/token -> 200",
        "tools/call whoami: subject=",
        "-> 403",
        "tools/call admin_reset: reset done",
        "result: OK",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
