//! Requirements beyond scopes: a [`Requirement`] is an any-of of all-of sets of
//! [`Condition`]s over the verified token — scopes
//! ([RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3)), roles or groups read
//! through configured claim paths ([`RoleClaims`]), `client_id`
//! ([RFC 9068 §2.2](https://www.rfc-editor.org/rfc/rfc9068#section-2.2)), `sub`, `iss`, the
//! tenant, or any claim equal to a value ([RFC 7519 §4](https://www.rfc-editor.org/rfc/rfc7519#section-4)).
//! Resource rules name URIs by [`UriPattern`] (exact, prefix, or an
//! [RFC 6570](https://www.rfc-editor.org/rfc/rfc6570)-style template).
//!
//! A requirement that fails tells whether a scope could fix it: when some set's other
//! conditions hold and only scopes are missing, the client can step up (RFC 6750 §3.1
//! `insufficient_scope`); otherwise no re-authorization helps.
//!
//! ```
//! use mcp_authz_core::rules::Requirement;
//! let r: Requirement = "role=admin | mcp:admin client=ops-console".parse().unwrap();
//! assert_eq!(r.to_string(), "role=admin | scope=mcp:admin client=ops-console");
//! assert!("rol=admin".parse::<Requirement>().is_err()); // an unknown kind is a mistake
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::fmt;
use core::str::FromStr;

use serde_json::{Map, Value};

use crate::access_token::Principal;

/// A claim path: dotted (`realm_access.roles`) or an RFC 6901 JSON Pointer
/// (`/https:~1~1example.com~1roles`) for claim names that hold a dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimPath {
    segments: Vec<String>,
    text: String,
}

impl ClaimPath {
    /// The value at this path in `claims`, if every step is an object member.
    pub fn lookup<'v>(&self, claims: &'v Map<String, Value>) -> Option<&'v Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut v = claims.get(first)?;
        for s in rest {
            v = v.as_object()?.get(s)?;
        }
        Some(v)
    }
}

impl FromStr for ClaimPath {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, RuleError> {
        let segments: Vec<String> = match s.strip_prefix('/') {
            Some(pointer) => pointer
                .split('/')
                .map(|seg| seg.replace("~1", "/").replace("~0", "~"))
                .collect(),
            None => s.split('.').map(String::from).collect(),
        };
        if s.is_empty() || segments.iter().any(String::is_empty) {
            return Err(RuleError::BadClaimPath);
        }
        Ok(Self {
            segments,
            text: s.into(),
        })
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where a token carries roles or groups: one or more [`ClaimPath`]s, each holding a string or
/// an array of strings. A `role=` condition holds when any of them holds the role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleClaims {
    paths: Vec<ClaimPath>,
}

impl RoleClaims {
    /// No role claims: every `role=` condition fails.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a claim path.
    #[must_use]
    pub fn with(mut self, path: ClaimPath) -> Self {
        if !self.paths.contains(&path) {
            self.paths.push(path);
        }
        self
    }

    /// The role claim of a provider this crate knows, by name: `keycloak` (realm roles,
    /// `realm_access.roles`; add `resource_access.<client>.roles` for client roles), `auth0`
    /// (`permissions`, with RBAC's "Add Permissions in the Access Token"), `cognito`
    /// (`cognito:groups`), `okta` (`groups`, once a groups claim is added to the access token)
    /// and `entra` (`roles`, app roles).
    pub fn provider(name: &str) -> Option<ClaimPath> {
        let path = match name.to_ascii_lowercase().as_str() {
            "keycloak" => "realm_access.roles",
            "auth0" => "permissions",
            "cognito" => "cognito:groups",
            "okta" => "groups",
            "entra" | "azure" => "roles",
            _ => return None,
        };
        path.parse().ok()
    }

    /// The claim paths, in order.
    pub fn paths(&self) -> &[ClaimPath] {
        &self.paths
    }
}

/// One condition on the verified token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Condition {
    /// The token grants this scope (directly or through the policy's implication hook).
    Scope(String),
    /// One of the [`RoleClaims`] holds this role or group.
    Role(String),
    /// `client_id` is this client.
    Client(String),
    /// `sub` is this subject.
    Subject(String),
    /// `iss` is this issuer.
    Issuer(String),
    /// The tenant (Entra `tid`, or the configured tenant claim) is this one.
    Tenant(String),
    /// The claim at this path equals the value (a string, or the JSON text of a number or
    /// boolean), or is an array holding it.
    Claim(ClaimPath, String),
}

