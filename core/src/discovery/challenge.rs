//! Bearer credentials and challenges: [RFC 6750](https://www.rfc-editor.org/rfc/rfc6750) as the
//! MCP authorization specification uses it, with the `resource_metadata` attribute of
//! [RFC 9728 §5.1](https://www.rfc-editor.org/rfc/rfc9728#section-5.1).
//!
//! - [`credentials`] extracts the access token from a request
//!   ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1)): exactly one
//!   `Authorization` header, scheme `Bearer` or `DPoP` (any case), a token68 value. A token in
//!   the query is refused even when a header is present too (MCP allows the header only; the
//!   exchange refuses one in a form body the same way).
//! - [`Challenger`] builds every answer that is not a success
//!   ([RFC 6750 §3](https://www.rfc-editor.org/rfc/rfc6750#section-3)): status,
//!   `WWW-Authenticate` and a small JSON body. Attribute values are quoted strings
//!   ([RFC 9110 §5.6.4](https://www.rfc-editor.org/rfc/rfc9110#section-5.6.4)) with `"` and `\`
//!   escaped; `error_description` is a fixed text per reason, never token bytes or other input.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, RequestError};
use crate::http_message::Response;

/// `WWW-Authenticate` and the CORS headers every challenge carries, so browser-based MCP clients
/// can read the challenge.
const CHALLENGE_CORS: [(&str, &str); 2] = [
    ("access-control-allow-origin", "*"),
    (
        "access-control-expose-headers",
        "WWW-Authenticate, DPoP-Nonce",
    ),
];

/// The credentials of the `Authorization` header: `Bearer` (RFC 6750 §2.1) or `DPoP` (RFC 9449
/// §7.1) and the token, after the checks of RFC 6750 §2.1 and RFC 9110 §11.2. Other schemes
/// are no credentials (`Ok(None)`).
///
/// # Errors
/// [`RequestError`] for several headers or credentials, a malformed value, or a token in the
/// query.
pub fn credentials<'a>(
    authorization: &[&'a [u8]],
    query: Option<&str>,
) -> Result<Option<Credentials<'a>>, RequestError> {
    if query.is_some_and(query_has_access_token) {
        return Err(RequestError::TokenInQuery);
    }
    let value = match authorization {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(RequestError::MultipleAuthorizationHeaders),
    };
    match well_formed(value) {
        Some(credentials) => Ok(Some(credentials)),
        None => read_authorization(value),
    }
}

/// The credentials of one `Authorization` value, read in full (RFC 6750 §2.1, RFC 9449 §7.1).
fn read_authorization(value: &[u8]) -> Result<Option<Credentials<'_>>, RequestError> {
    let value = core::str::from_utf8(value).map_err(|_| RequestError::MalformedAuthorization)?;
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let token = rest.trim_start_matches(' ');
    if token.contains(',') {
        return Err(RequestError::MultipleCredentials);
    }
    if !is_token68(token) {
        return Err(RequestError::MalformedAuthorization);
    }
    Ok(Some(Credentials { scheme, token }))
}

/// The credentials of an `Authorization` value that is exactly what clients send: optional
/// spaces or tabs, `Bearer` or `DPoP` (any case), spaces, a token68, optional spaces or tabs.
/// `None` for anything else, which [`credentials`] then reads in full (its answer for these is
/// the same: every byte here is ASCII, so the value is UTF-8, and a token68 has no comma). One
/// pass over the token's bytes instead of a UTF-8 check, a comma search and the token68 check.
fn well_formed(value: &[u8]) -> Option<Credentials<'_>> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b))?;
    let end = value.iter().rposition(|b| !blank(b))? + 1;
    let value = value.get(start..end)?;
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    let scheme = match scheme {
        s if s.eq_ignore_ascii_case(b"bearer") => Scheme::Bearer,
        s if s.eq_ignore_ascii_case(b"dpop") => Scheme::Dpop,
        _ => return None,
    };
    let start = rest.iter().position(|b| *b != b' ')?;
    let token = rest.get(start..)?;
    match is_token68_bytes(token) {
        true => core::str::from_utf8(token)
            .ok()
            .map(|token| Credentials { scheme, token }),
        false => None,
    }
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 9110 §11.2).
fn is_token68(s: &str) -> bool {
    is_token68_bytes(s.as_bytes())
}

