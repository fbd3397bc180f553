//! S3 requests parsed and run against a small in-memory R2: the operation
//! each method and query select, the scope each needs, S3's answers, and
//! that the metadata is the objects routes' own.

use super::*;
use crate::objects::metadata::UploadMetadata;
use crate::objects::multipart::PartRef;
use crate::objects::upload::Checksum;
use crate::objects::ObjectMeta;
use crate::store::{Fetched, Pin, StoreError};
use crate::testing::block_on;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Objects in memory; no multipart (the objects operation's own tests cover it).
#[derive(Default)]
struct Fake {
    objects: RefCell<BTreeMap<String, (ObjectMeta, Vec<u8>)>>,
    deleted: RefCell<Vec<String>>,
    /// Each store call that deleted: one key for `delete`, the keys of
    /// each `delete_many`.
    delete_calls: RefCell<Vec<Vec<String>>>,
    /// Every store call, by name.
    calls: RefCell<Vec<&'static str>>,
    /// The next `delete_many` fails as R2 being unreachable.
    fail_delete_many: std::cell::Cell<bool>,
}

impl ObjectStore for Fake {
    type Body = Vec<u8>;
    type Upload = Vec<u8>;

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        self.calls.borrow_mut().push("head");
        Ok(self
            .objects
            .borrow()
            .get(key.as_str())
            .map(|(m, _)| m.clone()))
    }

    async fn get(
        &self,
        key: &ObjectKey,
        _pin: Option<&str>,
        range: Option<crate::objects::range::ByteRange>,
    ) -> Result<Fetched<Vec<u8>>, StoreError> {
        Ok(match self.objects.borrow().get(key.as_str()) {
            None => Fetched::Missing,
            Some((m, b)) => Fetched::Body(
                m.clone(),
                match range {
                    Some(r) => b[r.start as usize..=r.end as usize].to_vec(),
                    None => b.clone(),
                },
            ),
        })
    }

    fn discard(&self, _body: Vec<u8>) {}

    async fn put(
        &self,
        key: &ObjectKey,
        body: Option<Vec<u8>>,
        _length: u64,
        metadata: &UploadMetadata,
        checksum: Option<&Checksum>,
        _pin: Option<Pin>,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let bytes = body.unwrap_or_default();
        if let Some(Checksum::Sha256(d)) = checksum {
            if Sha256::digest(&bytes).as_slice() != d {
                return Err(StoreError::Refused(crate::ApiError::new(
                    crate::ErrorCode::ChecksumMismatch,
                    "sha256",
                )));
            }
        }
        let meta = ObjectMeta {
            key: key.as_str().to_string(),
            size: bytes.len() as u64,
            etag: format!("etag{}", bytes.len()),
            uploaded_ms: 1_700_000_000_000,
            http: metadata.http.clone(),
            custom: metadata.custom.clone(),
            sha256: None,
        };
        self.objects
            .borrow_mut()
            .insert(key.as_str().to_string(), (meta.clone(), bytes));
        Ok(Some(meta))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.calls.borrow_mut().push("delete");
        self.delete_calls
            .borrow_mut()
            .push(vec![key.as_str().to_string()]);
        self.deleted.borrow_mut().push(key.as_str().to_string());
        self.objects.borrow_mut().remove(key.as_str());
        Ok(())
    }

    async fn delete_many(&self, keys: &[ObjectKey]) -> Result<(), StoreError> {
        self.calls.borrow_mut().push("delete_many");
        assert!(
            keys.len() <= crate::store::MAX_KEYS_PER_DELETE,
            "R2 takes 1000"
        );
        if self.fail_delete_many.replace(false) {
            return Err(StoreError::unavailable("r2", "connection reset"));
        }
        let keys: Vec<String> = keys.iter().map(|k| k.as_str().to_string()).collect();
        for key in &keys {
            self.objects.borrow_mut().remove(key);
        }
        self.deleted.borrow_mut().extend(keys.iter().cloned());
        self.delete_calls.borrow_mut().push(keys);
        Ok(())
    }

    async fn list(&self, params: &ListParams) -> Result<ListPage, StoreError> {
        let prefix = params.prefix.clone().unwrap_or_default();
        let objects: Vec<ObjectMeta> = self
            .objects
            .borrow()
            .values()
            .filter(|(m, _)| m.key.starts_with(&prefix))
            .map(|(m, _)| m.clone())
            .collect();
        Ok(ListPage {
            objects,
            ..Default::default()
        })
    }

    async fn create_upload(&self, _: &ObjectKey, _: &UploadMetadata) -> Result<String, StoreError> {
        Ok("upload-1".into())
    }

    async fn upload_part(
        &self,
        _: &ObjectKey,
        _: &str,
        part: u16,
        _: Option<Vec<u8>>,
        _: u64,
    ) -> Result<String, StoreError> {
        Ok(format!("part{part}"))
    }

    async fn complete_upload(
        &self,
        key: &ObjectKey,
        _: &str,
        parts: &[PartRef],
    ) -> Result<ObjectMeta, StoreError> {
        Ok(ObjectMeta {
            key: key.as_str().into(),
            etag: format!("done{}", parts.len()),
            ..Default::default()
        })
    }

    async fn abort_upload(&self, _: &ObjectKey, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

fn principal(scopes: &[Scope]) -> Principal {
    Principal {
        key_id: "s3:AKID".into(),
        scopes: scopes.to_vec(),
    }
}

const RW: &[Scope] = &[Scope::ObjectsRead, Scope::ObjectsWrite];

fn headers(pairs: &[(&str, &str)]) -> RequestHeaders {
    RequestHeaders::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
}

fn parse(
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    query: Option<&str>,
    h: &RequestHeaders,
    payload: Payload,
    scopes: &[Scope],
) -> Result<S3Command, S3Error> {
    S3Command::parse(
        method,
        Target {
            bucket: "strata",
            path_bucket: bucket,
            path_key: key,
        },
        query,
        h,
        payload,
        &principal(scopes),
    )
}

fn run(
    store: &Fake,
    command: S3Command,
    upload: Option<Vec<u8>>,
    xml: Option<&[u8]>,
) -> Result<S3Reply<Vec<u8>>, S3Error> {
    block_on(execute(command, store, upload, xml, "strata", "s3:AKID"))
}

#[test]
fn put_then_get_with_the_objects_metadata() {
    let store = Fake::default();
    let h = headers(&[
        ("content-length", "9"),
        ("content-type", "text/plain"),
        ("x-amz-meta-owner", "ada"),
        ("x-strata-meta-sneaky", "no"),
    ]);
    let put = parse(
        "PUT",
        Some("strata"),
        Some("a%20b.txt"),
        Some("x-id=PutObject"),
        &h,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    assert_eq!(put.input(), Input::Stream(9));
    let reply = run(&store, put, Some(b"Hello R2!".to_vec()), None).unwrap();
    assert_eq!(
        (reply.status, reply.header("etag")),
        (200, Some("\"etag9\""))
    );
    assert!(reply.body.is_none());
    let stored = store.objects.borrow()["a b.txt"].0.clone();
    // x-amz-meta-* is the objects routes' custom metadata; x-strata-* is not read from S3.
    assert_eq!(stored.custom.get("owner").map(String::as_str), Some("ada"));
    assert!(!stored.custom.contains_key("sneaky"));

    let get = parse(
        "GET",
        Some("strata"),
        Some("a%20b.txt"),
        Some("response-content-type=x%2Fy"),
        &headers(&[]),
        Payload::Unsigned,
        &[Scope::ObjectsRead],
    )
    .unwrap();
    let reply = run(&store, get, None, None).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-amz-meta-owner"), Some("ada"));
    assert_eq!(reply.header("content-type"), Some("x/y"));
    assert!(matches!(reply.body, Some(S3Body::Stream(ref b)) if b == b"Hello R2!"));
}

#[test]
fn aws_chunked_uploads_declare_the_decoded_length_and_drop_the_framing_encoding() {
    let store = Fake::default();
    let h = headers(&[
        ("content-length", "100"),
        ("x-amz-decoded-content-length", "3"),
        ("content-encoding", "aws-chunked"),
    ]);
    let payload = Payload::Chunked {
        signed: false,
        trailer: true,
    };
    assert!(body_needs_worker(&h, payload));
    let put = parse("PUT", Some("strata"), Some("k"), None, &h, payload, RW).unwrap();
    assert_eq!(put.input(), Input::Stream(3));
    run(&store, put, Some(b"abc".to_vec()), None).unwrap();
    assert_eq!(store.objects.borrow()["k"].0.http.content_encoding, None);
}

#[test]
fn a_signed_sha256_is_verified_by_the_store() {
    let store = Fake::default();
    let h = headers(&[("content-length", "3")]);
    let wrong = Payload::Sha256(Sha256::digest(b"xyz").into());
    assert!(!body_needs_worker(&h, wrong));
    let put = parse("PUT", Some("strata"), Some("k"), None, &h, wrong, RW).unwrap();
    let e = run(&store, put, Some(b"abc".to_vec()), None).unwrap_err();
    assert_eq!((e.code, e.status), ("XAmzContentSHA256Mismatch", 400));
    assert!(store.objects.borrow().is_empty());
    // With a CRC the store cannot check, the Worker checks the body (and the hash).
    let crc = headers(&[
        ("content-length", "3"),
        ("x-amz-checksum-crc32", "AAAAAA=="),
    ]);
    assert!(body_needs_worker(&crc, wrong));
}

#[test]
fn scopes_buckets_and_unimplemented_operations() {
    let h = headers(&[("content-length", "1")]);
    let ro = &[Scope::ObjectsRead];
    for (method, query) in [("PUT", None), ("DELETE", None), ("POST", Some("uploads"))] {
        let e = parse(
            method,
            Some("strata"),
            Some("k"),
            query,
            &h,
            Payload::Unsigned,
            ro,
        )
        .unwrap_err();
        assert_eq!((e.code, e.status), ("AccessDenied", 403), "{method}");
    }
    let e = parse(
        "POST",
        Some("strata"),
        None,
        Some("delete"),
        &h,
        Payload::Unsigned,
        ro,
    )
    .unwrap_err();
    assert_eq!(e.code, "AccessDenied");
    let e = parse(
        "GET",
        Some("other"),
        Some("k"),
        None,
        &h,
        Payload::Unsigned,
        RW,
    )
    .unwrap_err();
    assert_eq!((e.code, e.status), ("NoSuchBucket", 404));
    for (method, key, query, hs) in [
        ("GET", Some("k"), Some("acl"), vec![]),
        ("GET", Some("k"), Some("uploadId=u"), vec![]),
        ("GET", None, Some("uploads"), vec![]),
        (
            "PUT",
            Some("k"),
            None,
            vec![("x-amz-copy-source", "strata/x?versionId=3")],
        ),
    ] {
        let e = parse(
            method,
            Some("strata"),
            key,
            query,
            &headers(&hs),
            Payload::Unsigned,
            RW,
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.status),
            ("NotImplemented", 501),
            "{method} {query:?}"
        );
    }
    let e = parse("PUT", None, None, None, &h, Payload::Unsigned, RW).unwrap_err();
    assert_eq!(e.code, "MethodNotAllowed");
    // start-after (v2) and marker (v1) are keys: the listing starts after
    // them; a continuation token wins over start-after; a v1 marker that is
    // a rolled-up prefix skips the keys under it.
    let list = |query: &str| match parse(
        "GET",
        Some("strata"),
        None,
        Some(query),
        &h,
        Payload::Unsigned,
        RW,
    )
    .unwrap()
    .op
    {
        Op::List { params, .. } => params.unwrap(),
        _ => panic!("not a list"),
    };
    let p = list("list-type=2&start-after=a%2Fb");
    assert_eq!((p.start_after.as_deref(), p.cursor), (Some("a/b"), None));
    let p = list("list-type=2&start-after=a&continuation-token=t");
    assert_eq!((p.start_after, p.cursor.as_deref()), (None, Some("t")));
    let p = list("marker=k1");
    assert_eq!((p.start_after.as_deref(), p.cursor), (Some("k1"), None));
    let p = list("marker=dir%2F&delimiter=%2F");
    assert_eq!(p.start_after.as_deref(), Some("dir/\u{10FFFF}"));
    // A key that merely ends with the delimiter is a key: the folder
    // placeholder equal to the prefix, or one with a delimiter inside.
    let p = list("prefix=a%2F&marker=a%2F&delimiter=%2F");
    assert_eq!(p.start_after.as_deref(), Some("a/"));
    let p = list("prefix=a%2F&marker=a%2Fb%2F&delimiter=%2F");
    assert_eq!(p.start_after.as_deref(), Some("a/b/\u{10FFFF}"));
    let p = list("marker=a%2Fb%2F&delimiter=%2F");
    assert_eq!(p.start_after.as_deref(), Some("a/b/"));
    let p = list("marker=b%2F&prefix=a%2F&delimiter=%2F");
    assert_eq!(p.start_after.as_deref(), Some("b/"));
}

#[test]
fn listings_buckets_and_deletes_answer_s3_xml() {
    let store = Fake::default();
    for k in ["d/a", "d/b", "e"] {
        let put = parse(
            "PUT",
            Some("strata"),
            Some(k),
            None,
            &headers(&[("content-length", "1")]),
            Payload::Unsigned,
            RW,
        )
        .unwrap();
        run(&store, put, Some(b"x".to_vec()), None).unwrap();
    }
    let none = headers(&[]);
    let list = parse(
        "GET",
        Some("strata"),
        None,
        Some("list-type=2&prefix=d%2F&max-keys=5"),
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    let Some(S3Body::Xml(xml)) = run(&store, list, None, None).unwrap().body else {
        panic!()
    };
    assert!(
        xml.contains("<Key>d/a</Key>")
            && xml.contains("<Key>d/b</Key>")
            && !xml.contains("<Key>e</Key>"),
        "{xml}"
    );
    assert!(
        xml.contains("<MaxKeys>5</MaxKeys>") && xml.contains("<Prefix>d/</Prefix>"),
        "{xml}"
    );
    // max-keys=0 asks the store nothing.
    let zero = parse(
        "GET",
        Some("strata"),
        None,
        Some("max-keys=0"),
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    let Some(S3Body::Xml(xml)) = run(&store, zero, None, None).unwrap().body else {
        panic!()
    };
    assert!(!xml.contains("<Contents>"), "{xml}");

    let buckets = parse("GET", None, None, None, &none, Payload::Unsigned, RW).unwrap();
    let Some(S3Body::Xml(xml)) = run(&store, buckets, None, None).unwrap().body else {
        panic!()
    };
    assert!(xml.contains("<Name>strata</Name>"));
    let loc = parse(
        "GET",
        Some("strata"),
        None,
        Some("location"),
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    let Some(S3Body::Xml(xml)) = run(&store, loc, None, None).unwrap().body else {
        panic!()
    };
    assert!(xml.contains(">auto<"));
    let head = parse(
        "HEAD",
        Some("strata"),
        None,
        None,
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    assert_eq!(run(&store, head, None, None).unwrap().status, 200);

    let body = b"<Delete><Object><Key>d/a</Key></Object><Object><Key>nope</Key></Object></Delete>";
    let del = parse(
        "POST",
        Some("strata"),
        None,
        Some("delete"),
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    assert_eq!(del.input(), Input::Xml);
    let Some(S3Body::Xml(xml)) = run(&store, del, None, Some(body)).unwrap().body else {
        panic!()
    };
    assert!(
        xml.contains("<Deleted><Key>d/a</Key></Deleted><Deleted><Key>nope</Key></Deleted>"),
        "{xml}"
    );
    assert_eq!(
        *store.deleted.borrow(),
        vec!["d/a".to_string(), "nope".to_string()]
    );
    // A checksum that does not match the body refuses it whole.
    let bad = headers(&[("x-amz-checksum-crc32", "AAAAAA==")]);
    let del = parse(
        "POST",
        Some("strata"),
        None,
        Some("delete"),
        &bad,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    assert_eq!(
        run(&store, del, None, Some(body)).unwrap_err().code,
        "BadDigest"
    );
}

#[test]
fn missing_objects_and_multipart_in_s3_terms() {
    let store = Fake::default();
    let none = headers(&[]);
    let get = parse(
        "GET",
        Some("strata"),
        Some("missing"),
        None,
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    let e = run(&store, get, None, None).unwrap_err();
    assert_eq!((e.code, e.status), ("NoSuchKey", 404));
    let create = parse(
        "POST",
        Some("strata"),
        Some("big"),
        Some("uploads"),
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    let Some(S3Body::Xml(xml)) = run(&store, create, None, None).unwrap().body else {
        panic!()
    };
    assert!(xml.contains("<UploadId>upload-1</UploadId>"), "{xml}");
    let part = parse(
        "PUT",
        Some("strata"),
        Some("big"),
        Some("partNumber=2&uploadId=upload-1&x-id=UploadPart"),
        &headers(&[("content-length", "1")]),
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    assert_eq!(
        run(&store, part, Some(b"x".to_vec()), None)
            .unwrap()
            .header("etag"),
        Some("\"part2\"")
    );
    let complete = parse(
        "POST",
        Some("strata"),
        Some("big"),
        Some("uploadId=upload-1"),
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    let body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"part1\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"part2\"</ETag></Part></CompleteMultipartUpload>";
    let Some(S3Body::Xml(xml)) = run(&store, complete, None, Some(body)).unwrap().body else {
        panic!()
    };
    assert!(xml.contains("<ETag>&quot;done2&quot;</ETag>"), "{xml}");
    let abort = parse(
        "DELETE",
        Some("strata"),
        Some("big"),
        Some("uploadId=upload-1"),
        &none,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    assert_eq!(run(&store, abort, None, None).unwrap().status, 204);
}

fn put_object(store: &Fake, key: &str, body: &[u8], extra: &[(&str, &str)]) {
    let length = body.len().to_string();
    let mut h = vec![("content-length", length.as_str())];
    h.extend_from_slice(extra);
    let put = parse(
        "PUT",
        Some("strata"),
        Some(key),
        None,
        &headers(&h),
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    run(store, put, Some(body.to_vec()), None).unwrap();
}

fn copy(store: &Fake, key: &str, h: &[(&str, &str)], scopes: &[Scope]) -> Result<String, S3Error> {
    copy_query(store, key, None, h, scopes)
}

fn copy_query(
    store: &Fake,
    key: &str,
    query: Option<&str>,
    h: &[(&str, &str)],
    scopes: &[Scope],
) -> Result<String, S3Error> {
    let command = parse(
        "PUT",
        Some("strata"),
        Some(key),
        query,
        &headers(h),
        Payload::Unsigned,
        scopes,
    )?;
    assert_eq!(command.input(), Input::None);
    match run(store, command, None, None)?.body {
        Some(S3Body::Xml(xml)) => Ok(xml),
        other => panic!("not XML: {other:?}"),
    }
}

#[test]
fn copy_object_keeps_or_replaces_the_metadata() {
    let store = Fake::default();
    put_object(
        &store,
        "dir/a%20b%3F.txt",
        b"hello",
        &[("content-type", "text/plain"), ("x-amz-meta-owner", "ada")],
    );
    // URL-encoded source, with and without the leading slash.
    for source in ["strata/dir/a%20b%3F.txt", "/strata/dir%2Fa%20b%3F.txt"] {
        let xml = copy(&store, "c1", &[("x-amz-copy-source", source)], RW).unwrap();
        assert!(xml.contains("<CopyObjectResult"), "{xml}");
        assert!(xml.contains("<ETag>&quot;etag5&quot;</ETag>"), "{xml}");
        assert!(xml.contains("<LastModified>2023-11-14T22:13:20.000Z</LastModified>"));
        let objects = store.objects.borrow();
        let (meta, bytes) = &objects["c1"];
        assert_eq!(bytes, b"hello");
        assert_eq!(meta.http.content_type.as_deref(), Some("text/plain"));
        assert_eq!(meta.custom.get("owner").map(String::as_str), Some("ada"));
    }
    // COPY ignores the request's metadata; REPLACE takes it (and only it).
    copy(
        &store,
        "c2",
        &[
            ("x-amz-copy-source", "strata/c1"),
            ("x-amz-meta-owner", "bob"),
            ("content-type", "text/csv"),
        ],
        RW,
    )
    .unwrap();
    assert_eq!(store.objects.borrow()["c2"].0.custom["owner"], "ada");
    copy(
        &store,
        "c2",
        &[
            ("x-amz-copy-source", "strata/c1"),
            ("x-amz-metadata-directive", "REPLACE"),
            ("x-amz-meta-team", "x"),
            ("content-type", "text/csv"),
        ],
        RW,
    )
    .unwrap();
    let (meta, _) = store.objects.borrow()["c2"].clone();
    assert_eq!(meta.http.content_type.as_deref(), Some("text/csv"));
    assert_eq!(meta.custom.get("owner"), None);
    assert_eq!(meta.custom["team"], "x");
    // Onto itself: only with REPLACE.
    let e = copy(&store, "c1", &[("x-amz-copy-source", "strata/c1")], RW).unwrap_err();
    assert_eq!((e.code, e.status), ("InvalidRequest", 400));
    copy(
        &store,
        "c1",
        &[
            ("x-amz-copy-source", "strata/c1"),
            ("x-amz-metadata-directive", "REPLACE"),
        ],
        RW,
    )
    .unwrap();
    assert!(store.objects.borrow()["c1"].0.custom.is_empty());
}

#[test]
fn copy_object_conditions_scopes_and_bad_sources() {
    let store = Fake::default();
    put_object(&store, "src", b"abc", &[]);
    let src = ("x-amz-copy-source", "strata/src");
    let e412 = |h: &[(&str, &str)]| {
        let e = copy(&store, "dst", h, RW).unwrap_err();
        assert_eq!((e.code, e.status), ("PreconditionFailed", 412), "{h:?}");
    };
    e412(&[src, ("x-amz-copy-source-if-match", "\"other\"")]);
    e412(&[src, ("x-amz-copy-source-if-none-match", "\"etag3\"")]);
    e412(&[
        src,
        (
            "x-amz-copy-source-if-modified-since",
            "Wed, 01 Jan 2025 00:00:00 GMT",
        ),
    ]);
    e412(&[
        src,
        (
            "x-amz-copy-source-if-unmodified-since",
            "Sat, 01 Jan 2000 00:00:00 GMT",
        ),
    ]);
    // The destination's own condition.
    put_object(&store, "dst", b"x", &[]);
    e412(&[src, ("if-none-match", "*")]);
    assert_eq!(store.objects.borrow()["dst"].1, b"x");
    copy(
        &store,
        "dst",
        &[
            src,
            ("x-amz-copy-source-if-match", "\"etag3\""),
            (
                "x-amz-copy-source-if-unmodified-since",
                "Wed, 01 Jan 2025 00:00:00 GMT",
            ),
        ],
        RW,
    )
    .unwrap();
    assert_eq!(store.objects.borrow()["dst"].1, b"abc");
    // Writing the destination needs objects:write.
    let e = copy(&store, "d", &[src], &[Scope::ObjectsRead]).unwrap_err();
    assert_eq!((e.code, e.status), ("AccessDenied", 403));
    for (source, code) in [
        ("strata/missing", "NoSuchKey"),
        ("other/src", "NoSuchBucket"),
        ("strata", "InvalidArgument"),
        ("strata/a%zz", "InvalidArgument"),
        ("strata/src?partNumber=1", "InvalidArgument"),
        ("strata/", "InvalidRequest"),
    ] {
        let e = copy(&store, "d", &[("x-amz-copy-source", source)], RW).unwrap_err();
        assert_eq!(e.code, code, "{source}");
    }
    let e = copy(
        &store,
        "d",
        &[src, ("x-amz-metadata-directive", "MOVE")],
        RW,
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidArgument");
    let e = parse(
        "GET",
        Some("strata"),
        Some("d"),
        None,
        &headers(&[src]),
        Payload::Unsigned,
        RW,
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidRequest");
    assert!(!store.objects.borrow().contains_key("d"));
}

#[test]
fn upload_part_copy_with_a_source_range() {
    let store = Fake::default();
    put_object(&store, "src", b"0123456789", &[]);
    let part = |range: Option<&str>| {
        let mut h = vec![("x-amz-copy-source", "strata/src")];
        h.extend(range.map(|r| ("x-amz-copy-source-range", r)));
        copy_query(&store, "dst", Some("partNumber=2&uploadId=u1"), &h, RW)
    };
    let xml = part(Some("bytes=2-5")).unwrap();
    assert!(xml.contains("<CopyPartResult"), "{xml}");
    assert!(xml.contains("<ETag>&quot;part2&quot;</ETag>"), "{xml}");
    part(None).unwrap();
    for bad in ["bytes=5-10", "bytes=5-", "bytes=6-5", "5-6"] {
        let e = part(Some(bad)).unwrap_err();
        assert_eq!((e.code, e.status), ("InvalidArgument", 400), "{bad}");
    }
    let e = copy_query(
        &store,
        "dst",
        Some("partNumber=0&uploadId=u1"),
        &[("x-amz-copy-source", "strata/src")],
        RW,
    )
    .unwrap_err();
    assert_eq!(e.status, 400);
}

#[test]
fn unknown_checksums_and_full_object_checksums_are_refused() {
    for (method, query, h) in [
        (
            "PUT",
            None,
            vec![("content-length", "1"), ("x-amz-checksum-crc16", "AAA=")],
        ),
        (
            "PUT",
            None,
            vec![("content-length", "1"), ("x-amz-checksum-crc32", "AAAA")],
        ),
        (
            "POST",
            Some("uploadId=u1"),
            vec![("x-amz-checksum-crc32", "AAAAAA==")],
        ),
    ] {
        let e = parse(
            method,
            Some("strata"),
            Some("k"),
            query,
            &headers(&h),
            Payload::Unsigned,
            RW,
        )
        .unwrap_err();
        let want = if method == "POST" {
            ("NotImplemented", 501)
        } else {
            ("InvalidRequest", 400)
        };
        assert_eq!((e.code, e.status), want, "{h:?}");
    }
    // CRC64NVME goes through the Worker to be checked.
    let h = headers(&[
        ("content-length", "1"),
        ("x-amz-checksum-crc64nvme", "AAAAAAAAAAA="),
    ]);
    let put = parse(
        "PUT",
        Some("strata"),
        Some("k"),
        None,
        &h,
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    assert!(put.body_needs_worker(&h, Payload::Unsigned));
}

#[test]
fn listing_parameters_are_bounded_as_for_v1_objects() {
    let h = headers(&[]);
    let list = |query: &str| {
        parse(
            "GET",
            Some("strata"),
            None,
            Some(query),
            &h,
            Payload::Unsigned,
            RW,
        )
    };
    let key = "k".repeat(MAX_KEY_PARAM_BYTES);
    let long = "k".repeat(MAX_KEY_PARAM_BYTES + 1);
    let wide = crate::percent::encode(&"é".repeat(MAX_KEY_PARAM_BYTES / 2 + 1), true);
    for (version, name) in [
        ("", "prefix"),
        ("list-type=2&", "prefix"),
        ("", "delimiter"),
        ("list-type=2&", "delimiter"),
        ("", "marker"),
        ("list-type=2&", "start-after"),
    ] {
        assert!(list(&format!("{version}{name}={key}")).is_ok(), "{name}");
        let e = list(&format!("{version}{name}={long}")).unwrap_err();
        assert_eq!((e.code, e.status), ("InvalidArgument", 400), "{name}");
        assert!(e.message.contains(name), "{}", e.message);
        // Multi-byte characters count in bytes, as a key's length does.
        let e = list(&format!("{version}{name}={wide}")).unwrap_err();
        assert_eq!(e.code, "InvalidArgument", "{name}");
    }
    // v1 reads no start-after, v2 no marker: not refused, not used either.
    assert!(list(&format!("start-after={long}")).is_ok());
    for bad in [
        format!("list-type=2&continuation-token={}", "A".repeat(4097)),
        "list-type=2&continuation-token=%3Cx%3E".into(),
        "list-type=2&continuation-token=a%20b".into(),
        "max-keys=-1".into(),
        "max-keys=%2B5".into(),
        "max-keys=1.5".into(),
        "max-keys=99999999999999999999999".into(),
        "encoding-type=base64".into(),
    ] {
        let e = list(&bad).unwrap_err();
        assert_eq!((e.code, e.status), ("InvalidArgument", 400), "{bad}");
    }
    assert!(list("list-type=2&continuation-token=ZC9h%2B%2F-_%3D").is_ok());
    assert!(list("max-keys=5000").is_ok());
}

#[test]
fn multipart_steps_refuse_conditions_they_cannot_enforce() {
    let store = Fake::default();
    put_object(&store, "src", b"abc", &[]);
    for (method, query, extra) in [
        ("POST", "uploads", None),
        ("PUT", "partNumber=1&uploadId=u", None),
        ("POST", "uploadId=u", None),
        (
            "PUT",
            "partNumber=1&uploadId=u",
            Some(("x-amz-copy-source", "strata/src")),
        ),
    ] {
        for condition in [
            ("if-match", "\"etag3\""),
            ("if-none-match", "*"),
            ("if-unmodified-since", "Wed, 01 Jan 2025 00:00:00 GMT"),
        ] {
            let mut pairs = vec![("content-length", "1"), condition];
            pairs.extend(extra);
            let e = parse(
                method,
                Some("strata"),
                Some("k"),
                Some(query),
                &headers(&pairs),
                Payload::Unsigned,
                RW,
            )
            .unwrap_err();
            assert_eq!(
                (e.code, e.status),
                ("NotImplemented", 501),
                "{method} {query} {condition:?}"
            );
        }
    }
    // The source's conditions are UploadPartCopy's own, and apply.
    let part_copy = |h: &[(&str, &str)]| {
        let mut pairs = vec![("x-amz-copy-source", "strata/src")];
        pairs.extend_from_slice(h);
        let c = parse(
            "PUT",
            Some("strata"),
            Some("k"),
            Some("partNumber=1&uploadId=u"),
            &headers(&pairs),
            Payload::Unsigned,
            RW,
        )
        .unwrap();
        run(&store, c, None, None)
    };
    let e = part_copy(&[("x-amz-copy-source-if-match", "\"other\"")]).unwrap_err();
    assert_eq!((e.code, e.status), ("PreconditionFailed", 412));
    assert!(part_copy(&[("x-amz-copy-source-if-match", "\"etag3\"")]).is_ok());
}

#[test]
fn delete_objects_honours_version_ids_and_etags_per_key() {
    let store = Fake::default();
    for k in ["a", "b", "c", "d", "e"] {
        put_object(&store, k, b"xy", &[]);
    }
    store.calls.borrow_mut().clear();
    let body = br#"<Delete>
  <Object><Key>a</Key><VersionId>3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY</VersionId></Object>
  <Object><Key>b</Key><VersionId>null</VersionId></Object>
  <Object><Key>c</Key><ETag>"nope"</ETag></Object>
  <Object><Key>d</Key><ETag>etag2</ETag></Object>
  <Object><Key>e</Key><ETag>"etag2"</ETag></Object>
  <Object><Key>gone</Key><ETag>etag2</ETag></Object>
</Delete>"#;
    let del = parse(
        "POST",
        Some("strata"),
        None,
        Some("delete"),
        &headers(&[]),
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    let Some(S3Body::Xml(xml)) = run(&store, del, None, Some(body)).unwrap().body else {
        panic!()
    };
    for part in [
        // No version but the current one: nothing deleted, the key's error.
        "<Error><Key>a</Key><VersionId>3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY</VersionId><Code>NoSuchVersion</Code>",
        "<Deleted><Key>b</Key><VersionId>null</VersionId></Deleted>",
        "<Error><Key>c</Key><Code>PreconditionFailed</Code>",
        "<Deleted><Key>d</Key></Deleted>",
        "<Deleted><Key>e</Key></Deleted>",
        "<Error><Key>gone</Key><Code>PreconditionFailed</Code>",
    ] {
        assert!(xml.contains(part), "{part} in {xml}");
    }
    let left: Vec<String> = store.objects.borrow().keys().cloned().collect();
    assert_eq!(left, vec!["a".to_string(), "c".to_string()]);
    assert_eq!(
        *store.deleted.borrow(),
        vec!["b".to_string(), "d".to_string(), "e".to_string()]
    );
    // The unconditional key in one batch first; each ETag read, then deleted
    // if it held.
    assert_eq!(
        *store.calls.borrow(),
        [
            "delete_many",
            "head",
            "head",
            "delete",
            "head",
            "delete",
            "head"
        ]
    );
}

/// A DeleteObjects body naming `keys`, each `(key, etag)`.
fn delete_body(keys: &[(String, Option<&str>)]) -> Vec<u8> {
    let mut body = String::from("<Delete>");
    for (key, etag) in keys {
        body.push_str(&format!("<Object><Key>{key}</Key>"));
        if let Some(etag) = etag {
            body.push_str(&format!("<ETag>{etag}</ETag>"));
        }
        body.push_str("</Object>");
    }
    body.push_str("</Delete>");
    body.into_bytes()
}

fn delete_objects(store: &Fake, body: &[u8]) -> Result<S3Reply<Vec<u8>>, S3Error> {
    let del = parse(
        "POST",
        Some("strata"),
        None,
        Some("delete"),
        &headers(&[]),
        Payload::Unsigned,
        RW,
    )
    .unwrap();
    run(store, del, None, Some(body))
}

#[test]
fn delete_objects_deletes_unconditional_keys_in_one_store_call() {
    let store = Fake::default();
    for i in 0..1002 {
        let (meta, bytes) = (
            ObjectMeta {
                key: format!("k{i:04}"),
                ..Default::default()
            },
            Vec::new(),
        );
        store
            .objects
            .borrow_mut()
            .insert(meta.key.clone(), (meta, bytes));
    }
    // 1000 keys, most existing, some not, in no sorted order; the last two
    // objects stay.
    let mut keys: Vec<(String, Option<&str>)> =
        (0..990).rev().map(|i| (format!("k{i:04}"), None)).collect();
    keys.extend((0..10).map(|i| (format!("absent/{i}"), None)));
    let Some(S3Body::Xml(xml)) = delete_objects(&store, &delete_body(&keys)).unwrap().body else {
        panic!()
    };
    assert_eq!(*store.calls.borrow(), ["delete_many"]);
    assert_eq!(store.delete_calls.borrow()[0].len(), 1000);
    // Every key answered Deleted, in the body's order.
    let expected: String = keys
        .iter()
        .map(|(k, _)| format!("<Deleted><Key>{k}</Key></Deleted>"))
        .collect();
    assert!(xml.contains(&expected), "{xml}");
    assert!(!xml.contains("<Error>"), "{xml}");
    let left: Vec<String> = store.objects.borrow().keys().cloned().collect();
    let mut want: Vec<String> = (990..1002).map(|i| format!("k{i:04}")).collect();
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn delete_objects_batch_keeps_each_keys_answer_in_order() {
    let store = Fake::default();
    for k in ["a", "b", "c"] {
        put_object(&store, k, b"xy", &[]);
    }
    // A key named twice is one key of the batch and two Deleted entries; a
    // conditional key between unconditional ones keeps its place.
    let body = br#"<Delete>
  <Object><Key>a</Key></Object>
  <Object><Key>b</Key><ETag>nope</ETag></Object>
  <Object><Key>a</Key><VersionId>null</VersionId></Object>
  <Object><Key>c</Key><VersionId>v2</VersionId></Object>
  <Object><Key>c</Key></Object>
</Delete>"#;
    let Some(S3Body::Xml(xml)) = delete_objects(&store, body).unwrap().body else {
        panic!()
    };
    assert!(
        xml.contains(
            "<Deleted><Key>a</Key></Deleted>\
             <Deleted><Key>a</Key><VersionId>null</VersionId></Deleted>\
             <Deleted><Key>c</Key></Deleted>\
             <Error><Key>b</Key><Code>PreconditionFailed</Code>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<Error><Key>c</Key><VersionId>v2</VersionId><Code>NoSuchVersion</Code>"),
        "{xml}"
    );
    assert_eq!(
        *store.delete_calls.borrow(),
        vec![vec!["a".to_string(), "c".to_string()]]
    );
    let left: Vec<String> = store.objects.borrow().keys().cloned().collect();
    assert_eq!(left, vec!["b".to_string()]);
}

#[test]
fn delete_objects_fails_whole_when_the_batch_fails() {
    let store = Fake::default();
    for k in ["a", "b"] {
        put_object(&store, k, b"xy", &[]);
    }
    store.calls.borrow_mut().clear();
    store.fail_delete_many.set(true);
    let keys = vec![("a".to_string(), None), ("b".to_string(), Some("etag2"))];
    let err = delete_objects(&store, &delete_body(&keys)).unwrap_err();
    // Retryable as a whole: S3 clients retry a 503 by themselves.
    assert_eq!((err.code, err.status), ("ServiceUnavailable", 503));
    assert!(err
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("retry-after")));
    assert!(!err.message.contains("connection reset"), "{}", err.message);
    // The conditional key did not run: a retry answers it as the first try would have.
    assert_eq!(*store.calls.borrow(), ["delete_many"]);
    assert_eq!(store.objects.borrow().len(), 2);
    // The retry deletes both.
    let Some(S3Body::Xml(xml)) = delete_objects(&store, &delete_body(&keys)).unwrap().body else {
        panic!()
    };
    assert!(
        xml.contains("<Deleted><Key>a</Key></Deleted><Deleted><Key>b</Key></Deleted>"),
        "{xml}"
    );
    assert!(store.objects.borrow().is_empty());
}

#[test]
fn delete_objects_with_only_refused_or_conditional_keys_makes_no_batch_call() {
    let store = Fake::default();
    put_object(&store, "a", b"xy", &[]);
    store.calls.borrow_mut().clear();
    let body = br#"<Delete><Object><Key>a</Key><ETag>etag2</ETag></Object><Object><Key>z</Key><VersionId>v1</VersionId></Object></Delete>"#;
    delete_objects(&store, body).unwrap();
    assert_eq!(*store.calls.borrow(), ["head", "delete"]);
}
