//! The core in a WebAssembly module, for `.ci/run`: built for `wasm32-unknown-unknown` and run
//! by `run.mjs` in Node's WebAssembly runtime (no wasm-bindgen), which feeds it the RFC examples
//! and the tokens made by PyJWT and jwcrypto and checks every verdict against the one the host
//! tests assert. It proves the core runs, not only builds, on a runtime with no OS.
//!
//! The interface is linear memory: the host writes its inputs at [`input_ptr`] (up to
//! [`input_capacity`] bytes), calls an export with the lengths of the parts, and reads the verdict
//! (`valid` or a reason name) at [`output_ptr`]; the export returns its length. The buffers are
//! arrays of atomics, so Rust reads what the host wrote without an `unsafe` block.

use core::sync::atomic::{AtomicU8, Ordering};

use mcp_authz_core::jose::jws::CompactJws;
use mcp_authz_core::{
    AccessTokenVerifier, JwkSet, JwksLimits, TypPolicy, UnixTime, VerifierConfig,
};

const CAPACITY: usize = 64 * 1024;

static INPUT: [AtomicU8; CAPACITY] = [const { AtomicU8::new(0) }; CAPACITY];
static OUTPUT: [AtomicU8; 256] = [const { AtomicU8::new(0) }; 256];

/// Where the host writes its inputs.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn input_ptr() -> usize {
    INPUT.as_ptr() as usize
}

/// How many input bytes fit.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn input_capacity() -> usize {
    CAPACITY
}

/// Where the verdict is.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn output_ptr() -> usize {
    OUTPUT.as_ptr() as usize
}

/// The input's consecutive parts of these lengths, as bytes.
fn parts<const N: usize>(lengths: [usize; N]) -> Option<[Vec<u8>; N]> {
    let mut at = 0usize;
    let mut out: [Vec<u8>; N] = core::array::from_fn(|_| Vec::new());
    for (slot, len) in out.iter_mut().zip(lengths) {
        let end = at.checked_add(len).filter(|e| *e <= CAPACITY)?;
        *slot = INPUT
            .get(at..end)?
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        at = end;
    }
    Some(out)
}

/// Writes `verdict` to the output and returns its length.
fn answer(verdict: &str) -> usize {
    let bytes = verdict.as_bytes();
    for (slot, b) in OUTPUT.iter().zip(bytes) {
        slot.store(*b, Ordering::Relaxed);
    }
    bytes.len().min(OUTPUT.len())
}

/// Verifies an access token: the input holds the JWK Set, the token, the issuer and the resource
/// (in that order, of these lengths); `now` is seconds since the epoch; `lenient_typ` accepts
/// `typ: JWT`. The verdict is `valid`, a token rejection's reason, or `jwks:` and the reason the
/// set was refused.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn verify_token(
    jwks_len: usize,
    token_len: usize,
    issuer_len: usize,
    resource_len: usize,
    now: u64,
    lenient_typ: u32,
) -> usize {
    let Some([jwks, token, issuer, resource]) =
        parts([jwks_len, token_len, issuer_len, resource_len])
    else {
        return answer("bad_input");
    };
    let keys = match JwkSet::parse(&jwks, &JwksLimits::default()) {
        Ok(k) => k,
        Err(e) => return answer(&format!("jwks:{}", e.reason())),
    };
    let (Ok(token), Ok(issuer), Ok(resource)) = (
        core::str::from_utf8(&token),
        core::str::from_utf8(&issuer),
        core::str::from_utf8(&resource),
    ) else {
        return answer("bad_input");
    };
    let mut config = VerifierConfig::new(issuer, resource);
    if lenient_typ != 0 {
        config = config.with_typ_policy(TypPolicy::Lenient);
    }
    match AccessTokenVerifier::new(config).verify(token, &keys, UnixTime::from_secs(now)) {
        Ok(_) => answer("valid"),
        Err(e) => answer(e.reason()),
    }
}

/// Verifies a JWS signature (the RFC examples): the input holds a JWK Set with one key and the
/// compact JWS. The verdict is `valid` or the reason.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn verify_jws(jwks_len: usize, token_len: usize) -> usize {
    let Some([jwks, token]) = parts([jwks_len, token_len]) else {
        return answer("bad_input");
    };
    let keys = match JwkSet::parse(&jwks, &JwksLimits::default()) {
        Ok(k) => k,
        Err(e) => return answer(&format!("jwks:{}", e.reason())),
    };
    let Ok(token) = core::str::from_utf8(&token) else {
        return answer("bad_input");
    };
    let jws = match CompactJws::parse(token, 8192) {
        Ok(j) => j,
        Err(e) => return answer(e.reason()),
    };
    match keys.keys().first().map(|k| jws.verify(k)) {
        Some(Ok(_)) => answer("valid"),
        Some(Err(e)) => answer(e.reason()),
        None => answer("no_key"),
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
getrandom::register_custom_getrandom!(no_randomness);
