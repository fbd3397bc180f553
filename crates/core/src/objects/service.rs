//! One request on `/v1/objects`: parse → apply → encode.
//!
//! [`Command::parse`] turns the whole request (method, key, query, headers,
//! principal; the scope check included) into one [`Command`];
//! [`Command::list`] does so for the listing and [`Command::signed`] for a
//! signed URL whose signature the route has checked. [`execute`] runs the
//! command against an [`ObjectStore`] and encodes the answer as one
//! [`ObjectReply`]. The Worker route reads the request's parts, calls these
//! two, and copies the reply into the runtime's response: a request enters
//! core twice, and no body byte passes through it (R2's stream becomes the
//! response body, the request's stream becomes R2's input).
//!
//! Store calls per command, and why:
//!
//! * `GET` — one `get`; preconditions are evaluated on the metadata that
//!   comes with the body, and a body that is not wanted (304/412) is
//!   discarded. With a `Range`: `head`, then a `get` of the range pinned to
//!   the etag the range was decided on (so 416 and `If-Range` are decided on
//!   the version actually sent); if the object changed in between, again,
//!   up to [`RANGED_READ_ATTEMPTS`] times, then 503.
//! * `HEAD` — one `head` (`Range` does not apply, RFC 9110 §14.2).
//! * `PUT` — `head` (201 vs 200, and the preconditions), then `put`. With
//!   preconditions the `put` is pinned to what the `head` saw (the etag, or
//!   "no object"), so the store applies them atomically: a concurrent
//!   change makes the write a 412 and writes nothing.
//! * `DELETE` — `delete`; with preconditions a `head` first. R2's delete
//!   takes no condition, so a write landing between the two can be deleted.
//! * Multipart steps — one call each. R2 applies no condition to them, so
//!   conditional headers there are refused (400) rather than ignored.
//!
//! A store failure becomes the client's error through `From<StoreError>`;
//! for commands that write, a timeout also says the write may have been
//! applied ([`ApiError::for_write`]).

use super::conditional::{Access, Outcome, Preconditions};
use super::list::ListParams;
use super::metadata::UploadMetadata;
use super::multipart::CompleteUpload;
use super::operation::Operation;
use super::range::{self, IfRange, Plan, RangeSpec};
use super::signing::SignedMethod;
use super::upload::{self, Checksum};
use super::{
    invalid, object_not_found, precondition_failed, ObjectKey, ObjectMeta, MAX_PART_BYTES,
    MAX_PUT_BYTES,
};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::http::{Reply, RequestHeaders};
use crate::store::{Fetched, ObjectStore, Pin, StoreError};

/// How often a ranged read starts over when the object changes between
/// deciding the range and reading it.
pub const RANGED_READ_ATTEMPTS: usize = 3;

/// The store's name in errors and logs (`/v1/status` uses the same).
const STORE: &str = "r2";

/// One request on an object or the listing, parsed and authorised: once it
/// exists, only the store can refuse it.
#[derive(Debug, Clone, PartialEq)]
pub struct Command(Kind);

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    List(ListParams),
    Read {
        key: ObjectKey,
        /// `GET` (true) or `HEAD`.
        with_body: bool,
        preconditions: Preconditions,
        /// A `Range` that parses; any other is ignored (RFC 9110 §14.2).
        range: Option<RangeSpec>,
        if_range: Option<IfRange>,
    },
    Put {
        key: ObjectKey,
        length: u64,
        preconditions: Preconditions,
        metadata: UploadMetadata,
        checksum: Option<Checksum>,
    },
    Delete {
        key: ObjectKey,
        preconditions: Preconditions,
    },
    CreateUpload {
        key: ObjectKey,
        metadata: UploadMetadata,
    },
    UploadPart {
        key: ObjectKey,
        upload_id: String,
        part_number: u16,
        length: u64,
    },
    CompleteUpload {
        key: ObjectKey,
        upload_id: String,
    },
    AbortUpload {
        key: ObjectKey,
        upload_id: String,
    },
}

/// What of the request's body a command needs: the shell reads only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// No body (any sent is not read).
    None,
    /// The body as the runtime's stream, handed to the store untouched (an
    /// upload of a declared, non-zero length).
    Stream,
    /// The body as JSON bytes, read within `MAX_BODY_BYTES`.
    Json,
}

