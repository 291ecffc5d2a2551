//! Any bytes as a token: parse and verify with a fixed key set. Never panics; never accepts.
#![no_main]
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        // Random bytes cannot carry a valid EdDSA signature by the fixed key.
        assert!(common::verifier().verify(token, common::keys(), common::NOW).is_err());
    }
});
