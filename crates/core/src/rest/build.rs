//! SQL for REST requests, for either store's dialect.
//!
//! Identifiers come only from the introspected [`TableSchema`] (a name in a
//! request is looked up there first, and quoted anyway); every value is a
//! bound parameter. The two dialects differ only in placeholders (`?N` vs
//! `$N`), `like` (SQLite's `LIKE` ignores case, so case-sensitive `like`
//! uses `GLOB` on D1) and nothing else: both support `NULLS FIRST/LAST`,
//! `IS TRUE`, `RETURNING` and `ON CONFLICT`.

use super::grammar::{Embed, Filter, IsValue, Op, OrderTerm, SelectItem, UrlQuery};
use super::schema::{Schema, TableSchema};
use crate::error::{ApiError, ErrorCode};
use crate::sql::request::{Statement, D1_MAX_PARAMS};
use crate::sql::Store;
use serde_json::{Map, Value};

/// Quotes an identifier (`"a""b"`).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table as SQL names it: schema-qualified on Postgres (`"public"."t"`),
/// so a `search_path` that puts another schema (or `pg_temp`) first cannot
/// redirect the statement to a look-alike table there.
pub fn table_ref(table: &TableSchema) -> String {
    if let Some((sql, _)) = &table.source {
        return sql.clone();
    }
    match &table.schema {
        Some(schema) => format!("{}.{}", ident(schema), ident(&table.name)),
        None => ident(&table.name),
    }
}

/// SQL text and its parameters, with the dialect's placeholders.
struct Sql {
    store: Store,
    text: String,
    params: Vec<Value>,
    /// Table aliases handed out (`"_s1"`, ...) for embeds.
    aliases: usize,
    /// Most rows an embedded array holds ([`Window::embed_limit`]).
    embed_limit: u64,
}

impl Sql {
    fn new(store: Store) -> Sql {
        Sql {
            store,
            text: String::new(),
            params: Vec::new(),
            aliases: 0,
            embed_limit: 0,
        }
    }

    /// Statements reading `table`: numbered after the values its source binds.
    fn reading(store: Store, table: &TableSchema) -> Sql {
        let mut sql = Sql::new(store);
        if let Some((_, params)) = &table.source {
            sql.params = params.clone();
        }
        sql
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("\"_s{}\"", self.aliases)
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn bind(&mut self, v: Value) {
        self.params.push(v);
        let n = self.params.len();
        let p = match self.store {
            Store::D1 => format!("?{n}"),
            Store::Pg => format!("${n}"),
        };
        self.text.push_str(&p);
    }

    fn finish(self) -> Statement {
        Statement {
            sql: self.text,
            params: self.params,
        }
    }
}

/// PostgREST's `*` wildcard → SQL LIKE's `%`.
fn like_pattern(p: &str) -> String {
    p.replace('*', "%")
}

/// A LIKE pattern (`%`, `_` wildcards, PostgREST's `*` too) as a GLOB pattern,
/// with GLOB's own special characters made literal.
fn glob_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            '*' | '%' => out.push('*'),
            '_' => out.push('?'),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            ']' => out.push_str("[]]"),
            c => out.push(c),
        }
    }
    out
}

/// Whether SQLite gives a column of this declared type a numeric affinity
/// (INTEGER, REAL or NUMERIC; SQLite's rules, in their order: "INT";
/// "CHAR"/"CLOB"/"TEXT"; "BLOB" or no type; "REAL"/"FLOA"/"DOUB"; else NUMERIC).
fn sqlite_numeric_affinity(declared: &str) -> bool {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        return true;
    }
    if ["CHAR", "CLOB", "TEXT"].iter().any(|w| t.contains(w)) {
        return false;
    }
    !(t.contains("BLOB") || t.trim().is_empty())
}

/// A filter value as bound. URL values are text, and Postgres reads text
/// with its own type's input function (`float8in` rounds correctly). SQLite
/// would convert a text compared with a numeric column by its own
/// text-to-double routine, which is not correctly rounded — `x=eq.<the
/// shortest text of a stored double>` could miss the row. So on D1, against
/// a column of numeric affinity, a value in JSON's number grammar is bound
/// as the number it denotes (the same exact path as a JSON body's numbers);
/// anything else stays text.
fn filter_value(store: Store, declared_type: &str, v: &str) -> Value {
    let number_chars = |b: u8| b.is_ascii_digit() || b"+-.eE".contains(&b);
    if store == Store::D1 && sqlite_numeric_affinity(declared_type) && v.bytes().all(number_chars) {
        if let Ok(n) = serde_json::from_slice::<serde_json::Number>(v.as_bytes()) {
            let number = Value::Number(n);
            if crate::sql::value::d1_param(&number, "filter").is_ok() {
                return number;
            }
        }
    }
    Value::String(v.to_string())
}

fn write_filter(sql: &mut Sql, table: &TableSchema, f: &Filter) -> Result<(), ApiError> {
    match f {
        Filter::Cond {
            column,
            negated,
            op,
        } => {
            let info = table.column(column)?;
            let col = ident(&info.name);
            if *negated {
                sql.push("NOT (");
            }
            let store = sql.store;
            let cmp = |sql: &mut Sql, operator: &str, v: Value| {
                sql.push(&format!("{col} {operator} "));
                sql.bind(v);
            };
            let value = |v: &str| filter_value(store, &info.type_name, v);
            let text = |v: String| Value::String(v);
            match op {
                Op::Eq(v) => cmp(sql, "=", value(v)),
                Op::Neq(v) => cmp(sql, "<>", value(v)),
                Op::Gt(v) => cmp(sql, ">", value(v)),
                Op::Gte(v) => cmp(sql, ">=", value(v)),
                Op::Lt(v) => cmp(sql, "<", value(v)),
                Op::Lte(v) => cmp(sql, "<=", value(v)),
                Op::Like(v) => match store {
                    Store::Pg => cmp(sql, "LIKE", text(like_pattern(v))),
                    Store::D1 => cmp(sql, "GLOB", text(glob_pattern(v))),
                },
                Op::Ilike(v) => match store {
                    Store::Pg => cmp(sql, "ILIKE", text(like_pattern(v))),
                    Store::D1 => cmp(sql, "LIKE", text(like_pattern(v))),
                },
                Op::In(items) if items.is_empty() => sql.push("1 = 0"),
                Op::In(items) => {
                    sql.push(&format!("{col} IN ("));
                    for (i, v) in items.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.bind(value(v));
                    }
                    sql.push(")");
                }
                Op::Is(v) => sql.push(&format!(
                    "{col} IS {}",
                    match v {
                        IsValue::Null => "NULL",
                        IsValue::True => "TRUE",
                        IsValue::False => "FALSE",
                    }
                )),
            }
            if *negated {
                sql.push(")");
            }
        }
        Filter::And(items, negated) | Filter::Or(items, negated) => {
            let joiner = if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql.push(if *negated { "NOT (" } else { "(" });
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                write_filter(sql, table, item)?;
            }
            sql.push(")");
        }
    }
    Ok(())
}

/// A condition written after the filters (cursor, `!inner` embeds).
type Extra<'a> = &'a dyn Fn(&mut Sql) -> Result<(), ApiError>;

fn write_where(
    sql: &mut Sql,
    table: &TableSchema,
    filters: &[Filter],
    extra: Option<Extra<'_>>,
) -> Result<(), ApiError> {
    if filters.is_empty() && extra.is_none() {
        return Ok(());
    }
    sql.push(" WHERE ");
    let mut first = true;
    for f in filters {
        if !first {
            sql.push(" AND ");
        }
        first = false;
        write_filter(sql, table, f)?;
    }
    if let Some(extra) = extra {
        if !first {
            sql.push(" AND ");
        }
        extra(sql)?;
    }
    Ok(())
}

