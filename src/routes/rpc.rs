//! `/v1/rest/rpc/{function}`: a Postgres function, PostgREST's way.
//!
//! The whole operation is `strata_core::rest::rpc`: the request becomes one
//! command (exposure through `REST_TABLES` as `rpc/<name>`, the scope, the
//! query and headers), then runs through the SQL stores into one reply.
//! This file reads the settings and a bounded JSON body for `POST`.

use crate::ctx::{Caller, Ctx};
use crate::http::Out;
use crate::stores::SqlBindings;
use crate::{http, settings};
use strata_core::rest::rpc::{self, RpcCommand};
use strata_core::rest::service::Limits;
use strata_core::ApiError;
use worker::Request;

/// Handles `GET` and `POST`.
pub async fn handle(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    let placement = super::rest::current_placement(ctx).await?;
    let limits = Limits {
        max_rows: settings::number(&ctx.env, "REST_MAX_ROWS", 1000)?,
        max_insert_rows: settings::number(&ctx.env, "REST_MAX_INSERT_ROWS", 1000)?,
    };
    let command = RpcCommand::parse(
        &ctx.head.method,
        ctx.route.param("function").unwrap_or_default(),
        &ctx.head.url,
        &ctx.head.headers,
        &caller.principal,
        &placement,
        limits,
    )?;
    let body = if command.needs_body() {
        Some(http::read_json_body(&mut req, ctx).await?)
    } else {
        None
    };
    let reply = rpc::execute(&command, body.as_deref(), &SqlBindings::new(&ctx.env)).await?;
    Ok(http::reply(reply))
}
