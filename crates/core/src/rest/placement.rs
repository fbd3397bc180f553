//! Which store serves a table: the var `REST_TABLES`, overridden at run
//! time by the rows of D1's `strata_placement` table.
//!
//! `{"todos": "d1", "orders": "pg", "*": "pg"}` — listed tables go to their
//! store; `"*"` names the store for any other table that exists there;
//! without `"*"` only listed tables are exposed. Its URL stays the same
//! whichever store serves a table.
//!
//! A `strata_placement` row (written by `PUT /v1/admin/placement/{table}`,
//! read by every isolate within `PLACEMENT_CACHE_SECONDS`) overrides the
//! setting for its table, and has a state: `ready` (served from its store)
//! or `moving` (reads served from its store, the move's source; REST writes
//! answer `503 table_moving`). See `docs/graduation.md`.

use crate::error::{ApiError, ErrorCode};
use crate::sql::request::Statement;
use crate::sql::Store;
use crate::store::{RunOptions, SqlStores, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;

/// The parsed `REST_TABLES`, with the run-time rows merged over it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    tables: BTreeMap<String, Store>,
    default: Option<Store>,
    runtime: BTreeMap<String, RuntimeEntry>,
}

/// A table's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Served, reads and writes, from its store.
    Ready,
    /// Being moved: reads served from its store (the source), REST writes
    /// refused with `503 table_moving`.
    Moving,
}

impl State {
    /// `ready` or `moving`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Moving => "moving",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<State> {
        match name {
            "ready" => Some(State::Ready),
            "moving" => Some(State::Moving),
            _ => None,
        }
    }
}

/// Where a table's placement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `REST_TABLES`.
    Config,
    /// A `strata_placement` row.
    Runtime,
}

impl Origin {
    /// `config` or `runtime`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Runtime => "runtime",
        }
    }
}

/// One row of `strata_placement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEntry {
    /// The table.
    pub table: String,
    /// The store that serves it (while moving: the source).
    pub store: Store,
    /// Its state.
    pub state: State,
    /// When it entered this state and store (UTC, ISO 8601).
    pub since: String,
    /// While moving: where from.
    pub source: Option<Store>,
    /// While moving: where to.
    pub target: Option<Store>,
    /// When the row last changed (UTC, ISO 8601).
    pub updated_at: String,
}

/// The query that reads every `strata_placement` row (on D1).
pub const RUNTIME_SQL: &str = "SELECT table_name, store, state, since, source, target, updated_at \
     FROM strata_placement ORDER BY table_name";

impl RuntimeEntry {
    /// The entries of [`RUNTIME_SQL`]'s rows; a malformed row (an unknown
    /// store or state) is skipped rather than failing every request.
    pub fn from_rows(rows: &[Value]) -> Vec<RuntimeEntry> {
        let text = |v: &Value| v.as_str().map(str::to_string);
        rows.iter()
            .filter_map(|r| {
                Some(RuntimeEntry {
                    table: text(&r["table_name"])?,
                    store: store(r["store"].as_str()?)?,
                    state: State::parse(r["state"].as_str()?)?,
                    since: text(&r["since"]).unwrap_or_default(),
                    source: r["source"].as_str().and_then(store),
                    target: r["target"].as_str().and_then(store),
                    updated_at: text(&r["updated_at"]).unwrap_or_default(),
                })
            })
            .collect()
    }
}

