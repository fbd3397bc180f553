//! `POST /v1/{d1,pg}/query` and `/batch` as one operation: who may run SQL
//! ([`super::access`], before the body is read), then [`execute`] parses the
//! body, holds a read-only caller to statements that cannot write, runs
//! them through the [`SqlStores`] seam and answers with one [`Reply`].
//!
//! Read-only is enforced by the store itself on Postgres (the read-only role
//! of `DATABASE_URL_READ`, or a `READ ONLY` transaction that refuses
//! transaction control), and on D1 by [`super::readonly`] — a check proven
//! against SQLite — before D1 is called.

use super::readonly::ensure_read_only;
use super::request::{BatchRequest, Isolation, QueryRequest, Statement};
use super::result::{BatchResult, RowMode, SqlResult};
use super::{Access, Store};
use crate::error::ApiError;
use crate::http::Reply;
use crate::store::{RunOptions, SqlStores};

/// Which SQL route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One statement (`/query`).
    Query,
    /// Statements run atomically (`/batch`).
    Batch,
}

/// Runs a SQL request's `body` on `store` for a caller with `access`.
pub async fn execute<S: SqlStores>(
    store: Store,
    kind: Kind,
    access: Access,
    body: &[u8],
    stores: &S,
) -> Result<Reply, ApiError> {
    let key_read_only = access == Access::ReadOnly;
    match kind {
        Kind::Query => {
            let request = QueryRequest::parse(store, body)?;
            let statements = [request.statement];
            let mut results = run(
                stores,
                store,
                &statements,
                key_read_only,
                None,
                request.row_mode,
            )
            .await?;
            let result = results.pop().ok_or_else(ApiError::internal)?;
            Ok(Reply::json(200, &result))
        }
        Kind::Batch => {
            let request = BatchRequest::parse(store, body)?;
            let read_only = key_read_only || request.read_only;
            let results = run(
                stores,
                store,
                &request.statements,
                read_only,
                request.isolation,
                request.row_mode,
            )
            .await?;
            Ok(Reply::json(200, &BatchResult { results }))
        }
    }
}

