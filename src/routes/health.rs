//! `GET /v1/health`: liveness. No auth, no store: it answers whenever the
//! Worker runs, so load balancers and `make dev` can wait on it.

use crate::http;
use strata_core::ApiError;
use worker::Response;

/// Always `200 {"status":"ok"}`.
pub fn handle() -> Result<Response, ApiError> {
    http::json(200, &serde_json::json!({ "status": "ok" }))
}
