//! `strata-dev graduate`: moves a REST table between D1 and Postgres while it is in use, through
//! Strata's own API only (`/v1/{d1,pg}/query` and `/batch` with a key of scope `sql` or `admin`,
//! `/v1/admin/placement`), so it works against a deployed Worker exactly as against `make dev`.
//!
//! 1. **Plan** — the source's columns (`pragma_table_info` / `pg_attribute`), each mapped to the
//!    target's type (see [`target_type`]), with the primary key, `NOT NULL` and literal defaults;
//!    `--dry-run` prints the DDL and every value that would not fit, and changes nothing.
//! 2. **Freeze** — placement `moving` (REST writes answer `503 table_moving`), then a wait of
//!    `PLACEMENT_CACHE_SECONDS` + 1 so no isolate still writes from an older placement.
//! 3. **Copy** — keyset batches in primary-key order (never offset), bounded by the request and
//!    result limits; a re-run resumes after the largest key already in the target.
//! 4. **Verify** — row counts, and per key range an order-independent digest of canonicalised
//!    rows ([`canonical`]), computed here from keyset-paged reads of both stores; a mismatch
//!    names the key ranges and leaves the table `moving` on its source (nothing flipped).
//! 5. **Flip** — placement to the target, `ready`. The source table is kept unless
//!    `--drop-source`.
//!
//! `--abort` puts the table back to `ready` on the store it is served from (the source while
//! moving). Raw SQL on `/v1/{store}/query` is not frozen: only REST writes are.

use crate::digest::sha256_hex;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// A failure of the move; the table's placement is as the message says.
#[derive(Debug, thiserror::Error)]
pub enum GraduateError {
    /// The API could not be reached.
    #[error("{0}")]
    Http(String),
    /// The API answered an error.
    #[error("{what}: HTTP {status}: {body}")]
    Api {
        /// What was being done.
        what: String,
        /// Its status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// The table cannot be moved as it is.
    #[error("{0}")]
    Plan(String),
    /// The copy does not match the source: not flipped.
    #[error("verification failed, the table stays moving on its source (re-run, or --abort): {0}")]
    Mismatch(String),
}

type Result<T> = std::result::Result<T, GraduateError>;

/// `d1` or `pg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// D1 (SQLite).
    D1,
    /// Postgres.
    Pg,
}

impl Side {
    /// The API's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Side::D1 => "d1",
            Side::Pg => "pg",
        }
    }

    /// `d1` or `pg`.
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "d1" => Some(Side::D1),
            "pg" => Some(Side::Pg),
            _ => None,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::D1 => Side::Pg,
            Side::Pg => Side::D1,
        }
    }
}

/// Strata's API, with one key.
pub struct Api {
    base: String,
    key: String,
    agent: ureq::Agent,
}

