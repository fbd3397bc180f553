//! The object commands against an in-memory [`ObjectStore`] with failures
//! injected: what the Worker used to decide only under workerd.

use super::*;
use crate::objects::list::ListPage;
use crate::objects::multipart::PartRef;
use crate::objects::r2_error;
use crate::objects::range::ByteRange;
use crate::testing::block_on;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A store call, for injecting failures and checking which calls ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Head,
    Get,
    Put,
    Delete,
    DeleteMany,
    List,
    CreateUpload,
    UploadPart,
    CompleteUpload,
    AbortUpload,
}

struct PendingUpload {
    key: String,
    metadata: UploadMetadata,
    parts: BTreeMap<u16, (String, Vec<u8>)>,
}

/// R2 in memory. Bodies are bytes; etags and upload times are counters.
#[derive(Default)]
struct Fake {
    objects: RefCell<BTreeMap<String, (ObjectMeta, Vec<u8>)>>,
    uploads: RefCell<BTreeMap<String, PendingUpload>>,
    /// Upload ids completed or aborted (aborting them again is fine).
    finished: RefCell<BTreeSet<String>>,
    /// The next call of an operation fails so.
    failures: RefCell<HashMap<Op, StoreError>>,
    /// For this many `head`s, another client rewrites the object right
    /// after the head answered: a read pinned to what the head saw finds it
    /// changed.
    rewrites_after_head: Cell<usize>,
    /// After the next `head`, another client deletes the object.
    deletes_after_head: Cell<bool>,
    /// Every `get` answers "changed", pinned or not (a misbehaving store).
    changed_on_every_get: Cell<bool>,
    calls: RefCell<Vec<Op>>,
    discarded: Cell<usize>,
    counter: Cell<u64>,
}

impl Fake {
    fn fail_next(&self, op: Op, e: StoreError) {
        self.failures.borrow_mut().insert(op, e);
    }

    fn call(&self, op: Op) -> Result<(), StoreError> {
        self.calls.borrow_mut().push(op);
        match self.failures.borrow_mut().remove(&op) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn calls(&self) -> Vec<Op> {
        self.calls.borrow().clone()
    }

    fn next(&self) -> u64 {
        self.counter.set(self.counter.get() + 1);
        self.counter.get()
    }

    fn write(&self, key: &str, bytes: Vec<u8>, metadata: &UploadMetadata) -> ObjectMeta {
        let n = self.next();
        let meta = ObjectMeta {
            key: key.to_string(),
            size: bytes.len() as u64,
            etag: format!("etag-{n}"),
            uploaded_ms: 1_700_000_000_000 + n * 1000,
            http: metadata.http.clone(),
            custom: metadata.custom.clone(),
            sha256: None,
        };
        self.objects
            .borrow_mut()
            .insert(key.to_string(), (meta.clone(), bytes));
        meta
    }

    fn seed(&self, key: &str, bytes: &[u8]) -> ObjectMeta {
        self.write(key, bytes.to_vec(), &UploadMetadata::default())
    }

    fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.borrow().get(key).map(|(_, b)| b.clone())
    }

    fn etag(&self, key: &str) -> String {
        self.objects.borrow()[key].0.etag.clone()
    }
}

fn refused(e: Option<ApiError>) -> StoreError {
    StoreError::Refused(e.expect("a client error"))
}

