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

#[cfg(test)]
use serde::de::DeserializeSeed;
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
///
/// One pass over the bytes ([`Scanner`]), without `serde`'s visitor machinery: this is the token
/// path (a JOSE header, a JWT claims set), and the visitors were most of our own work per token.
/// What it accepts and refuses, and why, is exactly what `serde_json` with this module's
/// visitors says (a property test holds the two to the same answers); strings with an escape
/// and numbers other than plain integers are handed to `serde_json` itself.
pub(crate) fn read_object<'de, const N: usize>(
    bytes: &'de [u8],
    slot: fn(&str) -> Option<usize>,
) -> Result<[Option<Member<'de>>; N], JsonError> {
    let text = core::str::from_utf8(bytes).map_err(|_| JsonError::Invalid)?;
    read_text(text, slot)
}

/// [`read_object`] of a document already checked as UTF-8.
pub(crate) fn read_text<'de, const N: usize>(
    text: &'de str,
    slot: fn(&str) -> Option<usize>,
) -> Result<[Option<Member<'de>>; N], JsonError> {
    let mut found = [const { None }; N];
    let mut scanner = Scanner::of_text(text);
    let is_object = match scanner.next_byte() {
        Some(b'{') => {
            scanner.fields(slot, &mut found, &[])?;
            true
        }
        _ => {
            scanner.skip()?;
            false
        }
    };
    match (scanner.at_end(), is_object) {
        (true, true) => Ok(found),
        _ => Err(JsonError::Invalid),
    }
}

/// `serde_json`'s recursion limit: a container nested this deep (the top level counted) is an
/// error.
const MAX_DEPTH: u32 = 128;

/// One pass over a JSON document ([RFC 8259](https://www.rfc-editor.org/rfc/rfc8259)) for
/// [`read_object`] and the JSON-RPC body reader: strings without an escape are borrowed,
/// objects' names are checked for duplicates, nothing else is kept.
pub(crate) struct Scanner<'de> {
    /// The document, checked as UTF-8 once.
    text: &'de str,
    pos: usize,
    /// Containers open around `pos`.
    depth: u32,
}

impl<'de> Scanner<'de> {
    /// A scanner at the start of `bytes`, checked as UTF-8 once (strings are then sliced from
    /// it unchecked).
    pub(crate) fn new(bytes: &'de [u8]) -> Result<Self, JsonError> {
        let text = core::str::from_utf8(bytes).map_err(|_| JsonError::Invalid)?;
        Ok(Self::of_text(text))
    }

    /// A scanner at the start of `text`.
    fn of_text(text: &'de str) -> Self {
        Self {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// The first byte of the next value, after whitespace.
    pub(crate) fn next_byte(&mut self) -> Option<u8> {
        self.skip_ws();
        self.peek()
    }

    /// Whether nothing but whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.text.len()
    }

    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    /// JSON's four whitespace bytes (RFC 8259 §2).
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// `word` (`true`, `false`, `null`) at `pos`.
    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        match self.bytes().get(self.pos..self.pos + word.len()) {
            Some(found) if found == word => {
                self.pos += word.len();
                Ok(())
            }
            _ => Err(JsonError::Invalid),
        }
    }

