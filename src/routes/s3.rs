//! `/s3`: the S3-compatible API, for the S3 SDKs and tools.
//!
//! Core decides everything (`strata_core::s3`): the SigV4 signature (the
//! credential, checked here instead of the pipeline's API keys), the
//! operation and its scope, the answer in S3's XML. This file reads the
//! request's parts, hands core the body it asks for, and writes S3's
//! answer or S3's XML error (HEAD errors carry no body).
//!
//! An upload's body goes to R2 untouched when nothing needs checking that
//! R2 cannot check itself (unsigned, or a signed SHA-256, which R2
//! verifies). An aws-chunked body (the SDKs' default for streams), or one
//! with an `x-amz-checksum-*` R2 cannot verify (CRC32 is the SDKs'
//! default), passes through the Worker once, chunk by chunk: the framing
//! is removed and the checksum computed as it streams, and the last chunk
//! is held back until the checksum matched, so a mismatch never completes
//! the object in R2.

use crate::ctx::Ctx;
use crate::http;
use crate::http::{Body, Out};
use crate::settings;
use crate::stores::r2::Store;
use futures_util::StreamExt;
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use strata_core::http::RequestHeaders;
use strata_core::s3::checksum::{BodyCheck, Expected};
use strata_core::s3::chunked::ChunkedDecoder;
use strata_core::s3::credentials::{S3Credentials, SETTING};
use strata_core::s3::service::{self, Input, S3Body, S3Command, S3Reply, Target};
use strata_core::s3::sigv4::{self, Authenticated, Payload, SignedRequest};
use strata_core::s3::xml::MAX_XML_BYTES;
use strata_core::s3::{S3Error, BUCKET_SETTING, DEFAULT_BUCKET};
use strata_core::ApiError;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::web_sys::{ReadableStream, TransformStream};
use worker::Request;

/// Every request on `/s3`, `/s3/{bucket}` and `/s3/{bucket}/{*key}`.
pub async fn handle(mut req: Request, ctx: &mut Ctx) -> Result<Out, ApiError> {
    let method = ctx.head.method.clone();
    let path = ctx.head.path().to_string();
    let result = serve(&mut req, ctx, &method, &path).await;
    let out = match result {
        Ok(response) => response,
        Err(e) => {
            // The one place an S3 error's internal cause is logged.
            if e.status >= 500 {
                let cause = e.cause.as_deref().unwrap_or(&e.message);
                worker::console_error!("s3 {method} {path}: {} {cause}", e.code);
            }
            error_response(&e, &method, &path, ctx.request_id.as_str())
        }
    };
    // S3's own name for the id: the SDKs report it as the request id
    // (`$metadata.requestId` in JavaScript, `ResponseMetadata.RequestId` in boto3).
    Ok(out.with_header("x-amz-request-id", ctx.request_id.as_str()))
}

async fn serve(req: &mut Request, ctx: &mut Ctx, method: &str, path: &str) -> Result<Out, S3Error> {
    let query = ctx.head.raw_query().map(str::to_string);
    let headers = ctx.head.headers.clone();
    let credentials = match settings::text(&ctx.env, SETTING) {
        Some(raw) => S3Credentials::parse(&raw).map_err(S3Error::from)?,
        None => S3Credentials::default(),
    };
    let auth = sigv4::authenticate(
        &SignedRequest {
            method,
            path,
            query: query.as_deref(),
            headers: &headers,
        },
        &credentials,
        http::now_secs(),
    )?;
    let principal = auth.credential.principal();
    ctx.key_id = Some(principal.key_id.clone());
    let bucket =
        settings::text(&ctx.env, BUCKET_SETTING).unwrap_or_else(|| DEFAULT_BUCKET.to_string());
    let command = S3Command::parse(
        method,
        Target {
            bucket: &bucket,
            path_bucket: ctx.route.param("bucket"),
            path_key: ctx.route.param("key"),
        },
        query.as_deref(),
        &headers,
        auth.payload,
        &principal,
    )?;
    let store = Store::open(&ctx.env).map_err(S3Error::from)?;
    let (upload, xml, refused) = match command.input() {
        // Nothing to store, but a checksum or a chunked trailer to check.
        Input::None
            if command.empty_upload() && command.body_needs_worker(&headers, auth.payload) =>
        {
            read_small(req, &auth, &headers).await?;
            (None, None, None)
        }
        Input::None => (None, None, None),
        Input::Xml => (None, Some(read_small(req, &auth, &headers).await?), None),
        Input::Stream(length) => {
            if command.body_needs_worker(&headers, auth.payload) {
                let (stream, refused) = checked_stream(req, &auth, &headers, length)?;
                (Some(stream), None, Some(refused))
            } else {
                (req.inner().body(), None, None)
            }
        }
    };
    let answer = service::execute(
        command,
        &store,
        upload,
        xml.as_deref(),
        &bucket,
        &principal.key_id,
    )
    .await;
    // A body the Worker refused (a checksum, a signature) fails the store's
    // write too; the client hears why the body was refused.
    if let Some(e) = refused.and_then(|r| r.borrow_mut().take()) {
        return Err(e);
    }
    Ok(respond(answer?, method))
}