impl Condition {
    /// Whether the condition is a scope (which a client can fix by re-authorizing).
    pub fn is_scope(&self) -> bool {
        matches!(self, Self::Scope(_))
    }

    fn holds(&self, facts: &Facts<'_>) -> bool {
        let p = facts.principal;
        match self {
            Self::Scope(s) => (facts.grants)(s),
            Self::Role(r) => facts.roles.paths.iter().any(|path| {
                path.lookup(facts.claims())
                    .is_some_and(|v| holds_value(v, r))
            }),
            Self::Client(c) => p.client_id() == Some(c.as_str()),
            Self::Subject(s) => p.subject() == Some(s.as_str()),
            Self::Issuer(i) => p.issuer() == i,
            Self::Tenant(t) => p.tenant() == Some(t.as_str()),
            Self::Claim(path, want) => path
                .lookup(facts.claims())
                .is_some_and(|v| holds_value(v, want)),
        }
    }
}

/// Whether `v` is `want` (a string equal to it, a number or boolean whose JSON text is it) or an
/// array holding such a value.
fn holds_value(v: &Value, want: &str) -> bool {
    let scalar = |v: &Value| match v {
        Value::String(s) => s == want,
        Value::Number(n) => n.to_string() == want,
        Value::Bool(b) => (if *b { "true" } else { "false" }) == want,
        _ => false,
    };
    match v {
        Value::Array(items) => items.iter().any(scalar),
        other => scalar(other),
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scope(s) => write!(f, "scope={s}"),
            Self::Role(r) => write!(f, "role={r}"),
            Self::Client(c) => write!(f, "client={c}"),
            Self::Subject(s) => write!(f, "sub={s}"),
            Self::Issuer(i) => write!(f, "iss={i}"),
            Self::Tenant(t) => write!(f, "tenant={t}"),
            Self::Claim(p, v) => write!(f, "claim:{p}={v}"),
        }
    }
}

impl FromStr for Condition {
    type Err = RuleError;

    /// `KIND=VALUE` with `KIND` one of `scope`, `role`, `client`, `sub`, `iss`, `tenant`, or
    /// `claim:PATH`; a word without `=` is a scope.
    fn from_str(s: &str) -> Result<Self, RuleError> {
        let Some((kind, value)) = s.split_once('=') else {
            return match s.is_empty() {
                true => Err(RuleError::Empty),
                false => Ok(Self::Scope(s.into())),
            };
        };
        if value.is_empty() {
            return Err(RuleError::Empty);
        }
        let v = String::from(value);
        Ok(match kind {
            "scope" => Self::Scope(v),
            "role" | "group" => Self::Role(v),
            "client" | "client_id" => Self::Client(v),
            "sub" => Self::Subject(v),
            "iss" => Self::Issuer(v),
            "tenant" => Self::Tenant(v),
            _ => match kind.strip_prefix("claim:") {
                Some(path) => Self::Claim(path.parse()?, v),
                None => return Err(RuleError::UnknownKind),
            },
        })
    }
}

/// What a call needs: any one of its sets, each a set of conditions that must all hold. The
/// empty requirement (no sets) is never satisfied; build requirements with
/// [`Requirement::scopes`], [`Requirement::all`] and [`Requirement::or`], or parse them:
/// `|` separates the sets, spaces the conditions of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    any_of: Vec<Vec<Condition>>,
}

