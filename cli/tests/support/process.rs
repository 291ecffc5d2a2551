//! What the tests that run the `mcp-authz` binary share: the child killed when the test ends, a
//! free port, waiting for a listener, and event streams that advance when the test says.

// Each test file uses some of these.
#![allow(dead_code)]

use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;

/// A child process, killed (and reaped) when the test ends, whatever the outcome.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now.
pub(crate) async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Waits (at most 30 s) until something accepts connections on 127.0.0.1:`port`.
pub(crate) async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next data frame of a response body, as text (at most 10 s away).
pub(crate) async fn next_data(body: &mut hyper::body::Incoming) -> String {
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
}

/// An event-stream response: `data: {name} 0`, then `data: {name} 1`, … one more each time
/// `gate` opens; it never ends on its own.
pub(crate) fn gated_events(
    name: &'static str,
    gate: Arc<tokio::sync::Notify>,
) -> http::Response<Body> {
    let events = futures_util::stream::unfold(0u32, move |i| {
        let gate = gate.clone();
        async move {
            if i > 0 {
                gate.notified().await;
            }
            let event = Bytes::from(format!("data: {name} {i}\n\n"));
            Some((Ok::<_, std::io::Error>(event), i + 1))
        }
    });
    http::Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(events))
        .unwrap()
}

/// The command `name`, installed from the Debian package `package` when absent (as root on a
/// fresh machine, as `.ci/run` does); else the test cannot run and says so.
pub(crate) fn debian_tool(name: &'static str, package: &str) -> &'static str {
    let found = || {
        std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found() {
        let install = format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"
        );
        let _ = std::process::Command::new("sh")
            .args(["-c", &install])
            .status();
    }
    assert!(
        found(),
        "{name} is needed for this test: install Debian's {package}"
    );
    name
}
