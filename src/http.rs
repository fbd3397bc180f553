//! The shell's one place for HTTP: building responses (every JSON body,
//! success or error, and every core [`Reply`] goes through here, so content
//! types and error headers are uniform), reading the request's head (method,
//! URL, headers) and bounded JSON bodies.

use serde::Serialize;
use strata_core::cors::CorsHeaders;
use strata_core::http::{Reply, RequestHead, RequestHeaders, ResponseHeaders};
use strata_core::ApiError;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::web_sys::{self, ReadableStream};
use worker::Request;

/// What a response carries.
pub enum Body {
    /// Nothing (`HEAD`, `204`, `304`, ...).
    None,
    /// Bytes made in the Worker (JSON, XML).
    Bytes(Vec<u8>),
    /// A stream the runtime already holds (R2's object body, an asset),
    /// handed over untouched.
    Stream(ReadableStream),
}

/// A response as the Worker assembles it: status, headers and body stay in
/// the Worker's memory while the pipeline adds its headers (request id,
/// CORS), and reach the runtime in one call ([`Out::into_runtime`]).
///
/// Why not `worker::Response`: building one costs a JS crossing per header
/// set and read, and its conversion to the runtime's response half a dozen
/// more (`Headers`, `ResponseInit` and each of its fields, the body's
/// `Uint8Array`): over ten for a plain JSON answer.
pub struct Out {
    pub status: u16,
    pub headers: ResponseHeaders,
    pub body: Body,
    /// Sends a stream's bytes exactly as they are (`encodeBody: "manual"`):
    /// R2 objects keep their stored `Content-Encoding` without the runtime
    /// compressing them again.
    pub manual_encoding: bool,
}

impl Out {
    /// A response with no headers and no body yet.
    pub fn new(status: u16) -> Self {
        Out {
            status,
            headers: ResponseHeaders::new(),
            body: Body::None,
            manual_encoding: false,
        }
    }

    /// With `name` set to `value`.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.set(name, value);
        self
    }

    /// With these headers set, in order.
    pub fn with_headers<N: AsRef<str>>(
        mut self,
        pairs: impl IntoIterator<Item = (N, String)>,
    ) -> Self {
        for (name, value) in pairs {
            self.headers.set(name.as_ref(), value);
        }
        self
    }

    /// With a body.
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Sent as is (see [`Out::manual_encoding`]).
    pub fn manual(mut self) -> Self {
        self.manual_encoding = true;
        self
    }

    /// The runtime's response, made in one call. A header the runtime refuses
    /// (metadata another R2 client wrote, say) is dropped with a warning,
    /// never the response.
    pub fn into_runtime(self) -> web_sys::Response {
        let (head, dropped) = self.headers.to_text();
        if !dropped.is_empty() {
            worker::console_warn!(
                "dropped response header(s) {}: value not allowed",
                dropped.join(", ")
            );
        }
        let (bytes, stream) = match self.body {
            Body::None => (None, None),
            Body::Bytes(bytes) => (Some(bytes), None),
            Body::Stream(stream) => (None, Some(stream)),
        };
        respond(self.status, &head, bytes, stream, self.manual_encoding).unwrap_or_else(|e| {
            // Not expected (e.g. a body on a 204): the project's own 500.
            worker::console_error!("the response could not be made: {e:?}");
            let body = ApiError::internal().body().into_bytes();
            let mut head = String::from("content-type:application/json");
            if let Some(id) = self.headers.get("x-request-id") {
                head.push_str("\nx-request-id:");
                head.push_str(id);
            }
            respond(500, &head, Some(body), None, false)
                .unwrap_or_else(|_| web_sys::Response::error())
        })
    }
}

impl From<Reply> for Out {
    /// A core [`Reply`] with a byte body.
    fn from(reply: Reply) -> Self {
        Out::new(reply.status)
            .with_headers(reply.headers)
            .with_body(reply.body.map_or(Body::None, Body::Bytes))
    }
}

#[wasm_bindgen(inline_js = r#"
export function respond(status, head, bytes, stream, manual) {
  const headers = new Headers();
  const refused = [];
  if (head !== "") {
    for (const line of head.split("\n")) {
      const at = line.indexOf(":");
      try {
        headers.set(line.slice(0, at), line.slice(at + 1));
      } catch {
        refused.push(line.slice(0, at));
      }
    }
  }
  if (refused.length > 0) console.warn(`dropped response header(s) ${refused.join(", ")}: value not allowed`);
  const init = { status, headers };
  if (manual) init.encodeBody = "manual";
  return new Response(stream ?? bytes ?? null, init);
}
"#)]
extern "C" {
    /// `new Response(body, {status, headers})` from [`ResponseHeaders::to_text`]'s
    /// lines, in one crossing.
    #[wasm_bindgen(catch)]
    fn respond(
        status: u16,
        head: &str,
        bytes: Option<Vec<u8>>,
        stream: Option<ReadableStream>,
        manual: bool,
    ) -> Result<web_sys::Response, JsValue>;
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Out, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
    Ok(json_bytes(status, bytes))
}

/// A JSON response whose body is already serialized.
pub fn json_bytes(status: u16, body: Vec<u8>) -> Out {
    Out::new(status)
        .with_header("content-type", "application/json")
        .with_body(Body::Bytes(body))
}

/// The response for an error: its status, its headers, the error body.
pub fn error_response(e: &ApiError) -> Out {
    json_bytes(e.status(), e.body().into_bytes())
        .with_headers(e.headers.iter().map(|(n, v)| (*n, v.clone())))
}

/// The response for a core [`Reply`] with a byte body.
pub fn reply(reply: Reply) -> Out {
    Out::from(reply)
}

#[wasm_bindgen(inline_js = r#"
export function request_head(req) {
  let text = req.method + "\n" + req.url;
  for (const [name, value] of req.headers) {
    // Never expected (the runtime refuses them), but a value holding the
    // separator must not become a header of its own: "" makes the Worker
    // read the headers one by one instead.
    if (value.includes("\n")) return "";
    text += "\n" + name + ":" + value;
  }
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
pub fn empty(status: u16) -> Out {
    Out::new(status)
}

/// Adds CORS headers to a response; `Vary` is appended to, never replaced.
pub fn add_cors(response: &mut Out, cors: CorsHeaders) {
    for (name, value) in cors.set {
        response.headers.set(name, value);
    }
    if let Some(vary) = cors.vary {
        response.headers.append("vary", vary);
    }
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
