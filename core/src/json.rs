//! Strict JSON: objects whose member names are unique
//! ([RFC 8259 §4](https://www.rfc-editor.org/rfc/rfc8259#section-4), and
//! [RFC 7515 §5.2](https://www.rfc-editor.org/rfc/rfc7515#section-5.2) step 4: a JOSE header
//! with duplicate names must be rejected).
//!
//! `serde_json` keeps the last of two equal names; parsers differ on which one wins, which is an
//! attack on any verifier that does not refuse duplicates. [`parse_object`] refuses them at every
//! depth. Nesting depth is bounded by `serde_json`'s recursion limit (128).
//!
//! The token path does not build a [`Value`] tree: [`read_object`] walks the document once,
//! keeps only the members it is asked for (borrowing their strings from the input where no escape
//! forces a copy) and checks the rest for duplicate names without storing them;
//! the JSON-RPC body reader of [`crate::mcp_request`] is built from the same pieces.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document is not acceptable strict JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, not UTF-8, too deep, or the top level is not an object.
    Invalid,
    /// An object repeats a member name.
    DuplicateMember,
}

/// Parses `bytes` as a JSON object, refusing duplicate member names at any depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::Invalid),
    }
}

/// Parses `bytes` as any JSON value, refusing duplicate member names at any depth.
pub(crate) fn parse_value(bytes: &[u8]) -> Result<Value, JsonError> {
    // Our visitor accepts every JSON value, so the only "data" error it can raise is the
    // duplicate-member one; everything else is syntax, EOF or I/O (impossible from a slice).
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(v)) => Ok(v),
        Err(e) if e.is_data() => Err(JsonError::DuplicateMember),
        Err(_) => Err(JsonError::Invalid),
    }
}

/// One member value as the token path reads it, without building a [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Member<'de> {
    /// A string, borrowed from the input unless it contained an escape.
    Str(Cow<'de, str>),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A number with a fraction or an exponent.
    F64(f64),
    /// An array whose every element is a string (possibly empty).
    Strings(Vec<Cow<'de, str>>),
    /// `true` or `false`.
    Bool(bool),
    /// Anything else: `null`, an object, an array holding a non-string.
    Other,
}

/// Reads `bytes` as a JSON object and returns the members that `slot` places, each at its
/// index (a `match` on the name: the compiler turns it into length and integer compares).
///
/// Every member, read or not, is checked for duplicate names at any depth; the members not
/// asked for are walked, never stored.
pub(crate) fn read_object<'de, const N: usize>(
    bytes: &'de [u8],
    slot: fn(&str) -> Option<usize>,
) -> Result<[Option<Member<'de>>; N], JsonError> {
    let mut found = [const { None }; N];
    // One UTF-8 check of the whole document: `serde_json` then reads it as `str` and does not
    // check each string again (a third of the parse, for a token's claims).
    let text = core::str::from_utf8(bytes).map_err(|_| JsonError::Invalid)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let is_object = ObjectSeed {
        slot,
        found: &mut found,
        unshadowed: &[],
    }
    .deserialize(&mut de)
    .map_err(classify)?;
    de.end().map_err(classify)?;
    match is_object {
        true => Ok(found),
        false => Err(JsonError::Invalid),
    }
}

/// Our visitors accept every JSON value, so the only "data" error is the duplicate-member one;
/// everything else is syntax, EOF or I/O (impossible from a slice).
pub(crate) fn classify(e: serde_json::Error) -> JsonError {
    match e.is_data() {
        true => JsonError::DuplicateMember,
        false => JsonError::Invalid,
    }
}

pub(crate) fn duplicate<E: de::Error>() -> E {
    E::custom("duplicate member name")
}