impl Requirement {
    /// One set: every scope of `scopes`.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Self::all(scopes.into_iter().map(|s| Condition::Scope(s.into())))
    }

    /// One set: every condition of `conditions`.
    pub fn all(conditions: impl IntoIterator<Item = Condition>) -> Self {
        let mut set: Vec<Condition> = Vec::new();
        for c in conditions {
            let empty = matches!(&c, Condition::Scope(s) if s.is_empty());
            if !empty && !set.contains(&c) {
                set.push(c);
            }
        }
        Self {
            any_of: alloc::vec![set],
        }
    }

    /// This requirement, or else every condition of `conditions`.
    #[must_use]
    pub fn or(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.any_of.extend(Self::all(conditions).any_of);
        self
    }

    /// The sets, in order.
    pub fn sets(&self) -> &[Vec<Condition>] {
        &self.any_of
    }

    /// Every scope the requirement names.
    pub fn scopes_named(&self) -> impl Iterator<Item = &str> + '_ {
        self.any_of.iter().flatten().filter_map(|c| match c {
            Condition::Scope(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The outcome for the token of `facts`.
    pub(crate) fn judge<'r>(&'r self, facts: &Facts<'_>) -> Outcome<'r> {
        if let Some(set) = self
            .any_of
            .iter()
            .find(|set| set.iter().all(|c| c.holds(facts)))
        {
            return Outcome::Met(set);
        }
        // The first set a scope could complete: its other conditions hold.
        match self
            .any_of
            .iter()
            .find(|set| set.iter().filter(|c| !c.is_scope()).all(|c| c.holds(facts)))
        {
            Some(set) => Outcome::NeedsScopes(set),
            None => Outcome::Unmet,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, set) in self.any_of.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            for (j, c) in set.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Requirement {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, RuleError> {
        let mut any_of = Vec::new();
        for alternative in s.split('|') {
            let set = alternative
                .split_ascii_whitespace()
                .map(Condition::from_str)
                .collect::<Result<Vec<_>, _>>()?;
            if set.is_empty() {
                return Err(RuleError::Empty);
            }
            any_of.extend(Self::all(set).any_of);
        }
        Ok(Self { any_of })
    }
}

/// How a requirement fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome<'r> {
    /// This set holds.
    Met(&'r [Condition]),
    /// No set holds; this set's conditions other than scopes do: its scopes would fix it.
    NeedsScopes(&'r [Condition]),
    /// No scope can fix it.
    Unmet,
}

/// What the conditions are checked against: the principal, its claims set (parsed once, on
/// first need), the role claims and the scope test.
pub(crate) struct Facts<'a> {
    pub(crate) principal: &'a Principal,
    pub(crate) roles: &'a RoleClaims,
    pub(crate) grants: &'a dyn Fn(&str) -> bool,
    claims: OnceCell<Map<String, Value>>,
}

impl<'a> Facts<'a> {
    pub(crate) fn new(
        principal: &'a Principal,
        roles: &'a RoleClaims,
        grants: &'a dyn Fn(&str) -> bool,
    ) -> Self {
        Self {
            principal,
            roles,
            grants,
            claims: OnceCell::new(),
        }
    }

    fn claims(&self) -> &Map<String, Value> {
        self.claims.get_or_init(|| self.principal.claims())
    }
}

/// A resource URI pattern: `exact`, `prefix*` (a trailing `*`), or a template whose `{var}`
/// matches one or more characters other than `/` and whose `{+var}` matches one or more of any
/// (RFC 6570 simple and reserved expansion, read in reverse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriPattern {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `{var}`: one or more characters, none of them `/`.
    Segment,
    /// `{+var}` or a trailing `*`: zero or more of any character.
    Rest,
}

impl UriPattern {
    /// Whether `uri` matches.
    pub fn matches(&self, uri: &str) -> bool {
        matches_parts(&self.parts, uri)
    }
}

fn matches_parts(parts: &[Part], s: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return s.is_empty();
    };
    match first {
        Part::Literal(l) => s
            .strip_prefix(l.as_str())
            .is_some_and(|t| matches_parts(rest, t)),
        Part::Segment => {
            let max = s.find('/').unwrap_or(s.len());
            (1..=max).any(|n| s.get(n..).is_some_and(|t| matches_parts(rest, t)))
        }
        Part::Rest => (0..=s.len()).any(|n| s.get(n..).is_some_and(|t| matches_parts(rest, t))),
    }
}

impl FromStr for UriPattern {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, RuleError> {
        if s.is_empty() {
            return Err(RuleError::Empty);
        }
        let (body, trailing_star) = match s.strip_suffix('*') {
            Some(b) => (b, true),
            None => (s, false),
        };
        let mut parts = Vec::new();
        let mut rest = body;
        while let Some(open) = rest.find('{') {
            let (lit, after) = rest.split_at(open);
            if !lit.is_empty() {
                parts.push(Part::Literal(lit.into()));
            }
            let close = after.find('}').ok_or(RuleError::BadPattern)?;
            let var = after.get(1..close).ok_or(RuleError::BadPattern)?;
            let (reserved, name) = match var.strip_prefix('+') {
                Some(n) => (true, n),
                None => (false, var),
            };
            let named = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
            if !named {
                return Err(RuleError::BadPattern);
            }
            parts.push(if reserved { Part::Rest } else { Part::Segment });
            rest = after.get(close + 1..).ok_or(RuleError::BadPattern)?;
        }
        if rest.contains('}') {
            return Err(RuleError::BadPattern);
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.into()));
        }
        if trailing_star {
            parts.push(Part::Rest);
        }
        Ok(Self {
            text: s.into(),
            parts,
        })
    }
}

