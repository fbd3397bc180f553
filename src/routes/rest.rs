//! `/v1/rest/{table}`: PostgREST's grammar over tables on D1 or Postgres.
//!
//! The table's store comes from `REST_TABLES`; its URL never changes when
//! the table moves. Access: `<store>:read` for `GET`/`HEAD`, `<store>:write`
//! for `POST`/`PATCH`/`DELETE`. A table that is not exposed, or does not
//! exist, is 404 either way.

use crate::ctx::{Caller, Ctx};
use crate::stores::{self, schema};
use crate::{http, settings};
use serde_json::{Map, Value};
use strata_core::auth::Scope;
use strata_core::rest::build::{self, OnConflict, Window};
use strata_core::rest::cursor;
use strata_core::rest::grammar::{decode_query, parse_error, SelectItem, UrlQuery};
use strata_core::rest::headers::{self, Prefer, Resolution, Return, Shape};
use strata_core::rest::placement::Placement;
use strata_core::rest::schema::TableSchema;
use strata_core::sql::request::Statement;
use strata_core::sql::result::RowMode;
use strata_core::sql::Store;
use strata_core::{percent, ApiError, ErrorCode};
use worker::{Headers, Method, Request, Response, ResponseBuilder};

fn table_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such table")
        .with_details(serde_json::json!({ "pgrstCode": "PGRST205" }))
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Handles every method on a table.
pub async fn handle(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Response, ApiError> {
    let raw = ctx.route.param("table").unwrap_or_default().to_string();
    let name = percent::decode_path(&raw).ok_or_else(table_not_found)?;
    let placement = Placement::parse(settings::text(&ctx.env, "REST_TABLES").as_deref())?;
    let store = placement.store_for(&name).ok_or_else(table_not_found)?;
    let method = req.method();
    let write = !matches!(method, Method::Get | Method::Head);
    let scope = match (store, write) {
        (Store::D1, false) => Scope::D1Read,
        (Store::D1, true) => Scope::D1Write,
        (Store::Pg, false) => Scope::PgRead,
        (Store::Pg, true) => Scope::PgWrite,
    };
    caller.principal.require(scope)?;
    let schema = schema::get_with(&ctx.env, store, &name).await?;
    let table = schema.table(&name).ok_or_else(table_not_found)?;

    let url = req.url().map_err(|_| parse_error("URL", "unreadable"))?;
    let query = UrlQuery::parse(&decode_query(url.query())?)?;
    // `get` joins repeated headers with ", " (workerd's Headers has no
    // getAll for anything but Set-Cookie).
    let prefer = Prefer::parse(&header(&req, "prefer").into_iter().collect::<Vec<_>>());
    let shape = headers::parse_accept(header(&req, "accept").as_deref())?;

    let op = Operation {
        ctx,
        store,
        table,
        query: &query,
        prefer: &prefer,
        shape,
    };
    let result = match method {
        Method::Get | Method::Head => read(&req, &op, url).await,
        Method::Post => insert(&mut req, &op).await,
        Method::Patch => update(&mut req, &op).await,
        Method::Delete => delete(&op).await,
        _ => Err(ApiError::method_not_allowed(&[
            "GET", "HEAD", "POST", "PATCH", "DELETE",
        ])),
    };
    if let Err(e) = &result {
        // The schema may have changed under us: introspect again next time.
        if matches!(
            e.code,
            ErrorCode::UndefinedColumn | ErrorCode::UndefinedTable
        ) {
            schema::forget(store);
        }
    }
    result
}

/// Everything one REST request works on, parsed and checked.
struct Operation<'a> {
    ctx: &'a Ctx,
    store: Store,
    table: &'a TableSchema,
    query: &'a UrlQuery,
    prefer: &'a Prefer,
    shape: Shape,
}

impl Operation<'_> {
    /// The `RETURNING` list when the client asked for the rows back.
    fn returning(&self) -> Option<&[SelectItem]> {
        (self.prefer.return_ == Return::Representation).then_some(self.query.select.as_slice())
    }

    /// Runs write statements (atomically) and answers as `Prefer` asked.
    async fn write(&self, statements: &[Statement], created: bool) -> Result<Response, ApiError> {
        let results = stores::run_sql(
            &self.ctx.env,
            self.store,
            statements,
            false,
            None,
            RowMode::Object,
        )
        .await?;
        write_response(results, self.prefer, self.shape, created)
    }
}

fn respond(
    status: u16,
    body: Option<&Value>,
    extra: &[(&str, String)],
) -> Result<Response, ApiError> {
    let headers = Headers::new();
    let mut bytes = Vec::new();
    if let Some(body) = body {
        let _ = headers.set("content-type", "application/json; charset=utf-8");
        bytes = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
    }
    for (name, value) in extra {
        headers.set(name, value).map_err(|_| ApiError::internal())?;
    }
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(bytes))
}

fn singular(rows: Vec<Value>) -> Result<Value, ApiError> {
    let n = rows.len();
    let mut rows = rows;
    match (n, rows.pop()) {
        (1, Some(row)) => Ok(row),
        _ => Err(ApiError::new(
            ErrorCode::RestNotSingular,
            "JSON object requested, multiple (or no) rows returned",
        )
        .with_details(serde_json::json!({ "rows": n }))),
    }
}

fn body_for(rows: Vec<Value>, shape: Shape) -> Result<Value, ApiError> {
    match shape {
        Shape::Array => Ok(Value::Array(rows)),
        Shape::Single => singular(rows),
    }
}

