//! `/v1/objects` and signed URLs against real local R2 (wrangler dev).
//!
//! Bodies are compared byte for byte, so these tests read them as bytes
//! (`client::fetch`) instead of as text (`client::call`).
//! Every test works under its own key prefix: the tests share one bucket and
//! run in parallel.

use crate::client::{fetch, send, unique, unix_now, Body, Reply};
use crate::stack::{Stack, SIGNING_SECRET};
use crate::{Outcome, TestFn};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::time::Duration;
use strata_core::auth::key_hash_hex;

pub fn tests() -> Vec<TestFn> {
    trials![
        objects::put_get_head_round_trip_with_metadata,
        objects::bodies_are_byte_exact_and_encodings_untouched,
        objects::empty_objects,
        objects::ranges_are_byte_exact_206_or_416,
        objects::if_range_sends_everything_unless_it_holds,
        objects::get_and_head_conditionals_in_rfc_order,
        objects::failed_put_conditionals_write_nothing,
        objects::checksums_are_verified_and_mismatches_write_nothing,
        objects::delete_is_idempotent_and_honours_if_match,
        objects::uploads_need_a_length_and_valid_headers,
        objects::key_edge_cases,
        objects::listing_prefixes_delimiters_and_paging,
        objects::multipart_200mb_up_and_down_sha256,
        objects::multipart_errors_are_clear,
        objects::scopes,
        objects::signed_urls,
        objects::signed_url_tampering_and_expiry_are_403,
        objects::missing_signing_secret_is_config_invalid,
        objects::signed_urls_stop_working_when_their_signer_is_revoked,
        objects::jwt_signed_urls_never_outlive_the_token,
        objects::bodies_are_served_nosniff_and_sandboxed,
        objects::finishing_an_unknown_upload_is_404,
    ]
}

// ---------------------------------------------------------------- client --

/// A response with its body as bytes.
type Resp = Reply<Vec<u8>>;

/// A request with a ten-minute timeout (see [`fetch`]).
fn request(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Body,
) -> Resp {
    fetch(base, method, path, key, headers, body, true)
}

/// A request with the admin key.
fn admin(
    s: &Stack,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let body = body.map_or(Body::None, Body::Bytes);
    request(&s.base, method, path, Some(&s.admin_key), headers, body)
}

fn put(s: &Stack, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    admin(s, "PUT", path, headers, Some(body))
}

fn get(s: &Stack, path: &str, headers: &[(&str, &str)]) -> Resp {
    admin(s, "GET", path, headers, None)
}

fn obj(key_path: &str) -> String {
    format!("/v1/objects/{key_path}")
}

/// Bytes where every position has a distinct-ish value, so an off-by-one
/// in a range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ----------------------------------------------------------------- tests --

fn put_get_head_round_trip_with_metadata(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/doc.txt", unique("it-rt")));
    let body = b"hello, objects";
    let meta_headers = [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-language", "de-CH"),
        ("content-disposition", "attachment; filename=\"doc.txt\""),
        ("cache-control", "public, max-age=60"),
        ("expires", "Wed, 21 Oct 2037 07:28:00 GMT"),
        ("x-strata-meta-owner", "ada"),
        ("X-Strata-Meta-Project", "Analytical Engine"),
    ];
    let created = put(s, &p, &meta_headers, body);
    created.assert_status(201);
    let etag = created.header("etag").expect("ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(created.header("location"), Some(p.as_str()));
    let v = created.json();
    assert_eq!(v["size"], body.len());
    assert_eq!(v["etag"], etag);
    assert_eq!(v["contentType"], "text/plain; charset=utf-8");
    assert_eq!(
        v["metadata"],
        json!({"owner": "ada", "project": "Analytical Engine"})
    );
    assert!(v["uploaded"].as_str().is_some_and(|u| u.ends_with('Z')));

    for method in ["GET", "HEAD"] {
        let r = admin(s, method, &p, &[], None);
        r.assert_status(200);
        if method == "GET" {
            assert_eq!(r.body, body);
        } else {
            assert!(r.body.is_empty());
        }
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{method}");
        assert_eq!(r.header("content-length"), Some("14"), "{method}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert!(r
            .header("last-modified")
            .is_some_and(|d| d.ends_with(" GMT")));
        for (name, value) in &meta_headers {
            assert_eq!(r.header(name), Some(*value), "{method} {name}");
        }
        assert!(r.header("x-request-id").is_some());
    }

    // Replacing answers 200 with the new ETag.
    let replaced = put(s, &p, &[("content-type", "text/plain")], b"second version");
    replaced.assert_status(200);
    assert_ne!(replaced.header("etag"), Some(etag.as_str()));
    assert!(replaced.header("location").is_none());
    let r = get(s, &p, &[]);
    assert_eq!(r.body, b"second version");
    assert_eq!(r.header("etag"), replaced.header("etag"));
    // Metadata belongs to the version: the old one's is gone.
    assert!(r.header("x-strata-meta-owner").is_none());
    assert!(r.header("content-language").is_none());

    get(s, &obj(&format!("{}/absent", unique("it-rt"))), &[]).assert_error(404, "object_not_found");
    let r = admin(
        s,
        "HEAD",
        &obj(&format!("{}/absent", unique("it-rt"))),
        &[],
        None,
    );
    assert_eq!(r.status, 404);
    Ok(())
}

fn bodies_are_byte_exact_and_encodings_untouched(s: &Stack) -> Outcome {
    let base = unique("it-bytes");
    let all: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
    let p = obj(&format!("{base}/all-bytes.bin"));
    put(s, &p, &[("content-type", "application/octet-stream")], &all).assert_status(201);
    let r = get(s, &p, &[]);
    assert_eq!(r.body, all);
    // Without Content-Type an object is application/octet-stream.
    let p = obj(&format!("{base}/untyped"));
    put(s, &p, &[], b"x").assert_status(201);
    // (ureq sends no Content-Type of its own for byte bodies.)
    assert_eq!(
        get(s, &p, &[]).header("content-type"),
        Some("application/octet-stream")
    );

    // A gzip body is stored and served as is: the runtime must not compress
    // it again, nor decompress it on the way in.
    let gz: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
        0x57, 0x28, 0xcf, 0x2f, 0xca, 0x49, 0x01, 0x00, 0x85, 0x11, 0x4a, 0x0d, 0x0b, 0x00, 0x00,
        0x00,
    ];
    let p = obj(&format!("{base}/hello.txt.gz"));
    put(
        s,
        &p,
        &[("content-type", "text/plain"), ("content-encoding", "gzip")],
        gz,
    )
    .assert_status(201);
    let r = get(s, &p, &[("accept-encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-length"), Some("31"));
    assert_eq!(r.body, gz);
    let r = get(s, &p, &[("range", "bytes=0-1")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &gz[..2]));
    Ok(())
}

fn empty_objects(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/empty", unique("it-empty")));
    let r = put(s, &p, &[], b"");
    r.assert_status(201);
    // MD5 of nothing.
    assert_eq!(
        r.header("etag"),
        Some("\"d41d8cd98f00b204e9800998ecf8427e\"")
    );
    let r = get(s, &p, &[]);
    r.assert_status(200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));
    let r = get(s, &p, &[("range", "bytes=0-0")]);
    r.assert_error(416, "range_not_satisfiable");
    assert_eq!(r.header("content-range"), Some("bytes */0"));
    // A suffix of an empty object is the whole (empty) object.
    let r = get(s, &p, &[("range", "bytes=-5")]);
    r.assert_status(200);
    assert!(r.body.is_empty());
    Ok(())
}

