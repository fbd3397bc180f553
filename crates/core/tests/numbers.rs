//! Numbers survive every text boundary bit for bit (issue 20).
//!
//! A JSON number is decimal text, and every finite double has a shortest
//! decimal text that reads back to exactly that double; clients send exactly
//! that text (`JSON.stringify`, Python's `json`). Each path on which Strata
//! turns text into a number is driven here with random bit patterns, random
//! decimal strings and the edge values, and compared bit for bit with the
//! double the text denotes (Rust's `str::parse::<f64>`, which rounds
//! correctly):
//!
//! * client JSON → SQL parameters, both stores (`sql::request`, `sql::value`,
//!   `neon::params`) — REST bodies and batch statements parse through the
//!   same `serde_json` reader;
//! * Postgres's result text → our JSON (`neon::values`) → the client's parse;
//! * D1's result numbers → our JSON (`sql::d1`) → the client's parse;
//! * keyset cursors (`rest::cursor`), which carry row values through a URL.
//!
//! The generator is a fixed-seed SplitMix64, so a failure names the value and
//! reproduces.

// Tests fail by panicking (the ban is for shipped code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Map, Value};
use strata_core::neon::{json_to_pg_text, pg_text_to_json};
use strata_core::rest::cursor;
use strata_core::sql::d1::{self, D1Value};
use strata_core::sql::request::{BatchRequest, QueryRequest};
use strata_core::sql::result::RowMode;
use strata_core::sql::value::{d1_param, D1Param};
use strata_core::sql::Store;

/// Postgres's OID of `float8`.
const FLOAT8: u32 = 701;

/// How many random values each property draws.
const CASES: usize = 20_000;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Doubles every property must carry: zeros, subnormals, the normal
/// boundaries, the largest finite values, integers around 2^53, and the
/// values of the report.
fn edge_values() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        f64::from_bits(1),                     // smallest subnormal, 5e-324
        -f64::from_bits(1),                    //
        f64::from_bits(0x000F_FFFF_FFFF_FFFF), // largest subnormal
        f64::MIN_POSITIVE,                     // smallest normal
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0 + f64::EPSILON,
        0.1,
        0.2,
        0.30000000000000004,
        1.0 / 3.0,
        90.42857142857143,
        9_007_199_254_740_991.0,
        9_007_199_254_740_992.0,
        9_007_199_254_740_994.0,
        1e15,
        1e16,
        1e21,
        1e22,
        1e23,
        123456789012345680000.0,
        2.225073858507201e-308,
        5e-324,
        1.7976931348623157e308,
    ];
    v.extend(v.clone().into_iter().map(|x| -x));
    v
}

/// Random finite doubles: half uniform bit patterns (every exponent), half
/// "ordinary" values a client computes (a ratio of random integers).
fn random_doubles(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let x = if out.len() % 2 == 0 {
            f64::from_bits(rng.next())
        } else {
            let a = rng.below(1 << 40) as f64;
            let b = (rng.below(1 << 20) + 1) as f64;
            if rng.below(2) == 0 {
                a / b
            } else {
                -a / b
            }
        };
        if x.is_finite() {
            out.push(x);
        }
    }
    out
}

/// Random decimal texts in JSON's number grammar: 1–25 significant digits,
/// any decimal point, exponents across the whole double range and beyond.
fn random_decimal_texts(rng: &mut SplitMix, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let digits = 1 + rng.below(25) as usize;
            let mut mantissa: String = (0..digits)
                .map(|i| {
                    let d = if i == 0 {
                        1 + rng.below(9)
                    } else {
                        rng.below(10)
                    };
                    char::from(b'0' + d as u8)
                })
                .collect();
            let point = rng.below(digits as u64 + 1) as usize;
            if point > 0 && point < digits {
                mantissa.insert(point, '.');
            } else if point == 0 {
                mantissa = format!("0.{mantissa}");
            }
            let sign = if rng.below(2) == 0 { "" } else { "-" };
            match rng.below(3) {
                0 => format!("{sign}{mantissa}"),
                1 => format!("{sign}{mantissa}e{}", rng.below(640) as i64 - 330),
                _ => format!("{sign}{mantissa}E+{}", rng.below(320)),
            }
        })
        .collect()
}

/// The texts a client may send for `x`: the shortest round-trip forms
/// (serde_json's, Rust's exponent form, and JavaScript's `e+` style).
fn texts_for(x: f64) -> Vec<String> {
    let shortest = serde_json::to_string(&x).unwrap_or_default();
    let exponent = format!("{x:e}");
    let js_style = if exponent.contains("e-") {
        exponent.clone()
    } else {
        exponent.replace('e', "e+")
    };
    vec![shortest, exponent, js_style]
}

