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
use crate::settings;
use crate::stores::r2::Store;
use futures_util::StreamExt;
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
use worker::web_sys::ReadableStream;
use worker::{EncodeBody, FixedLengthStream, Request, Response, ResponseBody, ResponseBuilder};

/// Every request on `/s3`, `/s3/{bucket}` and `/s3/{bucket}/{*key}`.
pub async fn handle(mut req: Request, ctx: &mut Ctx) -> Result<Response, ApiError> {
    let method = req.inner().method();
    let path = req.path();
    let result = serve(&mut req, ctx, &method, &path).await;
    Ok(match result {
        Ok(response) => response,
        Err(e) => {
            // The one place an S3 error's internal cause is logged.
            if e.status >= 500 {
                let cause = e.cause.as_deref().unwrap_or(&e.message);
                worker::console_error!("s3 {method} {path}: {} {cause}", e.code);
            }
            error_response(
                &e,
                &method,
                &path,
                &http::header(&req, "x-request-id").unwrap_or_default(),
            )
        }
    })
}

async fn serve(
    req: &mut Request,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
) -> Result<Response, S3Error> {
    let query = http::raw_query(req).map_err(S3Error::from)?;
    let headers = http::request_headers(req);
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

/// The request's body, checked (and unframed) as it streams to R2, as a
/// stream of the decoded length. The last piece is held back until the
/// whole body checked out, so R2 never receives a complete object that
/// failed; the refusal is left in the returned cell.
fn checked_stream(
    req: &mut Request,
    auth: &Authenticated,
    headers: &RequestHeaders,
    length: u64,
) -> Result<(ReadableStream, Refusal), S3Error> {
    let checker = checker(auth, headers)?;
    let bytes = req
        .stream()
        .map_err(|_| S3Error::incomplete_body("The request body could not be read"))?;
    let refusal: Refusal = Rc::new(RefCell::new(None));
    let cell = refusal.clone();
    let refused = move |e: S3Error| {
        *cell.borrow_mut() = Some(e);
        Err(worker::Error::RustError(
            "the S3 request body was refused".into(),
        ))
    };
    let state = Some((bytes, checker, None::<Vec<u8>>));
    let stream = futures_util::stream::unfold(state, move |state| {
        let refused = refused.clone();
        async move {
            let (mut bytes, mut checker, mut held) = state?;
            loop {
                match bytes.next().await {
                    Some(Ok(chunk)) => {
                        let mut out = Vec::with_capacity(chunk.len());
                        if let Err(e) = checker.feed(&chunk, &mut out) {
                            return Some((refused(e), None));
                        }
                        if out.is_empty() {
                            continue;
                        }
                        match held.replace(out) {
                            Some(previous) => {
                                return Some((Ok(previous), Some((bytes, checker, held))))
                            }
                            None => continue,
                        }
                    }
                    Some(Err(_)) => {
                        return Some((
                            refused(S3Error::incomplete_body(
                                "The request body could not be read",
                            )),
                            None,
                        ))
                    }
                    None => {
                        if let Err(e) = checker.finish() {
                            return Some((refused(e), None));
                        }
                        // Verified: the last piece goes, then the end.
                        return held.map(|last| (Ok(last), None));
                    }
                }
            }
        }
    });
    let fixed: worker::worker_sys::FixedLengthStream =
        FixedLengthStream::wrap(stream, length).into();
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

fn respond(reply: S3Reply<ReadableStream>, method: &str) -> Response {
    let builder = ResponseBuilder::new()
        .with_status(reply.status)
        .with_headers(http::headers_from(&reply.headers));
    match reply.body {
        Some(S3Body::Stream(stream)) if method != "HEAD" => builder
            .with_encode_body(EncodeBody::Manual)
            .body(ResponseBody::Stream(stream)),
        Some(S3Body::Xml(xml)) if method != "HEAD" => builder.fixed(xml.into_bytes()),
        _ => builder.with_encode_body(EncodeBody::Manual).empty(),
    }
}

fn error_response(e: &S3Error, method: &str, path: &str, request_id: &str) -> Response {
    let mut headers: Vec<(String, String)> = e
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let builder = ResponseBuilder::new().with_status(e.status);
    if method == "HEAD" {
        return builder
            .with_headers(http::headers_from(&headers))
            .with_encode_body(EncodeBody::Manual)
            .empty();
    }
    headers.push(("content-type".into(), "application/xml".into()));
    builder
        .with_headers(http::headers_from(&headers))
        .fixed(e.body(path, request_id).into_bytes())
}
