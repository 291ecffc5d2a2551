//! The MCP request as the scope policy reads it: the JSON-RPC body
//! ([MCP basic protocol](https://modelcontextprotocol.io/specification/2026-07-28/basic),
//! [JSON-RPC 2.0 §4](https://www.jsonrpc.org/specification#request_object)), the media type it
//! is sent with ([RFC 9110 §8.3](https://www.rfc-editor.org/rfc/rfc9110#section-8.3),
//! [§8.4](https://www.rfc-editor.org/rfc/rfc9110#section-8.4)), and the Streamable HTTP standard
//! request headers `Mcp-Method` and `Mcp-Name` (MCP 2026-07-28, "Standard Request Headers",
//! SEP-2243).
//!
//! Deny by default: a body whose calls the policy cannot read with certainty is refused, never
//! guessed at. A server behind the guard may parse a form, a `text/plain` body, a gzip stream or
//! a body with a BOM as JSON-RPC; the guard cannot read those the same way, so it refuses them
//! whenever the decision depends on the body.
//!
//! ```
//! use mcp_authz_core::mcp_request::decode_header_value;
//! assert_eq!(decode_header_value(b"get_weather").unwrap(), "get_weather");
//! // SEP-2243: values that are not plain visible ASCII travel as base64 of their UTF-8 bytes.
//! assert_eq!(decode_header_value(b"=?base64?aMOpbGxv?=").unwrap(), "h\u{e9}llo");
//! assert!(decode_header_value(b"=?base64?aMOpbGxv?=x").is_ok()); // not the sentinel: literal
//! assert!(decode_header_value(b"=?base64?aMOpbGxv=?=").is_err()); // not canonical base64
//! ```

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
#[cfg(test)]
use core::fmt;
#[cfg(test)]
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::RequestError;
#[cfg(test)]
use crate::json::{
    check_not_shadowing, check_unique, classify, duplicate, scalars_as, Name, ObjectSeed, Skip,
    SkipVisitor,
};
use crate::json::{not_shadowing, unique, JsonError, Member, Scanner};
use crate::scope_policy::Operation;

/// The prefix of a base64-encoded MCP header value (SEP-2243; case-sensitive).
const BASE64_PREFIX: &[u8] = b"=?base64?";
/// The suffix of a base64-encoded MCP header value.
const BASE64_SUFFIX: &[u8] = b"?=";

/// The value of one `Mcp-Name` (or `Mcp-Method`) header, decoded (SEP-2243): a
/// `=?base64?{…}?=` value is the standard base64 (RFC 4648 §4, canonical padding) of UTF-8
/// bytes; any other value is taken literally and must be visible ASCII or spaces.
///
/// # Errors
/// [`RequestError::InvalidMcpHeader`] for bytes outside visible ASCII and space, base64 that is
/// not canonical, or decoded bytes that are not UTF-8.
pub fn decode_header_value(raw: &[u8]) -> Result<Cow<'_, str>, RequestError> {
    let encoded = raw
        .strip_prefix(BASE64_PREFIX)
        .and_then(|rest| rest.strip_suffix(BASE64_SUFFIX));
    if let Some(encoded) = encoded {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| RequestError::InvalidMcpHeader)?;
        return String::from_utf8(bytes)
            .map(Cow::Owned)
            .map_err(|_| RequestError::InvalidMcpHeader);
    }
    if !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(RequestError::InvalidMcpHeader);
    }
    core::str::from_utf8(raw)
        .map(Cow::Borrowed)
        .map_err(|_| RequestError::InvalidMcpHeader)
}

/// The header value carrying `value`, in the form [`decode_header_value`] reads back: `value`
/// itself when it is plain visible ASCII (spaces inside, none at either end) and could not be
/// taken for the encoded form, else `=?base64?{base64 of the UTF-8}?=` — so a value with CR/LF,
/// non-ASCII characters or control bytes still travels, whole, instead of being dropped or
/// mangled (how the proxy sends identity headers upstream).
pub fn encode_header_value(value: &str) -> Cow<'_, str> {
    let bytes = value.as_bytes();
    let looks_encoded = bytes.starts_with(BASE64_PREFIX) && bytes.ends_with(BASE64_SUFFIX);
    let plain = bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !looks_encoded;
    match plain {
        true => Cow::Borrowed(value),
        false => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            Cow::Owned(alloc::format!("=?base64?{encoded}?="))
        }
    }
}

/// The one value of a header that may appear at most once.
///
/// # Errors
/// [`RequestError::InvalidMcpHeader`] when it appears more than once.
pub(crate) fn at_most_one<'a>(values: &[&'a [u8]]) -> Result<Option<&'a [u8]>, RequestError> {
    match values {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(RequestError::InvalidMcpHeader),
    }
}

