//! `GET /v1/health` and `POST /v1/d1/query` ({"sql", "params"} → D1
//! prepare/bind/all → JSON) with workers-rs' own types and nothing else: no
//! auth, no checks, no log line. Any other path is 404.
use serde::Deserialize;
use worker::{event, Context, Env, Request, Response, Result};

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
    Response::error("not found", 404)
}