impl Command {
    /// `method` on `/v1/objects/{key}`: the operation its method and query
    /// select, the scope it needs (`objects:read` to read, `objects:write`
    /// for everything else), the key (`key` is the raw path parameter) and
    /// every header it reads.
    pub fn parse(
        method: &str,
        key: Option<&str>,
        raw_query: Option<&str>,
        headers: &RequestHeaders,
        principal: &Principal,
    ) -> Result<Command, ApiError> {
        let op = Operation::parse(method, raw_query)?;
        principal.require(if op.writes() {
            Scope::ObjectsWrite
        } else {
            Scope::ObjectsRead
        })?;
        Command::of(op, ObjectKey::from_path(key)?, headers)
    }

    /// `GET /v1/objects?prefix=&delimiter=&cursor=&limit=`.
    pub fn list(raw_query: Option<&str>, principal: &Principal) -> Result<Command, ApiError> {
        principal.require(Scope::ObjectsRead)?;
        Ok(Command(Kind::List(ListParams::parse(raw_query)?)))
    }

    /// A request on a signed URL, once its signature held: exactly the
    /// `GET`, `HEAD` or `PUT` of `/v1/objects/{key}`. Scope and query were
    /// the signature's to check.
    pub fn signed(
        method: SignedMethod,
        request_method: &str,
        key: ObjectKey,
        headers: &RequestHeaders,
    ) -> Result<Command, ApiError> {
        let op = match method {
            SignedMethod::Get if request_method == "GET" => Operation::Get,
            SignedMethod::Get => Operation::Head,
            SignedMethod::Put => Operation::Put,
        };
        Command::of(op, key, headers)
    }

    /// The operation with the headers it reads, in the order their errors
    /// are reported (411/413 before anything else on an upload).
    fn of(op: Operation, key: ObjectKey, headers: &RequestHeaders) -> Result<Command, ApiError> {
        let kind = match op {
            Operation::Get | Operation::Head => {
                let with_body = op == Operation::Get;
                let preconditions = Preconditions::parse(headers)?;
                let range = headers
                    .get("range")
                    .filter(|_| with_body)
                    .and_then(range::parse_range);
                let if_range = range.and(headers.get("if-range")).map(IfRange::parse);
                Kind::Read {
                    key,
                    with_body,
                    preconditions,
                    range,
                    if_range,
                }
            }
            Operation::Put => Kind::Put {
                length: upload::declared_length(headers, MAX_PUT_BYTES)?,
                preconditions: Preconditions::parse(headers)?,
                metadata: UploadMetadata::from_headers(headers)?,
                checksum: upload::checksum(headers)?,
                key,
            },
            Operation::Delete => Kind::Delete {
                preconditions: Preconditions::parse(headers)?,
                key,
            },
            Operation::CreateUpload => {
                // A body here is a mistake (the parts come with `PUT`, the
                // list of them with `POST ?uploadId=`): said, not ignored.
                // (By its declared length: the runtime may mark a request
                // without one as chunked even when it has no body.)
                let length = headers.get("content-length").map(str::trim);
                if length.is_some_and(|n| n != "0") {
                    return Err(invalid(
                        "starting a multipart upload (POST ?uploads) takes no body; \
                         parts go with PUT ?uploadId=&partNumber=",
                    ));
                }
                refuse_preconditions(headers, "starting a multipart upload")?;
                upload::refuse_checksum(headers, "a multipart upload")?;
                Kind::CreateUpload {
                    metadata: UploadMetadata::from_headers(headers)?,
                    key,
                }
            }
            Operation::UploadPart {
                upload_id,
                part_number,
            } => {
                let length = upload::declared_length(headers, MAX_PART_BYTES)?;
                refuse_preconditions(headers, "a part upload")?;
                upload::refuse_checksum(headers, "a part upload")?;
                Kind::UploadPart {
                    key,
                    upload_id,
                    part_number,
                    length,
                }
            }
            Operation::CompleteUpload { upload_id } => {
                refuse_preconditions(headers, "completing a multipart upload")?;
                Kind::CompleteUpload { key, upload_id }
            }
            Operation::AbortUpload { upload_id } => Kind::AbortUpload { key, upload_id },
        };
        Ok(Command(kind))
    }

    /// What of the request's body [`execute`] needs.
    pub fn input(&self) -> Input {
        match &self.0 {
            Kind::Put { length, .. } | Kind::UploadPart { length, .. } if *length > 0 => {
                Input::Stream
            }
            Kind::CompleteUpload { .. } => Input::Json,
            _ => Input::None,
        }
    }