impl Api {
    /// `base` is the Worker's URL (`http://127.0.0.1:8787`).
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .build()
                .into(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", "application/json")
            // Every D1 read at the primary, never a lagging read replica: a
            // copy or digest taken from one could miss the last writes made
            // before the freeze (docs/api.md, D1 read replicas).
            .header("x-d1-bookmark", "first-primary");
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut resp = self
            .agent
            .run(
                request
                    .body(bytes)
                    .map_err(|e| GraduateError::Http(e.to_string()))?,
            )
            .map_err(|e| GraduateError::Http(format!("{method} {path}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| GraduateError::Http(format!("{method} {path}: {e}")))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    fn ok(&self, what: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, value) = self.call(method, path, body)?;
        if status / 100 != 2 {
            return Err(GraduateError::Api {
                what: what.to_string(),
                status,
                body: value.to_string(),
            });
        }
        Ok(value)
    }

    /// One statement's rows (objects).
    pub fn query(&self, store: Side, sql: &str, params: Vec<Value>) -> Result<Vec<Value>> {
        let body = json!({ "sql": sql, "params": params });
        let v = self.ok(
            &format!("{} query", store.name()),
            "POST",
            &format!("/v1/{}/query", store.name()),
            Some(&body),
        )?;
        Ok(v["rows"].as_array().cloned().unwrap_or_default())
    }

    /// Statements run atomically.
    pub fn batch(&self, store: Side, statements: &[(String, Vec<Value>)]) -> Result<()> {
        let statements: Vec<Value> = statements
            .iter()
            .map(|(sql, params)| json!({ "sql": sql, "params": params }))
            .collect();
        self.ok(
            &format!("{} batch", store.name()),
            "POST",
            &format!("/v1/{}/batch", store.name()),
            Some(&json!({ "statements": statements })),
        )?;
        Ok(())
    }

    /// `GET /v1/admin/placement`.
    pub fn placement(&self) -> Result<Value> {
        self.ok("placement", "GET", "/v1/admin/placement", None)
    }

    /// `PUT /v1/admin/placement/{table}`.
    pub fn set_placement(
        &self,
        table: &str,
        store: Side,
        state: &str,
        target: Option<Side>,
    ) -> Result<Value> {
        let mut body = json!({ "store": store.name(), "state": state });
        if let Some(t) = target {
            body["target"] = json!(t.name());
        }
        self.ok(
            &format!("placement of {table}"),
            "PUT",
            &format!("/v1/admin/placement/{}", percent_encode(table)),
            Some(&body),
        )
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A column's class, which decides its type on each store and how its values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// INTEGER / int2, int4, int8.
    Integer,
    /// REAL / float4, float8.
    Real,
    /// NUMERIC, DECIMAL / numeric.
    Numeric,
    /// BOOLEAN (0/1 on D1) / boolean.
    Boolean,
    /// TEXT, dates and anything else textual.
    Text,
    /// BLOB / bytea.
    Blob,
    /// No declared type (D1): kept as text on Postgres.
    Untyped,
}

/// SQLite's affinity rules (section 3.1 of its datatype page), with booleans told apart.
pub fn class_of_sqlite(decl: &str) -> Class {
    let d = decl.to_ascii_uppercase();
    if d.trim().is_empty() {
        Class::Untyped
    } else if d.contains("INT") {
        Class::Integer
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        Class::Text
    } else if d.contains("BLOB") {
        Class::Blob
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        Class::Real
    } else if d.contains("BOOL") {
        Class::Boolean
    } else if d.contains("DATE") || d.contains("TIME") {
        // Numeric affinity, but applications store dates as text.
        Class::Text
    } else {
        Class::Numeric
    }
}

/// A Postgres `format_type` name's class.
pub fn class_of_pg(ty: &str) -> Class {
    let t = ty.to_ascii_lowercase();
    match t.as_str() {
        "smallint" | "integer" | "bigint" => Class::Integer,
        "real" | "double precision" => Class::Real,
        "boolean" => Class::Boolean,
        "bytea" => Class::Blob,
        _ if t.starts_with("numeric") => Class::Numeric,
        _ => Class::Text,
    }
}

/// One column of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its declared type on the source.
    pub decl: String,
    /// Its class.
    pub class: Class,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Its default, as the source's SQL text.
    pub default: Option<String>,
}

/// The source table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Its name.
    pub name: String,
    /// Its columns in order.
    pub columns: Vec<Column>,
    /// Its primary key, in key order.
    pub key: Vec<String>,
    /// A lone INTEGER PRIMARY KEY (D1) or an identity column (Postgres): the target generates
    /// keys too, its sequence set past the largest copied.
    pub generated_key: bool,
    /// Unique constraints and secondary indexes on plain columns (not the primary key).
    pub indexes: Vec<Index>,
    /// Indexes that cannot be carried over (on expressions, partial, not b-tree), as notes.
    pub skipped_indexes: Vec<String>,
}

/// A unique constraint or secondary index of the source, on plain columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Its name on the target.
    pub name: String,
    /// `UNIQUE`.
    pub unique: bool,
    /// Its columns in order, each with `DESC`.
    pub columns: Vec<(String, bool)>,
}

/// The unique constraints and indexes of `table` on `store`, and notes on those left out.
fn read_indexes(api: &Api, store: Side, table: &str) -> Result<(Vec<Index>, Vec<String>)> {
    // One row per key column: index, unique, whether it can be carried (`ok`: a plain b-tree
    // index without a predicate), the column (NULL for an expression) and its direction.
    let rows = match store {
        Side::D1 => api.query(
            store,
            "SELECT il.name AS idx, il.\"unique\" AS uniq, il.partial = 0 AS ok, ii.name AS col, ii.\"desc\" AS dsc \
             FROM pragma_index_list(?1) AS il, pragma_index_xinfo(il.name) AS ii \
             WHERE il.origin <> 'pk' AND ii.key = 1 ORDER BY il.name, ii.seqno",
            vec![json!(table)],
        )?,
        Side::Pg => api.query(
            store,
            "SELECT ic.relname AS idx, i.indisunique AS uniq, \
             (i.indpred IS NULL AND am.amname = 'btree') AS ok, a.attname AS col, \
             pg_catalog.pg_index_column_has_property(i.indexrelid, k.n::int4, 'desc') AS dsc \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_catalog.pg_am am ON am.oid = ic.relam \
             CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(att, n) \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.att AND k.att > 0 \
             WHERE n.nspname = 'public' AND c.relname = $1 AND NOT i.indisprimary AND k.n <= i.indnkeyatts \
             ORDER BY ic.relname, k.n",
            vec![json!(table)],
        )?,
    };
    let mut indexes: Vec<Index> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    for r in &rows {
        let name = text(&r["idx"]);
        let col = r["col"].as_str();
        if !flag(&r["ok"]) || col.is_none() {
            if !bad.contains(&name) {
                bad.push(name);
            }
            continue;
        }
        let column = (col.unwrap_or_default().to_string(), flag(&r["dsc"]));
        match indexes.iter_mut().find(|i| i.name == name) {
            Some(i) => i.columns.push(column),
            None => indexes.push(Index {
                name,
                unique: flag(&r["uniq"]),
                columns: vec![column],
            }),
        }
    }
    indexes.retain(|i| !bad.contains(&i.name));
    for name in bad {
        skipped.push(format!(
            "index {name:?} not carried over (on an expression, partial, or not a b-tree): create it on the target"
        ));
    }
    // SQLite names the index of a UNIQUE constraint `sqlite_autoindex_…`, a name no
    // CREATE INDEX may use: such an index gets Postgres's name for the constraint.
    for i in indexes.iter_mut() {
        if i.name.starts_with("sqlite_") {
            let cols: Vec<&str> = i.columns.iter().map(|(c, _)| c.as_str()).collect();
            i.name = format!("{table}_{}_key", cols.join("_"));
        }
    }
    Ok((indexes, skipped))
}

/// The `CREATE [UNIQUE] INDEX` statements of `def`'s indexes.
pub fn index_ddl(def: &TableDef) -> Vec<String> {
    def.indexes
        .iter()
        .map(|i| {
            let cols: Vec<String> = i
                .columns
                .iter()
                .map(|(c, desc)| format!("{}{}", ident(c), if *desc { " DESC" } else { "" }))
                .collect();
            format!(
                "CREATE {}INDEX {} ON {} ({})",
                if i.unique { "UNIQUE " } else { "" },
                ident(&i.name),
                ident(&def.name),
                cols.join(", ")
            )
        })
        .collect()
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or(false) || v.as_i64().unwrap_or(0) != 0 || v.as_str() == Some("1")
}

/// Reads the table's definition from `store`; `None` when it does not exist there.
pub fn read_table(api: &Api, store: Side, table: &str) -> Result<Option<TableDef>> {
    let rows = match store {
        Side::D1 => api.query(
            store,
            "SELECT name, type AS ty, \"notnull\" AS nn, dflt_value AS dflt, pk, \
             (SELECT sql FROM sqlite_schema WHERE name = ?1) AS ddl FROM pragma_table_info(?1) ORDER BY cid",
            vec![json!(table)],
        )?,
        Side::Pg => api.query(
            store,
            "SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS ty, \
             a.attnotnull AS nn, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS dflt, \
             coalesce((SELECT k.n FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(att, n) \
             WHERE k.att = a.attnum), 0)::int4 AS pk, a.attidentity <> '' AS ident \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             WHERE n.nspname = 'public' AND c.relname = $1 AND c.relkind IN ('r', 'p') ORDER BY a.attnum",
            vec![json!(table)],
        )?,
    };
    if rows.is_empty() {
        return Ok(None);
    }
    let mut key: Vec<(i64, String)> = Vec::new();
    let mut columns = Vec::new();
    let mut generated_key = false;
    for r in &rows {
        let name = text(&r["name"]);
        let decl = text(&r["ty"]);
        let pk = r["pk"].as_i64().unwrap_or(0);
        if pk > 0 {
            key.push((pk, name.clone()));
        }
        if store == Side::Pg && flag(&r["ident"]) {
            generated_key = true;
        }
        let class = match store {
            Side::D1 => class_of_sqlite(&decl),
            Side::Pg => class_of_pg(&decl),
        };
        let dflt = r["dflt"].as_str().map(str::to_string);
        // A serial's nextval default becomes the target's own generated key.
        if store == Side::Pg && dflt.as_deref().is_some_and(|d| d.starts_with("nextval(")) {
            generated_key = true;
        }
        columns.push(Column {
            name,
            decl,
            class,
            not_null: flag(&r["nn"]) || pk > 0,
            default: dflt,
        });
    }
    key.sort();
    let key: Vec<String> = key.into_iter().map(|(_, k)| k).collect();
    if store == Side::D1 {
        // A lone INTEGER PRIMARY KEY is the rowid: SQLite assigns it.
        generated_key = key.len() == 1
            && columns
                .iter()
                .any(|c| c.name == key[0] && c.decl.eq_ignore_ascii_case("INTEGER"));
        // A rowid table's non-integer key columns may hold NULL unless declared NOT NULL.
        let ddl = rows[0]["ddl"].as_str().unwrap_or("").to_ascii_uppercase();
        if !ddl.contains("WITHOUT ROWID") && !generated_key {
            for c in columns.iter_mut() {
                if key.contains(&c.name) {
                    c.not_null = rows
                        .iter()
                        .any(|r| text(&r["name"]) == c.name && flag(&r["nn"]));
                }
            }
        }
    }
    let (indexes, skipped_indexes) = read_indexes(api, store, table)?;
    Ok(Some(TableDef {
        name: table.to_string(),
        columns,
        key,
        generated_key,
        indexes,
        skipped_indexes,
    }))
}

/// The column's type on `to`.
pub fn target_type(c: &Column, to: Side) -> &'static str {
    match (to, c.class) {
        (Side::Pg, Class::Integer) => "bigint",
        (Side::Pg, Class::Real) => "double precision",
        (Side::Pg, Class::Numeric) => "numeric",
        (Side::Pg, Class::Boolean) => "boolean",
        (Side::Pg, Class::Text | Class::Untyped) => "text",
        (Side::Pg, Class::Blob) => "bytea",
        (Side::D1, Class::Integer) => "INTEGER",
        (Side::D1, Class::Real) => "REAL",
        (Side::D1, Class::Numeric) => "NUMERIC",
        (Side::D1, Class::Boolean) => "BOOLEAN",
        (Side::D1, Class::Text | Class::Untyped) => "TEXT",
        (Side::D1, Class::Blob) => "BLOB",
    }
}