impl ObjectStore for Fake {
    type Body = Vec<u8>;
    type Upload = Vec<u8>;

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        self.call(Op::Head)?;
        let found = self
            .objects
            .borrow()
            .get(key.as_str())
            .map(|(m, _)| m.clone());
        if found.is_some() && self.rewrites_after_head.get() > 0 {
            self.rewrites_after_head
                .set(self.rewrites_after_head.get() - 1);
            let mut bytes = self.bytes(key.as_str()).unwrap_or_default();
            bytes.push(b'!');
            self.write(key.as_str(), bytes, &UploadMetadata::default());
        }
        if self.deletes_after_head.replace(false) {
            self.objects.borrow_mut().remove(key.as_str());
        }
        Ok(found)
    }

    async fn get(
        &self,
        key: &ObjectKey,
        pin: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<Fetched<Vec<u8>>, StoreError> {
        self.call(Op::Get)?;
        let objects = self.objects.borrow();
        let Some((meta, bytes)) = objects.get(key.as_str()) else {
            return Ok(Fetched::Missing);
        };
        if self.changed_on_every_get.get() || pin.is_some_and(|etag| etag != meta.etag) {
            return Ok(Fetched::Changed);
        }
        let body = match range {
            Some(r) => bytes[r.start as usize..=r.end as usize].to_vec(),
            None => bytes.clone(),
        };
        Ok(Fetched::Body(meta.clone(), body))
    }

    fn discard(&self, _body: Vec<u8>) {
        self.discarded.set(self.discarded.get() + 1);
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Option<Vec<u8>>,
        length: u64,
        metadata: &UploadMetadata,
        checksum: Option<&Checksum>,
        pin: Option<Pin>,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        self.call(Op::Put)?;
        let bytes = body.unwrap_or_default();
        assert_eq!(
            bytes.len() as u64,
            length,
            "the declared length reaches the store"
        );
        if let Some(Checksum::Sha256(digest)) = checksum {
            if Sha256::digest(&bytes).as_slice() != digest {
                return Err(refused(r2_error::client_error(r2_error::BAD_DIGEST)));
            }
        }
        let current = self
            .objects
            .borrow()
            .get(key.as_str())
            .map(|(m, _)| m.etag.clone());
        let holds = match (&pin, &current) {
            (None, _) | (Some(Pin::Absent), None) => true,
            (Some(Pin::Etag(want)), Some(have)) => want == have,
            _ => false,
        };
        if !holds {
            return Ok(None);
        }
        let mut meta = self.write(key.as_str(), bytes, metadata);
        if let Some(Checksum::Sha256(digest)) = checksum {
            meta.sha256 = Some(*digest);
            self.objects.borrow_mut().get_mut(key.as_str()).unwrap().0 = meta.clone();
        }
        Ok(Some(meta))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.call(Op::Delete)?;
        self.objects.borrow_mut().remove(key.as_str());
        Ok(())
    }

    async fn delete_many(&self, keys: &[ObjectKey]) -> Result<(), StoreError> {
        self.call(Op::DeleteMany)?;
        for key in keys {
            self.objects.borrow_mut().remove(key.as_str());
        }
        Ok(())
    }

    async fn list(&self, params: &ListParams) -> Result<ListPage, StoreError> {
        self.call(Op::List)?;
        let prefix = params.prefix.clone().unwrap_or_default();
        let matching: Vec<ObjectMeta> = self
            .objects
            .borrow()
            .values()
            .filter(|(m, _)| m.key.starts_with(&prefix))
            .map(|(m, _)| m.clone())
            .collect();
        let truncated = matching.len() > params.limit as usize;
        Ok(ListPage {
            objects: matching.into_iter().take(params.limit as usize).collect(),
            prefixes: Vec::new(),
            cursor: truncated.then(|| "next".to_string()),
            truncated,
        })
    }

    async fn create_upload(
        &self,
        key: &ObjectKey,
        metadata: &UploadMetadata,
    ) -> Result<String, StoreError> {
        self.call(Op::CreateUpload)?;
        let id = format!("upload-{}", self.next());
        self.uploads.borrow_mut().insert(
            id.clone(),
            PendingUpload {
                key: key.as_str().to_string(),
                metadata: metadata.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u16,
        body: Option<Vec<u8>>,
        length: u64,
    ) -> Result<String, StoreError> {
        self.call(Op::UploadPart)?;
        let bytes = body.unwrap_or_default();
        assert_eq!(bytes.len() as u64, length);
        let etag = format!("part-{}", self.next());
        let mut uploads = self.uploads.borrow_mut();
        match uploads.get_mut(upload_id) {
            Some(u) if u.key == key.as_str() => {
                u.parts.insert(part_number, (etag.clone(), bytes));
                Ok(etag)
            }
            _ => Err(refused(r2_error::client_error(r2_error::NO_SUCH_UPLOAD))),
        }
    }

    async fn complete_upload(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[PartRef],
    ) -> Result<ObjectMeta, StoreError> {
        self.call(Op::CompleteUpload)?;
        let unknown = || refused(r2_error::finishing_upload_error(r2_error::INTERNAL_ERROR));
        let mut uploads = self.uploads.borrow_mut();
        let upload = uploads
            .get(upload_id)
            .filter(|u| u.key == key.as_str())
            .ok_or_else(unknown)?;
        let mut bytes = Vec::new();
        for part in parts {
            match upload.parts.get(&part.part_number) {
                Some((etag, b)) if *etag == part.etag => bytes.extend_from_slice(b),
                _ => return Err(refused(r2_error::client_error(10025))),
            }
        }
        let metadata = upload.metadata.clone();
        uploads.remove(upload_id);
        drop(uploads);
        self.finished.borrow_mut().insert(upload_id.to_string());
        Ok(self.write(key.as_str(), bytes, &metadata))
    }

    async fn abort_upload(&self, key: &ObjectKey, upload_id: &str) -> Result<(), StoreError> {
        self.call(Op::AbortUpload)?;
        let known = self
            .uploads
            .borrow()
            .get(upload_id)
            .is_some_and(|u| u.key == key.as_str());
        if known {
            self.uploads.borrow_mut().remove(upload_id);
            self.finished.borrow_mut().insert(upload_id.to_string());
            return Ok(());
        }
        if self.finished.borrow().contains(upload_id) {
            return Ok(());
        }
        Err(refused(r2_error::finishing_upload_error(
            r2_error::INTERNAL_ERROR,
        )))
    }
}

fn principal(scopes: &[Scope]) -> Principal {
    Principal {
        key_id: "k1".into(),
        scopes: scopes.to_vec(),
    }
}

fn headers(pairs: &[(&str, &str)]) -> RequestHeaders {
    RequestHeaders::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
}

type Answer = Result<ObjectReply<Vec<u8>>, ApiError>;

/// Parses and runs one request as the route does: the body goes in as
/// the command asks for it.
fn request(
    fake: &Fake,
    method: &str,
    key: &str,
    query: &str,
    pairs: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let command = Command::parse(
        method,
        Some(key),
        (!query.is_empty()).then_some(query),
        &headers(pairs),
        &principal(&[Scope::ObjectsWrite]),
    )?;
    run(fake, command, body)
}

fn run(fake: &Fake, command: Command, body: &[u8]) -> Answer {
    let (upload, json) = match command.input() {
        Input::None => (None, None),
        Input::Stream => (Some(body.to_vec()), None),
        Input::Json => (None, Some(body)),
    };
    block_on(execute(command, fake, upload, json))
}

fn get(fake: &Fake, key: &str, pairs: &[(&str, &str)]) -> Answer {
    request(fake, "GET", key, "", pairs, b"")
}

fn put(fake: &Fake, key: &str, pairs: &[(&str, &str)], body: &[u8]) -> Answer {
    let length = body.len().to_string();
    let mut all = vec![("content-length", length.as_str())];
    all.extend_from_slice(pairs);
    request(fake, "PUT", key, "", &all, body)
}

fn status(answer: &Answer) -> u16 {
    match answer {
        Ok(r) => r.reply.status,
        Err(e) => e.status(),
    }
}

fn stream_body(answer: &Answer) -> &[u8] {
    match answer.as_ref().map(|r| &r.reply.body) {
        Ok(Some(Body::Stream(b))) => b,
        other => panic!("no stream body: {other:?}"),
    }
}

fn json_body(answer: &Answer) -> serde_json::Value {
    match answer.as_ref().map(|r| &r.reply.body) {
        Ok(Some(Body::Json(b))) => serde_json::from_slice(b).unwrap(),
        other => panic!("no JSON body: {other:?}"),
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.as_ref().ok().and_then(|r| r.header(name))
}

fn error_header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.as_ref().err().and_then(|e| {
        e.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    })
}

const TEN: &[u8] = b"0123456789";

// --- parsing --------------------------------------------------------------

#[test]
fn parse_checks_the_scope_per_operation() {
    let reader = principal(&[Scope::ObjectsRead]);
    let writer = principal(&[Scope::ObjectsWrite]);
    let h = headers(&[("content-length", "0")]);
    let parse = |method: &str, query: Option<&str>, p: &Principal| {
        Command::parse(method, Some("a/b"), query, &h, p).map(|c| c.writes())
    };
    assert_eq!(parse("GET", None, &reader), Ok(false));
    assert_eq!(parse("HEAD", None, &reader), Ok(false));
    for (method, query) in [
        ("PUT", None),
        ("DELETE", None),
        ("POST", Some("uploads")),
        ("PUT", Some("uploadId=u&partNumber=1")),
        ("POST", Some("uploadId=u")),
        ("DELETE", Some("uploadId=u")),
    ] {
        let e = parse(method, query, &reader).unwrap_err();
        assert_eq!(
            (e.status(), e.details.clone()),
            (
                403,
                Some(serde_json::json!({"requiredScope": "objects:write"}))
            ),
            "{method} {query:?}"
        );
        assert_eq!(
            parse(method, query, &writer),
            Ok(true),
            "{method} {query:?}"
        );
    }
    // The query is checked before the scope, the key after it.
    assert_eq!(
        Command::parse("GET", Some("k"), Some("x=1"), &h, &writer)
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        Command::parse("PUT", None, None, &h, &reader)
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(
        Command::parse("PUT", None, None, &h, &writer)
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        Command::list(None, &principal(&[Scope::SqlRead]))
            .unwrap_err()
            .status(),
        403
    );
    assert!(Command::list(Some("limit=5"), &reader).is_ok());
}

#[test]
fn parse_reports_upload_errors_in_order() {
    let writer = principal(&[Scope::ObjectsWrite]);
    let parse = |query: Option<&str>, pairs: &[(&str, &str)]| {
        Command::parse("PUT", Some("k"), query, &headers(pairs), &writer)
            .map(|c| c.input())
            .map_err(|e| e.code.as_str())
    };
    // 411 comes first, even before a malformed precondition.
    assert_eq!(parse(None, &[("if-match", "bad")]), Err("length_required"));
    assert_eq!(
        parse(None, &[("content-length", "1"), ("if-match", "bad")]),
        Err("invalid_request")
    );
    assert_eq!(
        parse(None, &[("content-length", "5368709121")]),
        Err("payload_too_large")
    );
    assert_eq!(parse(None, &[("content-length", "3")]), Ok(Input::Stream));
    assert_eq!(parse(None, &[("content-length", "0")]), Ok(Input::None));
    let part = Some("uploadId=u&partNumber=2");
    assert_eq!(parse(part, &[]), Err("length_required"));
    assert_eq!(
        parse(part, &[("content-length", "3"), ("if-match", "*")]),
        Err("invalid_request")
    );
    assert_eq!(
        parse(part, &[("content-length", "3"), ("content-md5", "x")]),
        Err("invalid_request")
    );
    assert_eq!(parse(part, &[("content-length", "3")]), Ok(Input::Stream));
    let complete = Command::parse(
        "POST",
        Some("k"),
        Some("uploadId=u"),
        &headers(&[]),
        &writer,
    );
    assert_eq!(complete.map(|c| c.input()), Ok(Input::Json));
}

#[test]
fn signed_urls_run_the_same_commands() {
    let key = ObjectKey::new("a/b".into()).unwrap();
    let h = headers(&[("range", "bytes=0-1"), ("content-length", "2")]);
    let signed = |m, rm| Command::signed(m, rm, key.clone(), &h).unwrap();
    let direct = |m| Command::parse(m, Some("a/b"), None, &h, &principal(&[Scope::Admin])).unwrap();
    assert_eq!(signed(SignedMethod::Get, "GET"), direct("GET"));
    assert_eq!(signed(SignedMethod::Get, "HEAD"), direct("HEAD"));
    assert_eq!(signed(SignedMethod::Put, "PUT"), direct("PUT"));
    // HEAD ignores Range.
    assert!(matches!(
        signed(SignedMethod::Get, "HEAD").0,
        Kind::Read { range: None, .. }
    ));
}

// --- reads ----------------------------------------------------------------

#[test]
fn a_plain_get_is_one_store_call() {
    let fake = Fake::default();
    let meta = fake.seed("a/b", TEN);
    let r = get(&fake, "a/b", &[]);
    assert_eq!(status(&r), 200);
    assert_eq!(stream_body(&r), TEN);
    assert_eq!(header(&r, "etag"), Some(meta.etag_header().as_str()));
    assert_eq!(header(&r, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&r, "content-range"), None);
    assert_eq!(fake.calls(), [Op::Get]);
    let missing = get(&fake, "nope", &[]);
    assert_eq!(missing.unwrap_err().code, ErrorCode::ObjectNotFound);
}

#[test]
fn ranged_reads_answer_206_with_content_range() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    for (range, bytes, content_range) in [
        ("bytes=2-5", &b"2345"[..], "bytes 2-5/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ] {
        let r = get(&fake, "k", &[("range", range)]);
        assert_eq!(status(&r), 206, "{range}");
        assert_eq!(stream_body(&r), bytes, "{range}");
        assert_eq!(header(&r, "content-range"), Some(content_range), "{range}");
    }
    // Decided on a head, read pinned to the etag the head saw.
    assert_eq!(fake.calls()[..2], [Op::Head, Op::Get]);
    // A Range that does not parse is ignored: the whole object, one call.
    let fake = Fake::default();
    fake.seed("k", TEN);
    let r = get(&fake, "k", &[("range", "bytes=1-2,4-5")]);
    assert_eq!((status(&r), stream_body(&r)), (200, TEN));
    assert_eq!(fake.calls(), [Op::Get]);
}

#[test]
fn a_range_beyond_the_object_is_416_with_its_size() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    for range in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
        let r = get(&fake, "k", &[("range", range)]);
        assert_eq!(status(&r), 416, "{range}");
        assert_eq!(error_header(&r, "content-range"), Some("bytes */10"));
        let e = r.unwrap_err();
        assert_eq!(e.code, ErrorCode::RangeNotSatisfiable);
        assert_eq!(e.details, Some(serde_json::json!({"size": 10})));
    }
    // Nothing was read for a 416.
    assert!(!fake.calls().contains(&Op::Get));
}

#[test]
fn if_range_that_does_not_hold_sends_the_whole_object() {
    let fake = Fake::default();
    let meta = fake.seed("k", TEN);
    let r = get(
        &fake,
        "k",
        &[("range", "bytes=0-1"), ("if-range", "\"old\"")],
    );
    assert_eq!((status(&r), stream_body(&r)), (200, TEN));
    assert_eq!(header(&r, "content-range"), None);
    let etag = meta.etag_header();
    let r = get(&fake, "k", &[("range", "bytes=0-1"), ("if-range", &etag)]);
    assert_eq!((status(&r), stream_body(&r)), (206, &b"01"[..]));
    // A date If-Range holds only on the exact Last-Modified.
    let date = crate::objects::time::http_date(meta.last_modified());
    let r = get(&fake, "k", &[("range", "bytes=0-1"), ("if-range", &date)]);
    assert_eq!(status(&r), 206);
    // Even a whole-object answer is read pinned to the head's etag.
    assert_eq!(fake.calls()[..2], [Op::Head, Op::Get]);
}

#[test]
fn a_ranged_read_starts_over_when_the_object_changes() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    fake.rewrites_after_head.set(1);
    let r = get(&fake, "k", &[("range", "bytes=8-")]);
    // The second attempt reads the new version, range decided on it.
    assert_eq!(status(&r), 206);
    assert_eq!(stream_body(&r), b"89!");
    assert_eq!(header(&r, "content-range"), Some("bytes 8-10/11"));
    assert_eq!(
        header(&r, "etag"),
        Some(format!("\"{}\"", fake.etag("k")).as_str())
    );
    assert_eq!(fake.calls(), [Op::Head, Op::Get, Op::Head, Op::Get]);
}

