//! Result objects: what a successful query or batch answers.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::values::pg_value_to_json;

/// One column of the result, from Postgres's row description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Column name (`?column?` for unnamed expressions).
    pub name: String,
    /// The type OID: how a client decodes the column's values.
    #[serde(rename = "dataTypeID")]
    pub data_type_id: u32,
    /// OID of the table the column comes from, 0 for expressions.
    #[serde(rename = "tableID")]
    pub table_id: u32,
    /// Attribute number within that table, 0 for expressions.
    #[serde(rename = "columnID")]
    pub column_id: i16,
    /// `pg_type.typlen`: negative for variable-length types.
    #[serde(rename = "dataTypeSize")]
    pub data_type_size: i16,
    /// Type modifier (e.g. `varchar(n)` length + 4), -1 when none.
    #[serde(rename = "dataTypeModifier")]
    pub data_type_modifier: i32,
    /// Always `"text"`: the proxy asks Postgres for text results.
    pub format: String,
}

#[cfg(test)]
impl Field {
    /// A test column of an expression (no table) of type `type_oid`.
    pub(crate) fn expression(name: &str, type_oid: u32) -> Field {
        Field {
            name: name.into(),
            data_type_id: type_oid,
            table_id: 0,
            column_id: 0,
            data_type_size: -1,
            data_type_modifier: -1,
            format: "text".into(),
        }
    }
}

/// One row: an array of values (array mode) or an object keyed by column name.
///
/// Objects are kept as an ordered list of pairs, not a map, because Postgres allows duplicate
/// column names (`select 1 as a, 2 as a`) and the proxy writes every one of them, in order; a
/// JSON parser on the client then keeps the last. A map would silently drop the first.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// `[v1, v2, ...]` in column order.
    Array(Vec<Value>),
    /// `{"col1": v1, "col2": v2, ...}` in column order, duplicates kept.
    Object(Vec<(String, Value)>),
}

impl Row {
    /// The values in column order, whatever the row's shape.
    pub fn values(&self) -> Vec<&Value> {
        match self {
            Row::Array(values) => values.iter().collect(),
            Row::Object(pairs) => pairs.iter().map(|(_, v)| v).collect(),
        }
    }

    /// The value of the named column in an object row; for a duplicated name, the last one
    /// (what a JSON client sees). Array rows have no names and always answer `None`.
    pub fn get(&self, column: &str) -> Option<&Value> {
        match self {
            Row::Array(_) => None,
            Row::Object(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| k == column)
                .map(|(_, v)| v),
        }
    }

    /// Builds a row from the Postgres text of each column (`None` = SQL NULL), converting values
    /// as the proxy does: all strings in raw text mode, typed by OID otherwise.
    pub fn from_text<'a>(
        fields: &[Field],
        values: impl IntoIterator<Item = Option<&'a str>>,
        raw_text_output: bool,
        array_mode: bool,
    ) -> Row {
        let converted = fields
            .iter()
            .zip(values)
            .map(|(field, text)| pg_value_to_json(field.data_type_id, text, raw_text_output));
        if array_mode {
            Row::Array(converted.collect())
        } else {
            Row::Object(
                fields
                    .iter()
                    .map(|f| f.name.clone())
                    .zip(converted)
                    .collect(),
            )
        }
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Row::Array(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for value in values {
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
            Row::Object(pairs) => {
                let mut map = serializer.serialize_map(Some(pairs.len()))?;
                for (key, value) in pairs {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Row, D::Error> {
        struct RowVisitor;

        impl<'de> Visitor<'de> for RowVisitor {
            type Value = Row;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row: a JSON array or object")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(value) = seq.next_element()? {
                    values.push(value);
                }
                Ok(Row::Array(values))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                // Entries are read one by one so duplicate keys survive, in order.
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    pairs.push((key, value));
                }
                Ok(Row::Object(pairs))
            }
        }

        deserializer
            .deserialize_any(RowVisitor)
            .map_err(de::Error::custom)
    }
}

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// One entry per result column; empty for statements that return no rows (DDL, plain DML).
    pub fields: Vec<Field>,
    /// The rows, shaped as `row_as_array` says.
    pub rows: Vec<Row>,
    /// First word of the command tag: `SELECT`, `INSERT`, `CREATE`, ...
    pub command: String,
    /// The count from the command tag, `None` (JSON `null`) where the tag has none (DDL).
    #[serde(rename = "rowCount")]
    pub row_count: Option<u64>,
    /// Whether `rows` are arrays (true) or objects.
    #[serde(rename = "rowAsArray")]
    pub row_as_array: bool,
}

