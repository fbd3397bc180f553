//! One S3 request, parsed and answered: which operation the method, path
//! and query select, the scope it needs, and the answer in S3's terms.
//!
//! Object operations run through the objects operation
//! ([`crate::objects::service`]): same bucket, same metadata
//! (`x-amz-meta-<name>` is the custom metadata `/v1/objects` shows as
//! `x-strata-meta-<name>`), same conditionals, ranges and multipart rules.
//! This module translates the request into that operation's terms and its
//! answer back into S3's (XML bodies, `ETag` headers, S3 error codes).

use super::checksum::Expected;
use super::copy::Copy;
use super::sigv4::Payload;
use super::xml::{self, DeleteEntry, ListEcho};
use super::S3Error;
use crate::auth::{Principal, Scope};
use crate::http::RequestHeaders;
use crate::objects::conditional::Preconditions;
use crate::objects::etag::EtagCondition;
use crate::objects::list::{
    bounded_param, cursor_param, ListPage, ListParams, MAX_KEY_PARAM_BYTES, MAX_LIST_LIMIT,
};
use crate::objects::metadata::{META_PREFIX, SHA256_HEADER};
use crate::objects::operation::Operation;
use crate::objects::service::{self as objects, Body, Command};
use crate::objects::{hex, ObjectKey};
use crate::percent;
use crate::store::{ObjectStore, MAX_KEYS_PER_DELETE};

/// Query parameters naming S3 sub-resources Strata does not serve.
const UNSUPPORTED: &[&str] = &[
    "acl",
    "tagging",
    "versioning",
    "versions",
    "versionId",
    "policy",
    "policyStatus",
    "cors",
    "lifecycle",
    "website",
    "logging",
    "notification",
    "replication",
    "encryption",
    "object-lock",
    "retention",
    "legal-hold",
    "torrent",
    "restore",
    "select",
    "attributes",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
    "ownershipControls",
    "requestPayment",
    "publicAccessBlock",
    "intelligent-tiering",
];

/// A parsed S3 request.
#[derive(Debug)]
pub struct S3Command {
    op: Op,
}

