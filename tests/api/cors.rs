//! CORS against the real Worker: preflights before routing and auth, the
//! allowed origin echoed alone, `Vary: Origin`, nothing for other origins.

use crate::client::{call, Reply};
use crate::stack::Stack;
use crate::{Outcome, TestFn};

/// The Worker's `CORS_ALLOWED_ORIGINS` in the tests.
pub const ALLOWED_ORIGINS: &str = "https://app.strata.test, http://localhost:5173";
const APP: &str = "https://app.strata.test";
const EVIL: &str = "https://evil.strata.test";

pub fn tests() -> Vec<TestFn> {
    trials![
        cors::preflight_is_204_for_any_route_before_auth,
        cors::preflight_from_another_origin_allows_nothing,
        cors::allowed_origin_is_echoed_on_every_response,
        cors::other_origins_get_no_cors_headers,
        cors::signed_urls_keep_their_any_origin_policy,
    ]
}

fn cors_headers(r: &Reply) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.starts_with("access-control-"))
        .map(|(n, _)| n.as_str())
        .collect()
}

fn varies_on_origin(r: &Reply) -> bool {
    r.headers
        .iter()
        .filter(|(n, _)| n == "vary")
        .flat_map(|(_, v)| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

fn preflight_for(s: &Stack, origin: &str, path: &str, method: &str, headers: &str) -> Reply {
    call(
        s,
        "OPTIONS",
        path,
        None,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ],
        None,
    )
}

fn preflight_is_204_for_any_route_before_auth(s: &Stack) -> Outcome {
    for (path, method) in [
        ("/v1/rest/rest_people?id=eq.1", "PATCH"),
        ("/v1/d1/query", "POST"),
        ("/v1/objects/some/key.txt", "PUT"),
        ("/v1/objects", "GET"),
        ("/v1/status", "GET"),
        ("/v1/health", "GET"),
    ] {
        let r = preflight_for(
            s,
            APP,
            path,
            method,
            "authorization, content-type, prefer, range, x-strata-meta-owner",
        );
        assert_eq!(r.status, 204, "{path}: {}", r.body);
        assert!(r.body.is_empty());
        assert_eq!(r.header("access-control-allow-origin"), Some(APP), "{path}");
        let methods = r.header("access-control-allow-methods").unwrap_or_default();
        assert!(
            methods.split(", ").any(|m| m == method),
            "{path}: {methods}"
        );
        let allowed = r
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for name in [
            "authorization",
            "content-type",
            "prefer",
            "range",
            "range-unit",
            "if-match",
            "x-request-id",
            "x-strata-meta-owner",
        ] {
            assert!(
                allowed.split(", ").any(|a| a == name),
                "{path}: {name} not in {allowed}"
            );
        }
        assert!(r.header("access-control-max-age").is_some());
        assert!(r.header("access-control-allow-credentials").is_none());
        assert!(varies_on_origin(&r), "{path}");
    }
    // A path no route serves is still a 404; a plain OPTIONS is still a 405.
    let r = preflight_for(s, APP, "/v1/nope", "GET", "authorization");
    r.assert_error(404, "not_found");
    let r = call(s, "OPTIONS", "/v1/health", None, &[], None);
    r.assert_error(405, "method_not_allowed");
    Ok(())
}

fn preflight_from_another_origin_allows_nothing(s: &Stack) -> Outcome {
    for origin in [
        EVIL,
        "null",
        "https://app.strata.test.evil.test",
        "http://app.strata.test",
    ] {
        let r = preflight_for(
            s,
            origin,
            "/v1/d1/query",
            "POST",
            "authorization, content-type",
        );
        assert_eq!(r.status, 204, "{origin}");
        assert!(cors_headers(&r).is_empty(), "{origin}: {:?}", r.headers);
        assert!(varies_on_origin(&r));
    }
    Ok(())
}

fn allowed_origin_is_echoed_on_every_response(s: &Stack) -> Outcome {
    let replies = [
        (
            "200",
            call(s, "GET", "/v1/health", None, &[("origin", APP)], None),
        ),
        (
            "401",
            call(s, "GET", "/v1/status", None, &[("origin", APP)], None),
        ),
        (
            "404",
            call(s, "GET", "/v1/nope", None, &[("origin", APP)], None),
        ),
        (
            "405",
            call(s, "DELETE", "/v1/health", None, &[("origin", APP)], None),
        ),
        (
            "200 with key",
            call(
                s,
                "GET",
                "/v1/objects?limit=1",
                Some(&s.admin_key),
                &[("origin", "http://localhost:5173")],
                None,
            ),
        ),
    ];
    for (case, r) in &replies {
        let origins: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "access-control-allow-origin")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            origins.len(),
            1,
            "{case}: one origin per response: {origins:?}"
        );
        assert!(
            !origins[0].contains(',') && origins[0] != "*",
            "{case}: {origins:?}"
        );
        assert!(
            [APP, "http://localhost:5173"].contains(&origins[0]),
            "{case}"
        );
        let exposed = r
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for name in ["x-request-id", "content-range", "etag", "link"] {
            assert!(
                exposed.contains(name),
                "{case}: {name} not exposed: {exposed}"
            );
        }
        assert!(varies_on_origin(r), "{case}");
    }
    Ok(())
}

fn other_origins_get_no_cors_headers(s: &Stack) -> Outcome {
    for headers in [vec![("origin", EVIL)], vec![]] {
        for r in [
            call(s, "GET", "/v1/health", None, &headers, None),
            call(s, "GET", "/v1/status", None, &headers, None),
            call(
                s,
                "GET",
                "/v1/objects?limit=1",
                Some(&s.admin_key),
                &headers,
                None,
            ),
        ] {
            assert!(cors_headers(&r).is_empty(), "{headers:?}: {:?}", r.headers);
            // The answer depends on Origin, so caches must key on it.
            assert!(varies_on_origin(&r), "{headers:?}");
        }
    }
    Ok(())
}

fn signed_urls_keep_their_any_origin_policy(s: &Stack) -> Outcome {
    // A signed URL is its own credential and any page may use it, whatever
    // CORS_ALLOWED_ORIGINS says.
    let r = preflight_for(s, EVIL, "/v1/signed/objects/a.txt", "PUT", "content-type");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    Ok(())
}