/// What a body is, by its `Content-Type` and `Content-Encoding` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// `application/json` or `application/…+json`, not content-encoded: the policy can read it.
    Json,
    /// `application/x-www-form-urlencoded` (RFC 6750 §2.2 would put a token in it).
    Form,
    /// Anything else: absent, another type, several types, or content-encoded.
    Other(RequestError),
}

/// Classifies a body by every `Content-Type` and `Content-Encoding` value of the request.
pub(crate) fn body_kind(content_types: &[&[u8]], content_encodings: &[&[u8]]) -> BodyKind {
    let content_type = match content_types {
        [] => return BodyKind::Other(RequestError::UnsupportedMediaType),
        [one] => *one,
        _ => return BodyKind::Other(RequestError::MultipleContentTypes),
    };
    // `Content-Encoding: identity` (or an empty list) changes nothing; anything else does.
    let encoded = content_encodings.iter().any(|v| {
        v.split(|b| *b == b',')
            .map(|c| c.trim_ascii())
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"))
    });
    let essence = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let is = |name: &[u8]| essence.eq_ignore_ascii_case(name);
    if is(b"application/x-www-form-urlencoded") {
        return BodyKind::Form;
    }
    let json = is(b"application/json") || is_json_suffix(essence);
    match (json, encoded) {
        (true, false) => BodyKind::Json,
        (true, true) => BodyKind::Other(RequestError::UnsupportedContentEncoding),
        (false, _) => BodyKind::Other(RequestError::UnsupportedMediaType),
    }
}

/// `application/{name}+json` with a non-empty RFC 6838 name (`application/vnd.x+json`).
fn is_json_suffix(essence: &[u8]) -> bool {
    let Some(subtype) = essence
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case(b"application/"))
        .and_then(|_| essence.get(12..))
    else {
        return false;
    };
    let split = subtype.len().saturating_sub(5);
    match (subtype.get(..split), subtype.get(split..)) {
        (Some(name), Some(suffix)) => {
            suffix.eq_ignore_ascii_case(b"+json")
                && !name.is_empty()
                && name
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(b))
        }
        _ => false,
    }
}

/// One JSON-RPC request or notification of a body.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Call {
    /// `method`.
    pub(crate) method: String,
    /// `params.name`, when a string.
    pub(crate) name: Option<String>,
    /// `params.uri`, when a string.
    pub(crate) uri: Option<String>,
}

impl Call {
    /// The call as the policy reads it.
    pub(crate) fn target(&self) -> Operation<'_> {
        Operation {
            method: &self.method,
            name: self.name.as_deref(),
            uri: self.uri.as_deref(),
        }
    }

    /// The member `Mcp-Name` mirrors for this method (SEP-2243): `params.name` for `tools/call`
    /// and `prompts/get`, `params.uri` for `resources/read`; for other methods whichever the
    /// message has, `name` first.
    fn named(&self) -> Option<&str> {
        match self.method.as_str() {
            "tools/call" | "prompts/get" => self.name.as_deref(),
            "resources/read" => self.uri.as_deref(),
            _ => self.name.as_deref().or(self.uri.as_deref()),
        }
    }
}

/// The calls of a JSON-RPC body, and the `id` of a single request (for the error response).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Calls {
    /// Every request and notification (responses, which have no `method`, need no scope).
    pub(crate) calls: Vec<Call>,
    /// The `id` of a single message (a string or a number), for a JSON-RPC error response.
    pub(crate) id: Option<Value>,
}

fn id_value(m: Option<Member<'_>>) -> Option<Value> {
    match m? {
        Member::Str(s) => Some(Value::String(s.into_owned())),
        Member::U64(n) => Some(Value::from(n)),
        Member::I64(n) => Some(Value::from(n)),
        Member::F64(n) => serde_json::Number::from_f64(n).map(Value::Number),
        Member::Strings(_) | Member::Bool(_) | Member::Other => None,
    }
}

