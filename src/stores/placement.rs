//! The run-time placement of REST tables (D1's `strata_placement`), cached
//! per isolate for at most `PLACEMENT_CACHE_SECONDS` (default 5): a change
//! made through `PUT /v1/admin/placement/{table}` reaches every isolate
//! within that time, without a deploy. What the rows mean is core's
//! (`strata_core::rest::placement`).

use super::{SqlBindings, StoreError};
use crate::http::now_ms;
use std::cell::RefCell;
use std::rc::Rc;
use strata_core::rest::placement::{load_runtime, RuntimeEntry};
use worker::Env;

struct Cached {
    fetched_ms: u64,
    entries: Rc<Vec<RuntimeEntry>>,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// How long an isolate may serve a placement it read, in seconds.
pub fn cache_seconds(env: &Env) -> Result<u64, StoreError> {
    crate::settings::number(env, "PLACEMENT_CACHE_SECONDS", 5).map_err(StoreError::Config)
}

/// The `strata_placement` rows, from the cache when fresh enough.
pub async fn runtime(env: &Env) -> Result<Rc<Vec<RuntimeEntry>>, StoreError> {
    let ttl_ms = cache_seconds(env)?.saturating_mul(1000);
    let now = now_ms();
    let hit = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|e| now.saturating_sub(e.fetched_ms) < ttl_ms)
            .map(|e| e.entries.clone())
    });
    if let Some(entries) = hit {
        return Ok(entries);
    }
    let entries = Rc::new(load_runtime(&SqlBindings::new(env)).await?);
    CACHE.with(|c| {
        *c.borrow_mut() = Some(Cached {
            fetched_ms: now,
            entries: entries.clone(),
        })
    });
    Ok(entries)
}

/// Forgets the cached rows (after this isolate changed them).
pub fn forget() {
    CACHE.with(|c| *c.borrow_mut() = None);
}
