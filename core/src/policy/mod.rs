//! What a request needs besides a valid token: the base scopes, and a requirement per method,
//! tool, prompt and resource ([RFC 6750 §3.3](https://www.rfc-editor.org/rfc/rfc6750#section-3.3)).

pub mod rate_limit;
pub mod rules;
pub mod scope_policy;