async fn read(req: &Request, op: &Operation<'_>, url: worker::Url) -> Result<Response, ApiError> {
    let (ctx, store, table, q, prefer, shape) =
        (op.ctx, op.store, op.table, op.query, op.prefer, op.shape);
    let max_rows = settings::number(&ctx.env, "REST_MAX_ROWS", 1000)?;
    let range = headers::parse_range(
        header(req, "range").as_deref(),
        header(req, "range-unit").as_deref(),
    )?;
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
        store,
        table,
        q,
        Window { offset, limit },
        cursor_values.as_deref(),
        prefer.count,
    )?;
    let mut statements = vec![plan.statement.clone()];
    if let Some(count) = &plan.count {
        statements.push(count.clone());
    }
    let mut results =
        stores::run_sql(&ctx.env, store, &statements, true, None, RowMode::Object).await?;
    let total = if prefer.count {
        let c = results.pop().ok_or_else(ApiError::internal)?;
        let n = &c.rows.first().ok_or_else(ApiError::internal)?["n"];
        Some(
            n.as_u64()
                .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(ApiError::internal)?,
        )
    } else {
        None
    };
    let mut rows = results.pop().ok_or_else(ApiError::internal)?.rows;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);

    let mut extra: Vec<(&str, String)> = Vec::new();
    if let Some(total) = total {
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
            let (name, value) = if keyset.is_ok() {
                let values: Vec<Value> = plan.order_keys.iter().map(|k| last[k].clone()).collect();
                ("cursor", cursor::encode(&signature, values))
            } else {
                ("offset", offset.saturating_add(limit).to_string())
            };
            let mut next_url = url.clone();
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "cursor" && k != "offset")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            next_url
                .query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair(name, &value);
            extra.push(("link", format!("<{next_url}>; rel=\"next\"")));
        }
    }
    for row in rows.iter_mut() {
        if let Some(obj) = row.as_object_mut() {
            for h in &plan.hidden {
                obj.shift_remove(h);
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
    let body = body_for(rows, shape)?;
    respond(if partial { 206 } else { 200 }, Some(&body), &extra)
}

async fn json_body(req: &mut Request, ctx: &Ctx) -> Result<Value, ApiError> {
    let bytes = http::read_json_body(req, &ctx.env).await?;
    strata_core::sql::request::parse_json(&bytes)
}

fn write_response(
    results: Vec<strata_core::sql::result::SqlResult>,
    prefer: &Prefer,
    shape: Shape,
    created: bool,
) -> Result<Response, ApiError> {
    let mut extra: Vec<(&str, String)> = Vec::new();
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
            let body = body_for(rows, shape)?;
            respond(if created { 201 } else { 200 }, Some(&body), &extra)
        }
        Return::Minimal => {
            let affected: u64 = results.iter().map(|r| r.row_count).sum();
            extra.push(("content-range", headers::content_range(0, affected, None)));
            respond(if created { 201 } else { 204 }, None, &extra)
        }
    }
}

fn no_paging(q: &UrlQuery, what: &str) -> Result<(), ApiError> {
    if q.limit.is_some() || q.offset.is_some() || !q.order.is_empty() || q.cursor.is_some() {
        return Err(parse_error(
            what,
            "limit, offset, order and cursor apply to reads only",
        ));
    }
    Ok(())
}

async fn insert(req: &mut Request, op: &Operation<'_>) -> Result<Response, ApiError> {
    let (q, prefer, table) = (op.query, op.prefer, op.table);
    no_paging(q, "POST")?;
    if !q.filters.is_empty() {
        return Err(parse_error("POST", "filters do not apply to inserts"));
    }
    let rows: Vec<Map<String, Value>> = match json_body(req, op.ctx).await? {
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
    let max_rows = settings::number(&op.ctx.env, "REST_MAX_INSERT_ROWS", 1000)?;
    build::check_insert_rows(rows.len(), max_rows)?;
    if rows.is_empty() {
        return write_response(Vec::new(), prefer, op.shape, true);
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
    let conflict = match prefer.resolution {
        None => OnConflict::Error,
        Some(Resolution::MergeDuplicates) => OnConflict::Merge(targets),
        Some(Resolution::IgnoreDuplicates) => OnConflict::Ignore(targets),
    };
    let statements = build::insert(op.store, table, &columns, &rows, &conflict, op.returning())?;
    op.write(&statements, true).await
}

async fn update(req: &mut Request, op: &Operation<'_>) -> Result<Response, ApiError> {
    let q = op.query;
    no_paging(q, "PATCH")?;
    if q.filters.is_empty() {
        return Err(parse_error(
            "PATCH",
            "a PATCH without filters would change every row; add a filter",
        )
        .with_hint("to change every row on purpose, filter on a condition every row meets"));
    }
    let set = match json_body(req, op.ctx).await? {
        Value::Object(o) if !o.is_empty() => o,
        _ => {
            return Err(parse_error(
                "body",
                "PATCH needs a non-empty object of columns to set",
            ))
        }
    };
    let statement = build::update(op.store, op.table, &set, &q.filters, op.returning())?;
    op.write(&[statement], false).await
}

async fn delete(op: &Operation<'_>) -> Result<Response, ApiError> {
    let q = op.query;
    no_paging(q, "DELETE")?;
    if q.filters.is_empty() {
        return Err(parse_error(
            "DELETE",
            "a DELETE without filters would remove every row; add a filter",
        ));
    }
    let statement = build::delete(op.store, op.table, &q.filters, op.returning())?;
    op.write(&[statement], false).await
}