/// The double a JSON parameter must become, whichever path it takes.
fn assert_same(what: &str, text: &str, expected: f64, got: f64) {
    assert_eq!(
        got.to_bits(),
        expected.to_bits(),
        "{what}: {text} became {got:e}, expected {expected:e}"
    );
}

/// One SQL parameter as parsed from a `/v1/{store}/query` body.
fn sql_param(store: Store, text: &str) -> Value {
    let body = format!(r#"{{"sql": "select 1", "params": [{text}]}}"#);
    match QueryRequest::parse(store, body.as_bytes()) {
        Ok(mut q) => q.statement.params.pop().unwrap_or(Value::Null),
        Err(e) => panic!("{text}: the body was refused: {e:?}"),
    }
}

/// The Postgres path: parameter text → what `float8in` reads back (its
/// `strtod` rounds correctly, as `str::parse` does).
fn via_postgres(text: &str) -> f64 {
    let param = sql_param(Store::Pg, text);
    let pg_text = json_to_pg_text(&param).unwrap_or_default();
    pg_text
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("{text}: sent to Postgres as {pg_text:?}, not a number"))
}

/// The D1 path: the JavaScript number bound (or the exact integer digits).
fn via_d1(text: &str) -> f64 {
    let param = sql_param(Store::D1, text);
    match d1_param(&param, "params[0]") {
        Ok(D1Param::Number(n)) => n,
        Ok(D1Param::Text(digits)) => digits.parse::<f64>().unwrap_or(f64::NAN),
        other => panic!("{text}: became {other:?} on D1"),
    }
}

#[test]
fn client_doubles_reach_both_stores_exactly() {
    let mut rng = SplitMix(0x5EED_0020);
    let mut values = edge_values();
    values.extend(random_doubles(&mut rng, CASES));
    for x in values {
        for text in texts_for(x) {
            assert_same("postgres parameter", &text, x, via_postgres(&text));
            assert_same("d1 parameter", &text, x, via_d1(&text));
        }
    }
}

#[test]
fn random_decimal_texts_reach_both_stores_correctly_rounded() {
    let mut rng = SplitMix(0xDEC1_3A15);
    for text in random_decimal_texts(&mut rng, CASES) {
        let Ok(expected) = text.parse::<f64>() else {
            panic!("generator made a non-number {text}");
        };
        if !expected.is_finite() {
            // Beyond the largest double: Postgres gets the text as sent (a
            // numeric holds it; float8 refuses it), D1 a 400 — never a stored
            // infinity.
            let param = sql_param(Store::Pg, &text);
            let sent = json_to_pg_text(&param).unwrap_or_default();
            // The reader may spell the exponent `e+`/`E`; the digits are kept.
            let canonical = |t: &str| t.to_ascii_lowercase().replace("e+", "e");
            assert_eq!(canonical(&sent), canonical(&text));
            let d1 = d1_param(&sql_param(Store::D1, &text), "params[0]");
            assert!(d1.is_err(), "{text} reached D1 as {d1:?}");
            continue;
        }
        if !text.contains(['.', 'e', 'E']) && text.parse::<i64>().is_err() {
            // An integer beyond 64 bits: exact digits for Postgres, 400 on D1.
            let param = sql_param(Store::Pg, &text);
            assert_eq!(json_to_pg_text(&param).as_deref(), Some(text.as_str()));
            assert!(d1_param(&sql_param(Store::D1, &text), "params[0]").is_err());
            continue;
        }
        assert_same("postgres parameter", &text, expected, via_postgres(&text));
        assert_same("d1 parameter", &text, expected, via_d1(&text));
    }
}

#[test]
fn batch_statement_parameters_are_exact() {
    let mut rng = SplitMix(0xBA7C);
    let values = random_doubles(&mut rng, 2_000);
    let params: Vec<String> = values
        .iter()
        .map(|x| serde_json::to_string(x).unwrap_or_default())
        .collect();
    let body = format!(
        r#"{{"statements": [{{"sql": "select 1", "params": [{}]}}]}}"#,
        params.join(",")
    );
    let batch = match BatchRequest::parse(Store::Pg, body.as_bytes()) {
        Ok(b) => b,
        Err(e) => panic!("batch refused: {e:?}"),
    };
    for (x, p) in values.iter().zip(&batch.statements[0].params) {
        let got = p.as_f64().unwrap_or(f64::NAN);
        assert_same("batch parameter", &p.to_string(), *x, got);
    }
}