#[test]
fn a_ranged_read_gives_up_with_503_after_three_attempts() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    fake.rewrites_after_head.set(RANGED_READ_ATTEMPTS);
    let r = get(&fake, "k", &[("range", "bytes=0-1")]);
    assert_eq!(error_header(&r, "retry-after"), Some("1"));
    let e = r.unwrap_err();
    assert_eq!((e.status(), e.code), (503, ErrorCode::StoreUnavailable));
    assert_eq!(
        e.details,
        Some(serde_json::json!({"store": "r2", "retryable": true}))
    );
    assert!(e
        .cause
        .as_deref()
        .is_some_and(|c| c.contains("kept changing")));
    assert_eq!(fake.calls().len(), 2 * RANGED_READ_ATTEMPTS);
}

#[test]
fn an_object_deleted_mid_read_is_404() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    // The head sees it; the read finds nothing.
    fake.deletes_after_head.set(true);
    let r = get(&fake, "k", &[("range", "bytes=0-1")]);
    assert_eq!(r.unwrap_err().code, ErrorCode::ObjectNotFound);
    assert_eq!(fake.calls(), [Op::Head, Op::Get]);
}

#[test]
fn conditional_reads_answer_304_with_validators_and_discard_the_body() {
    let fake = Fake::default();
    let mut metadata = UploadMetadata::default();
    metadata.http.cache_control = Some("max-age=60".into());
    metadata.custom.insert("owner".into(), "ada".into());
    let meta = fake.write("k", TEN.to_vec(), &metadata);
    let etag = meta.etag_header();
    let last_modified = crate::objects::time::http_date(meta.last_modified());
    for pairs in [
        &[("if-none-match", etag.as_str())][..],
        &[("if-none-match", "*")][..],
        &[("if-modified-since", last_modified.as_str())][..],
        &[("if-none-match", etag.as_str()), ("range", "bytes=0-1")][..],
    ] {
        for method in ["GET", "HEAD"] {
            let r = request(&fake, method, "k", "", pairs, b"");
            assert_eq!(status(&r), 304, "{method} {pairs:?}");
            let reply = &r.as_ref().unwrap().reply;
            assert_eq!(reply.body, None);
            let names: Vec<&str> = reply.headers.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, ["etag", "last-modified", "cache-control"]);
            assert_eq!(reply.header("etag"), Some(etag.as_str()));
            assert!(r.unwrap().metadata_headers.is_empty());
        }
    }
    // The plain GETs' bodies came with the metadata and were cancelled.
    assert_eq!(fake.discarded.get(), 3);
    let r = get(&fake, "k", &[("if-match", "\"other\"")]);
    assert_eq!(r.unwrap_err().code, ErrorCode::PreconditionFailed);
    assert_eq!(fake.discarded.get(), 4);
    let r = get(&fake, "k", &[("if-none-match", "\"other\"")]);
    assert_eq!(status(&r), 200);
    assert_eq!(header(&r, "x-strata-meta-owner"), Some("ada"));
}

