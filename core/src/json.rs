//! Strict JSON: objects whose member names are unique
//! ([RFC 8259 §4](https://www.rfc-editor.org/rfc/rfc8259#section-4), and
//! [RFC 7515 §5.2](https://www.rfc-editor.org/rfc/rfc7515#section-5.2) step 4: a JOSE header
//! with duplicate names must be rejected).
//!
//! `serde_json` keeps the last of two equal names; parsers differ on which one wins, which is an
//! attack on any verifier that does not refuse duplicates. [`parse_object`] refuses them at every
//! depth. Nesting depth is bounded by `serde_json`'s recursion limit (128).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
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
mod tests {
    use super::*;

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