/// Reads the calls of a JSON-RPC body: one request or notification, or a batch of them. The
/// body is strict JSON (no duplicate names at any depth); every element is an object; `method`,
/// when present, is a string (a message without one is a response, which needs no scope).
///
/// # Errors
/// [`RequestError::UnreadableBody`] for anything else (an empty batch included).
pub(crate) fn read_calls(body: &[u8]) -> Result<Calls, RequestError> {
    let one = |m: RpcMessage<'_>| -> Result<(Option<Call>, Option<Value>), RequestError> {
        match m {
            RpcMessage::Object {
                method: None, id, ..
            } => Ok((None, id_value(id))),
            RpcMessage::Object {
                method: Some(Member::Str(method)),
                name,
                uri,
                id,
            } => Ok((
                Some(Call {
                    method: method.into_owned(),
                    name: name.map(Cow::into_owned),
                    uri: uri.map(Cow::into_owned),
                }),
                id_value(id),
            )),
            _ => Err(RequestError::UnreadableBody),
        }
    };
    match read_json_rpc(body).map_err(|_| RequestError::UnreadableBody)? {
        RpcBody::Batch(messages) if messages.is_empty() => Err(RequestError::UnreadableBody),
        RpcBody::Batch(messages) => {
            let mut calls = Vec::new();
            for m in messages {
                calls.extend(one(m)?.0);
            }
            calls.sort_unstable();
            calls.dedup();
            Ok(Calls { calls, id: None })
        }
        RpcBody::One(m) => {
            let (call, id) = one(m)?;
            Ok(Calls {
                calls: call.into_iter().collect(),
                id,
            })
        }
    }
}

/// The policy's reading of a JSON-RPC body, for the differential fuzz target only (compiled
/// under cargo-fuzz's `--cfg fuzzing`): each call's method, `params.name` and `params.uri`, sorted
/// and without repeats; `None` when the body is refused.
#[cfg(fuzzing)]
#[doc(hidden)]
#[allow(clippy::type_complexity)]
pub fn fuzz_reading(body: &[u8]) -> Option<Vec<(String, Option<String>, Option<String>)>> {
    let calls = read_calls(body).ok()?;
    Some(
        calls
            .calls
            .into_iter()
            .map(|c| (c.method, c.name, c.uri))
            .collect(),
    )
}

/// The first revision in which `Mcp-Method` and `Mcp-Name` are required (SEP-2243).
const STANDARD_HEADERS_SINCE: &[u8] = b"2026-07-28";

/// The revision one `MCP-Protocol-Version` value declares, when it is a `YYYY-MM-DD` date.
fn revision<'a>(version: &[&'a [u8]]) -> Option<&'a [u8]> {
    let [v] = version else {
        return None;
    };
    let v = v.trim_ascii();
    let is_date = v.len() == 10
        && v.iter()
            .enumerate()
            .all(|(i, b)| matches!(i, 4 | 7) == (*b == b'-') && (b.is_ascii_digit() || *b == b'-'));
    is_date.then_some(v)
}

/// Whether the request declares MCP 2026-07-28 or later, whose requests must carry the standard
/// MCP request headers. Dates of one format compare as bytes.
pub(crate) fn requires_standard_headers(version: &[&[u8]]) -> bool {
    revision(version).is_some_and(|v| v >= STANDARD_HEADERS_SINCE)
}

/// Whether the request declares a revision before 2026-07-28, which has no standard MCP request
/// headers.
pub(crate) fn predates_standard_headers(version: &[&[u8]]) -> bool {
    revision(version).is_some_and(|v| v < STANDARD_HEADERS_SINCE)
}

/// The `Mcp-Method` and `Mcp-Name` headers of a request, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct McpHeaders<'a> {
    pub(crate) method: Option<Cow<'a, str>>,
    pub(crate) name: Option<Cow<'a, str>>,
}

impl<'a> McpHeaders<'a> {
    /// Decodes every value of both headers.
    ///
    /// # Errors
    /// [`RequestError::InvalidMcpHeader`] for a repeated header or a value that does not decode.
    pub(crate) fn decode(method: &[&'a [u8]], name: &[&'a [u8]]) -> Result<Self, RequestError> {
        let method = at_most_one(method)?.map(decode_header_value).transpose()?;
        let name = at_most_one(name)?.map(decode_header_value).transpose()?;
        Ok(Self { method, name })
    }

    /// Whether neither header is present.
    pub(crate) fn is_empty(&self) -> bool {
        self.method.is_none() && self.name.is_none()
    }

    /// The call the headers announce (before the body is read), if any: `Mcp-Name` is the URI
    /// of `resources/read` (and of `resources/subscribe`/`unsubscribe`, whose `params.uri` it must
    /// match), else the name (a tool's or a prompt's).
    pub(crate) fn announced(&self) -> Option<Operation<'_>> {
        let method = self.method.as_deref()?;
        let name = self.name.as_deref();
        let resource = matches!(
            method,
            "resources/read" | "resources/subscribe" | "resources/unsubscribe"
        );
        Some(Operation {
            method,
            name: name.filter(|_| !resource),
            uri: name.filter(|_| resource),
        })
    }

    /// Checks the headers against the body's calls: `Mcp-Method` names the one call's method,
    /// and `Mcp-Name` the member that method names (SEP-2243). With `required` (the request
    /// declares MCP 2026-07-28 or later), a single call needs `Mcp-Method`, and `Mcp-Name` when
    /// its method names something.
    ///
    /// # Errors
    /// [`RequestError::McpHeaderMismatch`] when they disagree, or one that is required is
    /// missing.
    pub(crate) fn check(&self, calls: &[Call], required: bool) -> Result<(), RequestError> {
        if required {
            if let [call] = calls {
                let missing =
                    self.method.is_none() || (self.name.is_none() && call.named().is_some());
                if missing {
                    return Err(RequestError::McpHeaderMismatch);
                }
            }
        }
        if self.is_empty() {
            return Ok(());
        }
        let agrees = match (self.method.as_deref(), calls) {
            (Some(method), [call]) => {
                call.method == method
                    && self
                        .name
                        .as_deref()
                        .is_none_or(|name| call.named() == Some(name))
            }
            // `Mcp-Name` without `Mcp-Method`, or headers over a batch or a response.
            _ => false,
        };
        match agrees {
            true => Ok(()),
            false => Err(RequestError::McpHeaderMismatch),
        }
    }
}

