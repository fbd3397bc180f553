//! Postgres through Neon: building the Neon request and reading its result.
//!
//! The Worker asks Neon for raw text in array mode (what Neon's own driver
//! does) and converts values here, by type OID, so the conversion is one
//! code path under our control: Neon's typed encoding for everything (int8
//! and numeric stay strings, json is embedded, arrays nest) except bytea,
//! which becomes `{"$binary": "<base64>"}` like a D1 BLOB.
//!
//! [`read_only`] decides what a read-only batch may contain.

use super::request::{Isolation, Statement};
use super::result::{shape_rows, Column, RowMode, SqlResult};
use super::value::{binary_to_json, pg_param};
use crate::error::ApiError;
use crate::neon::values::{array_delimiter, oid};
use crate::neon::{
    parse_array, pg_text_to_json, ArrayElement, BatchOptions, BatchRequest, IsolationLevel,
    QueryRequest, QueryResponse,
};
use serde_json::{Map, Value};

pub mod read_only;

/// The Neon query for one statement (parameters pre-encoded as text).
pub fn neon_query(statement: &Statement, index: Option<usize>) -> Result<QueryRequest, ApiError> {
    let mut params = Vec::with_capacity(statement.params.len());
    for (i, p) in statement.params.iter().enumerate() {
        let at = match index {
            Some(s) => format!("statements[{s}].params[{i}]"),
            None => format!("params[{i}]"),
        };
        params.push(pg_param(p, &at)?.map_or(Value::Null, Value::String));
    }
    Ok(QueryRequest {
        query: statement.sql.clone(),
        params,
        array_mode: Some(true),
    })
}