/// SQL's string literal for `s` (JSON keys in SQLite's `json_object`).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// ` ORDER BY` the terms, each column qualified by `from` (the table's
/// alias or name): both SQLite and Postgres resolve a bare name in
/// `ORDER BY` to an output column first, so `select=id:title&order=id`
/// would sort by the alias — and a cursor page continuing the column's
/// order would skip or repeat rows. `order=` always means the table's column.
fn write_order(sql: &mut Sql, from: &str, order: &[OrderTerm]) {
    for (i, t) in order.iter().enumerate() {
        sql.push(if i > 0 { ", " } else { " ORDER BY " });
        sql.push(&format!(
            "{from}.{} {} NULLS {}",
            ident(&t.column),
            if t.desc { "DESC" } else { "ASC" },
            if t.nulls_first_effective() {
                "FIRST"
            } else {
                "LAST"
            }
        ));
    }
}

/// The tables of the store, for embedding (`None`: embeds are refused).
type Tables<'a> = Option<&'a Schema>;

/// Writes `, (subquery) AS "key"` for each embed of `parent` (aliased
/// `from` in SQL): one correlated subquery aggregating the child rows into
/// JSON, so a whole response is one statement whatever its size.
fn write_embeds(
    sql: &mut Sql,
    tables: Tables<'_>,
    parent: &TableSchema,
    from: &str,
    embeds: &[Embed],
    mut first: bool,
) -> Result<(), ApiError> {
    for e in embeds {
        if !first {
            sql.push(", ");
        }
        first = false;
        write_child(sql, tables, parent, from, e, true)?;
        sql.push(&format!(" AS {}", ident(e.key())));
    }
    Ok(())
}

/// Refuses a select whose output names repeat — two items, two embeds, or
/// an item and an embed under one name (`select=posts(id),posts(title)`,
/// `select=*,id:posts(id)`): a JSON object cannot hold the same key twice
/// (it would come out with duplicate keys, or one value silently lost).
fn check_output_names<'a>(
    items: &'a [(String, String)],
    embeds: &'a [Embed],
) -> Result<(), ApiError> {
    let mut seen: Vec<&str> = Vec::with_capacity(items.len() + embeds.len());
    let names = items
        .iter()
        .map(|(_, out)| out.as_str())
        .chain(embeds.iter().map(Embed::key));
    for name in names {
        if seen.contains(&name) {
            let shown: String = name.chars().take(100).collect();
            return Err(ApiError::new(
                ErrorCode::RestParse,
                format!("{shown:?} names two things in select: each output name must be unique"),
            )
            .with_details(serde_json::json!({ "part": "select", "name": shown }))
            .with_hint(
                "give one of them another name with an alias (alias:column, alias:table(...))",
            ));
        }
        seen.push(name);
    }
    Ok(())
}

/// The embed's subquery (`json`) or its `EXISTS` test (`!json`, for `!inner`).
fn write_child(
    sql: &mut Sql,
    tables: Tables<'_>,
    parent: &TableSchema,
    from: &str,
    e: &Embed,
    json: bool,
) -> Result<(), ApiError> {
    let schema = tables.ok_or_else(|| {
        ApiError::new(ErrorCode::RestParse, "embedding applies to reads only")
            .with_details(serde_json::json!({ "part": "select" }))
    })?;
    // A name that is no embeddable table (or no table at all: a `"*"`
    // placement resolves any name) may only be a self-referencing key column.
    let rel = match (e.not_a_table, schema.table(&e.target)) {
        (None, Some(_)) => schema.relationship(&parent.name, &e.target, e.hint.as_deref())?,
        (why, _) => schema
            .column_relationship(&parent.name, &e.target, e.hint.as_deref())
            .map_err(|err| match why {
                Some(why) => ApiError::new(
                    ErrorCode::RestNoRelationship,
                    format!("cannot embed {:?}: {why}", e.target),
                )
                .with_details(serde_json::json!({ "embedding": e.target })),
                None => err,
            })?,
    };
    // The child is a distinct instance even when it is the parent's own
    // table (a self-reference): its own alias, and the join names both.
    let child = schema.table(rel.child()).ok_or_else(ApiError::internal)?;
    let alias = sql.alias();
    let q = &e.query;
    let items = if q.no_columns {
        Vec::new()
    } else {
        select_items(child, &q.select)?
    };
    if json {
        check_output_names(&items, &q.embeds)?;
        let keys: Vec<(String, bool)> = items
            .iter()
            .map(|(_, out)| (out.clone(), false))
            .chain(q.embeds.iter().map(|c| (c.key().to_string(), true)))
            .collect();
        match (sql.store, rel.to_one) {
            (Store::Pg, true) => sql.push("(SELECT to_json(\"_x\".*) FROM (SELECT "),
            (Store::Pg, false) => {
                sql.push("(SELECT coalesce(json_agg(\"_x\".*), '[]') FROM (SELECT ")
            }
            (Store::D1, to_one) => {
                let pairs: Vec<String> = keys
                    .iter()
                    .map(|(k, nested)| {
                        let v = format!("\"_x\".{}", ident(k));
                        let v = if *nested { format!("json({v})") } else { v };
                        format!("{}, {v}", literal(k))
                    })
                    .collect();
                let object = format!("json_object({})", pairs.join(", "));
                sql.push(&if to_one {
                    format!("(SELECT {object} FROM (SELECT ")
                } else {
                    format!("(SELECT json_group_array({object}) FROM (SELECT ")
                });
            }
        }
        write_select_list(sql, &items);
        write_embeds(sql, tables, child, &alias, &q.embeds, items.is_empty())?;
    } else {
        sql.push("EXISTS (SELECT 1");
    }
    sql.push(&format!(" FROM {} AS {alias} WHERE ", table_ref(child)));
    let (here, there) = if rel.to_one {
        (&rel.fk.ref_columns, &rel.fk.columns)
    } else {
        (&rel.fk.columns, &rel.fk.ref_columns)
    };
    for (i, (c, p)) in here.iter().zip(there).enumerate() {
        if i > 0 {
            sql.push(" AND ");
        }
        sql.push(&format!("{alias}.{} = {from}.{}", ident(c), ident(p)));
    }
    for f in &q.filters {
        sql.push(" AND ");
        write_filter(sql, child, f)?;
    }
    write_inner(sql, tables, child, &alias, &q.embeds, false)?;
    if json {
        let order = q
            .order
            .iter()
            .map(|t| {
                Ok(OrderTerm {
                    column: child.column(&t.column)?.name.clone(),
                    ..t.clone()
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        write_order(sql, &alias, &order);
        // Every embedded array is capped like a response (`REST_MAX_ROWS`):
        // a child's own `limit` can only lower it. (A to-one embed is one
        // row by its foreign key.)
        let cap = (!rel.to_one).then_some(sql.embed_limit);
        match q.limit.into_iter().chain(cap).min() {
            Some(l) => sql.push(&format!(" LIMIT {l}")),
            None if q.offset.is_some() && sql.store == Store::D1 => sql.push(" LIMIT -1"),
            None => {}
        }
        if let Some(o) = q.offset {
            sql.push(&format!(" OFFSET {o}"));
        }
        sql.push(") AS \"_x\")");
    } else {
        sql.push(")");
    }
    Ok(())
}

/// ` AND EXISTS (...)` for each `!inner` embed (without the leading ` AND `
/// when `first`); whether anything was written.
fn write_inner(
    sql: &mut Sql,
    tables: Tables<'_>,
    parent: &TableSchema,
    from: &str,
    embeds: &[Embed],
    mut first: bool,
) -> Result<bool, ApiError> {
    let mut wrote = false;
    for e in embeds.iter().filter(|e| e.inner) {
        if !first {
            sql.push(" AND ");
        }
        first = false;
        write_child(sql, tables, parent, from, e, false)?;
        wrote = true;
    }
    Ok(wrote)
}

/// The select list (`*` expands to every column, in table order).
fn select_items(
    table: &TableSchema,
    select: &[SelectItem],
) -> Result<Vec<(String, String)>, ApiError> {
    if select.is_empty() {
        return Ok(table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.name.clone()))
            .collect());
    }
    select
        .iter()
        .map(|s| {
            let c = table.column(&s.column)?;
            Ok((
                c.name.clone(),
                s.alias.clone().unwrap_or_else(|| c.name.clone()),
            ))
        })
        .collect()
}

fn write_select_list(sql: &mut Sql, items: &[(String, String)]) {
    for (i, (col, out)) in items.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        if col == out {
            sql.push(&ident(col));
        } else {
            sql.push(&format!("{} AS {}", ident(col), ident(out)));
        }
    }
}

/// How a count statement starts; [`planned`] swaps it for the planner's estimate.
const COUNT: &str = "SELECT count(*) AS n";

/// A count statement (`Prefer: count=planned`) as Postgres's row estimate:
/// `EXPLAIN (FORMAT JSON)` of the same rows, nothing counted.
pub fn planned(count: &Statement) -> Statement {
    Statement {
        sql: count
            .sql
            .replacen(COUNT, "EXPLAIN (FORMAT JSON) SELECT 1", 1),
        params: count.params.clone(),
    }
}

/// The rows a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return (one more is fetched to learn whether more exist).
    pub limit: u64,
    /// Most rows each embedded array holds (`REST_MAX_ROWS`, like a
    /// response): a child's own `limit` is lowered to it.
    pub embed_limit: u64,
}

