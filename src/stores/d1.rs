//! D1, through the `DB` binding.
//!
//! Statements run through D1's JavaScript `batch()` (one implicit
//! transaction, also for a single statement), prepared, bound and run by one
//! JS snippet; the answer comes back as one JSON text or, when a value does
//! not fit JSON exactly (BLOBs, ±Infinity, -0), as D1's own result objects
//! read value by value, so BLOBs stay bytes and numbers are checked for
//! exactness (`strata_core::sql::d1`).

use super::StoreError;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use strata_core::sql::d1::{self as d1_result, D1Value};
use strata_core::sql::errors::{from_d1, Mapped};
use strata_core::sql::request::Statement;
use strata_core::sql::result::{RowMode, SqlResult};
use strata_core::ApiError;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1DatabaseSession, Env};

/// The D1 binding's name in wrangler.toml.
pub const BINDING: &str = "DB";

/// The D1 database.
pub fn database(env: &Env) -> Result<D1Database, StoreError> {
    env.d1(BINDING).map_err(|_| {
        StoreError::Config(ApiError::config(
            "the D1 binding DB",
            "is missing from wrangler.toml",
        ))
    })
}

/// Runs `select 1` for real.
pub async fn ping(env: &Env) -> Result<(), StoreError> {
    let db = database(env)?;
    let row: Option<serde_json::Value> = db
        .prepare("select 1 as ok")
        .first(None)
        .await
        .map_err(|e| StoreError::unavailable("d1", e))?;
    match row {
        Some(v) if v.get("ok") == Some(&serde_json::json!(1)) => Ok(()),
        _ => Err(StoreError::unavailable("d1", "select 1 returned no row")),
    }
}

/// The message of a thrown JS error (D1 puts the SQLite text there).
fn js_error_text(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        let mut text: String = err.message().into();
        if let Some(cause) = err.cause().dyn_ref::<js_sys::Error>() {
            let cause: String = cause.message().into();
            if !text.contains(&cause) {
                text = format!("{text}: {cause}");
            }
        }
        text
    } else {
        e.as_string().unwrap_or_else(|| "unknown error".into())
    }
}

fn mapped(e: &JsValue) -> ApiError {
    match from_d1(&js_error_text(e)) {
        Mapped::Client(err) => err,
        Mapped::Server { error, cause } => error.with_cause(cause),
    }
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn d1_value(v: JsValue) -> D1Value {
    if v.is_null() || v.is_undefined() {
        D1Value::Null
    } else if let Some(n) = v.as_f64() {
        D1Value::Number(n)
    } else if let Some(s) = v.as_string() {
        D1Value::Text(s)
    } else if let Some(b) = v.as_bool() {
        D1Value::Number(if b { 1.0 } else { 0.0 })
    } else if let Some(buf) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        D1Value::Blob(Uint8Array::new(buf).to_vec())
    } else if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        D1Value::Blob(bytes.to_vec())
    } else if let Some(arr) = v.dyn_ref::<Array>() {
        // D1 returns BLOBs as arrays of byte values.
        D1Value::Blob(
            arr.iter()
                .map(|b| b.as_f64().unwrap_or(0.0) as u8)
                .collect(),
        )
    } else {
        D1Value::Text(
            js_sys::JSON::stringify(&v)
                .map(String::from)
                .unwrap_or_default(),
        )
    }
}

fn meta_json(meta: &JsValue) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for key in d1_result::META_KEYS {
        let v = get(meta, key);
        if let Some(n) = v.as_f64() {
            out.insert(key.into(), d1_result::meta_number(n));
        } else if let Some(b) = v.as_bool() {
            out.insert(key.into(), serde_json::Value::Bool(b));
        }
    }
    out
}

#[wasm_bindgen(inline_js = r#"
export async function d1_batch(conn, request, limit, ms) {
  const statements = JSON.parse(request).map(([sql, params]) =>
    conn.prepare(sql).bind(...params.map((p) => (p !== null && typeof p === "object" ? bytes(p.b) : p))),
  );
  const run = conn.batch(statements);
  // A batch that loses the race is left to finish on its own: nothing waits for it.
  run.catch(() => {});
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(TIMED_OUT), ms);
  });
  let output;
  try {
    output = await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
  return batch_json(output, limit) ?? output;
}

export const TIMED_OUT = "strata: D1 timed out";