/// A default both dialects read the same: a number, a quoted string, NULL, TRUE/FALSE.
fn portable_default(d: &str, class: Class, to: Side) -> Option<String> {
    let d = d.trim();
    // Postgres writes `'x'::text`, `(-1)`, `'1'::bigint`.
    let d = d.split("::").next().unwrap_or(d).trim();
    let d = d.trim_start_matches('(').trim_end_matches(')');
    let upper = d.to_ascii_uppercase();
    if upper == "NULL" {
        return Some("NULL".into());
    }
    if upper == "TRUE" || upper == "FALSE" {
        return Some(match (to, upper.as_str()) {
            (Side::D1, "TRUE") => "1".into(),
            (Side::D1, _) => "0".into(),
            _ => upper,
        });
    }
    if d.parse::<f64>().is_ok() {
        if class == Class::Boolean && to == Side::Pg {
            return Some(if d == "0" {
                "false".into()
            } else {
                "true".into()
            });
        }
        return Some(d.to_string());
    }
    if d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'') {
        return Some(d.to_string());
    }
    None
}

/// The `CREATE TABLE` on `to`, and notes on what was not carried over.
pub fn target_ddl(def: &TableDef, to: Side) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for c in &def.columns {
        let mut line = format!("{} {}", ident(&c.name), target_type(c, to));
        // SQLite compares text byte by byte (BINARY): so does the Postgres copy, so that
        // `order=`, filters and unique keys behave as they did, whatever the database's locale.
        if to == Side::Pg && matches!(c.class, Class::Text | Class::Untyped) {
            line.push_str(" COLLATE \"C\"");
        }
        let lone_key = def.generated_key && def.key.len() == 1 && def.key[0] == c.name;
        if lone_key && to == Side::Pg {
            line.push_str(" GENERATED BY DEFAULT AS IDENTITY");
        }
        if c.not_null {
            line.push_str(" NOT NULL");
        }
        if let Some(d) = &c.default {
            match portable_default(d, c.class, to) {
                Some(p) => line.push_str(&format!(" DEFAULT {p}")),
                None if lone_key => {}
                None => notes.push(format!(
                    "default of {:?} not carried over (not a literal): {d}",
                    c.name
                )),
            }
        }
        lines.push(line);
    }
    if !def.key.is_empty() {
        let key: Vec<String> = def.key.iter().map(|k| ident(k)).collect();
        lines.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    notes.extend(def.skipped_indexes.iter().cloned());
    notes.push("checks and foreign keys are not carried over: create them on the target".into());
    (
        format!(
            "CREATE TABLE {} (\n  {}\n)",
            ident(&def.name),
            lines.join(",\n  ")
        ),
        notes,
    )
}

