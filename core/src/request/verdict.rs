//! The one place a request is let through: the verdicts that forward a request,
//! [`Allowed`] and [`Public`], are made here and nowhere else (their fields are private to this
//! module), each from the complete requirement
//! ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1) `insufficient_scope`:
//! a token must hold every scope the request needs; the MCP authorization specification's
//! resource-server duties).
//!
//! - [`Allowed`] comes only from `decide`: the principal holds the base scopes and meets the
//!   method, tool, prompt and resource rules of every call of the request, as the body reader
//!   read them. A request
//!   with a body the policy depends on cannot be allowed without that reading: `decide` denies
//!   when it is missing, whichever path of the exchange asks.
//!   The request's MCP session, when it names one that is bound, must be the principal's
//!   ([`crate::session`]).
//! - [`Public`] comes only from `public`, the request's path is one the guard serves without a
//!   token, or from `anonymous`: a request without credentials whose every call is a public
//!   tool's or one that finds it ([`ScopePolicy::with_public_tool`]).
//!
//! The property tests hold every [`Step::Allow`](crate::exchange::Step::Allow) to this statement,
//! whatever the token, body, content type or headers.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::access_token::Principal;
use crate::guard::Guard;
use crate::list_filter::{ListKind, ListRequests};
use crate::mcp_request::{Call, Calls};
use crate::scope_policy::{Refusal, ScopePolicy};
use crate::session::SessionOwner;

/// A request allowed with a verified token whose principal holds every scope the request needs.
/// Only the exchange makes one, after `decide`; adapters read the principal from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    principal: Arc<Principal>,
    lists: ListRequests,
    /// What the body says, when it was read (boxed: most requests carry little).
    body: Box<BodyFacts>,
}

/// What an allowed request's body says, for the adapter's own answers.
#[derive(Debug, Clone, Default, PartialEq)]
struct BodyFacts {
    /// The `id` of a single `subscriptions/listen` request.
    listen: Option<serde_json::Value>,
    /// The `id` of a single request.
    id: Option<serde_json::Value>,
    /// The tools its `tools/call`s name.
    tools: Vec<String>,
}

impl Allowed {
    /// The verified principal (for the request's extensions, logs and identity headers).
    pub fn principal(&self) -> &Arc<Principal> {
        &self.principal
    }

    /// The verified principal, owned.
    pub fn into_principal(self) -> Arc<Principal> {
        self.principal
    }

    /// The list request whose result the adapter filters for this principal
    /// ([`crate::list_filter`]); empty when there is none to filter.
    pub fn lists(&self) -> &ListRequests {
        &self.lists
    }

    /// The JSON-RPC `id` of the request, when its body was read and is a single request (for an
    /// answer the adapter makes itself, e.g. a rate limit's refusal).
    pub fn request_id(&self) -> Option<&serde_json::Value> {
        self.body.id.as_ref()
    }

    /// The tools the request calls (`tools/call`), when its body was read: what per-tool rate
    /// limits count.
    pub fn tools(&self) -> &[String] {
        &self.body.tools
    }

    /// For a `subscriptions/listen` request (MCP 2026-07-28) whose body was read: the JSON-RPC
    /// message that closes its stream gracefully, the listen's result (`resultType:
    /// "complete"`, its `id` as the subscription id), for the adapter to send as the last event
    /// when it ends the stream early (the token expired). `None` for any other request.
    pub fn listen_closing(&self) -> Option<Vec<u8>> {
        let id = self.body.listen.as_ref()?;
        let message = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "result": {
                "resultType": "complete",
                "_meta": { "io.modelcontextprotocol/subscriptionId": id },
            },
        });
        serde_json::to_vec(&message).ok()
    }
}

/// A request served without a token: to a path the guard serves without one
/// ([`Guard::with_public_path`]), or, without any credentials, calls only of the public tools
/// and of the methods a client needs to find them ([`ScopePolicy::with_public_tool`]). Only the
/// exchange makes one, after `public` or `anonymous`.
#[derive(Debug, Clone, PartialEq)]
pub struct Public {
    lists: ListRequests,
    /// Made by `anonymous` (public tools), not for a public path.
    anonymous: bool,
}

impl Public {
    /// The list request whose result the adapter filters (to the public tools); empty when
    /// there is none.
    pub fn lists(&self) -> &ListRequests {
        &self.lists
    }

    /// Whether the request was made to the resource without a token (public tools): a session
    /// its response opens is bound to [`SessionOwner::anonymous`].
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }
}

/// The methods a request without a token may call besides the public tools: what a client
/// needs to connect and find them.
const ANONYMOUS_METHODS: &[&str] = &[
    "initialize",
    "notifications/initialized",
    "notifications/cancelled",
    "ping",
    "server/discover",
    "tools/list",
];

/// What the exchange knows of the request's body when it asks for a verdict.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodySeen<'a> {
    /// The request has no body.
    None,
    /// The request has a body that was not read as JSON-RPC (a form, read only for a token).
    NotRead,
    /// The calls of the body, read in full.
    Read(&'a Calls),
}

