//! CopyObject and UploadPartCopy: `PUT` with `x-amz-copy-source`.
//!
//! The source is read from the store and its stream handed straight to the
//! store's write (no byte enters wasm memory), so a copy costs one `get`
//! and one `put` (plus the `head` a write does for its preconditions; a
//! ranged part copy heads the source first to check the range).
//!
//! * `x-amz-copy-source`: `bucket/key` or `/bucket/key`, percent-encoded;
//!   the bucket must be the one served. `?versionId=` is refused: the
//!   bucket keeps no versions.
//! * `x-amz-copy-source-if-match|if-none-match|if-modified-since|
//!   if-unmodified-since` are evaluated on the metadata that came with the
//!   source's body (the version actually copied); any failure is 412.
//! * `x-amz-metadata-directive`: `COPY` (default) keeps the source's HTTP
//!   and custom metadata, `REPLACE` takes the request's. A copy onto itself
//!   without `REPLACE` changes nothing and is refused, as S3 does.
//! * `If-Match` / `If-None-Match` on the destination apply as on a PUT
//!   (CopyObject). An UploadPartCopy with one is refused before it gets
//!   here (`501 NotImplemented`, [`super::service`]): S3 takes no condition
//!   on a part, and a part has no current state to compare with.
//! * The source's SHA-256, when R2 keeps one, is handed to the write: R2
//!   verifies the copy and the new object keeps the checksum.
//!
//! Reading the source needs `objects:read`, writing `objects:write`.

use super::xml;
use super::S3Error;
use crate::auth::{Principal, Scope};
use crate::http::RequestHeaders;
use crate::objects::conditional::{Access, Outcome, Preconditions};
use crate::objects::metadata::UploadMetadata;
use crate::objects::range::ByteRange;
use crate::objects::service::{for_write, write};
use crate::objects::upload::Checksum;
use crate::objects::{ObjectKey, ObjectMeta, MAX_PUT_BYTES};
use crate::percent;
use crate::store::{Fetched, ObjectStore};

/// One copy, parsed and authorised.
#[derive(Debug)]
pub struct Copy {
    source: ObjectKey,
    dest: ObjectKey,
    /// The `x-amz-copy-source-if-*` conditions, on the source.
    source_conditions: Preconditions,
    /// `If-Match` / `If-None-Match` on the destination.
    dest_conditions: Preconditions,
    /// `REPLACE`: the request's metadata; `None` keeps the source's.
    metadata: Option<UploadMetadata>,
    /// UploadPartCopy: the upload, the part number and the source range.
    part: Option<(String, u16, Option<ByteRange>)>,
}

/// The source named by `x-amz-copy-source`.
fn source_key(value: &str, bucket: &str) -> Result<ObjectKey, S3Error> {
    let (path, query) = value.split_once('?').unwrap_or((value, ""));
    if !query.is_empty() {
        return Err(if query.split('&').any(|p| p.starts_with("versionId=")) {
            S3Error::not_implemented(
                "Copying a version (versionId) is not implemented: the bucket keeps no versions",
            )
        } else {
            S3Error::invalid_argument("x-amz-copy-source takes no query but versionId")
        });
    }
    let path = percent::decode(path.strip_prefix('/').unwrap_or(path), false)
        .map_err(|_| S3Error::invalid_argument("x-amz-copy-source is not validly URL-encoded"))?;
    let Some((source_bucket, key)) = path.split_once('/') else {
        return Err(S3Error::invalid_argument(
            "x-amz-copy-source must be <bucket>/<key>, URL-encoded",
        ));
    };
    if source_bucket != bucket {
        return Err(S3Error::no_such_bucket(format!(
            "The specified bucket does not exist: this endpoint serves the bucket {bucket}"
        )));
    }
    ObjectKey::new(key.to_string()).map_err(S3Error::from)
}

/// `x-amz-copy-source-range: bytes=<first>-<last>` (both given).
fn source_range(value: &str) -> Result<ByteRange, S3Error> {
    value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| a <= b)
        .map(|(start, end)| ByteRange { start, end })
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            )
        })
}