fn ranges_are_byte_exact_206_or_416(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/r.bin", unique("it-range")));
    let data = pattern(1000);
    put(s, &p, &[], &data).assert_status(201);
    for (range, start, end) in [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-7", 993, 999),
        ("bytes=995-5000", 995, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=0-999", 0, 999),
        ("BYTES=1-2, ", 1, 2),
    ] {
        let r = get(s, &p, &[("range", range)]);
        assert_eq!(r.status, 206, "{range}: {}", r.text());
        assert_eq!(r.body, &data[start..=end], "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/1000").as_str()),
            "{range}"
        );
        assert_eq!(
            r.header("content-length"),
            Some((end - start + 1).to_string().as_str()),
            "{range}"
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert!(r.header("etag").is_some());
    }
    for range in [
        "bytes=1000-",
        "bytes=1000-1001",
        "bytes=-0",
        "bytes=5000-6000",
    ] {
        let r = get(s, &p, &[("range", range)]);
        let v = r.assert_error(416, "range_not_satisfiable");
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
        assert_eq!(v["details"]["size"], 1000);
    }
    // Several ranges, other units and malformed ranges: the whole object.
    for range in [
        "bytes=0-1,5-9",
        "items=0-1",
        "bytes=5-1",
        "bytes=x-",
        "bytes",
    ] {
        let r = get(s, &p, &[("range", range)]);
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, data, "{range}");
        assert!(r.header("content-range").is_none());
    }
    // HEAD ignores Range.
    let r = admin(s, "HEAD", &p, &[("range", "bytes=0-9")], None);
    assert_eq!((r.status, r.header("content-length")), (200, Some("1000")));
    Ok(())
}

fn if_range_sends_everything_unless_it_holds(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/ir.bin", unique("it-ifrange")));
    let data = pattern(100);
    let created = put(s, &p, &[], &data);
    let etag = created.header("etag").unwrap_or_default().to_string();
    let last_modified = get(s, &p, &[])
        .header("last-modified")
        .unwrap_or_default()
        .to_string();
    let weak = format!("W/{etag}");
    for (if_range, status) in [
        (etag.as_str(), 206),
        ("\"something-else\"", 200),
        (weak.as_str(), 200),
        (last_modified.as_str(), 206),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 200),
        ("not a validator", 200),
    ] {
        let r = get(s, &p, &[("range", "bytes=10-19"), ("if-range", if_range)]);
        assert_eq!(r.status, status, "If-Range: {if_range}");
        let expected = if status == 206 {
            &data[10..20]
        } else {
            &data[..]
        };
        assert_eq!(r.body, expected, "If-Range: {if_range}");
    }
    Ok(())
}

fn get_and_head_conditionals_in_rfc_order(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/c.txt", unique("it-cond")));
    let created = put(s, &p, &[("cache-control", "max-age=5")], b"conditional");
    let etag = created.header("etag").unwrap_or_default().to_string();
    let lm = get(s, &p, &[])
        .header("last-modified")
        .unwrap_or_default()
        .to_string();
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag}");
    let before = "Thu, 01 Jan 1970 00:00:00 GMT";
    let after = "Fri, 01 Jan 2100 00:00:00 GMT";
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[("if-none-match", &etag)], 304),
        (&[("if-none-match", &weak)], 304),
        (&[("if-none-match", "*")], 304),
        (&[("if-none-match", &list)], 304),
        (&[("if-none-match", "\"nope\"")], 200),
        (&[("if-modified-since", &lm)], 304),
        (&[("if-modified-since", after)], 304),
        (&[("if-modified-since", before)], 200),
        (&[("if-modified-since", "garbage")], 200),
        (&[("if-match", &etag)], 200),
        (&[("if-match", &list)], 200),
        (&[("if-match", "*")], 200),
        (&[("if-match", "\"nope\"")], 412),
        (&[("if-match", &weak)], 412),
        (&[("if-unmodified-since", &lm)], 200),
        (&[("if-unmodified-since", before)], 412),
        // RFC 9110 order: 412 before 304; If-None-Match silences If-Modified-Since;
        // If-Match silences If-Unmodified-Since.
        (&[("if-match", "\"nope\""), ("if-none-match", &etag)], 412),
        (
            &[("if-none-match", "\"nope\""), ("if-modified-since", after)],
            200,
        ),
        (&[("if-match", &etag), ("if-unmodified-since", before)], 200),
        // Preconditions come before ranges: no 416 for a 304 or 412.
        (&[("if-none-match", &etag), ("range", "bytes=0-1")], 304),
        (&[("if-match", "\"nope\""), ("range", "bytes=500-")], 412),
        (&[("if-match", &etag), ("range", "bytes=0-1")], 206),
    ];
    for method in ["GET", "HEAD"] {
        for (headers, status) in cases {
            let r = admin(s, method, &p, headers, None);
            let expected = if method == "HEAD" && *status == 206 {
                200
            } else {
                *status
            };
            assert_eq!(r.status, expected, "{method} {headers:?}: {}", r.text());
            match expected {
                304 => {
                    assert!(r.body.is_empty());
                    assert_eq!(r.header("etag"), Some(etag.as_str()));
                    assert_eq!(r.header("last-modified"), Some(lm.as_str()));
                    assert_eq!(r.header("cache-control"), Some("max-age=5"));
                }
                412 if method == "GET" => {
                    r.assert_error(412, "precondition_failed");
                }
                200 if method == "GET" => assert_eq!(r.body, b"conditional"),
                _ => {}
            }
        }
    }
    // A malformed entity-tag list is a 400, not a silently ignored condition.
    get(s, &p, &[("if-match", "nope")]).assert_error(400, "invalid_request");
    // Preconditions are ignored for a missing object: 404.
    get(
        s,
        &obj(&format!("{}/missing", unique("it-cond"))),
        &[("if-match", "*")],
    )
    .assert_error(404, "object_not_found");
    Ok(())
}

