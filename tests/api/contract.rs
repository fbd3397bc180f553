//! The API contract from outside: the OpenAPI document the Worker serves,
//! and bad input on every route that takes a body — each a clear 4xx in the
//! project's error format. (Per-route details live in sql.rs, rest.rs and
//! objects.rs; the schema-driven fuzzer in fuzz.rs.)

use crate::client::{call, Reply};
use crate::stack::{repo_root, Stack};
use crate::{Outcome, TestFn};
use serde_json::json;

pub fn tests() -> Vec<TestFn> {
    trials![
        contract::openapi_json_is_the_checked_in_document,
        contract::bad_bodies_on_every_json_route,
        contract::huge_headers,
        contract::invalid_utf8_in_filters_keys_and_metadata,
        contract::unknown_methods_are_405,
    ]
}

fn openapi_json_is_the_checked_in_document(s: &Stack) -> Outcome {
    let file = std::fs::read_to_string(repo_root().join("openapi/openapi.json"))
        .map_err(|e| e.to_string())?;
    // No key needed.
    let r = call(s, "GET", "/v1/openapi.json", None, &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.header("cache-control")
            .is_some_and(|v| v.contains("max-age")),
        "cacheable"
    );
    assert!(r.header("x-request-id").is_some());
    assert!(
        r.body == file,
        "GET /v1/openapi.json differs from openapi/openapi.json (rebuild the Worker)"
    );
    assert_eq!(r.json()["openapi"], "3.1.0");
    let r = call(s, "HEAD", "/v1/openapi.json", None, &[], None);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    call(s, "POST", "/v1/openapi.json", None, &[], Some(b"{}"))
        .assert_error(405, "method_not_allowed");
    Ok(())
}

/// Every route that reads a JSON body, with a body that would be accepted.
fn json_routes(s: &Stack) -> Vec<(&'static str, String, String)> {
    let r = call(
        s,
        "POST",
        "/v1/pg/query",
        Some(&s.admin_key),
        &[("content-type", "application/json")],
        Some(
            br#"{"sql": "create table if not exists contract_pg (id int primary key, name text)"}"#,
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    vec![
        (
            "POST",
            "/v1/d1/query".into(),
            r#"{"sql": "select 1"}"#.into(),
        ),
        (
            "POST",
            "/v1/pg/query".into(),
            r#"{"sql": "select 1"}"#.into(),
        ),
        (
            "POST",
            "/v1/d1/batch".into(),
            r#"{"statements": [{"sql": "select 1"}]}"#.into(),
        ),
        (
            "POST",
            "/v1/pg/batch".into(),
            r#"{"statements": [{"sql": "select 1"}]}"#.into(),
        ),
        (
            "POST",
            "/v1/rest/contract_pg".into(),
            r#"{"id": 1, "name": "a"}"#.into(),
        ),
        (
            "PATCH",
            "/v1/rest/contract_pg?id=eq.1".into(),
            r#"{"name": "b"}"#.into(),
        ),
        (
            "POST",
            "/v1/signed-urls".into(),
            r#"{"method": "GET", "key": "a"}"#.into(),
        ),
        // A placement change for a table no store has: the body is judged first.
        (
            "PUT",
            "/v1/admin/placement/contract_no_such_table".into(),
            r#"{"store": "d1", "state": "ready"}"#.into(),
        ),
        // Completing a multipart upload: the body is judged before R2 is asked.
        (
            "POST",
            "/v1/objects/contract/big.bin?uploadId=no-such-upload".into(),
            r#"{"parts": [{"partNumber": 1, "etag": "x"}]}"#.into(),
        ),
    ]
}

fn send(s: &Stack, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| vec![("content-type", ct)])
        .unwrap_or_default();
    call(s, method, path, Some(&s.admin_key), &headers, Some(body))
}

fn bad_bodies_on_every_json_route(s: &Stack) -> Outcome {
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000));
    for (method, path, good) in json_routes(s) {
        let at = format!("{method} {path}");
        // Malformed JSON, invalid UTF-8 (outside and inside strings): invalid_json.
        for (what, body) in [
            ("truncated", good.as_bytes()[..good.len() - 1].to_vec()),
            ("empty", Vec::new()),
            ("trailing garbage", format!("{good} x").into_bytes()),
            ("not UTF-8", b"\xff\xfe{}".to_vec()),
            ("not UTF-8 in a string", not_utf8_inside(&good)),
            (
                "UTF-16",
                good.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            ),
        ] {
            let r = send(s, method, &path, Some("application/json"), &body);
            r.assert_error(400, "invalid_json");
            assert!(
                r.body.len() < 4096,
                "{at} {what}: the error does not echo the body"
            );
        }
        // Nesting far beyond any parser's depth: a 400 (the parser's depth
        // limit, or the shape check that stops at the first wrong value), never
        // a 500, a stack overflow or a hang.
        for (what, body) in [("deep array", &deep_array), ("deep object", &deep_object)] {
            let r = send(s, method, &path, Some("application/json"), body.as_bytes());
            r.assert_error_in(
                &[
                    (400, "invalid_json"),
                    (400, "invalid_request"),
                    (400, "PGRST100"),
                ],
                &format!("{at} {what}"),
            );
        }
        // A JSON value nested deeply but within the parser's limit is a shape error, not a crash.
        let nested = format!(r#"{{"x": {}1{}}}"#, "[".repeat(100), "]".repeat(100));
        let r = send(
            s,
            method,
            &path,
            Some("application/json"),
            nested.as_bytes(),
        );
        assert!(r.status == 400, "{at} nested: {} {}", r.status, r.body);
        // Wrong content types: 415 before the body is read; none at all is JSON.
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "json",
        ] {
            send(s, method, &path, Some(ct), good.as_bytes())
                .assert_error(415, "unsupported_media_type");
        }
        // (Completing an upload local R2 never issued is its 503: the body passed.)
        for ct in [
            None,
            Some("application/json; charset=utf-8"),
            Some("application/vnd.api+json"),
        ] {
            let r = send(s, method, &path, ct, good.as_bytes());
            assert!(
                ![400, 415, 500].contains(&r.status),
                "{at} with {ct:?}: {} {}",
                r.status,
                r.body
            );
        }
    }
    Ok(())
}

