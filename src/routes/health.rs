//! `GET /v1/health`: liveness. No auth, no store: it answers whenever the
//! Worker runs, so load balancers and `make dev` can wait on it.

use crate::http;
use crate::http::Out;
use strata_core::ApiError;

/// Always `200 {"status":"ok"}` (a constant body: nothing to serialize).
pub fn handle() -> Result<Out, ApiError> {
    Ok(http::json_bytes(200, br#"{"status":"ok"}"#.to_vec()))
}