    /// The declared length of the body an upload streams (`PUT`, a part).
    pub fn upload_length(&self) -> Option<u64> {
        match &self.0 {
            Kind::Put { length, .. } | Kind::UploadPart { length, .. } => Some(*length),
            _ => None,
        }
    }

    /// Whether the command changes the bucket.
    pub fn writes(&self) -> bool {
        !matches!(self.0, Kind::List(_) | Kind::Read { .. })
    }
}

/// An answer's body: the object's bytes as the store streams them (`B`,
/// handed to the runtime untouched), or JSON of ours.
#[derive(Debug, Clone, PartialEq)]
pub enum Body<B> {
    /// The object, or the range of it the status and `Content-Range` say.
    Stream(B),
    /// A JSON document (`Content-Type: application/json`).
    Json(Vec<u8>),
}

/// What an object command answers: the [`Reply`] (status, headers with
/// names of our own, body) and the object's custom metadata as
/// `x-strata-meta-<name>` headers, whose names are data and so cannot be
/// the reply's static names. The shell writes the metadata headers first;
/// the reply's, which end with the content-safety headers, come after.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectReply<B> {
    /// Status, headers and body.
    pub reply: Reply<Body<B>>,
    /// `x-strata-meta-<name>` headers (empty but for reads).
    pub metadata_headers: Vec<(String, String)>,
}

impl<B> ObjectReply<B> {
    fn new(reply: Reply<Body<B>>) -> Self {
        ObjectReply {
            reply,
            metadata_headers: Vec::new(),
        }
    }

    /// A header's value, whichever list holds it (`name` in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.reply.header(name).or_else(|| {
            self.metadata_headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        })
    }
}

/// Runs `command` against `store` and encodes the answer. `upload` is the
/// request's body stream when [`Command::input`] asked for it, `json` its
/// bytes when it asked for JSON (`None` reads as an empty body).
pub async fn execute<S: ObjectStore>(
    command: Command,
    store: &S,
    upload: Option<S::Upload>,
    json: Option<&[u8]>,
) -> Result<ObjectReply<S::Body>, ApiError> {
    let writes = command.writes();
    let result = apply(command, store, upload, json).await;
    if writes {
        result.map_err(for_write)
    } else {
        result
    }
}

/// [`execute`] but for what a timeout means to a write.
async fn apply<S: ObjectStore>(
    command: Command,
    store: &S,
    upload: Option<S::Upload>,
    json: Option<&[u8]>,
) -> Result<ObjectReply<S::Body>, ApiError> {
    match command.0 {
        Kind::List(params) => {
            let page = store.list(&params).await?;
            Ok(ObjectReply::new(json_reply(200, &page.to_json())))
        }
        Kind::Read {
            key,
            with_body: false,
            preconditions,
            ..
        } => head(store, &key, &preconditions).await,
        Kind::Read {
            key,
            preconditions,
            range: None,
            ..
        } => get(store, &key, &preconditions).await,
        Kind::Read {
            key,
            preconditions,
            range: Some(range),
            if_range,
            ..
        } => get_range(store, &key, &preconditions, range, if_range.as_ref()).await,
        Kind::Put {
            key,
            length,
            preconditions,
            metadata,
            checksum,
        } => {
            let body = upload_body(length, upload)?;
            put(
                store,
                &key,
                body,
                length,
                &preconditions,
                &metadata,
                checksum,
            )
            .await
        }
        Kind::Delete { key, preconditions } => delete(store, &key, &preconditions).await,
        Kind::CreateUpload { key, metadata } => {
            let upload_id = store.create_upload(&key, &metadata).await?;
            let body = serde_json::json!({ "key": key.as_str(), "uploadId": upload_id });
            Ok(ObjectReply::new(json_reply(200, &body)))
        }
        Kind::UploadPart {
            key,
            upload_id,
            part_number,
            length,
        } => {
            let body = upload_body(length, upload)?;
            let etag = store
                .upload_part(&key, &upload_id, part_number, body, length)
                .await?;
            let body = serde_json::json!({ "partNumber": part_number, "etag": etag });
            Ok(ObjectReply::new(
                json_reply(200, &body).with_header("etag", format!("\"{etag}\"")),
            ))
        }
        Kind::CompleteUpload { key, upload_id } => {
            let parts = CompleteUpload::parse(json.unwrap_or_default())?;
            let object = store
                .complete_upload(&key, &upload_id, &parts.parts)
                .await?;
            Ok(json_with_etag(200, &object))
        }
        Kind::AbortUpload { key, upload_id } => {
            store.abort_upload(&key, &upload_id).await?;
            Ok(ObjectReply::new(Reply::empty(204)))
        }
    }
}

