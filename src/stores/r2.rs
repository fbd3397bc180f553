//! R2, through the `BUCKET` binding.
//!
//! Bodies never pass through wasm memory: uploads hand the request's own
//! JavaScript `ReadableStream` to `put` / `uploadPart` (R2 needs its length
//! known, which the route guarantees with `Content-Length`), and downloads
//! hand R2's body stream back untouched for the response. [`Store`] is
//! core's [`ObjectStore`]: objects are translated to the core's
//! [`ObjectMeta`] here, so nothing above sees a binding type. R2's errors
//! become [`StoreError::Refused`] with the client's 4xx where the client
//! caused them ([`r2_error`]; completing or aborting reads R2's
//! `InternalError` as an unknown upload id, which is how R2 reports one
//! there), [`StoreError::Unavailable`] otherwise, with the cause for the log
//! only.
//!
//! Metadata-only calls are bounded by `STORE_TIMEOUT_MS`; uploads are not,
//! since they last as long as the client takes to send the body.

use super::{with_timeout, StoreError};
use crate::settings;
use std::collections::HashMap;
use strata_core::objects::list::{ListPage, ListParams};
use strata_core::objects::metadata::UploadMetadata;
use strata_core::objects::multipart::PartRef;
use strata_core::objects::r2_error;
use strata_core::objects::range::ByteRange;
use strata_core::objects::upload::Checksum;
use strata_core::objects::{HttpFields, ObjectKey, ObjectMeta};
use strata_core::store::{Fetched, ObjectStore, Pin};
use strata_core::ApiError;
use worker::web_sys::ReadableStream;
use worker::{
    Bucket, Conditional, Data, Date, DateInit, Env, HttpMetadata, Include, Object, Range,
    ResponseBody, UploadedPart,
};

/// The R2 binding's name in wrangler.toml.
pub const BINDING: &str = "BUCKET";

/// The key `/v1/status` heads; it need not exist, the round trip is the check.
const PROBE_KEY: &str = ".strata/status-probe";

/// The bucket.
pub fn bucket(env: &Env) -> Result<Bucket, StoreError> {
    env.bucket(BINDING).map_err(|_| {
        StoreError::Config(ApiError::config(
            "the R2 binding BUCKET",
            "is missing from wrangler.toml",
        ))
    })
}

/// Heads a key for real (absent is fine: the store answered).
pub async fn ping(env: &Env) -> Result<(), StoreError> {
    bucket(env)?
        .head(PROBE_KEY)
        .await
        .map(|_| ())
        .map_err(|e| StoreError::unavailable("r2", e))
}

/// The bucket and the metadata-call time limit, read once per request.
pub struct Store {
    bucket: Bucket,
    timeout_ms: u64,
}

impl Store {
    /// Opens the bucket.
    pub fn open(env: &Env) -> Result<Store, ApiError> {
        Ok(Store {
            bucket: bucket(env).map_err(ApiError::from)?,
            timeout_ms: settings::store_timeout_ms(env)?,
        })
    }

    /// Runs an R2 call within `STORE_TIMEOUT_MS`, keeping R2's error code.
    async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, Failure>>,
    ) -> Result<T, StoreFailure> {
        match with_timeout("r2", self.timeout_ms, async { Ok(call.await) }).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(f)) => Err(StoreFailure::R2(f)),
            Err(e) => Err(StoreFailure::Store(e)),
        }
    }
}