/// Whether a reader that matches member names case-insensitively would take `name` for `target`
/// although it is not `target` (both folded alike; the names the policy reads are ASCII): ASCII case, and the Unicode simple case folds
/// of Go's `encoding/json` (`ToUpper(ToLower(c))`) and .NET's `OrdinalIgnoreCase`, which take
/// `ſ` (U+017F) for `s`, `K` (U+212A) for `k`, `ı` (U+0131) and `İ` (U+0130) for `i`.
///
/// Such a reader may see a member the strict reading does not (`"Name"` beside `"name"`, with
/// the last one winning, or `"NAME"` alone), so a policy that reads `target` refuses these names.
pub(crate) fn shadows(name: &str, target: &str) -> bool {
    fn fold(c: char) -> char {
        if c.is_ascii() {
            return c.to_ascii_uppercase();
        }
        // The simple mappings: `İ` lowers to `i` (its full mapping adds a combining dot), and a
        // character whose upper case is several characters (`ß`) has no simple upper case.
        let lower = c.to_lowercase().next().unwrap_or(c);
        let mut upper = lower.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => u,
            _ => lower,
        }
    }
    name != target && name.chars().map(fold).eq(target.chars().map(fold))
}

/// Refuses `name` when it [`shadows`] one of `read`: the names a policy reads at that level.
pub(crate) fn check_not_shadowing<E: de::Error>(name: &str, read: &[&str]) -> Result<(), E> {
    match read.iter().any(|t| shadows(name, t)) {
        true => Err(E::custom(
            "member name differs only in case from one the policy reads",
        )),
        false => Ok(()),
    }
}

/// Refuses a repeated name among `names` (sorted in place: O(n log n) however many there are).
pub(crate) fn check_unique<E: de::Error>(names: &mut [Cow<'_, str>]) -> Result<(), E> {
    names.sort_unstable();
    match names.windows(2).any(|w| w.first() == w.get(1)) {
        true => Err(duplicate()),
        false => Ok(()),
    }
}

/// Reads a member name, borrowing it when it has no escape.
pub(crate) struct Name<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v.into())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v)))
    }
}

/// The scalar `visit_*` methods of a visitor that reads every scalar (`null`, a boolean, a
/// number, a string) as `$value`.
macro_rules! scalars_as {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}
pub(crate) use scalars_as;

/// Walks any value without storing it, refusing duplicate names in its objects.
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

pub(crate) struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_as!(Skip);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        let mut names = Vec::new();
        while let Some(Name(name)) = map.next_key()? {
            names.push(name);
            map.next_value::<Skip>()?;
        }
        check_unique(&mut names)?;
        Ok(Skip)
    }
}

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Member<'de>, E> {
        Ok(Member::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Member<'de>, E> {
        Ok(u64::try_from(v).map_or(Member::I64(v), Member::U64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Member<'de>, E> {
        Ok(Member::U64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Member<'de>, E> {
        Ok(Member::F64(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v.into())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member<'de>, A::Error> {
        let mut strings = Some(Vec::new());
        while let Some(element) = seq.next_element::<Member<'de>>()? {
            match (element, &mut strings) {
                (Member::Str(s), Some(all)) => all.push(s),
                _ => strings = None,
            }
        }
        Ok(strings.map_or(Member::Other, Member::Strings))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
        SkipVisitor.visit_map(map).map(|Skip| Member::Other)
    }
}

/// The top-level object of [`read_object`], filling `found` in place; it reads as `false` when
/// the top-level value is not an object.
pub(crate) struct ObjectSeed<'f, 'de, const N: usize> {
    pub(crate) slot: fn(&str) -> Option<usize>,
    pub(crate) found: &'f mut [Option<Member<'de>>; N],
    /// Names no other member may [`shadows`] (empty: names are compared exactly).
    pub(crate) unshadowed: &'static [&'static str],
}

