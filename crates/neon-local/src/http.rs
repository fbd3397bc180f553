//! The HTTP edge: routing, body limit, CORS, and turning results and errors into responses.
//! WebSocket upgrades are routed to [`crate::ws::upgrade`].

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use strata_core::neon::headers;

use crate::error::EndpointError;
use crate::pool::Pool;
use crate::ws::{sessions::Sessions, upgrade};
use crate::{sql, Config};

/// The response type of every route.
pub type HttpResponse = Response<Full<Bytes>>;

/// Handles one HTTP request. Never fails: every error becomes a response.
///
/// If the client disconnects first, hyper drops this future: a running query is then cancelled
/// and its connection closed, not pooled (see `sql` and `pg::cancel`).
pub async fn handle(
    request: Request<Incoming>,
    config: Arc<Config>,
    pool: Arc<Pool>,
    sessions: Arc<Sessions>,
) -> HttpResponse {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();

    if upgrade::is_websocket(&request) {
        // The session logs its own line when it ends; a refused upgrade is logged here.
        return upgrade::accept(request, &config, &sessions).unwrap_or_else(|error| {
            if !config.quiet {
                eprintln!(
                    "neon-local: {method} {path} (WebSocket upgrade) -> {}",
                    error.status().as_u16()
                );
            }
            error_response(&error)
        });
    }

    let response = match (&method, path.as_str()) {
        (&Method::POST, "/sql") => match post_sql(request, &config, &pool).await {
            Ok(json) => json_response(StatusCode::OK, json),
            Err(error) => error_response(&error),
        },
        (&Method::OPTIONS, "/sql") => preflight(),
        (_, path) if upgrade::PATHS.contains(&path) => error_response(&EndpointError::client(
            "this path serves Neon's WebSocket protocol: expected a WebSocket upgrade",
        )),
        _ => error_response(&EndpointError::NotSupported),
    };

    if !config.quiet {
        eprintln!(
            "neon-local: {method} {path} -> {} in {:.1} ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    response
}

async fn post_sql(
    request: Request<Incoming>,
    config: &Config,
    pool: &Arc<Pool>,
) -> Result<Vec<u8>, EndpointError> {
    let limit = config.max_request_bytes;
    let too_large = EndpointError::RequestTooLarge { limit };
    // Refuse a declared oversize body before reading a byte of it.
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large),
        Err(e) => {
            return Err(EndpointError::client(format!(
                "failed to read the request body: {e}"
            )))
        }
    };
    sql::run(config, pool, &parts.headers, &body).await
}

fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// The one place errors become responses.
fn error_response(error: &EndpointError) -> HttpResponse {
    json_response(error.status(), error.body())
}

/// CORS preflight for browsers calling `/sql` directly: 200, empty body.
fn preflight() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    let allow_headers = headers::ALL
        .iter()
        .copied()
        .chain(["Content-Type"])
        .collect::<Vec<_>>()
        .join(", ");
    let h = response.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        "Access-Control-Allow-Methods",
        HeaderValue::from_static("POST, OPTIONS"),
    );
    if let Ok(value) = HeaderValue::from_str(&allow_headers) {
        h.insert("Access-Control-Allow-Headers", value);
    }
    h.insert("Access-Control-Max-Age", HeaderValue::from_static("86400"));
    response
}
