//! `/v1/objects`: objects in R2 with the semantics HTTP promises.
//!
//! `GET /v1/objects` lists; `/v1/objects/{key}` reads (`GET`, `HEAD`),
//! writes (`PUT`), deletes (`DELETE`) and runs multipart uploads (`POST
//! ?uploads`, `PUT ?uploadId=&partNumber=`, `POST ?uploadId=`, `DELETE
//! ?uploadId=`). Reading needs `objects:read`, everything else
//! `objects:write`. What to answer is decided by `strata_core::objects`;
//! this file reads the request, calls R2 (`stores::r2`) and writes the
//! response. No body byte passes through wasm: R2's stream becomes the
//! response body, the request's stream becomes R2's input.
//!
//! R2 calls per request, and why:
//!
//! * `GET` — one `get`; preconditions are evaluated on the metadata that
//!   comes with the body, and a body that is not wanted (304/412) is
//!   cancelled. With a `Range`: `head`, then a `get` of the range pinned to
//!   the etag the range was decided on (so 416 and `If-Range` are decided on
//!   the version actually sent); if the object changed in between, again.
//! * `PUT` — `head` (201 vs 200, and the preconditions), then `put`. With
//!   preconditions the `put` is pinned to what the `head` saw (the etag, or
//!   "no object"), so R2 applies them atomically: a concurrent change makes
//!   the write a 412 and writes nothing.
//! * `DELETE` — `delete`; with preconditions a `head` first. R2's delete
//!   takes no condition, so a write landing between the two can be deleted.

use crate::ctx::{Caller, Ctx};
use crate::http;
use crate::stores::r2::{self, Pin, Read, Store};
use crate::stores::StoreError;
use strata_core::auth::Scope;
use strata_core::objects::conditional::{Access, Outcome, Preconditions};
use strata_core::objects::list::ListParams;
use strata_core::objects::metadata::UploadMetadata;
use strata_core::objects::multipart::CompleteUpload;
use strata_core::objects::operation::Operation;
use strata_core::objects::range::{self, ByteRange, IfRange, Plan};
use strata_core::objects::upload;
use strata_core::objects::{
    object_not_found, precondition_failed, ObjectKey, ObjectMeta, RequestHeaders, MAX_PART_BYTES,
    MAX_PUT_BYTES,
};
use strata_core::{ApiError, ErrorCode};
use worker::web_sys::ReadableStream;
use worker::{EncodeBody, Headers, Request, Response, ResponseBody, ResponseBuilder};

/// How often a ranged read starts over when the object changes between
/// deciding the range and reading it.
const RANGED_READ_ATTEMPTS: usize = 3;

/// `GET /v1/objects?prefix=&delimiter=&cursor=&limit=`.
pub async fn list(req: Request, ctx: &Ctx, caller: &Caller) -> Result<Response, ApiError> {
    caller.principal.require(Scope::ObjectsRead)?;
    let params = ListParams::parse(raw_query(&req)?.as_deref())?;
    let page = Store::open(&ctx.env)?.list(&params).await?;
    http::json(200, &page.to_json())
}

