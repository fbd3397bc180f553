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
    /// The schema (namespace) it lives in on Postgres, so SQL can name it
    /// `"public"."t"` whatever the session's `search_path`; `None` on D1.
    pub schema: Option<String>,
    /// Exact name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnInfo>,
    /// Primary-key columns in key order (empty: none).
    pub primary_key: Vec<String>,
    /// How SQL reaches SQLite's `rowid` on this table (`rowid`, or `_rowid_`
    /// / `oid` when a column shadows it): only D1 tables that have one.
    /// Views, `WITHOUT ROWID` and virtual tables have none (SQLite answers
    /// NULL for a view's "rowid" rather than failing), nor does Postgres.
    pub rowid: Option<String>,
    /// SQL standing in for the table, with the values it binds as `$1...`
    /// (a function call, for `/rpc`, aliased as [`TableSchema::name`]: SQL
    /// qualifies its columns by that name); `None` for a table.
    pub source: Option<(String, Vec<serde_json::Value>)>,
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

    /// The columns that tell any two rows apart, which a keyset cursor needs
    /// as its final tie-break (otherwise rows equal in every ordering column
    /// straddling a page boundary are skipped):
    /// * the primary key when none of its columns can hold NULL;
    /// * on D1, the primary key then the rowid when a key column can hold
    ///   NULL (SQLite lets non-integer key columns of rowid tables be NULL,
    ///   and NULLs are never equal), or the rowid alone without a key;
    /// * `None` when nothing is provably unique: a Postgres table or view
    ///   without a primary key, a D1 view. (A unique index is not enough on
    ///   its own: it admits any number of NULLs.)
    pub fn unique_key(&self) -> Option<Vec<String>> {
        let key_can_be_null = self
            .primary_key
            .iter()
            .any(|k| self.columns.iter().any(|c| c.name == *k && c.nullable));
        match (&self.rowid, self.primary_key.is_empty()) {
            (_, false) if !key_can_be_null => Some(self.primary_key.clone()),
            (Some(rowid), _) => {
                let mut key = self.primary_key.clone();
                key.push(rowid.clone());
                Some(key)
            }
            (None, _) => None,
        }
    }
}

/// A foreign key: `table(columns)` references `ref_table(ref_columns)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint's name (on D1, which has none, Postgres's default
    /// `<table>_<columns>_fkey`), usable as an embedding hint.
    pub name: String,
    /// The referencing table.
    pub table: String,
    /// Its columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced columns, pairwise with `columns`.
    pub ref_columns: Vec<String>,
}

/// How an embedded table joins its parent through one foreign key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relationship<'a> {
    /// The key.
    pub fk: &'a ForeignKey,
    /// The parent holds the key (many-to-one: the child is one object);
    /// otherwise the child does (one-to-many: an array).
    pub to_one: bool,
}

impl Relationship<'_> {
    /// The embedded (child) table's name: the referenced table of a
    /// many-to-one, the referencing table of a one-to-many.
    pub fn child(&self) -> &str {
        if self.to_one {
            &self.fk.ref_table
        } else {
            &self.fk.table
        }
    }

    /// Whether the key references its own table (`manager_id` references
    /// `employees(id)` in `employees`): both ends are one table.
    pub fn is_self_reference(&self) -> bool {
        self.fk.table == self.fk.ref_table
    }
}

/// All exposed tables of one store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    tables: BTreeMap<String, TableSchema>,
    /// Foreign keys between exposed tables.
    pub foreign_keys: Vec<ForeignKey>,
}