fn is_token68_bytes(s: &[u8]) -> bool {
    let end = s.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    let body = s.get(..end).unwrap_or_default();
    // A fold rather than `all`: no early exit, so the compiler can check many bytes per step
    // (this runs over every token of every request).
    !body.is_empty() && body.iter().fold(true, |ok, b| ok & is_token68_char(*b))
}

/// A token68 character but `=` (RFC 7235 §2.1): ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
/// "/". Comparisons only, joined without short-circuit, so a fold over a token compiles to a
/// vector loop.
fn is_token68_char(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// Whether an `application/x-www-form-urlencoded` body has an `access_token` parameter
/// (RFC 6750 §2.2): the exchange reads a form body for this.
pub fn form_has_access_token(body: &[u8]) -> bool {
    core::str::from_utf8(body).is_ok_and(query_has_access_token)
}

/// Whether a query string has an `access_token` parameter (names are percent-decoded, `+` is a
/// space, as in `application/x-www-form-urlencoded`).
fn query_has_access_token(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let mut decoded = Vec::with_capacity(name.len());
        let mut bytes = name.bytes();
        while let Some(b) = bytes.next() {
            match b {
                b'%' => {
                    let hex = [bytes.next(), bytes.next()];
                    match hex {
                        [Some(h), Some(l)] => match (hex_val(h), hex_val(l)) {
                            (Some(h), Some(l)) => decoded.push(h << 4 | l),
                            _ => return false,
                        },
                        _ => return false,
                    }
                }
                b'+' => decoded.push(b' '),
                b => decoded.push(b),
            }
        }
        decoded == b"access_token"
    })
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `value` as an RFC 9110 quoted-string: `"` and `\` are escaped; control characters
/// (which a quoted-string cannot hold) are dropped.
pub fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The authentication scheme a request used, and a rejection answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` with a `DPoP` proof (RFC 9449 §7.1).
    Dpop,
}

/// Credentials from the `Authorization` header: the scheme and the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The scheme.
    pub scheme: Scheme,
    /// The token (a token68).
    pub token: &'a str,
}

impl core::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DpopChallenge {
    /// The `algs` attribute (space-separated).
    algs: String,
    /// Bearer is refused: no Bearer challenge at all.
    required: bool,
}

/// Builds the challenges of one protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenger {
    resource_metadata: String,
    realm: Option<String>,
    dpop: Option<DpopChallenge>,
}

impl Challenger {
    /// Challenges pointing at the protected-resource metadata URL `resource_metadata`.
    pub fn new(resource_metadata: impl Into<String>) -> Self {
        Self {
            resource_metadata: resource_metadata.into(),
            realm: None,
            dpop: None,
        }
    }

    /// Also challenges in the DPoP scheme (RFC 9449 §7.1), with `algs` (space-separated);
    /// when `required`, in the DPoP scheme only.
    #[must_use]
    pub fn with_dpop(mut self, algs: impl Into<String>, required: bool) -> Self {
        self.dpop = Some(DpopChallenge {
            algs: algs.into(),
            required,
        });
        self
    }

    /// The same challenges, pointing at `resource_metadata` instead.
    #[must_use]
    pub fn with_resource_metadata(mut self, resource_metadata: impl Into<String>) -> Self {
        self.resource_metadata = resource_metadata.into();
        self
    }

    /// Adds a `realm` attribute to every challenge.
    #[must_use]
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The `resource_metadata` URL.
    pub fn resource_metadata(&self) -> &str {
        &self.resource_metadata
    }

    /// The `realm`, if set.
    pub fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    fn header(&self, error: Option<&Error>, scopes: &[&str]) -> String {
        self.challenge(
            "Bearer",
            error.and_then(|e| e.bearer_error().map(|b| (b.as_str(), e))),
            scopes,
            None,
        )
    }

    /// The `WWW-Authenticate: DPoP …` challenge, with `error` when given.
    fn dpop_header(&self, error: Option<&Error>, scopes: &[&str]) -> Option<String> {
        let dpop = self.dpop.as_ref()?;
        let coded = error.and_then(|e| e.dpop_error().map(|c| (c, e)));
        Some(self.challenge("DPoP", coded, scopes, Some(&dpop.algs)))
    }