fn failed_put_conditionals_write_nothing(s: &Stack) -> Outcome {
    let base = unique("it-wcond");
    let p = obj(&format!("{base}/w.txt"));
    // Create-only.
    let created = put(s, &p, &[("if-none-match", "*")], b"v1");
    created.assert_status(201);
    let v1 = created.header("etag").unwrap_or_default().to_string();
    put(s, &p, &[("if-none-match", "*")], b"v2").assert_error(412, "precondition_failed");
    assert_eq!(get(s, &p, &[]).body, b"v1", "a failed If-None-Match wrote");
    // Replace only this version.
    let replaced = put(s, &p, &[("if-match", &v1)], b"v2");
    replaced.assert_status(200);
    let v2 = replaced.header("etag").unwrap_or_default().to_string();
    put(s, &p, &[("if-match", &v1)], b"v3").assert_error(412, "precondition_failed");
    assert_eq!(get(s, &p, &[]).body, b"v2", "a failed If-Match wrote");
    put(s, &p, &[("if-match", "*")], b"v3").assert_status(200);
    put(s, &p, &[("if-none-match", &format!("\"x\", {v2}"))], b"v4").assert_status(200);
    put(
        s,
        &p,
        &[("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT")],
        b"v5",
    )
    .assert_error(412, "precondition_failed");
    assert_eq!(get(s, &p, &[]).body, b"v4");
    // If-Match on a key with no object fails and creates nothing.
    let missing = obj(&format!("{base}/missing"));
    put(s, &missing, &[("if-match", "*")], b"x").assert_error(412, "precondition_failed");
    put(s, &missing, &[("if-match", &v2)], b"x").assert_error(412, "precondition_failed");
    get(s, &missing, &[]).assert_error(404, "object_not_found");
    // If-Unmodified-Since without an object is ignored (nothing to compare).
    put(
        s,
        &missing,
        &[("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT")],
        b"x",
    )
    .assert_status(201);
    // A malformed If-Match is a 400 and writes nothing.
    put(s, &p, &[("if-match", "v2")], b"v9").assert_error(400, "invalid_request");
    assert_eq!(get(s, &p, &[]).body, b"v4");
    Ok(())
}

fn checksums_are_verified_and_mismatches_write_nothing(s: &Stack) -> Outcome {
    let base = unique("it-sum");
    // MD5("hello") and SHA-256("hello").
    let md5_b64 = "XUFAKrxLKna5cZ2REBfFkg==";
    let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let p = obj(&format!("{base}/md5"));
    put(s, &p, &[("content-md5", md5_b64)], b"hello").assert_status(201);
    let p = obj(&format!("{base}/sha"));
    put(s, &p, &[("x-strata-checksum-sha256", sha)], b"hello").assert_status(201);
    let r = get(s, &p, &[]);
    assert_eq!(r.header("x-strata-checksum-sha256"), Some(sha));

    // Mismatches store nothing: neither a new key nor over an existing one.
    let fresh = obj(&format!("{base}/fresh"));
    let v = put(s, &fresh, &[("content-md5", md5_b64)], b"jello")
        .assert_error(400, "checksum_mismatch");
    assert!(
        !v.to_string().contains("5d41402a"),
        "no digests echoed: {v}"
    );
    get(s, &fresh, &[]).assert_error(404, "object_not_found");
    put(s, &fresh, &[("x-strata-checksum-sha256", sha)], b"jello")
        .assert_error(400, "checksum_mismatch");
    get(s, &fresh, &[]).assert_error(404, "object_not_found");
    let existing = obj(&format!("{base}/sha"));
    put(s, &existing, &[("x-strata-checksum-sha256", sha)], b"HELLO")
        .assert_error(400, "checksum_mismatch");
    assert_eq!(get(s, &existing, &[]).body, b"hello");

    for headers in [
        &[("content-md5", "not-base64")][..],
        &[("content-md5", "aGVsbG8=")][..],
        &[("x-strata-checksum-sha256", "abc")][..],
        &[("content-md5", md5_b64), ("x-strata-checksum-sha256", sha)][..],
    ] {
        put(s, &fresh, headers, b"hello").assert_error(400, "invalid_request");
    }
    get(s, &fresh, &[]).assert_error(404, "object_not_found");
    Ok(())
}

fn delete_is_idempotent_and_honours_if_match(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/d.txt", unique("it-del")));
    let etag = put(s, &p, &[], b"bye")
        .header("etag")
        .unwrap_or_default()
        .to_string();
    admin(s, "DELETE", &p, &[("if-match", "\"other\"")], None)
        .assert_error(412, "precondition_failed");
    assert_eq!(get(s, &p, &[]).body, b"bye", "a failed If-Match deleted");
    let r = admin(s, "DELETE", &p, &[("if-match", &etag)], None);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    get(s, &p, &[]).assert_error(404, "object_not_found");
    // Idempotent.
    assert_eq!(admin(s, "DELETE", &p, &[], None).status, 204);
    // If-Match on nothing fails.
    admin(s, "DELETE", &p, &[("if-match", "*")], None).assert_error(412, "precondition_failed");
    Ok(())
}

fn uploads_need_a_length_and_valid_headers(s: &Stack) -> Outcome {
    let base = unique("it-upval");
    let p = obj(&format!("{base}/u"));
    // A chunked body has no length: 411, nothing stored.
    let r = request(
        &s.base,
        "PUT",
        &p,
        Some(&s.admin_key),
        &[],
        Body::Reader(Box::new(std::io::Cursor::new(b"chunked body".to_vec()))),
    );
    r.assert_error(411, "length_required");
    get(s, &p, &[]).assert_error(404, "object_not_found");

    // Over R2's single-upload limit: 413 before any byte is read. wrangler
    // dev's local proxy forwards an answer only once the request body has
    // arrived, so the decision is read from the Worker's log line.
    let line = raw_put_decision(s, &p, 6_000_000_000);
    assert!(
        line.contains("\"status\":413") && line.contains("payload_too_large"),
        "{line}"
    );

    for headers in [
        &[("expires", "tomorrow")][..],
        &[("x-strata-meta-name", "caf\u{e9}")][..],
        &[("if-none-match", "not-a-tag")][..],
    ] {
        let r = request(
            &s.base,
            "PUT",
            &p,
            Some(&s.admin_key),
            headers,
            Body::Bytes(b"x"),
        );
        r.assert_error(400, "invalid_request");
    }
    let big = "v".repeat(2100);
    put(s, &p, &[("x-strata-meta-big", &big)], b"x").assert_error(400, "invalid_request");
    get(s, &p, &[]).assert_error(404, "object_not_found");
    Ok(())
}