/// The query that lists every foreign key, one row per column pair: `n`
/// (constraint name, D1: the key's id), `t` (table), `c` (column), `rt`
/// (referenced table), `rc` (referenced column; NULL on D1 when the key
/// references the primary key implicitly), in key order.
pub fn foreign_keys_sql(store: Store) -> &'static str {
    match store {
        Store::D1 => {
            "SELECT f.id AS n, m.name AS t, f.\"from\" AS c, f.\"table\" AS rt, f.\"to\" AS rc \
             FROM sqlite_schema AS m JOIN pragma_foreign_key_list(m.name) AS f \
             WHERE m.type = 'table' AND substr(m.name, 1, 7) <> 'sqlite_' \
             AND substr(m.name, 1, 4) <> '_cf_' ORDER BY m.name, f.id, f.seq"
        }
        Store::Pg => {
            "SELECT k.conname AS n, c.relname AS t, a.attname AS c, rc.relname AS rt, ra.attname AS rc \
             FROM pg_catalog.pg_constraint k \
             JOIN pg_catalog.pg_class c ON c.oid = k.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' \
             JOIN pg_catalog.pg_class rc ON rc.oid = k.confrelid \
             JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace AND rn.nspname = 'public' \
             CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey)) WITH ORDINALITY AS u(col, refcol, i) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.col \
             JOIN pg_catalog.pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = u.refcol \
             WHERE k.contype = 'f' ORDER BY c.relname, k.conname, u.i"
        }
    }
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
/// position in the primary key, 0 if not part of it), and
/// * on D1, `k` (`table`, `view`, `virtual`, `shadow`) and `wr` (1 for a
///   `WITHOUT ROWID` table), which say whether the table has a rowid;
/// * on Postgres, `s` (the schema, always `public`).
///
/// Postgres lists only schema `public` (never `pg_catalog`,
/// `information_schema`, `pg_toast` or another schema) and leaves out
/// relations an extension owns (`pg_depend` deptype `e`, e.g.
/// `pg_stat_statements`' views): they belong to the extension, not the
/// application, and can show other roles' queries. (`int2vector` arrays
/// start at index 0, hence `WITH ORDINALITY` rather than `array_position`.)
/// Catalog functions are schema-qualified so a `search_path` cannot swap them.
pub fn introspection_sql(store: Store) -> &'static str {
    match store {
        Store::D1 => {
            "SELECT m.name AS t, p.name AS c, p.type AS ty, p.\"notnull\" AS nn, p.pk AS pk, \
             l.type AS k, l.wr AS wr \
             FROM sqlite_schema AS m JOIN pragma_table_list(m.name) AS l ON l.schema = 'main' \
             JOIN pragma_table_info(m.name) AS p \
             WHERE m.type IN ('table', 'view') AND substr(m.name, 1, 7) <> 'sqlite_' \
             AND substr(m.name, 1, 4) <> '_cf_' ORDER BY m.name, p.cid"
        }
        Store::Pg => {
            "SELECT n.nspname AS s, c.relname AS t, a.attname AS c, \
             pg_catalog.format_type(a.atttypid, a.atttypmod) AS ty, a.attnotnull AS nn, \
             coalesce((SELECT k.n FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(att, n) \
             WHERE k.att = a.attnum), 0)::pg_catalog.int4 AS pk \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
             WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY c.relname, a.attnum"
        }
    }
}

/// The name that reaches a D1 table's rowid: `rowid`, `_rowid_` or `oid`,
/// whichever no column shadows (SQLite compares names without case).
fn rowid_name(columns: &[ColumnInfo]) -> Option<String> {
    ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|alias| !columns.iter().any(|c| c.name.eq_ignore_ascii_case(alias)))
        .map(str::to_string)
}