/// The members of a message the policy reads, or that a server reads beside them
/// (`jsonrpc`): no other member may differ from one of them only in case (see
/// [`shadows`](crate::json::shadows)), since servers that match names case-insensitively
/// (Go's `encoding/json`, .NET) would read it in its place.
const MESSAGE_MEMBERS: &[&str] = &["jsonrpc", "id", "method", "params"];

/// The members of `params` the policy reads (the same rule).
const PARAMS_MEMBERS: &[&str] = &["name", "uri"];

/// One element of a JSON-RPC body as [`read_json_rpc`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RpcMessage<'de> {
    /// An object: its `method` and `id` members, and `params.name` and `params.uri` when
    /// `params` is an object whose `name` or `uri` is a string.
    Object {
        /// The `method` member, of any type.
        method: Option<Member<'de>>,
        /// `params.name`.
        name: Option<Cow<'de, str>>,
        /// `params.uri`.
        uri: Option<Cow<'de, str>>,
        /// The `id` member, of any type.
        id: Option<Member<'de>>,
    },
    /// Anything but an object.
    NotObject,
}

impl<'de> RpcMessage<'de> {
    /// An object message of its `method`, `params` and `id` members.
    fn object(
        method: Option<Member<'de>>,
        params: Option<Params<'de>>,
        id: Option<Member<'de>>,
    ) -> Self {
        let (name, uri) = params.map_or((None, None), |p| (p.name, p.uri));
        Self::Object {
            method,
            name,
            uri,
            id,
        }
    }
}

/// A JSON-RPC body ([JSON-RPC 2.0 §4, §6](https://www.jsonrpc.org/specification)) as
/// [`read_json_rpc`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RpcBody<'de> {
    /// A single message.
    One(RpcMessage<'de>),
    /// A batch: an array, possibly empty.
    Batch(Vec<RpcMessage<'de>>),
}

/// Reads a JSON-RPC body in one pass ([`Scanner`]), keeping only each message's `method`,
/// `id`, `params.name` and `params.uri`, with the same strictness as [`parse_value`]: any
/// syntax error or a duplicate member name at any depth is refused, and so is a name that
/// [`shadows`](crate::json::shadows) one the policy reads at its level. Judging the shape is the
/// caller's business.
///
/// It is the same walk as the token path's [`read_object`](crate::json::read_object); the
/// `serde` visitors it replaced stay as the reference a property test holds it to (same answer,
/// same reason).
///
/// [`parse_value`]: crate::json::parse_value
pub(crate) fn read_json_rpc(bytes: &[u8]) -> Result<RpcBody<'_>, JsonError> {
    let mut scanner = Scanner::new(bytes)?;
    let body = match scanner.next_byte() {
        Some(b'[') => {
            let mut messages = Vec::new();
            scanner.array(|s| {
                messages.push(message(s)?);
                Ok(())
            })?;
            RpcBody::Batch(messages)
        }
        _ => RpcBody::One(message(&mut scanner)?),
    };
    match scanner.at_end() {
        true => Ok(body),
        false => Err(JsonError::Invalid),
    }
}

/// One message of a body: an object's members the policy reads, or any other value walked.
fn message<'de>(s: &mut Scanner<'de>) -> Result<RpcMessage<'de>, JsonError> {
    if s.next_byte() != Some(b'{') {
        return s.skip().map(|()| RpcMessage::NotObject);
    }
    let (mut method, mut params, mut id) = (None, None, None);
    let mut others = Vec::new();
    s.object(|s, name| match &*name {
        "method" => s.value_once(&mut method, Scanner::member),
        "id" => s.value_once(&mut id, Scanner::member),
        "params" => s.value_once(&mut params, read_params),
        _ => {
            not_shadowing(&name, MESSAGE_MEMBERS)?;
            others.push(name);
            s.colon()?;
            s.skip()
        }
    })?;
    unique(&mut others)?;
    Ok(RpcMessage::object(method, params, id))
}

