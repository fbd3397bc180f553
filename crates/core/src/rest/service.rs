//! `/v1/rest/{table}` as one operation: the request becomes one [`Command`]
//! ([`Command::parse`]), and [`execute`] runs it through the [`SqlStores`]
//! seam and decides the whole response — status, `Content-Range`, `Link`,
//! `Preference-Applied`, 200 vs 206, 416, hidden tie-break columns.
//!
//! The table's store comes from `REST_TABLES` and the run-time placement
//! (`strata_placement`); its URL never changes when the table moves. While
//! a table is `moving`, reads are served from its source and writes answer
//! `503 table_moving` before any store is called. Access: `<store>:read` for `GET`/`HEAD`,
//! `<store>:write` for `POST`/`PATCH`/`DELETE`. A table that is not exposed,
//! or does not exist, is 404 either way.

use super::build::{self, Limited, OnConflict, Window};
use super::cursor;
use super::grammar::{decode_query, parse_error, Embed, OrderTerm, SelectItem, UrlQuery};
use super::headers::{self, Count, Prefer, Resolution, Return, Shape};
use super::placement::{Placement, State};
use super::schema::{Schema, TableSchema};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::http::{Reply, RequestHeaders};
use crate::percent;
use crate::sql::errors;
use crate::sql::request::{parse_json, Statement};
use crate::sql::result::SqlResult;
use crate::sql::Store;
use crate::store::{RunOptions, SqlStores};
use serde_json::{Map, Value};

/// The limits REST works within (`REST_MAX_ROWS`, `REST_MAX_INSERT_ROWS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rows one response returns.
    pub max_rows: u64,
    /// Most rows one insert takes.
    pub max_insert_rows: u64,
}

/// What a REST request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `GET` or `HEAD` (the shell drops the body of a `HEAD`).
    Read,
    /// `POST`: insert or upsert.
    Insert,
    /// `PATCH`.
    Update,
    /// `DELETE`.
    Delete,
}

/// One REST request, parsed and authorised; the table itself is looked up
/// in [`execute`] (that needs the store).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// What to do.
    pub action: Action,
    /// The table's store.
    pub store: Store,
    /// The table, percent-decoded.
    pub table: String,
    query: UrlQuery,
    prefer: Prefer,
    shape: Shape,
    /// `Range`/`Range-Unit` as `(offset, limit)`.
    range: Option<(u64, Option<u64>)>,
    /// The request URL up to its query, and the raw query pairs: the
    /// `Link` to the next page keeps them.
    url_base: String,
    raw_pairs: Vec<String>,
    limits: Limits,
}

/// How long a client refused by a moving table should wait, in seconds.
pub const MOVING_RETRY_AFTER_SECONDS: u32 = 5;

/// A REST write on a table that is moving: nothing was written.
fn table_moving(table: &str, since: Option<&str>) -> ApiError {
    ApiError::new(
        ErrorCode::TableMoving,
        "the table is moving between stores: reads are served, writes resume when the move ends",
    )
    .with_details(serde_json::json!({ "table": table, "since": since, "retryable": true }))
    .with_header("Retry-After", MOVING_RETRY_AFTER_SECONDS.to_string())
}

fn table_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such table")
        .with_details(serde_json::json!({ "pgrstCode": "PGRST205" }))
}

/// Every embedded table must be exposed and served by the parent's store:
/// the caller's scope for that store is what lets it read them, and one
/// statement cannot join two stores. A target that fails this is marked
/// rather than refused here, because it may still be a key column of the
/// parent (`manager:manager_id(...)`, which embeds nothing but the parent's
/// own table: see `Schema::column_relationship`); building the SQL refuses
/// it otherwise, with this reason.
fn check_embeds(embeds: &mut [Embed], store: Store, placement: &Placement) {
    for e in embeds {
        e.not_a_table = match placement.resolve(&e.target) {
            Some(p) if p.store == store => None,
            Some(_) => Some("it is served by another store: embedding works within one store"),
            None => Some("it is not exposed through REST"),
        };
        check_embeds(&mut e.query.embeds, store, placement);
    }
}