/// Reads the run-time placement from D1. No `strata_placement` table (the
/// migration not applied) or no D1 configured means no run-time rows: the
/// setting alone decides. Any other failure is the store's.
pub async fn load_runtime<S: SqlStores>(stores: &S) -> Result<Vec<RuntimeEntry>, StoreError> {
    let statement = Statement {
        sql: RUNTIME_SQL.to_string(),
        params: Vec::new(),
    };
    match stores.run(Store::D1, &[statement], RunOptions::READ).await {
        Ok(mut results) => Ok(RuntimeEntry::from_rows(
            &results.pop().map(|r| r.rows).unwrap_or_default(),
        )),
        Err(StoreError::Refused(e)) if e.code == ErrorCode::UndefinedTable => Ok(Vec::new()),
        Err(StoreError::Config(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Where one table is served from, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The store that serves it.
    pub store: Store,
    /// Its state.
    pub state: State,
    /// Whether the setting or a run-time row decided.
    pub origin: Origin,
    /// Since when (run-time rows only).
    pub since: Option<String>,
    /// While moving: where to.
    pub target: Option<Store>,
}

fn store(name: &str) -> Option<Store> {
    match name {
        "d1" => Some(Store::D1),
        "pg" => Some(Store::Pg),
        _ => None,
    }
}

impl Placement {
    /// Parses the JSON object; errors name the setting, not its value.
    pub fn parse(json: Option<&str>) -> Result<Placement, ApiError> {
        let Some(json) = json.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Placement::default());
        };
        let raw: BTreeMap<String, String> =
            serde_json::from_slice(json.as_bytes()).map_err(|_| {
                ApiError::config(
                    "REST_TABLES",
                    "is not a JSON object of table name to \"d1\" or \"pg\"",
                )
            })?;
        let mut p = Placement::default();
        for (table, name) in raw {
            let s = store(&name).ok_or_else(|| {
                ApiError::config(
                    "REST_TABLES",
                    "maps a table to something other than \"d1\" or \"pg\"",
                )
            })?;
            if table == "*" {
                p.default = Some(s);
            } else {
                p.tables.insert(table, s);
            }
        }
        Ok(p)
    }

    /// Merges the run-time rows over the setting: a row decides its
    /// table's store and state, whatever the setting says.
    pub fn with_runtime(mut self, entries: Vec<RuntimeEntry>) -> Placement {
        // Inserted one by one (a later entry for a table wins, as with
        // `collect`): collecting into a map would link one more copy of the
        // standard sort for this type.
        self.runtime = BTreeMap::new();
        for e in entries {
            self.runtime.insert(e.table.clone(), e);
        }
        self
    }

    /// The store a table is served from (existence is checked against the
    /// store's schema by the caller); `None` means not exposed.
    pub fn store_for(&self, table: &str) -> Option<Store> {
        self.resolve(table).map(|r| r.store)
    }

    /// The table's store and state (existence is checked by the caller);
    /// `None` means not exposed.
    pub fn resolve(&self, table: &str) -> Option<Resolved> {
        if let Some(e) = self.runtime.get(table) {
            return Some(Resolved {
                store: e.store,
                state: e.state,
                origin: Origin::Runtime,
                since: Some(e.since.clone()),
                target: e.target,
            });
        }
        let store = self.configured(table)?;
        Some(Resolved {
            store,
            state: State::Ready,
            origin: Origin::Config,
            since: None,
            target: None,
        })
    }

    /// The store `REST_TABLES` alone names for a table (its entry, or `"*"`).
    pub fn configured(&self, table: &str) -> Option<Store> {
        self.tables.get(table).copied().or(self.default)
    }

    /// The tables named by the setting or a run-time row (not those the
    /// `"*"` default exposes: they are whatever the store has).
    pub fn named(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tables
            .keys()
            .chain(self.runtime.keys())
            .cloned()
            .collect();
        crate::sort::sort(&mut names);
        names.dedup();
        names
    }

    /// The store of `"*"`, if any.
    pub fn default_store(&self) -> Option<Store> {
        self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_tables_then_the_default() {
        let p = Placement::parse(Some(r#"{"todos": "d1", "orders": "pg", "*": "pg"}"#)).unwrap();
        assert_eq!(p.store_for("todos"), Some(Store::D1));
        assert_eq!(p.store_for("orders"), Some(Store::Pg));
        assert_eq!(p.store_for("other"), Some(Store::Pg));
        let p = Placement::parse(Some(r#"{"todos": "d1"}"#)).unwrap();
        assert_eq!(p.store_for("other"), None);
        assert_eq!(Placement::parse(None).unwrap().store_for("x"), None);
    }

    fn entry(table: &str, store: Store, state: State) -> RuntimeEntry {
        RuntimeEntry {
            table: table.into(),
            store,
            state,
            since: "2026-01-01T00:00:00Z".into(),
            source: None,
            target: None,
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn runtime_rows_override_the_setting() {
        let p = Placement::parse(Some(r#"{"todos": "d1", "*": "pg"}"#))
            .unwrap()
            .with_runtime(vec![
                entry("todos", Store::Pg, State::Ready),
                entry("extra", Store::D1, State::Moving),
            ]);
        let todos = p.resolve("todos").unwrap();
        assert_eq!(
            (todos.store, todos.state, todos.origin),
            (Store::Pg, State::Ready, Origin::Runtime)
        );
        let extra = p.resolve("extra").unwrap();
        assert_eq!((extra.store, extra.state), (Store::D1, State::Moving));
        let other = p.resolve("other").unwrap();
        assert_eq!(
            (other.store, other.state, other.origin, other.since),
            (Store::Pg, State::Ready, Origin::Config, None)
        );
        assert_eq!(p.named(), vec!["extra".to_string(), "todos".to_string()]);
        // Without "*", a run-time row still exposes its table.
        let p =
            Placement::parse(None)
                .unwrap()
                .with_runtime(vec![entry("t", Store::D1, State::Ready)]);
        assert_eq!(p.store_for("t"), Some(Store::D1));
        assert_eq!(p.store_for("u"), None);
    }

    #[test]
    fn rows_are_read_leniently() {
        let rows = vec![
            serde_json::json!({"table_name": "a", "store": "pg", "state": "moving", "since": "s", "source": "pg", "target": "d1", "updated_at": "u"}),
            serde_json::json!({"table_name": "b", "store": "mysql", "state": "ready"}),
            serde_json::json!({"table_name": "c", "store": "d1", "state": "gone"}),
        ];
        let entries = RuntimeEntry::from_rows(&rows);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].target, Some(Store::D1));
        assert_eq!(entries[0].state, State::Moving);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for bad in ["[]", "{\"a\": \"mysql\"}", "{\"a\": 1}", "nope"] {
            let e = Placement::parse(Some(bad)).unwrap_err();
            assert!(e.message.contains("REST_TABLES"), "{bad}");
            assert_eq!(e.status(), 500);
        }
    }
}