/// The body with a byte that is never UTF-8 inside its last string.
fn not_utf8_inside(good: &str) -> Vec<u8> {
    let at = good.rfind('"').expect("the body has a string");
    let mut bytes = good.as_bytes().to_vec();
    bytes.insert(at, 0xff);
    bytes
}

fn huge_headers(s: &Stack) -> Outcome {
    // Big but within what the runtime accepts: the request is served normally.
    let filler = "f".repeat(8 * 1024);
    let r = call(
        s,
        "GET",
        "/v1/status",
        Some(&s.admin_key),
        &[("x-filler", &filler)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(s, "GET", "/v1/status", Some(&filler), &[], None);
    r.assert_error(401, "unauthorized");
    let long_id = "i".repeat(4096);
    let r = call(
        s,
        "GET",
        "/v1/health",
        None,
        &[("x-request-id", &long_id)],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("x-request-id").is_some_and(|id| id.len() <= 128),
        "an over-long request id is replaced"
    );
    let big_meta = "m".repeat(4096);
    let r = call(
        s,
        "PUT",
        "/v1/objects/contract/meta.txt",
        Some(&s.admin_key),
        &[("x-strata-meta-big", &big_meta)],
        Some(b"x"),
    );
    r.assert_error(400, "invalid_request");
    let r = call(
        s,
        "PUT",
        "/v1/rest/contract_none",
        Some(&s.admin_key),
        &[("prefer", &filler), ("range", &filler)],
        None,
    );
    r.assert_error(405, "method_not_allowed");
    // Beyond the runtime's limit on a request's headers (128 KiB, locally as
    // deployed): refused before the Worker runs, with a 431.
    let huge = "h".repeat(136 * 1024);
    for path in ["/v1/health", "/v1/pg/query"] {
        let head = format!("POST {path} HTTP/1.1\r\nAuthorization: Bearer {}\r\nX-Huge: {huge}\r\nContent-Length: 2\r\n", s.admin_key);
        let (status, _) = raw(s, head.as_bytes(), b"{}");
        assert_eq!(status, 431, "{path} with a 32 KiB header");
    }
    Ok(())
}

/// Sends bytes as they are (headers the HTTP client would refuse to send)
/// and returns the status and the body.
fn raw(s: &Stack, head: &[u8], body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = s.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the Worker");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut request = head.to_vec();
    request.extend_from_slice(format!("Host: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    request.extend_from_slice(body);
    stream.write_all(&request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn invalid_utf8_in_filters_keys_and_metadata(s: &Stack) -> Outcome {
    let r = call(s, "POST", "/v1/pg/query", Some(&s.admin_key), &[("content-type", "application/json")],
        Some(br#"{"sql": "create table if not exists contract_utf8 (id int primary key, name text)"}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    // REST filters, columns and select lists: percent-escapes that decode to
    // bytes that are not UTF-8 are refused, never read as U+FFFD.
    for q in [
        "name=eq.%FF",
        "name=in.(a,%C3%28)",
        "na%FFme=eq.1",
        "select=%ED%A0%80",
        "order=%C0%AF",
        "or=(name.eq.%FE)",
        "name=eq.%zz",
    ] {
        let e = call(
            s,
            "GET",
            &format!("/v1/rest/contract_utf8?{q}"),
            Some(&s.admin_key),
            &[],
            None,
        )
        .assert_error(400, "PGRST100");
        assert!(e["details"]["part"].is_string(), "{q}: {e}");
    }
    let r = call(
        s,
        "DELETE",
        "/v1/rest/contract_utf8?name=eq.%FF",
        Some(&s.admin_key),
        &[],
        None,
    );
    r.assert_error(400, "PGRST100");
    // The table name itself: no such table, whatever the bytes.
    call(
        s,
        "GET",
        "/v1/rest/contract%FF",
        Some(&s.admin_key),
        &[],
        None,
    )
    .assert_error(404, "not_found");
    // Object keys, list parameters, signed-URL keys.
    for key in ["%FF", "a%C3%28b", "%ED%A0%80", "a%zz"] {
        call(
            s,
            "PUT",
            &format!("/v1/objects/{key}"),
            Some(&s.admin_key),
            &[],
            Some(b"x"),
        )
        .assert_error(400, "invalid_request");
        call(
            s,
            "GET",
            &format!("/v1/objects/{key}"),
            Some(&s.admin_key),
            &[],
            None,
        )
        .assert_error(400, "invalid_request");
    }
    for q in ["prefix=%FF", "delimiter=%C3", "cursor=%FE%FF"] {
        call(
            s,
            "GET",
            &format!("/v1/objects?{q}"),
            Some(&s.admin_key),
            &[],
            None,
        )
        .assert_error(400, "invalid_request");
    }
    // Metadata values must be visible ASCII: UTF-8 or other bytes in a header
    // are refused (percent-encode them).
    for value in [&b"caf\xc3\xa9"[..], b"caf\xff", b"\xed\xa0\x80"] {
        let mut head = format!("PUT /v1/objects/contract/utf8.txt HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Length: 1\r\nx-strata-meta-name: ", s.admin_key).into_bytes();
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
        let (status, body) = raw(s, &head, b"x");
        assert_eq!(status, 400, "{value:?}: {body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body)
                .map(|v| v["code"].clone())
                .ok(),
            Some(json!("invalid_request")),
            "{body}"
        );
    }
    // A JSON body naming a key that is not UTF-8 cannot exist: JSON escapes of
    // lone surrogates are refused.
    let body = json!({"method": "GET"})
        .to_string()
        .replace('}', r#", "key": "\udc80"}"#);
    let r = send(
        s,
        "POST",
        "/v1/signed-urls",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    Ok(())
}

fn unknown_methods_are_405(s: &Stack) -> Outcome {
    // Methods the runtime's Rust binding does not know (it reads them as GET)
    // must not be served as GET.
    for (method, path) in [
        ("QUERY", "/v1/health"),
        ("QUERY", "/v1/objects/photos/cat.jpg"),
        ("PROPFIND", "/v1/status"),
        ("PURGE", "/v1/rest/contract_pg"),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\n",
            s.admin_key
        );
        let (status, body) = raw(s, head.as_bytes(), b"");
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body)
                .map(|v| v["code"].clone())
                .ok(),
            Some(json!("method_not_allowed")),
            "{body}"
        );
    }
    Ok(())
}
