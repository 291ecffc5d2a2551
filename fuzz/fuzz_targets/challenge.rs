//! Authorization header extraction and challenge building: never panics; every challenge is one
//! `Bearer` challenge whose header value is visible ASCII.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_authz_core::challenge::{credentials, Challenger};
use mcp_authz_core::{Error, TokenError};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    headers: Vec<&'a [u8]>,
    query: Option<&'a str>,
    realm: &'a str,
    metadata_url: &'a str,
    scopes: Vec<&'a str>,
}

fuzz_target!(|input: Input<'_>| {
    let headers: Vec<&[u8]> = input.headers.iter().take(4).copied().collect();
    if let Ok(Some(c)) = credentials(&headers, input.query) {
        assert!(!c.token.is_empty() && !c.token.contains(','));
    }
    let c = Challenger::new(input.metadata_url).with_realm(input.realm);
    let scopes: Vec<&str> = input.scopes.iter().take(4).copied().collect();
    for r in [
        c.no_credentials(&scopes),
        c.reject(&Error::InsufficientScope, &scopes),
        c.reject(&Error::InvalidToken(TokenError::Expired), &scopes),
    ] {
        let h = r.header("www-authenticate").unwrap_or_default();
        assert!(h.starts_with("Bearer "));
        // Control characters never reach the header (tab aside).
        assert!(!h.chars().any(|ch| ch.is_control() && ch != '\t'));
    }
});
