//! `/v1/rest/{table}`: PostgREST's grammar over tables on D1 or Postgres.
//!
//! The whole operation is `strata_core::rest::service`: the request becomes
//! one command (the table's store — `REST_TABLES` with the run-time
//! placement cached in `stores::placement` merged over it — the scope, the
//! URL grammar, the headers), and the command runs through the SQL stores
//! into one reply. This file only reads the request and the settings, reads
//! a bounded JSON body when the command needs one, and copies the reply into
//! the response. A D1 table's statements run in the request's D1 session
//! (`x-d1-bookmark` in, the latest bookmark out).

use crate::ctx::{Caller, Ctx};
use crate::http::Out;
use crate::stores::{self, SqlBindings};
use crate::{http, settings};
use strata_core::rest::placement::Placement;
use strata_core::rest::service::{self, Command, Limits};
use strata_core::sql::session::with_bookmark;
use strata_core::ApiError;
use worker::Request;

/// Handles every method on a table.
pub async fn handle(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    let stores = SqlBindings::in_session(&ctx.env, &ctx.head)?;
    let placement = current_placement(ctx).await?;
    let limits = Limits {
        max_rows: settings::number(&ctx.env, "REST_MAX_ROWS", 1000)?,
        max_insert_rows: settings::number(&ctx.env, "REST_MAX_INSERT_ROWS", 1000)?,
    };
    let command = Command::parse(
        &ctx.head.method,
        ctx.route.param("table").unwrap_or_default(),
        &ctx.head.url,
        &ctx.head.headers,
        &caller.principal,
        &placement,
        limits,
    )?;
    let body = if command.needs_body() {
        let body = http::read_json_body(&mut req, ctx).await?;
        command.still_writable(&current_placement(ctx).await?)?;
        Some(body)
    } else {
        None
    };
    let result = service::execute(&command, body.as_deref(), &stores).await;
    Ok(http::reply(with_bookmark(result, stores.d1_bookmark())?))
}

/// Where the tables are: `REST_TABLES`, overridden by the run-time rows
/// (cached per isolate for `PLACEMENT_CACHE_SECONDS`). Read outside the
/// request's D1 session, at the primary: a write is checked against it, and
/// a lagging replica's placement could let a write land on a frozen table.
pub(crate) async fn current_placement(ctx: &Ctx) -> Result<Placement, ApiError> {
    Ok(
        Placement::parse(settings::text(&ctx.env, "REST_TABLES").as_deref())?
            .with_runtime(stores::placement::runtime(&ctx.env).await?.to_vec()),
    )
}