/// Every method on `/v1/objects/{key}`.
pub async fn handle(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Response, ApiError> {
    let method = req.method().to_string();
    let principal = &caller.principal;
    let op = Operation::parse(&method, raw_query(&req)?.as_deref())?;
    principal.require(if op.writes() {
        Scope::ObjectsWrite
    } else {
        Scope::ObjectsRead
    })?;
    let key = ObjectKey::from_path(ctx.route.param("key"))?;
    let store = Store::open(&ctx.env)?;
    match op {
        Operation::Get => read(&req, &store, &key, true).await,
        Operation::Head => read(&req, &store, &key, false).await,
        Operation::Put => write(&req, &store, &key).await,
        Operation::Delete => delete(&req, &store, &key).await,
        Operation::CreateUpload => create_upload(&req, &store, &key).await,
        Operation::UploadPart {
            upload_id,
            part_number,
        } => upload_part(&req, &store, &key, &upload_id, part_number).await,
        Operation::CompleteUpload { upload_id } => {
            refuse_preconditions(&request_headers(&req), "completing a multipart upload")?;
            let body = http::read_json_body(&mut req, &ctx.env).await?;
            let parts = CompleteUpload::parse(&body)?;
            let object = store
                .complete_upload(&key, &upload_id, &parts.parts)
                .await?;
            json_with_etag(200, &object)
        }
        Operation::AbortUpload { upload_id } => {
            store.abort_upload(&key, &upload_id).await?;
            Ok(empty(204, Headers::new()))
        }
    }
}

/// `GET` (with the body) or `HEAD` (without) of one object.
pub async fn read(
    req: &Request,
    store: &Store,
    key: &ObjectKey,
    with_body: bool,
) -> Result<Response, ApiError> {
    let headers = request_headers(req);
    let preconditions = Preconditions::parse(&headers)?;
    if !with_body {
        // HEAD ignores Range (RFC 9110 §14.2: it applies to GET only).
        let meta = store.head(key).await?.ok_or_else(object_not_found)?;
        return match preconditions.evaluate(Access::Read, Some(&meta.validators())) {
            Outcome::Proceed => {
                let headers = header_list(meta.representation_headers());
                set(&headers, "content-length", &meta.size.to_string());
                Ok(empty(200, headers))
            }
            Outcome::NotModified => Ok(not_modified(&meta)),
            Outcome::PreconditionFailed => Err(precondition_failed()),
        };
    }

    let Some(range) = headers.get("range").and_then(range::parse_range) else {
        // The common case: one R2 call, decided on the metadata that came
        // with the body.
        return match store.get(key, None, None).await? {
            Read::Missing => Err(object_not_found()),
            Read::Body(meta, body) => {
                match preconditions.evaluate(Access::Read, Some(&meta.validators())) {
                    Outcome::Proceed => Ok(stream(&meta, None, body)),
                    Outcome::NotModified => {
                        r2::discard(body);
                        Ok(not_modified(&meta))
                    }
                    Outcome::PreconditionFailed => {
                        r2::discard(body);
                        Err(precondition_failed())
                    }
                }
            }
            Read::Changed => Err(StoreError::unavailable(
                "r2",
                "an unpinned get reported a failed condition",
            )
            .into()),
        };
    };

    let if_range = headers.get("if-range").map(IfRange::parse);
    for _ in 0..RANGED_READ_ATTEMPTS {
        let meta = store.head(key).await?.ok_or_else(object_not_found)?;
        let validators = meta.validators();
        match preconditions.evaluate(Access::Read, Some(&validators)) {
            Outcome::Proceed => {}
            Outcome::NotModified => return Ok(not_modified(&meta)),
            Outcome::PreconditionFailed => return Err(precondition_failed()),
        }
        let part = match range::plan(Some(range), if_range.as_ref(), &validators, meta.size) {
            Plan::Unsatisfiable => {
                return Err(ApiError::new(
                    ErrorCode::RangeNotSatisfiable,
                    format!("the range starts beyond the object's {} bytes", meta.size),
                )
                .with_header("Content-Range", range::unsatisfied_content_range(meta.size))
                .with_details(serde_json::json!({ "size": meta.size })))
            }
            Plan::Full => None,
            Plan::Partial(r) => Some(r),
        };
        match store.get(key, Some(&meta.etag), part).await? {
            Read::Missing => return Err(object_not_found()),
            Read::Changed => continue,
            Read::Body(current, body) => return Ok(stream(&current, part, body)),
        }
    }
    Err(ApiError::from(StoreError::unavailable(
        "r2",
        "the object kept changing during a ranged read",
    )))
}

/// `PUT` of one object: the request's body streamed into R2.
pub async fn write(req: &Request, store: &Store, key: &ObjectKey) -> Result<Response, ApiError> {
    let headers = request_headers(req);
    let length = upload::declared_length(&headers, MAX_PUT_BYTES)?;
    let preconditions = Preconditions::parse(&headers)?;
    let metadata = UploadMetadata::from_headers(&headers)?;
    let checksum = upload::checksum(&headers)?;
    let body = body_stream(req, length)?;

    let current = store.head(key).await?;
    let validators = current.as_ref().map(ObjectMeta::validators);
    if preconditions.evaluate(Access::Write, validators.as_ref()) != Outcome::Proceed {
        return Err(precondition_failed());
    }
    // Pin the write to the state the preconditions were checked against, so
    // R2 applies them atomically with the write.
    let pin = preconditions.constrains_write().then(|| match &current {
        Some(meta) => Pin::Etag(meta.etag.clone()),
        None => Pin::Absent,
    });
    let stored = store
        .put(key, body, &metadata, checksum.as_ref(), pin)
        .await?
        .ok_or_else(precondition_failed)?;
    let mut response = json_with_etag(if current.is_some() { 200 } else { 201 }, &stored)?;
    if current.is_none() {
        set(
            response.headers_mut(),
            "location",
            &format!("/v1/objects/{}", key.to_url_path()),
        );
    }
    Ok(response)
}

/// `DELETE` of one object: 204 whether or not it existed.
async fn delete(req: &Request, store: &Store, key: &ObjectKey) -> Result<Response, ApiError> {
    let preconditions = Preconditions::parse(&request_headers(req))?;
    if preconditions.constrains_write() {
        let current = store.head(key).await?;
        let validators = current.as_ref().map(ObjectMeta::validators);
        if preconditions.evaluate(Access::Write, validators.as_ref()) != Outcome::Proceed {
            return Err(precondition_failed());
        }
    }
    store.delete(key).await?;
    Ok(empty(204, Headers::new()))
}

/// `POST ?uploads`: starts a multipart upload with the object's metadata.
async fn create_upload(
    req: &Request,
    store: &Store,
    key: &ObjectKey,
) -> Result<Response, ApiError> {
    let headers = request_headers(req);
    refuse_preconditions(&headers, "starting a multipart upload")?;
    upload::refuse_checksum(&headers, "a multipart upload")?;
    let metadata = UploadMetadata::from_headers(&headers)?;
    let upload_id = store.create_upload(key, &metadata).await?;
    http::json(
        200,
        &serde_json::json!({ "key": key.as_str(), "uploadId": upload_id }),
    )
}

/// `PUT ?uploadId=&partNumber=`: one part, streamed.
async fn upload_part(
    req: &Request,
    store: &Store,
    key: &ObjectKey,
    upload_id: &str,
    part_number: u16,
) -> Result<Response, ApiError> {
    let headers = request_headers(req);
    let length = upload::declared_length(&headers, MAX_PART_BYTES)?;
    refuse_preconditions(&headers, "a part upload")?;
    upload::refuse_checksum(&headers, "a part upload")?;
    let body = body_stream(req, length)?;
    let etag = store.upload_part(key, upload_id, part_number, body).await?;
    let mut response = http::json(
        200,
        &serde_json::json!({ "partNumber": part_number, "etag": etag }),
    )?;
    set(response.headers_mut(), "etag", &format!("\"{etag}\""));
    Ok(response)
}

/// R2 applies no condition to multipart steps, so conditional headers there
/// are refused rather than ignored.
fn refuse_preconditions(headers: &RequestHeaders, context: &str) -> Result<(), ApiError> {
    if Preconditions::parse(headers)?.constrains_write() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{context} takes no If-Match, If-None-Match or If-Unmodified-Since: R2 cannot apply them there"),
        ));
    }
    Ok(())
}