impl ObjectStore for Store {
    type Body = ReadableStream;
    type Upload = ReadableStream;

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let call = async {
            self.bucket
                .head(key.as_str())
                .await
                .map_err(|e| Failure::new("head", e))
        };
        match self.timed(call).await.map_err(StoreFailure::into_store)? {
            Some(obj) => Ok(Some(meta(&obj)?)),
            None => Ok(None),
        }
    }

    async fn get(
        &self,
        key: &ObjectKey,
        pin: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<Fetched<ReadableStream>, StoreError> {
        let mut request = self.bucket.get(key.as_str());
        if let Some(etag) = pin {
            request = request.only_if(Conditional {
                etag_matches: Some(etag.to_string()),
                ..Conditional::default()
            });
        }
        if let Some(r) = range {
            request = request.range(Range::OffsetWithLength {
                offset: r.start,
                length: r.len(),
            });
        }
        let call = async { request.execute().await.map_err(|e| Failure::new("get", e)) };
        let Some(object) = self.timed(call).await.map_err(StoreFailure::into_store)? else {
            return Ok(Fetched::Missing);
        };
        let meta = meta(&object)?;
        // R2 answers a failed `onlyIf` with the object's metadata and no body.
        let Some(body) = object.body() else {
            return Ok(Fetched::Changed);
        };
        match body.response_body() {
            Ok(ResponseBody::Stream(stream)) => Ok(Fetched::Body(meta, stream)),
            Ok(_) => Err(Failure::store("get", "the object body is not a stream").into_store()),
            Err(e) => Err(Failure::new("get", e).into_store()),
        }
    }

    fn discard(&self, body: ReadableStream) {
        // The returned promise only reports when cancelling finished.
        let _ = body.cancel();
    }

    /// Not bounded by `STORE_TIMEOUT_MS`: it lasts as long as the client
    /// takes to send the body. R2 reads the request's stream, whose length
    /// the runtime knows from `Content-Length`.
    async fn put(
        &self,
        key: &ObjectKey,
        body: Option<ReadableStream>,
        _length: u64,
        metadata: &UploadMetadata,
        checksum: Option<&Checksum>,
        pin: Option<Pin>,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let data = match body {
            Some(stream) => Data::ReadableStream(stream),
            None => Data::Empty,
        };
        let mut request = self
            .bucket
            .put(key.as_str(), data)
            .http_metadata(http_metadata(&metadata.http))
            .custom_metadata(custom_metadata(metadata));
        request = match checksum {
            Some(Checksum::Md5(digest)) => request.md5(digest.to_vec()),
            Some(Checksum::Sha256(digest)) => request.sha256(digest.to_vec()),
            None => request,
        };
        if let Some(pin) = pin {
            request = request.only_if(conditional(pin));
        }
        match request.execute().await {
            Ok(Some(obj)) => Ok(Some(meta(&obj)?)),
            Ok(None) => Ok(None),
            Err(e) => Err(Failure::new("put", e).into_store()),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let call = async {
            self.bucket
                .delete(key.as_str())
                .await
                .map_err(|e| Failure::new("delete", e))
        };
        self.timed(call).await.map_err(StoreFailure::into_store)
    }

    /// One binding call: R2's `delete` given an array of keys (at most
    /// 1000), so a DeleteObjects spends one of the invocation's binding
    /// calls, not one per key.
    async fn delete_many(&self, keys: &[ObjectKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = keys.iter().map(ObjectKey::as_str).collect();
        let call = async {
            self.bucket
                .delete_multiple(keys)
                .await
                .map_err(|e| Failure::new("delete", e))
        };
        self.timed(call).await.map_err(StoreFailure::into_store)
    }

    /// One page of keys, with each object's HTTP and custom metadata.
    async fn list(&self, params: &ListParams) -> Result<ListPage, StoreError> {
        let mut request = self
            .bucket
            .list()
            .limit(params.limit)
            .include(vec![Include::HttpMetadata, Include::CustomMetadata]);
        if let Some(p) = &params.prefix {
            request = request.prefix(p.as_str());
        }
        if let Some(d) = &params.delimiter {
            request = request.delimiter(d.as_str());
        }
        if let Some(c) = &params.cursor {
            request = request.cursor(c.as_str());
        }
        if let Some(a) = &params.start_after {
            request = request.start_after(a.as_str());
        }
        let call = async { request.execute().await.map_err(|e| Failure::new("list", e)) };
        let page = self.timed(call).await.map_err(StoreFailure::into_store)?;
        let objects = page
            .objects()
            .iter()
            .map(meta)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage {
            objects,
            prefixes: page.delimited_prefixes(),
            cursor: page.cursor(),
            truncated: page.truncated(),
        })
    }

    async fn create_upload(
        &self,
        key: &ObjectKey,
        metadata: &UploadMetadata,
    ) -> Result<String, StoreError> {
        let request = self
            .bucket
            .create_multipart_upload(key.as_str())
            .http_metadata(http_metadata(&metadata.http))
            .custom_metadata(custom_metadata(metadata));
        let call = async {
            match request.execute().await {
                Ok(upload) => Ok(upload.upload_id().await),
                Err(e) => Err(Failure::new("createMultipartUpload", e)),
            }
        };
        self.timed(call).await.map_err(StoreFailure::into_store)
    }

    /// Streamed, and unbounded in time like `put`.
    async fn upload_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u16,
        body: Option<ReadableStream>,
        _length: u64,
    ) -> Result<String, StoreError> {
        let upload = self
            .bucket
            .resume_multipart_upload(key.as_str(), upload_id)
            .map_err(|e| Failure::new("uploadPart", e).into_store())?;
        let data = match body {
            Some(stream) => Data::ReadableStream(stream),
            None => Data::Empty,
        };
        upload
            .upload_part(part_number, data)
            .await
            .map(|part| part.etag())
            .map_err(|e| Failure::new("uploadPart", e).into_store())
    }

    async fn complete_upload(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[PartRef],
    ) -> Result<ObjectMeta, StoreError> {
        let upload = self
            .bucket
            .resume_multipart_upload(key.as_str(), upload_id)
            .map_err(|e| Failure::new("completeMultipartUpload", e).into_store())?;
        let parts: Vec<UploadedPart> = parts
            .iter()
            .map(|p| UploadedPart::new(p.part_number, p.etag.clone()))
            .collect();
        let call = async {
            upload
                .complete(parts)
                .await
                .map_err(|e| Failure::new("completeMultipartUpload", e))
        };
        let object = self
            .timed(call)
            .await
            .map_err(StoreFailure::into_finishing_upload_store)?;
        meta(&object)
    }

    /// R2 answers `NoSuchUpload` for an upload already aborted or
    /// completed: aborted it is, so retrying an abort is harmless.
    async fn abort_upload(&self, key: &ObjectKey, upload_id: &str) -> Result<(), StoreError> {
        let upload = self
            .bucket
            .resume_multipart_upload(key.as_str(), upload_id)
            .map_err(|e| Failure::new("abortMultipartUpload", e).into_store())?;
        let call = async {
            upload
                .abort()
                .await
                .map_err(|e| Failure::new("abortMultipartUpload", e))
        };
        match self.timed(call).await {
            Ok(()) => Ok(()),
            Err(StoreFailure::R2(f)) if f.code == Some(r2_error::NO_SUCH_UPLOAD) => Ok(()),
            Err(e) => Err(e.into_finishing_upload_store()),
        }
    }
}