impl Command {
    /// Turns the request into a command: the table and its store, the
    /// scope check, the URL grammar and the headers. `url` is the request's
    /// full URL; `table` the raw path parameter.
    pub fn parse(
        method: &str,
        table: &str,
        url: &str,
        headers: &RequestHeaders,
        principal: &Principal,
        placement: &Placement,
        limits: Limits,
    ) -> Result<Command, ApiError> {
        let name = percent::decode_path(table).ok_or_else(table_not_found)?;
        let placed = placement.resolve(&name).ok_or_else(table_not_found)?;
        let store = placed.store;
        let action = match method {
            "GET" | "HEAD" => Action::Read,
            "POST" => Action::Insert,
            "PATCH" => Action::Update,
            "DELETE" => Action::Delete,
            _ => {
                return Err(ApiError::method_not_allowed(&[
                    "GET", "HEAD", "POST", "PATCH", "DELETE",
                ]))
            }
        };
        let write = action != Action::Read;
        principal.require(match (store, write) {
            (Store::D1, false) => Scope::D1Read,
            (Store::D1, true) => Scope::D1Write,
            (Store::Pg, false) => Scope::PgRead,
            (Store::Pg, true) => Scope::PgWrite,
        })?;
        let without_fragment = url.split('#').next().unwrap_or(url);
        let (url_base, raw_query) = match without_fragment.split_once('?') {
            Some((base, q)) => (base.to_string(), Some(q)),
            None => (without_fragment.to_string(), None),
        };
        let mut query = UrlQuery::parse(&decode_query(raw_query)?)?;
        if write && !query.embeds.is_empty() {
            return Err(parse_error("select", "embedding applies to reads only"));
        }
        check_embeds(&mut query.embeds, store, placement);
        let prefer = Prefer::from_request(headers)?;
        let shape = headers::parse_accept(headers.get("accept"))?;
        let range = match action {
            Action::Read => headers::parse_range(headers.get("range"), headers.get("range-unit"))?,
            _ => None,
        };
        if write && placed.state == State::Moving {
            return Err(table_moving(&name, placed.since.as_deref()));
        }
        let raw_pairs = raw_query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Command {
            action,
            store,
            table: name,
            query,
            prefer,
            shape,
            range,
            url_base,
            raw_pairs,
            limits,
        })
    }

    /// Checks a write against the placement again, once its body has been
    /// read: reading a body takes as long as the client likes, so a table
    /// that started moving meanwhile must not take the write (it could land
    /// on the source after the copy read it, and be lost at the flip).
    pub fn still_writable(&self, placement: &Placement) -> Result<(), ApiError> {
        if self.action == Action::Read {
            return Ok(());
        }
        match placement.resolve(&self.table) {
            Some(p) if p.state == State::Moving || p.store != self.store => {
                Err(table_moving(&self.table, p.since.as_deref()))
            }
            Some(_) => Ok(()),
            None => Err(table_not_found()),
        }
    }

    /// Whether [`execute`] needs the request's JSON body.
    pub fn needs_body(&self) -> bool {
        matches!(self.action, Action::Insert | Action::Update)
    }

    /// The `RETURNING` list when the client asked for the rows back, with
    /// any `order` column it lacks added under a hidden name; and how to
    /// sort the rows.
    fn returning(
        &self,
        table: &TableSchema,
    ) -> Result<(Option<Vec<SelectItem>>, Vec<SortKey>), ApiError> {
        if self.prefer.return_ != Return::Representation {
            return Ok((None, Vec::new()));
        }
        let mut select = self.query.select.clone();
        let mut keys = Vec::new();
        for (i, t) in self.query.order.iter().enumerate() {
            let c = table.column(&t.column)?;
            let numeric = ["int", "num", "dec", "real", "doub", "floa", "serial"]
                .iter()
                .any(|w| c.type_name.to_ascii_lowercase().contains(w));
            let shown = if self.query.select.is_empty() {
                Some(c.name.clone())
            } else {
                select
                    .iter()
                    .find(|s| s.column == c.name)
                    .map(|s| s.alias.clone().unwrap_or_else(|| s.column.clone()))
            };
            let (key, hidden) = match shown {
                Some(k) => (k, false),
                None => {
                    let alias = format!("__strata_k{i}");
                    select.push(SelectItem {
                        column: c.name.clone(),
                        alias: Some(alias.clone()),
                    });
                    (alias, true)
                }
            };
            keys.push(SortKey {
                key,
                term: t.clone(),
                numeric,
                hidden,
            });
        }
        Ok((Some(select), keys))
    }

    /// The URL of the page after this one, with `name=value` replacing any
    /// `cursor`/`offset` of this request; every other parameter is kept as
    /// the client wrote it.
    fn next_url(&self, name: &str, value: &str) -> String {
        let mut pairs: Vec<&str> = self
            .raw_pairs
            .iter()
            .map(String::as_str)
            .filter(|p| {
                let key = p.split('=').next().unwrap_or("");
                let key = percent::decode(key, true).unwrap_or_default();
                key != "cursor" && key != "offset"
            })
            .collect();
        let last = format!("{name}={value}");
        pairs.push(&last);
        format!("{}?{}", self.url_base, pairs.join("&"))
    }
}

/// Runs a command: the table's schema and the statements through `stores`,
/// the reply decided here. `body` is the request's JSON body for inserts and
/// updates. A database error loses the fields that describe Strata's SQL
/// rather than the request ([`errors::for_rest`]).
pub async fn execute<S: SqlStores>(
    cmd: &Command,
    body: Option<&[u8]>,
    stores: &S,
) -> Result<Reply, ApiError> {
    run_command(cmd, body, stores)
        .await
        .map_err(errors::for_rest)
}

async fn run_command<S: SqlStores>(
    cmd: &Command,
    body: Option<&[u8]>,
    stores: &S,
) -> Result<Reply, ApiError> {
    let schema = stores.schema(cmd.store, &cmd.table).await?;
    let table = schema.table(&cmd.table).ok_or_else(table_not_found)?;
    let result = match cmd.action {
        Action::Read => read(cmd, &schema, table, stores).await,
        Action::Insert => insert(cmd, table, body, stores).await,
        Action::Update => update(cmd, table, body, stores).await,
        Action::Delete => delete(cmd, table, stores).await,
    };
    if let Err(e) = &result {
        // The schema may have changed under us: introspect again next time.
        if matches!(
            e.code,
            ErrorCode::UndefinedColumn | ErrorCode::UndefinedTable
        ) {
            stores.forget_schema(cmd.store);
        }
    }
    result
}