/// The select list reading `def` from `store` exactly: D1 integers as text (D1 hands the
/// Worker doubles, so beyond 2^53 they would be refused), and each value's storage class.
fn select_list(def: &TableDef, store: Side) -> String {
    def.columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let q = ident(&c.name);
            match store {
                Side::D1 => format!(
                    "CASE WHEN typeof({q}) = 'integer' THEN CAST({q} AS TEXT) ELSE {q} END AS {q}, typeof({q}) AS \"__t{i}\""
                ),
                Side::Pg => q,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn placeholders(store: Side, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| match store {
            Side::D1 => format!("?{i}"),
            Side::Pg => format!("${i}"),
        })
        .collect()
}

/// A key column named through its table: the select list aliases each column to its own name
/// (on D1, as text), and SQLite's `ORDER BY` would otherwise sort by that alias. Text keys on
/// Postgres compare in byte order (`COLLATE "C"`), as SQLite's BINARY collation does, so both
/// stores page, resume and verify over the same key ranges whatever the database's locale.
fn key_col(def: &TableDef, store: Side, k: &str) -> String {
    let text_key = def
        .columns
        .iter()
        .any(|c| c.name == k && matches!(c.class, Class::Text | Class::Untyped));
    let collate = if store == Side::Pg && text_key {
        " COLLATE \"C\""
    } else {
        ""
    };
    format!("{}.{}{collate}", ident(&def.name), ident(k))
}

fn key_tuple(def: &TableDef, store: Side) -> String {
    let k: Vec<String> = def.key.iter().map(|c| key_col(def, store, c)).collect();
    format!("({})", k.join(", "))
}

/// One keyset page of `store` after `after` (key values), at most `limit` rows.
fn page(
    api: &Api,
    def: &TableDef,
    store: Side,
    after: Option<&[Value]>,
    limit: usize,
) -> Result<Vec<Value>> {
    let mut sql = format!(
        "SELECT {} FROM {}",
        select_list(def, store),
        ident(&def.name)
    );
    let mut params = Vec::new();
    if let Some(after) = after {
        sql.push_str(&format!(
            " WHERE {} > ({})",
            key_tuple(def, store),
            placeholders(store, 1, after.len()).join(", ")
        ));
        params.extend(after.iter().cloned());
    }
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {limit}",
        def.key
            .iter()
            .map(|k| key_col(def, store, k))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    api.query(store, &sql, params)
}

/// The rows of `store` whose key is within `[first, last]`.
fn range(
    api: &Api,
    def: &TableDef,
    store: Side,
    first: &[Value],
    last: &[Value],
) -> Result<Vec<Value>> {
    let n = first.len();
    let sql = format!(
        "SELECT {} FROM {} WHERE {k} >= ({}) AND {k} <= ({})",
        select_list(def, store),
        ident(&def.name),
        placeholders(store, 1, n).join(", "),
        placeholders(store, n + 1, n).join(", "),
        k = key_tuple(def, store),
    );
    let mut params = first.to_vec();
    params.extend(last.iter().cloned());
    api.query(store, &sql, params)
}

fn key_of(def: &TableDef, row: &Value) -> Vec<Value> {
    def.key.iter().map(|k| row[k].clone()).collect()
}

/// A value as a parameter for `to`.
fn param(c: &Column, v: &Value, to: Side) -> Value {
    match (to, c.class, v) {
        (Side::Pg, Class::Boolean, Value::String(s)) => json!(s != "0"),
        (Side::Pg, Class::Boolean, Value::Number(n)) => json!(n.as_f64() != Some(0.0)),
        // Text columns on Postgres take whatever D1 held in them as its text.
        (Side::Pg, Class::Text | Class::Untyped, Value::Number(n)) => json!(n.to_string()),
        _ => v.clone(),
    }
}

/// The insert statements for `rows` on `to`, within D1's 100 parameters per statement.
fn inserts(def: &TableDef, to: Side, rows: &[Value]) -> Vec<(String, Vec<Value>)> {
    let ncols = def.columns.len().max(1);
    let per = match to {
        Side::D1 => (100 / ncols).max(1),
        Side::Pg => (30_000 / ncols).max(1),
    };
    let cols: Vec<String> = def.columns.iter().map(|c| ident(&c.name)).collect();
    rows.chunks(per)
        .map(|chunk| {
            let mut params = Vec::new();
            let mut tuples = Vec::new();
            for row in chunk {
                tuples.push(format!(
                    "({})",
                    placeholders(to, params.len() + 1, ncols).join(", ")
                ));
                for c in &def.columns {
                    params.push(param(c, &row[&c.name], to));
                }
            }
            (
                format!(
                    "INSERT INTO {} ({}) VALUES {}",
                    ident(&def.name),
                    cols.join(", "),
                    tuples.join(", ")
                ),
                params,
            )
        })
        .collect()
}

/// One value, canonical: the same value hashes the same whichever store it was read from.
/// Integers exact as text (`I`), reals as the shortest text of their double (`R`), text as
/// its UTF-8 (`T`), blobs as their base64 (`B`), NULL (`N`), other JSON as its text (`J`).
pub fn canonical(class: Class, v: &Value) -> String {
    match (class, v) {
        (_, Value::Null) => "N".into(),
        (_, Value::Object(o)) if o.len() == 1 && o.contains_key("$binary") => {
            format!("B{}", text(&o["$binary"]))
        }
        (Class::Integer | Class::Boolean, Value::Bool(b)) => format!("I{}", u8::from(*b)),
        (Class::Integer | Class::Boolean | Class::Numeric, Value::Number(n)) => {
            match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => format!("I{i}"),
                (_, Some(u), _) => format!("I{u}"),
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.3e18 => format!("I{}", f as i64),
                (_, _, Some(f)) => format!("R{f:?}"),
                _ => format!("J{n}"),
            }
        }
        (Class::Integer | Class::Boolean | Class::Numeric, Value::String(s)) => {
            if s.parse::<i128>().is_ok() {
                format!("I{s}")
            } else if class == Class::Numeric {
                match s.parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9.3e18 => format!("I{}", f as i64),
                    Ok(f) => format!("R{f:?}"),
                    Err(_) => format!("T{s}"),
                }
            } else {
                format!("T{s}")
            }
        }
        (Class::Real, Value::Number(n)) => format!("R{:?}", n.as_f64().unwrap_or(f64::NAN)),
        (Class::Real, Value::String(s)) => match s.parse::<f64>() {
            Ok(f) => format!("R{f:?}"),
            Err(_) => format!("T{s}"),
        },
        (_, Value::String(s)) => format!("T{s}"),
        (_, Value::Number(n)) => format!("T{n}"),
        (_, other) => format!("J{other}"),
    }
}