/// `params`: its `name` and `uri` when it is an object and they are strings; any other value
/// is walked.
fn read_params<'de>(s: &mut Scanner<'de>) -> Result<Params<'de>, JsonError> {
    if s.next_byte() != Some(b'{') {
        return s.skip().map(|()| Params::default());
    }
    let mut found = [None, None];
    s.fields(Params::slot, &mut found, PARAMS_MEMBERS)?;
    Ok(Params::of(found))
}

/// [`read_json_rpc`] through `serde_json` and visitors: the reference the scanner is held to.
#[cfg(test)]
pub(crate) fn read_json_rpc_serde(bytes: &[u8]) -> Result<RpcBody<'_>, JsonError> {
    let text = core::str::from_utf8(bytes).map_err(|_| JsonError::Invalid)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let body = RpcBody::deserialize(&mut de).map_err(classify)?;
    de.end().map_err(classify)?;
    Ok(body)
}

#[cfg(test)]
impl<'de> Deserialize<'de> for RpcBody<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RpcBodyVisitor)
    }
}

#[cfg(test)]
struct RpcBodyVisitor;

#[cfg(test)]
impl<'de> Visitor<'de> for RpcBodyVisitor {
    type Value = RpcBody<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC body")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut messages = Vec::new();
        while let Some(m) = seq.next_element::<RpcMessage<'de>>()? {
            messages.push(m);
        }
        Ok(RpcBody::Batch(messages))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        RpcMessageVisitor.visit_map(map).map(RpcBody::One)
    }

    scalars_as!(RpcBody::One(RpcMessage::NotObject));
}

#[cfg(test)]
impl<'de> Deserialize<'de> for RpcMessage<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RpcMessageVisitor)
    }
}

#[cfg(test)]
struct RpcMessageVisitor;

#[cfg(test)]
impl<'de> Visitor<'de> for RpcMessageVisitor {
    type Value = RpcMessage<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut method, mut params, mut id) = (None, None, None);
        let mut others = Vec::new();
        while let Some(Name(key)) = map.next_key()? {
            match &*key {
                "method" if method.is_none() => method = Some(map.next_value::<Member<'de>>()?),
                "params" if params.is_none() => params = Some(map.next_value::<Params<'de>>()?),
                "id" if id.is_none() => id = Some(map.next_value::<Member<'de>>()?),
                "method" | "params" | "id" => return Err(duplicate()),
                _ => {
                    check_not_shadowing(&key, MESSAGE_MEMBERS)?;
                    others.push(key);
                    map.next_value::<Skip>()?;
                }
            }
        }
        check_unique(&mut others)?;
        Ok(RpcMessage::object(method, params, id))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        SkipVisitor.visit_seq(seq).map(|Skip| RpcMessage::NotObject)
    }

    scalars_as!(RpcMessage::NotObject);
}

/// `params`: its `name` and `uri` when it is an object and they are strings.
#[derive(Default)]
struct Params<'de> {
    name: Option<Cow<'de, str>>,
    uri: Option<Cow<'de, str>>,
}

impl<'de> Params<'de> {
    /// Where `name` and `uri` go when `params` is read.
    fn slot(name: &str) -> Option<usize> {
        match name {
            "name" => Some(0),
            "uri" => Some(1),
            _ => None,
        }
    }

    /// The two members [`Params::slot`] placed, kept when they are strings.
    fn of([name, uri]: [Option<Member<'de>>; 2]) -> Self {
        let string = |m: Option<Member<'de>>| match m {
            Some(Member::Str(s)) => Some(s),
            _ => None,
        };
        Self {
            name: string(name),
            uri: string(uri),
        }
    }
}

#[cfg(test)]
impl<'de> Deserialize<'de> for Params<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamsVisitor)
    }
}

#[cfg(test)]
struct ParamsVisitor;