impl fmt::Display for UriPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether a resource URI is in the one form a rule can match with certainty, the form URL
/// parsers normalize to (RFC 3986 §6.2.2, WHATWG URL): a lower-case scheme; no
/// percent-encoding, backslash, ASCII control or space; no `.` or `..` path segment; with an
/// authority, a lower-case one without user info or a default port (`:80`, `:443`); for `file:`,
/// `file:///` and an empty authority. A server may normalize, decode or resolve any other
/// spelling into a URI a rule names, so such a URI must meet every resource rule.
pub(crate) fn is_plain_uri(uri: &str) -> bool {
    let odd = |c: char| c == '%' || c == '\\' || c.is_ascii_control() || c == ' ';
    if uri.contains(odd)
        || uri
            .split(['/', '?', '#'])
            .any(|seg| seg == "." || seg == "..")
    {
        return false;
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !scheme_ok {
        return false;
    }
    let Some(after) = rest.strip_prefix("//") else {
        // No authority: `file:/x` is `file:///x` to a URL parser.
        return scheme != "file";
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
    if scheme == "file" {
        return authority.is_empty();
    }
    !authority.contains('@')
        && !authority.chars().any(|c| c.is_ascii_uppercase())
        && !authority.ends_with(":80")
        && !authority.ends_with(":443")
        && !authority.ends_with(':')
}

/// Why a rule, pattern or claim path did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// An empty requirement, set, condition value or pattern.
    Empty,
    /// A `KIND=` that is not one of `scope`, `role`, `client`, `sub`, `iss`, `tenant`,
    /// `claim:PATH`.
    UnknownKind,
    /// A claim path with an empty segment.
    BadClaimPath,
    /// A URI template with an unclosed or empty `{…}`.
    BadPattern,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty requirement, condition or pattern",
            Self::UnknownKind => {
                "unknown condition: use scope=, role=, client=, sub=, iss=, tenant= or claim:PATH="
            }
            Self::BadClaimPath => "a claim path has an empty segment",
            Self::BadPattern => "a URI template has an unclosed or empty {…}",
        })
    }
}

impl core::error::Error for RuleError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p: UriPattern = "file:///public/*".parse().unwrap();
        assert!(p.matches("file:///public/a/b"));
        assert!(p.matches("file:///public/"));
        assert!(!p.matches("file:///publicx"));
        let t: UriPattern = "db://{table}/rows/{+rest}".parse().unwrap();
        assert!(t.matches("db://users/rows/1/2"));
        assert!(!t.matches("db://a/b/rows/1"));
        assert!(!t.matches("db:///rows/1"));
        let exact: UriPattern = "ui://dash".parse().unwrap();
        assert!(exact.matches("ui://dash") && !exact.matches("ui://dash2"));
        for bad in ["", "a{", "a{}b", "a{x y}", "a}"] {
            assert!(bad.parse::<UriPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_uris() {
        assert!(is_plain_uri("file:///public/a.txt"));
        for odd in [
            "file:///public/../secret",
            "file:///%73ecret",
            "file:///a\\b",
            "x:/./y",
        ] {
            assert!(!is_plain_uri(odd), "{odd}");
        }
    }

    #[test]
    fn claim_paths() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"realm_access":{"roles":["admin"]},"https://example.com/roles":["x"]}"#,
        )
        .unwrap();
        let dotted: ClaimPath = "realm_access.roles".parse().unwrap();
        assert_eq!(dotted.lookup(&claims), Some(&serde_json::json!(["admin"])));
        let pointer: ClaimPath = "/https:~1~1example.com~1roles".parse().unwrap();
        assert_eq!(pointer.lookup(&claims), Some(&serde_json::json!(["x"])));
        assert!("a..b".parse::<ClaimPath>().is_err());
        assert!("".parse::<ClaimPath>().is_err());
    }

    #[test]
    fn requirement_syntax_round_trips() {
        let r: Requirement = "a b | role=x claim:org.id=42 | iss=https://i"
            .parse()
            .unwrap();
        assert_eq!(r.sets().len(), 3);
        assert_eq!(r.to_string().parse::<Requirement>().unwrap(), r);
        for bad in ["", "a |", "| a", "role=", "x=1", "claim:=1", "claim:a..b=1"] {
            assert!(bad.parse::<Requirement>().is_err(), "{bad}");
        }
    }
}