/// How the body is checked as it passes through.
enum Checker {
    Chunked(Box<ChunkedDecoder>),
    Plain(Box<BodyCheck>),
}

impl Checker {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), S3Error> {
        match self {
            Checker::Chunked(d) => d.feed(input, out),
            Checker::Plain(c) => {
                c.update(input);
                out.extend_from_slice(input);
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), S3Error> {
        match self {
            Checker::Chunked(d) => (*d).finish().map(|_| ()),
            Checker::Plain(c) => (*c).finish(),
        }
    }
}

fn checker(auth: &Authenticated, headers: &RequestHeaders) -> Result<Checker, S3Error> {
    Ok(match auth.payload {
        // A checksum header is verified in the trailer modes too (one in
        // both the header and the trailer is refused by the decoder).
        Payload::Chunked { .. } => Checker::Chunked(Box::new(ChunkedDecoder::new(
            auth.chunk_signer.clone(),
            headers.get("x-amz-trailer"),
            Expected::from_headers(headers)?,
            service::payload_length(headers, auth.payload),
        )?)),
        Payload::Sha256(hash) => Checker::Plain(Box::new(BodyCheck::new(
            Some(hash),
            Expected::from_headers(headers)?,
        ))),
        Payload::Unsigned => Checker::Plain(Box::new(BodyCheck::new(
            None,
            Expected::from_headers(headers)?,
        ))),
    })
}

type Refusal = Rc<RefCell<Option<S3Error>>>;

fn unreadable() -> S3Error {
    S3Error::incomplete_body("The request body could not be read")
}

/// Decoded bytes are handed on in pieces of about this size: fewer
/// crossings into JS and fewer writes into R2's stream than one per read
/// (the request's body arrives in 4 KiB reads under `wrangler dev`).
const PASS_BATCH: usize = 64 * 1024;

/// What the body's transform keeps between reads.
struct Pass {
    checker: Option<Checker>,
    /// Decoded bytes not yet handed on. After every read at least the last
    /// byte stays here, so R2 cannot receive the whole object before
    /// [`Checker::finish`] accepted it.
    pending: Vec<u8>,
    /// The read being checked, copied out of JS.
    input: Vec<u8>,
    refusal: Refusal,
}

impl Pass {
    /// One read of the request's body: checked, decoded, and what may go on
    /// is enqueued.
    fn transform(&mut self, chunk: &JsValue, controller: &JsValue) -> Result<(), JsValue> {
        let Some(chunk) = chunk.dyn_ref::<Uint8Array>() else {
            return Err(self.refuse(unreadable()));
        };
        self.input.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut self.input);
        let Some(checker) = self.checker.as_mut() else {
            return Err(self.refuse(unreadable()));
        };
        if let Err(e) = checker.feed(&self.input, &mut self.pending) {
            return Err(self.refuse(e));
        }
        if self.pending.len() > PASS_BATCH {
            let ready = self.pending.len() - 1;
            enqueue(controller, &self.pending[..ready])?;
            self.pending.drain(..ready);
        }
        Ok(())
    }

    /// The body's end: the check is finished, and only then do the last
    /// bytes go.
    fn flush(&mut self, controller: &JsValue) -> Result<(), JsValue> {
        let Some(checker) = self.checker.take() else {
            return Err(self.refuse(unreadable()));
        };
        if let Err(e) = checker.finish() {
            return Err(self.refuse(e));
        }
        self.input = Vec::new();
        let last = std::mem::take(&mut self.pending);
        if !last.is_empty() {
            enqueue(controller, &last)?;
        }
        Ok(())
    }

    /// Records why the body was refused (the first reason wins) and gives
    /// the error that fails the stream, and with it R2's write.
    fn refuse(&mut self, e: S3Error) -> JsValue {
        self.checker = None;
        self.pending = Vec::new();
        self.input = Vec::new();
        self.refusal.borrow_mut().get_or_insert(e);
        js_sys::Error::new("the S3 request body was refused").into()
    }
}

/// Runs `f` if `promise` rejects (and keeps the rejection from going
/// unhandled). The closure belongs to the JS function, freed with it.
fn on_rejected(promise: &Promise, mut f: impl FnMut() + 'static) {
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| f()).into_js_value();
    if let Ok(catch) =
        Reflect::get(promise, &JsValue::from_str("catch")).and_then(|c| c.dyn_into::<Function>())
    {
        let _ = catch.call1(promise, &handler);
    }
}