impl<'de, const N: usize> DeserializeSeed<'de> for ObjectSeed<'_, 'de, N> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for ObjectSeed<'_, 'de, N> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    scalars_as!(false);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        SkipVisitor.visit_seq(seq).map(|Skip| false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        // Names we do not read; those we read are unique by their slot.
        let mut others = Vec::new();
        while let Some(Name(name)) = map.next_key()? {
            match (self.slot)(&name) {
                Some(i) => match self.found.get_mut(i) {
                    Some(slot @ None) => *slot = Some(map.next_value()?),
                    _ => return Err(duplicate()),
                },
                None => {
                    check_not_shadowing(&name, self.unshadowed)?;
                    others.push(name);
                    map.next_value::<Skip>()?;
                }
            }
        }
        check_unique(&mut others)?;
        Ok(true)
    }
}

/// A `serde_json::Value` whose objects were checked for duplicate names while parsing.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Strict, E> {
        // serde_json never produces a non-finite float from JSON text.
        Ok(Strict(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.into())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"x":{"b":[{"c":1,"c":1}]}}"#),
            Err(JsonError::DuplicateMember)
        );
        // Escapes that decode to the same name are the same name.
        assert_eq!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#),
            Err(JsonError::DuplicateMember)
        );
    }

    #[test]
    fn non_objects_and_garbage_are_invalid() {
        for doc in [
            &b"[]"[..],
            b"1",
            b"\"s\"",
            b"null",
            b"{",
            b"{\"a\":1}x",
            b"\xff",
        ] {
            assert_eq!(parse_object(doc), Err(JsonError::Invalid), "{doc:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut doc = Vec::from(&b"{\"a\":"[..]);
        doc.extend(core::iter::repeat_n(b'[', 100_000));
        assert_eq!(parse_object(&doc), Err(JsonError::Invalid));
    }

    const NAMES: [&str; 3] = ["a", "s", "n"];

    fn slot(name: &str) -> Option<usize> {
        NAMES.iter().position(|n| *n == name)
    }

    #[test]
    fn read_object_keeps_the_named_members_and_borrows_plain_strings() {
        let doc = br#"{"z":{"k":[1,{"q":null}]},"s":["x","y\u0021"],"a":"plain","n":-3}"#;
        let [a, s, n] = read_object::<3>(doc, slot).unwrap();
        assert!(matches!(a, Some(Member::Str(Cow::Borrowed("plain")))));
        assert_eq!(
            s,
            Some(Member::Strings(alloc::vec![
                Cow::Borrowed("x"),
                Cow::Owned("y!".into())
            ]))
        );
        assert_eq!(n, Some(Member::I64(-3)));
        let [a, s, n] = read_object::<3>(br#"{"a":1.5,"s":[1,"x"],"n":{}}"#, slot).unwrap();
        assert_eq!(
            (a, s, n),
            (
                Some(Member::F64(1.5)),
                Some(Member::Other),
                Some(Member::Other)
            )
        );
        assert_eq!(read_object::<3>(b"{}", slot).unwrap(), [None, None, None]);
    }

    #[test]
    fn read_object_agrees_with_parse_object_on_what_it_refuses() {
        for doc in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"z":1,"z":2}"#,
            br#"{"a":1,"\u0061":2}"#,
            br#"{"z":1,"y":2,"\u007a":3}"#,
            br#"{"z":[{"c":1,"c":1}]}"#,
            br#"{"s":[{"c":1,"c":1}]}"#,
            br#"{"n":{"x":{"y":1,"y":2}}}"#,
            b"[]",
            b"[{\"a\":1,\"a\":1}]",
            b"1",
            b"\"s\"",
            b"null",
            b"{",
            b"{\"a\":1}x",
            b"\xff",
            b"{\"a\":\"\xff\"}",
            br#"{"a":1}"#,
        ] {
            assert_eq!(
                read_object::<3>(doc, slot).map(|_| ()),
                parse_object(doc).map(|_| ()),
                "{doc:?}"
            );
        }
    }

    /// JSON text built from a small grammar whose names collide often, some through escapes.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (-1e3f64..1e3).prop_map(|f| format!("{f:e}")),
            "[a-z!\\\\\"]{0,4}".prop_map(|s| format!("\"{s}\"")),
            Just("\"\\u0061\"".to_string()),
        ];
        documents(
            leaf.boxed(),
            &["\"a\"", "\"s\"", "\"n\"", "\"z\"", "\"\\u0061\"", "\"y\""],
        )
    }

    /// JSON documents, up to three levels deep, of arrays and objects over `leaf` values and
    /// member `names` (which collide on purpose, escaped and not): what the one-pass readers'
    /// properties compare against a `Value` tree.
    pub(crate) fn documents(
        leaf: proptest::strategy::BoxedStrategy<String>,
        names: &'static [&'static str],
    ) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        leaf.prop_recursive(3, 24, 4, move |inner| {
            let name = proptest::sample::select(names);
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec((name, inner), 0..5).prop_map(|v| {
                    let members: Vec<String> =
                        v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn read_object_agrees_with_parse_object(doc in json_text(), cut in 0usize..64) {
            // The whole document, and a truncated one.
            for doc in [doc.as_bytes(), doc.as_bytes().get(..cut).unwrap_or(doc.as_bytes())] {
                let ours = read_object::<3>(doc, slot);
                match serde_json::from_slice::<de::IgnoredAny>(doc) {
                    Ok(_) => proptest::prop_assert_eq!(
                        ours.as_ref().map(|_| ()).map_err(|e| *e),
                        parse_object(doc).map(|_| ())
                    ),
                    // A document both malformed and with a repeated name may be refused for
                    // either; it must be refused.
                    Err(_) => proptest::prop_assert!(ours.is_err()),
                }
                // What was read is what the `Value` tree holds.
                if let (Ok(found), Ok(map)) = (ours, parse_object(doc)) {
                    for (name, member) in NAMES.iter().zip(found) {
                        let expected = match map.get(*name) {
                            None => None,
                            Some(Value::String(s)) => Some(Member::Str(Cow::Owned(s.clone()))),
                            Some(Value::Number(n)) if n.is_u64() => n.as_u64().map(Member::U64),
                            Some(Value::Number(n)) if n.is_i64() => n.as_i64().map(Member::I64),
                            Some(Value::Number(n)) => n.as_f64().map(Member::F64),
                            Some(Value::Bool(b)) => Some(Member::Bool(*b)),
                            Some(Value::Array(a)) if a.iter().all(Value::is_string) => Some(
                                Member::Strings(a.iter().filter_map(|v| v.as_str()).map(|s| Cow::Owned(s.into())).collect()),
                            ),
                            Some(_) => Some(Member::Other),
                        };
                        proptest::prop_assert_eq!(member, expected, "{}", name);
                    }
                }
            }
        }
    }

    #[test]
    fn read_object_nesting_is_bounded() {
        let mut doc = Vec::from(&b"{\"z\":"[..]);
        doc.extend(core::iter::repeat_n(b'[', 100_000));
        assert_eq!(read_object::<3>(&doc, slot), Err(JsonError::Invalid));
        let mut doc = Vec::from(&b"{\"a\":"[..]);
        doc.extend(core::iter::repeat_n(b'[', 100_000));
        assert_eq!(read_object::<3>(&doc, slot), Err(JsonError::Invalid));
    }

    #[test]
    fn values_round_trip() {
        let m = parse_object(br#"{"s":"x","n":-1,"u":18446744073709551615,"f":1.5,"b":true,"z":null,"a":[1,{"k":"v"}]}"#)
            .unwrap();
        assert_eq!(m["s"], "x");
        assert_eq!(m["n"], -1);
        assert_eq!(m["u"], u64::MAX);
        assert_eq!(m["f"], 1.5);
        assert_eq!(m["b"], true);
        assert!(m["z"].is_null());
        assert_eq!(m["a"][1]["k"], "v");
    }
}