/// A planned read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPlan {
    /// Fetches `limit + 1` rows.
    pub statement: Statement,
    /// Counts every row the filters match (for `Prefer: count=exact`).
    pub count: Option<Statement>,
    /// The full ordering (requested terms, then key tiebreakers).
    pub order: Vec<OrderTerm>,
    /// For each ordering term, the output key holding its value.
    pub order_keys: Vec<String>,
    /// Output keys added only for the cursor, removed before answering.
    pub hidden: Vec<String>,
}

/// The ordering with tiebreakers: the table's [`TableSchema::unique_key`],
/// which makes it total, or every column when it has none (deterministic
/// enough for `offset` paging, but not for a cursor: see [`keyset_allowed`]);
/// none for a function's rows.
pub fn total_order(table: &TableSchema, order: &[OrderTerm]) -> Result<Vec<OrderTerm>, ApiError> {
    let mut terms = Vec::with_capacity(order.len() + table.primary_key.len() + 1);
    for t in order {
        let c = table.column(&t.column)?;
        terms.push(OrderTerm {
            column: c.name.clone(),
            ..t.clone()
        });
    }
    // A function's rows keep the function's own order (as PostgREST's do):
    // they have no key, and sorting by every column would fail on columns
    // without an ordering (json) and sort the whole result on every call.
    if table.source.is_some() {
        return Ok(terms);
    }
    let keys: Vec<String> = table
        .unique_key()
        .unwrap_or_else(|| table.columns.iter().map(|c| c.name.clone()).collect());
    for k in keys {
        if !terms.iter().any(|t| t.column == k) {
            terms.push(OrderTerm {
                column: k,
                desc: false,
                nulls_first: None,
            });
        }
    }
    Ok(terms)
}

/// Whether keyset cursors may page this table: only when its rows are
/// provably distinct in the ordering ([`TableSchema::unique_key`]). Without
/// that, rows equal in every column that straddle a page boundary would be
/// skipped silently, so a cursor is refused (`400 PGRST100`) instead.
pub fn keyset_allowed(table: &TableSchema) -> Result<(), ApiError> {
    if table.unique_key().is_some() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::RestParse,
        format!(
            "{:?} has no primary key, so a cursor cannot tell its rows apart",
            table.name
        ),
    )
    .with_details(serde_json::json!({ "part": "cursor", "table": table.name }))
    .with_hint("add a primary key to the table, or page with limit and offset"))
}

