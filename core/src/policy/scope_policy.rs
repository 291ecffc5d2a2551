//! Which scopes a request needs: the base scopes for every request, plus scopes per MCP method
//! and per tool (`tools/call` of `params.name`), with a hook for scope hierarchies, which the MCP
//! authorization specification requires servers to honour
//! ([RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3) scopes; MCP 2025-11-25
//! "Scope Selection Strategy").

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::access_token::Principal;

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

/// Which scopes a request needs: the base scopes for every request to the resource, plus scopes
/// per MCP method and per tool (`tools/call` with `params.name`).
#[derive(Clone, Default)]
pub struct ScopePolicy {
    base: Vec<String>,
    methods: BTreeMap<String, Vec<String>>,
    tools: BTreeMap<String, Vec<String>>,
    implies: Option<ScopeImplication>,
}

impl fmt::Debug for ScopePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopePolicy")
            .field("base", &self.base)
            .field("methods", &self.methods)
            .field("tools", &self.tools)
            .field("implies", &self.implies.as_ref().map(|_| "…"))
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
        mut self,
        method: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.methods.insert(method.into(), owned(scopes));
        self
    }

    /// Also requires `scopes` for `tools/call` of the tool `tool`.
    #[must_use]
    pub fn with_tool_scopes<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        tool: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.tools.insert(tool.into(), owned(scopes));
        self
    }

    /// Lets a granted scope imply required ones (see [`colon_hierarchy`]).
    #[must_use]
    pub fn with_implication(mut self, implies: ScopeImplication) -> Self {
        self.implies = Some(implies);
        self
    }

    /// The base scopes.
    pub fn base(&self) -> &[String] {
        &self.base
    }

    /// Every scope the policy mentions (for `scopes_supported`), base first.
    pub fn all_scopes(&self) -> Vec<String> {
        let rest = self.methods.values().chain(self.tools.values()).flatten();
        owned(self.base.iter().chain(rest).cloned())
    }

    /// Whether the decision depends on the JSON-RPC body.
    pub fn reads_body(&self) -> bool {
        !self.methods.is_empty() || !self.tools.is_empty()
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

    /// The base scopes, plus those of every `(method, tool)` call (`tool` only for
    /// `tools/call`), in order and without repeats.
    pub(crate) fn required_for<'c>(
        &self,
        calls: impl IntoIterator<Item = (&'c str, Option<&'c str>)>,
    ) -> Vec<String> {
        let mut required = self.base.clone();
        for (method, name) in calls {
            let extra = self.methods.get(method).into_iter().flatten();
            let tool = match (method, name) {
                ("tools/call", Some(name)) => self.tools.get(name),
                _ => None,
            };
            for s in extra.chain(tool.into_iter().flatten()) {
                if !required.contains(s) {
                    required.push(s.clone());
                }
            }
        }
        required
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