/// An R2 call that failed: the operation, R2's code if it gave one, and its
/// message (for the log only).
struct Failure {
    op: &'static str,
    code: Option<u32>,
    message: String,
}

impl Failure {
    fn new(op: &'static str, e: worker::Error) -> Failure {
        let message = e.to_string();
        Failure {
            op,
            code: r2_error::code_in(&message),
            message,
        }
    }

    fn store(op: &'static str, message: &str) -> Failure {
        Failure {
            op,
            code: None,
            message: message.to_string(),
        }
    }

    fn into_store(self) -> StoreError {
        self.into_store_with(r2_error::client_error)
    }

    /// For `complete` and `abort`, where R2's `InternalError` means an
    /// upload id it never issued — or, rarely, its own failure, so the
    /// cause is logged all the same.
    fn into_finishing_upload_store(self) -> StoreError {
        if self.code == Some(r2_error::INTERNAL_ERROR) {
            worker::console_warn!(
                "r2: {}: {} (answered as upload_not_found)",
                self.op,
                self.message
            );
        }
        self.into_store_with(r2_error::finishing_upload_error)
    }

    fn into_store_with(self, client_error: fn(u32) -> Option<ApiError>) -> StoreError {
        match self.code.and_then(client_error) {
            Some(client) => StoreError::Refused(client),
            None => StoreError::unavailable("r2", format!("{}: {}", self.op, self.message)),
        }
    }
}

/// An R2 failure, or the time limit running out first.
enum StoreFailure {
    R2(Failure),
    Store(StoreError),
}

impl StoreFailure {
    fn into_store(self) -> StoreError {
        match self {
            StoreFailure::R2(f) => f.into_store(),
            StoreFailure::Store(e) => e,
        }
    }

    fn into_finishing_upload_store(self) -> StoreError {
        match self {
            StoreFailure::R2(f) => f.into_finishing_upload_store(),
            StoreFailure::Store(e) => e,
        }
    }
}

fn conditional(pin: Pin) -> Conditional {
    match pin {
        Pin::Etag(etag) => Conditional {
            etag_matches: Some(etag),
            ..Conditional::default()
        },
        // R2 reads `*` as "any object", so "does not match any" = absent.
        Pin::Absent => Conditional {
            etag_does_not_match: Some("*".into()),
            ..Conditional::default()
        },
    }
}

fn http_metadata(fields: &HttpFields) -> HttpMetadata {
    HttpMetadata {
        content_type: fields.content_type.clone(),
        content_language: fields.content_language.clone(),
        content_disposition: fields.content_disposition.clone(),
        content_encoding: fields.content_encoding.clone(),
        cache_control: fields.cache_control.clone(),
        cache_expiry: fields.expires_ms.map(|ms| Date::new(DateInit::Millis(ms))),
    }
}

fn custom_metadata(metadata: &UploadMetadata) -> HashMap<String, String> {
    metadata
        .custom
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The core's view of an R2 object.
fn meta(obj: &Object) -> Result<ObjectMeta, StoreError> {
    let http = obj.http_metadata();
    let custom = obj
        .custom_metadata()
        .map_err(|e| Failure::new("metadata", e).into_store())?;
    Ok(ObjectMeta {
        key: obj.key(),
        size: obj.size(),
        etag: obj.etag(),
        uploaded_ms: obj.uploaded().as_millis(),
        http: HttpFields {
            content_type: http.content_type,
            content_encoding: http.content_encoding,
            content_language: http.content_language,
            content_disposition: http.content_disposition,
            cache_control: http.cache_control,
            expires_ms: http.cache_expiry.map(|d| d.as_millis()),
        },
        custom: custom.into_iter().collect(),
        sha256: obj
            .checksum()
            .sha256
            .and_then(|v| <[u8; 32]>::try_from(v).ok()),
    })
}
