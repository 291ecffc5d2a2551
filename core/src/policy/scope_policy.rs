//! What a request needs: the base scopes for every request, plus a [`Requirement`] per MCP
//! method, tool, prompt and resource URI pattern ([`crate::rules`]), with a hook for scope
//! hierarchies, which the MCP
//! authorization specification requires servers to honour
//! ([RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3) scopes; MCP 2025-11-25
//! "Scope Selection Strategy").

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::access_token::Principal;
use crate::rules::{Condition, Facts, Outcome, Requirement, RoleClaims, UriPattern};

/// Decides whether a granted scope covers a required one (the MCP specification says servers
/// must honour scope hierarchies).
pub type ScopeImplication = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// A ready-made [`ScopeImplication`]: a scope implies the scopes below it in a `:`-separated
/// hierarchy (`mcp` implies `mcp:tools` and `mcp:tools:read`).
pub fn colon_hierarchy(granted: &str, required: &str) -> bool {
    required
        .strip_prefix(granted)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// What a request needs: the base scopes for every request to the resource, plus a
/// [`Requirement`] per MCP method, per tool (`tools/call` with `params.name`), per prompt
/// (`prompts/get`) and per resource URI pattern (`resources/read`, `resources/subscribe`,
/// `resources/unsubscribe` with `params.uri`). Scope-only requirements
/// ([`ScopePolicy::with_tool_scopes`]) are the simplest case.
#[derive(Clone, Default)]
pub struct ScopePolicy {
    base: Vec<String>,
    methods: BTreeMap<String, Requirement>,
    tools: BTreeMap<String, Requirement>,
    prompts: BTreeMap<String, Requirement>,
    resources: Vec<(UriPattern, Requirement)>,
    roles: RoleClaims,
    implies: Option<ScopeImplication>,
    challenge_all: bool,
    no_list_filtering: bool,
    engine: Option<Arc<dyn PolicyEngine>>,
    public_tools: Vec<String>,
    /// Rules every request to the resource meets, besides the base scopes.
    everywhere: Vec<Requirement>,
}

impl fmt::Debug for ScopePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopePolicy")
            .field("base", &self.base)
            .field("methods", &self.methods)
            .field("tools", &self.tools)
            .field("prompts", &self.prompts)
            .field("resources", &self.resources)
            .field("roles", &self.roles)
            .field("implies", &self.implies.as_ref().map(|_| "…"))
            .field("challenge_all", &self.challenge_all)
            .field("no_list_filtering", &self.no_list_filtering)
            .field("engine", &self.engine.as_ref().map(|_| "…"))
            .field("public_tools", &self.public_tools)
            .field("everywhere", &self.everywhere)
            .finish()
    }
}

fn owned<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        let s = s.into();
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// One JSON-RPC call of a request as the policy reads it: the method, and the tool or prompt
/// name or resource URI it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation<'a> {
    /// `method`.
    pub method: &'a str,
    /// `params.name` (a tool or prompt).
    pub name: Option<&'a str>,
    /// `params.uri` (a resource).
    pub uri: Option<&'a str>,
}

impl<'a> Operation<'a> {
    /// A call of `method` naming `name` and `uri`.
    pub fn new(method: &'a str, name: Option<&'a str>, uri: Option<&'a str>) -> Self {
        Self { method, name, uri }
    }
}

/// A policy engine the policy consults for every call its rules allow (Cedar in
/// `mcp-authz-driver`'s `cedar` feature): what rules cannot say. A refusal of the engine is one
/// no scope fixes (`403` without a step-up); the rules' own step-ups come first.
pub trait PolicyEngine: Send + Sync {
    /// Whether `principal` may make `call`. Deny by default: an engine that cannot decide
    /// says `false`.
    fn permits(&self, principal: &Principal, call: &Operation<'_>) -> bool;
}

/// Why the policy refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Re-authorizing with these scopes (every scope the request needs, base first) would
    /// fix it.
    Insufficient(Vec<String>),
    /// No scope would: a role, client, subject, issuer, tenant or claim condition fails.
    NotPermitted,
}