/// `HEAD`: the headers a `GET` would send, with the whole object's length.
async fn head<S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    preconditions: &Preconditions,
) -> Result<ObjectReply<S::Body>, ApiError> {
    let meta = store.head(key).await?.ok_or_else(object_not_found)?;
    match preconditions.evaluate(Access::Read, Some(&meta.validators())) {
        Outcome::Proceed => {
            let mut reply = representation(&meta, Reply::empty(200));
            reply.reply = reply
                .reply
                .with_header("content-length", meta.size.to_string());
            Ok(reply)
        }
        Outcome::NotModified => Ok(not_modified(&meta)),
        Outcome::PreconditionFailed => Err(precondition_failed()),
    }
}

/// `GET` without a usable `Range`: one store call, decided on the metadata
/// that came with the body.
async fn get<S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    preconditions: &Preconditions,
) -> Result<ObjectReply<S::Body>, ApiError> {
    match store.get(key, None, None).await? {
        Fetched::Missing => Err(object_not_found()),
        Fetched::Changed => Err(StoreError::unavailable(
            STORE,
            "an unpinned get reported a failed condition",
        )
        .into()),
        Fetched::Body(meta, body) => {
            match preconditions.evaluate(Access::Read, Some(&meta.validators())) {
                Outcome::Proceed => Ok(stream(&meta, None, body)),
                Outcome::NotModified => {
                    store.discard(body);
                    Ok(not_modified(&meta))
                }
                Outcome::PreconditionFailed => {
                    store.discard(body);
                    Err(precondition_failed())
                }
            }
        }
    }
}

/// `GET` with a `Range`: the range is decided on a `head`, and the body
/// read pinned to the etag it was decided on; when the object changed in
/// between, the decision is made again.
async fn get_range<S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    preconditions: &Preconditions,
    range: RangeSpec,
    if_range: Option<&IfRange>,
) -> Result<ObjectReply<S::Body>, ApiError> {
    for _ in 0..RANGED_READ_ATTEMPTS {
        let meta = store.head(key).await?.ok_or_else(object_not_found)?;
        let validators = meta.validators();
        match preconditions.evaluate(Access::Read, Some(&validators)) {
            Outcome::Proceed => {}
            Outcome::NotModified => return Ok(not_modified(&meta)),
            Outcome::PreconditionFailed => return Err(precondition_failed()),
        }
        let part = match range::plan(Some(range), if_range, &validators, meta.size) {
            Plan::Unsatisfiable => return Err(range_not_satisfiable(meta.size)),
            Plan::Full => None,
            Plan::Partial(r) => Some(r),
        };
        match store.get(key, Some(&meta.etag), part).await? {
            Fetched::Missing => return Err(object_not_found()),
            Fetched::Changed => continue,
            Fetched::Body(current, body) => return Ok(stream(&current, part, body)),
        }
    }
    Err(StoreError::unavailable(STORE, "the object kept changing during a ranged read").into())
}

/// `PUT`: the body streamed into the store, pinned to the state the
/// preconditions were checked against.
async fn put<S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    body: Option<S::Upload>,
    length: u64,
    preconditions: &Preconditions,
    metadata: &UploadMetadata,
    checksum: Option<Checksum>,
) -> Result<ObjectReply<S::Body>, ApiError> {
    let (stored, replaced) = write(
        store,
        key,
        body,
        length,
        preconditions,
        metadata,
        checksum.as_ref(),
    )
    .await?;
    if replaced {
        return Ok(json_with_etag(200, &stored));
    }
    let mut created = json_with_etag(201, &stored);
    created.reply = created
        .reply
        .with_header("location", format!("/v1/objects/{}", key.to_url_path()));
    Ok(created)
}

/// Writes `body` as the object once the preconditions hold, pinned to the
/// state they were checked against (the store applies them atomically with
/// the write). Answers the object stored and whether it replaced one. Also
/// S3's CopyObject's write.
pub(crate) async fn write<S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    body: Option<S::Upload>,
    length: u64,
    preconditions: &Preconditions,
    metadata: &UploadMetadata,
    checksum: Option<&Checksum>,
) -> Result<(ObjectMeta, bool), ApiError> {
    let current = store.head(key).await?;
    let validators = current.as_ref().map(ObjectMeta::validators);
    if preconditions.evaluate(Access::Write, validators.as_ref()) != Outcome::Proceed {
        return Err(precondition_failed());
    }
    let pin = preconditions.constrains_write().then(|| match &current {
        Some(meta) => Pin::Etag(meta.etag.clone()),
        None => Pin::Absent,
    });
    let stored = store
        .put(key, body, length, metadata, checksum, pin)
        .await?
        .ok_or_else(precondition_failed)?;
    Ok((stored, current.is_some()))
}

