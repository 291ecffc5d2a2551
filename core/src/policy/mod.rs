//! What a request needs besides a valid token: the scopes per method and per tool
//! ([RFC 6750 §3.3](https://www.rfc-editor.org/rfc/rfc6750#section-3.3)).

pub mod scope_policy;