/// Sends a PUT that declares `length` bytes and sends none (no client
/// would let us lie), and returns the Worker's log line for it.
fn raw_put_decision(s: &Stack, path: &str, length: u64) -> String {
    let addr = s.base.trim_start_matches("http://");
    let marker = unique("raw-put");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nx-request-id: {marker}\r\nContent-Length: {length}\r\n\r\n",
        s.admin_key
    );
    stream.write_all(head.as_bytes()).expect("write");
    s.log_line(&marker, Duration::from_secs(10))
        .unwrap_or_else(|| String::from("no log line for the request"))
}

fn key_edge_cases(s: &Stack) -> Outcome {
    let base = unique("it-keys");
    // Empty key.
    put(s, "/v1/objects/", &[], b"x").assert_error(400, "invalid_request");
    get(s, "/v1/objects/", &[]).assert_error(400, "invalid_request");
    // Length limits count bytes of UTF-8.
    let long = format!("{base}/{}", "k".repeat(1024 - base.len() - 1));
    assert_eq!(long.len(), 1024);
    put(s, &obj(&long), &[], b"x").assert_status(201);
    let v = put(s, &obj(&format!("{long}k")), &[], b"x").assert_error(400, "invalid_request");
    assert!(
        v["message"].as_str().unwrap_or("").contains("1025 bytes"),
        "{v}"
    );
    // Bad percent-encoding and non-UTF-8.
    for bad in ["a%zz", "a%2", "a%C3%28", "%FF"] {
        let v =
            put(s, &obj(&format!("{base}/{bad}")), &[], b"x").assert_error(400, "invalid_request");
        assert!(
            v["message"].as_str().unwrap_or("").contains("key"),
            "{bad}: {v}"
        );
    }
    // `..` is plain text in a key (slashes encoded, since URL parsers remove
    // dot segments), decoded exactly once.
    put(s, &obj(&format!("{base}%2F..%2Fescape")), &[], b"dots").assert_status(201);
    let listed = get(s, &format!("/v1/objects?prefix={base}"), &[]).json();
    let names: Vec<&str> = listed["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert!(
        names.contains(&format!("{base}/../escape").as_str()),
        "{names:?}"
    );
    get(s, "/v1/objects/escape", &[]).assert_error(404, "object_not_found");
    assert_eq!(
        get(s, &obj(&format!("{base}/..%2Fescape")), &[]).body,
        b"dots"
    );
    // `%252F` is the three characters `%2F`, not a slash.
    put(s, &obj(&format!("{base}/a%252Fb")), &[], b"pct").assert_status(201);
    assert_eq!(
        get(s, &format!("/v1/objects?prefix={base}%2Fa%25"), &[]).json()["objects"][0]["key"],
        format!("{base}/a%2Fb")
    );
    get(s, &obj(&format!("{base}/a%2Fb")), &[]).assert_error(404, "object_not_found");
    // Unicode, spaces, plus signs and reserved characters round-trip.
    for (path, key) in [
        ("%E6%97%A5%E6%9C%AC/%F0%9F%98%80.txt", "日本/😀.txt"),
        ("with%20space/and+plus", "with space/and+plus"),
        ("q%3Fh%23a%26b%3D", "q?h#a&b="),
    ] {
        let p = obj(&format!("{base}/{path}"));
        put(s, &p, &[], key.as_bytes()).assert_status(201);
        assert_eq!(get(s, &p, &[]).body, key.as_bytes(), "{key}");
        let listed = get(
            s,
            &format!(
                "/v1/objects?prefix={base}/{}",
                path.split('/').next().unwrap_or("")
            ),
            &[],
        )
        .json();
        assert_eq!(
            listed["objects"][0]["key"],
            format!("{base}/{key}"),
            "{listed}"
        );
    }
    Ok(())
}

