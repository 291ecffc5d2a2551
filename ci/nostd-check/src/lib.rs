//! Built by `.ci/run` for `x86_64-unknown-none` (and `wasm32-unknown-unknown`): a target with no
//! `std` at all, so the build fails the moment `mcp-authz-core` or one of its dependencies needs
//! `std`. On the host it is an ordinary (empty) library.

#![no_std]

pub use mcp_authz_core;

#[cfg(any(target_os = "none", all(target_arch = "wasm32", target_os = "unknown")))]
fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}

#[cfg(any(target_os = "none", all(target_arch = "wasm32", target_os = "unknown")))]
getrandom::register_custom_getrandom!(no_randomness);