/// The Neon batch for statements (one transaction).
pub fn neon_batch(statements: &[Statement]) -> Result<BatchRequest, ApiError> {
    let queries = statements
        .iter()
        .enumerate()
        .map(|(i, s)| neon_query(s, Some(i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BatchRequest { queries })
}

/// The Neon batch for a read-only request: every statement must pass
/// [`read_only::ensure_read_only`], and [`read_only::SNAPSHOT_SQL`] runs
/// first, so Postgres keeps the transaction read-only whatever a statement
/// asks. [`drop_snapshot`] removes its result again.
pub fn neon_read_only_batch(statements: &[Statement]) -> Result<BatchRequest, ApiError> {
    for s in statements {
        read_only::ensure_read_only(&s.sql)?;
    }
    let mut batch = neon_batch(statements)?;
    batch.queries.insert(
        0,
        QueryRequest {
            query: read_only::SNAPSHOT_SQL.to_string(),
            params: Vec::new(),
            array_mode: Some(true),
        },
    );
    Ok(batch)
}

/// The results of a [`neon_read_only_batch`] without the snapshot's; `None`
/// when it is missing (a reply that does not match the request).
pub fn drop_snapshot(mut results: Vec<QueryResponse>) -> Option<Vec<QueryResponse>> {
    (!results.is_empty()).then(|| results.split_off(1))
}

/// The transaction options for a batch.
pub fn batch_options(isolation: Option<Isolation>, read_only: bool) -> BatchOptions {
    BatchOptions {
        isolation: isolation.map(|i| match i {
            Isolation::Serializable => IsolationLevel::Serializable,
            Isolation::RepeatableRead => IsolationLevel::RepeatableRead,
            Isolation::ReadCommitted => IsolationLevel::ReadCommitted,
        }),
        read_only,
        deferrable: false,
    }
}

/// The type name for an OID, as `pg_type.typname` spells it for built-ins;
/// `oid:<n>` for user-defined types (enums, domains), whose values are text.
pub fn type_name(type_oid: u32) -> String {
    let name = match type_oid {
        16 => "bool",
        17 => "bytea",
        18 => "char",
        19 => "name",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        26 => "oid",
        114 => "json",
        142 => "xml",
        700 => "float4",
        701 => "float8",
        705 => "unknown",
        790 => "money",
        869 => "inet",
        650 => "cidr",
        829 => "macaddr",
        1042 => "bpchar",
        1043 => "varchar",
        1082 => "date",
        1083 => "time",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        1266 => "timetz",
        1560 => "bit",
        1562 => "varbit",
        1700 => "numeric",
        2950 => "uuid",
        3802 => "jsonb",
        3614 => "tsvector",
        2249 => "record",
        2278 => "void",
        1000 => "_bool",
        1001 => "_bytea",
        1005 => "_int2",
        1007 => "_int4",
        1016 => "_int8",
        1009 => "_text",
        1015 => "_varchar",
        1014 => "_bpchar",
        1021 => "_float4",
        1022 => "_float8",
        1231 => "_numeric",
        199 => "_json",
        3807 => "_jsonb",
        2951 => "_uuid",
        1182 => "_date",
        1115 => "_timestamp",
        1185 => "_timestamptz",
        1187 => "_interval",
        _ => return format!("oid:{type_oid}"),
    };
    name.to_string()
}

/// Decodes Postgres's hex bytea text (`\x0102`).
fn bytea(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks_exact(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

fn bytea_json(text: &str) -> Value {
    bytea(text).map_or_else(|| Value::String(text.to_string()), |b| binary_to_json(&b))
}

fn bytea_elements(elements: Vec<ArrayElement>) -> Value {
    Value::Array(
        elements
            .into_iter()
            .map(|e| match e {
                ArrayElement::Null => Value::Null,
                ArrayElement::Text(t) => bytea_json(&t),
                ArrayElement::Array(inner) => bytea_elements(inner),
            })
            .collect(),
    )
}

/// One value: Postgres text (`None` = NULL) of type `type_oid` → JSON.
pub fn cell(type_oid: u32, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match type_oid {
        oid::BYTEA => bytea_json(text),
        1001 => parse_array(text, array_delimiter(oid::BYTEA))
            .map_or_else(|_| Value::String(text.to_string()), bytea_elements),
        _ => pg_text_to_json(type_oid, text),
    }
}

/// Converts a Neon result (raw text output, array mode) to ours.
pub fn result(resp: QueryResponse, mode: RowMode) -> SqlResult {
    let columns: Vec<Column> = resp
        .fields
        .iter()
        .map(|f| Column {
            name: f.name.clone(),
            type_name: type_name(f.data_type_id),
        })
        .collect();
    let rows: Vec<Vec<Value>> = resp
        .rows
        .iter()
        .map(|row| {
            row.values()
                .into_iter()
                .zip(&resp.fields)
                .map(|(v, f)| cell(f.data_type_id, v.as_str()))
                .collect()
        })
        .collect();
    let row_count = resp.row_count.unwrap_or(rows.len() as u64);
    let mut meta = Map::new();
    meta.insert("command".into(), Value::String(resp.command.clone()));
    SqlResult {
        rows: shape_rows(&columns, rows, mode),
        columns,
        row_count,
        meta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neon::{Field, Row};
    use serde_json::json;

    #[test]
    fn converts_every_common_type() {
        let fields = vec![
            Field::expression("i4", 23),
            Field::expression("i8", 20),
            Field::expression("num", 1700),
            Field::expression("b", 16),
            Field::expression("j", 3802),
            Field::expression("arr", 1007),
            Field::expression("bin", 17),
            Field::expression("ts", 1184),
            Field::expression("u", 2950),
            Field::expression("n", 25),
            Field::expression("f", 701),
        ];
        let texts = [
            Some("42"),
            Some("9223372036854775807"),
            Some("1.10"),
            Some("t"),
            Some(r#"{"a": [1, 2]}"#),
            Some("{1,NULL,3}"),
            Some("\\x00ff"),
            Some("2024-01-02 03:04:05+00"),
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            None,
            Some("NaN"),
        ];
        let row = Row::Array(
            texts
                .iter()
                .map(|t| t.map_or(Value::Null, |s| json!(s)))
                .collect(),
        );
        let resp = QueryResponse::new(fields, vec![row], "SELECT 1", true);
        let r = result(resp, RowMode::Object);
        assert_eq!(
            r.rows[0],
            json!({"i4": 42, "i8": "9223372036854775807", "num": "1.10", "b": true, "j": {"a": [1, 2]},
                   "arr": [1, null, 3], "bin": {"$binary": "AP8="}, "ts": "2024-01-02 03:04:05+00",
                   "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "n": null, "f": "NaN"})
        );
        let types: Vec<&str> = r.columns.iter().map(|c| c.type_name.as_str()).collect();
        assert_eq!(
            types,
            [
                "int4",
                "int8",
                "numeric",
                "bool",
                "jsonb",
                "_int4",
                "bytea",
                "timestamptz",
                "uuid",
                "text",
                "float8"
            ]
        );
        assert_eq!(r.row_count, 1);
        assert_eq!(r.meta["command"], "SELECT");
    }

    #[test]
    fn bytea_arrays_and_odd_text() {
        assert_eq!(
            cell(1001, Some("{\"\\\\x01\",NULL}")),
            json!([{"$binary": "AQ=="}, null])
        );
        assert_eq!(cell(17, Some("not-hex")), json!("not-hex"));
        assert_eq!(type_name(16384), "oid:16384");
    }

    #[test]
    fn params_are_pre_encoded_text() {
        let s = Statement {
            sql: "select $1, $2, $3".into(),
            params: vec![json!(null), json!({"$binary": "AQI="}), json!([1, 2])],
        };
        let q = neon_query(&s, None).unwrap();
        assert_eq!(
            q.params,
            vec![json!(null), json!("\\x0102"), json!("{1,2}")]
        );
        assert_eq!(q.array_mode, Some(true));
    }

    #[test]
    fn read_only_batches_start_with_the_snapshot_and_refuse_transaction_control() {
        let st = |sql: &str| Statement {
            sql: sql.into(),
            params: vec![],
        };
        let batch = neon_read_only_batch(&[st("select 1 as a"), st("table t")]).unwrap();
        let sql: Vec<&str> = batch.queries.iter().map(|q| q.query.as_str()).collect();
        assert_eq!(sql, [read_only::SNAPSHOT_SQL, "select 1 as a", "table t"]);
        let e = neon_read_only_batch(&[st("select 1"), st("/**/commit")]).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::ReadOnly);
        assert_eq!(drop_snapshot(Vec::new()), None);
    }

    #[test]
    fn batch_options_map_isolation() {
        let o = batch_options(Some(Isolation::Serializable), true);
        assert_eq!(
            o.start_transaction_sql(),
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY"
        );
    }
}