    /// The string whose opening quote is at `pos` (RFC 8259 §7). A string with an escape is
    /// decoded by `serde_json` (so `\u` escapes and surrogates are read exactly as it reads
    /// them); control characters are refused.
    fn string(&mut self) -> Result<Cow<'de, str>, JsonError> {
        let start = self.pos + 1;
        let mut end = start;
        let mut escaped = false;
        loop {
            end = skip_plain(self.bytes(), end);
            match self.bytes().get(end) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    end += 2;
                }
                Some(0..=0x1f) | None => return Err(JsonError::Invalid),
                Some(_) => end += 1,
            }
        }
        self.pos = end + 1;
        match escaped {
            // Both ends are ASCII quotes: character boundaries of `text`.
            false => self
                .text
                .get(start..end)
                .map(Cow::Borrowed)
                .ok_or(JsonError::Invalid),
            true => {
                let quoted = self
                    .text
                    .get(start - 1..end + 1)
                    .ok_or(JsonError::Invalid)?;
                serde_json::from_str::<String>(quoted)
                    .map(Cow::Owned)
                    .map_err(|_| JsonError::Invalid)
            }
        }
    }

    /// The number at `pos` (RFC 8259 §6). A non-negative integer of at most 19 digits (within
    /// `u64`) is read here; any other is handed to `serde_json`, which decides what it is
    /// (`i64`, `f64`, out of range) exactly as it would in the document.
    fn number(&mut self) -> Result<Member<'de>, JsonError> {
        let start = self.pos;
        let digits = self
            .bytes()
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = start + digits;
        let plain = (1..=19).contains(&digits)
            && (digits == 1 || self.bytes().get(start) != Some(&b'0'))
            && !matches!(
                self.bytes().get(end),
                Some(b'.' | b'e' | b'E' | b'-' | b'+')
            );
        if plain {
            let value = self
                .bytes()
                .get(start..end)
                .unwrap_or_default()
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            self.pos = end;
            return Ok(Member::U64(value));
        }
        // The longest run of number characters: anything after a number other than these is
        // the document's next token, and a run that is not one number is an error either way.
        let len = self
            .bytes()
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .count();
        let text = self
            .text
            .get(start..start + len)
            .ok_or(JsonError::Invalid)?;
        let mut de = serde_json::Deserializer::from_str(text);
        let member = Member::deserialize(&mut de).map_err(|_| JsonError::Invalid)?;
        de.end().map_err(|_| JsonError::Invalid)?;
        self.pos = start + len;
        match member {
            Member::U64(_) | Member::I64(_) | Member::F64(_) => Ok(member),
            _ => Err(JsonError::Invalid),
        }
    }

    /// The `:` after a member name.
    pub(crate) fn colon(&mut self) -> Result<(), JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(JsonError::Invalid),
        }
    }

    /// The items of the container whose opening bracket is at `pos`, within the nesting limit:
    /// `item` reads each one, items are separated by commas, and `close` ends it.
    fn container(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.depth += 1;
        self.pos += 1;
        if self.depth >= MAX_DEPTH {
            return Err(JsonError::Invalid);
        }
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(JsonError::Invalid),
            }
        }
    }

    /// The members of the object whose `{` is at `pos`: `member` gets each name, then reads the
    /// [`Self::colon`] and the value (a name refused as soon as it is read is refused before
    /// anything after it is looked at, as `serde_json` does).
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'de, str>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.container(b'}', |this| {
            this.skip_ws();
            if this.peek() != Some(b'"') {
                return Err(JsonError::Invalid);
            }
            let name = this.string()?;
            member(this, name)
        })
    }

    /// The elements of the array whose `[` is at `pos`, each read by `element`.
    pub(crate) fn array(
        &mut self,
        element: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.container(b']', element)
    }

    /// The object whose `{` is at `pos`: members `slot` places go to `found` (a second one is a
    /// duplicate at once); the others are walked, may not [`shadows`] one of `unshadowed` (empty:
    /// names are compared exactly), and their names must be unique when the object ends.
    pub(crate) fn fields<const N: usize>(
        &mut self,
        slot: fn(&str) -> Option<usize>,
        found: &mut [Option<Member<'de>>; N],
        unshadowed: &[&str],
    ) -> Result<(), JsonError> {
        let mut others = Vec::new();
        self.object(|this, name| match slot(&name) {
            Some(i) => match found.get_mut(i) {
                Some(place) => this.value_once(place, Self::member),
                None => Err(JsonError::DuplicateMember),
            },
            None => {
                not_shadowing(&name, unshadowed)?;
                others.push(name);
                this.colon()?;
                this.skip()
            }
        })?;
        unique(&mut others)
    }

    /// The value of a member the reader keeps (its name just read), into `place` by `read`: a
    /// second member of that name is a duplicate at once, before its value is looked at.
    pub(crate) fn value_once<T>(
        &mut self,
        place: &mut Option<T>,
        read: impl FnOnce(&mut Self) -> Result<T, JsonError>,
    ) -> Result<(), JsonError> {
        if place.is_some() {
            return Err(JsonError::DuplicateMember);
        }
        self.colon()?;
        *place = Some(read(self)?);
        Ok(())
    }

    /// Any value, as [`Member`] reads it.
    pub(crate) fn member(&mut self) -> Result<Member<'de>, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string().map(Member::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true").map(|()| Member::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Member::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Member::Other),
            Some(b'[') => {
                let mut strings = Some(Vec::new());
                self.array(|this| {
                    match (this.member()?, &mut strings) {
                        (Member::Str(s), Some(all)) => all.push(s),
                        _ => strings = None,
                    }
                    Ok(())
                })?;
                Ok(strings.map_or(Member::Other, Member::Strings))
            }
            Some(b'{') => self.skip().map(|()| Member::Other),
            _ => Err(JsonError::Invalid),
        }
    }

    /// Any value, walked: its objects' names must be unique.
    pub(crate) fn skip(&mut self) -> Result<(), JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'[') => self.array(Self::skip),
            Some(b'{') => {
                let mut names = Vec::new();
                self.object(|this, name| {
                    names.push(name);
                    this.colon()?;
                    this.skip()
                })?;
                unique(&mut names)
            }
            _ => Err(JsonError::Invalid),
        }
    }
}

