//! Building responses. Every JSON body, success or error, goes through here
//! so content types and error headers are uniform.

use serde::Serialize;
use strata_core::ApiError;
use worker::{Headers, Response, ResponseBuilder};

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
    Ok(with_body(status, json_headers(), bytes))
}

/// The response for an error: its status, its headers, the error body.
pub fn error_response(e: &ApiError) -> Response {
    let headers = json_headers();
    for (name, value) in &e.headers {
        // Our own header values are ASCII by construction; a failure here
        // would only drop a header, never the error itself.
        let _ = headers.set(name, value);
    }
    with_body(e.status(), headers, e.body().into_bytes())
}

fn json_headers() -> Headers {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    headers
}

fn with_body(status: u16, headers: Headers, body: Vec<u8>) -> Response {
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(body)
}
