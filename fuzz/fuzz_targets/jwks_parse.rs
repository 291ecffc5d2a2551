//! Any bytes as a JWK Set: parse; every entry is either a usable key or a skipped one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mcp_authz_core::{JwkSet, JwksLimits};

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = JwkSet::parse(data, &JwksLimits::default()) {
        assert!(set.keys().len() + set.skipped().len() <= JwksLimits::default().max_keys);
        for k in set.keys() {
            let _ = k.fingerprint();
        }
    }
});