/// The index of the first byte at or after `at` that ends a run of plain string content: a
/// quote, a backslash or a control character (or `bytes.len()`). Eight bytes at a time: a byte
/// is flagged when it is equal to `"` or `\\`, or below 0x20 (the classic zero-byte and
/// less-than word tricks); the lowest flagged byte is exact, and the caller looks at it.
fn skip_plain(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let flagged = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH);
        if flagged != 0 {
            return at + (flagged.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let tail = bytes.get(at..).unwrap_or_default();
    at + tail
        .iter()
        .position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f))
        .unwrap_or(tail.len())
}

/// [`check_unique`] for the scanner.
pub(crate) fn unique(names: &mut [Cow<'_, str>]) -> Result<(), JsonError> {
    check_unique::<serde_json::Error>(names).map_err(|_| JsonError::DuplicateMember)
}

/// [`read_object`] through `serde_json` and this module's visitors: the reference the scanner is
/// held to.
#[cfg(test)]
pub(crate) fn read_object_serde<'de, const N: usize>(
    bytes: &'de [u8],
    slot: fn(&str) -> Option<usize>,
) -> Result<[Option<Member<'de>>; N], JsonError> {
    let mut found = [const { None }; N];
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
#[cfg(test)]
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
    // The common cases without folding: against an ASCII target, every character of a
    // shadowing name folds to one ASCII character, so the name has at least as many bytes; and
    // an ASCII name shadows it only by ASCII case.
    if target.is_ascii() {
        if name.len() < target.len() {
            return false;
        }
        if name.is_ascii() {
            return name != target && name.eq_ignore_ascii_case(target);
        }
    }
    shadows_by_folding(name, target)
}

/// [`shadows`], character by character.
fn shadows_by_folding(name: &str, target: &str) -> bool {
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

/// Refuses `name` when it [`shadows`] one of `read`: the names a policy reads at that level (a
/// refusal of the same kind as a repeated name's).
pub(crate) fn not_shadowing(name: &str, read: &[&str]) -> Result<(), JsonError> {
    match read.iter().any(|t| shadows(name, t)) {
        true => Err(JsonError::DuplicateMember),
        false => Ok(()),
    }
}

/// [`not_shadowing`] for the `serde` visitors.
#[cfg(test)]
pub(crate) fn check_not_shadowing<E: de::Error>(name: &str, read: &[&str]) -> Result<(), E> {
    not_shadowing(name, read)
        .map_err(|_| E::custom("member name differs only in case from one the policy reads"))
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
#[cfg(test)]
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

/// The top-level object of [`read_object_serde`], filling `found` in place; it reads as `false`
/// when the top-level value is not an object.
#[cfg(test)]
pub(crate) struct ObjectSeed<'f, 'de, const N: usize> {
    pub(crate) slot: fn(&str) -> Option<usize>,
    pub(crate) found: &'f mut [Option<Member<'de>>; N],
    /// Names no other member may [`shadows`] (empty: names are compared exactly).
    pub(crate) unshadowed: &'static [&'static str],
}

