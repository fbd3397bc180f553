//! The single error type at the HTTP edge.
//!
//! Every failure a client can see is an [`ApiError`], rendered as
//! `{"code", "message", "details", "hint"}` — PostgREST's field names, so
//! clients written for PostgREST read it unchanged. The HTTP status of each
//! [`ErrorCode`] is decided here and nowhere else; messages never carry
//! internal detail (connection strings, SQL of ours, stack traces).

use serde::Serialize;
use serde_json::Value;

/// A stable, machine-readable error code. The string form (see
/// [`ErrorCode::as_str`]) is part of the API contract: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No route has this path.
    NotFound,
    /// The path exists but not for this method; the response carries `Allow`.
    MethodNotAllowed,
    /// No credentials, or credentials that match no key.
    Unauthorized,
    /// Valid credentials without the scope this route needs.
    Forbidden,
    /// The request body is not valid JSON.
    InvalidJson,
    /// The request is well-formed but asks for something invalid.
    InvalidRequest,
    /// `x-d1-bookmark` is not a D1 bookmark (malformed or too long).
    InvalidBookmark,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// The body's `Content-Type` is not one this route reads.
    UnsupportedMediaType,
    /// A store needed for the request cannot be reached right now.
    StoreUnavailable,
    /// A store did not answer within the configured time.
    Timeout,
    /// A required setting is missing or invalid (the message names it).
    ConfigInvalid,
    /// Anything else; details go to the log, never to the client.
    Internal,
    /// A unique (or primary key, or exclusion) constraint would be violated.
    UniqueViolation,
    /// A foreign key constraint would be violated.
    ForeignKeyViolation,
    /// A NOT NULL constraint would be violated.
    NotNullViolation,
    /// A CHECK constraint would be violated.
    CheckViolation,
    /// The SQL does not parse.
    SyntaxError,
    /// The SQL names a table that does not exist.
    UndefinedTable,
    /// The SQL names a column that does not exist.
    UndefinedColumn,
    /// A concurrent transaction conflicted; retrying may succeed.
    SerializationFailure,
    /// The database refused the operation for lack of privilege.
    InsufficientPrivilege,
    /// A key that may only read tried to write.
    ReadOnly,
    /// Any other error the SQL caused (`details` has the SQLSTATE or SQLite class).
    SqlError,
    /// A REST URL, header or body does not follow the grammar (PostgREST's code).
    RestParse,
    /// A REST request names a column the table does not have (PostgREST's code).
    RestUnknownColumn,
    /// `Accept: application/vnd.pgrst.object+json` but not exactly one row (PostgREST's code).
    RestNotSingular,
    /// The requested `Range` cannot be satisfied (PostgREST's code).
    RestRangeNotSatisfiable,
    /// The requested representation (`Accept`) is not one we produce (PostgREST's code).
    RestNotAcceptable,
    /// An embed names a table with no relationship to its parent (PostgREST's code).
    RestNoRelationship,
    /// An embed fits several relationships; a `!hint` must pick one (PostgREST's code).
    RestAmbiguousRelationship,
    /// `Prefer: handling=strict` with a preference not understood (PostgREST's code).
    RestInvalidPreference,
    /// No object has this key.
    ObjectNotFound,
    /// No multipart upload in progress has this id for this key.
    UploadNotFound,
    /// A precondition (`If-Match`, `If-None-Match`, `If-Unmodified-Since`)
    /// does not hold; nothing was read or written.
    PreconditionFailed,
    /// The `Range` starts beyond the object (`Content-Range: bytes */size`).
    RangeNotSatisfiable,
    /// An upload without `Content-Length`: R2 stores bodies of known length only.
    LengthRequired,
    /// The body does not match its `Content-MD5` / SHA-256; nothing was stored.
    ChecksumMismatch,
    /// A signed URL is expired, altered, or used with another method.
    SignatureInvalid,
    /// A result is larger than `MAX_RESULT_BYTES`; page it.
    ResultTooLarge,
    /// A REST write on a table that is moving between stores (`Retry-After`).
    TableMoving,
    /// A placement change that is not a safe step from the table's current
    /// placement (or that raced another change); nothing was written.
    PlacementConflict,
}