/// The cursor's fingerprint of an ordering: a cursor only continues the
/// ordering it came from.
pub fn order_signature(order: &[OrderTerm]) -> String {
    order
        .iter()
        .map(|t| {
            format!(
                "{}.{}.{}",
                t.column,
                if t.desc { "desc" } else { "asc" },
                if t.nulls_first_effective() {
                    "nullsfirst"
                } else {
                    "nullslast"
                }
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `(rows after the cursor row)` for a total ordering and the cursor row's values.
fn write_after(sql: &mut Sql, table: &TableSchema, order: &[OrderTerm], values: &[Value]) {
    sql.push("(");
    for i in 0..order.len() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        for j in 0..i {
            let col = ident(&order[j].column);
            if values[j].is_null() {
                sql.push(&format!("{col} IS NULL AND "));
            } else {
                sql.push(&format!("{col} = "));
                sql.bind(values[j].clone());
                sql.push(" AND ");
            }
        }
        let t = &order[i];
        let col = ident(&t.column);
        let nulls_first = t.nulls_first_effective();
        if values[i].is_null() {
            // After a NULL come the non-NULLs if NULLs sort first, else nothing.
            let after_null = if nulls_first {
                format!("{col} IS NOT NULL")
            } else {
                "1 = 0".to_string()
            };
            sql.push(&after_null);
        } else {
            sql.push(&format!("({col} {} ", if t.desc { "<" } else { ">" }));
            sql.bind(values[i].clone());
            let nullable = table
                .columns
                .iter()
                .any(|c| c.name == t.column && c.nullable);
            if !nulls_first && nullable {
                sql.push(&format!(" OR {col} IS NULL"));
            }
            sql.push(")");
        }
        sql.push(")");
    }
    sql.push(")");
}

/// Plans a read: the page query (with the cursor condition, if any) and
/// optionally the count query. `tables` (the store's schema) resolves embeds.
pub fn read(
    store: Store,
    tables: Tables<'_>,
    table: &TableSchema,
    q: &UrlQuery,
    window: Window,
    cursor: Option<&[Value]>,
    with_count: bool,
) -> Result<ReadPlan, ApiError> {
    let mut items = if q.no_columns {
        Vec::new()
    } else {
        select_items(table, &q.select)?
    };
    let order = total_order(table, &q.order)?;
    let mut hidden = Vec::new();
    let mut order_keys = Vec::with_capacity(order.len());
    for (i, t) in order.iter().enumerate() {
        match items.iter().find(|(col, _)| *col == t.column) {
            Some((_, out)) => order_keys.push(out.clone()),
            None => {
                let alias = format!("__strata_k{i}");
                items.push((t.column.clone(), alias.clone()));
                hidden.push(alias.clone());
                order_keys.push(alias);
            }
        }
    }
    check_output_names(&items, &q.embeds)?;
    if let Some(values) = cursor {
        keyset_allowed(table)?;
        if values.len() != order.len() {
            return Err(ApiError::new(
                ErrorCode::RestParse,
                "the cursor does not belong to this ordering",
            ));
        }
    }
    // With embeds the table is aliased, for their subqueries to refer to
    // it. `qualifier` names the table's columns unambiguously (ORDER BY).
    let (from, qualifier) = match (&table.source, q.embeds.is_empty()) {
        // A function's call is aliased as its name (see `TableSchema::source`).
        (Some(_), _) => (table_ref(table), ident(&table.name)),
        (None, true) => (table_ref(table), table_ref(table)),
        (None, false) => (
            format!("{} AS \"_s0\"", table_ref(table)),
            "\"_s0\"".to_string(),
        ),
    };
    let inner = q.embeds.iter().any(|e| e.inner);
    let mut sql = Sql::reading(store, table);
    sql.embed_limit = window.embed_limit;
    sql.push("SELECT ");
    write_select_list(&mut sql, &items);
    write_embeds(
        &mut sql,
        tables,
        table,
        "\"_s0\"",
        &q.embeds,
        items.is_empty(),
    )?;
    sql.push(&format!(" FROM {from}"));
    let conditions = |s: &mut Sql| -> Result<(), ApiError> {
        if let Some(values) = cursor {
            write_after(s, table, &order, values);
        }
        write_inner(s, tables, table, "\"_s0\"", &q.embeds, cursor.is_none())?;
        Ok(())
    };
    let extra = (cursor.is_some() || inner).then_some(&conditions as Extra<'_>);
    write_where(&mut sql, table, &q.filters, extra)?;
    write_order(&mut sql, &qualifier, &order);
    sql.push(&format!(
        " LIMIT {} OFFSET {}",
        window.limit.saturating_add(1),
        window.offset
    ));

    let count = if with_count {
        let mut c = Sql::reading(store, table);
        c.push(&format!("{COUNT} FROM {from}"));
        let inner_only =
            |s: &mut Sql| write_inner(s, tables, table, "\"_s0\"", &q.embeds, true).map(|_| ());
        write_where(
            &mut c,
            table,
            &q.filters,
            inner.then_some(&inner_only as Extra<'_>),
        )?;
        Some(c.finish())
    } else {
        None
    };
    Ok(ReadPlan {
        statement: sql.finish(),
        count,
        order,
        order_keys,
        hidden,
    })
}

/// How an insert treats rows that conflict with an existing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnConflict {
    /// Fail (409).
    Error,
    /// Update the conflicting row with the new values (`merge-duplicates`).
    Merge(Vec<String>),
    /// Keep the existing row (`ignore-duplicates`).
    Ignore(Vec<String>),
}

fn returning(
    sql: &mut Sql,
    table: &TableSchema,
    select: Option<&[SelectItem]>,
) -> Result<(), ApiError> {
    if let Some(select) = select {
        sql.push(" RETURNING ");
        let items = select_items(table, select)?;
        check_output_names(&items, &[])?;
        write_select_list(sql, &items);
    }
    Ok(())
}

/// Refuses an insert of more than `max_rows` rows (`REST_MAX_INSERT_ROWS`)
/// with `413 payload_too_large`, like a body over `MAX_BODY_BYTES`: one
/// request must not turn into an unbounded write batch on the store. The
/// hint says how to get the rows in anyway.
pub fn check_insert_rows(rows: usize, max_rows: u64) -> Result<(), ApiError> {
    if rows as u64 <= max_rows {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("an insert takes at most {max_rows} rows; this one has {rows}"),
    )
    .with_details(serde_json::json!({ "maxRows": max_rows, "rows": rows }))
    .with_hint(format!(
        "send the rows in requests of at most {max_rows} (each request is atomic on its own)"
    )))
}

/// Plans an insert of `rows` (objects) into `columns`; on D1 the rows are
/// split into statements of at most 100 parameters, run as one batch.
pub fn insert(
    store: Store,
    table: &TableSchema,
    columns: &[String],
    rows: &[Map<String, Value>],
    conflict: &OnConflict,
    select: Option<&[SelectItem]>,
) -> Result<Vec<Statement>, ApiError> {
    let cols: Vec<&str> = columns
        .iter()
        .map(|c| table.column(c).map(|c| c.name.as_str()))
        .collect::<Result<_, _>>()?;
    let per_statement = match store {
        Store::D1 if cols.len() > D1_MAX_PARAMS => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "D1 binds at most {D1_MAX_PARAMS} values per statement; this row has {}",
                    cols.len()
                ),
            ))
        }
        Store::D1 => (D1_MAX_PARAMS / cols.len().max(1)).max(1),
        Store::Pg => (60_000 / cols.len().max(1)).max(1),
    };
    let conflict_sql = |sql: &mut Sql| -> Result<(), ApiError> {
        let (targets, merge) = match conflict {
            OnConflict::Error => return Ok(()),
            OnConflict::Merge(t) => (t, true),
            OnConflict::Ignore(t) => (t, false),
        };
        let targets: Vec<String> = targets
            .iter()
            .map(|c| table.column(c).map(|c| ident(&c.name)))
            .collect::<Result<_, _>>()?;
        if targets.is_empty() {
            return Err(ApiError::new(
                ErrorCode::RestParse,
                "upsert needs on_conflict= or a table with a primary key",
            ));
        }
        sql.push(&format!(" ON CONFLICT ({})", targets.join(", ")));
        let updates: Vec<String> = cols
            .iter()
            .map(|c| ident(c))
            .filter(|c| !targets.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        if merge && !updates.is_empty() {
            sql.push(&format!(" DO UPDATE SET {}", updates.join(", ")));
        } else {
            sql.push(" DO NOTHING");
        }
        Ok(())
    };
    let mut out = Vec::new();
    if cols.is_empty() {
        for _ in rows {
            let mut sql = Sql::new(store);
            sql.push(&format!("INSERT INTO {} DEFAULT VALUES", table_ref(table)));
            returning(&mut sql, table, select)?;
            out.push(sql.finish());
        }
        return Ok(out);
    }
    for chunk in rows.chunks(per_statement) {
        let mut sql = Sql::new(store);
        let names: Vec<String> = cols.iter().map(|c| ident(c)).collect();
        sql.push(&format!(
            "INSERT INTO {} ({}) VALUES ",
            table_ref(table),
            names.join(", ")
        ));
        for (r, row) in chunk.iter().enumerate() {
            sql.push(if r > 0 { ", (" } else { "(" });
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(row.get(*c).cloned().unwrap_or(Value::Null));
            }
            sql.push(")");
        }
        conflict_sql(&mut sql)?;
        returning(&mut sql, table, select)?;
        out.push(sql.finish());
    }
    Ok(out)
}

/// A limited update or delete (`limit`/`offset` on `PATCH`/`DELETE`):
/// only the rows at this window of the ordering change, picked by the
/// table's unique key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// The ordering the window applies to.
    pub order: Vec<OrderTerm>,
    /// Rows to skip.
    pub offset: u64,
    /// Most rows to change.
    pub limit: Option<u64>,
}

/// ` WHERE <filters>`, or for a limited write ` WHERE (key) IN (SELECT key
/// ... WHERE <filters> ORDER BY ... LIMIT n OFFSET m)`.
fn write_target(
    sql: &mut Sql,
    table: &TableSchema,
    filters: &[Filter],
    limited: Option<&Limited>,
) -> Result<(), ApiError> {
    let Some(l) = limited else {
        return write_where(sql, table, filters, None);
    };
    let key = table.unique_key().ok_or_else(|| {
        ApiError::new(
            ErrorCode::RestParse,
            format!(
                "{:?} has no primary key, so a limited write cannot pick its rows",
                table.name
            ),
        )
        .with_details(serde_json::json!({ "part": "limit" }))
    })?;
    let key = key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
    sql.push(&format!(
        " WHERE ({key}) IN (SELECT {key} FROM {}",
        table_ref(table)
    ));
    write_where(sql, table, filters, None)?;
    write_order(sql, &table_ref(table), &total_order(table, &l.order)?);
    let limit = l.limit.map_or("-1".to_string(), |n| n.to_string());
    match (sql.store, l.limit) {
        (Store::Pg, None) => sql.push(&format!(" OFFSET {})", l.offset)),
        _ => sql.push(&format!(" LIMIT {limit} OFFSET {})", l.offset)),
    }
    Ok(())
}

