//! Result objects: what a successful query or batch answers.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::values::pg_value_to_json;

/// One column of the result, from Postgres's row description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchResponse {
    /// One [`QueryResponse`] per query of the batch.
    pub results: Vec<QueryResponse>,
}

// Reading answers: by hand from a parsed JSON value rather than with derives.
// The Worker parses Neon's answer into a `Value` first (it decides by the
// HTTP status what the body is), so derives would be instantiated once more
// for the `Value` deserializer: ~15 KiB of wasm for these three types
// (BENCHMARKS.md, "Bundle size"). The rules are the derives' own: every key
// but `rowCount` is required, unknown keys are ignored, numbers must fit
// their type, `rowCount` may be null or absent.

/// Why an answer could not be read (the Worker only says "unreadable").
const SHAPE: &str = "not a Neon result: expected {fields, rows, command, rowCount, rowAsArray}";

fn member<'a>(
    object: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a Value, &'static str> {
    object.get(key).ok_or(SHAPE)
}

fn text(object: &serde_json::Map<String, Value>, key: &str) -> Result<String, &'static str> {
    member(object, key)?
        .as_str()
        .map(str::to_owned)
        .ok_or(SHAPE)
}

fn integer<T: TryFrom<i64>>(
    object: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<T, &'static str> {
    member(object, key)?
        .as_i64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or(SHAPE)
}

impl Field {
    /// Reads a column description as Neon writes it.
    fn from_json(value: &Value) -> Result<Field, &'static str> {
        let object = value.as_object().ok_or(SHAPE)?;
        Ok(Field {
            name: text(object, "name")?,
            data_type_id: integer(object, "dataTypeID")?,
            table_id: integer(object, "tableID")?,
            column_id: integer(object, "columnID")?,
            data_type_size: integer(object, "dataTypeSize")?,
            data_type_modifier: integer(object, "dataTypeModifier")?,
            format: text(object, "format")?,
        })
    }
}

impl Row {
    /// Reads a row: an array, or an object whose pairs keep their order.
    fn from_json(value: Value) -> Result<Row, &'static str> {
        match value {
            Value::Array(values) => Ok(Row::Array(values)),
            Value::Object(pairs) => Ok(Row::Object(pairs.into_iter().collect())),
            _ => Err(SHAPE),
        }
    }
}

impl QueryResponse {
    /// Reads the answer to one query from its parsed JSON.
    pub fn from_json(value: Value) -> Result<QueryResponse, &'static str> {
        let Value::Object(mut object) = value else {
            return Err(SHAPE);
        };
        let fields = match member(&object, "fields")? {
            Value::Array(items) => items
                .iter()
                .map(Field::from_json)
                .collect::<Result<_, _>>()?,
            _ => return Err(SHAPE),
        };
        let row_count = match object.get("rowCount") {
            None | Some(Value::Null) => None,
            Some(n) => Some(n.as_u64().ok_or(SHAPE)?),
        };
        let row_as_array = member(&object, "rowAsArray")?.as_bool().ok_or(SHAPE)?;
        let command = text(&object, "command")?;
        let rows = match object.get_mut("rows").map(Value::take) {
            Some(Value::Array(rows)) => rows
                .into_iter()
                .map(Row::from_json)
                .collect::<Result<_, _>>()?,
            _ => return Err(SHAPE),
        };
        Ok(QueryResponse {
            fields,
            rows,
            command,
            row_count,
            row_as_array,
        })
    }
}

impl BatchResponse {
    /// Reads the answer to a batch from its parsed JSON.
    pub fn from_json(value: Value) -> Result<BatchResponse, &'static str> {
        let Value::Object(mut object) = value else {
            return Err(SHAPE);
        };
        match object.get_mut("results").map(Value::take) {
            Some(Value::Array(results)) => Ok(BatchResponse {
                results: results
                    .into_iter()
                    .map(QueryResponse::from_json)
                    .collect::<Result<_, _>>()?,
            }),
            _ => Err(SHAPE),
        }
    }
}

impl<'de> Deserialize<'de> for QueryResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        QueryResponse::from_json(Value::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for BatchResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BatchResponse::from_json(Value::deserialize(deserializer)?).map_err(de::Error::custom)
    }
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

    #[test]
    fn answers_are_read_with_the_derives_rules() {
        let field = json!({"name":"n","dataTypeID":23,"tableID":7,"columnID":2,"dataTypeSize":4,"dataTypeModifier":-1,"format":"text"});
        let ok = json!({"fields":[field],"rows":[{"n":1,"n":2}],"command":"SELECT","rowCount":1,"rowAsArray":false,"extra":true});
        let read = QueryResponse::from_json(ok.clone()).unwrap();
        assert_eq!(read.fields[0].table_id, 7);
        assert_eq!(read.fields[0].data_type_size, 4);
        assert_eq!(read.rows, vec![Row::Object(vec![("n".into(), json!(2))])]);
        assert_eq!(read.row_count, Some(1));
        // Through serde, as the Worker reads it (serde_json::from_value).
        assert_eq!(
            serde_json::from_value::<QueryResponse>(ok.clone()).unwrap(),
            read
        );
        let mut no_count = ok.clone();
        no_count.as_object_mut().unwrap().remove("rowCount");
        assert_eq!(QueryResponse::from_json(no_count).unwrap().row_count, None);

        let broken = |key: &str, value: Value| {
            let mut v = ok.clone();
            match value {
                Value::Null if key != "rowCount" => {
                    v.as_object_mut().unwrap().remove(key);
                }
                other => v[key] = other,
            }
            QueryResponse::from_json(v).is_err()
        };
        assert!(broken("fields", Value::Null), "fields is required");
        assert!(broken("rows", Value::Null), "rows is required");
        assert!(broken("command", json!(1)));
        assert!(broken("rowCount", json!(-1)));
        assert!(broken("rowCount", json!(1.5)));
        assert!(broken("rowAsArray", json!("true")));
        assert!(broken("rows", json!([3])), "a row is an array or an object");
        let mut big = ok.clone();
        big["fields"][0]["columnID"] = json!(40000);
        assert!(QueryResponse::from_json(big).is_err(), "columnID is an i16");
        let mut negative = ok.clone();
        negative["fields"][0]["dataTypeID"] = json!(-1);
        assert!(
            QueryResponse::from_json(negative).is_err(),
            "an OID is unsigned"
        );
        assert!(QueryResponse::from_json(json!([])).is_err());

        let batch = json!({"results":[ok]});
        assert_eq!(BatchResponse::from_json(batch).unwrap().results, vec![read]);
        assert!(BatchResponse::from_json(json!({"results":{}})).is_err());
        assert!(BatchResponse::from_json(json!({})).is_err());
    }
}