pub(super) fn reply(
    status: u16,
    body: Option<&Value>,
    extra: Vec<(&'static str, String)>,
) -> Reply {
    let mut r = match body {
        Some(body) => Reply::json_as(status, "application/json; charset=utf-8", body),
        None => Reply::empty(status),
    };
    r.headers.extend(extra);
    r
}

fn singular(mut rows: Vec<Value>) -> Result<Value, ApiError> {
    let n = rows.len();
    match (n, rows.pop()) {
        (1, Some(row)) => Ok(row),
        _ => Err(ApiError::new(
            ErrorCode::RestNotSingular,
            "JSON object requested, multiple (or no) rows returned",
        )
        .with_details(serde_json::json!({ "rows": n }))),
    }
}

pub(super) fn body_for(rows: Vec<Value>, shape: Shape) -> Result<Value, ApiError> {
    match shape {
        Shape::Array | Shape::Csv => Ok(Value::Array(rows)),
        Shape::Single => singular(rows),
    }
}

/// Rows as the client accepts them: JSON (an array or one object) or CSV.
pub(super) fn respond(
    status: u16,
    rows: Vec<Value>,
    shape: Shape,
    extra: Vec<(&'static str, String)>,
) -> Result<Reply, ApiError> {
    if shape != Shape::Csv {
        return Ok(reply(status, Some(&body_for(rows, shape)?), extra));
    }
    let mut r = Reply {
        status,
        headers: vec![("content-type", "text/csv; charset=utf-8".to_string())],
        body: Some(csv(&rows).into_bytes()),
    };
    r.headers.extend(extra);
    Ok(r)
}

/// RFC 4180 CSV: a header line of the first row's keys, then the rows;
/// NULL is an empty field, embedded JSON is its text.
fn csv(rows: &[Value]) -> String {
    let field = |v: &Value| {
        let text = match v {
            Value::Null => return String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.contains(['"', ',', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let Some(Value::Object(first)) = rows.first() else {
        return String::new();
    };
    let keys: Vec<&String> = first.keys().collect();
    let mut out = keys
        .iter()
        .map(|k| field(&Value::String((*k).clone())))
        .collect::<Vec<_>>()
        .join(",");
    for row in rows {
        out.push_str("\r\n");
        out.push_str(
            &keys
                .iter()
                .map(|k| field(&row[k.as_str()]))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    out
}

/// The total a count statement answered: `count(*)`, or the planner's
/// row estimate from `EXPLAIN (FORMAT JSON)` (`planned`).
fn counted(result: Option<SqlResult>, planned: bool) -> Result<u64, ApiError> {
    let row = result
        .and_then(|r| r.rows.into_iter().next())
        .ok_or_else(ApiError::internal)?;
    let number = |n: &Value| {
        n.as_u64()
            .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
    };
    if !planned {
        return number(&row["n"]).ok_or_else(ApiError::internal);
    }
    let plan = match &row["QUERY PLAN"] {
        Value::String(s) => serde_json::from_slice(s.as_bytes()).unwrap_or(Value::Null),
        v => v.clone(),
    };
    plan[0]["Plan"]["Plan Rows"]
        .as_f64()
        .map(|n| n.max(0.0) as u64)
        .ok_or_else(ApiError::internal)
}

async fn read<S: SqlStores>(
    cmd: &Command,
    schema: &Schema,
    table: &TableSchema,
    stores: &S,
) -> Result<Reply, ApiError> {
    let (q, prefer, range) = (&cmd.query, &cmd.prefer, cmd.range);
    let max_rows = cmd.limits.max_rows;
    if q.cursor.is_some() && (q.offset.is_some() || range.is_some_and(|(o, _)| o > 0)) {
        return Err(parse_error(
            "cursor",
            "a cursor cannot be combined with offset or a Range start",
        ));
    }
    let offset = q.offset.or(range.map(|(o, _)| o)).unwrap_or(0);
    let limit = [q.limit, range.and_then(|(_, l)| l), Some(max_rows)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(max_rows);
    // Refused before the cursor is even read: the reason is the table, not the cursor.
    let keyset = build::keyset_allowed(table);
    if q.cursor.is_some() {
        keyset.clone()?;
    }
    let order = build::total_order(table, &q.order)?;
    let signature = build::order_signature(&order);
    let cursor_values = q
        .cursor
        .as_deref()
        .map(|c| cursor::decode(c, &signature))
        .transpose()?;
    let plan = build::read(
        cmd.store,
        Some(schema),
        table,
        q,
        Window {
            offset,
            limit,
            embed_limit: max_rows,
        },
        cursor_values.as_deref(),
        prefer.count.is_some(),
    )?;
    // D1 has no planner estimates: every count there is exact.
    let count = prefer
        .count
        .filter(|_| cmd.store == Store::Pg)
        .unwrap_or(Count::Exact);
    let mut statements = vec![plan.statement.clone()];
    if let Some(st) = &plan.count {
        statements.push(match count {
            Count::Exact => st.clone(),
            _ => build::planned(st),
        });
    }
    let mut results = stores.run(cmd.store, &statements, RunOptions::READ).await?;
    let mut exact = count == Count::Exact;
    let mut total = match &plan.count {
        Some(_) => Some(counted(results.pop(), !exact)?),
        None => None,
    };
    if let (Count::Estimated, Some(st), Some(t)) = (count, &plan.count, total) {
        if t <= max_rows {
            // Few rows by the planner's guess: count them exactly.
            let mut c = stores
                .run(cmd.store, std::slice::from_ref(st), RunOptions::READ)
                .await?;
            total = Some(counted(c.pop(), false)?);
            exact = true;
        }
    }
    let mut rows = results.pop().ok_or_else(ApiError::internal)?.rows;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));

    let mut extra: Vec<(&'static str, String)> = Vec::new();
    if let Some(total) = total.filter(|_| exact) {
        if offset > 0 && offset >= total && rows.is_empty() && cursor_values.is_none() {
            return Err(ApiError::new(
                ErrorCode::RestRangeNotSatisfiable,
                "the requested range starts after the last row",
            )
            .with_details(serde_json::json!({ "total": total }))
            .with_header("Content-Range", format!("*/{total}")));
        }
    }
    if more {
        if let Some(last) = rows.last() {
            // A table whose rows a cursor cannot tell apart is continued by
            // offset instead: a client that follows `Link` until it is gone
            // still sees every row (unless rows change meanwhile).
            let next = if keyset.is_ok() {
                let values: Vec<Value> = plan.order_keys.iter().map(|k| last[k].clone()).collect();
                cmd.next_url("cursor", &cursor::encode(&signature, values))
            } else {
                cmd.next_url("offset", &offset.saturating_add(limit).to_string())
            };
            extra.push(("link", format!("<{next}>; rel=\"next\"")));
        }
    }
    for row in rows.iter_mut() {
        if let Some(obj) = row.as_object_mut() {
            for h in &plan.hidden {
                obj.shift_remove(h);
            }
            // D1 answers an embed's JSON as text; Postgres as JSON already.
            for e in &q.embeds {
                if let Some(v) = obj.get_mut(e.key()) {
                    if let Some(parsed) = v
                        .as_str()
                        .and_then(|t| serde_json::from_slice(t.as_bytes()).ok())
                    {
                        *v = parsed;
                    }
                }
            }
        }
    }
    let returned = rows.len() as u64;
    extra.push((
        "content-range",
        headers::content_range(offset, returned, total),
    ));
    extra.push(("range-unit", "items".to_string()));
    if !prefer.applied.is_empty() {
        extra.push(("preference-applied", prefer.applied.join(", ")));
    }
    let partial = total.is_some_and(|t| offset > 0 || offset + returned < t);
    respond(if partial { 206 } else { 200 }, rows, cmd.shape, extra)
}

/// One `order` term applied to a write's returned rows.
#[derive(Debug, Clone)]
struct SortKey {
    key: String,
    term: OrderTerm,
    numeric: bool,
    hidden: bool,
}

/// Orders a representation as `order` asks, with SQL's rules for NULLs
/// (numbers compare as numbers, also when the store sent them as text).
fn sort_rows(rows: &mut [Value], keys: &[SortKey]) {
    use std::cmp::Ordering;
    let number = |v: &Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    crate::sort::sort_by(rows, |a, b| {
        for k in keys {
            let (x, y) = (&a[&k.key], &b[&k.key]);
            let o = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) if k.term.nulls_first_effective() => Ordering::Less,
                (true, false) => Ordering::Greater,
                (false, true) if k.term.nulls_first_effective() => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    let o = match (k.numeric, number(x), number(y)) {
                        (true, Some(m), Some(n)) => m.partial_cmp(&n).unwrap_or(Ordering::Equal),
                        _ => match (x.as_str(), y.as_str()) {
                            (Some(m), Some(n)) => m.cmp(n),
                            _ => x.to_string().cmp(&y.to_string()),
                        },
                    };
                    if k.term.desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    for row in rows.iter_mut() {
        if let Some(obj) = row.as_object_mut() {
            for k in keys.iter().filter(|k| k.hidden) {
                obj.shift_remove(&k.key);
            }
        }
    }
}

/// Runs write statements (atomically) and answers as `Prefer` asked, the
/// returned rows in the requested order.
async fn write<S: SqlStores>(
    cmd: &Command,
    statements: &[Statement],
    created: bool,
    sort: &[SortKey],
    stores: &S,
) -> Result<Reply, ApiError> {
    let mut results = stores
        .run(cmd.store, statements, RunOptions::WRITE)
        .await
        .map_err(|e| ApiError::from(e).for_write())?;
    if !sort.is_empty() && cmd.prefer.return_ == Return::Representation {
        let mut rows: Vec<Value> = results.iter_mut().flat_map(|r| r.rows.drain(..)).collect();
        sort_rows(&mut rows, sort);
        if let Some(first) = results.first_mut() {
            first.rows = rows;
        }
    }
    write_reply(results, &cmd.prefer, cmd.shape, created)
}

fn write_reply(
    results: Vec<SqlResult>,
    prefer: &Prefer,
    shape: Shape,
    created: bool,
) -> Result<Reply, ApiError> {
    let mut extra: Vec<(&'static str, String)> = Vec::new();
    if !prefer.applied.is_empty() {
        extra.push(("preference-applied", prefer.applied.join(", ")));
    }
    match prefer.return_ {
        Return::Representation => {
            let rows: Vec<Value> = results.into_iter().flat_map(|r| r.rows).collect();
            extra.push((
                "content-range",
                headers::content_range(0, rows.len() as u64, None),
            ));
            respond(if created { 201 } else { 200 }, rows, shape, extra)
        }
        Return::Minimal => {
            let affected: u64 = results.iter().map(|r| r.row_count).sum();
            extra.push(("content-range", headers::content_range(0, affected, None)));
            Ok(reply(if created { 201 } else { 204 }, None, extra))
        }
    }
}

/// A write takes `order` (for its returned rows); `PATCH` and `DELETE`
/// also `limit`/`offset` (a limited write: only those rows of the ordering
/// change); a cursor is for reads only.
fn write_window(q: &UrlQuery, what: &str) -> Result<Option<Limited>, ApiError> {
    let limited = q.limit.is_some() || q.offset.is_some();
    if q.cursor.is_some() || (limited && what == "POST") {
        return Err(parse_error(
            what,
            "cursor applies to reads only, and limit and offset to reads, PATCH and DELETE",
        ));
    }
    Ok(limited.then(|| Limited {
        order: q.order.clone(),
        offset: q.offset.unwrap_or(0),
        limit: q.limit,
    }))
}

fn json_body(body: Option<&[u8]>) -> Result<Value, ApiError> {
    parse_json(body.unwrap_or_default())
}

async fn insert<S: SqlStores>(
    cmd: &Command,
    table: &TableSchema,
    body: Option<&[u8]>,
    stores: &S,
) -> Result<Reply, ApiError> {
    let q = &cmd.query;
    write_window(q, "POST")?;
    let (select, sort) = cmd.returning(table)?;
    if !q.filters.is_empty() {
        return Err(parse_error("POST", "filters do not apply to inserts"));
    }
    let rows: Vec<Map<String, Value>> = match json_body(body)? {
        Value::Object(o) => vec![o],
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Object(o) => Ok(o),
                _ => Err(parse_error("body", "an array body must hold only objects")),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(parse_error(
                "body",
                "the body must be an object or an array of objects",
            ))
        }
    };
    // Checked before anything is planned or sent: an oversized insert
    // writes nothing (one statement batch per request is all or nothing anyway).
    build::check_insert_rows(rows.len(), cmd.limits.max_insert_rows)?;
    if rows.is_empty() {
        return write_reply(Vec::new(), &cmd.prefer, cmd.shape, true);
    }
    let columns: Vec<String> = if q.columns.is_empty() {
        let mut seen: Vec<String> = Vec::new();
        for row in &rows {
            for k in row.keys() {
                if !seen.contains(k) {
                    seen.push(k.clone());
                }
            }
        }
        seen
    } else {
        q.columns.clone()
    };
    let targets = if q.on_conflict.is_empty() {
        table.primary_key.clone()
    } else {
        q.on_conflict.clone()
    };
    let conflict = match cmd.prefer.resolution {
        None => OnConflict::Error,
        Some(Resolution::MergeDuplicates) => OnConflict::Merge(targets),
        Some(Resolution::IgnoreDuplicates) => OnConflict::Ignore(targets),
    };
    // `missing=default`: rows are grouped by the keys they have, each group
    // inserted naming only those columns, so the others take their defaults
    // (SQLite has no `DEFAULT` in `VALUES`). All in one atomic batch.
    type Group = (Vec<String>, Vec<Map<String, Value>>);
    let mut groups: Vec<Group> = Vec::new();
    for row in rows {
        let cols: Vec<String> = match cmd.prefer.missing_default {
            true => columns
                .iter()
                .filter(|c| row.contains_key(*c))
                .cloned()
                .collect(),
            false => columns.clone(),
        };
        match groups.iter_mut().find(|g| g.0 == cols) {
            Some(g) => g.1.push(row),
            None => groups.push((cols, vec![row])),
        }
    }
    let mut statements = Vec::new();
    for (cols, rows) in &groups {
        statements.extend(build::insert(
            cmd.store,
            table,
            cols,
            rows,
            &conflict,
            select.as_deref(),
        )?);
    }
    write(cmd, &statements, true, &sort, stores).await
}

async fn update<S: SqlStores>(
    cmd: &Command,
    table: &TableSchema,
    body: Option<&[u8]>,
    stores: &S,
) -> Result<Reply, ApiError> {
    let q = &cmd.query;
    let limited = write_window(q, "PATCH")?;
    let (select, sort) = cmd.returning(table)?;
    if q.filters.is_empty() {
        return Err(parse_error(
            "PATCH",
            "a PATCH without filters would change every row; add a filter",
        )
        .with_hint("to change every row on purpose, filter on a condition every row meets"));
    }
    let set = match json_body(body)? {
        Value::Object(o) if !o.is_empty() => o,
        _ => {
            return Err(parse_error(
                "body",
                "PATCH needs a non-empty object of columns to set",
            ))
        }
    };
    let statement = build::update(
        cmd.store,
        table,
        &set,
        &q.filters,
        limited.as_ref(),
        select.as_deref(),
    )?;
    write(cmd, &[statement], false, &sort, stores).await
}

async fn delete<S: SqlStores>(
    cmd: &Command,
    table: &TableSchema,
    stores: &S,
) -> Result<Reply, ApiError> {
    let q = &cmd.query;
    let limited = write_window(q, "DELETE")?;
    let (select, sort) = cmd.returning(table)?;
    if q.filters.is_empty() {
        return Err(parse_error(
            "DELETE",
            "a DELETE without filters would remove every row; add a filter",
        ));
    }
    let statement = build::delete(
        cmd.store,
        table,
        &q.filters,
        limited.as_ref(),
        select.as_deref(),
    )?;
    write(cmd, &[statement], false, &sort, stores).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::schema::Schema;
    use crate::store::StoreError;
    use crate::testing::block_on;
    use serde_json::json;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// Postgres's introspection rows for `todos(id pk, title)` and a
    /// keyless `notes(body)`.
    fn schema() -> Rc<Schema> {
        let col = |t: &str, c: &str, pk: u64| json!({"s": "public", "t": t, "c": c, "ty": "text", "nn": pk > 0, "pk": pk});
        Rc::new(Schema::from_rows(
            Store::Pg,
            &[
                col("todos", "id", 1),
                col("todos", "title", 0),
                col("notes", "body", 0),
            ],
        ))
    }

    /// An in-memory `SqlStores`: answers each `run` with the next scripted
    /// outcome and records what it was asked.
    struct Fake {
        answers: RefCell<VecDeque<Result<Vec<SqlResult>, StoreError>>>,
        ran: RefCell<Vec<(Vec<Statement>, RunOptions)>>,
        forgotten: RefCell<u32>,
    }

    impl Fake {
        fn new(answers: Vec<Result<Vec<SqlResult>, StoreError>>) -> Fake {
            Fake {
                answers: RefCell::new(answers.into()),
                ran: RefCell::new(Vec::new()),
                forgotten: RefCell::new(0),
            }
        }
    }

    impl SqlStores for Fake {
        async fn run(
            &self,
            _store: Store,
            statements: &[Statement],
            options: RunOptions,
        ) -> Result<Vec<SqlResult>, StoreError> {
            self.ran.borrow_mut().push((statements.to_vec(), options));
            self.answers
                .borrow_mut()
                .pop_front()
                .unwrap_or_else(|| Err(StoreError::unavailable("neon", "no scripted answer")))
        }

        async fn schema(&self, _store: Store, _table: &str) -> Result<Rc<Schema>, StoreError> {
            Ok(schema())
        }

        fn forget_schema(&self, _store: Store) {
            *self.forgotten.borrow_mut() += 1;
        }
    }

    fn rows(rows: Vec<Value>) -> SqlResult {
        SqlResult {
            columns: Vec::new(),
            row_count: rows.len() as u64,
            rows,
            meta: Map::new(),
        }
    }

    fn principal(scopes: &[Scope]) -> Principal {
        Principal {
            key_id: "k".into(),
            scopes: scopes.to_vec(),
        }
    }

    fn command(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<Command, ApiError> {
        let table = url
            .trim_start_matches("https://h/v1/rest/")
            .split('?')
            .next()
            .unwrap_or("");
        let headers =
            RequestHeaders::new(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        Command::parse(
            method,
            table,
            url,
            &headers,
            &principal(&[Scope::PgWrite]),
            &Placement::parse(Some(r#"{"*": "pg"}"#))?,
            Limits {
                max_rows: 1000,
                max_insert_rows: 3,
            },
        )
    }

    #[test]
    fn embeds_of_unexposed_names_may_only_be_key_columns() {
        let parse = |url: &str| {
            Command::parse(
                "GET",
                "staff",
                url,
                &RequestHeaders::default(),
                &principal(&[Scope::Admin]),
                &Placement::parse(Some(r#"{"staff": "d1", "notes": "pg"}"#))?,
                Limits {
                    max_rows: 10,
                    max_insert_rows: 10,
                },
            )
        };
        let cmd = parse("https://h/v1/rest/staff?select=id,staff(id),boss:boss_id(id,staff(id))")
            .unwrap();
        let marks: Vec<(bool, bool)> = cmd
            .query
            .embeds
            .iter()
            .map(|e| {
                (
                    e.not_a_table.is_some(),
                    e.query.embeds.iter().any(|c| c.not_a_table.is_some()),
                )
            })
            .collect();
        assert_eq!(marks, [(false, false), (true, false)]);
        let cmd = parse("https://h/v1/rest/staff?select=id,boss:boss_id(id,notes(id))").unwrap();
        let notes = &cmd.query.embeds[0].query.embeds[0];
        assert!(notes
            .not_a_table
            .is_some_and(|why| why.contains("another store")));
    }

    fn run(cmd: &Command, body: Option<&str>, fake: &Fake) -> Result<Reply, ApiError> {
        block_on(execute(cmd, body.map(str::as_bytes), fake))
    }

    #[test]
    fn a_full_page_links_the_next_by_cursor_keeping_other_parameters() {
        let cmd = command(
            "GET",
            "https://h/v1/rest/todos?select=id&limit=2&title=like.a*",
            &[],
        )
        .unwrap();
        // limit + 1 rows come back: there is more.
        let fake = Fake::new(vec![Ok(vec![rows(vec![
            json!({"id": "1"}),
            json!({"id": "2"}),
            json!({"id": "3"}),
        ])])]);
        let r = run(&cmd, None, &fake).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json_body(), Some(json!([{"id": "1"}, {"id": "2"}])));
        assert_eq!(r.header("content-range"), Some("0-1/*"));
        let link = r.header("link").unwrap();
        assert!(
            link.starts_with("<https://h/v1/rest/todos?select=id&limit=2&title=like.a*&cursor="),
            "{link}"
        );
        assert!(link.ends_with(">; rel=\"next\""), "{link}");
        let (ran, options) = fake.ran.borrow()[0].clone();
        assert_eq!(options, RunOptions::READ);
        assert!(ran[0].sql.contains("LIMIT"), "{}", ran[0].sql);
    }

    #[test]
    fn the_last_page_has_no_link_and_a_keyless_table_continues_by_offset() {
        let cmd = command("GET", "https://h/v1/rest/todos?limit=2", &[]).unwrap();
        let fake = Fake::new(vec![Ok(vec![rows(vec![json!({"id": "1"})])])]);
        let r = run(&cmd, None, &fake).unwrap();
        assert_eq!(r.header("link"), None);

        let cmd = command("GET", "https://h/v1/rest/notes?limit=1&offset=4", &[]).unwrap();
        let fake = Fake::new(vec![Ok(vec![rows(vec![
            json!({"body": "a"}),
            json!({"body": "b"}),
        ])])]);
        let r = run(&cmd, None, &fake).unwrap();
        assert_eq!(
            r.header("link"),
            Some("<https://h/v1/rest/notes?limit=1&offset=5>; rel=\"next\"")
        );
        // ... and a cursor on it is refused before any store call.
        let cmd = command("GET", "https://h/v1/rest/notes?cursor=abc", &[]).unwrap();
        let fake = Fake::new(vec![]);
        assert_eq!(
            run(&cmd, None, &fake).unwrap_err().code,
            ErrorCode::RestParse
        );
        assert!(fake.ran.borrow().is_empty());
    }

    #[test]
    fn counts_give_206_for_part_and_416_past_the_end() {
        let count = |n: u64| rows(vec![json!({"n": n.to_string()})]);
        let headers = [("prefer", "count=exact"), ("range", "2-3")];
        let cmd = command("GET", "https://h/v1/rest/todos", &headers).unwrap();
        let fake = Fake::new(vec![Ok(vec![
            rows(vec![json!({"id": "3"}), json!({"id": "4"})]),
            count(10),
        ])]);
        let r = run(&cmd, None, &fake).unwrap();
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-range"), Some("2-3/10"));
        assert_eq!(r.header("preference-applied"), Some("count=exact"));

        let cmd = command(
            "GET",
            "https://h/v1/rest/todos?offset=10",
            &[("prefer", "count=exact")],
        )
        .unwrap();
        let fake = Fake::new(vec![Ok(vec![rows(vec![]), count(10)])]);
        let e = run(&cmd, None, &fake).unwrap_err();
        assert_eq!(e.status(), 416);
        assert_eq!(e.headers, vec![("Content-Range", "*/10".to_string())]);

        // Everything in one page with a count: 200.
        let cmd = command(
            "GET",
            "https://h/v1/rest/todos",
            &[("prefer", "count=exact")],
        )
        .unwrap();
        let fake = Fake::new(vec![Ok(vec![rows(vec![json!({"id": "1"})]), count(1)])]);
        assert_eq!(run(&cmd, None, &fake).unwrap().status, 200);
    }

    #[test]
    fn writes_answer_as_prefer_asks() {
        let cmd = command("POST", "https://h/v1/rest/todos", &[]).unwrap();
        assert!(cmd.needs_body());
        let fake = Fake::new(vec![Ok(vec![rows(vec![])])]);
        let r = run(&cmd, Some(r#"{"id": "1", "title": "a"}"#), &fake).unwrap();
        assert_eq!((r.status, r.body.as_ref()), (201, None));
        assert_eq!(fake.ran.borrow()[0].1, RunOptions::WRITE);

        let cmd = command(
            "PATCH",
            "https://h/v1/rest/todos?id=eq.1",
            &[("prefer", "return=representation")],
        )
        .unwrap();
        let fake = Fake::new(vec![Ok(vec![rows(vec![json!({"id": "1", "title": "b"})])])]);
        let r = run(&cmd, Some(r#"{"title": "b"}"#), &fake).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json_body(), Some(json!([{"id": "1", "title": "b"}])));

        // Over the row cap, or without filters: refused, nothing run.
        let cmd = command("POST", "https://h/v1/rest/todos", &[]).unwrap();
        let fake = Fake::new(vec![]);
        let e = run(
            &cmd,
            Some(r#"[{"id":"1"},{"id":"2"},{"id":"3"},{"id":"4"}]"#),
            &fake,
        )
        .unwrap_err();
        assert_eq!(e.status(), 413);
        let cmd = command("DELETE", "https://h/v1/rest/todos", &[]).unwrap();
        assert_eq!(
            run(&cmd, None, &fake).unwrap_err().code,
            ErrorCode::RestParse
        );
        assert!(fake.ran.borrow().is_empty());
    }

    #[test]
    fn store_failures_map_once_and_write_timeouts_are_not_retryable() {
        let read = command("GET", "https://h/v1/rest/todos", &[]).unwrap();
        let write = command("DELETE", "https://h/v1/rest/todos?id=eq.1", &[]).unwrap();
        let timeout = || Err(StoreError::Timeout { store: "neon" });

        let e = run(&read, None, &Fake::new(vec![timeout()])).unwrap_err();
        assert_eq!(e.status(), 504);
        assert_eq!(
            e.details.as_ref().map(|d| d["retryable"].clone()),
            Some(json!(true))
        );
        let e = run(&write, None, &Fake::new(vec![timeout()])).unwrap_err();
        assert_eq!(e.status(), 504);
        assert_eq!(
            e.details.as_ref().map(|d| d["retryable"].clone()),
            Some(json!(false))
        );

        let down = Err(StoreError::unavailable(
            "neon",
            "connect ECONNREFUSED 10.1.2.3:5432",
        ));
        let e = run(&read, None, &Fake::new(vec![down])).unwrap_err();
        assert_eq!(e.status(), 503);
        assert_eq!(e.headers, vec![("Retry-After", "1".to_string())]);
        assert!(!e.body().contains("10.1.2.3"));

        // A column the cached schema has but the table lost: forget the schema.
        let gone = ApiError::new(
            ErrorCode::UndefinedColumn,
            "column \"title\" does not exist",
        );
        let fake = Fake::new(vec![Err(StoreError::Refused(gone))]);
        assert_eq!(run(&read, None, &fake).unwrap_err().status(), 400);
        assert_eq!(*fake.forgotten.borrow(), 1);
    }

    #[test]
    fn database_errors_lose_the_fields_that_describe_strata_sql() {
        use crate::neon::ErrorBody;
        use crate::sql::errors::{from_neon, Mapped};
        // A trigger on the table failed inside its own SQL.
        let body = ErrorBody {
            message: "duplicate key value violates unique constraint \"audit_pkey\"".into(),
            code: "23505".into(),
            detail: Some("Key (id)=(1) already exists.".into()),
            position: Some("30".into()),
            table: Some("audit".into()),
            constraint: Some("audit_pkey".into()),
            where_: Some("SQL statement \"INSERT INTO audit VALUES (NEW.id)\" PL/pgSQL function log() line 2".into()),
            ..ErrorBody::default()
        };
        let Mapped::Client(refused) = from_neon(&body) else {
            panic!("a unique violation is the client's")
        };
        let cmd = command("POST", "https://h/v1/rest/todos", &[]).unwrap();
        let fake = Fake::new(vec![Err(StoreError::Refused(refused))]);
        let e = run(&cmd, Some(r#"{"id": "1"}"#), &fake).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (409, "unique_violation"));
        assert_eq!(
            e.details,
            Some(json!({"sqlstate": "23505", "detail": "Key (id)=(1) already exists."}))
        );
        assert!(!e.body().contains("audit VALUES"), "{}", e.body());
    }

    #[test]
    fn tables_and_scopes_are_checked_before_any_store_call() {
        let placement = Placement::parse(Some(r#"{"todos": "pg"}"#)).unwrap();
        let limits = Limits {
            max_rows: 10,
            max_insert_rows: 10,
        };
        let parse = |method: &str, table: &str, scopes: &[Scope]| {
            Command::parse(
                method,
                table,
                &format!("https://h/v1/rest/{table}"),
                &RequestHeaders::default(),
                &principal(scopes),
                &placement,
                limits,
            )
        };
        assert!(parse("GET", "todos", &[Scope::PgRead]).is_ok());
        assert_eq!(
            parse("POST", "todos", &[Scope::PgRead])
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            parse("GET", "todos", &[Scope::D1Write])
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            parse("GET", "secrets", &[Scope::Admin])
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            parse("GET", "%ZZ", &[Scope::Admin]).unwrap_err().status(),
            404
        );
    }

    #[test]
    fn a_moving_table_serves_reads_from_its_source_and_refuses_writes() {
        use super::super::placement::RuntimeEntry;
        let placement = Placement::parse(Some(r#"{"todos": "pg"}"#))
            .unwrap()
            .with_runtime(vec![RuntimeEntry {
                table: "todos".into(),
                store: Store::D1,
                state: State::Moving,
                since: "2026-11-30T10:00:00Z".into(),
                source: Some(Store::D1),
                target: Some(Store::Pg),
                updated_at: "2026-11-30T10:00:00Z".into(),
            }]);
        let limits = Limits {
            max_rows: 10,
            max_insert_rows: 10,
        };
        let parse = |method: &str| {
            Command::parse(
                method,
                "todos",
                "https://h/v1/rest/todos",
                &RequestHeaders::default(),
                &principal(&[Scope::Admin]),
                &placement,
                limits,
            )
        };
        // The run-time row overrides the setting: reads go to its store.
        assert_eq!(parse("GET").unwrap().store, Store::D1);
        for method in ["POST", "PATCH", "DELETE"] {
            let e = parse(method).unwrap_err();
            assert_eq!((e.status(), e.code.as_str()), (503, "table_moving"));
            assert_eq!(e.headers, vec![("Retry-After", "5".to_string())]);
            let details = e.details.clone().unwrap();
            assert_eq!(details["since"], "2026-11-30T10:00:00Z");
        }
        // A write parsed while the table was ready is refused if the table
        // started moving (or moved) while its body was being read.
        let ready = Placement::parse(Some(r#"{"todos": "d1"}"#)).unwrap();
        let write = Command::parse(
            "POST",
            "todos",
            "https://h/v1/rest/todos",
            &RequestHeaders::default(),
            &principal(&[Scope::Admin]),
            &ready,
            limits,
        )
        .unwrap();
        assert!(write.still_writable(&ready).is_ok());
        assert_eq!(write.still_writable(&placement).unwrap_err().status(), 503);
        let moved = Placement::parse(Some(r#"{"todos": "pg"}"#)).unwrap();
        assert_eq!(write.still_writable(&moved).unwrap_err().status(), 503);
        assert!(parse("GET").unwrap().still_writable(&placement).is_ok());
        // The scope is still checked first: a reader learns nothing new.
        let e = Command::parse(
            "POST",
            "todos",
            "https://h/v1/rest/todos",
            &RequestHeaders::default(),
            &principal(&[Scope::D1Read]),
            &placement,
            limits,
        )
        .unwrap_err();
        assert_eq!(e.status(), 403);
    }
}