/// Plans an update of the rows the filters match.
pub fn update(
    store: Store,
    table: &TableSchema,
    set: &Map<String, Value>,
    filters: &[Filter],
    limited: Option<&Limited>,
    select: Option<&[SelectItem]>,
) -> Result<Statement, ApiError> {
    let mut sql = Sql::new(store);
    sql.push(&format!("UPDATE {} SET ", table_ref(table)));
    for (i, (k, v)) in set.iter().enumerate() {
        let c = table.column(k)?;
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&format!("{} = ", ident(&c.name)));
        sql.bind(v.clone());
    }
    write_target(&mut sql, table, filters, limited)?;
    returning(&mut sql, table, select)?;
    Ok(sql.finish())
}

/// Plans a delete of the rows the filters match.
pub fn delete(
    store: Store,
    table: &TableSchema,
    filters: &[Filter],
    limited: Option<&Limited>,
    select: Option<&[SelectItem]>,
) -> Result<Statement, ApiError> {
    let mut sql = Sql::new(store);
    sql.push(&format!("DELETE FROM {}", table_ref(table)));
    write_target(&mut sql, table, filters, limited)?;
    returning(&mut sql, table, select)?;
    Ok(sql.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::schema::ColumnInfo;
    use serde_json::json;

    /// A read without embeds.
    fn read(
        store: Store,
        table: &TableSchema,
        q: &UrlQuery,
        window: Window,
        cursor: Option<&[Value]>,
        with_count: bool,
    ) -> Result<ReadPlan, ApiError> {
        super::read(store, None, table, q, window, cursor, with_count)
    }

    fn table() -> TableSchema {
        let col = |n: &str, nullable| ColumnInfo {
            name: n.into(),
            type_name: "text".into(),
            nullable,
        };
        TableSchema {
            schema: None,
            name: "todos".into(),
            columns: vec![
                col("id", false),
                col("title", false),
                col("done", true),
                col("we\"ird", true),
            ],
            primary_key: vec!["id".into()],
            rowid: None,
            source: None,
        }
    }

    /// The same table as Postgres introspection describes it.
    fn pg_table() -> TableSchema {
        TableSchema {
            schema: Some("public".into()),
            ..table()
        }
    }

    fn q(pairs: &[(&str, &str)]) -> UrlQuery {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        UrlQuery::parse(&owned).unwrap()
    }

    #[test]
    fn reads_in_both_dialects() {
        let query = q(&[
            ("select", "id,t:title"),
            ("title", "like.*a*"),
            ("or", "(done.is.true,id.in.(1,2))"),
            ("order", "title.desc"),
        ]);
        let w = Window {
            offset: 5,
            limit: 10,
            embed_limit: 1000,
        };
        let pg = read(Store::Pg, &pg_table(), &query, w, None, true).unwrap();
        assert_eq!(
            pg.statement.sql,
            "SELECT \"id\", \"title\" AS \"t\" FROM \"public\".\"todos\" WHERE \"title\" LIKE $1 AND (\"done\" IS TRUE OR \"id\" IN ($2, $3)) \
             ORDER BY \"public\".\"todos\".\"title\" DESC NULLS FIRST, \"public\".\"todos\".\"id\" ASC NULLS LAST LIMIT 11 OFFSET 5"
        );
        assert_eq!(
            pg.statement.params,
            vec![json!("%a%"), json!("1"), json!("2")]
        );
        assert_eq!(pg.order_keys, ["t", "id"]);
        assert_eq!(pg.count.unwrap().sql, "SELECT count(*) AS n FROM \"public\".\"todos\" WHERE \"title\" LIKE $1 AND (\"done\" IS TRUE OR \"id\" IN ($2, $3))");
        let d1 = read(Store::D1, &table(), &query, w, None, false).unwrap();
        assert!(
            d1.statement.sql.contains("\"title\" GLOB ?1"),
            "{}",
            d1.statement.sql
        );
        assert_eq!(d1.statement.params[0], json!("*a*"));
        assert!(d1.count.is_none());
    }

    #[test]
    fn unknown_columns_are_refused_everywhere() {
        for pairs in [
            vec![("select", "nope")],
            vec![("nope", "eq.1")],
            vec![("or", "(id.eq.1,nope.eq.2)")],
            vec![("order", "nope")],
        ] {
            let e = read(
                Store::Pg,
                &pg_table(),
                &q(&pairs),
                Window {
                    offset: 0,
                    limit: 1,
                    embed_limit: 1000,
                },
                None,
                false,
            )
            .unwrap_err();
            assert_eq!(e.code, ErrorCode::RestUnknownColumn, "{pairs:?}");
        }
    }

    #[test]
    fn hidden_key_columns_and_cursor_condition() {
        let query = q(&[("select", "title"), ("order", "done.asc")]);
        let plan = read(
            Store::Pg,
            &pg_table(),
            &query,
            Window {
                offset: 0,
                limit: 2,
                embed_limit: 1000,
            },
            Some(&[json!(null), json!(7)]),
            false,
        )
        .unwrap();
        assert_eq!(plan.hidden, ["__strata_k0", "__strata_k1"]);
        assert!(plan
            .statement
            .sql
            .contains("SELECT \"title\", \"done\" AS \"__strata_k0\", \"id\" AS \"__strata_k1\""));
        // done is NULL in the cursor row and NULLs sort last: only rows with done NULL and a larger id follow.
        assert!(
            plan.statement
                .sql
                .contains("WHERE ((1 = 0) OR (\"done\" IS NULL AND (\"id\" > $1)))"),
            "{}",
            plan.statement.sql
        );
        let plan = read(
            Store::D1,
            &table(),
            &q(&[("order", "done.desc")]),
            Window {
                offset: 0,
                limit: 2,
                embed_limit: 1000,
            },
            Some(&[json!(1), json!(7)]),
            false,
        )
        .unwrap();
        assert!(
            plan.statement
                .sql
                .contains("WHERE (((\"done\" < ?1)) OR (\"done\" = ?2 AND (\"id\" > ?3)))"),
            "{}",
            plan.statement.sql
        );
        assert!(read(
            Store::D1,
            &table(),
            &q(&[]),
            Window {
                offset: 0,
                limit: 2,
                embed_limit: 1000,
            },
            Some(&[json!(1), json!(2)]),
            false
        )
        .is_err());
    }

    #[test]
    fn cursors_tie_break_on_a_unique_key_or_are_refused() {
        let col = |n: &str, nullable| ColumnInfo {
            name: n.into(),
            type_name: "text".into(),
            nullable,
        };
        let keyless = |schema: Option<&str>, rowid: Option<&str>| TableSchema {
            schema: schema.map(str::to_string),
            name: "log".into(),
            columns: vec![col("at", true), col("msg", true)],
            primary_key: Vec::new(),
            rowid: rowid.map(str::to_string),
            source: None,
        };
        let window = Window {
            offset: 0,
            limit: 2,
            embed_limit: 1000,
        };
        let by_at = q(&[("select", "msg"), ("order", "at")]);
        // D1 table without a key: the rowid (under a name no column shadows) ends the ordering.
        let d1 = keyless(None, Some("_rowid_"));
        assert!(keyset_allowed(&d1).is_ok());
        let plan = read(
            Store::D1,
            &d1,
            &by_at,
            window,
            Some(&[json!("x"), json!(7)]),
            false,
        )
        .unwrap();
        assert_eq!(
            plan.order.last().map(|t| t.column.as_str()),
            Some("_rowid_")
        );
        assert_eq!(plan.order.len(), 2, "not every column: the rowid is enough");
        assert!(
            plan.statement
                .sql
                .contains("\"_rowid_\" AS \"__strata_k1\"")
                && plan
                    .statement
                    .sql
                    .contains("(\"at\" = ?2 AND (\"_rowid_\" > ?3))"),
            "{}",
            plan.statement.sql
        );
        // Postgres table or view without a key, D1 view: offset works, a cursor is refused.
        for (store, t) in [
            (Store::Pg, keyless(Some("public"), None)),
            (Store::D1, keyless(None, None)),
        ] {
            let e = keyset_allowed(&t).unwrap_err();
            assert_eq!((e.status(), e.code), (400, ErrorCode::RestParse));
            assert!(e
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("primary key") && h.contains("offset")));
            let e = read(
                store,
                &t,
                &by_at,
                window,
                Some(&[json!(1), json!(2), json!(3)]),
                false,
            )
            .unwrap_err();
            assert_eq!(e.code, ErrorCode::RestParse);
            let plan = read(store, &t, &by_at, window, None, false).unwrap();
            assert_eq!(
                plan.order.len(),
                2,
                "every column, for a stable offset order"
            );
        }
        // A SQLite key column that may hold NULL is not unique on its own: the rowid follows it.
        let mut nullable_key = keyless(None, Some("rowid"));
        nullable_key.primary_key = vec!["at".into()];
        assert_eq!(
            nullable_key.unique_key(),
            Some(vec!["at".into(), "rowid".into()])
        );
        assert_eq!(table().unique_key(), Some(vec!["id".into()]));
    }

    #[test]
    fn postgres_sql_names_the_schema() {
        let f = q(&[("id", "eq.3")]).filters;
        let set = json!({"title": "x"}).as_object().unwrap().clone();
        let rows = vec![set.clone()];
        let cols = vec!["title".to_string()];
        let w = Window {
            offset: 0,
            limit: 1,
            embed_limit: 1000,
        };
        let statements = [
            read(Store::Pg, &pg_table(), &q(&[]), w, None, true)
                .unwrap()
                .statement,
            read(Store::Pg, &pg_table(), &q(&[]), w, None, true)
                .unwrap()
                .count
                .unwrap(),
            insert(
                Store::Pg,
                &pg_table(),
                &cols,
                &rows,
                &OnConflict::Error,
                None,
            )
            .unwrap()[0]
                .clone(),
            insert(Store::Pg, &pg_table(), &[], &rows, &OnConflict::Error, None).unwrap()[0]
                .clone(),
            update(Store::Pg, &pg_table(), &set, &f, None, None).unwrap(),
            delete(Store::Pg, &pg_table(), &f, None, None).unwrap(),
        ];
        for st in statements {
            assert!(st.sql.contains("\"public\".\"todos\""), "{}", st.sql);
        }
        let weird = TableSchema {
            schema: Some("my\"schema".into()),
            name: "t\"x".into(),
            ..table()
        };
        assert_eq!(table_ref(&weird), "\"my\"\"schema\".\"t\"\"x\"");
        assert_eq!(table_ref(&table()), "\"todos\"");
    }

    #[test]
    fn inserts_are_capped_in_rows() {
        assert!(check_insert_rows(0, 1).is_ok());
        assert!(check_insert_rows(1000, 1000).is_ok());
        let e = check_insert_rows(1001, 1000).unwrap_err();
        assert_eq!((e.status(), e.code), (413, ErrorCode::PayloadTooLarge));
        assert_eq!(e.details, Some(json!({"maxRows": 1000, "rows": 1001})));
        assert!(e.hint.as_ref().is_some_and(|h| h.contains("1000")));
    }

    #[test]
    fn d1_numeric_filters_bind_exact_numbers() {
        for (ty, numeric) in [
            ("INTEGER", true),
            ("REAL", true),
            ("double precision", true),
            ("NUMERIC(10,2)", true),
            ("DECIMAL", true),
            ("TEXT", false),
            ("varchar(20)", false),
            ("BLOB", false),
            ("", false),
            ("CHARINT", true),
        ] {
            assert_eq!(sqlite_numeric_affinity(ty), numeric, "{ty}");
        }
        // D1 against a REAL column: the number the text denotes.
        let v = filter_value(Store::D1, "REAL", "3.53534172288291e-149");
        assert_eq!(
            v.as_f64().map(f64::to_bits),
            Some(3.53534172288291e-149f64.to_bits())
        );
        // Not a JSON number, a text column, Postgres, or beyond a double: text.
        for (store, ty, text) in [
            (Store::D1, "REAL", "abc"),
            (Store::D1, "REAL", "007"),
            (Store::D1, "REAL", " 1"),
            (Store::D1, "REAL", "NaN"),
            (Store::D1, "REAL", "1e400"),
            (Store::D1, "TEXT", "1.5"),
            (Store::Pg, "double precision", "1.5"),
        ] {
            assert_eq!(
                filter_value(store, ty, text),
                Value::String(text.into()),
                "{text}"
            );
        }
    }

    /// `users(id)` <- `posts(author_id, editor_id)` <- `comments(post_id)`,
    /// with a hostile table name.
    fn blog(store: Store) -> Schema {
        let schema = (store == Store::Pg).then_some("public");
        let col = |t: &str, c: &str, pk: u64| json!({"s": schema, "t": t, "c": c, "ty": "integer", "nn": pk > 0, "pk": pk, "k": "table", "wr": 0});
        let fk = |n: &str, t: &str, c: &str, rt: &str| json!({"n": n, "t": t, "c": c, "rt": rt, "rc": "id"});
        Schema::from_rows(
            store,
            &[
                col("users", "id", 1),
                col("posts", "id", 1),
                col("posts", "author_id", 0),
                col("posts", "editor_id", 0),
                col("c\"--x", "id", 1),
                col("c\"--x", "post_id", 0),
            ],
        )
        .with_foreign_keys(&[
            fk("posts_author", "posts", "author_id", "users"),
            fk("posts_editor", "posts", "editor_id", "users"),
            json!({"n": 0, "t": "c\"--x", "c": "post_id", "rt": "posts", "rc": null}),
        ])
    }

    fn embed_read(store: Store, pairs: &[(&str, &str)]) -> Result<ReadPlan, ApiError> {
        let schema = blog(store);
        let w = Window {
            offset: 0,
            limit: 9,
            embed_limit: 50,
        };
        let table = schema.table("users").unwrap().clone();
        super::read(store, Some(&schema), &table, &q(pairs), w, None, true)
    }

    #[test]
    fn embeds_are_one_statement_of_correlated_json_subqueries() {
        let pairs = [
            (
                "select",
                "id,p:posts!author_id!inner(id,cm:\"c\\\"--x\"(id))",
            ),
            ("p.id", "gt.1"),
            ("p.cm.order", "id.desc"),
            ("p.limit", "2"),
        ];
        let pg = embed_read(Store::Pg, &pairs).unwrap();
        assert_eq!(
            pg.statement.sql,
            "SELECT \"id\", (SELECT coalesce(json_agg(\"_x\".*), '[]') FROM (SELECT \"id\", \
             (SELECT coalesce(json_agg(\"_x\".*), '[]') FROM (SELECT \"id\" FROM \"public\".\"c\"\"--x\" AS \"_s2\" \
             WHERE \"_s2\".\"post_id\" = \"_s1\".\"id\" ORDER BY \"_s2\".\"id\" DESC NULLS FIRST LIMIT 50) AS \"_x\") AS \"cm\" \
             FROM \"public\".\"posts\" AS \"_s1\" WHERE \"_s1\".\"author_id\" = \"_s0\".\"id\" AND \"id\" > $1 LIMIT 2) AS \"_x\") AS \"p\" \
             FROM \"public\".\"users\" AS \"_s0\" WHERE EXISTS (SELECT 1 FROM \"public\".\"posts\" AS \"_s3\" \
             WHERE \"_s3\".\"author_id\" = \"_s0\".\"id\" AND \"id\" > $2) ORDER BY \"_s0\".\"id\" ASC NULLS LAST LIMIT 10 OFFSET 0"
        );
        assert_eq!(pg.statement.params, [json!("1"), json!("1")]);
        assert!(pg.count.unwrap().sql.contains("AS \"_s0\" WHERE EXISTS"));
        // SQLite: json_object with literal keys; nested JSON passes through json().
        let d1 = embed_read(Store::D1, &pairs).unwrap().statement.sql;
        assert!(
            d1.contains(
                "json_group_array(json_object('id', \"_x\".\"id\", 'cm', json(\"_x\".\"cm\")))"
            ),
            "{d1}"
        );
        // Many-to-one from the child's side is one object.
        let schema = blog(Store::D1);
        let posts = schema.table("posts").unwrap().clone();
        let w = Window {
            offset: 0,
            limit: 1,
            embed_limit: 1000,
        };
        let plan = super::read(
            Store::D1,
            Some(&schema),
            &posts,
            &q(&[("select", "a:users!posts_author(id)")]),
            w,
            None,
            false,
        )
        .unwrap();
        assert!(plan.statement.sql.contains("(SELECT json_object('id', \"_x\".\"id\") FROM (SELECT \"id\" FROM \"users\" AS \"_s1\" WHERE \"_s1\".\"id\" = \"_s0\".\"author_id\")"), "{}", plan.statement.sql);
    }

    /// `staff(id, boss_id -> staff(id))`, on `store`.
    fn staff(store: Store) -> Schema {
        let schema = (store == Store::Pg).then_some("public");
        let col = |c: &str, pk: u64| json!({"s": schema, "t": "staff", "c": c, "ty": "integer", "nn": pk > 0, "pk": pk, "k": "table", "wr": 0});
        let hidden = json!({"s": schema, "t": "hidden", "c": "staff_id", "ty": "integer", "nn": false, "pk": 0, "k": "table", "wr": 0});
        Schema::from_rows(store, &[col("id", 1), col("boss_id", 0), hidden]).with_foreign_keys(&[
            json!({"n": "staff_boss", "t": "staff", "c": "boss_id", "rt": "staff", "rc": "id"}),
            json!({"n": "hidden_staff", "t": "hidden", "c": "staff_id", "rt": "staff", "rc": "id"}),
        ])
    }

    #[test]
    fn self_references_alias_parent_and_child_apart() {
        let read = |store: Store, select: &str, unexposed: bool| {
            let schema = staff(store);
            let table = schema.table("staff").unwrap().clone();
            let mut query = q(&[("select", select), ("r.id", "gt.1")]);
            for e in &mut query.embeds {
                e.not_a_table = unexposed.then_some("it is not exposed through REST");
            }
            let w = Window {
                offset: 0,
                limit: 9,
                embed_limit: 50,
            };
            super::read(store, Some(&schema), &table, &query, w, None, false)
                .map(|p| p.statement.sql)
        };
        // One-to-many: the child instance `_s1` joins to the outer `_s0`.
        let sql = read(Store::Pg, "id,r:staff!boss_id(id)", false).unwrap();
        assert_eq!(
            sql,
            "SELECT \"id\", (SELECT coalesce(json_agg(\"_x\".*), '[]') FROM (SELECT \"id\" \
             FROM \"public\".\"staff\" AS \"_s1\" WHERE \"_s1\".\"boss_id\" = \"_s0\".\"id\" \
             AND \"id\" > $1 LIMIT 50) AS \"_x\") AS \"r\" FROM \"public\".\"staff\" AS \"_s0\" \
             ORDER BY \"_s0\".\"id\" ASC NULLS LAST LIMIT 10 OFFSET 0"
        );
        // Many-to-one by the key column: the child's key equals the outer's column.
        let sql = read(Store::D1, "id,r:boss_id(id)", true).unwrap();
        assert!(
            sql.contains(
                "(SELECT json_object('id', \"_x\".\"id\") FROM (SELECT \"id\" FROM \"staff\" AS \"_s1\" \
                 WHERE \"_s1\".\"id\" = \"_s0\".\"boss_id\" AND \"id\" > ?1) AS \"_x\") AS \"r\""
            ),
            "{sql}"
        );
        // A target that is no exposed table reaches no other table, even one
        // with a key to the parent.
        let e = read(Store::Pg, "id,r:hidden(staff_id)", true).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (400, "PGRST200"));
        assert!(e.message.contains("not exposed"), "{}", e.message);
        // A name that is no table of the store is tried as a key column.
        assert!(read(Store::Pg, "id,r:boss_id(id)", false).is_ok());
        let e = read(Store::Pg, "id,r:nothing(id)", false).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (400, "PGRST200"));
        // Without a hint the table as the target is the one-to-many too.
        let sql = read(Store::D1, "id,r:staff(id)", false).unwrap();
        assert!(
            sql.contains("WHERE \"_s1\".\"boss_id\" = \"_s0\".\"id\""),
            "{sql}"
        );
    }

    #[test]
    fn order_means_the_table_column_never_an_output_alias() {
        let w = Window {
            offset: 0,
            limit: 2,
            embed_limit: 10,
        };
        let query = q(&[("select", "id:title"), ("order", "id")]);
        for (store, t, qualified) in [
            (Store::Pg, pg_table(), "\"public\".\"todos\".\"id\""),
            (Store::D1, table(), "\"todos\".\"id\""),
        ] {
            let plan = read(store, &t, &query, w, None, false).unwrap();
            let sql = &plan.statement.sql;
            assert!(
                sql.contains(&format!(" ORDER BY {qualified} ASC NULLS LAST LIMIT 3")),
                "{sql}"
            );
            // The cursor reads the column's value, not the alias's.
            assert!(sql.contains("\"id\" AS \"__strata_k0\""), "{sql}");
            assert_eq!(plan.order_keys, ["__strata_k0"]);
        }
        // An embed named like the ordering column: the parent's column still.
        for store in [Store::Pg, Store::D1] {
            let plan = embed_read(
                store,
                &[("select", "id:posts!posts_author(id)"), ("order", "id")],
            )
            .unwrap();
            let sql = &plan.statement.sql;
            assert!(
                sql.ends_with(" ORDER BY \"_s0\".\"id\" ASC NULLS LAST LIMIT 10 OFFSET 0"),
                "{sql}"
            );
            assert_eq!(plan.order_keys, ["__strata_k0"]);
            // ... and a child's order is the child's column.
            let plan = embed_read(
                store,
                &[
                    (
                        "select",
                        "id,p:posts!posts_author(id:author_id,author_id:id)",
                    ),
                    ("p.order", "id.desc"),
                ],
            )
            .unwrap();
            assert!(
                plan.statement
                    .sql
                    .contains("ORDER BY \"_s1\".\"id\" DESC NULLS FIRST LIMIT 50)"),
                "{}",
                plan.statement.sql
            );
        }
        // A function's rows: the call is aliased by the function's name.
        let f = TableSchema {
            schema: Some("public".into()),
            primary_key: Vec::new(),
            source: Some(("\"public\".\"f\"() AS \"f\"".into(), Vec::new())),
            name: "f".into(),
            ..table()
        };
        let plan = read(Store::Pg, &f, &query, w, None, false).unwrap();
        assert!(
            plan.statement
                .sql
                .contains(" ORDER BY \"f\".\"id\" ASC NULLS LAST"),
            "{}",
            plan.statement.sql
        );
    }

    #[test]
    fn embedded_arrays_are_capped_at_the_row_limit() {
        for store in [Store::Pg, Store::D1] {
            for (limit, want) in [
                (None, " LIMIT 50)"),
                (Some("5"), " LIMIT 5)"),
                (Some("5000"), " LIMIT 50)"),
            ] {
                let mut pairs = vec![("select", "id,p:posts!posts_author(id)")];
                if let Some(l) = limit {
                    pairs.push(("p.limit", l));
                }
                let sql = embed_read(store, &pairs).unwrap().statement.sql;
                assert!(
                    sql.contains(&format!("\"_s0\".\"id\"{want}")),
                    "{limit:?}: {sql}"
                );
                assert!(!sql.contains("5000"), "{sql}");
            }
        }
        // A to-one embed is one row by its key: no cap needed.
        let schema = blog(Store::Pg);
        let posts = schema.table("posts").unwrap().clone();
        let w = Window {
            offset: 0,
            limit: 1,
            embed_limit: 50,
        };
        let plan = super::read(
            Store::Pg,
            Some(&schema),
            &posts,
            &q(&[("select", "a:users!posts_author(id)")]),
            w,
            None,
            false,
        )
        .unwrap();
        assert!(
            !plan.statement.sql.contains("LIMIT 50"),
            "{}",
            plan.statement.sql
        );
    }

    #[test]
    fn output_names_must_be_unique() {
        for select in [
            "posts!posts_author(id),posts!posts_editor(id)",
            "id,id:posts!posts_author(id)",
            "*,id:posts!posts_author(id)",
            "id,x:id,x:posts!posts_author(id)",
            "id,p:posts!posts_author(id,id)",
            "id,p:posts!posts_author(id,id:author_id)",
            "id,p:posts!posts_author(c:\"c\\\"--x\"(id),c:\"c\\\"--x\"(post_id))",
        ] {
            let e = embed_read(Store::Pg, &[("select", select)]).unwrap_err();
            assert_eq!(
                (e.status(), e.code),
                (400, ErrorCode::RestParse),
                "{select}"
            );
            assert_eq!(
                e.details.as_ref().map(|d| d["part"].clone()),
                Some(json!("select"))
            );
        }
        for select in [
            "a:posts!posts_author(id),b:posts!posts_editor(id)",
            "id,x:posts!posts_author(id,y:id)",
        ] {
            assert!(
                embed_read(Store::D1, &[("select", select)]).is_ok(),
                "{select}"
            );
        }
        // A write's returned rows too.
        let twice = [
            SelectItem {
                column: "id".into(),
                alias: None,
            },
            SelectItem {
                column: "title".into(),
                alias: Some("id".into()),
            },
        ];
        let e = delete(
            Store::D1,
            &table(),
            &q(&[("id", "eq.1")]).filters,
            None,
            Some(&twice),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::RestParse);
    }

    #[test]
    fn relationships_missing_or_ambiguous_are_named() {
        let e = embed_read(Store::Pg, &[("select", "posts(id)")]).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (300, "PGRST201"));
        assert_eq!(
            e.details.as_ref().and_then(|d| d.as_array()).map(Vec::len),
            Some(2)
        );
        assert!(e
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("'posts!posts_author'")));
        let e = embed_read(Store::Pg, &[("select", "posts!nope(id)")]).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (400, "PGRST200"));
        let e = embed_read(Store::Pg, &[("select", "users(id)")]).unwrap_err();
        assert_eq!(e.code.as_str(), "PGRST200");
        // D1's unnamed key got Postgres's default name.
        assert!(blog(Store::D1)
            .foreign_keys
            .iter()
            .any(|k| k.name == "c\"--x_post_id_fkey" && k.ref_columns == ["id"]));
        // Without the schema (writes), embeds are refused.
        let w = Window {
            offset: 0,
            limit: 1,
            embed_limit: 1000,
        };
        assert!(super::read(
            Store::Pg,
            None,
            &pg_table(),
            &q(&[("select", "x(id)")]),
            w,
            None,
            false
        )
        .is_err());
    }

    #[test]
    fn limited_writes_pick_rows_by_key() {
        let f = q(&[("done", "is.true")]).filters;
        let l = Limited {
            order: q(&[("order", "title")]).order,
            offset: 0,
            limit: Some(2),
        };
        let d = delete(Store::D1, &table(), &f, Some(&l), None).unwrap();
        assert_eq!(d.sql, "DELETE FROM \"todos\" WHERE (\"id\") IN (SELECT \"id\" FROM \"todos\" WHERE \"done\" IS TRUE ORDER BY \"todos\".\"title\" ASC NULLS LAST, \"todos\".\"id\" ASC NULLS LAST LIMIT 2 OFFSET 0)");
        let keyless = TableSchema {
            primary_key: vec![],
            ..pg_table()
        };
        assert_eq!(
            delete(Store::Pg, &keyless, &f, Some(&l), None)
                .unwrap_err()
                .code,
            ErrorCode::RestParse
        );
    }

    #[test]
    fn glob_escapes_its_own_specials() {
        assert_eq!(glob_pattern("a*b%c_d?e[f]"), "a*b*c?d[?]e[[]f[]]");
    }

    #[test]
    fn inserts_chunk_for_d1_and_upsert() {
        let rows: Vec<Map<String, Value>> = (0..120)
            .map(|i| {
                json!({"id": i, "title": format!("t{i}")})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect();
        let cols = vec!["id".to_string(), "title".to_string()];
        let d1 = insert(
            Store::D1,
            &table(),
            &cols,
            &rows,
            &OnConflict::Merge(vec!["id".into()]),
            None,
        )
        .unwrap();
        assert_eq!(d1.len(), 3);
        assert!(d1.iter().all(|s| s.params.len() <= 100));
        assert!(
            d1[0]
                .sql
                .ends_with("ON CONFLICT (\"id\") DO UPDATE SET \"title\" = excluded.\"title\""),
            "{}",
            d1[0].sql
        );
        let pg = insert(
            Store::Pg,
            &pg_table(),
            &cols,
            &rows[..1],
            &OnConflict::Ignore(vec!["id".into()]),
            Some(&[]),
        )
        .unwrap();
        assert_eq!(pg[0].sql, "INSERT INTO \"public\".\"todos\" (\"id\", \"title\") VALUES ($1, $2) ON CONFLICT (\"id\") DO NOTHING RETURNING \"id\", \"title\", \"done\", \"we\"\"ird\"");
        assert_eq!(
            insert(
                Store::Pg,
                &pg_table(),
                &["nope".to_string()],
                &rows,
                &OnConflict::Error,
                None
            )
            .unwrap_err()
            .status(),
            400
        );
    }

    #[test]
    fn updates_and_deletes() {
        let set = json!({"title": "x", "done": true})
            .as_object()
            .unwrap()
            .clone();
        let f = q(&[("id", "eq.3")]).filters;
        let u = update(Store::D1, &table(), &set, &f, None, None).unwrap();
        assert_eq!(
            u.sql,
            "UPDATE \"todos\" SET \"title\" = ?1, \"done\" = ?2 WHERE \"id\" = ?3"
        );
        let d = delete(Store::Pg, &pg_table(), &f, None, Some(&[])).unwrap();
        assert!(d
            .sql
            .starts_with("DELETE FROM \"public\".\"todos\" WHERE \"id\" = $1 RETURNING"));
    }
}