/// What the exchange knows of the request's MCP session when it asks for a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionSeen {
    /// No `Mcp-Session-Id`, or one no binding is known for.
    Unbound,
    /// The session the request names belongs to this owner.
    BoundTo(SessionOwner),
}

/// Why `decide` did not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// The principal lacks some of these scopes (every scope the request needs, base first).
    Insufficient(Vec<String>),
    /// A rule fails that no scope can fix (a role, client, subject, issuer, tenant or claim).
    NotPermitted,
    /// The policy depends on a body that was not read: the exchange asked for a verdict it
    /// cannot have (cannot happen; denied).
    Incomplete,
    /// The request names a session another principal opened.
    OtherSession,
    /// A batch holds a list call whose answer is to be filtered.
    ListInBatch,
}

/// The verdict on a request with a verified `principal`: allowed only when the session it names
/// (if bound) is the principal's, and the principal holds the base scopes and meets the rule of
/// every call the body holds (with a body the policy reads, the body must have been read).
/// `learn_tools`: the adapter reads `tools/list` answers for their `Mcp-Param-*` declarations.
pub(crate) fn decide(
    policy: &ScopePolicy,
    principal: Arc<Principal>,
    body: BodySeen<'_>,
    session: SessionSeen,
    learn_tools: bool,
) -> Result<Allowed, Denied> {
    if let SessionSeen::BoundTo(owner) = session {
        if owner != SessionOwner::of(&principal) {
            return Err(Denied::OtherSession);
        }
    }
    let calls = match body {
        BodySeen::Read(calls) => calls.calls.as_slice(),
        BodySeen::None => &[],
        BodySeen::NotRead if policy.reads_body() => return Err(Denied::Incomplete),
        BodySeen::NotRead => &[],
    };
    match policy.judge(&principal, calls.iter().map(Call::target)) {
        Ok(()) => {}
        Err(Refusal::Insufficient(required)) => return Err(Denied::Insufficient(required)),
        Err(Refusal::NotPermitted) => return Err(Denied::NotPermitted),
    }
    let filter = policy.filters_lists();
    let lists = match body {
        BodySeen::Read(read) => match read.calls.as_slice() {
            [call] => ListKind::of(&call.method)
                .map(|kind| ListRequests::one(kind, filter, learn_tools))
                .unwrap_or_default(),
            // A list in a batch (gone since MCP 2025-06-18) could not be told from the other
            // answers: refused.
            several if filter && several.iter().any(|c| ListKind::of(&c.method).is_some()) => {
                return Err(Denied::ListInBatch)
            }
            _ => ListRequests::default(),
        },
        _ => ListRequests::default(),
    };
    let (listen, id, tools) = match body {
        BodySeen::Read(read) => {
            let listen = match read.calls.as_slice() {
                [call] if call.method == "subscriptions/listen" => read.id.clone(),
                _ => None,
            };
            let tools = read
                .calls
                .iter()
                .filter(|c| c.method == "tools/call")
                .filter_map(|c| c.name.clone())
                .collect();
            (listen, read.id.clone(), tools)
        }
        _ => (None, None, Vec::new()),
    };
    Ok(Allowed {
        principal,
        lists,
        body: Box::new(BodyFacts { listen, id, tools }),
    })
}

/// The verdict on a request to `path` without a token: [`Public`] only for a declared public
/// path.
pub(crate) fn public(guard: &Guard, path: &str) -> Option<Public> {
    guard.is_public(path).then_some(Public {
        lists: ListRequests::default(),
        anonymous: false,
    })
}

/// The verdict on a request without credentials whose body was read: [`Public`] only when the
/// policy has public tools, the body holds at least one call, every call is a public tool's
/// `tools/call` or one of the methods that find them, and the request names no session a
/// principal opened. A `tools/list` is then filtered to the public tools.
pub(crate) fn anonymous(
    policy: &ScopePolicy,
    read: &Calls,
    session: SessionSeen,
    learn_tools: bool,
) -> Option<Public> {
    if policy.public_tools().is_empty() || read.calls.is_empty() {
        return None;
    }
    // A session a signed-in caller opened is not for a caller without a token.
    if let SessionSeen::BoundTo(owner) = session {
        if owner != SessionOwner::anonymous() {
            return None;
        }
    }
    let allowed = read.calls.iter().all(|c| {
        let listed = match c.method.as_str() {
            "tools/call" => c
                .name
                .as_deref()
                .is_some_and(|n| policy.public_tools().iter().any(|p| p == n)),
            m => ANONYMOUS_METHODS.contains(&m),
        };
        // A rule that would refuse a signed-in caller is not skipped by sending no token.
        listed
            && policy
                .contradicts_public(&c.method, c.name.as_deref())
                .is_none()
    });
    if !allowed {
        return None;
    }
    let lists = match read.calls.as_slice() {
        [call] if call.method == "tools/list" => {
            ListRequests::one(ListKind::Tools, true, learn_tools)
        }
        // A list in a batch could not be told from the other answers: refused.
        calls if calls.iter().any(|c| c.method == "tools/list") => return None,
        _ => ListRequests::default(),
    };
    Some(Public {
        lists,
        anonymous: true,
    })
}