#[derive(Debug)]
enum Op {
    ListBuckets,
    HeadBucket,
    BucketLocation,
    List {
        v2: bool,
        echo: ListEcho,
        params: Option<ListParams>,
    },
    DeleteObjects {
        checksum: Option<Expected>,
    },
    Copy(Box<Copy>),
    Object {
        kind: ObjectOp,
        key: ObjectKey,
        command: Command,
        overrides: Vec<(&'static str, String)>,
        /// The payload's SHA-256 was handed to the store to verify.
        sha256_in_store: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectOp {
    Get,
    Head,
    Put,
    Delete,
    CreateUpload,
    UploadPart,
    CompleteUpload,
    AbortUpload,
}

/// What of the body an S3 command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// None.
    None,
    /// The object's bytes (an upload), of this length once decoded.
    Stream(u64),
    /// A small XML document, read whole (at most [`xml::MAX_XML_BYTES`]).
    Xml,
}

/// An S3 answer's body.
#[derive(Debug)]
pub enum S3Body<B> {
    /// The object's bytes as the store streams them.
    Stream(B),
    /// An XML document.
    Xml(String),
}

/// An S3 answer.
#[derive(Debug)]
pub struct S3Reply<B> {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<S3Body<B>>,
}

impl<B> S3Reply<B> {
    fn xml(status: u16, body: String) -> S3Reply<B> {
        S3Reply {
            status,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: Some(S3Body::Xml(body)),
        }
    }

    fn empty(status: u16) -> S3Reply<B> {
        S3Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A header's value (`name` lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where the request is going: the configured bucket's name and the path
/// parameters.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The one bucket served (`S3_BUCKET`).
    pub bucket: &'a str,
    /// `{bucket}` of the path, raw; `None` on `/s3`.
    pub path_bucket: Option<&'a str>,
    /// `{*key}` of the path, raw; `None` on a bucket.
    pub path_key: Option<&'a str>,
}

/// The length of the payload, decoded: `x-amz-decoded-content-length` for
/// aws-chunked bodies, `Content-Length` otherwise.
pub fn payload_length(headers: &RequestHeaders, payload: Payload) -> Option<u64> {
    let name = match payload {
        Payload::Chunked { .. } => "x-amz-decoded-content-length",
        _ => "content-length",
    };
    headers.get(name).and_then(|v| v.trim().parse().ok())
}

/// Whether the body must pass through the Worker to be checked: aws-chunked
/// framing to remove, or a checksum the store cannot verify. Otherwise the
/// request's stream goes to the store untouched.
pub fn body_needs_worker(headers: &RequestHeaders, payload: Payload) -> bool {
    matches!(payload, Payload::Chunked { .. })
        || super::checksum::Algorithm::ALL
            .iter()
            .any(|a| headers.get(a.header()).is_some())
        || (matches!(payload, Payload::Sha256(_)) && headers.get("content-md5").is_some())
}

/// The request's headers in the objects operation's terms.
fn objects_headers(
    headers: &RequestHeaders,
    payload: Payload,
    sha256_in_store: bool,
) -> RequestHeaders {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in headers.iter() {
        if name.starts_with("x-strata-") || name == "content-length" {
            continue;
        }
        if let Some(meta) = name.strip_prefix("x-amz-meta-") {
            out.push((format!("{META_PREFIX}{meta}"), value.to_string()));
        } else if name == "content-encoding" {
            // `aws-chunked` is the transfer's framing, not the object's.
            let kept: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            if !kept.is_empty() {
                out.push((name.to_string(), kept.join(", ")));
            }
        } else {
            out.push((name.to_string(), value.to_string()));
        }
    }
    if let Some(length) = payload_length(headers, payload) {
        out.push(("content-length".into(), length.to_string()));
    }
    if let (true, Payload::Sha256(hash)) = (sha256_in_store, payload) {
        out.push((SHA256_HEADER.to_string(), hex(&hash)));
    }
    RequestHeaders::new(out)
}

impl S3Command {
    /// Parses a request whose signature held (`payload` is what it
    /// promised) for `principal`, checking the scope its operation needs.
    pub fn parse(
        method: &str,
        target: Target,
        query: Option<&str>,
        headers: &RequestHeaders,
        payload: Payload,
        principal: &Principal,
    ) -> Result<S3Command, S3Error> {
        let params = super::sigv4::query_pairs(query)?;
        let has = |n: &str| params.iter().any(|(k, _)| k == n);
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        if let Some((name, _)) = params
            .iter()
            .find(|(k, _)| UNSUPPORTED.contains(&k.as_str()))
        {
            return Err(S3Error::not_implemented(format!(
                "Strata's S3 API does not implement the {name} sub-resource"
            )));
        }
        // A malformed, doubled or unknown x-amz-checksum-* is refused here,
        // whichever way the body later goes.
        let checksum = Expected::from_headers(headers)?;
        let Some(path_bucket) = target.path_bucket else {
            return match method {
                "GET" | "HEAD" => {
                    principal_reads(principal)?;
                    Ok(S3Command {
                        op: Op::ListBuckets,
                    })
                }
                _ => Err(S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                )),
            };
        };
        let bucket = percent::decode(path_bucket, false).unwrap_or_default();
        if bucket != target.bucket {
            return Err(S3Error::no_such_bucket(format!(
                "The specified bucket does not exist: this endpoint serves the bucket {}",
                target.bucket
            )));
        }
        let Some(path_key) = target.path_key.filter(|k| !k.is_empty()) else {
            return bucket_op(method, target, &params, headers, principal);
        };
        let key = ObjectKey::from_path(Some(path_key)).map_err(S3Error::from)?;
        if headers.get("x-amz-copy-source").is_some() {
            if method != "PUT" {
                return Err(S3Error::invalid_request(
                    "x-amz-copy-source applies to PUT only",
                ));
            }
            let part = if has("uploadId") || has("partNumber") {
                let query = format!(
                    "uploadId={}&partNumber={}",
                    percent::encode(get("uploadId").unwrap_or(""), false),
                    percent::encode(get("partNumber").unwrap_or(""), false)
                );
                match Operation::parse("PUT", Some(&query)).map_err(S3Error::from)? {
                    Operation::UploadPart {
                        upload_id,
                        part_number,
                    } => Some((upload_id, part_number)),
                    _ => None,
                }
            } else {
                None
            };
            if part.is_some() {
                refuse_write_conditions(headers, "UploadPartCopy")?;
            }
            let translated = objects_headers(headers, payload, false);
            return Ok(S3Command {
                op: Op::Copy(Box::new(Copy::parse(
                    target.bucket,
                    key,
                    &translated,
                    part,
                    principal,
                )?)),
            });
        }
        if method == "GET" && has("partNumber") {
            return Err(S3Error::not_implemented(
                "GetObject by partNumber is not implemented",
            ));
        }
        // The multipart parameters the objects operation shares with S3.
        let (kind, objects_query) = match method {
            "GET" if has("uploadId") => {
                return Err(S3Error::not_implemented(
                    "ListParts is not implemented: R2's Workers binding cannot list parts",
                ))
            }
            "GET" => (ObjectOp::Get, None),
            "HEAD" => (ObjectOp::Head, None),
            "PUT" if has("uploadId") || has("partNumber") => {
                let id = percent::encode(get("uploadId").unwrap_or(""), false);
                let n = percent::encode(get("partNumber").unwrap_or(""), false);
                (
                    ObjectOp::UploadPart,
                    Some(format!("uploadId={id}&partNumber={n}")),
                )
            }
            "PUT" => (ObjectOp::Put, None),
            "POST" if has("uploads") => (ObjectOp::CreateUpload, Some("uploads".to_string())),
            "POST" if has("uploadId") && checksum.is_some() => {
                return Err(S3Error::not_implemented(
                    "A full-object checksum on CompleteMultipartUpload is not verified: R2 cannot compute one over the parts. Send a checksum with each part instead",
                ))
            }
            "POST" if has("uploadId") => (
                ObjectOp::CompleteUpload,
                Some(format!(
                    "uploadId={}",
                    percent::encode(get("uploadId").unwrap_or(""), false)
                )),
            ),
            "DELETE" if has("uploadId") => (
                ObjectOp::AbortUpload,
                Some(format!(
                    "uploadId={}",
                    percent::encode(get("uploadId").unwrap_or(""), false)
                )),
            ),
            "DELETE" => (ObjectOp::Delete, None),
            _ => {
                return Err(S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                ))
            }
        };
        match kind {
            ObjectOp::CreateUpload => refuse_write_conditions(headers, "CreateMultipartUpload")?,
            ObjectOp::UploadPart => refuse_write_conditions(headers, "UploadPart")?,
            ObjectOp::CompleteUpload => {
                refuse_write_conditions(headers, "CompleteMultipartUpload")?
            }
            _ => {}
        }
        let sha256_in_store = kind == ObjectOp::Put && !body_needs_worker(headers, payload);
        let translated = objects_headers(headers, payload, sha256_in_store);
        let command = Command::parse(
            method,
            Some(path_key),
            objects_query.as_deref(),
            &translated,
            principal,
        )
        .map_err(S3Error::from)?;
        let mut overrides = Vec::new();
        if kind == ObjectOp::Get || kind == ObjectOp::Head {
            for (param, header) in [
                ("response-content-type", "content-type"),
                ("response-content-language", "content-language"),
                ("response-expires", "expires"),
                ("response-cache-control", "cache-control"),
                ("response-content-disposition", "content-disposition"),
                ("response-content-encoding", "content-encoding"),
            ] {
                if let Some(v) = get(param) {
                    overrides.push((header, v.to_string()));
                }
            }
        }
        Ok(S3Command {
            op: Op::Object {
                kind,
                key,
                command,
                overrides,
                sha256_in_store,
            },
        })
    }

    /// Whether this command's body must pass through the Worker to be
    /// checked: [`body_needs_worker`], or a signed SHA-256 the store will
    /// not verify for it (R2 checks one on a plain PUT only, not on a
    /// multipart part) — unchecked, a replayed request could carry another
    /// body.
    pub fn body_needs_worker(&self, headers: &RequestHeaders, payload: Payload) -> bool {
        let store_checks_sha256 = matches!(
            self.op,
            Op::Object {
                sha256_in_store: true,
                ..
            }
        );
        body_needs_worker(headers, payload)
            || (matches!(payload, Payload::Sha256(_)) && !store_checks_sha256)
    }

    /// An upload (PutObject, UploadPart) of zero bytes: [`input`](Self::input)
    /// asks for no body, but what was sent (a checksum header, aws-chunked
    /// framing and its trailer) must still be checked before the empty
    /// object is written.
    pub fn empty_upload(&self) -> bool {
        matches!(&self.op, Op::Object { command, .. } if command.upload_length() == Some(0))
    }

    /// What of the body [`execute`] needs.
    pub fn input(&self) -> Input {
        match &self.op {
            Op::DeleteObjects { .. } => Input::Xml,
            Op::Object {
                kind: ObjectOp::CompleteUpload,
                ..
            } => Input::Xml,
            Op::Object { command, .. } => match command.input() {
                objects::Input::Stream => Input::Stream(command.upload_length().unwrap_or(0)),
                _ => Input::None,
            },
            _ => Input::None,
        }
    }
}

/// Whether `marker` is a prefix a listing with `prefix` and `delimiter`
/// rolls up (`photos/2024/` under `photos/`), not a key of its own (the
/// folder placeholder `photos/` itself, listed as a key under `photos/`).
fn rolled_up(marker: &str, prefix: Option<&str>, delimiter: Option<&str>) -> bool {
    let (Some(d), Some(rest)) = (delimiter, marker.strip_prefix(prefix.unwrap_or(""))) else {
        return false;
    };
    !d.is_empty() && rest.len() > d.len() && rest.find(d) == Some(rest.len() - d.len())
}

/// `If-Match`, `If-None-Match` or `If-Unmodified-Since` on a multipart
/// step: `501 NotImplemented`, never ignored. S3 takes no condition on
/// CreateMultipartUpload, UploadPart and UploadPartCopy (its conditions
/// there are `x-amz-copy-source-if-*`, on the source, which Strata
/// applies); it does take `If-Match` / `If-None-Match` on
/// CompleteMultipartUpload, which R2 cannot apply to completing an upload.
/// Either way a client that sent one expects it enforced, and it would not
/// be.
fn refuse_write_conditions(headers: &RequestHeaders, operation: &str) -> Result<(), S3Error> {
    let conditions = Preconditions::parse(headers).map_err(S3Error::from)?;
    if conditions.constrains_write() {
        return Err(S3Error::not_implemented(format!(
            "{operation} with If-Match, If-None-Match or If-Unmodified-Since is not implemented: the condition could not be enforced, so the request is refused rather than run without it"
        )));
    }
    Ok(())
}

fn max_keys_invalid() -> S3Error {
    S3Error::invalid_argument("Provided max-keys not an integer or within integer range")
}

fn principal_reads(principal: &Principal) -> Result<(), S3Error> {
    principal.require(Scope::ObjectsRead).map_err(S3Error::from)
}

fn bucket_op(
    method: &str,
    target: Target,
    params: &[(String, String)],
    headers: &RequestHeaders,
    principal: &Principal,
) -> Result<S3Command, S3Error> {
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let has = |n: &str| params.iter().any(|(k, _)| k == n);
    let op = match method {
        "HEAD" => Op::HeadBucket,
        "GET" if has("location") => Op::BucketLocation,
        "GET" if has("uploads") => {
            return Err(S3Error::not_implemented(
                "ListMultipartUploads is not implemented: R2's Workers binding cannot list uploads",
            ))
        }
        "GET" => {
            let v2 = get("list-type") == Some("2");
            // The same limits as /v1/objects' listing (a longer prefix,
            // delimiter or marker than a key can be matches nothing), as
            // S3's InvalidArgument.
            let text = |n: &str| {
                bounded_param(n, get(n), MAX_KEY_PARAM_BYTES).map_err(S3Error::invalid_argument)
            };
            let max_keys = match get("max-keys") {
                None | Some("") => MAX_LIST_LIMIT,
                Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => {
                    v.parse::<u64>()
                        .map_err(|_| max_keys_invalid())?
                        .min(u64::from(MAX_LIST_LIMIT)) as u32
                }
                Some(_) => return Err(max_keys_invalid()),
            };
            let url_encoding = match get("encoding-type") {
                None => false,
                Some("url") => true,
                Some(_) => {
                    return Err(S3Error::invalid_argument(
                        "Invalid Encoding Method specified in Request",
                    ))
                }
            };
            // v2 pages by the store's cursor (`continuation-token`), which
            // wins over `start-after`; v1's `marker` is a key, as in S3,
            // and its `NextMarker` is the page's last key or prefix.
            let (token, marker) = if v2 {
                let token = cursor_param("continuation-token", get("continuation-token")).map_err(
                    |_| S3Error::invalid_argument("The continuation token provided is incorrect"),
                )?;
                (token, text("start-after")?)
            } else {
                (None, text("marker")?)
            };
            let delimiter = text("delimiter")?;
            let prefix = text("prefix")?;
            let after = match (&token, &marker) {
                (None, Some(m)) if !v2 && rolled_up(m, prefix.as_deref(), delimiter.as_deref()) => {
                    // A rolled-up prefix as the marker: skip every key under
                    // it, or the next page would roll them up again.
                    Some(format!("{m}\u{10FFFF}"))
                }
                (None, m) => m.clone(),
                (Some(_), _) => None,
            };
            let echo = ListEcho {
                bucket: target.bucket.to_string(),
                prefix,
                delimiter,
                max_keys,
                url_encoding,
                token: if v2 { token.clone() } else { marker.clone() },
                start_after: if v2 { marker } else { None },
            };
            let params = (max_keys > 0).then(|| ListParams {
                prefix: echo.prefix.clone(),
                delimiter: echo.delimiter.clone(),
                cursor: token,
                start_after: after,
                limit: max_keys,
            });
            Op::List { v2, echo, params }
        }
        "POST" if has("delete") => {
            principal
                .require(Scope::ObjectsWrite)
                .map_err(S3Error::from)?;
            return Ok(S3Command {
                op: Op::DeleteObjects {
                    checksum: Expected::from_headers(headers)?,
                },
            });
        }
        "PUT" => return Err(S3Error::new(
            "BucketAlreadyOwnedByYou",
            409,
            "Your previous request to create the named bucket succeeded and you already own it.",
        )),
        "DELETE" => {
            return Err(S3Error::new(
                "BucketNotEmpty",
                409,
                "Strata's S3 API serves one configured bucket; it cannot be deleted.",
            ))
        }
        _ => {
            return Err(S3Error::method_not_allowed(
                "The specified method is not allowed against this resource.",
            ))
        }
    };
    principal_reads(principal)?;
    Ok(S3Command { op })
}

/// Runs the command against `store`: `upload` is the body's stream when
/// [`S3Command::input`] asked for one, `xml` its bytes when it asked for XML.
pub async fn execute<B, S: ObjectStore<Body = B, Upload = B>>(
    command: S3Command,
    store: &S,
    upload: Option<B>,
    xml_body: Option<&[u8]>,
    bucket: &str,
    owner: &str,
) -> Result<S3Reply<B>, S3Error> {
    match command.op {
        Op::Copy(copy) => Ok(S3Reply::xml(200, copy.execute(store).await?)),
        Op::ListBuckets => Ok(S3Reply::xml(200, xml::list_buckets(bucket, owner))),
        Op::HeadBucket => {
            let mut r = S3Reply::empty(200);
            r.headers
                .push(("x-amz-bucket-region".into(), super::REGION.into()));
            Ok(r)
        }
        Op::BucketLocation => Ok(S3Reply::xml(200, xml::bucket_location(super::REGION))),
        Op::List { v2, echo, params } => {
            let page = match params {
                Some(p) => store
                    .list(&p)
                    .await
                    .map_err(|e| S3Error::from(crate::ApiError::from(e)))?,
                None => ListPage::default(),
            };
            let body = if v2 {
                xml::list_objects_v2(&echo, &page)
            } else {
                xml::list_objects_v1(&echo, &page)
            };
            Ok(S3Reply::xml(200, body))
        }
        Op::DeleteObjects { checksum } => {
            let body = xml_body.unwrap_or_default();
            let mut check = super::checksum::BodyCheck::new(None, checksum);
            check.update(body);
            check.finish()?;
            let request = xml::parse_delete(body)?;
            let results = delete_objects(store, &request.objects).await?;
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for (entry, result) in request.objects.into_iter().zip(results) {
                match result {
                    Ok(()) => deleted.push(entry),
                    Err(e) => errors.push((entry, e)),
                }
            }
            Ok(S3Reply::xml(
                200,
                xml::delete_result(&deleted, &errors, request.quiet),
            ))
        }
        Op::Object {
            kind,
            key,
            command,
            overrides,
            sha256_in_store,
        } => {
            let json = match kind {
                ObjectOp::CompleteUpload => {
                    let parts = xml::parse_complete_multipart(xml_body.unwrap_or_default())?;
                    let parts: Vec<serde_json::Value> = parts
                        .iter()
                        .map(|p| serde_json::json!({"partNumber": p.part_number, "etag": p.etag}))
                        .collect();
                    Some(
                        serde_json::to_vec(&serde_json::json!({ "parts": parts }))
                            .unwrap_or_default(),
                    )
                }
                _ => None,
            };
            let answer = objects::execute(command, store, upload, json.as_deref())
                .await
                .map_err(|e| {
                    let e = S3Error::from(e);
                    if sha256_in_store && e.code == "BadDigest" {
                        S3Error::content_sha256_mismatch(
                            "The provided 'x-amz-content-sha256' header does not match what was computed.",
                        )
                    } else {
                        e
                    }
                })?;
            Ok(object_reply(kind, &key, answer, overrides, bucket))
        }
    }
}

/// Runs a DeleteObjects' entries; one result each, in the body's order.
///
/// Each entry is read first ([`delete_plan`]): a refused one is that key's
/// error, with no store call. Then every unconditional key is deleted in
/// one store call ([`ObjectStore::delete_many`]; chunks of
/// [`MAX_KEYS_PER_DELETE`], so one call for the at most 1000 keys of a
/// body): a Worker invocation's binding calls are limited, and one call per
/// key would spend up to 1000 of them. Last, each key with an `ETag` is read
/// and deleted on its own (R2's delete takes no condition): up to 2 calls
/// each.
///
/// A failed batch fails the whole request (503 `ServiceUnavailable`, or
/// the store's timeout), which S3 clients retry by themselves, rather than
/// answering `InternalError` for each key, which most callers never look
/// at. That is exact to retry: the store does not say which keys went, but
/// deleting them again is harmless, and the conditional entries, which a
/// retry would answer differently once done, have not run yet.
async fn delete_objects<S: ObjectStore>(
    store: &S,
    entries: &[DeleteEntry],
) -> Result<Vec<Result<(), S3Error>>, S3Error> {
    enum Planned {
        Refused(S3Error),
        Batched,
        Conditional(ObjectKey, Preconditions),
    }
    let mut batch: Vec<ObjectKey> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let plans: Vec<Planned> = entries
        .iter()
        .map(|entry| match delete_plan(entry) {
            Err(e) => Planned::Refused(e),
            Ok((key, None)) => {
                // A key named twice is deleted once.
                if seen.insert(key.as_str().to_string()) {
                    batch.push(key);
                }
                Planned::Batched
            }
            Ok((key, Some(preconditions))) => Planned::Conditional(key, preconditions),
        })
        .collect();
    for chunk in batch.chunks(MAX_KEYS_PER_DELETE) {
        store
            .delete_many(chunk)
            .await
            .map_err(|e| S3Error::from(crate::ApiError::from(e)))?;
    }
    let mut results = Vec::with_capacity(plans.len());
    for plan in plans {
        results.push(match plan {
            Planned::Refused(e) => Err(e),
            Planned::Batched => Ok(()),
            Planned::Conditional(key, preconditions) => {
                objects::delete_if(store, &key, &preconditions)
                    .await
                    .map_err(S3Error::from)
            }
        });
    }
    Ok(results)
}

/// What one object of a DeleteObjects asks: its key, and the condition
/// its `ETag` sets (`None`: delete it whatever it holds). The bucket keeps
/// no versions: the version id `null` (S3's name for an unversioned
/// object's one version) names the object, any other names a version that
/// does not exist and deletes nothing, as S3 answers on an unversioned
/// bucket. An `ETag` deletes only while the object still has it.
fn delete_plan(entry: &DeleteEntry) -> Result<(ObjectKey, Option<Preconditions>), S3Error> {
    if entry.version_id.as_deref().is_some_and(|v| v != "null") {
        return Err(S3Error::no_such_version(
            "The specified version does not exist.",
        ));
    }
    let key = ObjectKey::new(entry.key.clone()).map_err(S3Error::from)?;
    let Some(tag) = entry.etag.as_deref().map(str::trim) else {
        return Ok((key, None));
    };
    // S3 documents the ETag bare; a quoted one is read as sent.
    let tag = if tag == "*" || tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    };
    let if_match = EtagCondition::parse(&tag)
        .ok_or_else(|| S3Error::invalid_argument("The ETag is not a valid entity tag"))?;
    let preconditions = Preconditions {
        if_match: Some(if_match),
        ..Preconditions::default()
    };
    Ok((key, Some(preconditions)))
}

