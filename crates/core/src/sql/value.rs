//! Values crossing between JSON and the SQL stores, the same on both.
//!
//! | JSON | Postgres parameter | D1 parameter |
//! |---|---|---|
//! | `null` | NULL | NULL |
//! | `true`/`false` | `true`/`false` | 1 / 0 |
//! | integer within ±(2^53−1) | its text | a number |
//! | integer beyond that (within i64) | its text (exact) | its text: INTEGER columns store it exactly |
//! | integer beyond i64 | its text (exact, for numeric) | 400 |
//! | other number | its text, exactly as sent | the double the text denotes (400 beyond the largest) |
//! | string | verbatim | TEXT (an integer string into an INTEGER column is stored exactly) |
//! | `{"$binary": "<base64>"}` | bytea `\x<hex>` | BLOB |
//! | other object | JSON text (json/jsonb) | JSON text |
//! | array | Postgres array literal | JSON text |
//!
//! Numbers keep the text the client sent (serde_json's `arbitrary_precision`),
//! so Postgres's own input functions read it — exact for `numeric`, correctly
//! rounded for `float8` — and D1 gets the correctly rounded double of that
//! text: never a value one step off (issue 20).
//!
//! Binary values come back the same way, `{"$binary": "<base64>"}`, so they
//! round-trip byte for byte on both stores.

use crate::encoding::STANDARD;
use crate::error::{ApiError, ErrorCode};
use serde_json::{json, Value};

/// The key of the one-key object that marks binary data.
pub const BINARY_KEY: &str = "$binary";

/// The largest integer a JavaScript number (and so D1) holds exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Binary data as JSON: `{"$binary": "<base64>"}`.
pub fn binary_to_json(bytes: &[u8]) -> Value {
    json!({ BINARY_KEY: STANDARD.encode(bytes) })
}

/// If `v` is a binary marker, its bytes (or a 400 for bad base64).
pub fn json_to_binary(v: &Value, at: &str) -> Option<Result<Vec<u8>, ApiError>> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let encoded = obj.get(BINARY_KEY)?;
    Some(
        encoded
            .as_str()
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("{at}: {BINARY_KEY} must be a standard base64 string"),
                )
            }),
    )
}

/// A Postgres text parameter for a JSON value (`None` = NULL).
pub fn pg_param(v: &Value, at: &str) -> Result<Option<String>, ApiError> {
    if let Some(bytes) = json_to_binary(v, at) {
        let bytes = bytes?;
        let mut text = String::with_capacity(2 + bytes.len() * 2);
        text.push_str("\\x");
        for b in bytes {
            text.push_str(&format!("{b:02x}"));
        }
        return Ok(Some(text));
    }
    Ok(crate::neon::json_to_pg_text(v))
}

/// What a parameter becomes on D1.
#[derive(Debug, Clone, PartialEq)]
pub enum D1Param {
    /// SQL NULL.
    Null,
    /// A JavaScript number (only integers within ±(2^53−1), or floats).
    Number(f64),
    /// TEXT.
    Text(String),
    /// BLOB.
    Blob(Vec<u8>),
}