fn listing_prefixes_delimiters_and_paging(s: &Stack) -> Outcome {
    let base = unique("it-list");
    for (name, ct) in [
        ("a.txt", "text/plain"),
        ("b/1", "image/png"),
        ("b/2", "image/png"),
        // Not JSON: the fuzzer, sharing the bucket, checks that JSON-typed bodies are JSON.
        ("c/d/e", "text/csv"),
    ] {
        put(
            s,
            &obj(&format!("{base}/{name}")),
            &[("content-type", ct), ("x-strata-meta-name", name)],
            name.as_bytes(),
        )
        .assert_status(201);
    }
    let all = get(s, &format!("/v1/objects?prefix={base}/"), &[]);
    all.assert_status(200);
    let v = all.json();
    assert_eq!(v["truncated"], false);
    assert_eq!(v["cursor"], Value::Null);
    assert_eq!(v["prefixes"], json!([]));
    let objects = v["objects"].as_array().cloned().unwrap_or_default();
    let keys: Vec<&str> = objects.iter().filter_map(|o| o["key"].as_str()).collect();
    let expected: Vec<String> = ["a.txt", "b/1", "b/2", "c/d/e"]
        .iter()
        .map(|n| format!("{base}/{n}"))
        .collect();
    assert_eq!(keys, expected);
    let first = &objects[0];
    assert_eq!(first["size"], 5);
    assert_eq!(first["contentType"], "text/plain");
    assert_eq!(first["metadata"], json!({"name": "a.txt"}));
    assert!(first["etag"].as_str().is_some_and(|e| e.starts_with('"')));
    assert!(first["uploaded"].as_str().is_some_and(|u| u.len() == 24));

    let rolled = get(s, &format!("/v1/objects?prefix={base}/&delimiter=/"), &[]).json();
    let keys: Vec<&str> = rolled["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(keys, [format!("{base}/a.txt")]);
    assert_eq!(
        rolled["prefixes"],
        json!([format!("{base}/b/"), format!("{base}/c/")])
    );

    // Paging one at a time visits every key once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut path = format!("/v1/objects?prefix={base}/&limit=1");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", encode(c)));
        }
        let page = get(s, &path, &[]).json();
        for o in page["objects"].as_array().into_iter().flatten() {
            seen.push(o["key"].as_str().unwrap_or("").to_string());
        }
        if page["truncated"] == false {
            break;
        }
        cursor = page["cursor"].as_str().map(str::to_string);
        assert!(cursor.is_some(), "truncated pages carry a cursor: {page}");
    }
    assert_eq!(seen, expected);

    // limit is capped, not refused; bad parameters are 400.
    get(s, &format!("/v1/objects?prefix={base}/&limit=5000"), &[]).assert_status(200);
    for q in [
        "limit=0",
        "limit=-1",
        "limit=ten",
        "perfix=a",
        "prefix=%zz",
        "prefix=a&prefix=b",
    ] {
        get(s, &format!("/v1/objects?{q}"), &[]).assert_error(400, "invalid_request");
    }
    Ok(())
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Deterministic part data: a xorshift stream seeded by the part number.
fn part_data(part: u64, len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ part.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn multipart_200mb_up_and_down_sha256(s: &Stack) -> Outcome {
    const PART: usize = 10 * 1024 * 1024;
    const PARTS: u64 = 20;
    let p = obj(&format!("{}/big.bin", unique("it-mp")));
    let created = admin(
        s,
        "POST",
        &format!("{p}?uploads"),
        &[
            ("content-type", "application/x-big"),
            ("x-strata-meta-kind", "test"),
        ],
        None,
    );
    created.assert_status(200);
    let upload_id = created.json()["uploadId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!upload_id.is_empty());
    let id = encode(&upload_id);

    // Parts are generated one at a time (10 MiB in memory, never 200), and
    // hashed as they go.
    let mut sha = Sha256::new();
    let mut parts = Vec::new();
    for n in 1..=PARTS {
        let data = part_data(n, PART);
        sha.update(&data);
        let r = admin(
            s,
            "PUT",
            &format!("{p}?uploadId={id}&partNumber={n}"),
            &[],
            Some(&data),
        );
        r.assert_status(200);
        let v = r.json();
        assert_eq!(v["partNumber"], n);
        let etag = v["etag"].as_str().unwrap_or_default().to_string();
        assert_eq!(r.header("etag"), Some(format!("\"{etag}\"").as_str()));
        parts.push(json!({"partNumber": n, "etag": etag}));
    }
    let expected = hex(&sha.finalize());
    // Before completion there is no object.
    get(s, &p, &[]).assert_error(404, "object_not_found");
    let done = admin(
        s,
        "POST",
        &format!("{p}?uploadId={id}"),
        &[("content-type", "application/json")],
        Some(json!({"parts": parts}).to_string().as_bytes()),
    );
    done.assert_status(200);
    let total = PART as u64 * PARTS;
    assert_eq!(done.json()["size"], total);
    let etag = done.header("etag").unwrap_or_default().to_string();
    assert!(
        etag.ends_with(&format!("-{PARTS}\"")),
        "multipart etag: {etag}"
    );

    // Down again, streamed and hashed.
    let mut resp = send(
        &s.base,
        "GET",
        &p,
        Some(&s.admin_key),
        &[],
        Body::None,
        true,
    );
    assert_eq!(resp.status().as_u16(), 200);
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(header("content-length"), Some(total.to_string()));
    assert_eq!(header("content-type").as_deref(), Some("application/x-big"));
    assert_eq!(header("x-strata-meta-kind").as_deref(), Some("test"));
    assert_eq!(header("etag"), Some(etag.clone()));
    let mut reader = resp.body_mut().as_reader();
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut received = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("reading the download: {e}"))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        received += n as u64;
    }
    assert_eq!(received, total);
    assert_eq!(hex(&sha.finalize()), expected, "SHA-256 of the download");

    // A range across the boundary of parts 3 and 4.
    let start = 3 * PART - 5;
    let r = get(s, &p, &[("range", &format!("bytes={start}-{}", start + 9))]);
    r.assert_status(206);
    let mut want = part_data(3, PART)[PART - 5..].to_vec();
    want.extend_from_slice(&part_data(4, 5));
    assert_eq!(r.body, want);
    assert_eq!(admin(s, "DELETE", &p, &[], None).status, 204);
    Ok(())
}