fn enqueue(controller: &JsValue, bytes: &[u8]) -> Result<(), JsValue> {
    let enqueue: Function = Reflect::get(controller, &JsValue::from_str("enqueue"))?.dyn_into()?;
    enqueue.call1(controller, &Uint8Array::from(bytes))?;
    Ok(())
}

/// The request's body, checked (and unframed) as it streams to R2, as a
/// stream of the decoded length. The last bytes are held back until the
/// whole body checked out, so R2 never receives a complete object that
/// failed; the refusal is left in the returned cell.
///
/// The bytes move between JS streams (the request's body piped through a
/// `TransformStream` into a `FixedLengthStream`); wasm is called once per
/// read, synchronously, to check and decode it, and hands on ~64 KiB at a
/// time. That moved a 64 MiB aws-chunked upload about twice as fast under
/// `wrangler dev` as reading the body as a Rust stream and handing R2 a
/// Rust stream (wasm-streams on both sides; BENCHMARKS.md, "S3 API against
/// the objects routes").
fn checked_stream(
    req: &mut Request,
    auth: &Authenticated,
    headers: &RequestHeaders,
    length: u64,
) -> Result<(ReadableStream, Refusal), S3Error> {
    let checker = checker(auth, headers)?;
    let body = req.inner().body().ok_or_else(unreadable)?;
    let refusal: Refusal = Rc::new(RefCell::new(None));
    let pass = Rc::new(RefCell::new(Pass {
        checker: Some(checker),
        pending: Vec::new(),
        input: Vec::new(),
        refusal: refusal.clone(),
    }));
    let transformer = Object::new();
    let on_chunk = pass.clone();
    let transform = Closure::<dyn FnMut(JsValue, JsValue) -> Result<(), JsValue>>::new(
        move |chunk: JsValue, controller: JsValue| {
            on_chunk.borrow_mut().transform(&chunk, &controller)
        },
    );
    let on_end = pass;
    let flush =
        Closure::<dyn FnMut(JsValue) -> Result<(), JsValue>>::new(move |controller: JsValue| {
            on_end.borrow_mut().flush(&controller)
        });
    let internal = |_| S3Error::from(ApiError::internal());
    Reflect::set(
        &transformer,
        &"transform".into(),
        &transform.into_js_value(),
    )
    .map_err(internal)?;
    Reflect::set(&transformer, &"flush".into(), &flush.into_js_value()).map_err(internal)?;
    let check = TransformStream::new_with_transformer(&transformer).map_err(internal)?;
    let fixed = if length < u64::from(u32::MAX) {
        worker::worker_sys::FixedLengthStream::new(length as u32)
    } else {
        worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(length))
    }
    .map_err(internal)?;
    // A body that breaks off (the client went away) is an incomplete one.
    let broken = refusal.clone();
    on_rejected(&body.pipe_to(&check.writable()), move || {
        broken.borrow_mut().get_or_insert_with(unreadable);
    });
    // Its failure is R2's write failing, answered there.
    on_rejected(&check.readable().pipe_to(&fixed.writable()), || {});
    Ok((fixed.readable(), refusal))
}

/// A small XML body (DeleteObjects, CompleteMultipartUpload), read whole
/// within [`MAX_XML_BYTES`] and checked against what the request promised.
async fn read_small(
    req: &mut Request,
    auth: &Authenticated,
    headers: &RequestHeaders,
) -> Result<Vec<u8>, S3Error> {
    let mut checker = checker(auth, headers)?;
    let mut out = Vec::new();
    // No body at all is checked too: an empty one must match its checksum.
    if req.inner().body().is_some() {
        let mut stream = req.stream().map_err(|_| unreadable())?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            checker.feed(&chunk, &mut out)?;
            if out.len() > MAX_XML_BYTES {
                return Err(S3Error::malformed_xml("The XML body is too large"));
            }
        }
    }
    checker.finish()?;
    Ok(out)
}

fn respond(reply: S3Reply<ReadableStream>, method: &str) -> Out {
    let out = Out::new(reply.status).with_headers(reply.headers);
    match reply.body {
        Some(S3Body::Stream(stream)) if method != "HEAD" => {
            out.with_body(Body::Stream(stream)).manual()
        }
        Some(S3Body::Xml(xml)) if method != "HEAD" => out.with_body(Body::Bytes(xml.into_bytes())),
        _ => out.manual(),
    }
}

fn error_response(e: &S3Error, method: &str, path: &str, request_id: &str) -> Out {
    let out = Out::new(e.status).with_headers(e.headers.iter().map(|(n, v)| (*n, v.clone())));
    if method == "HEAD" {
        return out.manual();
    }
    out.with_header("content-type", "application/xml")
        .with_body(Body::Bytes(e.body(path, request_id).into_bytes()))
}