#[cfg(test)]
impl<'de, const N: usize> DeserializeSeed<'de> for ObjectSeed<'_, 'de, N> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[cfg(test)]
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

    /// A byte string: a document of the grammar, then cut, with a byte replaced or inserted.
    fn mutated_json() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        mutated(json_text())
    }

    /// A byte string: one of `docs`, then cut, with a byte replaced or inserted.
    pub(crate) fn mutated(
        docs: impl proptest::strategy::Strategy<Value = String>,
    ) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use alloc::vec;
        use proptest::prelude::*;
        let noise = prop_oneof![
            Just(b'"'),
            Just(b'\\'),
            Just(b','),
            Just(b':'),
            Just(b'{'),
            Just(b'}'),
            Just(b'['),
            Just(b']'),
            Just(b'0'),
            Just(b'-'),
            Just(b'.'),
            Just(b'e'),
            Just(b' '),
            Just(0x01u8),
            Just(0xc3u8),
            any::<u8>(),
        ];
        (
            docs,
            any::<usize>(),
            proptest::option::of((any::<usize>(), noise, any::<bool>())),
        )
            .prop_map(|(doc, cut, change)| {
                let mut bytes = doc.into_bytes();
                if let Some((at, byte, insert)) = change {
                    let at = at % (bytes.len() + 1);
                    match (insert, bytes.get_mut(at)) {
                        (false, Some(b)) => *b = byte,
                        _ => bytes.insert(at, byte),
                    }
                }
                if cut % 4 == 0 {
                    bytes.truncate(cut / 4 % (bytes.len() + 1));
                }
                bytes
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// The one-pass scanner and `serde_json` with the visitors give the same answer, the
        /// same members and the same reason, for documents and near-documents alike.
        #[test]
        fn scanner_agrees_with_serde_json(doc in mutated_json()) {
            proptest::prop_assert_eq!(read_object::<3>(&doc, slot), read_object_serde::<3>(&doc, slot));
        }

        #[test]
        fn scanner_agrees_with_serde_json_on_numbers(n in "-?[0-9]{0,22}(\\.[0-9]{0,3})?([eE][-+]?[0-9]{0,4})?") {
            let doc = format!("{{\"a\":{n},\"z\":[{n}]}}");
            proptest::prop_assert_eq!(read_object::<3>(doc.as_bytes(), slot), read_object_serde::<3>(doc.as_bytes(), slot));
        }
    }

    proptest::proptest! {
        /// The shortcuts of `shadows` give the answer of folding every character, for names
        /// made from the target by changing case, swapping in the letters that fold onto ASCII
        /// ones, or dropping, adding and replacing a character.
        #[test]
        fn shadows_shortcuts_agree_with_folding(
            target in proptest::sample::select(&["method", "params", "id", "jsonrpc", "name", "uri", "s", "k", "\u{e9}t\u{e9}"][..]),
            changes in proptest::collection::vec(0u8..8, 0..10),
            edit in proptest::option::of((0usize..10, proptest::sample::select(&['a', 'S', '\u{df}', '\u{e9}', '\u{17f}', '\u{212a}'][..]), 0u8..3)),
        ) {
            let mut name: Vec<char> = target
                .chars()
                .zip(changes.iter().chain(core::iter::repeat(&0)))
                .map(|(c, change)| match (change, c) {
                    (1 | 2, c) => c.to_ascii_uppercase(),
                    (3, 's') => '\u{17f}',
                    (3, 'k') => '\u{212a}',
                    (3, 'i') => '\u{131}',
                    (4, 'i') => '\u{130}',
                    (_, c) => c,
                })
                .collect();
            if let Some((at, c, how)) = edit {
                let at = at % (name.len() + 1);
                match how {
                    0 => name.insert(at, c),
                    1 if at < name.len() => { name.remove(at); }
                    _ if at < name.len() => name[at] = c,
                    _ => {}
                }
            }
            let name: String = name.into_iter().collect();
            proptest::prop_assert_eq!(shadows(&name, target), shadows_by_folding(&name, target));
            proptest::prop_assert_eq!(shadows(target, &name), shadows_by_folding(target, &name));
        }
    }

    #[test]
    fn skip_plain_stops_at_the_first_special_byte() {
        for len in 0..40 {
            for special in [b'"', b'\\', 0x00, 0x1f] {
                for at in 0..=len {
                    let mut bytes: Vec<u8> = (0..len)
                        .map(|i| [b'a', 0x20, 0x7f, 0x80, 0xff, b'!', b'#', b']'][i % 8])
                        .collect();
                    if at < len {
                        bytes[at] = special;
                    }
                    for from in 0..=at {
                        assert_eq!(skip_plain(&bytes, from), at, "{len} {special} {at} {from}");
                    }
                }
            }
        }
    }

    /// `1` inside `depth` arrays (`open` is `[`) or objects (`{`, each with the member `k`).
    pub(crate) fn nested(open: u8, depth: usize) -> Vec<u8> {
        let (layer, close): (&[u8], u8) = match open {
            b'{' => (b"{\"k\":", b'}'),
            _ => (b"[", b']'),
        };
        let mut doc = layer.repeat(depth);
        doc.push(b'1');
        doc.extend(core::iter::repeat_n(close, depth));
        doc
    }

    #[test]
    fn scanner_nesting_limit_is_serde_jsons() {
        for depth in 120..135 {
            for open in [b'[', b'{'] {
                let doc = [&b"{\"z\":"[..], &nested(open, depth), b"}"].concat();
                assert_eq!(
                    read_object::<3>(&doc, slot),
                    read_object_serde::<3>(&doc, slot),
                    "{depth}"
                );
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
