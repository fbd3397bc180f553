//! The body every SQL route answers with, on both stores.

use serde::Serialize;
use serde_json::{Map, Value};

/// A column: its name and the store's type name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// Column name as the statement produced it.
    pub name: String,
    /// Postgres: the type name from the OID (`int8`, `numeric`, `timestamptz`, `_int4`, ...).
    /// D1: the SQLite storage class seen in the values (`integer`, `real`, `text`, `blob`,
    /// `null`), since D1 reports no column types.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// Whether rows are objects keyed by column name or arrays in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowMode {
    /// `{"col": value, ...}` in column order.
    #[default]
    Object,
    /// `[value, ...]` in column order.
    Array,
}

/// One statement's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlResult {
    /// The columns in statement order.
    pub columns: Vec<Column>,
    /// The rows, shaped by the requested [`RowMode`].
    pub rows: Vec<Value>,
    /// Rows returned, or rows affected for a write without `RETURNING`.
    #[serde(rename = "rowCount")]
    pub row_count: u64,
    /// What the store reports (D1: changes, last_row_id, rows_read, rows_written,
    /// duration; Postgres: command).
    pub meta: Map<String, Value>,
}

/// A batch's results, in statement order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchResult {
    /// One result per statement.
    pub results: Vec<SqlResult>,
}

/// Shapes value rows (column order) into the requested mode. In object mode a
/// duplicated column name keeps its last value, as any JSON client would.
pub fn shape_rows(columns: &[Column], rows: Vec<Vec<Value>>, mode: RowMode) -> Vec<Value> {
    rows.into_iter()
        .map(|values| match mode {
            RowMode::Array => Value::Array(values),
            RowMode::Object => {
                let mut obj = Map::with_capacity(columns.len());
                for (col, v) in columns.iter().zip(values) {
                    obj.insert(col.name.clone(), v);
                }
                Value::Object(obj)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cols(names: &[&str]) -> Vec<Column> {
        names
            .iter()
            .map(|n| Column {
                name: n.to_string(),
                type_name: "text".into(),
            })
            .collect()
    }

    #[test]
    fn object_rows_keep_column_order() {
        let rows = shape_rows(
            &cols(&["z", "a", "m"]),
            vec![vec![json!(1), json!(2), json!(3)]],
            RowMode::Object,
        );
        let text = serde_json::to_string(&rows[0]).unwrap();
        assert_eq!(text, r#"{"z":1,"a":2,"m":3}"#);
    }

    #[test]
    fn array_rows_are_values_in_order() {
        let rows = shape_rows(
            &cols(&["a", "a"]),
            vec![vec![json!(1), json!(2)]],
            RowMode::Array,
        );
        assert_eq!(rows, vec![json!([1, 2])]);
        let rows = shape_rows(
            &cols(&["a", "a"]),
            vec![vec![json!(1), json!(2)]],
            RowMode::Object,
        );
        assert_eq!(rows, vec![json!({"a": 2})]);
    }
}
