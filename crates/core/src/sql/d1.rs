//! D1 results as JSON.
//!
//! D1 hands values over as JavaScript values: numbers (f64), strings, null,
//! and byte arrays for BLOBs. An INTEGER beyond ±(2^53−1) has already been
//! rounded by the time it is a JavaScript number, so such a value is refused
//! with a clear error (select `CAST(col AS TEXT)` to read it exactly) rather
//! than passed on wrong.

use super::result::{shape_rows, Column, RowMode, SqlResult};
use super::value::{binary_to_json, MAX_SAFE_INTEGER};
use crate::error::{ApiError, ErrorCode};
use serde_json::{Map, Number, Value};

/// A value as D1 returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum D1Value {
    /// NULL.
    Null,
    /// INTEGER or REAL (JavaScript cannot tell them apart).
    Number(f64),
    /// TEXT.
    Text(String),
    /// BLOB.
    Blob(Vec<u8>),
}

/// Below this magnitude an integral number may be a rounded INTEGER
/// (SQLite integers are at most 2^63 in magnitude).
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

fn number_json(n: f64, column: &str) -> Result<Value, ApiError> {
    if !n.is_finite() {
        // SQLite can hold ±Inf as REAL; JSON cannot.
        return Ok(Value::String(
            if n > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        ));
    }
    if n == 0.0 && n.is_sign_negative() {
        // -0.0 is a REAL; as the integer 0 its sign would be lost.
        return Ok(Value::Number(
            Number::from_f64(n).unwrap_or(Number::from(0)),
        ));
    }
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 {
        return Ok(Value::Number(Number::from(n as i64)));
    }
    if n.fract() == 0.0 && n.abs() < I64_LIMIT {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("column {column:?} holds an integer beyond ±(2^53−1), which D1 cannot return exactly"),
        )
        .with_hint(format!("select CAST({column} AS TEXT) to read it exactly"))
        .with_details(serde_json::json!({ "column": column })));
    }
    Ok(Number::from_f64(n)
        .map(Value::Number)
        .unwrap_or(Value::Null))
}

/// The storage-class name of a value.
fn class(v: &D1Value) -> &'static str {
    match v {
        D1Value::Null => "null",
        D1Value::Number(n) if n.fract() == 0.0 => "integer",
        D1Value::Number(_) => "real",
        D1Value::Text(_) => "text",
        D1Value::Blob(_) => "blob",
    }
}

/// Builds the result from D1's column names and value rows plus its `meta`.
pub fn result(
    names: Vec<String>,
    rows: Vec<Vec<D1Value>>,
    meta: Map<String, Value>,
    mode: RowMode,
) -> Result<SqlResult, ApiError> {
    let mut columns: Vec<Column> = names
        .into_iter()
        .map(|name| Column {
            name,
            type_name: "null".into(),
        })
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (i, v) in row.into_iter().enumerate() {
            let Some(col) = columns.get_mut(i) else { break };
            // D1 has no column types: report the storage class seen, widening
            // integer to real when both appear.
            let seen = class(&v);
            col.type_name = match (col.type_name.as_str(), seen) {
                (_, "null") => col.type_name.clone(),
                ("null", s) => s.to_string(),
                ("integer", "real") | ("real", "integer") => "real".into(),
                (a, b) if a == b => a.to_string(),
                _ => "mixed".into(),
            };
            values.push(match v {
                D1Value::Null => Value::Null,
                D1Value::Number(n) => number_json(n, &col.name)?,
                D1Value::Text(s) => Value::String(s),
                D1Value::Blob(b) => binary_to_json(&b),
            });
        }
        out.push(values);
    }
    let row_count = if out.is_empty() {
        meta.get("changes").and_then(Value::as_u64).unwrap_or(0)
    } else {
        out.len() as u64
    };
    let rows = shape_rows(&columns, out, mode);
    Ok(SqlResult {
        columns,
        rows,
        row_count,
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_values_and_reports_storage_classes() {
        let r = result(
            vec!["i".into(), "r".into(), "t".into(), "b".into(), "n".into()],
            vec![
                vec![
                    D1Value::Number(1.0),
                    D1Value::Number(1.5),
                    D1Value::Text("x".into()),
                    D1Value::Blob(vec![0, 255]),
                    D1Value::Null,
                ],
                vec![
                    D1Value::Number(-2.0),
                    D1Value::Number(2.0),
                    D1Value::Null,
                    D1Value::Null,
                    D1Value::Null,
                ],
            ],
            Map::new(),
            RowMode::Object,
        )
        .unwrap();
        let types: Vec<&str> = r.columns.iter().map(|c| c.type_name.as_str()).collect();
        assert_eq!(types, ["integer", "real", "text", "blob", "null"]);
        assert_eq!(
            r.rows[0],
            json!({"i": 1, "r": 1.5, "t": "x", "b": {"$binary": "AP8="}, "n": null})
        );
        assert_eq!(r.row_count, 2);
    }

    #[test]
    fn unsafe_integers_are_refused_not_rounded() {
        let e = result(
            vec!["big".into()],
            vec![vec![D1Value::Number(9007199254740993.0)]],
            Map::new(),
            RowMode::Array,
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e
            .hint
            .clone()
            .unwrap_or_default()
            .contains("CAST(big AS TEXT)"));
        // Safe ones and large REALs pass.
        let r = result(
            vec!["a".into()],
            vec![
                vec![D1Value::Number(9007199254740991.0)],
                vec![D1Value::Number(1e300)],
            ],
            Map::new(),
            RowMode::Array,
        )
        .unwrap();
        assert_eq!(r.rows[0], json!([9007199254740991_i64]));
        assert_eq!(r.rows[1], json!([1e300]));
    }

    #[test]
    fn writes_count_changes() {
        let mut meta = Map::new();
        meta.insert("changes".into(), json!(3));
        let r = result(vec![], vec![], meta, RowMode::Object).unwrap();
        assert_eq!(r.row_count, 3);
    }
}