    /// The challenges for `error` (or none) to a request in `scheme`.
    fn challenges(&self, scheme: Scheme, error: Option<&Error>, scopes: &[&str]) -> Vec<String> {
        let dpop = self.dpop.as_ref();
        match (scheme, dpop) {
            (Scheme::Dpop, Some(_)) => self.dpop_header(error, scopes).into_iter().collect(),
            (_, Some(d)) if d.required => self.dpop_header(error, scopes).into_iter().collect(),
            // A Bearer request: its challenge with the error, and DPoP on offer.
            (_, Some(_)) => core::iter::once(self.header(error, scopes))
                .chain(self.dpop_header(None, scopes))
                .collect(),
            (_, None) => alloc::vec![self.header(error, scopes)],
        }
    }

    fn challenge(
        &self,
        scheme: &str,
        error: Option<(&str, &Error)>,
        scopes: &[&str],
        algs: Option<&str>,
    ) -> String {
        let mut h = String::from(scheme);
        h.push(' ');
        let mut first = true;
        let mut attr = |h: &mut String, name: &str, value: &str| {
            if !first {
                h.push_str(", ");
            }
            first = false;
            h.push_str(name);
            h.push('=');
            push_quoted(h, value);
        };
        if let Some(realm) = &self.realm {
            attr(&mut h, "realm", realm);
        }
        if let Some((code, e)) = error {
            attr(&mut h, "error", code);
            attr(&mut h, "error_description", e.description());
        }
        if let Some(algs) = algs {
            attr(&mut h, "algs", algs);
        }
        attr(&mut h, "resource_metadata", &self.resource_metadata);
        if !scopes.is_empty() {
            let joined = scopes.join(" ");
            attr(&mut h, "scope", &joined);
        }
        h
    }

    fn json_body(error: &str, description: &str) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert("error".into(), error.into());
        m.insert("error_description".into(), description.into());
        serde_json::to_vec(&m).unwrap_or_default()
    }

    fn response(
        status: u16,
        www_authenticate: Vec<String>,
        body: Vec<u8>,
        reason: &'static str,
    ) -> Response {
        let mut headers: Vec<(&'static str, String)> = Vec::with_capacity(6);
        for h in www_authenticate {
            headers.push(("www-authenticate", h));
        }
        headers.push(("content-type", "application/json".into()));
        headers.push(("cache-control", "no-store".into()));
        headers.extend(CHALLENGE_CORS.iter().map(|(k, v)| (*k, String::from(*v))));
        Response {
            status,
            headers,
            body,
            reason: Some(reason),
        }
    }

    /// The answer to a request without bearer credentials: `401` and
    /// `WWW-Authenticate: Bearer resource_metadata="…", scope="…"` with no `error` attribute
    /// (RFC 6750 §3.1). `scopes` are the ones to ask for first (the base scopes).
    pub fn no_credentials(&self, scopes: &[&str]) -> Response {
        Self::response(
            401,
            self.challenges(Scheme::Bearer, None, scopes),
            Self::json_body("unauthorized", "an access token is required"),
            "no_credentials",
        )
    }

    /// The answer to a rejected request.
    ///
    /// - [`Error::InvalidToken`]: `401`, `error="invalid_token"`; `scopes` are the base scopes.
    /// - [`Error::InsufficientScope`]: `403`, `error="insufficient_scope"`; `scopes` must be every
    ///   scope the operation needs (not only the missing ones), so that the client's
    ///   re-authorization asks for all of them.
    /// - [`Error::InvalidRequest`] about the credentials: `400`, `error="invalid_request"`.
    /// - [`Error::InvalidRequest`] about a body or MCP header the scope policy cannot use: its
    ///   status (400, 413, 415) and a JSON error, without a challenge.
    /// - [`Error::KeysUnavailable`], [`Error::IntrospectionUnavailable`], [`Error::InvalidJwks`]:
    ///   `503` with `Retry-After` and no challenge: the client did nothing wrong.
    pub fn reject(&self, error: &Error, scopes: &[&str]) -> Response {
        self.reject_in(Scheme::Bearer, error, scopes)
    }

    /// [`Challenger::reject`] for a request made in `scheme`: a DPoP request's challenge is in
    /// the DPoP scheme (RFC 9449 §7.1), with `invalid_dpop_proof` for a bad proof.
    pub fn reject_in(&self, scheme: Scheme, error: &Error, scopes: &[&str]) -> Response {
        let status = error.http_status();
        match error.dpop_error() {
            Some(code) => Self::response(
                status,
                self.challenges(scheme, Some(error), scopes),
                Self::json_body(code, error.description()),
                error.reason(),
            ),
            None if matches!(error, Error::InvalidRequest(_)) => Self::response(
                status,
                Vec::new(),
                Self::json_body("invalid_request", error.description()),
                error.reason(),
            ),
            // The downstream API's token could not be had from an answer: a gateway error, no
            // retry advice (the same request would fail the same way for a while).
            None if status == 502 => Self::response(
                status,
                Vec::new(),
                Self::json_body("server_error", error.description()),
                error.reason(),
            ),
            None => {
                let retry_after = match error {
                    Error::KeysUnavailable { retry_after_secs }
                    | Error::IntrospectionUnavailable { retry_after_secs }
                    | Error::RateLimitStoreUnavailable { retry_after_secs }
                    | Error::StoreUnavailable { retry_after_secs }
                    | Error::RateLimited { retry_after_secs } => *retry_after_secs,
                    Error::TokenExchange(_) => 5,
                    _ => 30,
                };
                let mut r = Self::response(
                    status,
                    Vec::new(),
                    Self::json_body("temporarily_unavailable", error.description()),
                    error.reason(),
                );
                r.headers
                    .push(("retry-after", alloc::format!("{retry_after}")));
                r
            }
        }
    }
}

