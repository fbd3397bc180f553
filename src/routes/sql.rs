//! `POST /v1/{d1,pg}/query` and `POST /v1/{d1,pg}/batch`: parameterised SQL
//! on either store, with one request and response shape.
//!
//! Access: `sql` or `admin` run anything; `sql:read` runs only statements
//! that cannot write — enforced by Postgres itself on pg (the read-only role
//! of `DATABASE_URL_READ`, or a `READ ONLY` transaction that refuses
//! transaction control), and on D1 by `strata_core::sql::readonly`, a check
//! proven against SQLite, before D1 is called. The store scopes (`d1:*`,
//! `pg:*`) grant the REST tables only, never raw SQL.

use crate::ctx::{Caller, Ctx};
use crate::http;
use crate::stores;
use strata_core::sql::readonly::ensure_read_only;
use strata_core::sql::request::{BatchRequest, Isolation, QueryRequest, Statement};
use strata_core::sql::result::{BatchResult, RowMode, SqlResult};
use strata_core::sql::{access, Access, Store};
use strata_core::ApiError;
use worker::{Request, Response};

/// One statement.
pub async fn query(
    mut req: Request,
    ctx: &Ctx,
    caller: &Caller,
    store: Store,
) -> Result<Response, ApiError> {
    let read_only = access(&caller.principal)? == Access::ReadOnly;
    let body = http::read_json_body(&mut req, &ctx.env).await?;
    let request = QueryRequest::parse(store, &body)?;
    let statements = [request.statement];
    let mut results = execute(ctx, store, &statements, read_only, None, request.row_mode).await?;
    let result = results.pop().ok_or_else(ApiError::internal)?;
    http::json(200, &result)
}

/// Statements run atomically.
pub async fn batch(
    mut req: Request,
    ctx: &Ctx,
    caller: &Caller,
    store: Store,
) -> Result<Response, ApiError> {
    let key_read_only = access(&caller.principal)? == Access::ReadOnly;
    let body = http::read_json_body(&mut req, &ctx.env).await?;
    let request = BatchRequest::parse(store, &body)?;
    let read_only = key_read_only || request.read_only;
    let results = execute(
        ctx,
        store,
        &request.statements,
        read_only,
        request.isolation,
        request.row_mode,
    )
    .await?;
    http::json(200, &BatchResult { results })
}

async fn execute(
    ctx: &Ctx,
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
    stores::run_sql(&ctx.env, store, statements, read_only, isolation, mode).await
}