#[test]
fn head_sends_the_headers_and_length_without_a_body() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    let r = request(&fake, "HEAD", "k", "", &[("range", "bytes=0-1")], b"");
    assert_eq!(status(&r), 200);
    assert_eq!(header(&r, "content-length"), Some("10"));
    assert_eq!(header(&r, "content-range"), None);
    assert_eq!(r.as_ref().unwrap().reply.body, None);
    assert_eq!(fake.calls(), [Op::Head]);
    let missing = request(&fake, "HEAD", "gone", "", &[], b"");
    assert_eq!(missing.unwrap_err().code, ErrorCode::ObjectNotFound);
}

#[test]
fn every_reply_with_the_object_is_nosniff_and_sandboxed() {
    let fake = Fake::default();
    let mut metadata = UploadMetadata::default();
    metadata.http.content_type = Some("text/html".into());
    metadata
        .custom
        .insert("content-security-policy".into(), "script-src *".into());
    fake.write(
        "page.html",
        b"<script>alert(1)</script>".to_vec(),
        &metadata,
    );
    let answers = [
        get(&fake, "page.html", &[]),
        get(&fake, "page.html", &[("range", "bytes=0-7")]),
        get(
            &fake,
            "page.html",
            &[("range", "bytes=0-7"), ("if-range", "\"x\"")],
        ),
        request(&fake, "HEAD", "page.html", "", &[], b""),
    ];
    for r in &answers {
        let reply = &r.as_ref().unwrap().reply;
        let values = |name: &str| -> Vec<&str> {
            reply
                .headers
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(values("x-content-type-options"), ["nosniff"]);
        assert_eq!(values("content-security-policy"), ["sandbox"]);
        assert_eq!(values("content-type"), ["text/html"]);
        // Stored metadata stays under its prefix.
        assert_eq!(
            r.as_ref().unwrap().metadata_headers,
            [(
                "x-strata-meta-content-security-policy".to_string(),
                "script-src *".to_string()
            )]
        );
    }
}

// --- writes ---------------------------------------------------------------

#[test]
fn put_creates_then_replaces() {
    let fake = Fake::default();
    let r = put(&fake, "a b/c", &[("x-strata-meta-owner", "ada")], b"hello");
    assert_eq!(status(&r), 201);
    assert_eq!(header(&r, "location"), Some("/v1/objects/a%20b/c"));
    let etag = format!("\"{}\"", fake.etag("a b/c"));
    assert_eq!(header(&r, "etag"), Some(etag.as_str()));
    let body = json_body(&r);
    assert_eq!(
        (body["size"].clone(), body["etag"].clone()),
        (5.into(), etag.into())
    );
    assert_eq!(body["metadata"], serde_json::json!({"owner": "ada"}));
    // No preconditions: no pin, and head then put.
    assert_eq!(fake.calls(), [Op::Head, Op::Put]);
    let r = put(&fake, "a b/c", &[], b"bye");
    assert_eq!(status(&r), 200);
    assert_eq!(header(&r, "location"), None);
    assert_eq!(fake.bytes("a b/c").as_deref(), Some(&b"bye"[..]));
    // An empty body is stored as empty.
    assert_eq!(status(&put(&fake, "empty", &[], b"")), 201);
    assert_eq!(fake.bytes("empty"), Some(Vec::new()));
}

#[test]
fn write_preconditions_that_fail_are_412_and_write_nothing() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    let before = fake.etag("k");
    for pairs in [
        &[("if-match", "\"other\"")][..],
        &[("if-none-match", "*")][..],
        &[("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT")][..],
    ] {
        let calls = fake.calls().len();
        let r = put(&fake, "k", pairs, b"new");
        assert_eq!(
            r.unwrap_err().code,
            ErrorCode::PreconditionFailed,
            "{pairs:?}"
        );
        assert_eq!(fake.calls()[calls..], [Op::Head], "{pairs:?}");
        let r = request(&fake, "DELETE", "k", "", pairs, b"");
        assert_eq!(
            r.unwrap_err().code,
            ErrorCode::PreconditionFailed,
            "{pairs:?}"
        );
    }
    assert_eq!(fake.etag("k"), before);
    assert!(!fake.calls().contains(&Op::Put));
    assert!(!fake.calls().contains(&Op::Delete));
    // If-Match on nothing fails too; If-None-Match: * on nothing writes.
    let r = put(&fake, "absent", &[("if-match", "*")], b"x");
    assert_eq!(status(&r), 412);
    let r = put(&fake, "absent", &[("if-none-match", "*")], b"x");
    assert_eq!(status(&r), 201);
    let etag = format!("\"{before}\"");
    let r = request(&fake, "DELETE", "k", "", &[("if-match", &etag)], b"");
    assert_eq!(status(&r), 204);
    assert_eq!(fake.bytes("k"), None);
}

