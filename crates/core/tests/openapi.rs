//! Keeps `openapi/openapi.json` (served at `GET /v1/openapi.json`) true to
//! the router and the error catalogue:
//!
//! * every route of [`ROUTES`] — each pattern, each method, and `HEAD`
//!   wherever `GET` — is an operation of the document, and every operation
//!   of the document is served by the router;
//! * the error schema's `code` enum is exactly [`ErrorCode::ALL`], every
//!   code is answered somewhere in the document, and every error response
//!   lists only codes whose status is that response's status (examples too).
//!
//! Validity as OpenAPI 3.1 and of every example against its schema is
//! checked by `scripts/check-openapi.py` (a real validator, in `make test`);
//! the running Worker is fuzzed against the document by `tests/api/fuzz.rs`.

// Tests fail by panicking (the ban is for shipped code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::BTreeSet;
use strata_core::router::{route, RouteId, ROUTES};
use strata_core::ErrorCode;

const DOCUMENT: &str = include_str!("../../../openapi/openapi.json");

fn doc() -> Value {
    serde_json::from_str(DOCUMENT).expect("openapi/openapi.json is JSON")
}

/// `{*key}` (a tail parameter in the router) is `{key}` in OpenAPI.
fn openapi_path(pattern: &str) -> String {
    pattern.replace("{*", "{")
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Resolves a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = doc
                .pointer(r.strip_prefix('#').unwrap_or(r))
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(doc, target)
        }
        None => v,
    }
}

fn code_for(text: &str) -> ErrorCode {
    *ErrorCode::ALL
        .iter()
        .find(|c| c.as_str() == text)
        .unwrap_or_else(|| panic!("the document names an unknown error code {text:?}"))
}

#[test]
fn every_route_and_method_is_documented() {
    let doc = doc();
    let paths = doc["paths"].as_object().expect("paths");
    for def in ROUTES {
        let path = openapi_path(def.pattern);
        let item = paths.get(&path).unwrap_or_else(|| {
            panic!(
                "{} (route {:?}) is not in openapi.json's paths",
                path, def.id
            )
        });
        for method in def.methods {
            let m = method.to_ascii_lowercase();
            assert!(
                item.get(&m).is_some(),
                "{method} {path} is served but not documented"
            );
            if m == "get" {
                assert!(
                    item.get("head").is_some(),
                    "HEAD {path} is served (as GET is) but not documented"
                );
            }
        }
    }
}

#[test]
fn every_documented_operation_is_served() {
    let doc = doc();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        // A concrete path: each `{param}` becomes a plain segment.
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for m in METHODS {
            if item.get(*m).is_none() {
                continue;
            }
            let method = m.to_ascii_uppercase();
            let matched = route(&method, &concrete).unwrap_or_else(|e| {
                panic!(
                    "{method} {path} is documented but the router answers {}",
                    e.status()
                )
            });
            assert_eq!(
                openapi_path(matched.pattern),
                *path,
                "{method} {path} is routed elsewhere"
            );
            let op = &item[*m];
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
        }
    }
}

#[test]
fn the_openapi_route_serves_this_document() {
    assert_eq!(
        route("GET", "/v1/openapi.json").map(|m| m.id).ok(),
        Some(RouteId::OpenApi)
    );
}

#[test]
fn the_error_schema_lists_exactly_the_error_codes() {
    let doc = doc();
    let error = &doc["components"]["schemas"]["Error"];
    let listed: BTreeSet<&str> = error["properties"]["code"]["enum"]
        .as_array()
        .expect("Error.code has an enum")
        .iter()
        .map(|v| v.as_str().expect("codes are strings"))
        .collect();
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, known, "Error.code's enum must be ErrorCode::ALL");
    let required: BTreeSet<&str> = error["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["code", "message", "details", "hint"])
    );
}

/// Every error response of the document: (where, status, response).
fn error_responses(doc: &Value) -> Vec<(String, u16, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(responses) = item.get(*m).and_then(|op| op["responses"].as_object()) else {
                continue;
            };
            for (status, r) in responses {
                let status: u16 = status
                    .parse()
                    .unwrap_or_else(|_| panic!("{m} {path}: status {status}"));
                if status >= 400 {
                    out.push((format!("{m} {path} {status}"), status, resolve(doc, r)));
                }
            }
        }
    }
    for (name, r) in doc["components"]["responses"].as_object().unwrap() {
        let status = r["content"]["application/json"]["examples"]
            .as_object()
            .and_then(|e| e.values().next())
            .and_then(|e| e["value"]["code"].as_str())
            .map(|c| code_for(c).status());
        if let Some(status) = status {
            out.push((format!("components/responses/{name}"), status, r));
        }
    }
    out
}

#[test]
fn error_responses_list_codes_of_their_status() {
    let doc = doc();
    let mut answered = BTreeSet::new();
    let responses = error_responses(&doc);
    assert!(
        responses.len() > 20,
        "too few error responses found: {}",
        responses.len()
    );
    for (at, status, r) in responses {
        assert!(
            r["headers"]["x-request-id"].is_object(),
            "{at}: no x-request-id header"
        );
        let Some(media) = r["content"].get("application/json") else {
            // HEAD: the same status and headers, no body.
            assert!(
                r.get("content").is_none(),
                "{at}: an error body is always application/json"
            );
            continue;
        };
        let schema = &media["schema"];
        let parts = schema["allOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: schema is not allOf [Error, codes]"));
        assert_eq!(parts[0]["$ref"], "#/components/schemas/Error", "{at}");
        let codes = parts[1]["properties"]["code"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no code enum"));
        assert!(!codes.is_empty(), "{at}: empty code enum");
        for c in codes {
            let code = code_for(c.as_str().unwrap());
            assert_eq!(
                code.status(),
                status,
                "{at}: {} answers {}, not {status}",
                code.as_str(),
                code.status()
            );
            answered.insert(code.as_str());
        }
        let examples = media["examples"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: no examples"));
        for (name, e) in examples {
            let c = e["value"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{at} example {name}: no code"));
            assert!(
                codes.iter().any(|x| x == c),
                "{at} example {name}: {c} is not in the response's codes"
            );
        }
    }
    for code in ErrorCode::ALL {
        assert!(
            answered.contains(code.as_str()),
            "no response of the document answers {}",
            code.as_str()
        );
    }
}

#[test]
fn authenticated_operations_answer_401_and_open_ones_do_not() {
    let doc = doc();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(*m) else { continue };
            let open = op["security"].as_array().is_some_and(Vec::is_empty);
            let has_401 = op["responses"].get("401").is_some();
            assert_eq!(
                !open, has_401,
                "{m} {path}: security {} but 401 {}",
                op["security"], has_401
            );
        }
    }
}