/// A row's hash: the canonical values, each length-prefixed, through SHA-256.
fn row_hash(def: &TableDef, row: &Value) -> u128 {
    let mut bytes = Vec::new();
    for c in &def.columns {
        let v = canonical(c.class, &row[&c.name]);
        bytes.extend_from_slice(&(v.len() as u64).to_le_bytes());
        bytes.extend_from_slice(v.as_bytes());
    }
    u128::from_str_radix(&sha256_hex(&bytes)[..32], 16).unwrap_or(0)
}

/// An order-independent digest: the row count and the wrapping sum of the row hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    /// Rows.
    pub rows: u64,
    /// Sum of the row hashes.
    pub sum: u128,
}

impl Digest {
    fn of(def: &TableDef, rows: &[Value]) -> Digest {
        Digest {
            rows: rows.len() as u64,
            sum: rows
                .iter()
                .fold(0u128, |s, r| s.wrapping_add(row_hash(def, r))),
        }
    }

    fn add(&mut self, other: Digest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// As text: `<rows>:<hex sum>`.
    pub fn text(&self) -> String {
        format!("{}:{:032x}", self.rows, self.sum)
    }
}

/// Why a value of the source would not fit the target, if it would not.
pub fn misfit(c: &Column, v: &Value, storage: Option<&str>, to: Side) -> Option<String> {
    let storage = storage.unwrap_or("");
    match (to, c.class) {
        (Side::Pg, Class::Integer) if storage == "text" || storage == "blob" => {
            Some(format!("{storage} in an integer column"))
        }
        (Side::Pg, Class::Integer) if storage == "real" => {
            Some("a real in an integer column".into())
        }
        (Side::Pg, Class::Real | Class::Numeric) if storage == "text" || storage == "blob" => {
            Some(format!("{storage} in a numeric column"))
        }
        (Side::Pg, Class::Boolean)
            if !(v.as_str() == Some("0") || v.as_str() == Some("1") || v.is_null()) =>
        {
            Some("a boolean other than 0/1".into())
        }
        (Side::Pg, Class::Text) if storage == "blob" => Some("a blob in a text column".into()),
        (Side::Pg, Class::Text | Class::Untyped)
            if v.as_str().is_some_and(|s| s.contains('\0')) =>
        {
            Some("text with a NUL character (Postgres text cannot hold one)".into())
        }
        (Side::D1, Class::Integer) => {
            let s = v.as_str()?;
            let i: i128 = s.parse().ok()?;
            (i.unsigned_abs() > (1u128 << 53) - 1).then(|| {
                "an integer beyond 2^53: D1 stores it exactly, but reads of it need CAST(col AS TEXT) (REST refuses it)".into()
            })
        }
        (Side::D1, Class::Real) if v.is_string() => {
            Some("NaN or an infinity: D1 cannot store it".into())
        }
        (Side::D1, Class::Numeric) => {
            let s = v.as_str()?;
            (s.parse::<i64>().is_err()
                && s.parse::<f64>()
                    .map(|f| format!("{f}") != s.trim_end_matches('0').trim_end_matches('.'))
                    .unwrap_or(true))
            .then(|| "a numeric with more precision than a double (D1 stores REAL)".into())
        }
        (Side::D1, Class::Blob) => {
            let b64 = v.get("$binary")?.as_str()?;
            (b64.len() / 4 * 3 > 1_900_000).then(|| "a blob near D1's 2 MB row limit".into())
        }
        _ => None,
    }
}

/// What the run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The REST table.
    pub table: String,
    /// Where to.
    pub to: Side,
    /// Plan and report only.
    pub dry_run: bool,
    /// Back to `ready` on the source.
    pub abort: bool,
    /// After the flip, drop the source table.
    pub drop_source: bool,
    /// Rows per keyset page.
    pub batch: usize,
}

/// What happened, as one JSON object per event (progress, phases).
pub type Progress<'a> = &'a mut dyn FnMut(&Value);

