//! `/v1/admin/placement`: which store serves each REST table, and whether it
//! is moving (scope `admin`). The operation is
//! `strata_core::rest::admin`; this file reads the settings, the cached
//! run-time placement and the body, and forgets this isolate's cache after a
//! change (other isolates see it within `PLACEMENT_CACHE_SECONDS`).

use crate::ctx::{Caller, Ctx};
use crate::http::Out;
use crate::stores::{self, SqlBindings};
use crate::{http, settings};
use strata_core::auth::Scope;
use strata_core::rest::admin::{self, PutCommand};
use strata_core::rest::placement::Placement;
use strata_core::ApiError;
use worker::{Method, Request};

/// The placement as D1 has it now, not as this isolate cached it: the
/// admin routes are for whoever is about to act on it.
async fn fresh_placement(ctx: &Ctx) -> Result<Placement, ApiError> {
    stores::placement::forget();
    Ok(
        Placement::parse(settings::text(&ctx.env, "REST_TABLES").as_deref())?
            .with_runtime(stores::placement::runtime(&ctx.env).await?.to_vec()),
    )
}

/// `GET /v1/admin/placement`.
pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    caller.principal.require(Scope::Admin)?;
    let placement = fresh_placement(ctx).await?;
    let cache_seconds = stores::placement::cache_seconds(&ctx.env)?;
    let reply = admin::list(
        &caller.principal,
        &placement,
        cache_seconds,
        &SqlBindings::new(&ctx.env),
    )
    .await?;
    Ok(http::reply(reply))
}

/// `PUT` or `DELETE /v1/admin/placement/{table}`.
pub async fn table(req: Request, ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    caller.principal.require(Scope::Admin)?;
    if req.method() == Method::Delete {
        let placement = fresh_placement(ctx).await?;
        let table = ctx.route.param("table").unwrap_or_default();
        let result = admin::delete(
            table,
            &caller.principal,
            &placement,
            &SqlBindings::new(&ctx.env),
        )
        .await;
        stores::placement::forget();
        return Ok(http::reply(result?));
    }
    put(req, ctx, caller).await
}

/// `PUT /v1/admin/placement/{table}`.
async fn put(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    caller.principal.require(Scope::Admin)?;
    let body = http::read_json_body(&mut req, ctx).await?;
    let command = PutCommand::parse(
        ctx.route.param("table").unwrap_or_default(),
        &body,
        &caller.principal,
    )?;
    let placement = fresh_placement(ctx).await?;
    let result = admin::put(&command, &placement, &SqlBindings::new(&ctx.env)).await;
    stores::placement::forget();
    Ok(http::reply(result?))
}
