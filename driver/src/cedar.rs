//! Cedar policies as the [`PolicyEngine`] of a scope policy (feature `cedar`): what rules cannot
//! say, in the language AWS Verified Permissions and AgentCore Gateway use
//! ([Cedar](https://docs.cedarpolicy.com/)), evaluated by its reference implementation
//! (`cedar-policy`). Cedar denies by default: every call needs a `permit`, and any `forbid`
//! that matches wins.
//!
//! Each JSON-RPC call is one Cedar request:
//! - principal: `User::"<sub>"` (or `Client::"<client_id>"` without `sub`), whose attributes are
//!   the token's claims (strings, integers, booleans, arrays as sets, objects as records; other
//!   numbers and nulls are left out) and `scopes`, the set of granted scopes;
//! - action: `Action::"<method>"`, e.g. `Action::"tools/call"`;
//! - resource: `Tool::"<name>"` for `tools/call`, `Prompt::"<name>"` for `prompts/get`,
//!   `Resource::"<uri>"` for `resources/read`, `resources/subscribe` and
//!   `resources/unsubscribe`, else `Method::"<method>"`;
//! - context: `{ method: "<method>" }`.
//!
//! ```cedar
//! permit(principal, action, resource);
//! forbid(principal, action == Action::"tools/call", resource == Tool::"drop_database")
//!   unless { principal has realm_access && principal.realm_access.roles.contains("dba") };
//! ```
//!
//! Values are built as Cedar expressions, never parsed from the token's text, so a claim cannot
//! name an entity or an extension function. A policy that errors on a request (an attribute the
//! token lacks: use `principal has …`) makes the decision a deny, whatever else permits it; a
//! resource URI a server could read differently (see the core's resource rules) is refused
//! before Cedar sees it.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use mcp_authz_core::scope_policy::{Operation, PolicyEngine};
use mcp_authz_core::Principal;
use serde_json::Value;

/// A set of Cedar policies, ready to decide calls (see the module docs).
pub struct CedarEngine {
    policies: PolicySet,
    authorizer: Authorizer,
}

impl std::fmt::Debug for CedarEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CedarEngine")
            .field("policies", &self.policies.policies().count())
            .finish()
    }
}

impl CedarEngine {
    /// The policies of `text` (Cedar's policy syntax).
    ///
    /// # Errors
    /// The parser's message when the text is not a Cedar policy set.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let policies = PolicySet::from_str(text).map_err(|e| format!("{e:?}"))?;
        Ok(Self {
            policies,
            authorizer: Authorizer::new(),
        })
    }

    /// The policies of the file at `path`.
    ///
    /// # Errors
    /// When the file cannot be read or does not parse.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_text(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The Cedar request and entities of one call, or `None` when they cannot be built.
    fn request(&self, principal: &Principal, call: &Operation<'_>) -> Option<(Request, Entities)> {
        // A user by subject; a client acting for itself (no `sub`) by its id, as another type,
        // so a client id never stands for a user's subject. Neither: no request, so a deny.
        let user = match (principal.subject(), principal.client_id()) {
            (Some(sub), _) => uid("User", sub)?,
            (None, Some(client)) => uid("Client", client)?,
            (None, None) => return None,
        };
        let mut attrs: HashMap<String, RestrictedExpression> = principal
            .claims()
            .into_iter()
            .filter_map(|(k, v)| Some((k, expression(&v)?)))
            .collect();
        let scopes = principal
            .scopes()
            .map(|s| RestrictedExpression::new_string(s.to_owned()));
        attrs.insert("scopes".into(), RestrictedExpression::new_set(scopes));
        let entity = Entity::new(user.clone(), attrs, HashSet::new()).ok()?;
        let entities = Entities::from_entities([entity], None).ok()?;
        let resource = match (call.method, call.name, call.uri) {
            ("tools/call", Some(name), _) => uid("Tool", name)?,
            ("prompts/get", Some(name), _) => uid("Prompt", name)?,
            ("resources/read" | "resources/subscribe" | "resources/unsubscribe", _, Some(uri)) => {
                uid("Resource", uri)?
            }
            (method, _, _) => uid("Method", method)?,
        };
        let context = Context::from_pairs([(
            "method".to_owned(),
            RestrictedExpression::new_string(call.method.to_owned()),
        )])
        .ok()?;
        let action = uid("Action", call.method)?;
        let request = Request::new(user, action, resource, context, None).ok()?;
        Some((request, entities))
    }
}

impl PolicyEngine for CedarEngine {
    fn permits(&self, principal: &Principal, call: &Operation<'_>) -> bool {
        let Some((request, entities)) = self.request(principal, call) else {
            return false;
        };
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        // A policy that errors (an attribute the token lacks) is skipped by Cedar; a `forbid`
        // that errored might have applied, so any error denies.
        response.decision() == Decision::Allow && response.diagnostics().errors().next().is_none()
    }
}

fn uid(kind: &str, id: &str) -> Option<EntityUid> {
    let kind = EntityTypeName::from_str(kind).ok()?;
    Some(EntityUid::from_type_name_and_id(kind, EntityId::new(id)))
}

/// A claim's value as a Cedar value: `None` for nulls and numbers that are not 64-bit integers.
fn expression(v: &Value) -> Option<RestrictedExpression> {
    Some(match v {
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::Number(n) => RestrictedExpression::new_long(n.as_i64()?),
        Value::Array(items) => RestrictedExpression::new_set(items.iter().filter_map(expression)),
        Value::Object(fields) => RestrictedExpression::new_record(
            fields
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), expression(v)?))),
        )
        .ok()?,
        Value::Null => return None,
    })
}