impl ErrorCode {
    /// The stable string clients match on.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidBookmark => "invalid_bookmark",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ConfigInvalid => "config_invalid",
            ErrorCode::Internal => "internal",
            ErrorCode::UniqueViolation => "unique_violation",
            ErrorCode::ForeignKeyViolation => "foreign_key_violation",
            ErrorCode::NotNullViolation => "not_null_violation",
            ErrorCode::CheckViolation => "check_violation",
            ErrorCode::SyntaxError => "syntax_error",
            ErrorCode::UndefinedTable => "undefined_table",
            ErrorCode::UndefinedColumn => "undefined_column",
            ErrorCode::SerializationFailure => "serialization_failure",
            ErrorCode::InsufficientPrivilege => "insufficient_privilege",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::SqlError => "sql_error",
            ErrorCode::RestParse => "PGRST100",
            ErrorCode::RestUnknownColumn => "PGRST204",
            ErrorCode::RestNotSingular => "PGRST116",
            ErrorCode::RestRangeNotSatisfiable => "PGRST103",
            ErrorCode::RestNotAcceptable => "PGRST107",
            ErrorCode::RestNoRelationship => "PGRST200",
            ErrorCode::RestAmbiguousRelationship => "PGRST201",
            ErrorCode::RestInvalidPreference => "PGRST122",
            ErrorCode::ObjectNotFound => "object_not_found",
            ErrorCode::UploadNotFound => "upload_not_found",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::RangeNotSatisfiable => "range_not_satisfiable",
            ErrorCode::LengthRequired => "length_required",
            ErrorCode::ChecksumMismatch => "checksum_mismatch",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::ResultTooLarge => "result_too_large",
            ErrorCode::TableMoving => "table_moving",
            ErrorCode::PlacementConflict => "placement_conflict",
        }
    }

    /// The HTTP status for this code: the one place the mapping lives.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::InvalidJson
            | ErrorCode::InvalidRequest
            | ErrorCode::InvalidBookmark
            | ErrorCode::NotNullViolation
            | ErrorCode::CheckViolation
            | ErrorCode::SyntaxError
            | ErrorCode::UndefinedTable
            | ErrorCode::UndefinedColumn
            | ErrorCode::SqlError
            | ErrorCode::RestParse
            | ErrorCode::RestUnknownColumn
            | ErrorCode::RestNoRelationship
            | ErrorCode::RestInvalidPreference => 400,
            ErrorCode::RestAmbiguousRelationship => 300,
            ErrorCode::RestNotSingular | ErrorCode::RestNotAcceptable => 406,
            ErrorCode::RestRangeNotSatisfiable => 416,
            ErrorCode::UniqueViolation
            | ErrorCode::ForeignKeyViolation
            | ErrorCode::SerializationFailure => 409,
            ErrorCode::InsufficientPrivilege | ErrorCode::ReadOnly => 403,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::StoreUnavailable => 503,
            ErrorCode::Timeout => 504,
            ErrorCode::ConfigInvalid | ErrorCode::Internal => 500,
            ErrorCode::ObjectNotFound | ErrorCode::UploadNotFound => 404,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::RangeNotSatisfiable => 416,
            ErrorCode::LengthRequired => 411,
            ErrorCode::ChecksumMismatch => 400,
            ErrorCode::SignatureInvalid => 403,
            ErrorCode::ResultTooLarge => 400,
            ErrorCode::TableMoving => 503,
            ErrorCode::PlacementConflict => 409,
        }
    }

    /// Every code, for the catalogue test that keeps `docs/api.md` honest.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidBookmark,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::StoreUnavailable,
        ErrorCode::Timeout,
        ErrorCode::ConfigInvalid,
        ErrorCode::Internal,
        ErrorCode::UniqueViolation,
        ErrorCode::ForeignKeyViolation,
        ErrorCode::NotNullViolation,
        ErrorCode::CheckViolation,
        ErrorCode::SyntaxError,
        ErrorCode::UndefinedTable,
        ErrorCode::UndefinedColumn,
        ErrorCode::SerializationFailure,
        ErrorCode::InsufficientPrivilege,
        ErrorCode::ReadOnly,
        ErrorCode::SqlError,
        ErrorCode::RestParse,
        ErrorCode::RestUnknownColumn,
        ErrorCode::RestNotSingular,
        ErrorCode::RestRangeNotSatisfiable,
        ErrorCode::RestNotAcceptable,
        ErrorCode::RestNoRelationship,
        ErrorCode::RestAmbiguousRelationship,
        ErrorCode::RestInvalidPreference,
        ErrorCode::ObjectNotFound,
        ErrorCode::UploadNotFound,
        ErrorCode::PreconditionFailed,
        ErrorCode::RangeNotSatisfiable,
        ErrorCode::LengthRequired,
        ErrorCode::ChecksumMismatch,
        ErrorCode::SignatureInvalid,
        ErrorCode::ResultTooLarge,
        ErrorCode::TableMoving,
        ErrorCode::PlacementConflict,
    ];
}

