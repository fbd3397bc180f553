//! Store errors mapped to HTTP by kind, once, for both stores.
//!
//! The client gets a stable code, the database's own message (it describes
//! the client's SQL, not our internals) and, in `details`, the SQLSTATE
//! (Postgres) or SQLite error class (D1) plus the structured fields that
//! help fix the statement. Postgres's source file/line/routine never leave.
//!
//! The REST surface (`/v1/rest/...`) answers less: there the SQL is
//! Strata's, or a function's or trigger's body, not the client's, so the
//! fields that describe that statement are dropped ([`for_rest`]).

use crate::error::{ApiError, ErrorCode};
use crate::neon::ErrorBody;
use serde_json::{json, Map, Value};

/// Why a store error is not the client's to fix: the caller logs it and
/// answers with the returned error.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// The client's statement failed: answer with this.
    Client(ApiError),
    /// Our configuration or the store is at fault: log `cause`, answer with `error`.
    Server {
        /// What the client sees.
        error: ApiError,
        /// What the log gets (no secrets: messages of the database only).
        cause: String,
    },
}

/// Postgres's fields that describe the statement that failed (where in its
/// text, which PL/pgSQL line and query, which schema object) rather than
/// the request. On the raw SQL routes the client wrote that statement and
/// needs them; on the REST surface they would show a function's or
/// trigger's internal SQL and table names, so [`for_rest`] drops them.
pub const STATEMENT_FIELDS: [&str; 7] = [
    "position",
    "where",
    "schema",
    "table",
    "column",
    "constraint",
    "dataType",
];

/// A store error as the REST surface answers it: an error the database
/// raised (its `details` carry `sqlstate`) keeps its message, `hint`,
/// `sqlstate` and Postgres's `detail` — what PostgREST answers too; for a
/// constraint that is the key values of the failing row — and loses the
/// [`STATEMENT_FIELDS`]. Any other error passes unchanged: REST's own
/// details (`part`, `column`, `table`) name what the client wrote.
pub fn for_rest(mut error: ApiError) -> ApiError {
    if let Some(Value::Object(details)) = error.details.as_mut() {
        if details.contains_key("sqlstate") {
            for field in STATEMENT_FIELDS {
                details.shift_remove(field);
            }
        }
    }
    error
}

fn by_sqlstate(state: &str) -> Option<ErrorCode> {
    Some(match state {
        "23505" | "23P01" => ErrorCode::UniqueViolation,
        "23503" => ErrorCode::ForeignKeyViolation,
        "23502" => ErrorCode::NotNullViolation,
        "23514" => ErrorCode::CheckViolation,
        "42601" => ErrorCode::SyntaxError,
        "42P01" => ErrorCode::UndefinedTable,
        "42703" => ErrorCode::UndefinedColumn,
        "40001" | "40P01" => ErrorCode::SerializationFailure,
        "42501" => ErrorCode::InsufficientPrivilege,
        "25006" => ErrorCode::ReadOnly,
        "08P01" => ErrorCode::InvalidRequest,
        _ => return None,
    })
}

/// Maps a Neon error body (HTTP 400 from the SQL endpoint) for a statement
/// sent with `DATABASE_URL` as a read-write request.
pub fn from_neon(body: &ErrorBody) -> Mapped {
    from_neon_as(body, "DATABASE_URL", false)
}

