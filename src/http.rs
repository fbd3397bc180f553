//! The shell's one place for HTTP: building responses (every JSON body,
//! success or error, and every core [`Reply`] goes through here, so content
//! types and error headers are uniform), reading the request's head (method,
//! URL, headers) and bounded JSON bodies.

use serde::Serialize;
use strata_core::cors::CorsHeaders;
use strata_core::http::{Reply, RequestHead, RequestHeaders};
use strata_core::ApiError;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{Headers, Request, Response, ResponseBuilder};

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
    Ok(with_body(status, json_headers(), bytes))
}

/// A JSON response whose body is already serialized.
pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
    with_body(status, json_headers(), body)
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

/// The runtime response for a core [`Reply`] with a byte body: its status,
/// its headers (a value the runtime refuses drops that header, never the
/// response), its body.
pub fn reply(reply: Reply) -> Response {
    let headers = headers_from(&reply.headers);
    ResponseBuilder::new()
        .with_status(reply.status)
        .with_headers(headers)
        .fixed(reply.body.unwrap_or_default())
}

/// Runtime headers from a core header list. A value the runtime refuses
/// (metadata another R2 client wrote, say) drops that header, never the
/// response.
pub fn headers_from(pairs: &[(impl AsRef<str>, String)]) -> Headers {
    let headers = Headers::new();
    for (name, value) in pairs {
        if headers.set(name.as_ref(), value).is_err() {
            worker::console_warn!(
                "dropped response header {}: value not allowed",
                name.as_ref()
            );
        }
    }
    headers
}

#[wasm_bindgen(inline_js = r#"
export function request_head(req) {
  let text = req.method + "\n" + req.url;
  for (const [name, value] of req.headers) text += "\n" + name + ":" + value;
  return text;
}
"#)]
extern "C" {
    /// The request's method, URL and headers as one text
    /// ([`RequestHead::parse`] reads it).
    fn request_head(req: &worker::web_sys::Request) -> String;
}

/// The request's method, URL and headers, read from the runtime once, in one
/// call: every later read is the Worker's own memory.
pub fn head(req: &Request) -> RequestHead {
    let inner = req.inner();
    RequestHead::parse(&request_head(inner)).unwrap_or_else(|| RequestHead {
        // Not expected (the runtime forbids newlines in header values); the
        // same facts read one by one.
        method: inner.method(),
        url: inner.url(),
        headers: RequestHeaders::new(req.headers().entries()),
    })
}

/// Milliseconds since the epoch: the Worker's one clock (`Instant` panics
/// on wasm32; inside a request the runtime's clock only advances across I/O).
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// A response without a body (e.g. a preflight's `204`).
pub fn empty(status: u16) -> Response {
    ResponseBuilder::new().with_status(status).empty()
}

/// Adds CORS headers to a response; `Vary` is appended to, never replaced.
pub fn add_cors(response: &mut Response, cors: CorsHeaders) {
    let headers = response.headers_mut();
    for (name, value) in &cors.set {
        // Values come from the validated policy; a failure only drops a header.
        let _ = headers.set(name, value);
    }
    if let Some(vary) = cors.vary {
        let _ = headers.append("vary", vary);
    }
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

/// Reads a JSON request body: checks `Content-Type` and the declared length
/// against `MAX_BODY_BYTES`. A body whose declared length is within the limit
/// is read whole (the runtime holds it to that length); any other is read as
/// a stream, stopping at the first chunk that crosses the limit, so a body
/// without a length (chunked) is never buffered whole first: at most the
/// limit plus one chunk enters memory.
pub async fn read_json_body(
    req: &mut worker::Request,
    ctx: &crate::ctx::Ctx,
) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    use strata_core::body;
    let limit = crate::settings::number(&ctx.env, "MAX_BODY_BYTES", body::DEFAULT_MAX_BODY_BYTES)?;
    let head = &ctx.head;
    body::ensure_json(head.header("content-type"))?;
    body::check_declared_length(head.header("content-length"), limit)?;
    let unreadable = || {
        ApiError::new(
            strata_core::ErrorCode::InvalidRequest,
            "the request body could not be read",
        )
    };
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let whole = body::whole_read_length(
        head.header("content-length"),
        head.header("content-encoding"),
        limit,
    );
    if whole.is_some() {
        // One arrayBuffer() instead of a reader and a read per chunk: the
        // common case, and a measurable part of a small request's cost.
        return req.bytes().await.map_err(|_| unreadable());
    }
    let mut stream = req.stream().map_err(|_| unreadable())?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if body::exceeds(bytes.len(), chunk.len(), limit) {
            return Err(body::too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
