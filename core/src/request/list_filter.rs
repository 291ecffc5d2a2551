//! Authorization-aware discovery: the results of `tools/list`, `prompts/list`, `resources/list`
//! and `resources/templates/list` keep only what the caller may use
//! ([MCP 2026-07-28 server features](https://modelcontextprotocol.io/specification/2026-07-28/server/tools):
//! a list "may vary by the authorization presented on the request"). An item is listed exactly
//! when the same principal calling it (`tools/call`, `prompts/get`, `resources/read` of the
//! template as a URI) would be allowed by the same [`ScopePolicy`]. A filtered result is marked
//! `cacheScope: "private"` (MCP caching, SEP-2549: it must not be shared between callers).
//!
//! Filtering is a convenience, never the guard: a hidden item is still refused when called. A
//! response the filter cannot read as JSON-RPC passes unchanged.

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::access_token::Principal;
use crate::scope_policy::{Operation, ScopePolicy};

/// A list method whose result the filter rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListKind {
    /// `tools/list`: `result.tools[].name`.
    Tools,
    /// `prompts/list`: `result.prompts[].name`.
    Prompts,
    /// `resources/list`: `result.resources[].uri`.
    Resources,
    /// `resources/templates/list`: `result.resourceTemplates[].uriTemplate`.
    ResourceTemplates,
}

impl ListKind {
    /// The kind of list `method` returns, if it is one.
    pub fn of(method: &str) -> Option<Self> {
        Some(match method {
            "tools/list" => Self::Tools,
            "prompts/list" => Self::Prompts,
            "resources/list" => Self::Resources,
            "resources/templates/list" => Self::ResourceTemplates,
            _ => return None,
        })
    }

    fn key(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Prompts => "prompts",
            Self::Resources => "resources",
            Self::ResourceTemplates => "resourceTemplates",
        }
    }

    /// The call that uses `item`, as the policy judges it; `None` for an item without its
    /// name or URI (never listed).
    fn target(self, item: &Map<String, Value>) -> Option<Operation<'_>> {
        let text = |k: &str| item.get(k).and_then(Value::as_str);
        Some(match self {
            Self::Tools => Operation {
                method: "tools/call",
                name: Some(text("name")?),
                uri: None,
            },
            Self::Prompts => Operation {
                method: "prompts/get",
                name: Some(text("name")?),
                uri: None,
            },
            Self::Resources => Operation {
                method: "resources/read",
                name: None,
                uri: Some(text("uri")?),
            },
            Self::ResourceTemplates => Operation {
                method: "resources/read",
                name: None,
                uri: Some(text("uriTemplate")?),
            },
        })
    }
}

/// The list request an allowed request made: what the adapter reads its answer for. Empty when
/// the request is no list request, or its answer is neither filtered nor learned from. A request
/// with a list is a single message (a batch holding one is refused where lists are filtered), so
/// every response in its answer is the list's, whatever `id` it carries (a server may write
/// `1.0` back as `1`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListRequests {
    pending: Option<ListKind>,
    /// The answer is filtered for the caller.
    filter: bool,
    /// A `tools/list` answer whose `Mcp-Param-*` declarations the adapter learns
    /// ([`tool_headers_of_list`](crate::param_headers::tool_headers_of_list)).
    learn: bool,
}

impl ListRequests {
    /// A request of list `kind`, whose answer is filtered (`filter`) and, for `tools/list`,
    /// learned from (`learn_tools`).
    pub(crate) fn one(kind: ListKind, filter: bool, learn_tools: bool) -> Self {
        let learn = learn_tools && kind == ListKind::Tools;
        Self {
            pending: (filter || learn).then_some(kind),
            filter,
            learn,
        }
    }

    /// Whether the answer needs no reading: neither filtered nor learned from.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none()
    }

    /// Whether the answer is filtered for the caller (else it is read only to learn from, and
    /// passes as it is).
    pub fn filters(&self) -> bool {
        self.pending.is_some() && self.filter
    }

    /// Whether the answer is a `tools/list` result whose `Mcp-Param-*` declarations the
    /// adapter learns (before any filtering: another caller may call what this one cannot
    /// see).
    pub fn learns_tools(&self) -> bool {
        self.pending.is_some() && self.learn
    }
}

/// What [`ListFilter::filter_json`] made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filtered {
    /// The message with its list results filtered.
    Changed(Vec<u8>),
    /// A message without a list result (a notification, an error): pass it as it is.
    Unchanged,
    /// Not JSON: what it lists cannot be known, so it must not reach the caller.
    Unreadable,
}

