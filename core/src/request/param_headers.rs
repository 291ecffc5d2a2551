//! Tool parameters mirrored into `Mcp-Param-{Name}` headers
//! ([MCP 2026-07-28, Streamable HTTP, "Custom Headers from Tool Parameters"](https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/streamable-http#custom-headers-from-tool-parameters),
//! SEP-2243).
//!
//! A server marks a property of a tool's `inputSchema` with `x-mcp-header: "Region"`; a client
//! calling the tool then sends the argument's value again as `Mcp-Param-Region`, so that a load
//! balancer or a gateway can act on it without reading the body. "Any server that processes the
//! message body MUST validate that encoded header values, after decoding if Base64-encoded,
//! match the corresponding values in the request body", and reject a request whose header is
//! missing while the value is in the body. Which header mirrors which argument is known only from
//! the tool's definition, so the adapter learns the declarations from the `tools/list` answers it
//! passes on ([`tool_headers_of_list`]) and the exchange looks them up by tool name
//! ([`DeclaredHeaders`]).
//!
//! Deny by default: a declared header that is missing, repeated, not a valid value, or that does
//! not match its argument is refused with `400` and JSON-RPC `-32020`, and so is an argument
//! object along a declared path with a member name that differs from the declared one only in
//! case (a server that matches names case-insensitively would read it). Headers no declaration
//! names are forwarded untouched, as the specification requires of intermediaries.
//!
//! ```
//! use mcp_authz_core::param_headers::tool_headers_of_list;
//! let answer = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"execute_sql",
//!   "inputSchema":{"type":"object","properties":{
//!     "region":{"type":"string","x-mcp-header":"Region"},"query":{"type":"string"}}}}]}}"#;
//! let learned = tool_headers_of_list(answer);
//! assert_eq!(learned.len(), 1);
//! let (tool, headers) = &learned[0];
//! assert_eq!(tool, "execute_sql");
//! assert_eq!(headers.as_ref().unwrap().names().collect::<Vec<_>>(), ["Region"]);
//! ```

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::error::RequestError;
use crate::json::{parse_value, shadows};
use crate::mcp_request::decode_header_value;

/// The prefix of every header a tool parameter is mirrored into (compared case-insensitively).
pub const PARAM_HEADER_PREFIX: &str = "mcp-param-";

/// The largest integer a mirrored parameter may carry (2⁵³−1, JavaScript's safe range).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The `x-mcp-header` declarations of one tool's `inputSchema`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolHeaders {
    declared: Vec<Declared>,
}

/// One declaration: the header's name part and the chain of `properties` keys to the argument.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Declared {
    name: String,
    path: Vec<String>,
}

impl ToolHeaders {
    /// The declared name parts (`Region` for `Mcp-Param-Region`), in schema order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.declared.iter().map(|d| d.name.as_str())
    }

    /// Whether the tool declares no header.
    pub fn is_empty(&self) -> bool {
        self.declared.is_empty()
    }
}

/// Why a tool's definition is invalid under SEP-2243 (clients exclude such a tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidDeclaration {
    /// An `x-mcp-header` value is not a string, empty, or not an HTTP token (RFC 9110 §5.1).
    NotAToken,
    /// Two declarations of the schema name the same header (compared case-insensitively).
    Repeated,
    /// A declared property is not of type `string`, `integer` or `boolean`.
    NotPrimitive,
    /// An `x-mcp-header` where no chain of `properties` keys from the root reaches it (under
    /// `items`, `oneOf`, `$ref`'s targets, the root itself…).
    Unreachable,
}

/// Looks up what the tools of one MCP server declare (the adapter's store of what it learned;
/// `Sync`, as the exchange is held across the adapter's awaits).
pub trait DeclaredHeaders: Sync {
    /// The declarations of tool `name`, if its definition was seen and is valid.
    fn of_tool(&self, name: &str) -> Option<Arc<ToolHeaders>>;
}

/// Reads the `x-mcp-header` declarations of a tool's `inputSchema`.
///
/// # Errors
/// [`InvalidDeclaration`] when any declaration breaks a constraint of SEP-2243.
pub fn tool_headers(input_schema: &Value) -> Result<ToolHeaders, InvalidDeclaration> {
    let mut declared = Vec::new();
    let mut path = Vec::new();
    collect(input_schema, &mut path, &mut declared)?;
    // Every annotation must be one reached through `properties` alone.
    if annotations(input_schema, false) != declared.len() {
        return Err(InvalidDeclaration::Unreachable);
    }
    for (i, d) in declared.iter().enumerate() {
        let later = declared.get(i + 1..).unwrap_or_default();
        if later.iter().any(|e| e.name.eq_ignore_ascii_case(&d.name)) {
            return Err(InvalidDeclaration::Repeated);
        }
    }
    Ok(ToolHeaders { declared })
}