fn placement_of(api: &Api, table: &str) -> Result<(Option<Value>, u64)> {
    let all = api.placement()?;
    let cache = all["cacheSeconds"].as_u64().unwrap_or(5);
    let entry = all["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["table"] == table).cloned());
    Ok((entry, cache))
}

fn count(api: &Api, store: Side, def: &TableDef) -> Result<u64> {
    let sql = format!("SELECT count(*) AS n FROM {}", ident(&def.name));
    let rows = api.query(store, &sql, Vec::new())?;
    Ok(rows
        .first()
        .and_then(|r| {
            r["n"]
                .as_u64()
                .or_else(|| r["n"].as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0))
}

/// Runs the move (or the dry run, or the abort). Answers the final report.
pub fn run(api: &Api, opts: &Options, progress: Progress) -> Result<Value> {
    let (entry, cache_seconds) = placement_of(api, &opts.table)?;
    let entry = entry.ok_or_else(|| {
        GraduateError::Plan(format!(
            "{} is not a REST-visible table (GET /v1/admin/placement)",
            opts.table
        ))
    })?;
    let serving = Side::parse(entry["store"].as_str().unwrap_or(""))
        .ok_or_else(|| GraduateError::Plan("the placement names no store".into()))?;
    let moving = entry["state"] == "moving";
    if opts.abort {
        let v = api.set_placement(&opts.table, serving, "ready", None)?;
        progress(&json!({"event": "aborted", "table": opts.table, "store": serving.name()}));
        return Ok(v);
    }
    if serving == opts.to && !moving {
        return Err(GraduateError::Plan(format!(
            "{} is already served by {}",
            opts.table,
            opts.to.name()
        )));
    }
    let from = if serving == opts.to {
        serving.other()
    } else {
        serving
    };
    let to = opts.to;
    let def = read_table(api, from, &opts.table)?.ok_or_else(|| {
        GraduateError::Plan(format!("{} does not exist on {}", opts.table, from.name()))
    })?;
    if def.key.is_empty() {
        return Err(GraduateError::Plan(format!(
            "{} has no primary key: a keyset copy needs one",
            opts.table
        )));
    }
    // The D1 read names each value's storage class `__t<i>` next to the
    // columns: a column of that name would be overwritten in the copy and in
    // the digest alike, and verification could not see it.
    if let Some(c) = def.columns.iter().find(|c| c.name.starts_with("__t")) {
        return Err(GraduateError::Plan(format!(
            "{} has a column named {:?}: names starting with __t are reserved by graduate; rename it first",
            opts.table, c.name
        )));
    }
    let (ddl, notes) = target_ddl(&def, to);
    let indexes = index_ddl(&def);
    let existing = read_table(api, to, &opts.table)?;

    if opts.dry_run {
        // Every value of the source, in keyset pages, checked against the target's types.
        let mut misfits: Vec<Value> = Vec::new();
        let mut after: Option<Vec<Value>> = None;
        let mut rows = 0u64;
        loop {
            let page_rows = page(api, &def, from, after.as_deref(), opts.batch)?;
            let Some(last) = page_rows.last() else { break };
            for r in &page_rows {
                for (i, c) in def.columns.iter().enumerate() {
                    let storage = r[format!("__t{i}")].as_str();
                    if let Some(why) = misfit(c, &r[&c.name], storage, to) {
                        if misfits.len() < 100 {
                            misfits.push(
                                json!({"key": key_of(&def, r), "column": c.name, "problem": why}),
                            );
                        }
                    }
                }
            }
            rows += page_rows.len() as u64;
            after = Some(key_of(&def, last));
        }
        let report = json!({
            "event": "plan", "table": opts.table, "from": from.name(), "to": to.name(),
            "rows": rows, "ddl": ddl, "indexes": indexes, "notes": notes, "targetExists": existing.is_some(),
            "misfits": misfits,
        });
        progress(&report);
        return Ok(report);
    }

    // A fresh move onto a table that already has rows (e.g. the kept source of an earlier move)
    // would mix old and new rows: only a move in progress resumes. Refused before the freeze.
    if existing.is_some() && !moving && count(api, to, &def)? > 0 {
        return Err(GraduateError::Plan(format!(
            "{} already exists on {} with rows (the kept source of an earlier move?): drop it first",
            opts.table,
            to.name()
        )));
    }

    // Freeze, then let every isolate's cached placement expire.
    let frozen_at = Instant::now();
    if !moving {
        api.set_placement(&opts.table, from, "moving", Some(to))?;
    }
    progress(&json!({"event": "frozen", "table": opts.table, "waitSeconds": cache_seconds + 1}));
    std::thread::sleep(Duration::from_secs(cache_seconds + 1));

    // The target table: created, or resumed after its largest key.
    let mut after: Option<Vec<Value>> = None;
    match &existing {
        // The table and its indexes at once: a resumed move finds both or neither.
        None => api.batch(
            to,
            &std::iter::once(&ddl)
                .chain(&indexes)
                .map(|sql| (sql.clone(), Vec::new()))
                .collect::<Vec<_>>(),
        )?,
        Some(t) => {
            let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            let want: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
            if names != want || t.key != def.key {
                return Err(GraduateError::Plan(format!(
                    "{} already exists on {} with other columns or key; drop it or --abort",
                    opts.table,
                    to.name()
                )));
            }
            let desc: Vec<String> = def
                .key
                .iter()
                .map(|k| format!("{} DESC", key_col(&def, to, k)))
                .collect();
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {} LIMIT 1",
                select_list(&def, to),
                ident(&def.name),
                desc.join(", ")
            );
            if let Some(last) = api.query(to, &sql, Vec::new())?.first() {
                after = Some(key_of(&def, last));
                progress(&json!({"event": "resume", "after": after}));
            }
        }
    }
    let total = entry["rows"].as_u64();
    let started = Instant::now();
    let mut copied = 0u64;
    let mut limit = opts.batch.max(1);
    loop {
        let rows = match page(api, &def, from, after.as_deref(), limit) {
            Err(GraduateError::Api {
                status: 400, body, ..
            }) if body.contains("result_too_large") && limit > 1 => {
                limit /= 2;
                continue;
            }
            r => r?,
        };
        let Some(last) = rows.last() else { break };
        // Requests stay well under MAX_BODY_BYTES: split by size, each part atomic.
        let mut part: Vec<Value> = Vec::new();
        let mut size = 0usize;
        for r in &rows {
            let s = r.to_string().len();
            if size + s > 400_000 && !part.is_empty() {
                api.batch(to, &inserts(&def, to, &part))?;
                part.clear();
                size = 0;
            }
            size += s;
            part.push(r.clone());
        }
        if !part.is_empty() {
            api.batch(to, &inserts(&def, to, &part))?;
        }
        copied += rows.len() as u64;
        after = Some(key_of(&def, last));
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        progress(&json!({"event": "copy", "rows": copied, "total": total,
            "rowsPerSecond": (copied as f64 / secs).round(),
            "etaSeconds": total.map(|t| ((t.saturating_sub(copied)) as f64 / (copied as f64 / secs)).round())}));
    }
    if def.generated_key && to == Side::Pg {
        let k = &def.key[0];
        api.query(
            to,
            &format!(
                "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence($1, $2), coalesce((SELECT max({}) FROM {}), 0) + 1, false)",
                ident(k),
                ident(&def.name)
            ),
            vec![json!(ident(&def.name)), json!(k)],
        )?;
    }

    // Verify: per source page, the same key range of the target.
    let mut after: Option<Vec<Value>> = None;
    let (mut src, mut dst) = (Digest::default(), Digest::default());
    let mut differ: Vec<Value> = Vec::new();
    loop {
        let rows = page(api, &def, from, after.as_deref(), limit)?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            break;
        };
        let (kf, kl) = (key_of(&def, first), key_of(&def, last));
        let theirs = range(api, &def, to, &kf, &kl)?;
        let (a, b) = (Digest::of(&def, &rows), Digest::of(&def, &theirs));
        if a != b && differ.len() < 20 {
            differ.push(json!({"from": kf, "to": kl, "source": a.text(), "target": b.text()}));
        }
        src.add(a);
        dst.add(b);
        after = Some(kl);
    }
    let target_count = count(api, to, &def)?;
    progress(
        &json!({"event": "verify", "source": src.text(), "target": dst.text(), "targetRows": target_count}),
    );
    if !differ.is_empty() || target_count != src.rows || src != dst {
        return Err(GraduateError::Mismatch(format!(
            "source {} rows, target {} rows; differing key ranges: {}",
            src.rows,
            target_count,
            Value::Array(differ)
        )));
    }

    // Flip.
    let v = api.set_placement(&opts.table, to, "ready", None)?;
    let window = frozen_at.elapsed().as_secs_f64();
    progress(
        &json!({"event": "flipped", "table": opts.table, "store": to.name(),
        "rows": copied, "copySeconds": started.elapsed().as_secs_f64(), "frozenSeconds": window}),
    );
    if opts.drop_source {
        api.batch(
            from,
            &[(format!("DROP TABLE {}", ident(&def.name)), Vec::new())],
        )?;
        progress(&json!({"event": "dropped", "table": opts.table, "store": from.name()}));
    }
    let mut report = Map::new();
    report.insert("placement".into(), v);
    report.insert("digest".into(), json!(src.text()));
    report.insert("frozenSeconds".into(), json!(window));
    Ok(Value::Object(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, decl: &str, class: Class, not_null: bool, default: Option<&str>) -> Column {
        Column {
            name: name.into(),
            decl: decl.into(),
            class,
            not_null,
            default: default.map(str::to_string),
        }
    }

    #[test]
    fn types_map_both_ways() {
        for (decl, class) in [
            ("INTEGER", Class::Integer),
            ("bigint", Class::Integer),
            ("VARCHAR(20)", Class::Text),
            ("BLOB", Class::Blob),
            ("", Class::Untyped),
            ("DOUBLE", Class::Real),
            ("BOOLEAN", Class::Boolean),
            ("DATETIME", Class::Text),
            ("DECIMAL(10,2)", Class::Numeric),
        ] {
            assert_eq!(class_of_sqlite(decl), class, "{decl}");
        }
        for (ty, class) in [
            ("bigint", Class::Integer),
            ("double precision", Class::Real),
            ("numeric(10,2)", Class::Numeric),
            ("bytea", Class::Blob),
            ("boolean", Class::Boolean),
            ("timestamp with time zone", Class::Text),
        ] {
            assert_eq!(class_of_pg(ty), class, "{ty}");
            // And back: the class survives a round trip.
            let c = col("c", ty, class, false, None);
            let d1 = target_type(&c, Side::D1);
            let back = class_of_sqlite(d1);
            assert_eq!(back, class, "{ty} -> {d1}");
        }
    }

    #[test]
    fn ddl_keeps_key_not_null_and_literal_defaults() {
        let def = TableDef {
            name: "t".into(),
            columns: vec![
                col("id", "INTEGER", Class::Integer, true, None),
                col("n", "TEXT", Class::Text, true, Some("'x'")),
                col("at", "TEXT", Class::Text, false, Some("CURRENT_TIMESTAMP")),
                col("f", "BOOLEAN", Class::Boolean, false, Some("1")),
            ],
            key: vec!["id".into()],
            generated_key: true,
            indexes: Vec::new(),
            skipped_indexes: Vec::new(),
        };
        let (ddl, notes) = target_ddl(&def, Side::Pg);
        assert_eq!(
            ddl,
            "CREATE TABLE \"t\" (\n  \"id\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n  \"n\" text COLLATE \"C\" NOT NULL DEFAULT 'x',\n  \"at\" text COLLATE \"C\",\n  \"f\" boolean DEFAULT true,\n  PRIMARY KEY (\"id\")\n)"
        );
        assert!(notes[0].contains("CURRENT_TIMESTAMP"), "{notes:?}");
        let (ddl, _) = target_ddl(&def, Side::D1);
        assert!(ddl.contains("\"id\" INTEGER NOT NULL"), "{ddl}");
        assert_eq!(
            portable_default("'a'::text", Class::Text, Side::D1).as_deref(),
            Some("'a'")
        );
        assert_eq!(
            portable_default("(-1)", Class::Integer, Side::D1).as_deref(),
            Some("-1")
        );
        assert_eq!(
            portable_default("false", Class::Boolean, Side::D1).as_deref(),
            Some("0")
        );
    }

    #[test]
    fn indexes_are_created_with_their_columns_and_directions() {
        let def = TableDef {
            name: "t\"x".into(),
            columns: vec![col("id", "INTEGER", Class::Integer, true, None)],
            key: vec!["id".into()],
            generated_key: false,
            indexes: vec![
                Index {
                    name: "u".into(),
                    unique: true,
                    columns: vec![("a".into(), false)],
                },
                Index {
                    name: "i--x".into(),
                    unique: false,
                    columns: vec![("b".into(), false), ("c\"".into(), true)],
                },
            ],
            skipped_indexes: vec!["index \"e\" not carried over".into()],
        };
        assert_eq!(
            index_ddl(&def),
            vec![
                "CREATE UNIQUE INDEX \"u\" ON \"t\"\"x\" (\"a\")",
                "CREATE INDEX \"i--x\" ON \"t\"\"x\" (\"b\", \"c\"\"\" DESC)",
            ]
        );
        let (_, notes) = target_ddl(&def, Side::Pg);
        assert!(notes.iter().any(|n| n.contains("\"e\"")), "{notes:?}");
    }

    #[test]
    fn the_same_value_is_canonical_on_both_stores() {
        // D1 integers arrive as text (CAST), Postgres int8 as a string: the same.
        assert_eq!(
            canonical(Class::Integer, &json!("9007199254740993")),
            "I9007199254740993"
        );
        assert_eq!(
            canonical(Class::Integer, &json!(5)),
            canonical(Class::Integer, &json!("5"))
        );
        assert_eq!(
            canonical(Class::Boolean, &json!(true)),
            canonical(Class::Boolean, &json!("1"))
        );
        assert_eq!(
            canonical(Class::Real, &json!(2)),
            canonical(Class::Real, &json!(2.0))
        );
        assert_eq!(canonical(Class::Real, &json!(0.1)), "R0.1");
        assert_ne!(
            canonical(Class::Real, &json!(0.1)),
            canonical(Class::Real, &json!(0.10000000000000002))
        );
        assert_eq!(canonical(Class::Text, &json!("ünï")), "Tünï");
        assert_eq!(canonical(Class::Blob, &json!({"$binary": "AAE="})), "BAAE=");
        assert_eq!(canonical(Class::Text, &Value::Null), "N");
        assert_ne!(
            canonical(Class::Text, &Value::Null),
            canonical(Class::Text, &json!(""))
        );
        assert_eq!(
            canonical(Class::Numeric, &json!("1.50")),
            canonical(Class::Numeric, &json!(1.5))
        );
    }

    #[test]
    fn digests_ignore_order_and_see_any_change() {
        let def = TableDef {
            name: "t".into(),
            columns: vec![
                col("id", "INTEGER", Class::Integer, true, None),
                col("v", "TEXT", Class::Text, false, None),
            ],
            key: vec!["id".into()],
            generated_key: false,
            indexes: Vec::new(),
            skipped_indexes: Vec::new(),
        };
        let a = vec![json!({"id": "1", "v": "a"}), json!({"id": "2", "v": null})];
        let b = vec![json!({"id": 2, "v": null}), json!({"id": 1, "v": "a"})];
        assert_eq!(Digest::of(&def, &a), Digest::of(&def, &b));
        let c = vec![json!({"id": 2, "v": ""}), json!({"id": 1, "v": "a"})];
        assert_ne!(Digest::of(&def, &a), Digest::of(&def, &c));
        // Column boundaries count: ("ab", "") is not ("a", "b").
        let def2 = TableDef {
            columns: vec![
                col("x", "TEXT", Class::Text, false, None),
                col("y", "TEXT", Class::Text, false, None),
            ],
            ..def
        };
        assert_ne!(
            Digest::of(&def2, &[json!({"x": "ab", "y": ""})]),
            Digest::of(&def2, &[json!({"x": "a", "y": "b"})])
        );
    }

    #[test]
    fn inserts_stay_within_d1_parameters() {
        let def = TableDef {
            name: "t".into(),
            columns: (0..7)
                .map(|i| col(&format!("c{i}"), "TEXT", Class::Text, false, None))
                .collect(),
            key: vec!["c0".into()],
            generated_key: false,
            indexes: Vec::new(),
            skipped_indexes: Vec::new(),
        };
        let rows: Vec<Value> = (0..30).map(|i| json!({"c0": i.to_string()})).collect();
        let st = inserts(&def, Side::D1, &rows);
        assert_eq!(st.len(), 3); // 14 rows of 7 columns per statement
        assert!(st.iter().all(|(_, p)| p.len() <= 100));
        assert!(
            st[0].0.contains("(?1, ?2, ?3, ?4, ?5, ?6, ?7), (?8,"),
            "{}",
            st[0].0
        );
        let st = inserts(&def, Side::Pg, &rows);
        assert_eq!(st.len(), 1);
        assert!(st[0]
            .0
            .ends_with("$204, $205, $206, $207, $208, $209, $210)"));
    }

    #[test]
    fn misfits_are_reported() {
        let int = col("n", "INTEGER", Class::Integer, false, None);
        assert!(misfit(&int, &json!("abc"), Some("text"), Side::Pg).is_some());
        assert!(misfit(&int, &json!("12"), Some("integer"), Side::Pg).is_none());
        assert!(misfit(&int, &json!("9007199254740993"), None, Side::D1).is_some());
        assert!(misfit(&int, &json!("9007199254740991"), None, Side::D1).is_none());
        let real = col("r", "double precision", Class::Real, false, None);
        assert!(misfit(&real, &json!("NaN"), None, Side::D1).is_some());
        let t = col("t", "TEXT", Class::Text, false, None);
        assert!(misfit(&t, &json!("a\u{0}b"), Some("text"), Side::Pg).is_some());
    }
}