#[test]
fn integers_keep_their_exact_handling() {
    // Within ±(2^53−1) D1 gets a number; beyond, the exact digits (INTEGER
    // affinity stores them exactly); Postgres always gets the digits.
    for i in [
        0i64,
        1,
        -1,
        9_007_199_254_740_991,
        -9_007_199_254_740_991,
        9_007_199_254_740_993,
        i64::MAX,
        i64::MIN,
    ] {
        let text = i.to_string();
        let param = sql_param(Store::Pg, &text);
        assert_eq!(json_to_pg_text(&param).as_deref(), Some(text.as_str()));
        let d1 = d1_param(&sql_param(Store::D1, &text), "params[0]");
        if i.unsigned_abs() <= 9_007_199_254_740_991 {
            assert_eq!(d1.ok(), Some(D1Param::Number(i as f64)), "{text}");
        } else {
            assert_eq!(d1.ok(), Some(D1Param::Text(text.clone())), "{text}");
        }
    }
    // Unsigned beyond i64: exact for Postgres, a clear 400 on D1.
    let text = u64::MAX.to_string();
    assert_eq!(
        json_to_pg_text(&sql_param(Store::Pg, &text)).as_deref(),
        Some(text.as_str())
    );
    assert!(d1_param(&sql_param(Store::D1, &text), "params[0]").is_err());
}

/// Postgres prints a float8 with its shortest round-trip text
/// (`extra_float_digits` ≥ 1, the default since Postgres 12), in `%g` style:
/// `1e+300`, `5e-324`, `0.1`, `-0`.
fn postgres_float8_out(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let exp = format!("{x:e}");
    let Some((mantissa, e)) = exp.split_once('e') else {
        return exp;
    };
    let e: i32 = e.parse().unwrap_or(0);
    if !(-5..16).contains(&e) {
        format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        format!("{x}")
    }
}

#[test]
fn postgres_results_reach_the_client_exactly() {
    let mut rng = SplitMix(0x0070_6701);
    let mut values = edge_values();
    values.extend(random_doubles(&mut rng, CASES));
    for x in values {
        let text = postgres_float8_out(x);
        assert_eq!(text.parse::<f64>().map(f64::to_bits), Ok(x.to_bits()));
        let json = pg_text_to_json(FLOAT8, &text);
        let wire = json.to_string();
        let back: Value = serde_json::from_str(&wire).unwrap_or(Value::Null);
        let got = back.as_f64().unwrap_or(f64::NAN);
        assert_same("postgres result", &text, x, got);
    }
    for special in ["NaN", "Infinity", "-Infinity"] {
        assert_eq!(pg_text_to_json(FLOAT8, special), json!(special));
    }
}

#[test]
fn d1_results_reach_the_client_exactly() {
    let mut rng = SplitMix(0x00D1_0001);
    let mut values = edge_values();
    values.extend(random_doubles(&mut rng, CASES));
    for x in values {
        let integral_beyond_safe =
            x.fract() == 0.0 && x.abs() > 9_007_199_254_740_991.0 && x.abs() < 9.3e18;
        let result = d1::result(
            vec!["x".into()],
            vec![vec![D1Value::Number(x)]],
            Map::new(),
            RowMode::Array,
        );
        let result = match (result, integral_beyond_safe) {
            // Documented: such a value may be a rounded INTEGER, so it is
            // refused with the hint to CAST it to text.
            (Err(_), true) => continue,
            (Ok(r), _) => r,
            (Err(e), false) => panic!("{x:e}: refused: {e:?}"),
        };
        let wire = serde_json::to_string(&result.rows).unwrap_or_default();
        let back: Value = serde_json::from_str(&wire).unwrap_or(Value::Null);
        let got = back[0][0].as_f64().unwrap_or(f64::NAN);
        assert_same("d1 result", &wire, x, got);
    }
}

#[test]
fn cursors_carry_values_exactly() {
    let mut rng = SplitMix(0xC0_4503);
    let mut values = edge_values();
    values.extend(random_doubles(&mut rng, CASES));
    for x in values {
        let token = cursor::encode("o", vec![json!(x)]);
        let back = cursor::decode(&token, "o").unwrap_or_default();
        let got = back.first().and_then(Value::as_f64).unwrap_or(f64::NAN);
        assert_same("cursor", &token, x, got);
    }
}