fn multipart_errors_are_clear(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/m.bin", unique("it-mperr")));
    let start = |headers: &[(&str, &str)]| admin(s, "POST", &format!("{p}?uploads"), headers, None);
    // Conditions and checksums R2 cannot apply to a multipart upload are refused.
    start(&[("if-none-match", "*")]).assert_error(400, "invalid_request");
    start(&[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")]).assert_error(400, "invalid_request");
    let id = encode(start(&[]).json()["uploadId"].as_str().unwrap_or_default());

    let part = |n: &str, headers: &[(&str, &str)], body: &[u8]| {
        admin(
            s,
            "PUT",
            &format!("{p}?uploadId={id}&partNumber={n}"),
            headers,
            Some(body),
        )
    };
    for n in ["0", "10001", "x", ""] {
        part(n, &[], b"x").assert_error(400, "invalid_request");
    }
    part(
        "1",
        &[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")],
        b"hello",
    )
    .assert_error(400, "invalid_request");
    let chunked = request(
        &s.base,
        "PUT",
        &format!("{p}?uploadId={id}&partNumber=1"),
        Some(&s.admin_key),
        &[],
        Body::Reader(Box::new(std::io::Cursor::new(vec![1u8; 10]))),
    );
    chunked.assert_error(411, "length_required");

    // Two small parts: R2 refuses a first part under 5 MiB.
    let e1 = part("1", &[], b"first").json()["etag"].clone();
    let e2 = part("2", &[], b"second").json()["etag"].clone();
    let complete = |body: Value| {
        admin(
            s,
            "POST",
            &format!("{p}?uploadId={id}"),
            &[],
            Some(body.to_string().as_bytes()),
        )
    };
    complete(json!({"parts": [{"partNumber": 1, "etag": e1}, {"partNumber": 2, "etag": e2}]}))
        .assert_error(400, "invalid_request");
    complete(json!({"parts": [{"partNumber": 1, "etag": "wrong"}]}))
        .assert_error(400, "invalid_request");
    complete(json!({"parts": [{"partNumber": 2, "etag": e2}, {"partNumber": 1, "etag": e1}]}))
        .assert_error(400, "invalid_request");
    complete(json!({"parts": []})).assert_error(400, "invalid_request");
    admin(
        s,
        "POST",
        &format!("{p}?uploadId={id}"),
        &[],
        Some(b"{not json"),
    )
    .assert_error(400, "invalid_json");
    get(s, &p, &[]).assert_error(404, "object_not_found");
    // Listing parts is not something R2's binding offers: a clear 400.
    let v = get(s, &format!("{p}?uploadId={id}"), &[]).assert_error(400, "invalid_request");
    assert!(
        v["message"].as_str().unwrap_or("").contains("listParts"),
        "{v}"
    );
    // Odd query strings are 400s, never a plain write.
    admin(s, "POST", &p, &[], None).assert_error(400, "invalid_request");
    admin(s, "PUT", &format!("{p}?uploadId={id}"), &[], Some(b"x"))
        .assert_error(400, "invalid_request");
    admin(s, "PUT", &format!("{p}?partNumber=1"), &[], Some(b"x"))
        .assert_error(400, "invalid_request");
    get(s, &format!("{p}?versionId=1"), &[]).assert_error(400, "invalid_request");

    // A single part (the last may be small) completes.
    let one = complete(json!({"parts": [{"partNumber": 1, "etag": e1}]}));
    one.assert_status(200);
    assert_eq!(get(s, &p, &[]).body, b"first");
    // The upload is finished: more parts or another completion find nothing.
    part("3", &[], b"late").assert_error(404, "upload_not_found");

    // Abort, idempotently; an aborted upload takes no parts.
    let id = encode(start(&[]).json()["uploadId"].as_str().unwrap_or_default());
    let abort = || admin(s, "DELETE", &format!("{p}?uploadId={id}"), &[], None);
    assert_eq!(abort().status, 204);
    assert_eq!(abort().status, 204);
    admin(
        s,
        "PUT",
        &format!("{p}?uploadId={id}&partNumber=1"),
        &[],
        Some(b"x"),
    )
    .assert_error(404, "upload_not_found");
    // An upload id that never existed.
    admin(
        s,
        "PUT",
        &format!("{p}?uploadId=made-up&partNumber=1"),
        &[],
        Some(b"x"),
    )
    .assert_error(404, "upload_not_found");
    // The completed object is untouched by all this.
    assert_eq!(get(s, &p, &[]).body, b"first");
    Ok(())
}

fn scopes(s: &Stack) -> Outcome {
    let p = obj(&format!("{}/s.txt", unique("it-scope")));
    put(s, &p, &[], b"scoped").assert_status(201);
    let reader = s.objects_read_key.as_str();
    let writer = s.key("objects:write");
    let other = s.key("d1:read");
    let call = |key: Option<&str>, method: &str, path: &str| {
        request(
            &s.base,
            method,
            path,
            key,
            &[],
            if method == "PUT" {
                Body::Bytes(b"x")
            } else {
                Body::None
            },
        )
    };
    // Read scope reads, and nothing else.
    assert_eq!(call(Some(reader), "GET", &p).body, b"scoped");
    assert_eq!(call(Some(reader), "HEAD", &p).status, 200);
    call(Some(reader), "GET", "/v1/objects?limit=1").assert_status(200);
    for (method, path) in [
        ("PUT", p.clone()),
        ("DELETE", p.clone()),
        ("POST", format!("{p}?uploads")),
    ] {
        let v = call(Some(reader), method, &path).assert_error(403, "forbidden");
        assert_eq!(v["details"]["requiredScope"], "objects:write");
    }
    // Write implies read.
    assert_eq!(call(Some(writer), "GET", &p).status, 200);
    call(Some(writer), "PUT", &p).assert_status(200);
    // Other scopes, and no key.
    call(Some(other), "GET", &p).assert_error(403, "forbidden");
    call(Some(other), "GET", "/v1/objects").assert_error(403, "forbidden");
    let r = call(None, "GET", &p);
    r.assert_error(401, "unauthorized");
    assert!(r.header("www-authenticate").is_some());
    Ok(())
}

fn sign(s: &Stack, key: &str, body: Value) -> Resp {
    request(
        &s.base,
        "POST",
        "/v1/signed-urls",
        Some(key),
        &[("content-type", "application/json")],
        Body::Bytes(body.to_string().as_bytes()),
    )
}

/// The path and query of a signed URL (the tests talk to `s.base`).
fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or(String::new(), |i| after_scheme[i..].to_string())
}

fn signed_urls(s: &Stack) -> Outcome {
    let base = unique("it-signed");
    let key = format!("{base}/photo ü.jpg");
    let p = obj(&format!("{base}/photo%20%C3%BC.jpg"));
    let data = pattern(300);
    put(s, &p, &[("content-type", "image/jpeg")], &data).assert_status(201);

    // A read key may sign GETs.
    let r = sign(
        s,
        &s.objects_read_key,
        json!({"method": "GET", "key": key, "expiresIn": 600}),
    );
    r.assert_status(200);
    let v = r.json();
    let url = v["url"].as_str().unwrap_or_default().to_string();
    assert!(url.starts_with(&s.base), "{url}");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["key"], key.as_str());
    assert!(v["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    let path = path_of(&url);

    // No API key needed; the object's semantics are unchanged.
    let r = request(&s.base, "GET", &path, None, &[], Body::None);
    r.assert_status(200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("ETag")));
    let r = request(&s.base, "HEAD", &path, None, &[], Body::None);
    assert_eq!((r.status, r.header("content-length")), (200, Some("300")));
    let r = request(
        &s.base,
        "GET",
        &path,
        None,
        &[("range", "bytes=5-9")],
        Body::None,
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &data[5..10]));
    let etag = get(s, &p, &[])
        .header("etag")
        .unwrap_or_default()
        .to_string();
    let r = request(
        &s.base,
        "GET",
        &path,
        None,
        &[("if-none-match", &etag)],
        Body::None,
    );
    assert_eq!(r.status, 304);
    // A GET URL does not upload.
    let r = request(&s.base, "PUT", &path, None, &[], Body::Bytes(b"evil"));
    r.assert_error(403, "signature_invalid");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(get(s, &p, &[]).body, data);

    // PUT URLs need the write scope to make.
    let upload_key = format!("{base}/upload.txt");
    sign(
        s,
        &s.objects_read_key,
        json!({"method": "PUT", "key": upload_key}),
    )
    .assert_error(403, "forbidden");
    sign(
        s,
        s.key("d1:read"),
        json!({"method": "GET", "key": upload_key}),
    )
    .assert_error(403, "forbidden");
    let r = sign(
        s,
        s.key("objects:write"),
        json!({"method": "PUT", "key": upload_key, "expiresIn": 60}),
    );
    r.assert_status(200);
    let put_path = path_of(r.json()["url"].as_str().unwrap_or_default());
    // A browser's preflight is answered.
    let r = request(
        &s.base,
        "OPTIONS",
        &put_path,
        None,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
        ],
        Body::None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("PUT")));
    let r = request(
        &s.base,
        "PUT",
        &put_path,
        None,
        &[
            ("content-type", "text/plain"),
            ("x-strata-meta-via", "signed"),
        ],
        Body::Bytes(b"from a browser"),
    );
    r.assert_status(201);
    let r = get(s, &obj(&format!("{base}/upload.txt")), &[]);
    assert_eq!(r.body, b"from a browser");
    assert_eq!(r.header("x-strata-meta-via"), Some("signed"));
    // Uploads through signed URLs keep their semantics (create-only here).
    let r = request(
        &s.base,
        "PUT",
        &put_path,
        None,
        &[("if-none-match", "*")],
        Body::Bytes(b"again"),
    );
    r.assert_error(412, "precondition_failed");
    // A PUT URL does not download.
    request(&s.base, "GET", &put_path, None, &[], Body::None)
        .assert_error(403, "signature_invalid");

    // The log names the signing key, never the signature or the secret.
    std::thread::sleep(Duration::from_millis(300));
    let log = s.worker_log();
    assert!(
        log.contains("signed-url:test-objects-read"),
        "signed requests are logged with the signing key's id"
    );
    assert!(!log.contains(SIGNING_SECRET));
    let signature = path.rsplit("signature=").next().unwrap_or("");
    assert!(
        signature.len() == 64 && !log.contains(signature),
        "the signature must not be logged"
    );
    Ok(())
}

