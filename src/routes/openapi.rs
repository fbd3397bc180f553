//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document.
//!
//! The document is `openapi/openapi.json`. `make build` copies it into the
//! static assets (`web/openapi.json`, wrangler.toml's `[assets]`), and this
//! route streams it from the `ASSETS` binding: 181 KiB that would otherwise
//! be ~22 KiB gzip of every cold start's wasm (BENCHMARKS.md, "Bundle
//! size"). It stays a Worker route so it keeps the pipeline's request id,
//! CORS, 405s and log line; the asset itself is not reachable at any other
//! path (`run_worker_first`). No key is needed (it describes the API, not any
//! data) and it is cacheable: it changes only with a deploy. Tests keep it
//! true: every route of the router is in it (`crates/core/tests/openapi.rs`),
//! it is valid OpenAPI with valid examples (`scripts/check-openapi.py`), the
//! served bytes are the checked-in file (`tests/api/contract.rs`), and the
//! running Worker is fuzzed against it (`tests/api/fuzz.rs`).

use crate::ctx::Ctx;
use crate::http::{Body, Out};
use strata_core::ApiError;
use worker::ResponseBody;

/// The static-assets binding (wrangler.toml, `[assets] binding`).
const ASSETS: &str = "ASSETS";
/// Where `make build` puts the document among the assets. The host part of
/// the URL is ignored by the binding.
const ASSET_URL: &str = "https://assets.invalid/openapi.json";

/// `200` with the document.
pub async fn handle(ctx: &Ctx) -> Result<Out, ApiError> {
    let missing = |cause: &str| ApiError::internal().with_cause(format!("openapi.json: {cause}"));
    let assets = ctx
        .env
        .assets(ASSETS)
        .map_err(|_| missing("no ASSETS binding ([assets] binding in wrangler.toml)"))?;
    let asset = assets
        .fetch(ASSET_URL, None)
        .await
        .map_err(|e| missing(&e.to_string()))?;
    let body = match (asset.status_code(), asset.body()) {
        (200, ResponseBody::Stream(stream)) => stream.clone(),
        (status, _) => {
            return Err(missing(&format!(
                "the asset answered {status} (make build copies it into web/)"
            )))
        }
    };
    Ok(Out::new(200)
        .with_header("content-type", "application/json")
        .with_header("cache-control", "public, max-age=300")
        .with_body(Body::Stream(body)))
}
