//! Routing errors, auth errors and the one error format.

use crate::client::call;
use crate::stack::Stack;
use crate::{Outcome, TestFn};

pub fn tests() -> Vec<TestFn> {
    trials![
        errors::unknown_path_is_404,
        errors::wrong_method_is_405_with_allow,
        errors::missing_key_is_401_with_challenge,
        errors::wrong_key_is_401,
        errors::log_lines_are_json_without_secrets,
    ]
}

fn unknown_path_is_404(s: &Stack) -> Outcome {
    for path in ["/", "/v1", "/v1/nope", "/v1/health/extra", "/v2/health"] {
        call(s, "GET", path, None, &[], None).assert_error(404, "not_found");
    }
    Ok(())
}

fn wrong_method_is_405_with_allow(s: &Stack) -> Outcome {
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = call(s, method, "/v1/health", None, &[], Some(b"{}"));
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    let r = call(s, "POST", "/v1/status", Some(&s.admin_key), &[], None);
    r.assert_error(405, "method_not_allowed");
    Ok(())
}

fn missing_key_is_401_with_challenge(s: &Stack) -> Outcome {
    let r = call(s, "GET", "/v1/status", None, &[], None);
    r.assert_error(401, "unauthorized");
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    Ok(())
}

fn wrong_key_is_401(s: &Stack) -> Outcome {
    let wrong = format!("{}x", s.admin_key);
    for auth in [
        format!("Bearer {wrong}"),
        format!("Basic {}", s.admin_key),
        "Bearer".into(),
    ] {
        let r = call(
            s,
            "GET",
            "/v1/status",
            None,
            &[("authorization", &auth)],
            None,
        );
        r.assert_error(401, "unauthorized");
        assert!(r.header("www-authenticate").is_some());
    }
    Ok(())
}

fn log_lines_are_json_without_secrets(s: &Stack) -> Outcome {
    let marker = "log-check-7f3a";
    let r = call(
        s,
        "GET",
        "/v1/status",
        Some(&s.admin_key),
        &[("x-request-id", marker)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // wrangler flushes console output shortly after the response.
    let v = s.log_record(marker);
    assert_eq!(v["method"], "GET");
    assert_eq!(v["route"], "/v1/status");
    assert_eq!(v["status"], 200);
    assert_eq!(v["requestId"], marker);
    assert_eq!(v["keyId"], "test-admin");
    assert!(v["durationMs"].is_number());
    let log = s.worker_log();
    assert!(
        !log.contains(&s.admin_key),
        "the API key must never be logged"
    );
    assert!(
        !log.contains(&s.database_url),
        "the connection string must never be logged"
    );
    Ok(())
}
