//! The error body: one JSON object with the same 17 keys for every failure.

use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A failed request, as the proxy reports it.
///
/// Every key is always present (missing parts are `null`), because the official driver copies
/// them one by one onto its error object. For Postgres errors `message` is the bare server
/// message and `code` the SQLSTATE; for errors of the proxy itself (bad header, body too large)
/// `code` and `severity` are empty strings. Deserialisation is lenient (missing keys default) so
/// a client can read bodies from older or newer proxies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ErrorBody {
    /// Primary human-readable message.
    pub message: String,
    /// SQLSTATE (`42601`, `23505`, ...), or empty for proxy-level errors.
    pub code: String,
    /// Secondary message with more detail.
    pub detail: Option<String>,
    /// Suggestion what to do about it.
    pub hint: Option<String>,
    /// 1-based character offset into the query, as a decimal string.
    pub position: Option<String>,
    /// Like `position`, but into `internalQuery`.
    #[serde(rename = "internalPosition")]
    pub internal_position: Option<String>,
    /// Text of an internally generated command that failed (e.g. inside a PL/pgSQL function).
    #[serde(rename = "internalQuery")]
    pub internal_query: Option<String>,
    /// `ERROR`, `FATAL`, `PANIC` (possibly localised), or empty for proxy-level errors.
    pub severity: String,
    /// Call-stack context (`PL/pgSQL function f() line 3 at RAISE`).
    #[serde(rename = "where")]
    pub where_: Option<String>,
    /// Table the error concerns.
    pub table: Option<String>,
    /// Column the error concerns.
    pub column: Option<String>,
    /// Schema the error concerns.
    pub schema: Option<String>,
    /// Data type the error concerns.
    #[serde(rename = "dataType")]
    pub data_type: Option<String>,
    /// Constraint the error concerns (e.g. the violated unique index).
    pub constraint: Option<String>,
    /// Postgres source file that raised it.
    pub file: Option<String>,
    /// Line in that source file, as a decimal string.
    pub line: Option<String>,
    /// Postgres source routine that raised it.
    pub routine: Option<String>,
}

impl ErrorBody {
    /// An error of the proxy itself: just a message, empty `code` and `severity`.
    pub fn proxy(message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            message: message.into(),
            ..ErrorBody::default()
        }
    }

    /// Builds the body from the fields of a Postgres `ErrorResponse` message, given as
    /// (field type byte, value) pairs in wire order (see "Error and Notice Message Fields" in
    /// the Postgres protocol documentation). Unknown field types are ignored.
    pub fn from_postgres_fields(fields: impl IntoIterator<Item = (u8, String)>) -> ErrorBody {
        let mut body = ErrorBody::default();
        let mut severity_nonlocalized = None;
        for (kind, value) in fields {
            match kind {
                b'S' => body.severity = value,
                b'V' => severity_nonlocalized = Some(value),
                b'C' => body.code = value,
                b'M' => body.message = value,
                b'D' => body.detail = Some(value),
                b'H' => body.hint = Some(value),
                b'P' => body.position = Some(value),
                b'p' => body.internal_position = Some(value),
                b'q' => body.internal_query = Some(value),
                b'W' => body.where_ = Some(value),
                b's' => body.schema = Some(value),
                b't' => body.table = Some(value),
                b'c' => body.column = Some(value),
                b'd' => body.data_type = Some(value),
                b'n' => body.constraint = Some(value),
                b'F' => body.file = Some(value),
                b'L' => body.line = Some(value),
                b'R' => body.routine = Some(value),
                _ => {}
            }
        }
        if body.severity.is_empty() {
            body.severity = severity_nonlocalized.unwrap_or_default();
        }
        body
    }

    /// Whether this came from Postgres (it has a SQLSTATE) rather than from the proxy.
    pub fn is_postgres_error(&self) -> bool {
        !self.code.is_empty()
    }
}

impl ErrorBody {
    /// Reads a body from its parsed JSON, as a derive with `#[serde(default)]` would: missing
    /// and unknown keys are fine; a key of the wrong type (a `null` `message`, a numeric
    /// `line`) makes it unreadable. By hand because the Worker reads it from a `Value`, where a
    /// derive would be one more serde instantiation in the bundle (BENCHMARKS.md, "Bundle size").
    pub fn from_json(value: &Value) -> Option<ErrorBody> {
        let mut body = ErrorBody::default();
        for (key, value) in value.as_object()? {
            let text = match key.as_str() {
                "message" => &mut body.message,
                "code" => &mut body.code,
                "severity" => &mut body.severity,
                _ => {
                    let Some(slot) = body.optional(key) else {
                        continue;
                    };
                    *slot = match value {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        _ => return None,
                    };
                    continue;
                }
            };
            value.as_str()?.clone_into(text);
        }
        Some(body)
    }