impl Filtered {
    /// The bytes to send in place of `original`: the filtered message, `original` when it
    /// holds no list, or a JSON-RPC error when it could not be read.
    pub fn into_bytes(self, original: &[u8]) -> Vec<u8> {
        match self {
            Self::Changed(bytes) => bytes,
            Self::Unchanged => original.to_vec(),
            Self::Unreadable => UNFILTERABLE.to_vec(),
        }
    }
}

/// What becomes of one event of an event-stream answer to a list request (MCP Streamable HTTP:
/// each event's data is one JSON-RPC message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// Send the event as it is (no list result in it).
    Keep,
    /// Send the event with this data, its list result filtered.
    Replace(String),
    /// Drop the event: its message cannot be read, so what it lists cannot be known.
    Drop,
}

/// The answer that replaces a list answer the filter could not read (JSON-RPC internal error).
pub const UNFILTERABLE: &[u8] =
    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"the list answer could not be filtered"}}"#;

/// Filters list results for one principal under one policy (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ListFilter<'a> {
    policy: &'a ScopePolicy,
    /// `None` for a request without a token: only the public tools are listed.
    principal: Option<&'a Principal>,
    requests: &'a ListRequests,
}

impl<'a> ListFilter<'a> {
    /// The filter of `principal`'s `requests` under `policy`.
    pub fn new(
        policy: &'a ScopePolicy,
        principal: &'a Principal,
        requests: &'a ListRequests,
    ) -> Self {
        Self {
            policy,
            principal: Some(principal),
            requests,
        }
    }

    /// The filter of a request made without a token ([`ScopePolicy::with_public_tool`]): a
    /// list shows the public tools and nothing else.
    pub fn anonymous(policy: &'a ScopePolicy, requests: &'a ListRequests) -> Self {
        Self {
            policy,
            principal: None,
            requests,
        }
    }

    /// Whether `item` of a `kind` list is one the principal may use.
    pub fn visible(&self, kind: ListKind, item: &Value) -> bool {
        let Some(op) = item.as_object().and_then(|o| kind.target(o)) else {
            return false;
        };
        match self.principal {
            Some(principal) => self.policy.judge(principal, [op]).is_ok(),
            None => {
                kind == ListKind::Tools
                    && op
                        .name
                        .is_some_and(|n| self.policy.public_tools().iter().any(|p| p == n))
            }
        }
    }

    /// The JSON-RPC message (or batch) `body` with the results of the list request filtered:
    /// [`Filtered::Unchanged`] when no result is there (a notification, an error), and
    /// [`Filtered::Unreadable`] when `body` is not JSON — the adapter must not pass it on.
    pub fn filter_json(&self, body: &[u8]) -> Filtered {
        let Ok(mut message) = serde_json::from_slice::<Value>(body) else {
            return Filtered::Unreadable;
        };
        let changed = match &mut message {
            Value::Array(batch) => {
                // Every response of the batch is filtered: no short circuit.
                let mut changed = false;
                for m in batch.iter_mut() {
                    changed |= self.filter_message(m);
                }
                changed
            }
            one => self.filter_message(one),
        };
        match changed {
            true => serde_json::to_vec(&message).map_or(Filtered::Unreadable, Filtered::Changed),
            false => Filtered::Unchanged,
        }
    }

    /// One event's data, filtered ([`EventData`]).
    pub fn filter_event_data(&self, data: &str) -> EventData {
        match self.filter_json(data.as_bytes()) {
            Filtered::Unchanged => EventData::Keep,
            // Serialized JSON is UTF-8; anything else is not sent.
            Filtered::Changed(bytes) => {
                String::from_utf8(bytes).map_or(EventData::Drop, EventData::Replace)
            }
            Filtered::Unreadable => EventData::Drop,
        }
    }

    /// Filters one response to a list request, in place; whether it is one.
    fn filter_message(&self, message: &mut Value) -> bool {
        let Some(m) = message.as_object_mut() else {
            return false;
        };
        let Some(kind) = self.requests.pending.filter(|_| self.requests.filter) else {
            return false;
        };
        let Some(result) = m.get_mut("result").and_then(Value::as_object_mut) else {
            return false;
        };
        match result.get_mut(kind.key()) {
            Some(Value::Array(items)) => items.retain(|item| self.visible(kind, item)),
            // A result without its list, or with something else there: nothing is listed.
            Some(other) => *other = Value::Array(Vec::new()),
            None => {}
        }
        result.insert("cacheScope".into(), "private".into());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(ListKind::of("tools/list"), Some(ListKind::Tools));
        assert_eq!(
            ListKind::of("resources/templates/list"),
            Some(ListKind::ResourceTemplates)
        );
        assert_eq!(ListKind::of("tools/call"), None);
    }
}