impl Copy {
    /// Parses a copy onto `dest`; `headers` are the objects operation's
    /// (`x-amz-meta-*` already `x-strata-meta-*`), `part` the upload and
    /// part number of an UploadPartCopy.
    pub fn parse(
        bucket: &str,
        dest: ObjectKey,
        headers: &RequestHeaders,
        part: Option<(String, u16)>,
        principal: &Principal,
    ) -> Result<Copy, S3Error> {
        principal
            .require(Scope::ObjectsRead)
            .and_then(|_| principal.require(Scope::ObjectsWrite))
            .map_err(S3Error::from)?;
        let source = source_key(headers.get("x-amz-copy-source").unwrap_or(""), bucket)?;
        let renamed = RequestHeaders::new(headers.iter().filter_map(|(n, v)| {
            n.strip_prefix("x-amz-copy-source-")
                .filter(|n| n.starts_with("if-"))
                .map(|n| (n.to_string(), v.to_string()))
        }));
        let source_conditions = Preconditions::parse(&renamed).map_err(S3Error::from)?;
        let dest_conditions = Preconditions::parse(headers).map_err(S3Error::from)?;
        let replace = match headers.get("x-amz-metadata-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
        };
        let metadata = if replace {
            Some(UploadMetadata::from_headers(headers).map_err(S3Error::from)?)
        } else {
            None
        };
        let part = match part {
            Some((id, n)) => {
                let range = headers
                    .get("x-amz-copy-source-range")
                    .map(source_range)
                    .transpose()?;
                Some((id, n, range))
            }
            None if source == dest && !replace => {
                return Err(S3Error::invalid_request(
                    "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata.",
                ))
            }
            None => None,
        };
        Ok(Copy {
            source,
            dest,
            source_conditions,
            dest_conditions,
            metadata,
            part,
        })
    }

    /// Copies: the source streamed into the destination (or the part).
    pub async fn execute<B, S>(self, store: &S) -> Result<String, S3Error>
    where
        S: ObjectStore<Body = B, Upload = B>,
    {
        let range = self.part.as_ref().and_then(|(_, _, r)| *r);
        let (meta, body) = self.read(store, range).await?;
        let length = range.map_or(meta.size, |r| r.len());
        if length > MAX_PUT_BYTES {
            store.discard(body);
            return Err(S3Error::invalid_request(format!(
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_BYTES}"
            )));
        }
        let body = if length == 0 {
            store.discard(body);
            None
        } else {
            Some(body)
        };
        let stored = |e| S3Error::from(for_write(e));
        if let Some((upload_id, number, _)) = &self.part {
            let etag = store
                .upload_part(&self.dest, upload_id, *number, body, length)
                .await
                .map_err(|e| stored(e.into()))?;
            return Ok(xml::copy_result("CopyPartResult", &etag, meta.uploaded_ms));
        }
        let metadata = self.metadata.unwrap_or_else(|| UploadMetadata {
            http: meta.http.clone(),
            custom: meta.custom.clone(),
        });
        let checksum = meta.sha256.map(Checksum::Sha256);
        let (object, _) = write(
            store,
            &self.dest,
            body,
            length,
            &self.dest_conditions,
            &metadata,
            checksum.as_ref(),
        )
        .await
        .map_err(stored)?;
        Ok(xml::copy_result(
            "CopyObjectResult",
            &object.etag,
            object.uploaded_ms,
        ))
    }

    /// The source's metadata and body (the range of it), once its
    /// conditions held.
    async fn read<B, S>(
        &self,
        store: &S,
        range: Option<ByteRange>,
    ) -> Result<(ObjectMeta, B), S3Error>
    where
        S: ObjectStore<Body = B, Upload = B>,
    {
        let missing = || S3Error::no_such_key("The specified copy source does not exist.");
        let store_error = |e: crate::store::StoreError| S3Error::from(crate::ApiError::from(e));
        let holds = |meta: &ObjectMeta| {
            self.source_conditions
                .evaluate(Access::Read, Some(&meta.validators()))
                == Outcome::Proceed
        };
        let failed = || {
            S3Error::precondition_failed(
                "At least one of the pre-conditions you specified did not hold",
            )
        };
        // A range is checked against the size first, then read pinned to the
        // version it was checked on.
        let pin = match range {
            Some(r) => {
                let meta = store.head(&self.source).await.map_err(store_error)?;
                let meta = meta.ok_or_else(missing)?;
                if !holds(&meta) {
                    return Err(failed());
                }
                if r.end >= meta.size {
                    return Err(S3Error::invalid_argument(format!(
                        "Range specified is not valid for source object of size: {}",
                        meta.size
                    )));
                }
                Some(meta.etag)
            }
            None => None,
        };
        match store
            .get(&self.source, pin.as_deref(), range)
            .await
            .map_err(store_error)?
        {
            Fetched::Missing => Err(missing()),
            Fetched::Changed => Err(S3Error::new(
                "OperationAborted",
                409,
                "The copy source changed while it was being copied; try again.",
            )),
            Fetched::Body(meta, body) => {
                if holds(&meta) {
                    Ok((meta, body))
                } else {
                    store.discard(body);
                    Err(failed())
                }
            }
        }
    }
}