    /// The optional key named `key`, if it is one.
    fn optional(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "detail" => &mut self.detail,
            "hint" => &mut self.hint,
            "position" => &mut self.position,
            "internalPosition" => &mut self.internal_position,
            "internalQuery" => &mut self.internal_query,
            "where" => &mut self.where_,
            "table" => &mut self.table,
            "column" => &mut self.column,
            "schema" => &mut self.schema,
            "dataType" => &mut self.data_type,
            "constraint" => &mut self.constraint,
            "file" => &mut self.file,
            "line" => &mut self.line,
            "routine" => &mut self.routine,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ErrorBody::from_json(&Value::deserialize(deserializer)?)
            .ok_or_else(|| de::Error::custom("not a Neon error body"))
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{} (SQLSTATE {})", self.message, self.code)
        }
    }
}

impl std::error::Error for ErrorBody {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const ALL_KEYS: [&str; 17] = [
        "message",
        "code",
        "detail",
        "hint",
        "position",
        "internalPosition",
        "internalQuery",
        "severity",
        "where",
        "table",
        "column",
        "schema",
        "dataType",
        "constraint",
        "file",
        "line",
        "routine",
    ];

    #[test]
    fn proxy_error_has_all_17_keys_with_empty_code_and_severity() {
        let value = serde_json::to_value(ErrorBody::proxy("invalid isolation level")).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 17);
        for key in ALL_KEYS {
            assert!(object.contains_key(key), "missing {key}");
        }
        assert_eq!(object["message"], "invalid isolation level");
        assert_eq!(object["code"], "");
        assert_eq!(object["severity"], "");
        assert_eq!(object["detail"], Value::Null);
        assert_eq!(object["position"], Value::Null);
    }

    #[test]
    fn postgres_fields_map_to_keys() {
        let fields = [
            (b'S', "ERROR"),
            (b'V', "ERROR"),
            (b'C', "23505"),
            (
                b'M',
                "duplicate key value violates unique constraint \"t_pkey\"",
            ),
            (b'D', "Key (id)=(1) already exists."),
            (b's', "public"),
            (b't', "t"),
            (b'n', "t_pkey"),
            (b'F', "nbtinsert.c"),
            (b'L', "664"),
            (b'R', "_bt_check_unique"),
            (b'P', "15"),
            (b'W', "SQL statement"),
            (b'c', "id"),
            (b'd', "integer"),
            (b'H', "try again"),
            (b'p', "3"),
            (b'q', "select 1"),
            (b'Z', "unknown field type is ignored"),
        ]
        .map(|(k, v)| (k, v.to_owned()));
        let body = ErrorBody::from_postgres_fields(fields);
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 17);
        assert_eq!(value["code"], "23505");
        assert_eq!(value["severity"], "ERROR");
        assert_eq!(value["detail"], "Key (id)=(1) already exists.");
        assert_eq!(value["constraint"], "t_pkey");
        assert_eq!(value["line"], "664", "line is a string");
        assert_eq!(value["position"], "15", "position is a string");
        assert_eq!(value["where"], "SQL statement");
        assert_eq!(value["dataType"], "integer");
        assert_eq!(value["internalPosition"], "3");
        assert_eq!(value["internalQuery"], "select 1");
        assert!(body.is_postgres_error());
        assert_eq!(
            body.to_string(),
            "duplicate key value violates unique constraint \"t_pkey\" (SQLSTATE 23505)"
        );
    }

    #[test]
    fn nonlocalized_severity_is_a_fallback() {
        let body = ErrorBody::from_postgres_fields([(b'V', "FATAL".to_owned())]);
        assert_eq!(body.severity, "FATAL");
    }

    #[test]
    fn lenient_deserialisation() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"message":"boom","code":"XX000","where":"here"}"#).unwrap();
        assert_eq!(body.message, "boom");
        assert_eq!(body.where_.as_deref(), Some("here"));
        assert_eq!(body.line, None);
        assert!(!ErrorBody::proxy("x").is_postgres_error());
    }

    #[test]
    fn reading_round_trips_and_refuses_wrong_types() {
        let fields = ALL_KEYS.map(|k| (k, Value::String(format!("{k}!"))));
        let full = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let body = ErrorBody::from_json(&full).unwrap();
        assert_eq!(serde_json::to_value(&body).unwrap(), full, "every key read");
        let nulls = serde_json::json!({"message": "m", "detail": null, "extra": [1]});
        let read = ErrorBody::from_json(&nulls).unwrap();
        assert_eq!((read.message.as_str(), read.detail), ("m", None));
        for bad in [
            serde_json::json!({"message": null}),
            serde_json::json!({"code": 23505}),
            serde_json::json!({"line": 664}),
            serde_json::json!("boom"),
        ] {
            assert_eq!(ErrorBody::from_json(&bad), None, "{bad}");
            assert!(serde_json::from_value::<ErrorBody>(bad).is_err());
        }
    }
}
