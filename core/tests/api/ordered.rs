//! JSON-RPC bodies as a server that walks members one by one reads them (Go's `encoding/json`,
//! .NET): every object's members in document order, duplicates kept, the last match winning,
//! names matched exactly or as Go folds them. Written here independently of the core, as the
//! other side of its property test (`invariants.rs`) and of the fuzz target `json_rpc_readers`,
//! which reads this file by path.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// JSON with every object's members in document order, duplicates kept: what a reader that
/// walks members one by one (Go's `encoding/json`, .NET) sees.
#[derive(Debug, Clone)]
pub enum Ordered {
    /// An object's members, in order.
    Object(Vec<(String, Ordered)>),
    /// An array.
    Array(Vec<Ordered>),
    /// A string.
    Str(String),
    /// Anything else.
    Other,
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Other)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Other)
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Str(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element()? {
                    out.push(v);
                }
                Ok(Ordered::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Ordered>()? {
                    out.push((k, v));
                }
                Ok(Ordered::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// How a server matches member names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Byte for byte.
    Exact,
    /// As Go's `encoding/json` does: case-insensitively, with Unicode simple folds.
    GoFolded,
}

/// The one character of a case mapping, if it is one character (a simple mapping).
fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// Go's `foldName`: ASCII upper case; otherwise `ToUpper(ToLower(r))` with simple mappings.
fn go_fold(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                return c.to_ascii_uppercase();
            }
            if c == '\u{130}' {
                return 'I'; // its simple lower case is `i`
            }
            let lower = single(c.to_lowercase()).unwrap_or(c);
            single(lower.to_uppercase()).unwrap_or(lower)
        })
        .collect()
}

/// The last member that `names` takes for `name`.
fn last<'a>(members: &'a [(String, Ordered)], name: &str, names: Names) -> Option<&'a Ordered> {
    let matches = |k: &str| match names {
        Names::Exact => k == name,
        Names::GoFolded => go_fold(k) == go_fold(name),
    };
    members
        .iter()
        .rev()
        .find(|(k, _)| matches(k))
        .map(|(_, v)| v)
}

/// Calls as `(method, params.name, params.uri)`.
pub type Calls = Vec<(String, Option<String>, Option<String>)>;

/// The calls `(method, params.name, params.uri)` such a server runs, sorted and without repeats;
/// `None` where it answers 400 (not JSON, an empty batch, a batch element that is not an object,
/// a method that is not a string).
pub fn calls(body: &[u8], names: Names) -> Option<Calls> {
    let text = std::str::from_utf8(body).ok()?;
    let messages = match serde_json::from_str(text).ok()? {
        Ordered::Array(items) if !items.is_empty() => items,
        Ordered::Array(_) => return None,
        one => vec![one],
    };
    let mut calls = Vec::new();
    for m in &messages {
        let Ordered::Object(ms) = m else { return None };
        let method = match last(ms, "method", names) {
            None => continue,
            Some(Ordered::Str(s)) => s.clone(),
            Some(_) => return None,
        };
        let string = |n: &str| match last(ms, "params", names) {
            Some(Ordered::Object(p)) => match last(p, n, names) {
                Some(Ordered::Str(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        calls.push((method, string("name"), string("uri")));
    }
    calls.sort();
    calls.dedup();
    Some(calls)
}
