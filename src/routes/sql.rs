//! `POST /v1/{d1,pg}/query` and `POST /v1/{d1,pg}/batch`: parameterised SQL
//! on either store, with one request and response shape.
//!
//! The operation is `strata_core::sql::service`: who may run SQL is decided
//! before the body is read (`sql` or `admin`: anything; `sql:read`: only
//! statements that cannot write; the store scopes grant REST tables only),
//! then the body is parsed, checked and run through the SQL stores into one
//! reply.

use crate::ctx::{Caller, Ctx};
use crate::http;
use crate::stores::SqlBindings;
use strata_core::sql::service::{self, Kind};
use strata_core::sql::{access, Store};
use strata_core::ApiError;
use worker::{Request, Response};

/// One statement (`Kind::Query`) or a batch (`Kind::Batch`).
pub async fn handle(
    mut req: Request,
    ctx: &Ctx,
    caller: &Caller,
    store: Store,
    kind: Kind,
) -> Result<Response, ApiError> {
    let access = access(&caller.principal)?;
    let body = http::read_json_body(&mut req, &ctx.env).await?;
    let reply = service::execute(store, kind, access, &body, &SqlBindings::new(&ctx.env)).await?;
    Ok(http::reply(reply))
}
