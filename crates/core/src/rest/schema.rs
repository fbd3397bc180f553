//! Introspected table schemas: the only source of identifiers in REST SQL.

use crate::error::{ApiError, ErrorCode};
use crate::sql::Store;
use std::collections::BTreeMap;

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Exact name.
    pub name: String,
    /// Declared type (SQLite) or `format_type` (Postgres), informational.
    pub type_name: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// One table (or view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// Exact name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnInfo>,
    /// Primary-key columns in key order (empty: none; SQLite tables then use `rowid`).
    pub primary_key: Vec<String>,
}

impl TableSchema {
    /// The column, or 400 `PGRST204` naming it.
    pub fn column(&self, name: &str) -> Result<&ColumnInfo, ApiError> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let shown: String = name.chars().take(100).collect();
            ApiError::new(
                ErrorCode::RestUnknownColumn,
                format!("column {shown:?} does not exist in {:?}", self.name),
            )
            .with_details(serde_json::json!({ "column": shown, "table": self.name }))
        })
    }
}

/// All exposed tables of one store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    tables: BTreeMap<String, TableSchema>,
}

/// Tables that are Strata's or the platform's own bookkeeping and never exposed.
pub fn is_internal(name: &str) -> bool {
    name.starts_with("sqlite_")
        || name.starts_with("_cf_")
        || name.starts_with("strata_")
        || name == "d1_migrations"
}

/// The query that lists every column of every table, one row per column
/// (D1 refuses `pragma_table_info` on its own `_cf_` tables, so they are
/// filtered out in SQL, before the join reaches them):
/// `t` (table), `c` (column), `ty` (type), `nn` (not null), `pk` (1-based
/// position in the primary key, 0 if not part of it). (`int2vector` arrays
/// start at index 0, hence `WITH ORDINALITY` rather than `array_position`.)
pub fn introspection_sql(store: Store) -> &'static str {
    match store {
        Store::D1 => {
            "SELECT m.name AS t, p.name AS c, p.type AS ty, p.\"notnull\" AS nn, p.pk AS pk \
             FROM sqlite_schema AS m JOIN pragma_table_info(m.name) AS p \
             WHERE m.type IN ('table', 'view') AND substr(m.name, 1, 7) <> 'sqlite_' \
             AND substr(m.name, 1, 4) <> '_cf_' ORDER BY m.name, p.cid"
        }
        Store::Pg => {
            "SELECT c.relname AS t, a.attname AS c, format_type(a.atttypid, a.atttypmod) AS ty, \
             a.attnotnull AS nn, coalesce((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(att, n) \
             WHERE k.att = a.attnum), 0)::int4 AS pk \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') \
             ORDER BY c.relname, a.attnum"
        }
    }
}

impl Schema {
    /// Builds the schema from introspection rows (objects with t, c, ty, nn, pk).
    pub fn from_rows(rows: &[serde_json::Value]) -> Schema {
        let mut tables: BTreeMap<String, TableSchema> = BTreeMap::new();
        let mut keys: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        for row in rows {
            let (Some(t), Some(c)) = (row["t"].as_str(), row["c"].as_str()) else {
                continue;
            };
            if is_internal(t) {
                continue;
            }
            let not_null =
                row["nn"].as_bool().unwrap_or(false) || row["nn"].as_i64().unwrap_or(0) != 0;
            let pk = row["pk"].as_u64().unwrap_or(0);
            let table = tables.entry(t.to_string()).or_insert_with(|| TableSchema {
                name: t.to_string(),
                columns: Vec::new(),
                primary_key: Vec::new(),
            });
            table.columns.push(ColumnInfo {
                name: c.to_string(),
                type_name: row["ty"].as_str().unwrap_or("").to_string(),
                nullable: !not_null && pk == 0,
            });
            if pk > 0 {
                keys.entry(t.to_string())
                    .or_default()
                    .push((pk, c.to_string()));
            }
        }
        for (t, mut cols) in keys {
            cols.sort();
            if let Some(table) = tables.get_mut(&t) {
                table.primary_key = cols.into_iter().map(|(_, c)| c).collect();
            }
        }
        Schema { tables }
    }

    /// A table by exact name.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_tables_keys_and_skips_internal_ones() {
        let rows = vec![
            json!({"t": "todos", "c": "id", "ty": "INTEGER", "nn": 0, "pk": 1}),
            json!({"t": "todos", "c": "title", "ty": "TEXT", "nn": 1, "pk": 0}),
            json!({"t": "todos", "c": "done", "ty": "INTEGER", "nn": 0, "pk": 0}),
            json!({"t": "pairs", "c": "b", "ty": "int4", "nn": true, "pk": 2}),
            json!({"t": "pairs", "c": "a", "ty": "int4", "nn": true, "pk": 1}),
            json!({"t": "d1_migrations", "c": "id", "ty": "INTEGER", "nn": 0, "pk": 1}),
            json!({"t": "strata_meta", "c": "key", "ty": "text", "nn": true, "pk": 1}),
        ];
        let s = Schema::from_rows(&rows);
        let todos = s.table("todos").unwrap();
        assert_eq!(todos.primary_key, ["id"]);
        assert!(
            !todos.columns[0].nullable && !todos.columns[1].nullable && todos.columns[2].nullable
        );
        assert_eq!(s.table("pairs").unwrap().primary_key, ["a", "b"]);
        assert!(s.table("d1_migrations").is_none() && s.table("strata_meta").is_none());
        assert!(s.table("Todos").is_none());
        assert_eq!(todos.column("nope").unwrap_err().status(), 400);
        assert!(todos.column("title").is_ok());
    }
}
