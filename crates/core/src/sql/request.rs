//! The request bodies of the SQL routes, parsed and validated before any
//! store is called.
//!
//! ```json
//! {"sql": "select $1::int8", "params": ["9007199254740993"], "rowMode": "object"}
//! {"statements": [{"sql": "...", "params": [...]}], "isolation": "serializable", "readOnly": true}
//! ```

use super::result::RowMode;
use super::Store;
use crate::error::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::Value;

/// Most statements one batch may hold.
pub const MAX_BATCH_STATEMENTS: usize = 100;
/// D1's limit on bound parameters per statement.
pub const D1_MAX_PARAMS: usize = 100;
/// Postgres's protocol limit on bound parameters per statement.
pub const PG_MAX_PARAMS: usize = 65_535;

/// One statement with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text: exactly one statement.
    pub sql: String,
    /// Positional parameters (`?`/`?NNN` on D1, `$1..` on Postgres).
    pub params: Vec<Value>,
}

/// `POST /v1/{store}/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// The statement.
    pub statement: Statement,
    /// How rows are shaped.
    pub row_mode: RowMode,
}

/// Postgres isolation levels a batch may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// `SERIALIZABLE`.
    Serializable,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `READ COMMITTED` (Postgres's default).
    ReadCommitted,
}

/// `POST /v1/{store}/batch`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    /// The statements, run in order, atomically.
    pub statements: Vec<Statement>,
    /// Postgres only.
    pub isolation: Option<Isolation>,
    /// Run read-only (always so for keys that may only read).
    pub read_only: bool,
    /// How rows are shaped (all statements alike).
    pub row_mode: RowMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    sql: Value,
    #[serde(default)]
    params: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    sql: Value,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default, rename = "rowMode")]
    row_mode: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    statements: Value,
    #[serde(default)]
    isolation: Option<Value>,
    #[serde(default, rename = "readOnly")]
    read_only: Option<Value>,
    #[serde(default, rename = "rowMode")]
    row_mode: Option<Value>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

/// Parses a JSON body, mapping syntax errors to `invalid_json` and shape
/// errors to `invalid_request`, with serde's description (it names the
/// field and position, and never echoes values).
pub fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() {
            ErrorCode::InvalidJson
        } else {
            ErrorCode::InvalidRequest
        };
        let what = match code {
            ErrorCode::InvalidJson => "the body is not valid JSON",
            _ => "the body does not have the expected shape",
        };
        ApiError::new(code, format!("{what}: {e}"))
    })
}

fn statement(
    store: Store,
    sql: Value,
    params: Option<Value>,
    at: &str,
) -> Result<Statement, ApiError> {
    let sql = match sql {
        Value::String(s) if !s.trim().is_empty() => s,
        Value::String(_) => return Err(invalid(format!("{at}sql is empty"))),
        _ => return Err(invalid(format!("{at}sql must be a string"))),
    };
    if sql.contains('\0') {
        // Postgres cannot take one (its protocol ends strings there) and
        // SQLite would stop reading the statement at it.
        return Err(invalid(format!("{at}sql contains a NUL character")));
    }
    let params = match params {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(format!("{at}params must be an array"))),
    };
    let max = match store {
        Store::D1 => D1_MAX_PARAMS,
        Store::Pg => PG_MAX_PARAMS,
    };
    if params.len() > max {
        return Err(invalid(format!(
            "{at}params has {} values; {} allows at most {max} per statement",
            params.len(),
            store.as_str()
        ))
        .with_details(serde_json::json!({ "limit": max, "given": params.len() })));
    }
    Ok(Statement { sql, params })
}

fn row_mode(v: Option<Value>) -> Result<RowMode, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(RowMode::Object),
        Some(Value::String(s)) if s == "object" => Ok(RowMode::Object),
        Some(Value::String(s)) if s == "array" => Ok(RowMode::Array),
        Some(_) => Err(invalid("rowMode must be \"object\" or \"array\"")),
    }
}

impl QueryRequest {
    /// Parses and validates a query body for `store`.
    pub fn parse(store: Store, body: &[u8]) -> Result<QueryRequest, ApiError> {
        let raw: RawQuery = parse_json(body)?;
        Ok(QueryRequest {
            statement: statement(store, raw.sql, raw.params, "")?,
            row_mode: row_mode(raw.row_mode)?,
        })
    }
}

