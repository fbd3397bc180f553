//! `GET /v1/status`: each store checked for real.

use crate::client::{call, call_base, get};
use crate::stack::free_port;
use crate::stack::Stack;
use crate::{Outcome, TestFn};

pub fn tests() -> Vec<TestFn> {
    trials![
        status::all_stores_ok_with_latency,
        status::any_valid_key_may_ask,
        status::unreachable_neon_is_503_naming_it,
        status::bad_configuration_names_the_setting,
    ]
}

fn all_stores_ok_with_latency(s: &Stack) -> Outcome {
    let r = get(s, "/v1/status");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    for store in ["d1", "r2", "neon"] {
        assert_eq!(v["stores"][store]["ok"], true, "{store}: {v}");
        assert!(v["stores"][store]["latencyMs"].is_u64(), "{store}: {v}");
    }
    // WebAssembly memory comes in 64 KiB pages; a Worker has at least one.
    let wasm = v["isolate"]["wasmMemoryBytes"].as_u64().unwrap_or(0);
    assert!(wasm >= 65_536 && wasm.is_multiple_of(65_536), "{v}");
    Ok(())
}

fn any_valid_key_may_ask(s: &Stack) -> Outcome {
    let r = call(s, "GET", "/v1/status", Some(&s.objects_read_key), &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}

fn unreachable_neon_is_503_naming_it(s: &Stack) -> Outcome {
    // A port nothing listens on: the Neon check fails, D1 and R2 still pass.
    let dead = format!("http://127.0.0.1:{}/sql", free_port()?);
    let w = s.spawn_isolated_worker("wrangler-dead-neon", &[("NEON_SQL_URL", &dead)])?;
    let r = call_base(&w.base, "GET", "/v1/status", Some(&s.admin_key), &[], None);
    let v = r.assert_error(503, "store_unavailable");
    assert!(v["message"].as_str().unwrap_or("").contains("neon"), "{v}");
    assert_eq!(v["details"]["failing"], serde_json::json!(["neon"]));
    assert_eq!(v["details"]["stores"]["d1"]["ok"], true);
    assert_eq!(v["details"]["stores"]["r2"]["ok"], true);
    assert_eq!(v["details"]["stores"]["neon"]["ok"], false);
    assert!(r.header("retry-after").is_some());
    assert!(!r.body.contains(&dead), "no internal address in the body");
    Ok(())
}

fn bad_configuration_names_the_setting(s: &Stack) -> Outcome {
    // A DATABASE_URL that is not a URL: the error names the setting, never
    // its value, and the other stores are unaffected.
    let secret = "not-a-url-but-secret-s3cr3t";
    let w = s.spawn_isolated_worker("wrangler-bad-config", &[("DATABASE_URL", secret)])?;
    let r = call_base(&w.base, "GET", "/v1/status", Some(&s.admin_key), &[], None);
    let v = r.assert_error(503, "store_unavailable");
    assert_eq!(v["details"]["stores"]["neon"]["error"], "misconfigured");
    assert!(!r.body.contains(secret));
    assert!(!w.log().contains(secret), "the value must not be logged");
    assert!(
        w.log().contains("DATABASE_URL"),
        "the log names the setting"
    );
    Ok(())
}
