//! A metadata URL and a document: the issuer mapping and the validation never panic, and a valid
//! report always carries metadata whose issuer is the document's.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_authz_core::as_metadata::{issuer_from_metadata_url, metadata_urls_for_issuer, validate, MetadataPolicy};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    url: &'a str,
    document: &'a [u8],
    allow_missing_registration: bool,
    allow_http_loopback: bool,
}

fuzz_target!(|input: Input<'_>| {
    let policy = MetadataPolicy::new()
        .allow_missing_registration(input.allow_missing_registration)
        .allow_http_loopback(input.allow_http_loopback);
    let expected = issuer_from_metadata_url(input.url).unwrap_or_else(|_| input.url.to_owned());
    for url in metadata_urls_for_issuer(&expected) {
        let _ = issuer_from_metadata_url(&url);
    }
    let report = validate(input.document, &expected, &policy);
    assert_eq!(report.is_valid(), report.metadata.is_some());
    if let Some(m) = &report.metadata {
        assert_eq!(Some(m.issuer()), report.issuer.as_deref());
    }
});