fn signed_url_tampering_and_expiry_are_403(s: &Stack) -> Outcome {
    let base = unique("it-signref");
    let key = format!("{base}/a.txt");
    put(s, &obj(&key), &[], b"secret data").assert_status(201);
    put(s, &obj(&format!("{base}/b.txt")), &[], b"other data").assert_status(201);
    let url = sign(
        s,
        &s.admin_key,
        json!({"method": "GET", "key": key, "expiresIn": 3}),
    )
    .json()["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = path_of(&url);
    let ok = request(&s.base, "GET", &path, None, &[], Body::None);
    assert_eq!(ok.body, b"secret data");

    let (route, query) = path.split_once('?').unwrap_or((&path, ""));
    let expires: u64 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("expires="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let signature = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("signature="))
        .unwrap_or("")
        .to_string();
    let flipped: String = signature
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == '0' {
                    '1'
                } else {
                    '0'
                }
            } else {
                c
            }
        })
        .collect();
    for tampered in [
        format!("{}?{query}", route.replace("a.txt", "b.txt")),
        format!(
            "{route}?{}",
            query.replace(
                &format!("expires={expires}"),
                &format!("expires={}", expires + 3600)
            )
        ),
        format!("{route}?{}", query.replace(&signature, &flipped)),
        format!("{route}?{}", query.replace("method=GET", "method=PUT")),
        format!(
            "{route}?{}",
            query.replace("keyId=test-admin", "keyId=someone")
        ),
        format!("{route}?{query}&extra=1"),
        route.to_string(),
    ] {
        let r = request(&s.base, "GET", &tampered, None, &[], Body::None);
        let v = r.assert_error(403, "signature_invalid");
        assert!(
            !r.text().contains("secret data") && !r.text().contains("other data"),
            "{tampered}: {v}"
        );
    }
    // The same URL, once expired. (Three seconds, not one: `expires` is in
    // whole seconds, so a one-second URL signed late in a second lives a few
    // milliseconds, and a loaded machine's first GET came too late.)
    std::thread::sleep(Duration::from_millis(4100));
    let v = request(&s.base, "GET", &path, None, &[], Body::None)
        .assert_error(403, "signature_invalid");
    assert!(
        v["message"].as_str().unwrap_or("").contains("expired"),
        "{v}"
    );

    // Bad requests for URLs.
    for body in [
        json!({"method": "GET", "key": key, "expiresIn": 604801}),
        json!({"method": "GET", "key": key, "expiresIn": 0}),
        json!({"method": "DELETE", "key": key}),
        json!({"method": "GET", "key": ""}),
        json!({"method": "GET", "key": "k".repeat(1025)}),
        json!({"method": "GET"}),
    ] {
        sign(s, &s.admin_key, body).assert_error(400, "invalid_request");
    }
    // The cap itself is accepted.
    sign(
        s,
        &s.admin_key,
        json!({"method": "GET", "key": key, "expiresIn": 604800}),
    )
    .assert_status(200);
    request(
        &s.base,
        "POST",
        "/v1/signed-urls",
        None,
        &[],
        Body::Bytes(b"{}"),
    )
    .assert_error(401, "unauthorized");
    Ok(())
}

