//! The browser console (`web/console/`, served by wrangler's `[assets]` at
//! `/console/`): how it is served next to the API, and the console itself in
//! a real headless Chromium (tests/console/, node's test runner driving
//! Debian's `chromium` with `playwright-core`; scripts/tools.sh installs both).
//! Screenshots of each view go to `target/console-screenshots/`.

use crate::client::{call, run_client_suite};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use std::path::Path;

pub fn tests() -> Vec<TestFn> {
    trials![
        console::assets_are_served_beside_the_api,
        console::in_chromium
    ]
}

/// The console's files come from the assets, with their CSP; every API path
/// still reaches the Worker, and nothing outside `/console/` is an asset.
fn assets_are_served_beside_the_api(s: &Stack) -> Outcome {
    // The assets' trailing-slash handling sends /console on to /console/
    // (the test client follows no redirect: the API itself never redirects).
    let r = call(s, "GET", "/console", None, &[], None);
    assert_eq!(r.status, 307, "{}", r.body);
    assert!(
        r.header("location")
            .is_some_and(|l| l.ends_with("/console/")),
        "{:?}",
        r.header("location")
    );
    let r = call(s, "GET", "/console/", None, &[], None);
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        r.body.contains("<script type=\"module\" src=\"app.js\">"),
        "{}",
        r.body
    );
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "CSP {csp:?}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    for (file, kind) in [
        ("app.js", "javascript"),
        ("api.js", "javascript"),
        ("dom.js", "javascript"),
        ("style.css", "text/css"),
    ] {
        let r = call(s, "GET", &format!("/console/{file}"), None, &[], None);
        r.assert_status(200);
        let ct = r.header("content-type").unwrap_or_default();
        assert!(ct.contains(kind), "{file}: {ct}");
    }
    // The API is untouched: health, a 401, the JSON 404 for unknown paths
    // and for the assets' own configuration file.
    assert_eq!(
        call(s, "GET", "/v1/health", None, &[], None).json(),
        serde_json::json!({"status": "ok"})
    );
    call(s, "GET", "/v1/status", None, &[], None).assert_error(401, "unauthorized");
    for path in ["/", "/_headers", "/web/console/app.js", "/consoles"] {
        call(s, "GET", path, None, &[], None).assert_error(404, "not_found");
    }
    // Under /console/ only files exist: anything else is the asset server's
    // empty 404 (the Worker never runs there).
    for path in [
        "/console/nope.js",
        "/console/_headers",
        "/console/v1/health",
    ] {
        let r = call(s, "GET", path, None, &[], None);
        r.assert_status(404);
        assert!(!r.body.contains("not_found"), "{path}: {}", r.body);
    }
    Ok(())
}

/// tests/console/console.test.mjs: sign-in (a wrong key told so), stores
/// healthy, a D1 and a Postgres table (deep keyset paging, filter, an edit
/// read back through the API, constraint errors by the row), SQL errors with
/// code and position, a multipart upload with a moving progress bar and a
/// byte-identical download, read-only keys without write controls.
fn in_chromium(s: &Stack) -> Outcome {
    let shots = crate::stack::repo_root().join("target/console-screenshots");
    let shots = shots.to_string_lossy();
    let text = run_client_suite(
        "console browser tests (scripts/tools.sh installs chromium and playwright-core)",
        Path::new("node"),
        &["--test", "--test-concurrency=1", "tests/console/"],
        &[
            ("STRATA_BASE_URL", &s.base),
            ("STRATA_ADMIN_KEY", &s.admin_key),
            ("STRATA_READ_KEY", s.key("d1:read")),
            ("STRATA_OBJECTS_READ_KEY", &s.objects_read_key),
            ("STRATA_CONSOLE_SCREENSHOTS", &shots),
        ],
    )?;
    assert!(
        text.contains("# pass 4") && text.contains("# fail 0"),
        "{text}"
    );
    Ok(())
}