impl BatchRequest {
    /// Parses and validates a batch body for `store`.
    pub fn parse(store: Store, body: &[u8]) -> Result<BatchRequest, ApiError> {
        let raw: RawBatch = parse_json(body)?;
        let Value::Array(items) = raw.statements else {
            return Err(invalid("statements must be an array"));
        };
        if items.is_empty() {
            return Err(invalid("statements is empty"));
        }
        if items.len() > MAX_BATCH_STATEMENTS {
            return Err(invalid(format!(
                "a batch holds at most {MAX_BATCH_STATEMENTS} statements, this one has {}",
                items.len()
            ))
            .with_details(
                serde_json::json!({ "limit": MAX_BATCH_STATEMENTS, "given": items.len() }),
            ));
        }
        let mut statements = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("statements[{i}].");
            let raw: RawStatement = serde_json::from_value(item).map_err(|e| {
                invalid(format!(
                    "statements[{i}] must be {{\"sql\", \"params\"}}: {e}"
                ))
            })?;
            statements.push(statement(store, raw.sql, raw.params, &at)?);
        }
        let isolation = match raw.isolation {
            None | Some(Value::Null) => None,
            Some(v) => {
                if store == Store::D1 {
                    return Err(invalid(
                        "isolation is not supported on d1: a D1 batch is always one serializable transaction",
                    ));
                }
                Some(match v.as_str() {
                    Some("serializable") => Isolation::Serializable,
                    Some("repeatable_read") => Isolation::RepeatableRead,
                    Some("read_committed") => Isolation::ReadCommitted,
                    _ => {
                        return Err(invalid(
                            "isolation must be \"serializable\", \"repeatable_read\" or \"read_committed\"",
                        ))
                    }
                })
            }
        };
        let read_only = match raw.read_only {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(invalid("readOnly must be a boolean")),
        };
        Ok(BatchRequest {
            statements,
            isolation,
            read_only,
            row_mode: row_mode(raw.row_mode)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(body: &str) -> Result<QueryRequest, ApiError> {
        QueryRequest::parse(Store::Pg, body.as_bytes())
    }

    #[test]
    fn parses_a_query() {
        let r = q(r#"{"sql": "select $1", "params": [1, "x", null], "rowMode": "array"}"#).unwrap();
        assert_eq!(r.statement.sql, "select $1");
        assert_eq!(r.statement.params.len(), 3);
        assert_eq!(r.row_mode, RowMode::Array);
        assert_eq!(
            q(r#"{"sql": "select 1"}"#).unwrap().row_mode,
            RowMode::Object
        );
    }

    #[test]
    fn rejects_bad_queries_with_clear_codes() {
        assert_eq!(q("{").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(q("").unwrap_err().code, ErrorCode::InvalidJson);
        for body in [
            r#"[]"#,
            r#"{"sql": 1}"#,
            r#"{"sql": "  "}"#,
            r#"{"sql": "select 1", "params": {}}"#,
            r#"{"sql": "select 1", "rowMode": "table"}"#,
            r#"{"sql": "select 1", "extra": true}"#,
            r#"{"params": []}"#,
            r#"{"sql": "select 1 \u0000 x"}"#,
        ] {
            let e = q(body).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{body}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn d1_parameter_limit_is_checked_before_the_store() {
        let params: Vec<u32> = (0..101).collect();
        let body = serde_json::json!({"sql": "select 1", "params": params}).to_string();
        let e = QueryRequest::parse(Store::D1, body.as_bytes()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("at most 100"));
        assert!(QueryRequest::parse(Store::Pg, body.as_bytes()).is_ok());
    }

    #[test]
    fn parses_batches_and_options() {
        let b = BatchRequest::parse(
            Store::Pg,
            br#"{"statements": [{"sql": "select 1"}, {"sql": "select $1", "params": [2]}], "isolation": "repeatable_read", "readOnly": true}"#,
        )
        .unwrap();
        assert_eq!(b.statements.len(), 2);
        assert_eq!(b.isolation, Some(Isolation::RepeatableRead));
        assert!(b.read_only);
    }

    #[test]
    fn rejects_bad_batches() {
        let many =
            serde_json::json!({"statements": vec![serde_json::json!({"sql": "select 1"}); 101]})
                .to_string();
        for (store, body) in [
            (Store::Pg, r#"{"statements": []}"#.to_string()),
            (Store::Pg, r#"{"statements": {}}"#.to_string()),
            (
                Store::Pg,
                r#"{"statements": [{"query": "select 1"}]}"#.to_string(),
            ),
            (
                Store::Pg,
                r#"{"statements": [{"sql": "select 1"}], "isolation": "snapshot"}"#.to_string(),
            ),
            (
                Store::Pg,
                r#"{"statements": [{"sql": "select 1"}], "readOnly": "yes"}"#.to_string(),
            ),
            (
                Store::D1,
                r#"{"statements": [{"sql": "select 1"}], "isolation": "serializable"}"#.to_string(),
            ),
            (Store::Pg, many),
        ] {
            let e = BatchRequest::parse(store, body.as_bytes()).unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
        }
    }
}
