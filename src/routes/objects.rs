//! `/v1/objects`: objects in R2 with the semantics HTTP promises.
//!
//! `GET /v1/objects` lists; `/v1/objects/{key}` reads (`GET`, `HEAD`),
//! writes (`PUT`), deletes (`DELETE`) and runs multipart uploads (`POST
//! ?uploads`, `PUT ?uploadId=&partNumber=`, `POST ?uploadId=`, `DELETE
//! ?uploadId=`). What each request means and what to answer is decided by
//! `strata_core::objects::service` (which store calls, and why, is written
//! there); this file reads the request's parts, hands core the body it asks
//! for, and copies core's answer into the response. No body byte passes
//! through wasm: R2's stream becomes the response body, the request's
//! stream becomes R2's input.

use crate::ctx::{Caller, Ctx};
use crate::http;
use crate::http::{Body as OutBody, Out};
use crate::stores::r2::Store;
use strata_core::objects::service::{self, Body, Command, Input, ObjectReply};
use strata_core::ApiError;
use worker::web_sys::ReadableStream;
use worker::Request;

/// `GET /v1/objects?prefix=&delimiter=&cursor=&limit=`.
pub async fn list(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    let command = Command::list(ctx.head.raw_query(), &caller.principal)?;
    run(&mut req, ctx, command).await
}

/// Every method on `/v1/objects/{key}`.
pub async fn handle(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    let command = Command::parse(
        &ctx.head.method,
        ctx.route.param("key"),
        ctx.head.raw_query(),
        &ctx.head.headers,
        &caller.principal,
    )?;
    run(&mut req, ctx, command).await
}

/// Runs a parsed command against R2: the body it needs, then core's answer
/// as the response.
pub async fn run(req: &mut Request, ctx: &Ctx, command: Command) -> Result<Out, ApiError> {
    let store = Store::open(&ctx.env)?;
    let (upload, json) = match command.input() {
        Input::None => (None, None),
        // The request's own JavaScript stream, which R2 reads directly.
        Input::Stream => (req.inner().body(), None),
        Input::Json => (None, Some(http::read_json_body(req, ctx).await?)),
    };
    let answer = service::execute(command, &store, upload, json.as_deref()).await?;
    Ok(respond(answer))
}

/// The runtime response for core's answer. The metadata headers go first,
/// so the reply's own (ending with the content-safety headers) come after
/// them. A stream body is R2's, handed over untouched with `Manual`
/// encoding: the bytes are sent exactly as stored, also when the object has
/// a `Content-Encoding` (the runtime would otherwise compress them again),
/// and the runtime sets `Content-Length` from the stream's known length.
fn respond(answer: ObjectReply<ReadableStream>) -> Out {
    let ObjectReply {
        reply,
        metadata_headers,
    } = answer;
    let out = Out::new(reply.status)
        .with_headers(metadata_headers)
        .with_headers(reply.headers);
    match reply.body {
        Some(Body::Stream(stream)) => out.with_body(OutBody::Stream(stream)).manual(),
        Some(Body::Json(bytes)) => out.with_body(OutBody::Bytes(bytes)),
        None => out.manual(),
    }
}
