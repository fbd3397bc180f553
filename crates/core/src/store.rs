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
    /// An answer already decided as the client sees it: mostly the store
    /// refusing for the client's reason (a constraint, a syntax error, an
    /// unknown object...). The Neon and D1 adapters also pass their own
    /// mapped outages this way (`sql::errors` maps Postgres's and SQLite's
    /// failures by kind, 503/504 included), with the cause already attached.
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

// ---------------------------------------------------------------------------
// Objects (R2)
// ---------------------------------------------------------------------------

/// What a read of an object found.
// One per store call, moved once: boxing the metadata would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched<B> {
    /// No object has the key.
    Missing,
    /// The read was pinned to an etag and the object no longer has it: it
    /// changed since the read was decided. Nothing is streamed.
    Changed,
    /// The object's metadata and its body (the whole object, or the range
    /// asked for).
    Body(crate::objects::ObjectMeta, B),
}

/// A write's precondition, applied by the store atomically with the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Only if the current object still has this etag.
    Etag(String),
    /// Only if there is no object.
    Absent,
}

/// Most keys one [`ObjectStore::delete_many`] call takes: R2's limit for
/// one `delete` of an array of keys.
pub const MAX_KEYS_PER_DELETE: usize = 1000;

/// What the object routes need from R2.
///
/// Bodies are associated types so the Worker hands R2's and the request's
/// JavaScript streams through untouched (no byte enters wasm); the fakes use
/// bytes. A client-caused refusal (a checksum mismatch, an unknown upload
/// id, parts that do not fit) is [`StoreError::Refused`] with the client's
/// error already decided. Not `Send`, like [`SqlStores`].
#[allow(async_fn_in_trait)]
pub trait ObjectStore {
    /// A download's body: the object's bytes as the store streams them.
    type Body;
    /// An upload's body: the request's bytes, of a length declared before.
    type Upload;

    /// The object's metadata, or `None` when no object has the key.
    async fn head(
        &self,
        key: &crate::objects::ObjectKey,
    ) -> Result<Option<crate::objects::ObjectMeta>, StoreError>;

    /// Reads the object, or `range` of it. With `pin`, only the version with
    /// that etag is read ([`Fetched::Changed`] otherwise), so a read decided
    /// on an earlier `head` never streams a newer object.
    async fn get(
        &self,
        key: &crate::objects::ObjectKey,
        pin: Option<&str>,
        range: Option<crate::objects::range::ByteRange>,
    ) -> Result<Fetched<Self::Body>, StoreError>;

    /// Stops a body that will not be sent (a 304 or 412 decided on the
    /// metadata that came with it), so the store stops sending it too.
    fn discard(&self, body: Self::Body);

    /// Stores `body` (exactly `length` bytes; `None` when `length` is 0) as
    /// the object, with its metadata and the checksum the store verifies
    /// before the object becomes visible. `Ok(None)` when `pin` no longer
    /// holds: nothing was written.
    async fn put(
        &self,
        key: &crate::objects::ObjectKey,
        body: Option<Self::Upload>,
        length: u64,
        metadata: &crate::objects::metadata::UploadMetadata,
        checksum: Option<&crate::objects::upload::Checksum>,
        pin: Option<Pin>,
    ) -> Result<Option<crate::objects::ObjectMeta>, StoreError>;

    /// Deletes the object (absent is fine: deletes are idempotent).
    async fn delete(&self, key: &crate::objects::ObjectKey) -> Result<(), StoreError>;

    /// Deletes every object of `keys` (at most [`MAX_KEYS_PER_DELETE`];
    /// absent ones are fine) in one store call: a Worker invocation's
    /// binding calls are limited, and one call for many keys is one of them.
    /// An error says nothing of which keys went: deleting them again is
    /// harmless.
    async fn delete_many(&self, keys: &[crate::objects::ObjectKey]) -> Result<(), StoreError>;

    /// One page of keys, with each object's metadata.
    async fn list(
        &self,
        params: &crate::objects::list::ListParams,
    ) -> Result<crate::objects::list::ListPage, StoreError>;

    /// Starts a multipart upload; the metadata is the object's once
    /// completed. Answers the upload id.
    async fn create_upload(
        &self,
        key: &crate::objects::ObjectKey,
        metadata: &crate::objects::metadata::UploadMetadata,
    ) -> Result<String, StoreError>;

    /// Stores one part (exactly `length` bytes; `None` when 0); answers its
    /// etag, which completing needs.
    async fn upload_part(
        &self,
        key: &crate::objects::ObjectKey,
        upload_id: &str,
        part_number: u16,
        body: Option<Self::Upload>,
        length: u64,
    ) -> Result<String, StoreError>;

    /// Assembles the parts into the object.
    async fn complete_upload(
        &self,
        key: &crate::objects::ObjectKey,
        upload_id: &str,
        parts: &[crate::objects::multipart::PartRef],
    ) -> Result<crate::objects::ObjectMeta, StoreError>;

    /// Discards the upload and its parts. An upload already aborted or
    /// completed counts as aborted; an id never issued for the key is
    /// refused (`upload_not_found`).
    async fn abort_upload(
        &self,
        key: &crate::objects::ObjectKey,
        upload_id: &str,
    ) -> Result<(), StoreError>;
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
