//! The request pipeline shared by every route.

use crate::ctx::{Caller, Ctx};
use crate::http::Out;
use crate::{auth, http, routes, settings};
use strata_core::cors::CorsPolicy;
use strata_core::http::RequestHead;
use strata_core::log::RequestLog;
use strata_core::request_id::RequestId;
use strata_core::router::{self, Auth, RouteId};
use strata_core::sql::service::Kind;
use strata_core::{ApiError, ErrorCode};
use worker::{web_sys, Env, Request};

/// Runs one request to completion: never fails, every error becomes the
/// project's error response.
pub async fn handle(req: Request, env: Env) -> web_sys::Response {
    let started = http::now_ms();
    settings::attach(&env);
    let head = http::head(&req);
    let request_id = request_id_for(&head);
    // The method as sent (`head.method`): `worker::Method` reads any method
    // it does not know (e.g. QUERY) as GET, which would serve it as a GET
    // instead of a 405.
    let method = head.method.clone();
    let origin = head.header("origin").map(str::to_string);
    let preflight = CorsPolicy::is_preflight(
        &method,
        origin.as_deref(),
        head.header("access-control-request-method"),
    );
    let request_headers = head
        .header("access-control-request-headers")
        .map(str::to_string);
    let cors = settings::cors(&env);
    let routed = router::route(&method, head.path());
    // Signed-object URLs keep their own any-origin CORS: the URL is the credential.
    let own_cors = matches!(&routed, Ok(m) if m.id == RouteId::SignedObject);

    let (result, route_name, key_id) = match (routed, &cors) {
        (_, Err(e)) => (Err(e.clone()), "unmatched", None),
        (Ok(route), Ok(_)) => {
            let pattern = route.pattern;
            let mut ctx = Ctx {
                env,
                head,
                request_id: request_id.clone(),
                route,
                key_id: None,
            };
            let result = match ctx.route.auth {
                Auth::Credential => match auth::authenticate(&ctx.head, &ctx.env).await {
                    Ok(caller) => {
                        ctx.key_id = Some(caller.principal.key_id.clone());
                        dispatch(req, &mut ctx, Some(&caller)).await
                    }
                    Err(e) => Err(e),
                },
                Auth::Public | Auth::SignedUrl => dispatch(req, &mut ctx, None).await,
            };
            let key_id = ctx.key_id;
            (result, pattern, key_id)
        }
        // A preflight is answered for any path a route serves, before auth
        // (the router knows no OPTIONS: 405 means the path exists).
        (Err(e), Ok(_)) if preflight && e.code == ErrorCode::MethodNotAllowed => {
            (Ok(http::empty(204)), "preflight", None)
        }
        (Err(e), Ok(_)) => (Err(e), "unmatched", None),
    };

    let (mut response, error_code) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            // The one place an error's internal cause is logged.
            if let Some(cause) = &e.cause {
                worker::console_error!("{} {route_name}: {cause}", request_id.as_str());
            }
            (http::error_response(&e), Some(e.code.as_str()))
        }
    };
    response.headers.set("x-request-id", request_id.as_str());
    if let (Ok(policy), false) = (&cors, own_cors) {
        let headers = match (route_name, origin.as_deref()) {
            ("preflight", Some(origin)) => policy.preflight(origin, request_headers.as_deref()),
            _ => {
                let mut headers = policy.actual(origin.as_deref());
                policy.expose_present(&mut headers, response.headers.names());
                headers
            }
        };
        http::add_cors(&mut response, headers);
    }

    let finished = http::now_ms();
    let line = RequestLog {
        method: &method,
        route: route_name,
        status: response.status,
        duration_ms: finished.saturating_sub(started) as f64,
        request_id: request_id.as_str(),
        key_id: key_id.as_deref(),
        error: error_code,
    }
    .to_line();
    worker::web_sys::console::log_1(&line.into());
    response.into_runtime()
}

/// Hands the request to its route's handler. `caller` is `Some` exactly for
/// [`Auth::Credential`] routes, which the pipeline authenticated.
async fn dispatch(req: Request, ctx: &mut Ctx, caller: Option<&Caller>) -> Result<Out, ApiError> {
    let caller = || caller.ok_or_else(ApiError::internal);
    match ctx.route.id {
        RouteId::Health => routes::health::handle(),
        RouteId::OpenApi => routes::openapi::handle(ctx).await,
        RouteId::SignedObject => routes::signed_urls::access(req, ctx).await,
        RouteId::S3 => routes::s3::handle(req, ctx).await,
        RouteId::Status => routes::status::handle(ctx).await,
        RouteId::SqlQuery(store) => {
            routes::sql::handle(req, ctx, caller()?, store, Kind::Query).await
        }
        RouteId::SqlBatch(store) => {
            routes::sql::handle(req, ctx, caller()?, store, Kind::Batch).await
        }
        RouteId::Rest => routes::rest::handle(req, ctx, caller()?).await,
        RouteId::RestRpc => routes::rpc::handle(req, ctx, caller()?).await,
        RouteId::ObjectList => routes::objects::list(req, ctx, caller()?).await,
        RouteId::Object => routes::objects::handle(req, ctx, caller()?).await,
        RouteId::SignedUrls => routes::signed_urls::create(req, ctx, caller()?).await,
        RouteId::AdminPlacement => routes::admin::list(ctx, caller()?).await,
        RouteId::AdminPlacementTable => routes::admin::table(req, ctx, caller()?).await,
    }
}

fn request_id_for(head: &RequestHead) -> RequestId {
    if let Some(id) = head.header("x-request-id").and_then(RequestId::from_client) {
        return id;
    }
    let mut bytes = [0u8; 16];
    // If the platform RNG ever failed, an all-zero id is still a valid id;
    // it must not fail the request.
    let _ = getrandom::fill(&mut bytes);
    RequestId::from_random(bytes)
}