/// The declarations under `schema`'s `properties`, recursively (the root carries none).
fn collect(
    schema: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<Declared>,
) -> Result<(), InvalidDeclaration> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, property) in properties {
        path.push(key.clone());
        if let Some(name) = property.get("x-mcp-header") {
            let name = name
                .as_str()
                .filter(|n| is_token(n.as_bytes()))
                .ok_or(InvalidDeclaration::NotAToken)?;
            let primitive = matches!(
                property.get("type").and_then(Value::as_str),
                Some("string" | "integer" | "boolean")
            );
            if !primitive {
                return Err(InvalidDeclaration::NotPrimitive);
            }
            out.push(Declared {
                name: name.into(),
                path: path.clone(),
            });
        }
        collect(property, path, out)?;
        path.pop();
    }
    Ok(())
}

/// How many `x-mcp-header` annotations `schema` holds anywhere (the keys of a `properties` map
/// are property names, not keywords).
fn annotations(schema: &Value, names: bool) -> usize {
    match schema {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let here = usize::from(!names && k == "x-mcp-header");
                here + annotations(v, !names && k == "properties")
            })
            .sum(),
        Value::Array(items) => items.iter().map(|v| annotations(v, false)).sum(),
        _ => 0,
    }
}

/// `1*tchar` (RFC 9110 §5.6.2).
fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

/// The declarations of every tool a `tools/list` answer (one JSON-RPC message, or a batch)
/// lists: `None` for a tool whose definition is invalid ([`tool_headers`]). Empty when the
/// message holds no `tools/list` result or is not JSON.
pub fn tool_headers_of_list(message: &[u8]) -> Vec<(String, Option<ToolHeaders>)> {
    let Ok(value) = serde_json::from_slice::<Value>(message) else {
        return Vec::new();
    };
    let one = |m: &Value| -> Vec<(String, Option<ToolHeaders>)> {
        let tools = m
            .get("result")
            .and_then(|r| r.get("tools"))
            .and_then(Value::as_array);
        tools
            .into_iter()
            .flatten()
            .filter_map(|tool| {
                let name = tool.get("name")?.as_str()?;
                let schema = tool.get("inputSchema").unwrap_or(&Value::Null);
                Some((name.into(), tool_headers(schema).ok()))
            })
            .collect()
    };
    match &value {
        Value::Array(batch) => batch.iter().flat_map(one).collect(),
        m => one(m),
    }
}