/// A failure as the client sees it, plus the response headers it implies
/// (`Allow`, `WWW-Authenticate`, `Retry-After`) and, for the log only, its
/// internal cause.
///
/// Boxed: it is the `Err` of nearly every function, and a pointer keeps
/// those `Result`s small. Its fields read as `e.code`, `e.message`, ...
/// through `Deref`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError(Box<ApiErrorFields>);

/// The fields of an [`ApiError`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApiErrorFields {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// One sentence for a human; safe to show (no internals).
    pub message: String,
    /// Structured facts a client can act on (a SQLSTATE, failing stores, ...).
    pub details: Option<Value>,
    /// What to do about it, when we know.
    pub hint: Option<String>,
    /// Extra response headers this error requires.
    pub headers: Vec<(&'static str, String)>,
    /// What really happened, for the log line of the request: never in a
    /// response. Written by the pipeline, once.
    pub cause: Option<String>,
}

impl std::ops::Deref for ApiError {
    type Target = ApiErrorFields;
    fn deref(&self) -> &ApiErrorFields {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorFields {
        &mut self.0
    }
}

/// The JSON body of every error response.
#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'a str,
    details: &'a Option<Value>,
    hint: &'a Option<String>,
}

impl ApiError {
    /// An error with a code and message and nothing else.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(Box::new(ApiErrorFields {
            code,
            message: message.into(),
            details: None,
            hint: None,
            headers: Vec::new(),
            cause: None,
        }))
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 404 for a path no route serves.
    pub fn not_found() -> Self {
        ApiError::new(ErrorCode::NotFound, "no such route")
    }

    /// 405 naming the methods the path does support.
    pub fn method_not_allowed(allow: &[&str]) -> Self {
        let allow = allow.join(", ");
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            "method not allowed for this route",
        )
        .with_details(serde_json::json!({ "allow": allow }))
        .with_header("Allow", allow)
    }

    /// 401 with the `WWW-Authenticate` challenge RFC 6750 asks for.
    pub fn unauthorized(message: &str) -> Self {
        ApiError::new(ErrorCode::Unauthorized, message)
            .with_header("WWW-Authenticate", "Bearer realm=\"strata\"")
            .with_hint("send Authorization: Bearer <api key>")
    }

    /// 403 naming the missing scope.
    pub fn forbidden_scope(scope: &str) -> Self {
        ApiError::new(
            ErrorCode::Forbidden,
            format!("this key lacks the scope {scope}"),
        )
        .with_details(serde_json::json!({ "requiredScope": scope }))
    }

    /// 500 for a missing or invalid setting; names the setting, never its value.
    pub fn config(setting: &str, problem: &str) -> Self {
        ApiError::new(
            ErrorCode::ConfigInvalid,
            format!("server configuration error: {setting} {problem}"),
        )
        .with_details(serde_json::json!({ "setting": setting }))
    }

    /// The internal cause, for the log only.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// What a timeout means for a request that writes: the store may have
    /// committed before the answer was lost, so retrying is not safe — say
    /// so (`details.retryable: false`). Any other error is returned as is.
    pub fn for_write(self) -> Self {
        if self.code != ErrorCode::Timeout {
            return self;
        }
        let store = self
            .details
            .as_ref()
            .and_then(|d| d.get("store"))
            .and_then(Value::as_str)
            .unwrap_or("the")
            .to_string();
        let mut write = ApiError::new(
            ErrorCode::Timeout,
            format!("the {store} store did not answer in time; the write may have been applied"),
        )
        .with_details(serde_json::json!({ "store": store, "retryable": false }))
        .with_hint("read the data back before retrying: a retry may apply the write twice");
        // The log still says what happened.
        write.cause = self.cause.clone();
        write
    }

    /// 400 for a result over `limit` bytes (`MAX_RESULT_BYTES`): the store's
    /// answer is not read past the limit, so one request cannot exhaust the
    /// isolate's memory.
    pub fn result_too_large(limit: u64) -> Self {
        ApiError::new(
            ErrorCode::ResultTooLarge,
            format!("the result is larger than {limit} bytes"),
        )
        .with_details(serde_json::json!({ "limit": limit }))
        .with_hint(
            "select fewer rows or columns: page with limit/offset, a REST cursor or a WHERE range",
        )
    }

    /// 500 with a generic message; the cause belongs in the log only.
    pub fn internal() -> Self {
        ApiError::new(ErrorCode::Internal, "internal error")
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let body = ErrorBody {
            code: self.code.as_str(),
            message: &self.message,
            details: &self.details,
            hint: &self.hint,
        };
        // Serialising plain strings and `Value`s cannot fail.
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{\"code\":\"internal\"}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_four_postgrest_fields() {
        let e = ApiError::new(ErrorCode::InvalidRequest, "bad").with_hint("fix it");
        let v: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": "invalid_request", "message": "bad", "details": null, "hint": "fix it"})
        );
    }

    #[test]
    fn statuses_follow_the_code() {
        assert_eq!(ApiError::not_found().status(), 404);
        assert_eq!(ApiError::unauthorized("x").status(), 401);
        assert_eq!(ApiError::forbidden_scope("d1:read").status(), 403);
        assert_eq!(ApiError::config("DATABASE_URL", "is not set").status(), 500);
        assert_eq!(ErrorCode::StoreUnavailable.status(), 503);
        assert_eq!(ErrorCode::Timeout.status(), 504);
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let e = ApiError::method_not_allowed(&["GET", "HEAD"]);
        assert_eq!(e.status(), 405);
        assert_eq!(e.headers, vec![("Allow", "GET, HEAD".to_string())]);
    }

    #[test]
    fn unauthorized_challenges_bearer() {
        let e = ApiError::unauthorized("missing key");
        assert!(e
            .headers
            .iter()
            .any(|(n, v)| *n == "WWW-Authenticate" && v.starts_with("Bearer")));
    }

    #[test]
    fn config_error_names_the_setting_only() {
        let e = ApiError::config("DATABASE_URL", "is not a postgres:// URL");
        assert!(e.message.contains("DATABASE_URL"));
        assert_eq!(
            e.details,
            Some(serde_json::json!({"setting": "DATABASE_URL"}))
        );
    }

    #[test]
    fn api_docs_catalogue_lists_every_code_with_its_status() {
        let api_docs = include_str!("../../../docs/api.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.status());
            assert!(
                api_docs.contains(&row),
                "docs/api.md error catalogue lacks {row}"
            );
        }
    }

    #[test]
    fn write_timeouts_are_not_retryable() {
        let read = ApiError::new(ErrorCode::Timeout, "the neon store did not answer in time")
            .with_details(serde_json::json!({"store": "neon", "retryable": true}))
            .with_cause("neon timed out");
        let write = read.clone().for_write();
        assert_eq!(write.status(), 504);
        assert_eq!(
            write.details,
            Some(serde_json::json!({"store": "neon", "retryable": false}))
        );
        assert!(write.message.contains("may have been applied"));
        assert_eq!(write.cause.as_deref(), Some("neon timed out"));
        let other = ApiError::new(ErrorCode::SyntaxError, "x");
        assert_eq!(other.clone().for_write(), other);
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
        }
    }
}
