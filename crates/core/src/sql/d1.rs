//! D1 results as JSON.
//!
//! D1 hands values over as JavaScript values: numbers (f64), strings, null,
//! and byte arrays for BLOBs. An INTEGER beyond ±(2^53−1) has already been
//! rounded by the time it is a JavaScript number, so such a value is refused
//! with a clear error (select `CAST(col AS TEXT)` to read it exactly) rather
//! than passed on wrong.

use super::request::Statement;
use super::result::{shape_rows, Column, RowMode, SqlResult};
use super::value::{binary_to_json, d1_param, D1Param, MAX_SAFE_INTEGER};
use crate::encoding::STANDARD;
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

/// The counters of D1's `meta` that a result carries, in this order.
pub const META_KEYS: [&str; 7] = [
    "changes",
    "last_row_id",
    "rows_read",
    "rows_written",
    "duration",
    "changed_db",
    "size_after",
];

/// A `meta` counter as JSON: integral values as integers, others as they are.
pub fn meta_number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 {
        Value::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Roughly what a value costs in memory and in the JSON answer, counted
/// against `MAX_RESULT_BYTES` (with its column name) as rows are taken over.
pub fn value_cost(v: &D1Value) -> usize {
    match v {
        D1Value::Null => 4,
        D1Value::Number(_) => 24,
        D1Value::Text(t) => t.len() + 2,
        // Base64 in the answer.
        D1Value::Blob(b) => b.len() / 3 * 4 + 16,
    }
}

/// What a row costs against the result limit: its values and column names.
pub fn row_cost(names: &[String], row: &[D1Value]) -> u64 {
    row.iter()
        .zip(names)
        .map(|(v, k)| value_cost(v) + k.len() + 4)
        .sum::<usize>() as u64
}

/// A batch's results from one JSON text, the fast path of the Worker's D1
/// adapter: its JavaScript side hands over D1's whole answer as
/// `[{"c": [names], "r": [[values]], "m": {meta}}, ...]` in one crossing
/// when every value is a string, null or a finite number other than -0
/// (which JSON carries exactly: `JSON.stringify` writes the shortest digits
/// that read back as the same f64). The same limit (`budget`, counted per
/// row as [`row_cost`]) and conversion as value-by-value apply.
///
/// `None`: the text is not of that shape — the caller converts value by
/// value instead, so nothing is ever misread.
pub fn batch_from_json(
    text: &str,
    mode: RowMode,
    limit: u64,
) -> Option<Result<Vec<SqlResult>, ApiError>> {
    let Ok(Value::Array(statements)) = serde_json::from_slice::<Value>(text.as_bytes()) else {
        return None;
    };
    let mut budget = limit;
    let mut out = Vec::with_capacity(statements.len());
    for statement in statements {
        let Value::Object(mut statement) = statement else {
            return None;
        };
        let names: Vec<String> = match statement.remove("c")? {
            Value::Array(names) => names
                .into_iter()
                .map(|n| match n {
                    Value::String(n) => Some(n),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            _ => return None,
        };
        let Value::Array(rows) = statement.remove("r")? else {
            return None;
        };
        let mut values = Vec::with_capacity(rows.len());
        for row in rows {
            let Value::Array(row) = row else { return None };
            if row.len() != names.len() {
                return None;
            }
            let row: Vec<D1Value> = row
                .into_iter()
                .map(|v| match v {
                    Value::Null => Some(D1Value::Null),
                    Value::String(t) => Some(D1Value::Text(t)),
                    Value::Number(n) => n.as_f64().map(D1Value::Number),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            match budget.checked_sub(row_cost(&names, &row)) {
                Some(left) => budget = left,
                None => return Some(Err(ApiError::result_too_large(limit))),
            }
            values.push(row);
        }
        let Value::Object(raw_meta) = statement.remove("m")? else {
            return None;
        };
        let mut meta = Map::new();
        for key in META_KEYS {
            match raw_meta.get(key) {
                Some(Value::Number(n)) => {
                    meta.insert(key.into(), meta_number(n.as_f64()?));
                }
                Some(Value::Bool(b)) => {
                    meta.insert(key.into(), Value::Bool(*b));
                }
                _ => {}
            }
        }
        out.push(result(names, values, meta, mode));
    }
    Some(out.into_iter().collect())
}

/// The statements of a D1 batch as one JSON text for the Worker's
/// `d1_batch` snippet, which prepares, binds and runs them in one call:
/// `[[sql, [param, ...]], ...]`, each parameter `null`, a number, a string,
/// or `{"b": base64}` for a BLOB (the snippet binds its bytes).
///
/// Numbers are finite (`d1_param` refuses the rest) and written as the
/// shortest digits that read back as the same double (`-0` stays `-0.0`),
/// so `JSON.parse` gives the snippet exactly the double `d1_param` made.
/// Parameters are checked here with their position in the request
/// (`params[j]`, or `statements[i].params[j]` in a batch of several).
pub fn batch_request(statements: &[Statement]) -> Result<String, ApiError> {
    let several = statements.len() > 1;
    let mut list = Vec::with_capacity(statements.len());
    for (i, s) in statements.iter().enumerate() {
        let mut params = Vec::with_capacity(s.params.len());
        for (j, p) in s.params.iter().enumerate() {
            let at = if several {
                format!("statements[{i}].params[{j}]")
            } else {
                format!("params[{j}]")
            };
            params.push(match d1_param(p, &at)? {
                D1Param::Null => Value::Null,
                D1Param::Number(n) => Number::from_f64(n).map_or(Value::Null, Value::Number),
                D1Param::Text(t) => Value::String(t),
                D1Param::Blob(b) => {
                    let mut blob = Map::new();
                    blob.insert("b".into(), Value::String(STANDARD.encode(b)));
                    Value::Object(blob)
                }
            });
        }
        list.push(Value::Array(vec![
            Value::String(s.sql.clone()),
            Value::Array(params),
        ]));
    }
    Ok(Value::Array(list).to_string())
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

    #[test]
    fn a_batch_read_from_json_is_the_batch_read_value_by_value() {
        let text = r#"[{"c":["id","name","x"],"r":[[1,"a",0.1],[9007199254740991,"b",null]],"m":{"changes":0,"duration":0.25,"changed_db":false,"served_by":"x"}},{"c":[],"r":[],"m":{"changes":3}}]"#;
        let fast = batch_from_json(text, RowMode::Object, 10_000)
            .expect("the shape")
            .unwrap();
        let mut meta = Map::new();
        meta.insert("changes".into(), meta_number(0.0));
        meta.insert("duration".into(), meta_number(0.25));
        meta.insert("changed_db".into(), Value::Bool(false));
        let slow = result(
            vec!["id".into(), "name".into(), "x".into()],
            vec![
                vec![
                    D1Value::Number(1.0),
                    D1Value::Text("a".into()),
                    D1Value::Number(0.1),
                ],
                vec![
                    D1Value::Number(9007199254740991.0),
                    D1Value::Text("b".into()),
                    D1Value::Null,
                ],
            ],
            meta,
            RowMode::Object,
        )
        .unwrap();
        assert_eq!(fast[0], slow);
        assert_eq!(
            fast[0].rows[1],
            json!({"id": 9007199254740991_i64, "name": "b", "x": null})
        );
        assert_eq!(fast[0].meta["duration"], json!(0.25));
        assert!(fast[0].meta.get("served_by").is_none());
        assert_eq!(fast[1].row_count, 3);
        // The shortest digits read back as the same f64.
        let r = batch_from_json(
            r#"[{"c":["x"],"r":[[0.30000000000000004],[5e-324]],"m":{}}]"#,
            RowMode::Array,
            1000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r[0].rows,
            vec![json!([0.30000000000000004]), json!([5e-324])]
        );
    }

    #[test]
    fn a_batch_from_json_keeps_the_checks_and_refuses_other_shapes() {
        // An integer D1 already rounded is refused as value by value.
        let e = batch_from_json(
            r#"[{"c":["big"],"r":[[9007199254740993]],"m":{}}]"#,
            RowMode::Array,
            1000,
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(e.status(), 400);
        // The limit counts rows as value by value does.
        let names = vec!["t".to_string()];
        let cost = row_cost(&names, &[D1Value::Text("abc".into())]);
        let text = r#"[{"c":["t"],"r":[["abc"],["abc"]],"m":{}}]"#;
        assert!(batch_from_json(text, RowMode::Array, 2 * cost)
            .unwrap()
            .is_ok());
        let e = batch_from_json(text, RowMode::Array, 2 * cost - 1)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ResultTooLarge);
        // Anything else is not read at all: the caller goes value by value.
        for other in [
            "",
            "{}",
            r#"[{"c":["a"],"r":[[true]],"m":{}}]"#,
            r#"[{"c":["a"],"r":[[[1,2]]],"m":{}}]"#,
            r#"[{"c":["a"],"r":[[{"b":1}]],"m":{}}]"#,
            r#"[{"c":["a","b"],"r":[[1]],"m":{}}]"#,
            r#"[{"c":[1],"r":[],"m":{}}]"#,
            r#"[{"c":["a"],"r":[]}]"#,
        ] {
            assert!(
                batch_from_json(other, RowMode::Array, 1000).is_none(),
                "{other}"
            );
        }
    }

    #[test]
    fn a_batch_request_carries_each_parameter_exactly() {
        let statements = vec![Statement {
            sql: "insert into t values (?, ?, ?, ?, ?, ?, ?)".into(),
            params: serde_json::from_str(
                r#"[null, true, 90.42857142857143, -0.0, 9007199254740993, "it's", {"$binary": "AP8="}]"#,
            )
            .unwrap(),
        }];
        let text = batch_request(&statements).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed[0][0],
            json!("insert into t values (?, ?, ?, ?, ?, ?, ?)")
        );
        let params = parsed[0][1].as_array().unwrap();
        assert_eq!(params[0], Value::Null);
        assert_eq!(params[1].as_f64(), Some(1.0));
        // The shortest digits of the double the text denotes, which
        // JSON.parse reads back as that double.
        assert_eq!(params[2].to_string(), "90.42857142857143");
        assert_eq!(params[3].to_string(), "-0.0");
        // Beyond 2^53: the exact digits, as text (SQLite's affinity keeps them).
        assert_eq!(params[4], json!("9007199254740993"));
        assert_eq!(params[5], json!("it's"));
        assert_eq!(params[6], json!({"b": "AP8="}));
    }

    #[test]
    fn a_batch_request_names_the_bad_parameter() {
        let one = |params: &str| Statement {
            sql: "select ?".into(),
            params: serde_json::from_str(params).unwrap(),
        };
        let e = batch_request(&[one("[1, 99999999999999999999]")]).unwrap_err();
        assert!(e.message.contains("params[1]"), "{}", e.message);
        let e = batch_request(&[one("[1]"), one("[99999999999999999999]")]).unwrap_err();
        assert!(
            e.message.contains("statements[1].params[0]"),
            "{}",
            e.message
        );
    }
}