#[cfg(test)]
impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // The reading of `read_object`'s top-level object, with one named member.
        let mut found = [None, None];
        ObjectSeed {
            slot: Params::slot,
            found: &mut found,
            unshadowed: PARAMS_MEMBERS,
        }
        .visit_map(map)?;
        Ok(Params::of(found))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        SkipVisitor.visit_seq(seq).map(|Skip| Params::default())
    }

    scalars_as!(Params::default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    // The reading of JSON-RPC bodies through a `Value` tree: the oracle of
    // `calls_agree_with_the_value_tree_reading`.
    fn read_calls_from_value(body: &[u8]) -> Result<Calls, RequestError> {
        let value = crate::json::parse_value(body).map_err(|_| RequestError::UnreadableBody)?;
        // Names a case-insensitive reader takes for a read one: ASCII case, and the four
        // non-ASCII letters Go and .NET fold onto ASCII ones.
        let folded = |k: &str| {
            k.chars()
                .map(|c| match c {
                    '\u{17f}' => 's',
                    '\u{212a}' => 'k',
                    '\u{131}' | '\u{130}' => 'i',
                    c => c.to_ascii_lowercase(),
                })
                .collect::<String>()
        };
        let shadowing = |obj: &serde_json::Map<String, Value>, read: &[&str]| {
            obj.keys()
                .any(|k| read.iter().any(|r| k != r && folded(k) == *r))
        };
        let string = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
        let one = |v: &Value| -> Result<(Option<Call>, Option<Value>), RequestError> {
            let obj = v.as_object().ok_or(RequestError::UnreadableBody)?;
            let params = obj.get("params").and_then(Value::as_object);
            if shadowing(obj, &["jsonrpc", "id", "method", "params"])
                || params.is_some_and(|p| shadowing(p, &["name", "uri"]))
            {
                return Err(RequestError::UnreadableBody);
            }
            let id = obj
                .get("id")
                .filter(|id| id.is_string() || id.is_number())
                .cloned();
            match obj.get("method") {
                None => Ok((None, id)),
                Some(Value::String(m)) => {
                    let params = obj.get("params").and_then(Value::as_object);
                    let call = Call {
                        method: m.clone(),
                        name: string(params.and_then(|p| p.get("name"))),
                        uri: string(params.and_then(|p| p.get("uri"))),
                    };
                    Ok((Some(call), id))
                }
                Some(_) => Err(RequestError::UnreadableBody),
            }
        };
        match &value {
            Value::Array(items) if !items.is_empty() => {
                let mut calls = Vec::new();
                for item in items {
                    calls.extend(one(item)?.0);
                }
                calls.sort_unstable();
                calls.dedup();
                Ok(Calls { calls, id: None })
            }
            Value::Array(_) => Err(RequestError::UnreadableBody),
            v => {
                let (call, id) = one(v)?;
                Ok(Calls {
                    calls: call.into_iter().collect(),
                    id,
                })
            }
        }
    }

    fn json_rpc_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("1".to_string()),
            Just("-7".to_string()),
            Just("2.5".to_string()),
            Just("true".to_string()),
            Just("\"tools/call\"".to_string()),
            Just("\"whoami\"".to_string()),
            Just("\"file:///a\"".to_string()),
            Just("\"t\\u006fols/list\"".to_string()),
        ];
        crate::json::tests::documents(
            leaf.boxed(),
            &[
                "\"method\"",
                "\"params\"",
                "\"name\"",
                "\"uri\"",
                "\"id\"",
                "\"m\\u0065thod\"",
                "\"jsonrpc\"",
                "\"Method\"",
                "\"NAME\"",
                "\"param\\u017f\"",
                "\"\\u0131d\"",
            ],
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// The one-pass scanner and `serde_json` with the visitors read the same messages, and
        /// refuse for the same reason, bodies and near-bodies alike.
        #[test]
        fn json_rpc_scanner_agrees_with_serde_json(doc in crate::json::tests::mutated(json_rpc_text())) {
            proptest::prop_assert_eq!(read_json_rpc(&doc), read_json_rpc_serde(&doc));
        }
    }

    #[test]
    fn json_rpc_nesting_limit_is_serde_jsons() {
        for depth in 120..135 {
            for open in [b'[', b'{'] {
                for (prefix, suffix) in
                    [(&b"["[..], &b"]"[..]), (b"", b""), (b"{\"params\":", b"}")]
                {
                    let doc = [
                        prefix,
                        b"{\"method\":\"a\",\"params\":{\"x\":",
                        &crate::json::tests::nested(open, depth),
                        b"}}",
                        suffix,
                    ]
                    .concat();
                    let ours = read_json_rpc(&doc);
                    assert_eq!(ours, read_json_rpc_serde(&doc), "{depth}");
                    // Both sides of the limit are reached.
                    match depth {
                        120 => assert!(ours.is_ok()),
                        134 => assert_eq!(ours, Err(JsonError::Invalid)),
                        _ => {}
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn calls_agree_with_the_value_tree_reading(doc in json_rpc_text(), cut in 0usize..80) {
            for doc in [doc.as_bytes(), doc.as_bytes().get(..cut).unwrap_or(doc.as_bytes())] {
                proptest::prop_assert_eq!(read_calls(doc), read_calls_from_value(doc));
            }
        }
    }

    #[test]
    fn calls_in_bodies() {
        let calls = read_calls(
            br#"{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"file:///x","name":"n"}}"#,
        )
        .unwrap();
        assert_eq!(
            calls,
            Calls {
                calls: alloc::vec![Call {
                    method: "resources/read".into(),
                    name: Some("n".into()),
                    uri: Some("file:///x".into()),
                }],
                id: Some(Value::from("a")),
            }
        );
        let batch = read_calls(br#"[{"method":"tools/list"},{"method":"tools/call","params":{"name":"a"}},{"id":1,"result":{}}]"#)
            .unwrap();
        assert_eq!((batch.calls.len(), batch.id), (2, None));
        for bad in [
            &b"[]"[..],
            b"1",
            b"[1]",
            b"{\"method\":1}",
            b"not json",
            b"{\"method\":\"a\",\"method\":\"b\"}",
            b"{\"id\":1,\"id\":2,\"method\":\"a\"}",
            b"\xef\xbb\xbf{\"method\":\"a\"}",
            // Names a case-insensitive reader (Go's encoding/json, .NET) takes for one the policy
            // reads: refused as a duplicate is, at every level and in batches.
            br#"{"method":"tools/call","params":{"name":"whoami","Name":"admin_tool"}}"#,
            br#"{"method":"tools/call","params":{"NAME":"admin_tool"}}"#,
            br#"{"method":"tools/list","Method":"tools/call","params":{"name":"admin_tool"}}"#,
            br#"{"method":"tools/call","params":{"name":"whoami"},"Params":{"name":"admin_tool"}}"#,
            "{\"method\":\"tools/call\",\"params\":{\"name\":\"a\"},\"param\u{17f}\":{}}"
                .as_bytes(),
            br#"{"method":"tools/call","params":{"name":"a"},"param\u017f":{}}"#,
            br#"{"method":"resources/read","params":{"uri":"file:///a","URI":"file:///b"}}"#,
            br#"{"method":"tools/list","ID":1}"#,
            br#"{"method":"tools/list","JSONRPC":"2.0"}"#,
            "{\"method\":\"tools/list\",\"\u{131}d\":1}".as_bytes(),
            "{\"method\":\"tools/list\",\"\u{130}d\":1}".as_bytes(),
            br#"[{"method":"tools/list"},{"method":"tools/call","params":{"Name":"x"}}]"#,
            br#"[{"method":"tools/list"},{"METHOD":"tools/call"}]"#,
        ] {
            assert_eq!(
                read_calls(bad),
                Err(RequestError::UnreadableBody),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_only_as_the_strict_reading_has_them() {
        use crate::json::shadows;
        for (name, target) in [
            ("Name", "name"),
            ("NAME", "name"),
            ("nAmE", "name"),
            ("param\u{17f}", "params"),
            ("\u{17f}", "s"),
            ("\u{212a}", "k"),
            ("\u{131}d", "id"),
            ("\u{130}D", "id"),
        ] {
            assert!(shadows(name, target), "{name:?} {target:?}");
        }
        for (name, target) in [
            ("name", "name"),
            ("names", "name"),
            ("nam", "name"),
            ("n\u{e4}me", "name"),
            ("\u{ff2e}ame", "name"), // fullwidth N: no simple fold to ASCII
            ("\u{df}", "s"),         // ß upper-cases to SS only in full mappings
            ("arguments", "name"),
        ] {
            assert!(!shadows(name, target), "{name:?} {target:?}");
        }
        // Members the policy does not read may be spelt any way (tool arguments are the tool's).
        let calls = read_calls(
            br#"{"method":"tools/call","params":{"name":"t","arguments":{"Name":1,"name":2}},"Extra":1,"extra":2}"#,
        )
        .unwrap();
        assert_eq!(calls.calls[0].name.as_deref(), Some("t"));
    }

    #[test]
    fn header_values_sep_2243() {
        let ok = |raw: &[u8]| decode_header_value(raw).map(Cow::into_owned);
        assert_eq!(ok(b"tools/call").unwrap(), "tools/call");
        assert_eq!(ok(b"two words").unwrap(), "two words");
        assert_eq!(ok(b"file:///a%20b").unwrap(), "file:///a%20b");
        // The SEP's own examples.
        assert_eq!(
            ok(b"=?base64?SGVsbG8sIOS4lueVjA==?=").unwrap(),
            "Hello, 世界"
        );
        assert_eq!(ok(b"=?base64?IHBhZGRlZCA=?=").unwrap(), " padded ");
        assert_eq!(ok(b"=?base64??=").unwrap(), "");
        // A sentinel-looking literal travels encoded; decoding gives it back.
        assert_eq!(ok(b"=?base64?PT9iYXNlNjQ/eD89?=").unwrap(), "=?base64?x?=");
        // The markers are case-sensitive: anything else is a literal.
        assert_eq!(ok(b"=?BASE64?SGVsbG8=?=").unwrap(), "=?BASE64?SGVsbG8=?=");
        for bad in [
            &b"=?base64?SGVsbG8?="[..], // padding missing
            b"=?base64?SGVsbG9=?=",     // non-zero trailing bits
            b"=?base64?SGVs bG8=?=",
            b"=?base64?SGVsbG8_?=", // URL-safe alphabet
            b"=?base64?/w==?=",     // 0xff: not UTF-8
            b"caf\xc3\xa9",         // raw UTF-8
            b"a\tb",
            b"a\r\nb",
            b"\x7f",
        ] {
            assert_eq!(
                decode_header_value(bad),
                Err(RequestError::InvalidMcpHeader),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn body_kinds() {
        use BodyKind::*;
        let k = |ct: &[&[u8]], ce: &[&[u8]]| body_kind(ct, ce);
        assert_eq!(k(&[b"application/json"], &[]), Json);
        assert_eq!(k(&[b"Application/JSON ; charset=utf-8"], &[]), Json);
        assert_eq!(k(&[b"application/vnd.api+json"], &[b"identity"]), Json);
        assert_eq!(
            k(&[b"application/x-www-form-urlencoded; charset=utf-8"], &[]),
            Form
        );
        for ct in [
            &b"text/plain"[..],
            b"multipart/form-data; boundary=x",
            b"application/jsonx",
            b"application/+json",
            b"text/json",
            b"application/json5",
            b"",
        ] {
            assert_eq!(
                k(&[ct], &[]),
                Other(RequestError::UnsupportedMediaType),
                "{ct:?}"
            );
        }
        assert_eq!(k(&[], &[]), Other(RequestError::UnsupportedMediaType));
        assert_eq!(
            k(&[b"application/json", b"application/json"], &[]),
            Other(RequestError::MultipleContentTypes)
        );
        for ce in [&b"gzip"[..], b"identity, gzip", b"br"] {
            assert_eq!(
                k(&[b"application/json"], &[ce]),
                Other(RequestError::UnsupportedContentEncoding)
            );
        }
    }

    #[test]
    fn headers_against_calls() {
        let call = |m: &str, name: Option<&str>, uri: Option<&str>| Call {
            method: m.into(),
            name: name.map(Into::into),
            uri: uri.map(Into::into),
        };
        let h = |m: Option<&'static str>, n: Option<&'static str>| McpHeaders {
            method: m.map(Cow::Borrowed),
            name: n.map(Cow::Borrowed),
        };
        let tool = [call("tools/call", Some("t"), None)];
        let prompt = [call("prompts/get", Some("p"), None)];
        let read = [call("resources/read", None, Some("file:///x"))];
        assert_eq!(h(Some("tools/call"), Some("t")).check(&tool, false), Ok(()));
        assert_eq!(h(Some("tools/call"), None).check(&tool, false), Ok(()));
        assert_eq!(
            h(Some("prompts/get"), Some("p")).check(&prompt, false),
            Ok(())
        );
        assert_eq!(
            h(Some("resources/read"), Some("file:///x")).check(&read, false),
            Ok(())
        );
        assert_eq!(h(None, None).check(&tool, false), Ok(()));
        for (headers, calls) in [
            (h(Some("tools/call"), Some("u")), &tool[..]),
            (h(Some("tools/list"), None), &tool),
            (h(None, Some("t")), &tool),
            (h(Some("resources/read"), Some("x")), &read),
            (h(Some("tools/call"), Some("t")), &[]),
        ] {
            assert_eq!(
                headers.check(calls, false),
                Err(RequestError::McpHeaderMismatch),
                "{headers:?}"
            );
        }
        // From 2026-07-28 on, a named call needs both headers, an unnamed one Mcp-Method.
        let list = [call("tools/list", None, None)];
        assert_eq!(h(Some("tools/call"), Some("t")).check(&tool, true), Ok(()));
        assert_eq!(h(Some("tools/list"), None).check(&list, true), Ok(()));
        for (headers, calls) in [
            (h(Some("tools/call"), None), &tool[..]),
            (h(None, None), &tool),
            (h(None, None), &list),
        ] {
            assert_eq!(
                headers.check(calls, true),
                Err(RequestError::McpHeaderMismatch),
                "{headers:?}"
            );
        }
        assert!(requires_standard_headers(&[b"2026-07-28"]));
        assert!(requires_standard_headers(&[b" 2026-12-01 "]));
        for no in [
            &[][..],
            &[&b"2025-11-25"[..]],
            &[b"2026-07-28", b"2026-07-28"],
            &[b"20260728xx"],
            &[b"2026/07/28"],
        ] {
            assert!(!requires_standard_headers(no), "{no:?}");
        }
    }
}