/// Maps a Neon error body for a statement sent with the connection string
/// of `setting` (named when the database refuses the login), as a read-only
/// request or not. In a read-only batch SQLSTATE 25001 means a statement
/// tried to make the transaction read-write after its snapshot
/// (`set_config('transaction_read_only', 'off', …)`) or to run what needs a
/// transaction of its own: the read-only scope refusing, 403 `read_only`.
pub fn from_neon_as(body: &ErrorBody, setting: &str, read_only: bool) -> Mapped {
    let state = body.code.as_str();
    if read_only && state == "25001" {
        return Mapped::Client(
            ApiError::new(ErrorCode::ReadOnly, body.message.clone())
                .with_details(json!({ "sqlstate": state })),
        );
    }
    let class = state.get(..2).unwrap_or("");
    let server = |error: ApiError| Mapped::Server {
        error,
        cause: format!("neon refused: SQLSTATE {state:?}: {}", body.message),
    };
    if state.is_empty() {
        // A refusal of the proxy itself (connection string, headers): ours.
        return server(ApiError::internal());
    }
    match class {
        // The bind message does not fit the statement (params that do not
        // match the placeholders): the request's mistake, not an outage.
        _ if state == "08P01" => {}
        // Wrong password, unknown user or database: DATABASE_URL is wrong.
        "28" | "3D" => return server(ApiError::config(setting, "was refused by the database")),
        "08" | "53" | "57" if state != "57014" => {
            // Named as everywhere else (status, timeouts, logs): `neon`.
            return server(
                ApiError::new(ErrorCode::StoreUnavailable, "the neon store is unavailable")
                    .with_details(json!({ "store": "neon", "retryable": true }))
                    .with_header("Retry-After", "1"),
            );
        }
        _ => {}
    }
    if state == "57014" {
        return Mapped::Client(
            ApiError::new(
                ErrorCode::Timeout,
                "the statement was cancelled (statement timeout)",
            )
            .with_details(json!({ "sqlstate": state })),
        );
    }
    let code = by_sqlstate(state).unwrap_or(ErrorCode::SqlError);
    let mut details = Map::new();
    details.insert("sqlstate".into(), Value::String(state.to_string()));
    for (key, value) in [
        ("detail", &body.detail),
        ("position", &body.position),
        ("schema", &body.schema),
        ("table", &body.table),
        ("column", &body.column),
        ("constraint", &body.constraint),
        ("dataType", &body.data_type),
        ("where", &body.where_),
    ] {
        if let Some(v) = value {
            details.insert(key.into(), Value::String(v.clone()));
        }
    }
    if code == ErrorCode::SerializationFailure {
        details.insert("retryable".into(), Value::Bool(true));
    }
    let mut error = ApiError::new(code, body.message.clone()).with_details(Value::Object(details));
    if let Some(hint) = &body.hint {
        error = error.with_hint(hint.clone());
    }
    Mapped::Client(error)
}

