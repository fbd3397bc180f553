//! `POST /v1/{d1,pg}/query` and `POST /v1/{d1,pg}/batch`: parameterised SQL
//! on either store, with one request and response shape.
//!
//! Access: `sql`, `admin` or the store's write scope run anything; the read
//! scope runs only statements that cannot write — enforced by Postgres
//! itself (a `READ ONLY` transaction) on pg, and by
//! `strata_core::sql::readonly` before D1 is called.

use crate::app::Ctx;
use crate::stores::neon::NeonClient;
use crate::stores::{self, StoreError};
use crate::{http, settings};
use strata_core::sql::readonly::ensure_read_only;
use strata_core::sql::request::{BatchRequest, Isolation, QueryRequest, Statement};
use strata_core::sql::result::{BatchResult, RowMode, SqlResult};
use strata_core::sql::{access, Access, Store};
use strata_core::ApiError;
use worker::{Request, Response};

/// One statement.
pub async fn query(mut req: Request, ctx: &mut Ctx, store: Store) -> Result<Response, ApiError> {
    let principal = ctx.authenticate(&req)?;
    let read_only = access(principal, store)? == Access::ReadOnly;
    let body = http::read_json_body(&mut req, &ctx.env).await?;
    let request = QueryRequest::parse(store, &body)?;
    let statements = [request.statement];
    let mut results = execute(ctx, store, &statements, read_only, None, request.row_mode).await?;
    let result = results.pop().ok_or_else(ApiError::internal)?;
    http::json(200, &result)
}

/// Statements run atomically.
pub async fn batch(mut req: Request, ctx: &mut Ctx, store: Store) -> Result<Response, ApiError> {
    let principal = ctx.authenticate(&req)?;
    let key_read_only = access(principal, store)? == Access::ReadOnly;
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
    let timeout = settings::store_timeout_ms(&ctx.env)?;
    match store {
        Store::D1 => {
            if read_only {
                for s in statements {
                    ensure_read_only(&s.sql)?;
                }
            }
            let run = async { Ok(stores::d1::run(&ctx.env, statements, mode).await) };
            stores::with_timeout("d1", timeout, run)
                .await
                .map_err(ApiError::from)?
        }
        Store::Pg => {
            // The Neon client applies the same timeout and aborts the subrequest.
            let client = NeonClient::from_env(&ctx.env).map_err(|e: StoreError| ApiError::from(e))?;
            client.run(statements, read_only, isolation, mode).await
        }
    }
}
