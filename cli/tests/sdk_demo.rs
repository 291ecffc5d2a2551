//! The official MCP TypeScript SDK client (`@modelcontextprotocol/sdk`, pinned in
//! `interop/package-lock.json`) completes the whole flow against `mcp-authz demo`, headlessly:
//! 401 -> discovery -> registration -> PKCE -> token -> tools/list -> tools/call, and the step-up
//! of the tool that needs `mcp:admin` after a 403; the list shows that tool only after it.
//!
//! Needs Node 20 and npm (on every machine of this project); installs the SDK from the lockfile
//! when `interop/node_modules` is missing.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[path = "support/node.rs"]
mod node;
use node::{ensure_sdk, interop_dir};
#[path = "support/process.rs"]
mod process;
use process::Killed;

#[test]
fn typescript_sdk_completes_the_flow_and_the_step_up() {
    ensure_sdk();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_mcp-authz"))
        .args(["demo", "--port-base", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let demo = Killed(demo);
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("MCP URL (protected):") {
            url = Some(rest.trim().to_owned());
        }
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    let url = url.expect("the demo printed its MCP URL");
    let out = Command::new("node")
        .arg("sdk-flow.mjs")
        .arg(&url)
        .current_dir(interop_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "-> 401",
        "/.well-known/oauth-protected-resource/mcp -> 200",
        "/.well-known/oauth-authorization-server -> 200",
        "/register -> 201",
        "code_challenge_method=S256",
        "/token -> 200",
        "tools/list: whoami",
        "tools/call whoami: subject=demo-user",
        "-> 403",
        "authorize: scope=\"mcp:tools mcp:admin\"",
        "tools/call admin_reset: reset done for subject=demo-user",
        "tools/list after the step-up: admin_reset, whoami",
        "result: OK",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    drop(demo);
}