impl Challenger {
    /// The answer to a request whose MCP headers contradict its body or cannot be decoded, in
    /// the shape the MCP transport gives it (2026-07-28, Streamable HTTP, "Standard Request
    /// Headers"): `400` with a JSON-RPC error response for the request's `id` (`null` when it
    /// has none or could not be read). Other errors get [`Challenger::reject`]'s answer.
    ///
    /// [`Error::NotPermitted`] gets `403` without a challenge and a JSON-RPC error whose `data`
    /// carries the authorization-denial envelope of SEP-2643 (draft), with remediation
    /// `unavailable`: no credential the client could obtain would help, so it must not
    /// re-authorize.
    pub fn reject_json_rpc(&self, error: &Error, id: Option<&serde_json::Value>) -> Response {
        let code = match error {
            Error::InvalidRequest(e) => e.json_rpc_code(),
            Error::NotPermitted => Some(NOT_PERMITTED_JSON_RPC_CODE),
            _ => None,
        };
        let Some(code) = code else {
            return self.reject(error, &[]);
        };
        let mut err = serde_json::Map::new();
        err.insert("code".into(), code.into());
        err.insert("message".into(), error.description().into());
        if matches!(error, Error::NotPermitted) {
            err.insert("data".into(), denial_envelope());
        }
        let mut m = serde_json::Map::new();
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("id".into(), id.cloned().unwrap_or(serde_json::Value::Null));
        m.insert("error".into(), err.into());
        let body = serde_json::to_vec(&m).unwrap_or_default();
        Self::response(error.http_status(), Vec::new(), body, error.reason())
    }
}

/// The JSON-RPC error code of a request over a rate limit (in the implementation-defined
/// server-error range of JSON-RPC 2.0 §5.1).
pub const RATE_LIMITED_JSON_RPC_CODE: i32 = -32029;

impl Challenger {
    /// The answer to a request over `limit` (named `name` in the fields): `429` with
    /// `Retry-After`, `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers)
    /// and a JSON-RPC error carrying the request's `id`, so MCP clients see a JSON-RPC answer.
    pub fn rate_limited(
        &self,
        limit: &crate::rate_limit::RateLimit,
        name: &str,
        retry_after_secs: u32,
        id: Option<&serde_json::Value>,
    ) -> Response {
        let error = Error::RateLimited { retry_after_secs };
        let decision = crate::rate_limit::RateDecision::Limited { retry_after_secs };
        let mut data = serde_json::Map::new();
        data.insert("retryAfterSeconds".into(), retry_after_secs.into());
        let mut err = serde_json::Map::new();
        err.insert("code".into(), RATE_LIMITED_JSON_RPC_CODE.into());
        err.insert("message".into(), error.description().into());
        err.insert("data".into(), data.into());
        let mut m = serde_json::Map::new();
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("id".into(), id.cloned().unwrap_or(serde_json::Value::Null));
        m.insert("error".into(), err.into());
        let body = serde_json::to_vec(&m).unwrap_or_default();
        let mut r = Self::response(error.http_status(), Vec::new(), body, error.reason());
        r.headers
            .push(("retry-after", alloc::format!("{retry_after_secs}")));
        r.headers
            .push(("ratelimit-policy", limit.policy_field(name)));
        r.headers.push(("ratelimit", decision.limit_field(name)));
        r
    }
}

