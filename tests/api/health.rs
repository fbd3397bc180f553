//! `GET /v1/health` and the headers every response carries.

use crate::client::call;
use crate::stack::Stack;
use crate::{Outcome, TestFn};

pub fn tests() -> Vec<TestFn> {
    trials![
        health::ok_without_auth,
        health::head_has_no_body,
        health::request_id_generated,
        health::request_id_echoed_when_well_formed,
    ]
}

fn ok_without_auth(s: &Stack) -> Outcome {
    let r = call(s, "GET", "/v1/health", None, &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    Ok(())
}

fn head_has_no_body(s: &Stack) -> Outcome {
    let r = call(s, "HEAD", "/v1/health", None, &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    Ok(())
}

fn request_id_generated(s: &Stack) -> Outcome {
    let a = call(s, "GET", "/v1/health", None, &[], None);
    let b = call(s, "GET", "/v1/health", None, &[], None);
    let (a, b) = (a.header("x-request-id"), b.header("x-request-id"));
    let a = a.expect("x-request-id on every response");
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(Some(a), b, "ids are random");
    Ok(())
}

fn request_id_echoed_when_well_formed(s: &Stack) -> Outcome {
    let r = call(
        s,
        "GET",
        "/v1/health",
        None,
        &[("x-request-id", "client-id.42")],
        None,
    );
    assert_eq!(r.header("x-request-id"), Some("client-id.42"));
    // A malformed id (spaces could forge log fields) is replaced, not echoed.
    let r = call(
        s,
        "GET",
        "/v1/nope",
        None,
        &[("x-request-id", "a b c")],
        None,
    );
    let id = r.header("x-request-id").expect("x-request-id");
    assert_ne!(id, "a b c");
    assert_eq!(id.len(), 32);
    Ok(())
}
