//! The request pipeline shared by every route.

use crate::{auth, http, routes, settings};
use strata_core::auth::Principal;
use strata_core::cors::CorsPolicy;
use strata_core::log::RequestLog;
use strata_core::request_id::RequestId;
use strata_core::router::{self, Matched, RouteId};
use strata_core::{ApiError, ErrorCode};
use worker::{Date, Env, Request, Response};

/// What a route handler gets besides the request.
pub struct Ctx {
    /// The bindings, vars and secrets.
    pub env: Env,
    /// The matched route and its path parameters.
    pub route: Matched,
    /// Who is calling, once [`Ctx::authenticate`] has run.
    pub principal: Option<Principal>,
    /// The outcome of checking a bearer JWT, done before dispatch (it may
    /// fetch the JWKS), with the token's `exp`; `None` when the credential
    /// is not a JWT.
    bearer_jwt: Option<Result<(Principal, u64), ApiError>>,
}

impl Ctx {
    /// Checks the bearer credential: an API key against `API_KEYS`, or a JWT
    /// (see [`crate::auth`]). Every route but health needs it.
    pub fn authenticate(&mut self, req: &Request) -> Result<&Principal, ApiError> {
        let principal = match &self.bearer_jwt {
            Some(verified) => verified.clone()?.0,
            None => {
                let keys = settings::key_ring(&self.env)?;
                let header = req.headers().get("authorization").ok().flatten();
                keys.authenticate(header.as_deref())?
            }
        };
        Ok(self.principal.insert(principal))
    }

    /// The `exp` of the JWT the request was authenticated with; `None` for
    /// an API key (keys do not expire: removing them from `API_KEYS` revokes
    /// them). What a caller makes with its credential, a signed URL, must
    /// not outlive it.
    pub fn token_expires(&self) -> Option<u64> {
        match &self.bearer_jwt {
            Some(Ok((_, exp))) => Some(*exp),
            _ => None,
        }
    }
}

/// Runs one request to completion: never fails, every error becomes the
/// project's error response.
pub async fn handle(req: Request, env: Env) -> Response {
    let started = Date::now().as_millis();
    let request_id = request_id_for(&req);
    // The method as sent: `worker::Method` reads any method it does not know
    // (e.g. QUERY) as GET, which would serve it as a GET instead of a 405.
    let method = req.inner().method();

    let header = |name: &str| req.headers().get(name).ok().flatten();
    let origin = header("origin");
    let preflight = CorsPolicy::is_preflight(
        &method,
        origin.as_deref(),
        header("access-control-request-method").as_deref(),
    );
    let request_headers = header("access-control-request-headers");
    let cors = settings::cors(&env);
    let routed = router::route(&method, &req.path());
    // Signed-object URLs keep their own any-origin CORS: the URL is the credential.
    let own_cors = matches!(&routed, Ok(m) if m.id == RouteId::SignedObject);

    let (result, route_name, key_id) = match (routed, &cors) {
        (_, Err(e)) => (Err(e.clone()), "unmatched", None),
        (Ok(route), Ok(_)) => {
            let pattern = route.pattern;
            let mut ctx = Ctx {
                env,
                route,
                principal: None,
                bearer_jwt: None,
            };
            if takes_credentials(ctx.route.id) {
                ctx.bearer_jwt = auth::verify_bearer_jwt(&req, &ctx.env).await;
            }
            let result = dispatch(req, &mut ctx).await;
            let key_id = ctx.principal.map(|p| p.key_id);
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
        Err(e) => (http::error_response(&e), Some(e.code.as_str())),
    };
    let _ = response
        .headers_mut()
        .set("x-request-id", request_id.as_str());
    if let (Ok(policy), false) = (&cors, own_cors) {
        let headers = match (route_name, origin.as_deref()) {
            ("preflight", Some(origin)) => policy.preflight(origin, request_headers.as_deref()),
            _ => policy.actual(origin.as_deref()),
        };
        http::add_cors(&mut response, headers);
    }

    let finished = Date::now().as_millis();
    let line = RequestLog {
        method: &method,
        route: route_name,
        status: response.status_code(),
        duration_ms: finished.saturating_sub(started) as f64,
        request_id: request_id.as_str(),
        key_id: key_id.as_deref(),
        error: error_code,
    }
    .to_line();
    worker::console_log!("{line}");
    response
}

async fn dispatch(req: Request, ctx: &mut Ctx) -> Result<Response, ApiError> {
    match ctx.route.id {
        RouteId::Health => routes::health::handle(),
        RouteId::Status => routes::status::handle(req, ctx).await,
        RouteId::OpenApi => routes::openapi::handle(),
        RouteId::SqlQuery(store) => routes::sql::query(req, ctx, store).await,
        RouteId::SqlBatch(store) => routes::sql::batch(req, ctx, store).await,
        RouteId::Rest => routes::rest::handle(req, ctx).await,
        RouteId::ObjectList => routes::objects::list(req, ctx).await,
        RouteId::Object => routes::objects::handle(req, ctx).await,
        RouteId::SignedUrls => routes::signed_urls::create(req, ctx).await,
        RouteId::SignedObject => routes::signed_urls::access(req, ctx).await,
    }
}

/// Routes whose handler calls [`Ctx::authenticate`]: only these check a
/// bearer JWT up front.
fn takes_credentials(id: RouteId) -> bool {
    !matches!(
        id,
        RouteId::Health | RouteId::OpenApi | RouteId::SignedObject
    )
}

fn request_id_for(req: &Request) -> RequestId {
    if let Some(id) = req
        .headers()
        .get("x-request-id")
        .ok()
        .flatten()
        .and_then(|v| RequestId::from_client(&v))
    {
        return id;
    }
    let mut bytes = [0u8; 16];
    // If the platform RNG ever failed, an all-zero id is still a valid id;
    // it must not fail the request.
    let _ = getrandom::fill(&mut bytes);
    RequestId::from_random(bytes)
}
