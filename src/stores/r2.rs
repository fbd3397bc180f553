//! R2, through the `BUCKET` binding.

use super::StoreError;
use strata_core::ApiError;
use worker::{Bucket, Env};

/// The R2 binding's name in wrangler.toml.
pub const BINDING: &str = "BUCKET";

/// The key `/v1/status` heads; it need not exist, the round trip is the check.
const PROBE_KEY: &str = ".strata/status-probe";

/// The bucket.
pub fn bucket(env: &Env) -> Result<Bucket, StoreError> {
    env.bucket(BINDING).map_err(|_| {
        StoreError::Config(ApiError::config(
            "the R2 binding BUCKET",
            "is missing from wrangler.toml",
        ))
    })
}

/// Heads a key for real (absent is fine: the store answered).
pub async fn ping(env: &Env) -> Result<(), StoreError> {
    bucket(env)?
        .head(PROBE_KEY)
        .await
        .map(|_| ())
        .map_err(|e| StoreError::unavailable("r2", e))
}