/// The request's body as the JavaScript stream R2 reads directly.
fn body_stream(req: &Request, length: u64) -> Result<Option<ReadableStream>, ApiError> {
    if length == 0 {
        return Ok(None);
    }
    req.inner().body().map(Some).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "Content-Length announces a body but the request has none",
        )
    })
}

/// The request's headers for the core.
pub fn request_headers(req: &Request) -> RequestHeaders {
    RequestHeaders::new(req.headers().entries())
}

/// The raw (still percent-encoded) query string.
pub fn raw_query(req: &Request) -> Result<Option<String>, ApiError> {
    let url = req.url().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "the request URL cannot be parsed",
        )
    })?;
    Ok(url.query().map(str::to_string))
}

/// 200 or 206 with R2's stream as the body. `Manual` encoding: the bytes
/// are sent exactly as stored, also when the object has a
/// `Content-Encoding` (the runtime would otherwise compress them again).
/// The runtime sets `Content-Length` from the stream's known length.
fn stream(meta: &ObjectMeta, part: Option<ByteRange>, body: ReadableStream) -> Response {
    let headers = header_list(meta.representation_headers());
    let status = match part {
        Some(r) => {
            set(&headers, "content-range", &r.content_range(meta.size));
            206
        }
        None => 200,
    };
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .with_encode_body(EncodeBody::Manual)
        .body(ResponseBody::Stream(body))
}

/// 304 with the validators and caching fields.
fn not_modified(meta: &ObjectMeta) -> Response {
    empty(304, header_list(meta.validator_headers()))
}

fn empty(status: u16, headers: Headers) -> Response {
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .with_encode_body(EncodeBody::Manual)
        .empty()
}

/// The object as JSON, with its `ETag`.
fn json_with_etag(status: u16, meta: &ObjectMeta) -> Result<Response, ApiError> {
    let mut response = http::json(status, &meta.to_json())?;
    set(response.headers_mut(), "etag", &meta.etag_header());
    Ok(response)
}

fn header_list(pairs: Vec<(String, String)>) -> Headers {
    let headers = Headers::new();
    for (name, value) in pairs {
        set(&headers, &name, &value);
    }
    headers
}

/// Sets a header. A value the runtime refuses (metadata written by another
/// R2 client, say) drops that header, never the response.
fn set(headers: &Headers, name: &str, value: &str) {
    if headers.set(name, value).is_err() {
        worker::console_warn!("dropped response header {name}: value not allowed");
    }
}