async fn run<S: SqlStores>(
    stores: &S,
    store: Store,
    statements: &[Statement],
    read_only: bool,
    isolation: Option<Isolation>,
    mode: RowMode,
) -> Result<Vec<SqlResult>, ApiError> {
    if store == Store::D1 && read_only {
        // D1 has no read-only transactions: refuse anything that could write.
        for s in statements {
            ensure_read_only(&s.sql)?;
        }
    }
    // On D1, statements proven unable to write run as a read for any key:
    // their session may start at a nearby replica (`super::session`), and a
    // timeout is safe to retry.
    let read_only = read_only
        || store == Store::D1 && statements.iter().all(|s| ensure_read_only(&s.sql).is_ok());
    let options = RunOptions {
        read_only,
        isolation,
        mode,
    };
    stores.run(store, statements, options).await.map_err(|e| {
        let e = ApiError::from(e);
        // A timed-out write may have committed: not safe to retry blindly.
        if read_only {
            e
        } else {
            e.for_write()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::rest::schema::Schema;
    use crate::store::StoreError;
    use crate::testing::block_on;
    use serde_json::{json, Map};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Answers every run with one row per statement, or with `fail`.
    struct Fake {
        fail: Option<StoreError>,
        ran: RefCell<Vec<(Vec<String>, RunOptions)>>,
    }

    impl Fake {
        fn new(fail: Option<StoreError>) -> Fake {
            Fake {
                fail,
                ran: RefCell::new(Vec::new()),
            }
        }
    }

    impl SqlStores for Fake {
        async fn run(
            &self,
            _store: Store,
            statements: &[Statement],
            options: RunOptions,
        ) -> Result<Vec<SqlResult>, StoreError> {
            let sql = statements.iter().map(|s| s.sql.clone()).collect();
            self.ran.borrow_mut().push((sql, options));
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            Ok(statements
                .iter()
                .map(|_| SqlResult {
                    columns: Vec::new(),
                    rows: vec![json!({"one": 1})],
                    row_count: 1,
                    meta: Map::new(),
                })
                .collect())
        }

        async fn schema(&self, _: Store, _: &str) -> Result<Rc<Schema>, StoreError> {
            Ok(Rc::new(Schema::default()))
        }

        fn forget_schema(&self, _: Store) {}
    }

    fn exec(
        store: Store,
        kind: Kind,
        access: Access,
        body: &str,
        fake: &Fake,
    ) -> Result<Reply, ApiError> {
        block_on(execute(store, kind, access, body.as_bytes(), fake))
    }

    #[test]
    fn a_query_answers_its_result() {
        let fake = Fake::new(None);
        let r = exec(
            Store::Pg,
            Kind::Query,
            Access::ReadWrite,
            r#"{"sql": "select 1 as one"}"#,
            &fake,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json_body().unwrap()["rows"], json!([{"one": 1}]));
        assert!(!fake.ran.borrow()[0].1.read_only);
    }

    #[test]
    fn d1_statements_that_cannot_write_run_as_reads_for_any_key() {
        // What a D1 session starts from depends on it (`super::session`).
        for (sql, read) in [("select 1", true), ("insert into t values (1)", false)] {
            let fake = Fake::new(None);
            let body = format!(r#"{{"sql": "{sql}"}}"#);
            exec(Store::D1, Kind::Query, Access::ReadWrite, &body, &fake).unwrap();
            assert_eq!(fake.ran.borrow()[0].1.read_only, read, "{sql}");
        }
        let fake = Fake::new(None);
        let body = r#"{"statements": [{"sql": "select 1"}, {"sql": "delete from t"}]}"#;
        exec(Store::D1, Kind::Batch, Access::ReadWrite, body, &fake).unwrap();
        assert!(!fake.ran.borrow()[0].1.read_only);
    }

    #[test]
    fn read_only_callers_are_held_to_reads() {
        // D1: the statement is checked before the store is called.
        let fake = Fake::new(None);
        let e = exec(
            Store::D1,
            Kind::Query,
            Access::ReadOnly,
            r#"{"sql": "delete from t"}"#,
            &fake,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ReadOnly);
        assert!(fake.ran.borrow().is_empty());
        // Postgres: the store runs it read-only (the database refuses writes).
        let fake = Fake::new(None);
        exec(
            Store::Pg,
            Kind::Query,
            Access::ReadOnly,
            r#"{"sql": "select 1"}"#,
            &fake,
        )
        .unwrap();
        assert!(fake.ran.borrow()[0].1.read_only);
        // A writing key's batch that asks for readOnly gets it too.
        let fake = Fake::new(None);
        let body =
            r#"{"statements": [{"sql": "select 1"}, {"sql": "select 2"}], "readOnly": true}"#;
        let r = exec(Store::Pg, Kind::Batch, Access::ReadWrite, body, &fake).unwrap();
        assert_eq!(
            r.json_body().unwrap()["results"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(fake.ran.borrow()[0].1.read_only);
        let fake = Fake::new(None);
        let body = r#"{"statements": [{"sql": "select 1"}, {"sql": "update t set a = 1"}], "readOnly": true}"#;
        assert_eq!(
            exec(Store::D1, Kind::Batch, Access::ReadWrite, body, &fake)
                .unwrap_err()
                .code,
            ErrorCode::ReadOnly
        );
        assert!(fake.ran.borrow().is_empty());
    }

    #[test]
    fn failures_map_once_and_write_timeouts_are_not_retryable() {
        let timeout = || Fake::new(Some(StoreError::Timeout { store: "d1" }));
        let read = exec(
            Store::D1,
            Kind::Query,
            Access::ReadOnly,
            r#"{"sql": "select 1"}"#,
            &timeout(),
        )
        .unwrap_err();
        assert_eq!(read.status(), 504);
        assert_eq!(read.details.as_ref().unwrap()["retryable"], true);
        let write = exec(
            Store::D1,
            Kind::Query,
            Access::ReadWrite,
            r#"{"sql": "insert into t values (1)"}"#,
            &timeout(),
        )
        .unwrap_err();
        assert_eq!(write.status(), 504);
        assert_eq!(write.details.as_ref().unwrap()["retryable"], false);

        let down = Fake::new(Some(StoreError::unavailable("neon", "socket hang up")));
        let e = exec(
            Store::Pg,
            Kind::Query,
            Access::ReadOnly,
            r#"{"sql": "select 1"}"#,
            &down,
        )
        .unwrap_err();
        assert_eq!(
            (e.status(), e.cause.as_deref()),
            (503, Some("neon unavailable: socket hang up"))
        );

        // A bad body never reaches the store.
        let fake = Fake::new(None);
        assert_eq!(
            exec(Store::Pg, Kind::Query, Access::ReadWrite, "{", &fake)
                .unwrap_err()
                .status(),
            400
        );
        assert!(fake.ran.borrow().is_empty());
    }
}