impl Schema {
    /// Builds the schema of `store` from its introspection rows (objects
    /// with the keys [`introspection_sql`] names).
    pub fn from_rows(store: Store, rows: &[serde_json::Value]) -> Schema {
        let mut tables: BTreeMap<String, TableSchema> = BTreeMap::new();
        let mut keys: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        let mut with_rowid: Vec<String> = Vec::new();
        let mut without_rowid: Vec<String> = Vec::new();
        for row in rows {
            let (Some(t), Some(c)) = (row["t"].as_str(), row["c"].as_str()) else {
                continue;
            };
            if is_internal(t) {
                continue;
            }
            let flag = |v: &serde_json::Value| {
                v.as_bool().unwrap_or(false) || v.as_i64().unwrap_or(0) != 0
            };
            let not_null = flag(&row["nn"]);
            let pk = row["pk"].as_u64().unwrap_or(0);
            let table = tables.entry(t.to_string()).or_insert_with(|| TableSchema {
                schema: match store {
                    Store::Pg => Some(row["s"].as_str().unwrap_or("public").to_string()),
                    Store::D1 => None,
                },
                name: t.to_string(),
                columns: Vec::new(),
                primary_key: Vec::new(),
                rowid: None,
                source: None,
            });
            table.columns.push(ColumnInfo {
                name: c.to_string(),
                type_name: row["ty"].as_str().unwrap_or("").to_string(),
                // Postgres key columns are NOT NULL; SQLite's may be NULL
                // unless declared so (decided below, once the key is known).
                nullable: !not_null && (pk == 0 || store == Store::D1),
            });
            if pk > 0 {
                keys.entry(t.to_string())
                    .or_default()
                    .push((pk, c.to_string()));
            }
            if store == Store::D1 && !with_rowid.iter().chain(&without_rowid).any(|n| n == t) {
                // Only an ordinary table has a rowid, and only without `WITHOUT ROWID`.
                if row["k"].as_str() == Some("table") && !flag(&row["wr"]) {
                    with_rowid.push(t.to_string());
                } else {
                    without_rowid.push(t.to_string());
                }
            }
        }
        for (t, mut cols) in keys {
            crate::sort::sort(&mut cols);
            if let Some(table) = tables.get_mut(&t) {
                table.primary_key = cols.into_iter().map(|(_, c)| c).collect();
            }
        }
        for table in tables.values_mut() {
            if store != Store::D1 {
                continue;
            }
            let has_rowid = with_rowid.contains(&table.name);
            // A WITHOUT ROWID table's key is NOT NULL, and so is a lone
            // INTEGER PRIMARY KEY: it is the rowid itself.
            let integer_key = match table.primary_key.as_slice() {
                [k] => table
                    .columns
                    .iter()
                    .any(|c| c.name == *k && c.type_name.eq_ignore_ascii_case("INTEGER")),
                _ => false,
            };
            if !has_rowid || integer_key {
                let key = table.primary_key.clone();
                for c in table.columns.iter_mut().filter(|c| key.contains(&c.name)) {
                    c.nullable = false;
                }
            }
            if has_rowid {
                table.rowid = rowid_name(&table.columns);
            }
        }
        Schema {
            tables,
            foreign_keys: Vec::new(),
        }
    }

    /// Adds the foreign keys from [`foreign_keys_sql`]'s rows; keys that
    /// touch a table not in the schema are left out.
    pub fn with_foreign_keys(mut self, rows: &[serde_json::Value]) -> Schema {
        let mut keys: Vec<(String, ForeignKey)> = Vec::new();
        for row in rows {
            let text = |k: &str| row[k].as_str().map(str::to_string);
            let (Some(t), Some(c), Some(rt)) = (text("t"), text("c"), text("rt")) else {
                continue;
            };
            let id = format!("{t}\u{0}{}", row["n"]);
            if !keys.iter().any(|(k, _)| *k == id) {
                keys.push((
                    id.clone(),
                    ForeignKey {
                        // D1's `n` is a number: the name is made below.
                        name: text("n").unwrap_or_default(),
                        table: t,
                        columns: Vec::new(),
                        ref_table: rt,
                        ref_columns: Vec::new(),
                    },
                ));
            }
            if let Some((_, fk)) = keys.iter_mut().find(|(k, _)| *k == id) {
                fk.columns.push(c);
                fk.ref_columns.extend(text("rc"));
            }
        }
        for (_, mut fk) in keys {
            let (Some(_), Some(parent)) = (self.table(&fk.table), self.table(&fk.ref_table)) else {
                continue;
            };
            if fk.ref_columns.len() != fk.columns.len() {
                // D1: `REFERENCES parent` without columns means its primary key.
                fk.ref_columns = parent.primary_key.clone();
            }
            if fk.ref_columns.len() != fk.columns.len() {
                continue;
            }
            if fk.name.is_empty() {
                fk.name = format!("{}_{}_fkey", fk.table, fk.columns.join("_"));
            }
            self.foreign_keys.push(fk);
        }
        self
    }