#[test]
fn a_conditional_put_is_pinned_to_what_the_head_saw() {
    let fake = Fake::default();
    fake.seed("k", TEN);
    let etag = format!("\"{}\"", fake.etag("k"));
    // Another client writes between our head and our put: the pinned put
    // writes nothing and the client gets the 412 its condition implies.
    fake.rewrites_after_head.set(1);
    let r = put(&fake, "k", &[("if-match", &etag)], b"mine");
    assert_eq!(r.unwrap_err().code, ErrorCode::PreconditionFailed);
    assert_eq!(fake.bytes("k").as_deref(), Some(&b"0123456789!"[..]));
    // Creating only if absent: someone else created it first.
    fake.objects.borrow_mut().clear();
    let key = ObjectKey::new("k".into()).unwrap();
    let first = block_on(fake.put(
        &key,
        None,
        0,
        &UploadMetadata::default(),
        None,
        Some(Pin::Absent),
    ));
    assert!(first.unwrap().is_some());
    let second = block_on(fake.put(
        &key,
        None,
        0,
        &UploadMetadata::default(),
        None,
        Some(Pin::Absent),
    ));
    assert_eq!(second, Ok(None));
}

#[test]
fn put_checksums_and_bodies() {
    let fake = Fake::default();
    let sha = crate::objects::hex(&Sha256::digest(b"hello"));
    let r = put(&fake, "k", &[("x-strata-checksum-sha256", &sha)], b"hello");
    assert_eq!(status(&r), 201);
    let r = put(&fake, "k2", &[("x-strata-checksum-sha256", &sha)], b"jello");
    assert_eq!(r.unwrap_err().code, ErrorCode::ChecksumMismatch);
    assert_eq!(fake.bytes("k2"), None);
    // The stored checksum is served.
    assert_eq!(
        header(&get(&fake, "k", &[]), "x-strata-checksum-sha256"),
        Some(sha.as_str())
    );
    // A declared body that is not there is the client's error, before any
    // store call.
    let calls = fake.calls().len();
    let command = Command::parse(
        "PUT",
        Some("k3"),
        None,
        &headers(&[("content-length", "4")]),
        &principal(&[Scope::ObjectsWrite]),
    )
    .unwrap();
    let r = block_on(execute(command, &fake, None, None));
    assert_eq!(r.unwrap_err().status(), 400);
    assert_eq!(fake.calls().len(), calls);
}

