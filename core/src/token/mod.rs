//! What an access token proves: JWT claims under the access-token profile
//! ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)), opaque tokens by introspection
//! ([RFC 7662](https://www.rfc-editor.org/rfc/rfc7662)), sender constraint by DPoP
//! ([RFC 9449](https://www.rfc-editor.org/rfc/rfc9449)), and the cache of verified tokens; and
//! the token a downstream API takes in their place, by exchange
//! ([RFC 8693](https://www.rfc-editor.org/rfc/rfc8693)).

pub mod access_token;
pub mod dpop;
pub mod token_cache;
pub mod token_exchange;
pub mod token_introspection;
pub(crate) mod verifier_config;