/// Maps a D1 error message (`D1_ERROR: UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT`).
pub fn from_d1(message: &str) -> Mapped {
    let text = message
        .trim()
        .trim_start_matches("Error: ")
        .trim_start_matches("D1_ERROR: ")
        .trim_start_matches("D1_EXEC_ERROR: ")
        .to_string();
    // Local and hosted D1 end the message with the SQLite result code, and
    // sometimes the extended one: `...: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_PRIMARYKEY)`.
    let (body, extended) = match text.rsplit_once(" (extended: ") {
        Some((head, tail)) if tail.ends_with(')') => (
            head.to_string(),
            Some(tail.trim_end_matches(')').to_string()),
        ),
        _ => (text.clone(), None),
    };
    let (clean, class) = match body.rsplit_once(": ") {
        Some((head, code)) if code.starts_with("SQLITE_") => {
            (head.to_string(), Some(code.to_string()))
        }
        _ if body.starts_with("SQLITE_") => (body.clone(), Some(body.clone())),
        _ => (body.clone(), None),
    };
    let lower = clean.to_ascii_lowercase();
    let code = if lower.contains("unique constraint failed")
        || lower.contains("primary key constraint failed")
    {
        ErrorCode::UniqueViolation
    } else if lower.contains("foreign key constraint failed") {
        ErrorCode::ForeignKeyViolation
    } else if lower.contains("not null constraint failed") {
        ErrorCode::NotNullViolation
    } else if lower.contains("check constraint failed") {
        ErrorCode::CheckViolation
    } else if lower.contains("syntax error")
        || lower.contains("incomplete input")
        || lower.contains("unrecognized token")
    {
        ErrorCode::SyntaxError
    } else if lower.contains("no such table") {
        ErrorCode::UndefinedTable
    } else if lower.contains("no such column") {
        ErrorCode::UndefinedColumn
    } else if lower.contains("not authorized") || class.as_deref() == Some("SQLITE_AUTH") {
        ErrorCode::InsufficientPrivilege
    } else if message.contains("D1_TYPE_ERROR")
        || lower.contains("wrong number of parameter bindings")
        || lower.contains("did not contain a statement")
    {
        // The request's own mistakes, reported by D1 without a SQLite class:
        // params that do not match the placeholders, a statement that is
        // only a comment or `;`.
        ErrorCode::InvalidRequest
    } else if class.is_some() || lower.contains("sqlite") {
        ErrorCode::SqlError
    } else {
        // No SQLite class: the platform failed (network, reset, overload).
        return Mapped::Server {
            error: ApiError::new(ErrorCode::StoreUnavailable, "the d1 store is unavailable")
                .with_details(json!({ "store": "d1", "retryable": true }))
                .with_header("Retry-After", "1"),
            cause: format!("d1 failed: {text}"),
        };
    };
    let mut details = Map::new();
    if let Some(c) = class {
        details.insert("sqliteError".into(), Value::String(c));
    }
    if let Some(x) = extended {
        details.insert("sqliteExtendedError".into(), Value::String(x));
    }
    Mapped::Client(ApiError::new(code, clean).with_details(Value::Object(details)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(code: &str) -> ErrorBody {
        ErrorBody {
            message: "boom".into(),
            code: code.into(),
            severity: "ERROR".into(),
            file: Some("nbtinsert.c".into()),
            line: Some("666".into()),
            routine: Some("_bt_check_unique".into()),
            constraint: Some("t_pkey".into()),
            ..ErrorBody::default()
        }
    }

    fn client(m: Mapped) -> ApiError {
        match m {
            Mapped::Client(e) => e,
            Mapped::Server { error, cause } => panic!("server error {error:?}: {cause}"),
        }
    }

    #[test]
    fn postgres_kinds_map_to_statuses() {
        for (state, status, code) in [
            ("23505", 409, "unique_violation"),
            ("23503", 409, "foreign_key_violation"),
            ("23502", 400, "not_null_violation"),
            ("23514", 400, "check_violation"),
            ("42601", 400, "syntax_error"),
            ("42P01", 400, "undefined_table"),
            ("42703", 400, "undefined_column"),
            ("40001", 409, "serialization_failure"),
            ("42501", 403, "insufficient_privilege"),
            ("25006", 403, "read_only"),
            ("22P02", 400, "sql_error"),
            ("57014", 504, "timeout"),
            ("08P01", 400, "invalid_request"),
        ] {
            let e = client(from_neon(&pg(state)));
            assert_eq!((e.status(), e.code.as_str()), (status, code), "{state}");
            let d = e.details.clone().unwrap();
            assert_eq!(d["sqlstate"], state);
            assert!(
                d.get("file").is_none() && d.get("routine").is_none() && d.get("line").is_none()
            );
        }
        let e = client(from_neon(&pg("40001")));
        assert_eq!(e.details.clone().unwrap()["retryable"], true);
    }

    #[test]
    fn the_rest_surface_drops_what_describes_the_statement() {
        let body = ErrorBody {
            message: "duplicate key value violates unique constraint \"audit_pkey\"".into(),
            code: "23505".into(),
            detail: Some("Key (id)=(7) already exists.".into()),
            hint: Some("pick another id".into()),
            position: Some("12".into()),
            schema: Some("public".into()),
            table: Some("audit".into()),
            column: Some("id".into()),
            data_type: Some("integer".into()),
            where_: Some(
                "SQL statement \"INSERT INTO audit ...\" PL/pgSQL function f() line 3".into(),
            ),
            ..pg("23505")
        };
        // The raw SQL routes keep every field: the client wrote the statement.
        let raw = client(from_neon(&body));
        let d = raw.details.clone().unwrap();
        for field in STATEMENT_FIELDS {
            assert!(d.get(field).is_some(), "{field} on the SQL routes");
        }
        let rest = for_rest(raw.clone());
        let d = rest.details.clone().unwrap();
        for field in STATEMENT_FIELDS {
            assert!(d.get(field).is_none(), "{field} on REST: {d}");
        }
        assert_eq!(d["sqlstate"], "23505");
        assert_eq!(d["detail"], "Key (id)=(7) already exists.");
        assert_eq!(rest.hint.as_deref(), Some("pick another id"));
        assert_eq!((rest.status(), &rest.message), (409, &raw.message));
        assert!(!rest.body().contains("PL/pgSQL") && !rest.body().contains("\"12\""));
        // REST's own errors (no SQLSTATE) keep their details: they name the request.
        let own = ApiError::new(ErrorCode::RestUnknownColumn, "no such column")
            .with_details(json!({ "column": "nope", "table": "todos" }));
        assert_eq!(for_rest(own.clone()), own);
        let d1 = client(from_d1("D1_ERROR: no such column: x: SQLITE_ERROR"));
        assert_eq!(for_rest(d1.clone()), d1);
    }

    #[test]
    fn configuration_and_outages_are_server_side() {
        for (state, status) in [
            ("28P01", 500),
            ("3D000", 500),
            ("08006", 503),
            ("53300", 503),
            ("", 500),
        ] {
            match from_neon(&pg(state)) {
                Mapped::Server { error, .. } => assert_eq!(error.status(), status, "{state}"),
                Mapped::Client(e) => panic!("{state} mapped to client error {e:?}"),
            }
        }
    }

    #[test]
    fn the_read_connection_is_named_and_25001_refuses_a_read_only_request() {
        match from_neon_as(&pg("28P01"), "DATABASE_URL_READ", true) {
            Mapped::Server { error, .. } => {
                assert_eq!(
                    error.details.clone().unwrap()["setting"],
                    "DATABASE_URL_READ"
                )
            }
            Mapped::Client(e) => panic!("28P01 mapped to client error {e:?}"),
        }
        let e = client(from_neon_as(&pg("25001"), "DATABASE_URL_READ", true));
        assert_eq!((e.status(), e.code.as_str()), (403, "read_only"));
        assert_eq!(e.details.clone().unwrap()["sqlstate"], "25001");
        // A read-write request's 25001 (VACUUM in a batch) is the statement's own error.
        let e = client(from_neon_as(&pg("25001"), "DATABASE_URL", false));
        assert_eq!((e.status(), e.code.as_str()), (400, "sql_error"));
    }

    #[test]
    fn d1_messages_map_by_kind() {
        for (msg, status, code, class) in [
            (
                "D1_ERROR: UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT",
                409,
                "unique_violation",
                Some("SQLITE_CONSTRAINT"),
            ),
            (
                "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT",
                409,
                "foreign_key_violation",
                Some("SQLITE_CONSTRAINT"),
            ),
            (
                "D1_ERROR: NOT NULL constraint failed: t.a: SQLITE_CONSTRAINT",
                400,
                "not_null_violation",
                Some("SQLITE_CONSTRAINT"),
            ),
            (
                "D1_ERROR: CHECK constraint failed: a > 0: SQLITE_CONSTRAINT",
                400,
                "check_violation",
                Some("SQLITE_CONSTRAINT"),
            ),
            (
                "D1_ERROR: near \"selec\": syntax error at offset 0: SQLITE_ERROR",
                400,
                "syntax_error",
                Some("SQLITE_ERROR"),
            ),
            (
                "D1_ERROR: no such table: nope: SQLITE_ERROR",
                400,
                "undefined_table",
                Some("SQLITE_ERROR"),
            ),
            (
                "D1_ERROR: no such column: nope: SQLITE_ERROR",
                400,
                "undefined_column",
                Some("SQLITE_ERROR"),
            ),
            (
                "D1_ERROR: not authorized: SQLITE_AUTH",
                403,
                "insufficient_privilege",
                Some("SQLITE_AUTH"),
            ),
            (
                "D1_ERROR: datatype mismatch: SQLITE_MISMATCH",
                400,
                "sql_error",
                Some("SQLITE_MISMATCH"),
            ),
            (
                "Wrong number of parameter bindings for SQL query.",
                400,
                "invalid_request",
                None,
            ),
            (
                "SQL code did not contain a statement.",
                400,
                "invalid_request",
                None,
            ),
        ] {
            let e = client(from_d1(msg));
            assert_eq!((e.status(), e.code.as_str()), (status, code), "{msg}");
            assert!(!e.message.contains("D1_ERROR"), "{}", e.message);
            assert_eq!(
                e.details
                    .clone()
                    .unwrap()
                    .get("sqliteError")
                    .and_then(Value::as_str),
                class
            );
        }
        assert!(matches!(
            from_d1("D1_ERROR: Network connection lost."),
            Mapped::Server { .. }
        ));
        let e = client(from_d1(
            "D1_ERROR: UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_PRIMARYKEY)",
        ));
        assert_eq!(e.code, ErrorCode::UniqueViolation);
        assert_eq!(e.message, "UNIQUE constraint failed: t.id");
        let d = e.details.clone().unwrap();
        assert_eq!(d["sqliteError"], "SQLITE_CONSTRAINT");
        assert_eq!(d["sqliteExtendedError"], "SQLITE_CONSTRAINT_PRIMARYKEY");
    }
}