// --- multipart ------------------------------------------------------------

#[test]
fn multipart_steps() {
    let fake = Fake::default();
    let r = request(
        &fake,
        "POST",
        "big",
        "uploads",
        &[("content-type", "video/mp4")],
        b"",
    );
    assert_eq!(status(&r), 200);
    let upload_id = json_body(&r)["uploadId"].as_str().unwrap().to_string();
    assert_eq!(json_body(&r)["key"], "big");
    let mut etags = Vec::new();
    for (n, part) in [(1, &b"aaaa"[..]), (2, b"bb")] {
        let query = format!("uploadId={upload_id}&partNumber={n}");
        let length = part.len().to_string();
        let r = request(
            &fake,
            "PUT",
            "big",
            &query,
            &[("content-length", &length)],
            part,
        );
        assert_eq!(status(&r), 200);
        let etag = json_body(&r)["etag"].as_str().unwrap().to_string();
        assert_eq!(json_body(&r)["partNumber"], n);
        assert_eq!(header(&r, "etag"), Some(format!("\"{etag}\"").as_str()));
        etags.push(etag);
    }
    let body = serde_json::json!({"parts": [
        {"partNumber": 1, "etag": etags[0]},
        {"partNumber": 2, "etag": format!("\"{}\"", etags[1])},
    ]})
    .to_string();
    let query = format!("uploadId={upload_id}");
    let r = request(&fake, "POST", "big", &query, &[], body.as_bytes());
    assert_eq!(status(&r), 200);
    assert_eq!(json_body(&r)["size"], 6);
    assert_eq!(json_body(&r)["contentType"], "video/mp4");
    assert!(header(&r, "etag").is_some());
    assert_eq!(fake.bytes("big").as_deref(), Some(&b"aaaabb"[..]));
    // Completing again: the upload is gone.
    let r = request(&fake, "POST", "big", &query, &[], body.as_bytes());
    assert_eq!(r.unwrap_err().code, ErrorCode::UploadNotFound);
    // Aborting a finished upload is harmless; an unknown one is 404.
    assert_eq!(
        status(&request(&fake, "DELETE", "big", &query, &[], b"")),
        204
    );
    let r = request(&fake, "DELETE", "big", "uploadId=never", &[], b"");
    assert_eq!(r.unwrap_err().code, ErrorCode::UploadNotFound);
    let r = request(
        &fake,
        "PUT",
        "big",
        "uploadId=never&partNumber=1",
        &[("content-length", "1")],
        b"x",
    );
    assert_eq!(r.unwrap_err().code, ErrorCode::UploadNotFound);
}

