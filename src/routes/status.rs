//! `GET /v1/status`: every store checked for real, with its latency.
//!
//! Any valid key may ask. All three checks run concurrently; if any fails
//! the answer is 503 in the error format, naming the failing stores, with
//! the per-store results in `details`. A healthy answer also carries the
//! isolate's WebAssembly memory size, for spotting leaks under load.

use crate::ctx::Ctx;
use crate::http;
use crate::http::Out;
use crate::stores::{self, neon::NeonClient, StoreError};
use serde_json::{json, Value};
use strata_core::{ApiError, ErrorCode};

/// Checks D1, R2 and Neon (both its connections when `DATABASE_URL_READ` is set).
pub async fn handle(ctx: &Ctx) -> Result<Out, ApiError> {
    let timeout = crate::settings::store_timeout_ms(&ctx.env)?;
    let env = &ctx.env;
    let (d1, r2, neon) = futures_util::future::join3(
        timed(stores::with_timeout("d1", timeout, stores::d1::ping(env))),
        timed(stores::with_timeout("r2", timeout, stores::r2::ping(env))),
        timed(async {
            NeonClient::from_env(env, false)?.ping().await?;
            // The read connection is a login of its own: a wrong
            // DATABASE_URL_READ would otherwise fail only the reads.
            let read_url = crate::settings::text(env, "DATABASE_URL_READ");
            if read_url.is_some_and(|url| !url.trim().is_empty()) {
                NeonClient::from_env(env, true)?.ping().await?;
            }
            Ok(())
        }),
    )
    .await;

    let checks = [("d1", d1), ("r2", r2), ("neon", neon)];
    let mut stores_json = serde_json::Map::new();
    let mut failing = Vec::new();
    for (name, (result, latency_ms)) in &checks {
        let mut entry = json!({ "ok": result.is_ok(), "latencyMs": latency_ms });
        if let Err(e) = result {
            worker::console_error!("status: {}", e.cause());
            entry["error"] = Value::from(e.summary());
            failing.push(*name);
        }
        stores_json.insert((*name).to_string(), entry);
    }
    if failing.is_empty() {
        http::json(
            200,
            &json!({
                "status": "ok",
                "stores": stores_json,
                "isolate": { "wasmMemoryBytes": wasm_memory_bytes() },
            }),
        )
    } else {
        Err(ApiError::new(
            ErrorCode::StoreUnavailable,
            format!("store check failed: {}", failing.join(", ")),
        )
        .with_details(json!({ "failing": failing, "stores": stores_json }))
        .with_header("Retry-After", "5"))
    }
}

/// The size of this isolate's WebAssembly linear memory: the Worker's whole
/// Rust heap, stack and statics. It never shrinks, so under a steady load a
/// value that keeps rising is a leak in the Worker itself (`make bench-load`
/// reads it before and after its measured minute).
fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size::<0>() as u64 * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

async fn timed<T>(
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
) -> (Result<T, StoreError>, u64) {
    let start = http::now_ms();
    let result = fut.await;
    (result, http::now_ms().saturating_sub(start))
}