impl ScopePolicy {
    /// A policy requiring `base` for every request to the resource. These are also the scopes
    /// the first `401` asks for.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(base: I) -> Self {
        Self {
            base: owned(base),
            ..Self::default()
        }
    }

    /// Also requires `scopes` for JSON-RPC method `method` (e.g. `tools/list`).
    #[must_use]
    pub fn with_method_scopes<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        method: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.with_method_rule(method, Requirement::scopes(scopes))
    }

    /// Also requires `scopes` for `tools/call` of the tool `tool`.
    #[must_use]
    pub fn with_tool_scopes<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        tool: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.with_tool_rule(tool, Requirement::scopes(scopes))
    }

    /// Also requires `rule` for every request to the resource, with or without a body (e.g. a
    /// client allow-list: `client=a | client=b`). Several such rules must all hold.
    #[must_use]
    pub fn with_rule(mut self, rule: Requirement) -> Self {
        self.everywhere.push(rule);
        self
    }

    /// Also requires `rule` for JSON-RPC method `method` (replacing an earlier one).
    #[must_use]
    pub fn with_method_rule(mut self, method: impl Into<String>, rule: Requirement) -> Self {
        self.methods.insert(method.into(), rule);
        self
    }

    /// Also requires `rule` for `tools/call` of `tool` (replacing an earlier one).
    #[must_use]
    pub fn with_tool_rule(mut self, tool: impl Into<String>, rule: Requirement) -> Self {
        self.tools.insert(tool.into(), rule);
        self
    }

    /// Also requires `rule` for `prompts/get` of `prompt` (replacing an earlier one).
    #[must_use]
    pub fn with_prompt_rule(mut self, prompt: impl Into<String>, rule: Requirement) -> Self {
        self.prompts.insert(prompt.into(), rule);
        self
    }

    /// Also requires `rule` for reading, subscribing to or unsubscribing from a resource whose
    /// URI matches `pattern`. A URI several patterns match needs every one's rule; a URI that
    /// is not plain (percent-encoding, a backslash, a `.` or `..` segment) needs every resource
    /// rule, since the server may decode it into any of them.
    #[must_use]
    pub fn with_resource_rule(mut self, pattern: UriPattern, rule: Requirement) -> Self {
        self.resources.push((pattern, rule));
        self
    }

    /// Where `role=` conditions look for roles and groups.
    #[must_use]
    pub fn with_role_claims(mut self, roles: RoleClaims) -> Self {
        self.roles = roles;
        self
    }

    /// Consults `engine` for every call the rules allow (see [`PolicyEngine`]). With an
    /// engine, bodies are read and lists filtered by it too.
    #[must_use]
    pub fn with_engine(mut self, engine: Arc<dyn PolicyEngine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Declares `tool` public: a request without any token may call it, and then
    /// `initialize`, `ping`, `server/discover`, `notifications/initialized`,
    /// `notifications/cancelled` and `tools/list` (listing the public tools only) are served
    /// without a token too. Everything else keeps its `401`; a request that presents a token is
    /// verified as usual. Nothing changes while no tool is public.
    #[must_use]
    pub fn with_public_tool(mut self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        if !tool.is_empty() && !self.public_tools.contains(&tool) {
            self.public_tools.push(tool);
        }
        self
    }

    /// The tools callable without a token.
    pub fn public_tools(&self) -> &[String] {
        &self.public_tools
    }

    /// What contradicts calling `method` (of `tool`) without a token: a rule for every request,
    /// a policy engine, a rule for the method, or one for the tool. A caller refused by any of
    /// these could otherwise drop its token and be served; such a call is not served without
    /// one (`None` when nothing contradicts it).
    pub fn contradicts_public(&self, method: &str, tool: Option<&str>) -> Option<&'static str> {
        if !self.everywhere.is_empty() {
            return Some("a rule for every request");
        }
        if self.engine.is_some() {
            return Some("a policy engine");
        }
        if self.methods.contains_key(method) {
            return Some("a rule for the method");
        }
        match tool.is_some_and(|t| self.tools.contains_key(t)) {
            true => Some("a rule for the tool"),
            false => None,
        }
    }

    /// Lets a granted scope imply required ones (see [`colon_hierarchy`]).
    #[must_use]
    pub fn with_implication(mut self, implies: ScopeImplication) -> Self {
        self.implies = Some(implies);
        self
    }

    /// Makes the first `401` ask for every scope the policy mentions, not only the base ones,
    /// for clients that cannot step up later.
    #[must_use]
    pub fn with_all_scopes_challenged(mut self, all: bool) -> Self {
        self.challenge_all = all;
        self
    }

    /// Whether list results are filtered by the rules ([`crate::list_filter`]); on by
    /// default, which takes effect whenever a tool, prompt or resource rule exists.
    #[must_use]
    pub fn with_list_filtering(mut self, on: bool) -> Self {
        self.no_list_filtering = !on;
        self
    }

    /// Whether list results are filtered: some tool, prompt or resource rule exists and
    /// filtering was not turned off.
    pub fn filters_lists(&self) -> bool {
        !self.no_list_filtering && self.has_item_rules()
    }

    /// The base scopes.
    pub fn base(&self) -> &[String] {
        &self.base
    }

    /// The scopes the first `401` asks for: the base scopes, or every scope with
    /// [`ScopePolicy::with_all_scopes_challenged`].
    pub fn challenged(&self) -> Vec<&str> {
        match self.challenge_all {
            true => self.every_scope(),
            false => self.base.iter().map(String::as_str).collect(),
        }
    }

    /// The role claims.
    pub fn role_claims(&self) -> &RoleClaims {
        &self.roles
    }

    fn rules(&self) -> impl Iterator<Item = &Requirement> + '_ {
        let resources = self.resources.iter().map(|(_, r)| r);
        self.everywhere
            .iter()
            .chain(self.methods.values())
            .chain(self.tools.values())
            .chain(self.prompts.values())
            .chain(resources)
    }

    /// Every scope the policy mentions (for `scopes_supported`), base first.
    pub fn all_scopes(&self) -> Vec<String> {
        owned(self.every_scope())
    }

    /// Every scope the policy mentions, base first, without repeats.
    fn every_scope(&self) -> Vec<&str> {
        let rest = self.rules().flat_map(Requirement::scopes_named);
        let mut out: Vec<&str> = Vec::new();
        for s in self.base.iter().map(String::as_str).chain(rest) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Whether the decision depends on the JSON-RPC body.
    pub fn reads_body(&self) -> bool {
        self.engine.is_some()
            || !self.methods.is_empty()
            || !self.tools.is_empty()
            || !self.prompts.is_empty()
            || !self.resources.is_empty()
    }

    /// Whether some rule is about a tool, prompt or resource (so list results depend on the
    /// caller).
    pub fn has_item_rules(&self) -> bool {
        let uses = ["tools/call", "prompts/get", "resources/read"];
        self.engine.is_some()
            || uses.iter().any(|m| self.methods.contains_key(*m))
            || !self.tools.is_empty()
            || !self.prompts.is_empty()
            || !self.resources.is_empty()
    }

    /// Whether `principal` holds `required`, directly or through the implication hook.
    pub(crate) fn grants(&self, principal: &Principal, required: &str) -> bool {
        principal.scopes().any(|g| {
            g == required
                || self
                    .implies
                    .as_ref()
                    .is_some_and(|implies| implies(g, required))
        })
    }

    /// The rules that apply to one call, besides the base scopes.
    fn rules_for<'p>(&'p self, t: Operation<'_>, out: &mut Vec<&'p Requirement>) {
        out.extend(self.methods.get(t.method));
        match t.method {
            // No readable name: a lenient server may still find a tool or prompt, so every
            // tool (prompt) rule applies.
            "tools/call" => match t.name {
                Some(n) => out.extend(self.tools.get(n)),
                None => out.extend(self.tools.values()),
            },
            "prompts/get" => match t.name {
                Some(n) => out.extend(self.prompts.get(n)),
                None => out.extend(self.prompts.values()),
            },
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                let plain = t.uri.filter(|u| crate::rules::is_plain_uri(u));
                for (pattern, rule) in &self.resources {
                    // No URI, or one the server may read differently: every resource rule.
                    if plain.is_none_or(|u| pattern.matches(u)) {
                        out.push(rule);
                    }
                }
            }
            _ => {}
        }
    }

    /// The verdict of the policy on `principal` making `calls`: `Ok` when the base scopes and
    /// every rule of every call hold.
    pub(crate) fn judge<'c>(
        &self,
        principal: &Principal,
        calls: impl IntoIterator<Item = Operation<'c>>,
    ) -> Result<(), Refusal> {
        let mut rules: Vec<&Requirement> = self.everywhere.iter().collect();
        let mut ops = Vec::new();
        for t in calls {
            self.rules_for(t, &mut rules);
            if self.engine.is_some() {
                ops.push(t);
            }
        }
        let grants = |s: &str| self.grants(principal, s);
        let facts = Facts::new(principal, &self.roles, &grants);
        let mut required = self.base.clone();
        let mut met = self.base.iter().all(|s| grants(s));
        let mut fixable = true;
        for rule in rules {
            let set = match rule.judge(&facts) {
                Outcome::Met(set) => set,
                Outcome::NeedsScopes(set) => {
                    met = false;
                    set
                }
                Outcome::Unmet => {
                    met = false;
                    fixable = false;
                    continue;
                }
            };
            for c in set {
                if let Condition::Scope(s) = c {
                    if !required.contains(s) {
                        required.push(s.clone());
                    }
                }
            }
        }
        match (met, fixable) {
            (true, _) => {}
            (false, true) => return Err(Refusal::Insufficient(required)),
            (false, false) => return Err(Refusal::NotPermitted),
        }
        let Some(engine) = &self.engine else {
            return Ok(());
        };
        // The engine names resources by their URI as written: one a server could read
        // differently is refused rather than judged under another name.
        let resource = |op: &Operation<'_>| {
            matches!(
                op.method,
                "resources/read" | "resources/subscribe" | "resources/unsubscribe"
            )
        };
        let odd =
            |op: &Operation<'_>| resource(op) && !op.uri.is_some_and(crate::rules::is_plain_uri);
        match ops
            .iter()
            .all(|op| !odd(op) && engine.permits(principal, op))
        {
            true => Ok(()),
            false => Err(Refusal::NotPermitted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_hierarchy_implies_only_descendants() {
        assert!(colon_hierarchy("mcp", "mcp:tools"));
        assert!(colon_hierarchy("mcp:tools", "mcp:tools:read"));
        assert!(!colon_hierarchy("mcp:tools", "mcp"));
        assert!(!colon_hierarchy("mcp", "mcpx:tools"));
        assert!(!colon_hierarchy("mcp", "mcp"));
    }
}