fn missing_signing_secret_is_config_invalid(s: &Stack) -> Outcome {
    // Signed URLs made by the main worker, checked by one without the secret.
    let key = format!("{}/x", unique("it-nosecret"));
    put(s, &obj(&key), &[], b"x").assert_status(201);
    let url = sign(s, &s.admin_key, json!({"method": "GET", "key": key})).json()["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let w = s.spawn_worker("wrangler-no-signing-secret", &[("SIGNING_SECRET", "")])?;
    let r = request(
        &w.base,
        "POST",
        "/v1/signed-urls",
        Some(&s.admin_key),
        &[],
        Body::Bytes(json!({"method": "GET", "key": key}).to_string().as_bytes()),
    );
    let v = r.assert_error(500, "config_invalid");
    assert_eq!(v["details"]["setting"], "SIGNING_SECRET");
    let r = request(&w.base, "GET", &path_of(&url), None, &[], Body::None);
    r.assert_error(500, "config_invalid");
    // (A secret shorter than 32 bytes is refused the same way; core's
    // signing tests cover it without a third Worker.)
    Ok(())
}

/// An HS256 token the test Worker accepts, for `sub` with `scope`, expiring
/// at `exp`.
fn hs256_token(sub: &str, scope: &str, exp: u64) -> String {
    use crate::auth::{AUDIENCE, HS256_SECRET, ISSUER};
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": exp, "scope": scope});
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(HS256_SECRET.as_bytes()).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// The path of a URL `signer` signs for `method` on `key`.
fn signed_path(s: &Stack, signer: &str, method: &str, key: &str) -> String {
    let r = sign(
        s,
        signer,
        json!({"method": method, "key": key, "expiresIn": 600}),
    );
    r.assert_status(200);
    path_of(r.json()["url"].as_str().unwrap_or_default())
}

fn signed_urls_stop_working_when_their_signer_is_revoked(s: &Stack) -> Outcome {
    // Keys cannot be removed from the running Worker, so a second Worker on
    // the same bucket and SIGNING_SECRET plays the same deployment after a
    // key-ring change: test-objects:write removed, test-objects-read down to
    // d1:read, JWTs no longer accepted.
    let key = format!("{}/kept.txt", unique("it-revoke"));
    let p = obj(&key);
    put(s, &p, &[], b"still here").assert_status(201);
    let token = hs256_token("revocation-test", "objects:read", unix_now() + 900);
    let by_reader = signed_path(s, &s.objects_read_key, "GET", &key);
    let by_writer = signed_path(s, s.key("objects:write"), "PUT", &key);
    let by_admin = signed_path(s, &s.admin_key, "GET", &key);
    let by_token = signed_path(s, &token, "GET", &key);
    assert!(
        by_token.contains("keyId=jwt%3Arevocation-test"),
        "{by_token}"
    );
    // Each works where its signer is in force.
    for path in [&by_reader, &by_admin, &by_token] {
        let r = request(&s.base, "GET", path, None, &[], Body::None);
        assert_eq!(r.assert_status(200).body, b"still here", "{path}");
    }
    let r = request(
        &s.base,
        "PUT",
        &by_writer,
        None,
        &[],
        Body::Bytes(b"still here"),
    );
    r.assert_status(200);

    let ring = json!({
        "test-admin": {"sha256": key_hash_hex(&s.admin_key), "scopes": ["admin"]},
        "test-objects-read": {"sha256": key_hash_hex(&s.objects_read_key), "scopes": ["d1:read"]},
    })
    .to_string();
    let w = s.spawn_worker(
        "wrangler-revoked-signers",
        &[
            ("API_KEYS", &ring),
            ("JWT_HS256_SECRET", ""),
            ("JWT_JWKS_URL", ""),
        ],
    )?;
    // A signer still in force: the URL works there too.
    let r = request(&w.base, "GET", &by_admin, None, &[], Body::None);
    assert_eq!(r.assert_status(200).body, b"still here");
    for (method, path, body) in [
        ("GET", &by_reader, Body::None),
        ("PUT", &by_writer, Body::Bytes(b"overwritten")),
        ("GET", &by_token, Body::None),
    ] {
        let r = request(&w.base, method, path, None, &[], body);
        let v = r.assert_error(403, "signature_invalid");
        assert!(
            v["message"].as_str().unwrap_or("").contains("revoked"),
            "{method} {path}: {v}"
        );
        // Removed or lost its scope reads the same, and names no key.
        assert!(!r.text().contains("test-objects"), "{v}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
    let r = request(&w.base, "HEAD", &by_reader, None, &[], Body::None);
    assert_eq!(r.status, 403);
    assert_eq!(get(s, &p, &[]).body, b"still here");
    Ok(())
}

fn jwt_signed_urls_never_outlive_the_token(s: &Stack) -> Outcome {
    let key = format!("{}/t.txt", unique("it-jwturl"));
    put(s, &obj(&key), &[], b"for a while").assert_status(201);
    let exp = unix_now() + 120;
    let token = hs256_token("lifetime-test", "objects:read", exp);
    // Longer than the token lives: refused, saying how long is left.
    let r = sign(
        s,
        &token,
        json!({"method": "GET", "key": key, "expiresIn": 600}),
    );
    let v = r.assert_error(400, "invalid_request");
    let left = v["details"]["maxExpiresIn"].as_u64().unwrap_or(0);
    assert!((100..=120).contains(&left), "{v}");
    assert_eq!(v["details"]["tokenExpires"], exp, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("may not outlive the token"),
        "{v}"
    );
    // The default hour is shortened to the token's life.
    let r = sign(s, &token, json!({"method": "GET", "key": key}));
    assert_eq!(r.assert_status(200).json()["expires"], exp);
    // Within it: as asked, and the URL works.
    let r = sign(
        s,
        &token,
        json!({"method": "GET", "key": key, "expiresIn": 60}),
    );
    let v = r.assert_status(200).json();
    assert!(v["expires"].as_u64().unwrap_or(u64::MAX) <= exp, "{v}");
    let path = path_of(v["url"].as_str().unwrap_or_default());
    let r = request(&s.base, "GET", &path, None, &[], Body::None);
    assert_eq!(r.assert_status(200).body, b"for a while");
    // API keys do not expire: they may still sign for the full 7 days.
    sign(
        s,
        &s.objects_read_key,
        json!({"method": "GET", "key": key, "expiresIn": 604800}),
    )
    .assert_status(200);
    Ok(())
}

fn bodies_are_served_nosniff_and_sandboxed(s: &Stack) -> Outcome {
    let key = format!("{}/page.html", unique("it-sandbox"));
    let p = obj(&key);
    let html =
        b"<!doctype html><script>fetch('/v1/objects').then(r => r.text()).then(alert)</script>";
    put(s, &p, &[("content-type", "text/html")], html).assert_status(201);
    let safe = |r: &Resp, what: &str| {
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            r.header("content-security-policy"),
            Some("sandbox"),
            "{what}"
        );
    };
    let r = get(s, &p, &[]);
    assert_eq!(
        r.assert_status(200).header("content-type"),
        Some("text/html")
    );
    assert_eq!(r.body, html);
    safe(&r, "GET");
    safe(admin(s, "HEAD", &p, &[], None).assert_status(200), "HEAD");
    safe(
        get(s, &p, &[("range", "bytes=0-14")]).assert_status(206),
        "ranged GET",
    );
    // Also through a signed URL.
    let path = signed_path(s, &s.admin_key, "GET", &key);
    for method in ["GET", "HEAD"] {
        let r = request(&s.base, method, &path, None, &[], Body::None);
        safe(r.assert_status(200), &format!("signed {method}"));
    }
    Ok(())
}

fn finishing_an_unknown_upload_is_404(s: &Stack) -> Outcome {
    let base = unique("it-mpu404");
    let p = obj(&format!("{base}/target.bin"));
    let other = obj(&format!("{base}/other.bin"));
    // An upload that exists, for another key.
    let started = admin(s, "POST", &format!("{other}?uploads"), &[], None);
    let real = encode(
        started.assert_status(200).json()["uploadId"]
            .as_str()
            .unwrap_or_default(),
    );
    let parts = json!({"parts": [{"partNumber": 1, "etag": "0123"}]}).to_string();
    for id in ["made-up", real.as_str()] {
        let complete = admin(
            s,
            "POST",
            &format!("{p}?uploadId={id}"),
            &[("content-type", "application/json")],
            Some(parts.as_bytes()),
        );
        complete.assert_error(404, "upload_not_found");
        admin(s, "DELETE", &format!("{p}?uploadId={id}"), &[], None)
            .assert_error(404, "upload_not_found");
    }
    get(s, &p, &[]).assert_error(404, "object_not_found");
    // The real upload is untouched: it takes a part and completes.
    let part = admin(
        s,
        "PUT",
        &format!("{other}?uploadId={real}&partNumber=1"),
        &[],
        Some(b"only part"),
    );
    let etag = part.assert_status(200).json()["etag"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    admin(
        s,
        "POST",
        &format!("{other}?uploadId={real}"),
        &[("content-type", "application/json")],
        Some(
            json!({"parts": [{"partNumber": 1, "etag": etag}]})
                .to_string()
                .as_bytes(),
        ),
    )
    .assert_status(200);
    assert_eq!(get(s, &other, &[]).body, b"only part");
    // Finished uploads keep their answers: aborting again is 204,
    // completing again 404.
    assert_eq!(
        admin(s, "DELETE", &format!("{other}?uploadId={real}"), &[], None).status,
        204
    );
    admin(
        s,
        "POST",
        &format!("{other}?uploadId={real}"),
        &[("content-type", "application/json")],
        Some(parts.as_bytes()),
    )
    .assert_error(404, "upload_not_found");
    Ok(())
}
