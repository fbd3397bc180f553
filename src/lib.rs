//! The Strata Worker: the thin shell between the Workers runtime and the
//! pure core (`strata-core`).
//!
//! # Layout
//!
//! * [`app`] — the request pipeline: request id, route, auth (once, as the
//!   route table declares), dispatch, one error format, one log line.
//! * [`ctx`] — what a handler gets: the environment, the route, the caller.
//! * `routes/` — one file per route: parse the request, run the operation,
//!   answer. Each has the same shape.
//! * `stores/` — adapters for D1, R2 and Neon (SQL over HTTP); nothing else
//!   touches a binding.
//! * `auth/` — bearer JWTs: HS256 in the core, RS256/ES256 with WebCrypto
//!   and the cached JWKS.
//! * [`http`] — building responses (JSON bodies, the error body, headers).
//! * [`settings`] — reading vars and secrets into the core's typed config.

use worker::{event, Context, Env, Request, Response, Result};

mod app;
mod auth;
mod ctx;
mod http;
mod routes;
mod settings;
mod stores;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    Ok(app::handle(req, env).await)
}
