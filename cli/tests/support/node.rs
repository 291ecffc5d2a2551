//! The official MCP TypeScript SDK for the tests that drive it: `interop/`, with its
//! dependencies installed from the lockfile when they are missing.

use std::path::PathBuf;
use std::process::Command;

/// The interop directory (the SDK client scripts and their `node_modules`).
pub(crate) fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

/// Installs the SDK from `interop/package-lock.json` unless it is there already.
pub(crate) fn ensure_sdk() {
    let dir = interop_dir();
    if dir
        .join("node_modules/@modelcontextprotocol/sdk/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm is needed for the SDK interop test (Node 20 ships it)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}