impl QueryResponse {
    /// Assembles a response from a command tag as Postgres sends it (`INSERT 0 3`).
    pub fn new(fields: Vec<Field>, rows: Vec<Row>, command_tag: &str, array_mode: bool) -> Self {
        let (command, row_count) = split_command_tag(command_tag);
        QueryResponse {
            fields,
            rows,
            command,
            row_count,
            row_as_array: array_mode,
        }
    }
}

/// Splits a command tag into the command word and its row count.
///
/// The count is the tag's last word when the tag has more than one and that word is a number:
/// `SELECT 5` → 5, `INSERT 0 5` → 5 (the 0 is the obsolete OID), `CREATE TABLE` → none.
pub fn split_command_tag(tag: &str) -> (String, Option<u64>) {
    let mut words = tag.split_whitespace();
    let command = words.next().unwrap_or("").to_owned();
    let row_count = words.last().and_then(|w| w.parse::<u64>().ok());
    (command, row_count)
}

/// The answer to a batch: one result per query, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One [`QueryResponse`] per query of the batch.
    pub results: Vec<QueryResponse>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neon::values::oid;
    use serde_json::json;

    #[test]
    fn command_tags() {
        assert_eq!(split_command_tag("SELECT 5"), ("SELECT".into(), Some(5)));
        assert_eq!(split_command_tag("INSERT 0 3"), ("INSERT".into(), Some(3)));
        assert_eq!(split_command_tag("UPDATE 0"), ("UPDATE".into(), Some(0)));
        assert_eq!(split_command_tag("CREATE TABLE"), ("CREATE".into(), None));
        assert_eq!(split_command_tag("BEGIN"), ("BEGIN".into(), None));
        assert_eq!(split_command_tag(""), ("".into(), None));
    }

    #[test]
    fn response_serialises_with_neon_key_names() {
        let fields = vec![
            Field::expression("n", oid::INT4),
            Field::expression("s", oid::TEXT),
        ];
        let row = Row::from_text(&fields, [Some("1"), None], false, false);
        let resp = QueryResponse::new(fields, vec![row], "SELECT 1", false);
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            json!({
                "fields": [
                    {"name":"n","dataTypeID":23,"tableID":0,"columnID":0,"dataTypeSize":-1,"dataTypeModifier":-1,"format":"text"},
                    {"name":"s","dataTypeID":25,"tableID":0,"columnID":0,"dataTypeSize":-1,"dataTypeModifier":-1,"format":"text"}
                ],
                "rows": [{"n": 1, "s": null}],
                "command": "SELECT",
                "rowCount": 1,
                "rowAsArray": false
            })
        );
        let ddl = QueryResponse::new(vec![], vec![], "CREATE TABLE", false);
        assert_eq!(serde_json::to_value(&ddl).unwrap()["rowCount"], Value::Null);
    }

    #[test]
    fn rows_in_raw_and_array_mode() {
        let fields = vec![
            Field::expression("b", oid::BOOL),
            Field::expression("j", oid::JSONB),
        ];
        let raw = Row::from_text(&fields, [Some("t"), Some(r#"{"a": 1}"#)], true, true);
        assert_eq!(raw, Row::Array(vec![json!("t"), json!(r#"{"a": 1}"#)]));
        let typed = Row::from_text(&fields, [Some("t"), Some(r#"{"a": 1}"#)], false, true);
        assert_eq!(typed, Row::Array(vec![json!(true), json!({"a": 1})]));
    }

    #[test]
    fn duplicate_column_names_are_all_written_and_read_back() {
        let fields = vec![
            Field::expression("a", oid::INT4),
            Field::expression("a", oid::INT4),
        ];
        let row = Row::from_text(&fields, [Some("1"), Some("2")], false, false);
        let text = serde_json::to_string(&row).unwrap();
        assert_eq!(text, r#"{"a":1,"a":2}"#);
        let back: Row = serde_json::from_str(&text).unwrap();
        assert_eq!(back, row);
        assert_eq!(
            back.get("a"),
            Some(&json!(2)),
            "last one wins, as in JSON.parse"
        );
        // A plain JSON value keeps the last, like the official driver would.
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, json!({"a": 2}));
    }

    #[test]
    fn batch_round_trip() {
        let text = r#"{"results":[{"fields":[],"rows":[[1,"x"]],"command":"SELECT","rowCount":1,"rowAsArray":true}]}"#;
        let batch: BatchResponse = serde_json::from_str(text).unwrap();
        assert_eq!(
            batch.results[0].rows[0].values(),
            vec![&json!(1), &json!("x")]
        );
        assert_eq!(serde_json::to_string(&batch).unwrap(), text);
        assert!(serde_json::from_str::<Row>("3").is_err());
    }
}
