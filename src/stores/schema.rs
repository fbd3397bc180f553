//! Table schemas of the SQL stores, introspected and cached per isolate.
//!
//! The cache lives as long as the isolate, each entry at most
//! `SCHEMA_CACHE_SECONDS` (default 30): a migration is visible to REST within
//! that time without a redeploy, and a hot isolate does not introspect on
//! every request.

use super::StoreError;
use crate::http::now_ms;
use std::cell::RefCell;
use std::rc::Rc;
use strata_core::rest::schema::{foreign_keys_sql, introspection_sql, Schema};
use strata_core::sql::request::Statement;
use strata_core::sql::Store;
use strata_core::store::RunOptions;
use worker::Env;

struct Cached {
    store: Store,
    fetched_ms: u64,
    schema: Rc<Schema>,
}

thread_local! {
    static CACHE: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// The schema of `store` with `table` in it if it exists: from the cache
/// when fresh enough, introspected again (once) when the table is missing
/// from a cached schema, so a table created moments ago is found. A request
/// for a table that does not exist therefore costs one introspection query:
/// about what any query costs, and only for authenticated callers.
pub async fn get_with(env: &Env, store: Store, table: &str) -> Result<Rc<Schema>, StoreError> {
    let schema = get(env, store).await?;
    if schema.table(table).is_some() {
        return Ok(schema);
    }
    forget(store);
    get(env, store).await
}

/// The schema of `store`, from the cache when fresh enough.
pub async fn get(env: &Env, store: Store) -> Result<Rc<Schema>, StoreError> {
    let ttl_ms = crate::settings::number(env, "SCHEMA_CACHE_SECONDS", 30)
        .map_err(StoreError::Config)?
        .saturating_mul(1000);
    let now = now_ms();
    let hit = CACHE.with(|c| {
        c.borrow()
            .iter()
            .find(|e| e.store == store && now.saturating_sub(e.fetched_ms) < ttl_ms)
            .map(|e| e.schema.clone())
    });
    if let Some(schema) = hit {
        return Ok(schema);
    }
    // Tables and foreign keys (for embedding) in one round trip.
    let statements = [introspection_sql(store), foreign_keys_sql(store)].map(|sql| Statement {
        sql: sql.to_string(),
        params: Vec::new(),
    });
    let mut results = super::run_sql(env, store, &statements, RunOptions::READ).await?;
    let keys = results.pop().map(|r| r.rows).unwrap_or_default();
    let rows = results.pop().map(|r| r.rows).unwrap_or_default();
    let schema = Rc::new(Schema::from_rows(store, &rows).with_foreign_keys(&keys));
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|e| e.store != store);
        c.push(Cached {
            store,
            fetched_ms: now,
            schema: schema.clone(),
        });
    });
    Ok(schema)
}

/// Forgets a store's schema (after an error that suggests it changed).
pub fn forget(store: Store) {
    CACHE.with(|c| c.borrow_mut().retain(|e| e.store != store));
}
