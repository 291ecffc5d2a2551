//! Structure-aware: the fuzzer builds the header and the claims (each registered claim absent,
//! right, or of another type), the target signs them with the fixed key, and the verifier must
//! agree with an independent statement of the rules.
#![no_main]
#[path = "common.rs"]
mod common;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum Field {
    Absent,
    Good,
    Str(String),
    Num(i64),
    Float(f64),
    Bool(bool),
    Arr(Vec<String>),
    Null,
}

#[derive(Arbitrary, Debug)]
struct Input {
    alg: Field,
    typ: Field,
    kid: Field,
    crit: bool,
    exp: Field,
    nbf: Field,
    iat: Field,
    iss: Field,
    aud: Field,
    scope: Field,
    sub: Field,
    extra: Vec<(String, String)>,
    duplicate_exp: bool,
}

fn value(f: &Field, good: Value) -> Option<Value> {
    match f {
        Field::Absent => None,
        Field::Good => Some(good),
        Field::Str(s) => Some(json!(s)),
        Field::Num(n) => Some(json!(n)),
        // JSON has no NaN or infinity: those become an ordinary fraction.
        Field::Float(x) => Some(serde_json::Number::from_f64(*x).map_or(json!(0.5), Value::Number)),
        Field::Bool(b) => Some(json!(b)),
        Field::Arr(a) => Some(json!(a)),
        Field::Null => Some(Value::Null),
    }
}

fuzz_target!(|input: Input| {
    let now = common::NOW.as_secs();
    let mut h = Map::new();
    let mut c = Map::new();
    for (name, field, good) in [("alg", &input.alg, json!("EdDSA")), ("typ", &input.typ, json!("at+jwt")), ("kid", &input.kid, json!("ed"))] {
        if let Some(v) = value(field, good) {
            h.insert(name.into(), v);
        }
    }
    if input.crit {
        h.insert("crit".into(), json!(["x"]));
    }
    for (name, field, good) in [
        ("exp", &input.exp, json!(now + 600)),
        ("nbf", &input.nbf, json!(now - 10)),
        ("iat", &input.iat, json!(now - 10)),
        ("iss", &input.iss, json!(common::ISSUER)),
        ("aud", &input.aud, json!(common::RESOURCE)),
        ("scope", &input.scope, json!("a b")),
        ("sub", &input.sub, json!("u")),
    ] {
        if let Some(v) = value(field, good) {
            c.insert(name.into(), v);
        }
    }
    for (k, v) in input.extra.iter().take(8) {
        if !["exp", "nbf", "iat", "iss", "aud", "scope", "sub", "scp", "client_id", "azp", "jti"].contains(&k.as_str()) {
            c.insert(k.clone(), json!(v));
        }
    }
    let header = serde_json::to_vec(&Value::Object(h)).unwrap();
    let mut claims = serde_json::to_vec(&Value::Object(c)).unwrap();
    if input.duplicate_exp && claims.len() > 2 {
        // `{"exp":1,` + the rest: a duplicate when the claims have an exp.
        claims.splice(1..1, br#""exp":1,"#.iter().copied());
    }
    let token = common::sign(&header, &claims);
    let result = common::verifier().verify(&token, common::keys(), common::NOW);
    // The independent statement: valid exactly when every field is the good one (or an absent
    // optional one), there is no crit and no duplicate.
    let good_or_absent = |f: &Field| matches!(f, Field::Good | Field::Absent);
    let expected_valid = matches!(input.alg, Field::Good)
        && matches!(input.typ, Field::Good)
        && matches!(input.kid, Field::Good)
        && !input.crit
        && matches!(input.exp, Field::Good)
        && good_or_absent(&input.nbf)
        && good_or_absent(&input.iat)
        && matches!(input.iss, Field::Good)
        && matches!(input.aud, Field::Good)
        && good_or_absent(&input.scope)
        && good_or_absent(&input.sub)
        && !input.duplicate_exp;
    if expected_valid {
        assert!(result.is_ok(), "{input:?}: {result:?}");
    } else if result.is_ok() {
        // Some "wrong" values are acceptable: a string kid/typ/alg that happens to be the good
        // one, a number that is a valid time, a scope string. Accept only those.
        let lenient = |f: &Field, good: &str| match f {
            Field::Str(s) => s == good,
            Field::Good | Field::Absent => true,
            _ => false,
        };
        let time_ok = |f: &Field, optional: bool| match f {
            Field::Good => true,
            Field::Absent => optional,
            Field::Num(_) | Field::Float(_) => true,
            _ => false,
        };
        assert!(
            (lenient(&input.alg, "EdDSA") || lenient(&input.alg, "Ed25519"))
                && !matches!(input.alg, Field::Absent)
                && (lenient(&input.typ, "at+jwt") || matches!(&input.typ, Field::Str(s) if s.eq_ignore_ascii_case("at+jwt") || s.eq_ignore_ascii_case("application/at+jwt")))
                && !matches!(input.typ, Field::Absent)
                && lenient(&input.kid, "ed")
                && !matches!(input.kid, Field::Absent)
                && !input.crit
                && time_ok(&input.exp, false)
                && time_ok(&input.nbf, true)
                && time_ok(&input.iat, true)
                && (lenient(&input.iss, common::ISSUER) && !matches!(input.iss, Field::Absent))
                && !matches!(input.aud, Field::Absent | Field::Num(_) | Field::Float(_) | Field::Bool(_) | Field::Null)
                && matches!(input.scope, Field::Good | Field::Absent | Field::Str(_))
                && matches!(input.sub, Field::Good | Field::Absent | Field::Str(_))
                && !input.duplicate_exp,
            "accepted: {input:?}"
        );
    }
});