/// The `params.arguments` of a single JSON-RPC request, read strictly: `Ok(None)` when there is
/// none (or it is not an object, which the server refuses itself).
///
/// # Errors
/// [`RequestError::UnreadableBody`] when the body is not strict JSON, or `params` has a member
/// that differs from `arguments` only in case.
pub(crate) fn arguments_of(body: &[u8]) -> Result<Option<Value>, RequestError> {
    let value = parse_value(body).map_err(|_| RequestError::UnreadableBody)?;
    let Value::Object(mut message) = value else {
        return Ok(None);
    };
    let Some(Value::Object(mut params)) = message.remove("params") else {
        return Ok(None);
    };
    if params.keys().any(|k| shadows(k, "arguments")) {
        return Err(RequestError::UnreadableBody);
    }
    Ok(params.remove("arguments").filter(Value::is_object))
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against its arguments under the tool's
/// declarations (see the module docs). `params` holds every `(name, value)` of a header whose
/// name starts with [`PARAM_HEADER_PREFIX`].
///
/// # Errors
/// [`RequestError::McpHeaderMismatch`] for a declared header that is missing, present without
/// its argument, or different from it; [`RequestError::InvalidMcpHeader`] for one that is
/// repeated or not a valid value; [`RequestError::UnreadableBody`] for an argument object with
/// a member name that differs from a declared one only in case.
pub(crate) fn check(
    params: &[(&[u8], &[u8])],
    declared: &ToolHeaders,
    arguments: Option<&Value>,
) -> Result<(), RequestError> {
    let empty = Map::new();
    let arguments = arguments.and_then(Value::as_object).unwrap_or(&empty);
    for d in &declared.declared {
        let mut values = params
            .iter()
            .filter(|(name, _)| is_param_header(name, &d.name));
        let header = match (values.next(), values.next()) {
            (None, _) => None,
            (Some((_, v)), None) => Some(decode_header_value(v.trim_ascii())?),
            (Some(_), Some(_)) => return Err(RequestError::InvalidMcpHeader),
        };
        let value = value_at(arguments, &d.path)?;
        let agrees = match (value, header.as_deref()) {
            (None | Some(Value::Null), None) => true,
            (None | Some(Value::Null), Some(_)) | (Some(_), None) => false,
            (Some(value), Some(header)) => mirrors(value, header),
        };
        if !agrees {
            return Err(RequestError::McpHeaderMismatch);
        }
    }
    Ok(())
}

/// Whether header `name` is `Mcp-Param-{declared}` (case-insensitively).
fn is_param_header(name: &[u8], declared: &str) -> bool {
    let prefix = PARAM_HEADER_PREFIX.len();
    name.len() == prefix + declared.len()
        && name
            .get(..prefix)
            .is_some_and(|p| p.eq_ignore_ascii_case(PARAM_HEADER_PREFIX.as_bytes()))
        && name
            .get(prefix..)
            .is_some_and(|n| n.eq_ignore_ascii_case(declared.as_bytes()))
}

/// The value at `path` under `arguments`: every object on the way must not hold a member name
/// that differs from the next key only in case.
fn value_at<'v>(
    arguments: &'v Map<String, Value>,
    path: &[String],
) -> Result<Option<&'v Value>, RequestError> {
    let mut object = arguments;
    let mut keys = path.iter().peekable();
    while let Some(key) = keys.next() {
        if object.keys().any(|k| shadows(k, key)) {
            return Err(RequestError::UnreadableBody);
        }
        let Some(value) = object.get(key) else {
            return Ok(None);
        };
        if keys.peek().is_none() {
            return Ok(Some(value));
        }
        match value {
            Value::Object(inner) => object = inner,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Whether the decoded `header` carries `value` as SEP-2243 converts it: a string as it is,
/// an integer in decimal (compared numerically: `42.0` is `42`), a boolean as `true`/`false`.
fn mirrors(value: &Value, header: &str) -> bool {
    match value {
        Value::String(s) => s == header,
        Value::Bool(b) => header == if *b { "true" } else { "false" },
        Value::Number(n) => match (integer(n), parse_integer(header)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

/// A JSON number that is an integer in the safe range.
fn integer(n: &serde_json::Number) -> Option<i64> {
    let i = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i,
        // `as` saturates; in the safe range it is exact, so a round trip tells an integer.
        (None, Some(f)) if f >= -(MAX_SAFE_INTEGER as f64) && f <= MAX_SAFE_INTEGER as f64 => {
            let i = f as i64;
            match i as f64 == f {
                true => i,
                false => return None,
            }
        }
        _ => return None,
    };
    (i.abs() <= MAX_SAFE_INTEGER).then_some(i)
}

/// A header value that is an integer in the safe range, written as an integer (`-7`) or as a
/// number with a zero fraction (`42.0`).
fn parse_integer(header: &str) -> Option<i64> {
    let plain = |s: &str| {
        let digits = s.strip_prefix('-').unwrap_or(s);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if plain(header) {
        return header
            .parse::<i64>()
            .ok()
            .filter(|i| i.abs() <= MAX_SAFE_INTEGER);
    }
    let (whole, fraction) = header.split_once('.')?;
    (plain(whole) && !fraction.is_empty() && fraction.bytes().all(|b| b == b'0'))
        .then(|| whole.parse::<i64>().ok())
        .flatten()
        .filter(|i| i.abs() <= MAX_SAFE_INTEGER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared(schema: Value) -> ToolHeaders {
        tool_headers(&schema).unwrap()
    }

    fn region() -> ToolHeaders {
        declared(json!({"type":"object","properties":{
            "region":{"type":"string","x-mcp-header":"Region"},
            "limit":{"type":"integer","x-mcp-header":"Limit"},
            "dry":{"type":"boolean","x-mcp-header":"Dry"},
            "where":{"type":"object","properties":{"zone":{"type":"string","x-mcp-header":"Zone"}}}
        }}))
    }

    #[test]
    fn declarations_follow_properties_only() {
        let h = region();
        let mut names: Vec<_> = h.names().collect();
        names.sort_unstable();
        assert_eq!(names, ["Dry", "Limit", "Region", "Zone"]);
        let invalid = |schema: Value| tool_headers(&schema).unwrap_err();
        assert_eq!(
            invalid(json!({"properties":{"a":{"type":"number","x-mcp-header":"A"}}})),
            InvalidDeclaration::NotPrimitive
        );
        assert_eq!(
            invalid(json!({"properties":{"a":{"type":"string","x-mcp-header":"A B"}}})),
            InvalidDeclaration::NotAToken
        );
        assert_eq!(
            invalid(json!({"properties":{"a":{"type":"string","x-mcp-header":""}}})),
            InvalidDeclaration::NotAToken
        );
        assert_eq!(
            invalid(json!({"properties":{
                "a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}})),
            InvalidDeclaration::Repeated
        );
        assert_eq!(
            invalid(
                json!({"properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"A"}}}})
            ),
            InvalidDeclaration::Unreachable
        );
        assert_eq!(
            invalid(json!({"anyOf":[{"properties":{"a":{"type":"string","x-mcp-header":"A"}}}]})),
            InvalidDeclaration::Unreachable
        );
        // A property named `x-mcp-header` is a name, not an annotation.
        assert!(
            tool_headers(&json!({"properties":{"x-mcp-header":{"type":"string"}}}))
                .unwrap()
                .is_empty()
        );
    }

    fn run(headers: &[(&str, &str)], arguments: Value) -> Result<(), RequestError> {
        let params: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        check(&params, &region(), Some(&arguments))
    }

    #[test]
    fn headers_must_mirror_their_arguments() {
        let args = json!({"region":"us-west1","limit":42,"dry":false,"where":{"zone":"b"}});
        let all = [
            ("mcp-param-region", "us-west1"),
            ("Mcp-Param-Limit", "42.0"),
            ("mcp-param-dry", "false"),
            ("mcp-param-zone", "=?base64?Yg==?="),
        ];
        assert_eq!(run(&all, args.clone()), Ok(()));
        // One missing.
        assert_eq!(
            run(&all[1..], args.clone()),
            Err(RequestError::McpHeaderMismatch)
        );
        // One different.
        let mut other = all;
        other[0].1 = "eu-west1";
        assert_eq!(
            run(&other, args.clone()),
            Err(RequestError::McpHeaderMismatch)
        );
        other = all;
        other[1].1 = "42.5";
        assert_eq!(
            run(&other, args.clone()),
            Err(RequestError::McpHeaderMismatch)
        );
        other = all;
        other[2].1 = "False";
        assert_eq!(
            run(&other, args.clone()),
            Err(RequestError::McpHeaderMismatch)
        );
        // Bad base64, repeated.
        other = all;
        other[3].1 = "=?base64?Yg=?=";
        assert_eq!(
            run(&other, args.clone()),
            Err(RequestError::InvalidMcpHeader)
        );
        let mut twice = all.to_vec();
        twice.push(("MCP-PARAM-REGION", "us-west1"));
        assert_eq!(
            run(&twice, args.clone()),
            Err(RequestError::InvalidMcpHeader)
        );
        // Absent and null arguments need no header, and must not have one.
        assert_eq!(run(&[], json!({"region":null})), Ok(()));
        assert_eq!(
            run(&[("mcp-param-region", "x")], json!({})),
            Err(RequestError::McpHeaderMismatch)
        );
        // A name another server would read as `region`.
        assert_eq!(
            run(
                &all,
                json!({"region":"us-west1","Region":"eu","limit":42,"dry":false,"where":{"zone":"b"}})
            ),
            Err(RequestError::UnreadableBody)
        );
        // Headers no declaration names pass.
        let mut extra = all.to_vec();
        extra.push(("mcp-param-other", "\u{1}"));
        assert_eq!(run(&extra, args), Ok(()));
    }

    #[test]
    fn integers_compare_numerically_in_the_safe_range() {
        assert_eq!(parse_integer("-7"), Some(-7));
        assert_eq!(parse_integer("42.000"), Some(42));
        assert_eq!(parse_integer("9007199254740992"), None);
        assert_eq!(parse_integer("1e3"), None);
        assert_eq!(parse_integer("+1"), None);
        assert_eq!(parse_integer("."), None);
        assert!(mirrors(&json!(42.0), "42"));
        assert!(!mirrors(&json!(9007199254740993u64), "9007199254740993"));
    }

    #[test]
    fn arguments_are_read_strictly() {
        assert_eq!(
            arguments_of(br#"{"params":{"name":"t","arguments":{"a":1}}}"#),
            Ok(Some(json!({"a":1})))
        );
        assert_eq!(
            arguments_of(br#"{"params":{"name":"t","Arguments":{"a":1}}}"#),
            Err(RequestError::UnreadableBody)
        );
        assert_eq!(
            arguments_of(br#"{"params":{"arguments":{"a":1,"a":2}}}"#),
            Err(RequestError::UnreadableBody)
        );
        assert_eq!(arguments_of(br#"[{"params":{}}]"#), Ok(None));
    }
}