#[test]
fn multipart_refusals() {
    let fake = Fake::default();
    let r = request(
        &fake,
        "POST",
        "k",
        "uploads",
        &[("if-none-match", "*")],
        b"",
    );
    assert!(r.unwrap_err().message.contains("R2 cannot apply them"));
    let r = request(&fake, "POST", "k", "uploads", &[("content-md5", "x")], b"");
    assert_eq!(status(&r), 400);
    let r = request(
        &fake,
        "POST",
        "k",
        "uploadId=u",
        &[("if-match", "*")],
        b"{}",
    );
    assert_eq!(status(&r), 400);
    assert!(fake.calls().is_empty(), "refused before any store call");
    // The completion body is parsed before the store is asked.
    let r = request(&fake, "POST", "k", "uploadId=u", &[], b"");
    assert_eq!(r.unwrap_err().code, ErrorCode::InvalidJson);
    let r = request(&fake, "POST", "k", "uploadId=u", &[], br#"{"parts":[]}"#);
    assert_eq!(r.unwrap_err().code, ErrorCode::InvalidRequest);
    assert!(fake.calls().is_empty());
    // A part the upload does not have.
    let r = request(&fake, "POST", "k", "uploads", &[], b"");
    let id = json_body(&r)["uploadId"].as_str().unwrap().to_string();
    let body = br#"{"parts":[{"partNumber":1,"etag":"nope"}]}"#;
    let r = request(&fake, "POST", "k", &format!("uploadId={id}"), &[], body);
    assert_eq!(r.unwrap_err().code, ErrorCode::InvalidRequest);
}

// --- listing --------------------------------------------------------------

#[test]
fn listing_pages() {
    let fake = Fake::default();
    for key in ["a/1", "a/2", "a/3", "b/1"] {
        fake.seed(key, b"x");
    }
    let command = Command::list(
        Some("prefix=a%2F&limit=2"),
        &principal(&[Scope::ObjectsRead]),
    );
    let r = run(&fake, command.unwrap(), b"");
    assert_eq!(status(&r), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let page = json_body(&r);
    assert_eq!(page["objects"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        (page["truncated"].clone(), page["cursor"].clone()),
        (true.into(), "next".into())
    );
}

// --- store failures -------------------------------------------------------

fn unavailable() -> StoreError {
    StoreError::unavailable("r2", "connection reset by 10.0.0.7")
}

fn timeout() -> StoreError {
    StoreError::Timeout { store: "r2" }
}

#[test]
fn an_unavailable_store_is_503_with_retry_after() {
    for (op, method, query, pairs) in [
        (Op::Get, "GET", "", &[][..]),
        (Op::Head, "GET", "", &[("range", "bytes=0-1")][..]),
        (Op::Head, "HEAD", "", &[][..]),
        (Op::Head, "PUT", "", &[("content-length", "0")][..]),
        (Op::Put, "PUT", "", &[("content-length", "0")][..]),
        (Op::Delete, "DELETE", "", &[][..]),
        (Op::CreateUpload, "POST", "uploads", &[][..]),
        (Op::AbortUpload, "DELETE", "uploadId=u", &[][..]),
    ] {
        let fake = Fake::default();
        fake.seed("k", TEN);
        fake.fail_next(op, unavailable());
        let r = request(&fake, method, "k", query, pairs, b"");
        assert_eq!(
            error_header(&r, "retry-after"),
            Some("1"),
            "{method} {op:?}"
        );
        let e = r.unwrap_err();
        assert_eq!((e.status(), e.code), (503, ErrorCode::StoreUnavailable));
        assert_eq!(
            e.details,
            Some(serde_json::json!({"store": "r2", "retryable": true}))
        );
        assert!(!e.body().contains("10.0.0.7"), "the cause stays in the log");
        assert!(e.cause.as_deref().is_some_and(|c| c.contains("10.0.0.7")));
    }
}

#[test]
fn a_timeout_is_504_and_not_retryable_for_writes() {
    for (op, method, query, pairs, retryable) in [
        (Op::Get, "GET", "", &[][..], true),
        (Op::Head, "HEAD", "", &[][..], true),
        (Op::Put, "PUT", "", &[("content-length", "0")][..], false),
        (Op::Head, "PUT", "", &[("content-length", "0")][..], false),
        (Op::Delete, "DELETE", "", &[][..], false),
        (Op::CreateUpload, "POST", "uploads", &[][..], false),
        (Op::AbortUpload, "DELETE", "uploadId=u", &[][..], false),
    ] {
        let fake = Fake::default();
        fake.seed("k", TEN);
        fake.fail_next(op, timeout());
        let e = request(&fake, method, "k", query, pairs, b"").unwrap_err();
        assert_eq!(
            (e.status(), e.code),
            (504, ErrorCode::Timeout),
            "{method} {op:?}"
        );
        assert_eq!(
            e.details.as_ref().map(|d| d["retryable"].clone()),
            Some(retryable.into()),
            "{method} {op:?}"
        );
        assert_eq!(
            e.details.as_ref().map(|d| d["store"].clone()),
            Some("r2".into())
        );
        assert_eq!(e.cause.as_deref(), Some("r2 timed out"));
    }
    let fake = Fake::default();
    fake.fail_next(Op::List, timeout());
    let command = Command::list(None, &principal(&[Scope::ObjectsRead])).unwrap();
    let e = run(&fake, command, b"").unwrap_err();
    assert_eq!(
        e.details.as_ref().map(|d| d["retryable"].clone()),
        Some(true.into())
    );
}

#[test]
fn refusals_reach_the_client_as_decided() {
    let fake = Fake::default();
    fake.fail_next(
        Op::Put,
        refused(r2_error::client_error(r2_error::BAD_DIGEST)),
    );
    let e = put(&fake, "k", &[], b"abc").unwrap_err();
    assert_eq!((e.status(), e.code), (400, ErrorCode::ChecksumMismatch));
    fake.fail_next(
        Op::Get,
        StoreError::Config(ApiError::config("the R2 binding BUCKET", "is missing")),
    );
    assert_eq!(get(&fake, "k", &[]).unwrap_err().status(), 500);
    // An unpinned read that answers "changed" is the store misbehaving.
    fake.seed("k", TEN);
    fake.changed_on_every_get.set(true);
    let e = get(&fake, "k", &[]).unwrap_err();
    assert_eq!(e.code, ErrorCode::StoreUnavailable);
}

#[test]
fn starting_an_upload_takes_no_body() {
    let fake = Fake::default();
    for pairs in [
        &[
            ("content-length", "12"),
            ("content-type", "application/json"),
        ][..],
        &[("content-length", " 5")][..],
    ] {
        let e = request(&fake, "POST", "k", "uploads", pairs, b"{\"parts\":[]}").unwrap_err();
        assert_eq!(
            (e.status(), e.code),
            (400, ErrorCode::InvalidRequest),
            "{pairs:?}"
        );
        assert!(e.message.contains("takes no body"), "{}", e.message);
    }
    // No body, or an empty one, starts it.
    for pairs in [&[][..], &[("content-length", "0")][..]] {
        let r = request(&fake, "POST", "k", "uploads", pairs, b"").unwrap();
        assert_eq!(r.reply.status, 200, "{pairs:?}");
    }
}
