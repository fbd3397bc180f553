//! The storage seam: the one error type store adapters return, and the
//! traits that say what the operations need from the stores.
//!
//! The Worker's adapters (`src/stores/`: D1 and R2 bindings, the Neon
//! client) implement these traits; core's tests implement them in memory,
//! with failures injected, so what an operation decides around a store call
//! (paging, ranges, retries, which error the client sees) is tested on the
//! host. A [`StoreError`] becomes an [`ApiError`] in one place
//! (`From<StoreError>`), which keeps the internal cause for the log line the
//! pipeline writes, never for the response.

use crate::error::{ApiError, ErrorCode};
use crate::rest::schema::Schema;
use crate::sql::request::{Isolation, Statement};
use crate::sql::result::{RowMode, SqlResult};
use crate::sql::Store;
use std::rc::Rc;

/// A store failed to do what was asked, or refused it.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The store refused the request for a reason that is the client's (a
    /// constraint, a syntax error, an unknown object...): already the
    /// client's error.
    Refused(ApiError),
    /// The store is misconfigured (a missing binding or setting).
    Config(ApiError),
    /// The store could not be reached or failed. `cause` is for the log only.
    Unavailable {
        /// `d1`, `r2` or `neon`: the names `/v1/status` uses.
        store: &'static str,
        /// Internal detail, never sent to a client.
        cause: String,
    },
    /// The store did not answer in time.
    Timeout {
        /// `d1`, `r2` or `neon`.
        store: &'static str,
    },
}

impl StoreError {
    /// An unavailable-store error with its internal cause.
    pub fn unavailable(store: &'static str, cause: impl std::fmt::Display) -> Self {
        StoreError::Unavailable {
            store,
            cause: cause.to_string(),
        }
    }

    /// What happened, for the log only (never for a response).
    pub fn cause(&self) -> String {
        match self {
            StoreError::Refused(e) => format!("refused: {}", e.message),
            StoreError::Config(e) => format!("store configuration: {}", e.message),
            StoreError::Unavailable { store, cause } => format!("{store} unavailable: {cause}"),
            StoreError::Timeout { store } => format!("{store} timed out"),
        }
    }

    /// A short, client-safe description (used in `/v1/status` details).
    pub fn summary(&self) -> &'static str {
        match self {
            StoreError::Refused(_) => "refused",
            StoreError::Config(_) => "misconfigured",
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::Timeout { .. } => "timeout",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let cause = e.cause();
        match e {
            StoreError::Refused(api) => api,
            StoreError::Config(api) => api.with_cause(cause),
            StoreError::Unavailable { store, .. } => ApiError::new(
                ErrorCode::StoreUnavailable,
                format!("the {store} store is unavailable"),
            )
            .with_details(serde_json::json!({ "store": store, "retryable": true }))
            .with_header("Retry-After", "1")
            .with_cause(cause),
            StoreError::Timeout { store } => ApiError::new(
                ErrorCode::Timeout,
                format!("the {store} store did not answer in time"),
            )
            .with_details(serde_json::json!({ "store": store, "retryable": true }))
            .with_cause(cause),
        }
    }
}

/// How a batch of statements runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Statements that cannot write: the database's read-only role on
    /// Postgres, checked statements on D1.
    pub read_only: bool,
    /// Postgres only.
    pub isolation: Option<Isolation>,
    /// How rows are shaped.
    pub mode: RowMode,
}

impl RunOptions {
    /// A read, rows as objects.
    pub const READ: RunOptions = RunOptions {
        read_only: true,
        isolation: None,
        mode: RowMode::Object,
    };
    /// A write, rows as objects.
    pub const WRITE: RunOptions = RunOptions {
        read_only: false,
        isolation: None,
        mode: RowMode::Object,
    };
}

/// What the SQL routes and REST need from D1 and Postgres.
///
/// Not `Send`: a Worker isolate is single-threaded and its futures hold
/// JavaScript values.
#[allow(async_fn_in_trait)]
pub trait SqlStores {
    /// Runs statements on `store`, atomically when there are several, one
    /// result per statement.
    async fn run(
        &self,
        store: Store,
        statements: &[Statement],
        options: RunOptions,
    ) -> Result<Vec<SqlResult>, StoreError>;

    /// The schema of `store`, with `table` in it if it exists (a cache may
    /// answer; it is consulted again once when the table is missing).
    async fn schema(&self, store: Store, table: &str) -> Result<Rc<Schema>, StoreError>;

    /// Forgets a cached schema (after an error that suggests it changed).
    fn forget_schema(&self, store: Store);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_conversion_keeps_the_cause_out_of_the_body() {
        let e = ApiError::from(StoreError::unavailable(
            "neon",
            "connect ECONNREFUSED 10.0.0.7",
        ));
        assert_eq!(e.status(), 503);
        assert!(!e.body().contains("10.0.0.7"), "{}", e.body());
        assert!(e.cause.as_deref().is_some_and(|c| c.contains("10.0.0.7")));
        assert_eq!(
            e.details.as_ref().map(|d| d["store"].clone()),
            Some("neon".into())
        );
        let e = ApiError::from(StoreError::Timeout { store: "d1" });
        assert_eq!(
            (e.status(), e.cause.as_deref()),
            (504, Some("d1 timed out"))
        );
        let client = ApiError::new(ErrorCode::UniqueViolation, "duplicate key");
        assert_eq!(ApiError::from(StoreError::Refused(client.clone())), client);
    }
}