function bytes(base64) {
  const text = atob(base64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function batch_json(output, limit) {
  if (!Array.isArray(output)) return undefined;
  const statements = [];
  // What the values cost against the limit, at least (d1_result::row_cost:
  // a string its length and more, anything else 8 and more): past the limit
  // the value-by-value reading takes over and stops there, so no text of a
  // result that is refused anyway is ever made.
  let cost = 0;
  for (const result of output) {
    const rows = Array.isArray(result?.results) ? result.results : [];
    let names = null;
    const values = [];
    for (const row of rows) {
      if (names === null) names = Object.keys(row);
      const out = new Array(names.length);
      for (let i = 0; i < names.length; i++) {
        const v = row[names[i]];
        if (typeof v === "number") {
          if (!Number.isFinite(v) || Object.is(v, -0)) return undefined;
        } else if (typeof v !== "string" && v !== null) {
          return undefined;
        }
        cost += typeof v === "string" ? v.length + 8 : 8;
        if (cost > limit) return undefined;
        out[i] = v;
      }
      values.push(out);
    }
    statements.push({ c: names ?? [], r: values, m: result?.meta ?? {} });
  }
  const text = JSON.stringify(statements);
  return text.length > limit ? undefined : text;
}
"#)]
extern "C" {
    /// Prepares, binds and runs a batch (`d1_result::batch_request`'s JSON
    /// text) on `conn` (the database or a session) in one call, and hands
    /// D1's answer back as one JSON text (`d1_result::batch_from_json` reads
    /// it) when every value is a string, null or a finite number other than
    /// -0 and the result is within `limit` (by what its values cost at
    /// least, and by the text's length). Otherwise (BLOBs, booleans,
    /// ±Infinity, -0, over the limit) it answers D1's own result array and
    /// [`convert`] reads the values one by one, stopping at the limit.
    ///
    /// One crossing instead of several per statement, parameter and value:
    /// profiles of `POST /v1/d1/query` put the value-by-value reading at ~6%
    /// of the Worker's CPU for a one-row answer, and preparing and binding
    /// through `worker`'s wrappers at a few more.
    fn d1_batch(conn: &JsValue, request: &str, limit: f64, ms: f64) -> Promise;
}

/// What `d1_batch` rejects with when `ms` passed first (the snippet's
/// `TIMED_OUT`): the race is run in JavaScript, one timer and no wasm
/// closure per statement batch.
const TIMED_OUT: &str = "strata: D1 timed out";

/// Converts one statement's result; `budget` is what the batch may still
/// hold (`MAX_RESULT_BYTES`): D1 has already built the rows in JavaScript,
/// but they are not copied into the Worker's memory past the limit.
fn convert(
    result: &JsValue,
    mode: RowMode,
    budget: &mut u64,
    limit: u64,
) -> Result<SqlResult, ApiError> {
    let rows = get(result, "results");
    let rows: Array = rows.dyn_into().unwrap_or_default();
    // D1 hands rows over as objects; the first row's keys give the columns.
    let mut names: Vec<String> = Vec::new();
    let mut values = Vec::with_capacity(rows.length() as usize);
    for row in rows.iter() {
        let obj: &Object = row.unchecked_ref();
        let keys = Object::keys(obj);
        if names.is_empty() {
            names = keys.iter().filter_map(|k| k.as_string()).collect();
        }
        let row: Vec<D1Value> = names.iter().map(|k| d1_value(get(&row, k))).collect();
        let cost = d1_result::row_cost(&names, &row);
        *budget = budget
            .checked_sub(cost)
            .ok_or_else(|| ApiError::result_too_large(limit))?;
        values.push(row);
    }
    d1_result::result(names, values, meta_json(&get(result, "meta")), mode)
}

/// Where statements run: the database itself (every query at the primary)
/// or a request's session (read replicas, `strata_core::sql::session`).
pub enum Conn<'a> {
    /// The binding, outside any session.
    Primary(D1Database),
    /// A session opened for the request.
    Session(&'a D1DatabaseSession),
}

impl Conn<'_> {
    fn js(&self) -> &JsValue {
        match self {
            Conn::Primary(db) => db.as_ref(),
            Conn::Session(s) => (*s).as_ref(),
        }
    }
}

/// Opens a session on the D1 database from a bookmark or constraint.
pub fn session(env: &Env, start: &str) -> Result<D1DatabaseSession, StoreError> {
    database(env)?
        .with_session(Some(start))
        .map_err(|e| StoreError::unavailable("d1", e))
}

/// Runs statements atomically (D1 `batch()`), one result per statement,
/// giving up with [`StoreError::Timeout`] after `timeout_ms`.
pub async fn run(
    db: &Conn<'_>,
    statements: &[Statement],
    mode: RowMode,
    max_result_bytes: u64,
    timeout_ms: u64,
) -> Result<Vec<SqlResult>, StoreError> {
    let request = d1_result::batch_request(statements).map_err(StoreError::Refused)?;
    let sent = d1_batch(
        db.js(),
        &request,
        max_result_bytes as f64,
        timeout_ms as f64,
    );
    let output = JsFuture::from(sent).await.map_err(|e| {
        if e.as_string().as_deref() == Some(TIMED_OUT) {
            StoreError::Timeout { store: "d1" }
        } else {
            StoreError::Refused(mapped(&e))
        }
    })?;
    let results = if let Some(text) = output.as_string() {
        // The snippet wrote exactly the shape batch_from_json reads.
        d1_result::batch_from_json(&text, mode, max_result_bytes).unwrap_or_else(|| {
            Err(ApiError::internal().with_cause("D1 answer text in an unexpected shape"))
        })
    } else {
        let output: Array = output.dyn_into().unwrap_or_default();
        let mut budget = max_result_bytes;
        output
            .iter()
            .map(|r| convert(&r, mode, &mut budget, max_result_bytes))
            .collect()
    };
    results.map_err(StoreError::Refused)
}
