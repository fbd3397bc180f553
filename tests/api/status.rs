//! `GET /v1/status`: each store checked for real.

use crate::client::{call, get};
use crate::stack::Stack;
use crate::{Outcome, TestFn};

pub fn tests() -> Vec<TestFn> {
    vec![
        ("status::all_stores_ok_with_latency", all_stores_ok),
        ("status::any_valid_key_may_ask", any_valid_key),
    ]
}

fn all_stores_ok(s: &Stack) -> Outcome {
    let r = get(s, "/v1/status");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    for store in ["d1", "r2", "neon"] {
        assert_eq!(v["stores"][store]["ok"], true, "{store}: {v}");
        assert!(v["stores"][store]["latencyMs"].is_u64(), "{store}: {v}");
    }
    Ok(())
}

fn any_valid_key(s: &Stack) -> Outcome {
    let r = call(s, "GET", "/v1/status", Some(&s.objects_read_key), &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}
