//! SQL for REST requests, for either store's dialect.
//!
//! Identifiers come only from the introspected [`TableSchema`] (a name in a
//! request is looked up there first, and quoted anyway); every value is a
//! bound parameter. The two dialects differ only in placeholders (`?N` vs
//! `$N`), `like` (SQLite's `LIKE` ignores case, so case-sensitive `like`
//! uses `GLOB` on D1) and nothing else: both support `NULLS FIRST/LAST`,
//! `IS TRUE`, `RETURNING` and `ON CONFLICT`.

use super::grammar::{Filter, IsValue, Op, OrderTerm, SelectItem, UrlQuery};
use super::schema::TableSchema;
use crate::error::{ApiError, ErrorCode};
use crate::sql::request::{Statement, D1_MAX_PARAMS};
use crate::sql::Store;
use serde_json::{Map, Value};

/// Quotes an identifier (`"a""b"`).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQL text and its parameters, with the dialect's placeholders.
struct Sql {
    store: Store,
    text: String,
    params: Vec<Value>,
}

impl Sql {
    fn new(store: Store) -> Sql {
        Sql {
            store,
            text: String::new(),
            params: Vec::new(),
        }
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

fn write_filter(sql: &mut Sql, table: &TableSchema, f: &Filter) -> Result<(), ApiError> {
    match f {
        Filter::Cond {
            column,
            negated,
            op,
        } => {
            let col = ident(&table.column(column)?.name);
            if *negated {
                sql.push("NOT (");
            }
            let cmp = |sql: &mut Sql, operator: &str, v: &str| {
                sql.push(&format!("{col} {operator} "));
                sql.bind(Value::String(v.to_string()));
            };
            match op {
                Op::Eq(v) => cmp(sql, "=", v),
                Op::Neq(v) => cmp(sql, "<>", v),
                Op::Gt(v) => cmp(sql, ">", v),
                Op::Gte(v) => cmp(sql, ">=", v),
                Op::Lt(v) => cmp(sql, "<", v),
                Op::Lte(v) => cmp(sql, "<=", v),
                Op::Like(v) => match sql.store {
                    Store::Pg => cmp(sql, "LIKE", &like_pattern(v)),
                    Store::D1 => cmp(sql, "GLOB", &glob_pattern(v)),
                },
                Op::Ilike(v) => match sql.store {
                    Store::Pg => cmp(sql, "ILIKE", &like_pattern(v)),
                    Store::D1 => cmp(sql, "LIKE", &like_pattern(v)),
                },
                Op::In(items) if items.is_empty() => sql.push("1 = 0"),
                Op::In(items) => {
                    sql.push(&format!("{col} IN ("));
                    for (i, v) in items.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.bind(Value::String(v.clone()));
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

fn write_where(
    sql: &mut Sql,
    table: &TableSchema,
    filters: &[Filter],
    extra: Option<&dyn Fn(&mut Sql)>,
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
        extra(sql);
    }
    Ok(())
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

/// The rows a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return (one more is fetched to learn whether more exist).
    pub limit: u64,
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

/// The ordering with tiebreakers that make it total: the primary key, or
/// every column when the table has none.
pub fn total_order(table: &TableSchema, order: &[OrderTerm]) -> Result<Vec<OrderTerm>, ApiError> {
    let mut terms = Vec::with_capacity(order.len() + table.primary_key.len());
    for t in order {
        let c = table.column(&t.column)?;
        terms.push(OrderTerm {
            column: c.name.clone(),
            ..t.clone()
        });
    }
    let keys: Vec<String> = if table.primary_key.is_empty() {
        table.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        table.primary_key.clone()
    };
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
/// optionally the count query.
pub fn read(
    store: Store,
    table: &TableSchema,
    q: &UrlQuery,
    window: Window,
    cursor: Option<&[Value]>,
    with_count: bool,
) -> Result<ReadPlan, ApiError> {
    let mut items = select_items(table, &q.select)?;
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
    if let Some(values) = cursor {
        if values.len() != order.len() {
            return Err(ApiError::new(
                ErrorCode::RestParse,
                "the cursor does not belong to this ordering",
            ));
        }
    }
    let mut sql = Sql::new(store);
    sql.push("SELECT ");
    write_select_list(&mut sql, &items);
    sql.push(&format!(" FROM {}", ident(&table.name)));
    let after = |s: &mut Sql| {
        if let Some(values) = cursor {
            write_after(s, table, &order, values);
        }
    };
    write_where(
        &mut sql,
        table,
        &q.filters,
        cursor.map(|_| &after as &dyn Fn(&mut Sql)),
    )?;
    sql.push(" ORDER BY ");
    for (i, t) in order.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&format!(
            "{} {} NULLS {}",
            ident(&t.column),
            if t.desc { "DESC" } else { "ASC" },
            if t.nulls_first_effective() {
                "FIRST"
            } else {
                "LAST"
            }
        ));
    }
    sql.push(&format!(
        " LIMIT {} OFFSET {}",
        window.limit.saturating_add(1),
        window.offset
    ));

    let count = if with_count {
        let mut c = Sql::new(store);
        c.push(&format!("SELECT count(*) AS n FROM {}", ident(&table.name)));
        write_where(&mut c, table, &q.filters, None)?;
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
        write_select_list(sql, &items);
    }
    Ok(())
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
            sql.push(&format!(
                "INSERT INTO {} DEFAULT VALUES",
                ident(&table.name)
            ));
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
            ident(&table.name),
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

/// Plans an update of the rows the filters match.
pub fn update(
    store: Store,
    table: &TableSchema,
    set: &Map<String, Value>,
    filters: &[Filter],
    select: Option<&[SelectItem]>,
) -> Result<Statement, ApiError> {
    let mut sql = Sql::new(store);
    sql.push(&format!("UPDATE {} SET ", ident(&table.name)));
    for (i, (k, v)) in set.iter().enumerate() {
        let c = table.column(k)?;
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&format!("{} = ", ident(&c.name)));
        sql.bind(v.clone());
    }
    write_where(&mut sql, table, filters, None)?;
    returning(&mut sql, table, select)?;
    Ok(sql.finish())
}

/// Plans a delete of the rows the filters match.
pub fn delete(
    store: Store,
    table: &TableSchema,
    filters: &[Filter],
    select: Option<&[SelectItem]>,
) -> Result<Statement, ApiError> {
    let mut sql = Sql::new(store);
    sql.push(&format!("DELETE FROM {}", ident(&table.name)));
    write_where(&mut sql, table, filters, None)?;
    returning(&mut sql, table, select)?;
    Ok(sql.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::schema::ColumnInfo;
    use serde_json::json;

    fn table() -> TableSchema {
        let col = |n: &str, nullable| ColumnInfo {
            name: n.into(),
            type_name: "text".into(),
            nullable,
        };
        TableSchema {
            name: "todos".into(),
            columns: vec![
                col("id", false),
                col("title", false),
                col("done", true),
                col("we\"ird", true),
            ],
            primary_key: vec!["id".into()],
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
        };
        let pg = read(Store::Pg, &table(), &query, w, None, true).unwrap();
        assert_eq!(
            pg.statement.sql,
            "SELECT \"id\", \"title\" AS \"t\" FROM \"todos\" WHERE \"title\" LIKE $1 AND (\"done\" IS TRUE OR \"id\" IN ($2, $3)) \
             ORDER BY \"title\" DESC NULLS FIRST, \"id\" ASC NULLS LAST LIMIT 11 OFFSET 5"
        );
        assert_eq!(
            pg.statement.params,
            vec![json!("%a%"), json!("1"), json!("2")]
        );
        assert_eq!(pg.order_keys, ["t", "id"]);
        assert_eq!(pg.count.unwrap().sql, "SELECT count(*) AS n FROM \"todos\" WHERE \"title\" LIKE $1 AND (\"done\" IS TRUE OR \"id\" IN ($2, $3))");
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
                &table(),
                &q(&pairs),
                Window {
                    offset: 0,
                    limit: 1,
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
            &table(),
            &query,
            Window {
                offset: 0,
                limit: 2,
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
                limit: 2
            },
            Some(&[json!(1), json!(2)]),
            false
        )
        .is_err());
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
            &table(),
            &cols,
            &rows[..1],
            &OnConflict::Ignore(vec!["id".into()]),
            Some(&[]),
        )
        .unwrap();
        assert_eq!(pg[0].sql, "INSERT INTO \"todos\" (\"id\", \"title\") VALUES ($1, $2) ON CONFLICT (\"id\") DO NOTHING RETURNING \"id\", \"title\", \"done\", \"we\"\"ird\"");
        assert_eq!(
            insert(
                Store::Pg,
                &table(),
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
        let u = update(Store::D1, &table(), &set, &f, None).unwrap();
        assert_eq!(
            u.sql,
            "UPDATE \"todos\" SET \"title\" = ?1, \"done\" = ?2 WHERE \"id\" = ?3"
        );
        let d = delete(Store::Pg, &table(), &f, Some(&[])).unwrap();
        assert!(d
            .sql
            .starts_with("DELETE FROM \"todos\" WHERE \"id\" = $1 RETURNING"));
    }
}
