//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document.
//!
//! The document is `openapi/openapi.json`, built into the Worker as is. No
//! key is needed (it describes the API, not any data) and it is cacheable:
//! it changes only with a deploy. Tests keep it true: every route of the
//! router is in it (`crates/core/tests/openapi.rs`), it is valid OpenAPI
//! with valid examples (`scripts/check-openapi.py`), and the running Worker
//! is fuzzed against it (`tests/api/fuzz.rs`).

use strata_core::ApiError;
use worker::{Headers, Response, ResponseBuilder};

/// The document, byte for byte as checked in.
pub const DOCUMENT: &str = include_str!("../../openapi/openapi.json");

/// `200` with the document.
pub fn handle() -> Result<Response, ApiError> {
    let headers = Headers::new();
    for (name, value) in [
        ("content-type", "application/json"),
        ("cache-control", "public, max-age=300"),
    ] {
        headers.set(name, value).map_err(|_| ApiError::internal())?;
    }
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(DOCUMENT.as_bytes().to_vec()))
}