/// The JSON-RPC error code of a refusal no scope can fix (in the implementation-defined
/// server-error range of JSON-RPC 2.0 §5.1; SEP-2643 has not assigned one yet).
pub const NOT_PERMITTED_JSON_RPC_CODE: i32 = -32003;

/// The SEP-2643 authorization-denial envelope of a refusal no re-authorization can fix: under
/// `authorization` (the SEP's draft text) and under `_meta["io.modelcontextprotocol/authorization"]`.
fn denial_envelope() -> serde_json::Value {
    let mut denial = serde_json::Map::new();
    denial.insert("reason".into(), "insufficient_authorization".into());
    denial.insert("remediation".into(), "unavailable".into());
    denial.insert(
        "remediationHints".into(),
        serde_json::Value::Array(Vec::new()),
    );
    let denial = serde_json::Value::Object(denial);
    let mut meta = serde_json::Map::new();
    meta.insert(
        "io.modelcontextprotocol/authorization".into(),
        denial.clone(),
    );
    let mut data = serde_json::Map::new();
    data.insert("authorization".into(), denial);
    data.insert("_meta".into(), meta.into());
    data.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    proptest! {
        /// The one-pass reading of a well-formed value answers what the full reading answers,
        /// for values made of the bytes that matter (blanks, other whitespace, commas, `=`,
        /// token68 characters, non-ASCII, the schemes in any case).
        #[test]
        fn well_formed_values_read_as_the_full_reading_reads_them(
            parts in proptest::collection::vec(prop_oneof![
                Just(&b" "[..]), Just(&b"\t"[..]), Just(&b"\r"[..]), Just(&b","[..]),
                Just(&b"="[..]), Just(&b"Bearer"[..]), Just(&b"bEaReR"[..]), Just(&b"DPoP"[..]),
                Just(&b"Basic"[..]), Just(&b"eyJ0.x-_~+/"[..]), Just(&b"a"[..]), Just(&b"\xc3\xa9"[..]),
                Just(&b"\xff"[..]),
            ], 0..10),
        ) {
            let value: Vec<u8> = parts.concat();
            if let Some(fast) = well_formed(&value) {
                prop_assert_eq!(Ok(Some(fast)), read_authorization(&value));
            }
            // And the public reading is always the full one's answer.
            prop_assert_eq!(credentials(&[&value], None), read_authorization(&value));
        }
    }

    #[test]
    fn the_usual_values_take_the_one_pass_reading() {
        for v in [
            &b"Bearer abc.def.ghi"[..],
            b"  DPoP   eyJ0==  ",
            b"\tbearer x\t",
        ] {
            assert!(well_formed(v).is_some(), "{v:?}");
        }
        for v in [
            &b"Bearer"[..],
            b"Bearer a,b",
            b"Basic abc",
            b"Bearer \ta",
            b"\rBearer a",
        ] {
            assert!(well_formed(v).is_none(), "{v:?}");
        }
    }

    #[test]
    fn token68_chars_are_exactly_the_rfc_set() {
        for b in 0..=255u8 {
            let rfc = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_token68_char(b), rfc, "{b}");
        }
    }

    #[test]
    fn quoting() {
        let mut s = String::new();
        push_quoted(&mut s, "a\"b\\c\td\u{1}e");
        assert_eq!(s, "\"a\\\"b\\\\c\tde\"");
    }

    #[test]
    fn query_parameter_names_are_decoded() {
        for q in [
            "access_token=x",
            "a=1&access_token",
            "access%5Ftoken=x",
            "access%5ftoken=",
            "x&access_token=&y",
        ] {
            assert!(query_has_access_token(q), "{q}");
        }
        for q in [
            "",
            "access_tokens=x",
            "token=access_token",
            "access%5token=x",
            "xaccess_token=1",
        ] {
            assert!(!query_has_access_token(q), "{q}");
        }
    }
}
