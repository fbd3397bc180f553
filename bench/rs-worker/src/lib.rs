//! The routes of bench/js-worker that bench/compare.mjs measures, with
//! workers-rs' own types and nothing else (no auth, no checks, no log line):
//!
//!   GET  /v1/health           a constant JSON body
//!   POST /v1/d1/query         {"sql", "params"} → D1 prepare/bind/all → JSON
//!   POST /v1/pg/query         {"sql", "params"} → one fetch to the Neon
//!                             SQL-over-HTTP endpoint → JSON
//!   PUT  /v1/objects/{key}    the body into R2 (read whole: seeding only)
//!   GET  /v1/objects/{key}    R2's body stream as the response
//!
//! Any other path is 404.
use serde::Deserialize;
use worker::{event, Context, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result};

#[derive(Deserialize)]
struct Query {
    sql: String,
    #[serde(default)]
    params: Vec<serde_json::Value>,
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    if path.ends_with("/health") {
        return Response::from_json(&serde_json::json!({"status": "ok"}));
    }
    if path.ends_with("/d1/query") {
        let query: Query = req.json().await?;
        let params: Vec<wasm_bindgen::JsValue> = query
            .params
            .iter()
            .map(|p| match p {
                serde_json::Value::Number(n) => n.as_f64().unwrap_or_default().into(),
                serde_json::Value::String(s) => s.as_str().into(),
                _ => wasm_bindgen::JsValue::NULL,
            })
            .collect();
        let result = env
            .d1("DB")?
            .prepare(&query.sql)
            .bind(&params)?
            .all()
            .await?;
        let rows: Vec<serde_json::Value> = result.results()?;
        return Response::from_json(&serde_json::json!({"rows": rows, "rowCount": rows.len()}));
    }
    if path.ends_with("/pg/query") {
        let query: Query = req.json().await?;
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set(
            "neon-connection-string",
            &env.var("DATABASE_URL")?.to_string(),
        )?;
        headers.set("neon-raw-text-output", "true")?;
        headers.set("neon-array-mode", "true")?;
        let body = serde_json::json!({"query": query.sql, "params": query.params}).to_string();
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        let url = env.var("NEON_SQL_URL")?.to_string();
        let mut answer = Fetch::Request(Request::new_with_init(&url, &init)?)
            .send()
            .await?;
        let answer: serde_json::Value = answer.json().await?;
        let columns: Vec<serde_json::Value> = answer["fields"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| serde_json::json!({"name": f["name"], "type": f["dataTypeID"]}))
                    .collect()
            })
            .unwrap_or_default();
        return Response::from_json(&serde_json::json!({
            "columns": columns,
            "rows": answer["rows"],
            "rowCount": answer["rowCount"],
            "meta": {"command": answer["command"]},
        }));
    }
    if let Some(key) = path.strip_prefix("/v1/objects/") {
        let bucket = env.bucket("BUCKET")?;
        if req.method() == Method::Put {
            let object = bucket.put(key, req.bytes().await?).execute().await?;
            let mut response = Response::empty()?.with_status(201);
            if let Some(object) = object {
                response.headers_mut().set("etag", &object.http_etag())?;
            }
            return Ok(response);
        }
        let Some(object) = bucket.get(key).execute().await? else {
            return Response::error("not found", 404);
        };
        let etag = object.http_etag();
        let Some(body) = object.body() else {
            return Response::error("not found", 404);
        };
        let mut response = Response::from_body(body.response_body()?)?;
        response.headers_mut().set("etag", &etag)?;
        return Ok(response);
    }
    Response::error("not found", 404)
}
