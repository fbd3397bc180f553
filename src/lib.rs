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

use wasm_bindgen::JsValue;
use worker::{event, web_sys, Context, Env, Request, Result};

mod app;
mod auth;
mod ctx;
mod http;
mod routes;
mod settings;
mod stores;

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    console_error_panic_hook::set_once();
    Ok(app::handle(without_cf(req), env).await)
}

/// The runtime's request as a `worker::Request`, without reading `cf`.
///
/// `worker::Request::from` reads `request.cf`, and the runtime builds that
/// object afresh on every read (parsing its JSON): ~6% of the CPU of a
/// `/v1/health` request in a profile, for an object Strata never looks at.
/// An own `cf` property (`undefined`) on the request shadows the getter, so
/// the conversion reads that instead. Should the runtime ever refuse the
/// property, the conversion just reads the real `cf` as before.
fn without_cf(req: web_sys::Request) -> Request {
    thread_local! {
        static CF: (JsValue, js_sys::Object) = (JsValue::from_str("cf"), js_sys::Object::new());
    }
    CF.with(|(key, undefined_value)| {
        let _ = js_sys::Reflect::define_property(&req, key, undefined_value);
    });
    Request::from(req)
}