/// `DELETE`: 204 whether or not the object existed.
async fn delete<S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    preconditions: &Preconditions,
) -> Result<ObjectReply<S::Body>, ApiError> {
    delete_if(store, key, preconditions).await?;
    Ok(ObjectReply::new(Reply::empty(204)))
}

/// Deletes the object once its preconditions held on its current state
/// (read with a `head`: R2's delete takes no condition). Also each
/// conditional entry of S3's DeleteObjects.
pub(crate) async fn delete_if<S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    preconditions: &Preconditions,
) -> Result<(), ApiError> {
    if preconditions.constrains_write() {
        let current = store.head(key).await?;
        let validators = current.as_ref().map(ObjectMeta::validators);
        if preconditions.evaluate(Access::Write, validators.as_ref()) != Outcome::Proceed {
            return Err(precondition_failed());
        }
    }
    Ok(store.delete(key).await?)
}

/// The upload's body for the store: none for a zero length (whatever was
/// sent), and a declared length without a body is the client's error.
fn upload_body<U>(length: u64, upload: Option<U>) -> Result<Option<U>, ApiError> {
    if length == 0 {
        return Ok(None);
    }
    upload
        .map(Some)
        .ok_or_else(|| invalid("Content-Length announces a body but the request has none"))
}

/// R2 applies no condition to multipart steps, so conditional headers there
/// are refused rather than ignored.
fn refuse_preconditions(headers: &RequestHeaders, context: &str) -> Result<(), ApiError> {
    if Preconditions::parse(headers)?.constrains_write() {
        return Err(invalid(format!(
            "{context} takes no If-Match, If-None-Match or If-Unmodified-Since: R2 cannot apply them there"
        )));
    }
    Ok(())
}

/// A timed-out write may have been applied: say so, keeping the cause for
/// the log.
pub(crate) fn for_write(e: ApiError) -> ApiError {
    let cause = e.cause.clone();
    let mut e = e.for_write();
    if e.cause.is_none() {
        e.cause = cause;
    }
    e
}

/// 416 with `Content-Range: bytes */size`.
fn range_not_satisfiable(size: u64) -> ApiError {
    ApiError::new(
        ErrorCode::RangeNotSatisfiable,
        format!("the range starts beyond the object's {size} bytes"),
    )
    .with_header("Content-Range", range::unsatisfied_content_range(size))
    .with_details(serde_json::json!({ "size": size }))
}

/// 200 or 206 with the store's stream as the body. The runtime sets
/// `Content-Length` from the stream's known length.
fn stream<B>(meta: &ObjectMeta, part: Option<range::ByteRange>, body: B) -> ObjectReply<B> {
    let reply = match part {
        Some(r) => Reply::empty(206).with_header("content-range", r.content_range(meta.size)),
        None => Reply::empty(200),
    };
    let mut answer = representation(meta, reply);
    answer.reply.body = Some(Body::Stream(body));
    answer
}

/// `reply` with the object's representation headers (validators, content
/// fields, checksum, the content-safety headers) and its metadata headers.
fn representation<B>(meta: &ObjectMeta, mut reply: Reply<Body<B>>) -> ObjectReply<B> {
    reply.headers.extend(meta.representation_headers());
    ObjectReply {
        reply,
        metadata_headers: meta.metadata_headers(),
    }
}

/// 304 with the validators and caching fields.
fn not_modified<B>(meta: &ObjectMeta) -> ObjectReply<B> {
    let mut reply = Reply::empty(304);
    reply.headers = meta.validator_headers();
    ObjectReply::new(reply)
}

/// The object as JSON, with its `ETag`.
fn json_with_etag<B>(status: u16, meta: &ObjectMeta) -> ObjectReply<B> {
    ObjectReply::new(json_reply(status, &meta.to_json()).with_header("etag", meta.etag_header()))
}

fn json_reply<B>(status: u16, value: &serde_json::Value) -> Reply<Body<B>> {
    let Reply {
        status,
        headers,
        body,
    } = Reply::json(status, value);
    Reply {
        status,
        headers,
        body: body.map(Body::Json),
    }
}

#[cfg(test)]
mod tests;
