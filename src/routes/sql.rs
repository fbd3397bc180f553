//! `POST /v1/{d1,pg}/query` and `POST /v1/{d1,pg}/batch`: parameterised SQL
//! on either store, with one request and response shape.
//!
//! The operation is `strata_core::sql::service`: who may run SQL is decided
//! before the body is read (`sql` or `admin`: anything; `sql:read`: only
//! statements that cannot write; the store scopes grant REST tables only),
//! then the body is parsed, checked and run through the SQL stores into one
//! reply. D1 runs it in a session (`x-d1-bookmark` in, the latest bookmark
//! out, on errors too).

use crate::ctx::{Caller, Ctx};
use crate::http;
use crate::http::Out;
use crate::stores::SqlBindings;
use strata_core::sql::service::{self, Kind};
use strata_core::sql::session::with_bookmark;
use strata_core::sql::{access, Store};
use strata_core::ApiError;
use worker::Request;

/// One statement (`Kind::Query`) or a batch (`Kind::Batch`).
pub async fn handle(
    mut req: Request,
    ctx: &Ctx,
    caller: &Caller,
    store: Store,
    kind: Kind,
) -> Result<Out, ApiError> {
    let access = access(&caller.principal)?;
    let stores = SqlBindings::in_session(&ctx.env, &ctx.head)?;
    let body = http::read_json_body(&mut req, ctx).await?;
    let result = service::execute(store, kind, access, &body, &stores).await;
    Ok(http::reply(with_bookmark(result, stores.d1_bookmark())?))
}