/// The D1 parameter for a JSON value; integers are never rounded.
pub fn d1_param(v: &Value, at: &str) -> Result<D1Param, ApiError> {
    Ok(match v {
        Value::Null => D1Param::Null,
        Value::Bool(b) => D1Param::Number(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => d1_number(n, at)?,
        Value::String(s) => D1Param::Text(s.clone()),
        Value::Object(_) => match json_to_binary(v, at) {
            Some(bytes) => D1Param::Blob(bytes?),
            None => D1Param::Text(v.to_string()),
        },
        Value::Array(_) => D1Param::Text(v.to_string()),
    })
}

/// A JSON number as a D1 parameter: integers exact (a number within
/// ±(2^53−1), their digits up to 64 bits), anything else the double its text
/// denotes.
fn d1_number(n: &serde_json::Number, at: &str) -> Result<D1Param, ApiError> {
    let out_of_range = |what: &str| {
        ApiError::new(ErrorCode::InvalidRequest, format!("{at}: {what}"))
            .with_hint("send numbers beyond what SQLite holds as strings")
    };
    let text = n.to_string();
    let integer_literal = !text.contains(['.', 'e', 'E']);
    if integer_literal && text != "-0" {
        let Ok(i) = text.parse::<i64>() else {
            return Err(out_of_range(
                "integer out of range for SQLite (signed 64-bit)",
            ));
        };
        return Ok(if i.unsigned_abs() <= MAX_SAFE_INTEGER as u64 {
            D1Param::Number(i as f64)
        } else {
            // Beyond 2^53 a JS number would round: send the exact digits;
            // SQLite's INTEGER affinity stores them exactly.
            D1Param::Text(text)
        });
    }
    // `str::parse` rounds correctly; "-0" is the double -0.0.
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(D1Param::Number(x)),
        _ => Err(out_of_range("number beyond the largest double")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        let v = binary_to_json(&bytes);
        assert_eq!(json_to_binary(&v, "p").unwrap().unwrap(), bytes);
        assert_eq!(
            pg_param(&binary_to_json(&[1, 0xab]), "p").unwrap(),
            Some("\\x01ab".into())
        );
        assert_eq!(d1_param(&v, "p").unwrap(), D1Param::Blob(bytes));
    }

    #[test]
    fn bad_base64_is_a_400() {
        let e = d1_param(&json!({"$binary": "!!"}), "params[0]").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("params[0]"));
        assert!(pg_param(&json!({"$binary": 5}), "p").is_err());
    }

    #[test]
    fn objects_that_are_not_markers_are_json() {
        assert_eq!(
            d1_param(&json!({"$binary": "AA==", "x": 1}), "p").unwrap(),
            D1Param::Text(r#"{"$binary":"AA==","x":1}"#.into())
        );
        assert_eq!(
            pg_param(&json!({"a": [1]}), "p").unwrap(),
            Some(r#"{"a":[1]}"#.into())
        );
    }

    #[test]
    fn d1_integers_are_never_rounded() {
        assert_eq!(
            d1_param(&json!(9007199254740991_i64), "p").unwrap(),
            D1Param::Number(9007199254740991.0)
        );
        assert_eq!(
            d1_param(&json!(9007199254740993_i64), "p").unwrap(),
            D1Param::Text("9007199254740993".into())
        );
        assert_eq!(
            d1_param(&json!(-9223372036854775808_i64), "p").unwrap(),
            D1Param::Text("-9223372036854775808".into())
        );
        assert_eq!(
            d1_param(&json!(18446744073709551615_u64), "p")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            d1_param(&json!("12345678901234567890"), "p").unwrap(),
            D1Param::Text("12345678901234567890".into())
        );
    }

    #[test]
    fn d1_scalars() {
        assert_eq!(d1_param(&json!(null), "p").unwrap(), D1Param::Null);
        assert_eq!(d1_param(&json!(true), "p").unwrap(), D1Param::Number(1.0));
        assert_eq!(d1_param(&json!(1.5), "p").unwrap(), D1Param::Number(1.5));
        assert_eq!(
            d1_param(&json!([1, "a"]), "p").unwrap(),
            D1Param::Text(r#"[1,"a"]"#.into())
        );
    }

    #[test]
    fn pg_params_follow_neon() {
        assert_eq!(pg_param(&json!(null), "p").unwrap(), None);
        assert_eq!(pg_param(&json!(true), "p").unwrap(), Some("true".into()));
        assert_eq!(
            pg_param(&json!(9007199254740993_i64), "p").unwrap(),
            Some("9007199254740993".into())
        );
        assert_eq!(
            pg_param(&json!([1, null, "a b"]), "p").unwrap(),
            Some(r#"{1,NULL,"a b"}"#.into())
        );
    }
}
