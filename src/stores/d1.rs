//! D1, through the `DB` binding.

use super::StoreError;
use strata_core::ApiError;
use worker::{D1Database, Env};

/// The D1 binding's name in wrangler.toml.
pub const BINDING: &str = "DB";

/// The D1 database.
pub fn database(env: &Env) -> Result<D1Database, StoreError> {
    env.d1(BINDING).map_err(|_| {
        StoreError::Config(ApiError::config(
            "the D1 binding DB",
            "is missing from wrangler.toml",
        ))
    })
}

/// Runs `select 1` for real.
pub async fn ping(env: &Env) -> Result<(), StoreError> {
    let db = database(env)?;
    let row: Option<serde_json::Value> = db
        .prepare("select 1 as ok")
        .first(None)
        .await
        .map_err(|e| StoreError::unavailable("d1", e))?;
    match row {
        Some(v) if v.get("ok") == Some(&serde_json::json!(1)) => Ok(()),
        _ => Err(StoreError::unavailable("d1", "select 1 returned no row")),
    }
}