fn object_reply<B>(
    kind: ObjectOp,
    key: &ObjectKey,
    answer: objects::ObjectReply<B>,
    overrides: Vec<(&'static str, String)>,
    bucket: &str,
) -> S3Reply<B> {
    let etag = answer.header("etag").map(str::to_string);
    let objects::ObjectReply {
        reply,
        metadata_headers,
    } = answer;
    match kind {
        ObjectOp::Get | ObjectOp::Head => {
            let mut headers: Vec<(String, String)> = metadata_headers
                .into_iter()
                .map(|(n, v)| match n.strip_prefix(META_PREFIX) {
                    Some(name) => (format!("x-amz-meta-{name}"), v),
                    None => (n, v),
                })
                .collect();
            for (n, v) in reply.headers {
                if overrides.iter().any(|(o, _)| *o == n) {
                    continue;
                }
                headers.push((n.to_string(), v));
            }
            for (n, v) in overrides {
                if reply.status < 300 {
                    headers.push((n.to_string(), v));
                }
            }
            S3Reply {
                status: reply.status,
                headers,
                body: match reply.body {
                    Some(Body::Stream(b)) => Some(S3Body::Stream(b)),
                    _ => None,
                },
            }
        }
        ObjectOp::Put | ObjectOp::UploadPart => {
            let mut r = S3Reply::empty(200);
            if let Some(etag) = etag {
                r.headers.push(("etag".into(), etag));
            }
            r
        }
        ObjectOp::Delete | ObjectOp::AbortUpload => S3Reply::empty(204),
        ObjectOp::CreateUpload => {
            let id = match &reply.body {
                Some(Body::Json(bytes)) => serde_json::from_slice::<serde_json::Value>(bytes)
                    .ok()
                    .and_then(|v| v["uploadId"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            S3Reply::xml(200, xml::initiate_multipart(bucket, key.as_str(), &id))
        }
        ObjectOp::CompleteUpload => {
            let etag = etag.unwrap_or_default();
            let location = format!("/s3/{bucket}/{}", key.to_url_path());
            S3Reply::xml(
                200,
                xml::complete_multipart(&location, bucket, key.as_str(), etag.trim_matches('"')),
            )
        }
    }
}

#[cfg(test)]
mod tests;