    /// How `target` embeds into `parent`: the foreign keys between them in
    /// either direction, narrowed by `hint` (a constraint name or one of the
    /// key's columns). None fits: `400 PGRST200`; several: `300 PGRST201`
    /// listing them.
    ///
    /// A key that references its own table (`employees.manager_id` ->
    /// `employees.id`) follows PostgREST's convention: the table named as
    /// the target is the one-to-many (`reports:employees(...)`, the rows
    /// that reference this one), with `!hint` naming the key by its
    /// referencing column or constraint (`employees!manager_id`); the
    /// many-to-one is the key column named as the target instead (see
    /// [`Schema::column_relationship`]).
    pub fn relationship(
        &self,
        parent: &str,
        target: &str,
        hint: Option<&str>,
    ) -> Result<Relationship<'_>, ApiError> {
        let mut found: Vec<Relationship<'_>> = Vec::new();
        for fk in &self.foreign_keys {
            if fk.table == fk.ref_table {
                if fk.table == parent && target == parent {
                    found.push(Relationship { fk, to_one: false });
                }
                continue;
            }
            if fk.table == parent && fk.ref_table == target {
                found.push(Relationship { fk, to_one: true });
            }
            if fk.ref_table == parent && fk.table == target {
                found.push(Relationship { fk, to_one: false });
            }
        }
        if let Some(h) = hint {
            found.retain(|r| {
                // Both ends of a self-reference have the referenced column:
                // only the referencing one tells two such keys apart.
                let referenced: &[String] = if r.is_self_reference() {
                    &[]
                } else {
                    &r.fk.ref_columns
                };
                r.fk.name == h || r.fk.columns.iter().chain(referenced).any(|c| c == h)
            });
        }
        self.resolve(parent, target, hint, found)
    }

    /// The many-to-one of a self-referencing key named by its column, as
    /// PostgREST spells it: `employees?select=manager:manager_id(name)` is
    /// the row `manager_id` points at. Only a single-column key of `parent`
    /// that references `parent` itself fits, so the embedded table is
    /// always the parent's own (exposed, same store); `hint` narrows by
    /// constraint name. None fits: `400 PGRST200`.
    pub fn column_relationship(
        &self,
        parent: &str,
        column: &str,
        hint: Option<&str>,
    ) -> Result<Relationship<'_>, ApiError> {
        let found: Vec<Relationship<'_>> = self
            .foreign_keys
            .iter()
            .filter(|fk| {
                fk.table == parent
                    && fk.ref_table == parent
                    && fk.columns.len() == 1
                    && fk.columns[0] == column
                    && hint.is_none_or(|h| fk.name == h || fk.columns[0] == h)
            })
            .map(|fk| Relationship { fk, to_one: true })
            .collect();
        if found.is_empty() {
            // Says nothing of whether an unexposed table of that name exists.
            let shown: String = column.chars().take(100).collect();
            return Err(ApiError::new(
                ErrorCode::RestNoRelationship,
                format!(
                    "cannot embed {shown:?}: it is neither a table exposed through REST \
                     nor a column of {parent:?} with a foreign key to {parent:?}"
                ),
            )
            .with_details(serde_json::json!({ "embedding": shown, "hint": hint })));
        }
        self.resolve(parent, column, hint, found)
    }

    /// The one relationship `found`, or the error for none or several.
    fn resolve<'a>(
        &self,
        parent: &str,
        target: &str,
        hint: Option<&str>,
        mut found: Vec<Relationship<'a>>,
    ) -> Result<Relationship<'a>, ApiError> {
        let embedding = format!("{parent} with {target}");
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(ApiError::new(
                ErrorCode::RestNoRelationship,
                format!("could not find a relationship between {parent:?} and {target:?}"),
            )
            .with_details(serde_json::json!({ "embedding": embedding, "hint": hint }))
            .with_hint("embedding follows foreign keys between tables of the same store")),
            _ => {
                let candidates: Vec<serde_json::Value> = found
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "relationship": format!("{} using {}({}) and {}({})", r.fk.name,
                                r.fk.table, r.fk.columns.join(", "), r.fk.ref_table, r.fk.ref_columns.join(", ")),
                            "cardinality": if r.to_one { "many-to-one" } else { "one-to-many" },
                            "embedding": embedding,
                        })
                    })
                    .collect();
                let names: Vec<String> = found
                    .iter()
                    .map(|r| format!("'{target}!{}'", r.fk.name))
                    .collect();
                Err(ApiError::new(
                    ErrorCode::RestAmbiguousRelationship,
                    format!("more than one relationship was found for {parent:?} and {target:?}"),
                )
                .with_details(serde_json::Value::Array(candidates))
                .with_hint(format!(
                    "try changing '{target}' to one of: {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// A table by exact name.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }

    /// Every table, by name.
    pub fn tables(&self) -> impl Iterator<Item = &TableSchema> {
        self.tables.values()
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
        let s = Schema::from_rows(Store::Pg, &rows);
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
        assert_eq!(todos.schema.as_deref(), Some("public"));
        assert_eq!(todos.rowid, None, "Postgres has no rowid");
    }

    #[test]
    fn d1_rowid_tables_views_and_nullable_keys() {
        let row = |t: &str, c: &str, ty: &str, nn: i64, pk: i64, k: &str, wr: i64| json!({"t": t, "c": c, "ty": ty, "nn": nn, "pk": pk, "k": k, "wr": wr});
        let rows = vec![
            row("log", "at", "TEXT", 0, 0, "table", 0),
            row("log", "msg", "TEXT", 0, 0, "table", 0),
            row("shadowed", "ROWID", "TEXT", 0, 0, "table", 0),
            row("shadowed", "_rowid_", "TEXT", 0, 0, "table", 0),
            row("shadowed2", "rowid", "", 0, 0, "table", 0),
            row("shadowed2", "_ROWID_", "", 0, 0, "table", 0),
            row("shadowed2", "oid", "", 0, 0, "table", 0),
            row("recent", "at", "TEXT", 0, 0, "view", 0),
            row("todos", "id", "integer", 0, 1, "table", 0),
            row("tags", "name", "TEXT", 0, 1, "table", 0),
            row("wr", "name", "TEXT", 1, 1, "table", 1),
            row("fts", "body", "", 0, 0, "virtual", 0),
        ];
        let s = Schema::from_rows(Store::D1, &rows);
        let t = |n: &str| s.table(n).unwrap();
        assert_eq!(t("log").schema, None);
        assert_eq!(t("log").rowid.as_deref(), Some("rowid"));
        assert_eq!(t("log").unique_key(), Some(vec!["rowid".to_string()]));
        assert_eq!(t("shadowed").rowid.as_deref(), Some("oid"));
        assert_eq!(t("shadowed2").unique_key(), None, "every alias shadowed");
        assert_eq!(t("recent").rowid, None, "a view has no rowid");
        assert_eq!(t("recent").unique_key(), None);
        assert_eq!(t("fts").unique_key(), None);
        // INTEGER PRIMARY KEY is the rowid: never NULL, unique alone.
        assert!(!t("todos").columns[0].nullable);
        assert_eq!(t("todos").unique_key(), Some(vec!["id".to_string()]));
        // A TEXT key of a rowid table may hold NULLs: the rowid breaks ties.
        assert!(t("tags").columns[0].nullable);
        assert_eq!(
            t("tags").unique_key(),
            Some(vec!["name".to_string(), "rowid".to_string()])
        );
        // WITHOUT ROWID: the key is NOT NULL and unique.
        assert_eq!(t("wr").rowid, None);
        assert_eq!(t("wr").unique_key(), Some(vec!["name".to_string()]));
    }

    #[test]
    fn self_references_resolve_by_hint_or_key_column() {
        let col = |t: &str, c: &str, pk: u64| json!({"t": t, "c": c, "ty": "int4", "nn": pk > 0, "pk": pk});
        let fk = |n: &str, t: &str, c: &str, rt: &str| json!({"n": n, "t": t, "c": c, "rt": rt, "rc": "id"});
        let s = Schema::from_rows(
            Store::Pg,
            &[
                col("emp", "id", 1),
                col("emp", "boss_id", 0),
                col("emp", "mentor_id", 0),
                col("emp", "name", 0),
                col("tree", "id", 1),
                col("tree", "parent_id", 0),
            ],
        )
        .with_foreign_keys(&[
            fk("emp_boss", "emp", "boss_id", "emp"),
            fk("emp_mentor", "emp", "mentor_id", "emp"),
            fk("tree_parent", "tree", "parent_id", "tree"),
        ]);
        // One key: the table as the target is the one-to-many, hint or not.
        for hint in [None, Some("parent_id"), Some("tree_parent")] {
            let r = s.relationship("tree", "tree", hint).unwrap();
            assert_eq!(
                (r.fk.name.as_str(), r.to_one, r.child()),
                ("tree_parent", false, "tree")
            );
            assert!(r.is_self_reference());
        }
        // `!hint` picks one of two keys, by referencing column or by name.
        for hint in ["boss_id", "emp_boss"] {
            let r = s.relationship("emp", "emp", Some(hint)).unwrap();
            assert_eq!(
                (r.fk.name.as_str(), r.to_one),
                ("emp_boss", false),
                "{hint}"
            );
        }
        // Two keys and no hint: 300, naming both.
        let e = s.relationship("emp", "emp", None).unwrap_err();
        assert_eq!(e.status(), 300);
        let h = e.hint.clone().unwrap_or_default();
        assert!(
            h.contains("'emp!emp_boss'") && h.contains("'emp!emp_mentor'"),
            "{h}"
        );
        // The referenced `id` is at both ends of every self-reference: no hint.
        for hint in ["id", "name"] {
            let e = s.relationship("emp", "emp", Some(hint)).unwrap_err();
            assert_eq!(e.status(), 400, "{hint}");
        }
        // The key column as the target: the many-to-one (the row it points at).
        let r = s.column_relationship("emp", "mentor_id", None).unwrap();
        assert_eq!(
            (r.fk.name.as_str(), r.to_one, r.child()),
            ("emp_mentor", true, "emp")
        );
        assert!(s
            .column_relationship("emp", "mentor_id", Some("emp_mentor"))
            .is_ok());
        let e = s
            .column_relationship("emp", "mentor_id", Some("emp_boss"))
            .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            s.column_relationship("emp", "name", None)
                .unwrap_err()
                .status(),
            400
        );
        // Only a key of the parent that references the parent itself.
        assert_eq!(
            s.column_relationship("tree", "boss_id", None)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn postgres_introspection_hides_extension_relations_and_other_schemas() {
        let sql = introspection_sql(Store::Pg);
        assert!(sql.contains("n.nspname = 'public'"));
        assert!(sql.contains("d.deptype = 'e'") && sql.contains("NOT EXISTS"));
        let d1 = introspection_sql(Store::D1);
        assert!(d1.contains("pragma_table_list") && d1.contains("l.wr AS wr"));
        // Postgres rows without a primary key: no unique key, so no cursor.
        let s = Schema::from_rows(
            Store::Pg,
            &[
                json!({"s": "public", "t": "events", "c": "at", "ty": "timestamptz", "nn": false, "pk": 0}),
            ],
        );
        assert_eq!(s.table("events").unwrap().unique_key(), None);
    }
}
