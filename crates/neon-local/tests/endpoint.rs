//! The endpoint over real HTTP and a real (embedded) PostgreSQL.
//!
//! One endpoint with its cluster serves every test; the few tests that need other limits or a
//! dead upstream start a cheap extra endpoint pointing at the same cluster (or at nothing).
//! Tests run in parallel, so each uses its own table names.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use neon_local::pg::{Connection, ResponseBudget, Startup};
use neon_local::{NeonLocal, Options, PoolConfig};
use serde_json::{json, Value};
use strata_core::neon::ConnectionString;

type TestResult = Result<(), Failed>;

struct Ctx {
    sql_url: String,
    db_url: String,
    pg_port: u16,
    agent: ureq::Agent,
}

/// A response: status, headers we care about, body as JSON (or `Value::Null` if not JSON).
struct Reply {
    status: u16,
    allow_origin: Option<String>,
    body: Value,
    raw: String,
}

impl Ctx {
    fn post_to(&self, url: &str, headers: &[(&str, &str)], body: &str) -> Result<Reply, Failed> {
        let mut request = self.agent.post(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body).map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status().as_u16();
        let allow_origin = response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let raw = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the body: {e}"))?;
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            allow_origin,
            body,
            raw,
        })
    }

    /// POST /sql with the connection string and any extra headers.
    fn sql(&self, extra_headers: &[(&str, &str)], body: Value) -> Result<Reply, Failed> {
        let mut headers = vec![("Neon-Connection-String", self.db_url.as_str())];
        headers.extend_from_slice(extra_headers);
        self.post_to(&self.sql_url, &headers, &body.to_string())
    }

    /// A single query that must succeed; returns the response object.
    fn ok(&self, query: &str, params: Value) -> Result<Value, Failed> {
        let reply = self.sql(&[], json!({"query": query, "params": params}))?;
        if reply.status != 200 {
            return Err(format!("{query}: HTTP {} {}", reply.status, reply.raw).into());
        }
        Ok(reply.body)
    }
}

fn check(condition: bool, message: impl Into<String>) -> TestResult {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

fn eq<T: PartialEq + std::fmt::Debug>(actual: T, expected: T, what: &str) -> TestResult {
    check(
        actual == expected,
        format!("{what}: expected {expected:?}, got {actual:?}"),
    )
}

fn main() {
    let args = Arguments::from_args();
    let endpoint = match NeonLocal::start(Options {
        quiet: true,
        ..Options::default()
    }) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("cannot start the endpoint: {e}");
            std::process::exit(1);
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let ctx = Arc::new(Ctx {
        sql_url: endpoint.sql_url().to_owned(),
        db_url: endpoint.database_url().unwrap_or_default().to_owned(),
        pg_port: endpoint.pg_port(),
        agent,
    });

    type Test = fn(&Ctx) -> TestResult;
    let tests: Vec<(&str, Test)> = vec![
        (
            "single_query_typed_fields_command_row_count",
            single_query_typed,
        ),
        ("raw_text_output", raw_text_output),
        ("array_mode_header_and_per_query_override", array_mode),
        ("params_are_bound_as_text", params_are_bound_as_text),
        ("ddl_and_dml_commands", ddl_and_dml_commands),
        ("duplicate_column_names", duplicate_column_names),
        ("batch_commits_in_one_transaction", batch_commits),
        ("batch_rolls_back_on_failure", batch_rolls_back),
        ("batch_empty", batch_empty),
        ("batch_isolation_read_only_deferrable", batch_headers),
        ("bad_isolation_level_is_400", bad_isolation_level),
        ("multiple_statements_are_42601", multiple_statements),
        ("sql_error_body_has_17_keys", sql_error_body),
        ("login_errors_are_400", login_errors),
        ("bad_requests_are_400", bad_requests),
        ("request_too_large_is_413", request_too_large),
        ("response_too_large_is_507", response_too_large),
        ("unreachable_database_is_500", unreachable_database),
        ("no_session_state_leaks_between_requests", no_session_leak),
        ("cors_preflight_and_unsupported_routes", cors_and_routes),
        ("client_disconnect_cancels_the_query", disconnect_cancels),
        (
            "pool_reuses_the_backend_but_not_the_session",
            pool_reuses_backend_not_session,
        ),
        (
            "pool_never_shares_across_credentials",
            pool_never_shares_across_credentials,
        ),
        (
            "pool_drops_terminated_connections",
            pool_drops_terminated_connections,
        ),
        (
            "pool_drops_connections_of_aborted_requests",
            pool_drops_aborted_connections,
        ),
        ("pool_bounds_connections_per_key", pool_bounds_per_key),
        ("pool_closes_idle_connections", pool_closes_idle_connections),
        ("pool_size_0_is_a_connection_per_request", pool_disabled),
        (
            "reset_rolls_back_open_and_failed_transactions",
            reset_rolls_back_transactions,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let ctx = Arc::clone(&ctx);
            Trial::test(name, move || test(&ctx))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    endpoint.shutdown();
    conclusion.exit();
}

fn single_query_typed(ctx: &Ctx) -> TestResult {
    let body = ctx.ok(
        "select 1::int2 a, 2::int4 b, 3::int8 c, 1.5::float8 d, 'NaN'::float4 e, 1.10::numeric f, \
         true g, 'x'::text h, '{\"k\": [1, null]}'::jsonb i, '[1]'::json j, \
         array[1,null,3]::int4[] k, array['a,b','NULL',null]::text[] l, \
         '{{1,2},{3,4}}'::int4[] m, '\\x0102'::bytea n, null::int4 o, \
         '2024-01-02 03:04:05+00'::timestamptz p, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid q",
        json!([]),
    )?;
    eq(body["command"].clone(), json!("SELECT"), "command")?;
    eq(body["rowCount"].clone(), json!(1), "rowCount")?;
    eq(body["rowAsArray"].clone(), json!(false), "rowAsArray")?;
    let row = &body["rows"][0];
    let expected = json!({
        "a": 1, "b": 2, "c": "3", "d": 1.5, "e": "NaN", "f": "1.10", "g": true, "h": "x",
        "i": {"k": [1, null]}, "j": [1], "k": [1, null, 3], "l": ["a,b", "NULL", null],
        "m": [[1, 2], [3, 4]], "n": "\\x0102", "o": null,
        "p": "2024-01-02 03:04:05+00", "q": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    });
    eq(row, &expected, "typed row")?;

    let fields = body["fields"].as_array().ok_or("fields")?;
    eq(fields.len(), 17, "field count")?;
    let a = &fields[0];
    eq(a["name"].clone(), json!("a"), "name")?;
    eq(a["dataTypeID"].clone(), json!(21), "int2 oid")?;
    eq(a["dataTypeSize"].clone(), json!(2), "int2 size")?;
    eq(a["dataTypeModifier"].clone(), json!(-1), "modifier")?;
    eq(a["tableID"].clone(), json!(0), "tableID of an expression")?;
    eq(a["columnID"].clone(), json!(0), "columnID of an expression")?;
    eq(a["format"].clone(), json!("text"), "format")?;
    eq(fields[10]["dataTypeID"].clone(), json!(1007), "int4[] oid")
}

fn raw_text_output(ctx: &Ctx) -> TestResult {
    let reply = ctx.sql(
        &[("Neon-Raw-Text-Output", "true")],
        json!({"query": "select true a, 1 b, array[1,2] c, '{\"x\":1}'::jsonb d, null::text e"}),
    )?;
    eq(reply.status, 200, "status")?;
    eq(
        reply.body["rows"][0].clone(),
        json!({"a": "t", "b": "1", "c": "{1,2}", "d": "{\"x\": 1}", "e": null}),
        "raw row",
    )?;
    // Anything but the exact lowercase `true` is false.
    let reply = ctx.sql(
        &[("Neon-Raw-Text-Output", "TRUE")],
        json!({"query": "select true a"}),
    )?;
    eq(
        reply.body["rows"][0]["a"].clone(),
        json!(true),
        "TRUE is not true",
    )
}

fn array_mode(ctx: &Ctx) -> TestResult {
    let reply = ctx.sql(
        &[("Neon-Array-Mode", "true")],
        json!({"query": "select 1 a, 'x' b"}),
    )?;
    eq(reply.body["rows"].clone(), json!([[1, "x"]]), "array rows")?;
    eq(reply.body["rowAsArray"].clone(), json!(true), "rowAsArray")?;
    let reply = ctx.sql(
        &[("Neon-Array-Mode", "true")],
        json!({"query": "select 1 a", "arrayMode": false}),
    )?;
    eq(
        reply.body["rows"].clone(),
        json!([{"a": 1}]),
        "override to objects",
    )?;
    eq(
        reply.body["rowAsArray"].clone(),
        json!(false),
        "rowAsArray overridden",
    )?;
    let reply = ctx.sql(&[], json!({"query": "select 1 a", "arrayMode": true}))?;
    eq(
        reply.body["rows"].clone(),
        json!([[1]]),
        "override to arrays",
    )
}

fn params_are_bound_as_text(ctx: &Ctx) -> TestResult {
    let body = ctx.ok(
        "select $1 untyped, $2::int + 1 n, $3::bool b, $4::jsonb j, $5::text[] arr, \
         $6::int4[] nested, $7::text is null was_null, $8::numeric big",
        json!([42, 41, true, {"a": [1, "x"]}, ["a,b", "q\"uote", null, "NULL"], [[1, 2], [3, 4]],
               null, "12345678901234567890.5"]),
    )?;
    eq(
        body["rows"][0].clone(),
        json!({
            "untyped": "42", "n": 42, "b": true, "j": {"a": [1, "x"]},
            "arr": ["a,b", "q\"uote", null, "NULL"], "nested": [[1, 2], [3, 4]],
            "was_null": true, "big": "12345678901234567890.5"
        }),
        "params round-trip",
    )?;
    // Wrong parameter count is the client's error.
    let reply = ctx.sql(
        &[],
        json!({"query": "select $1::int, $2::int", "params": [1]}),
    )?;
    eq(reply.status, 400, "wrong param count status")?;
    check(
        reply.body["code"].as_str().is_some_and(|c| !c.is_empty()),
        format!("wrong param count has a SQLSTATE: {}", reply.raw),
    )
}

fn ddl_and_dml_commands(ctx: &Ctx) -> TestResult {
    let create = ctx.ok("create table cmd_t (id int primary key, v text)", json!([]))?;
    eq(create["command"].clone(), json!("CREATE"), "create command")?;
    eq(create["rowCount"].clone(), Value::Null, "create rowCount")?;
    eq(create["fields"].clone(), json!([]), "create fields")?;
    let insert = ctx.ok(
        "insert into cmd_t values (1, 'a'), (2, 'b'), (3, 'c')",
        json!([]),
    )?;
    eq(insert["command"].clone(), json!("INSERT"), "insert command")?;
    eq(insert["rowCount"].clone(), json!(3), "insert rowCount")?;
    let update = ctx.ok("update cmd_t set v = $1 where id >= $2", json!(["z", 2]))?;
    eq(update["command"].clone(), json!("UPDATE"), "update command")?;
    eq(update["rowCount"].clone(), json!(2), "update rowCount")?;
    let returning = ctx.ok("delete from cmd_t where id = 1 returning id, v", json!([]))?;
    eq(
        returning["command"].clone(),
        json!("DELETE"),
        "delete command",
    )?;
    eq(
        returning["rows"].clone(),
        json!([{"id": 1, "v": "a"}]),
        "returning rows",
    )?;
    let fields = &returning["fields"][0];
    check(
        fields["tableID"].as_u64().is_some_and(|t| t > 0),
        "tableID of a column",
    )?;
    eq(fields["columnID"].clone(), json!(1), "columnID of a column")?;
    let select = ctx.ok("select * from cmd_t where false", json!([]))?;
    eq(
        select["rowCount"].clone(),
        json!(0),
        "empty select rowCount",
    )?;
    eq(
        select["fields"].as_array().map(Vec::len),
        Some(2),
        "fields without rows",
    )?;
    ctx.ok("drop table cmd_t", json!([]))?;
    Ok(())
}

fn duplicate_column_names(ctx: &Ctx) -> TestResult {
    let reply = ctx.sql(&[], json!({"query": "select 1 as a, 2 as a"}))?;
    check(
        reply.raw.contains(r#""rows":[{"a":1,"a":2}]"#),
        format!("both keys written in order: {}", reply.raw),
    )
}

fn batch_commits(ctx: &Ctx) -> TestResult {
    ctx.ok("create table batch_ok (id int primary key)", json!([]))?;
    let reply = ctx.sql(
        &[],
        json!({"queries": [
            {"query": "insert into batch_ok values ($1)", "params": [1]},
            {"query": "insert into batch_ok values ($1), ($2)", "params": [2, 3]},
            {"query": "select count(*)::int n from batch_ok", "arrayMode": true},
        ]}),
    )?;
    eq(reply.status, 200, "batch status")?;
    let results = reply.body["results"].as_array().ok_or("results")?;
    eq(results.len(), 3, "result count")?;
    eq(
        results[1]["rowCount"].clone(),
        json!(2),
        "second insert rowCount",
    )?;
    eq(
        results[2]["rows"].clone(),
        json!([[3]]),
        "count inside the batch",
    )?;
    let after = ctx.ok("select count(*)::int n from batch_ok", json!([]))?;
    eq(after["rows"][0]["n"].clone(), json!(3), "committed rows")?;
    ctx.ok("drop table batch_ok", json!([]))?;
    Ok(())
}

fn batch_rolls_back(ctx: &Ctx) -> TestResult {
    ctx.ok("create table batch_fail (id int primary key)", json!([]))?;
    ctx.ok("insert into batch_fail values (1)", json!([]))?;
    let reply = ctx.sql(
        &[],
        json!({"queries": [
            {"query": "insert into batch_fail values (2)"},
            {"query": "update batch_fail set id = 10 where id = 1"},
            {"query": "insert into batch_fail values (2)"},
        ]}),
    )?;
    eq(reply.status, 400, "failing batch status")?;
    eq(
        reply.body["code"].clone(),
        json!("23505"),
        "unique violation",
    )?;
    check(reply.body.get("results").is_none(), "no partial results")?;
    let after = ctx.ok(
        "select array_agg(id order by id) ids from batch_fail",
        json!([]),
    )?;
    eq(
        after["rows"][0]["ids"].clone(),
        json!([1]),
        "data unchanged",
    )?;
    ctx.ok("drop table batch_fail", json!([]))?;
    Ok(())
}

fn batch_empty(ctx: &Ctx) -> TestResult {
    let reply = ctx.sql(&[], json!({"queries": []}))?;
    eq(reply.status, 200, "status")?;
    eq(reply.body, json!({"results": []}), "empty results")
}

fn batch_headers(ctx: &Ctx) -> TestResult {
    let show = json!({"queries": [
        {"query": "show transaction_isolation"},
        {"query": "show transaction_read_only"},
        {"query": "show transaction_deferrable"},
    ]});
    let values = |reply: &Reply| -> Vec<Value> {
        (0..3)
            .map(|i| {
                reply.body["results"][i]["rows"][0]
                    .as_object()
                    .and_then(|o| o.values().next().cloned())
                    .unwrap_or(Value::Null)
            })
            .collect()
    };
    let default = ctx.sql(&[], show.clone())?;
    eq(
        values(&default),
        vec![json!("read committed"), json!("off"), json!("off")],
        "defaults",
    )?;
    let all = ctx.sql(
        &[
            ("Neon-Batch-Isolation-Level", "Serializable"),
            ("Neon-Batch-Read-Only", "true"),
            ("Neon-Batch-Deferrable", "true"),
        ],
        show.clone(),
    )?;
    eq(
        values(&all),
        vec![json!("serializable"), json!("on"), json!("on")],
        "all options",
    )?;
    let rr = ctx.sql(&[("Neon-Batch-Isolation-Level", "RepeatableRead")], show)?;
    eq(
        values(&rr)[0].clone(),
        json!("repeatable read"),
        "repeatable read",
    )?;

    let write = ctx.sql(
        &[("Neon-Batch-Read-Only", "true")],
        json!({"queries": [{"query": "create table must_not_exist (x int)"}]}),
    )?;
    eq(write.status, 400, "write in read-only batch")?;
    eq(
        write.body["code"].clone(),
        json!("25006"),
        "read_only_sql_transaction",
    )?;
    // The headers only apply to batches: a single write still works.
    let single = ctx.sql(
        &[("Neon-Batch-Read-Only", "true")],
        json!({"query": "select 1"}),
    )?;
    eq(single.status, 200, "single query ignores batch headers")
}

fn bad_isolation_level(ctx: &Ctx) -> TestResult {
    let reply = ctx.sql(
        &[("Neon-Batch-Isolation-Level", "serializable")],
        json!({"queries": [{"query": "select 1"}]}),
    )?;
    eq(reply.status, 400, "status")?;
    eq(
        reply.body["message"].clone(),
        json!("invalid isolation level"),
        "message",
    )?;
    eq(reply.body["code"].clone(), json!(""), "proxy-level code")
}

fn multiple_statements(ctx: &Ctx) -> TestResult {
    let reply = ctx.sql(&[], json!({"query": "select 1; select 2"}))?;
    eq(reply.status, 400, "status")?;
    eq(reply.body["code"].clone(), json!("42601"), "code")
}

fn sql_error_body(ctx: &Ctx) -> TestResult {
    let reply = ctx.sql(&[], json!({"query": "selec 1"}))?;
    eq(reply.status, 400, "status")?;
    eq(reply.allow_origin.as_deref(), Some("*"), "CORS on errors")?;
    let body = reply.body.as_object().ok_or("object body")?;
    eq(body.len(), 17, "key count")?;
    eq(body["code"].clone(), json!("42601"), "code")?;
    eq(body["position"].clone(), json!("1"), "position is a string")?;
    eq(body["severity"].clone(), json!("ERROR"), "severity")?;
    check(body["line"].is_string(), "line is a string")?;
    check(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("syntax error")),
        "message",
    )?;
    eq(
        body["detail"].clone(),
        Value::Null,
        "missing parts are null",
    )
}

fn login_errors(ctx: &Ctx) -> TestResult {
    // postgres://strata:PASSWORD@127.0.0.1:PORT/strata
    let url = ctx.db_url.clone();
    let at = url.rfind('@').ok_or("url has @")?;
    let host_and_db = &url[at..];
    let wrong_password = format!("postgres://strata:wrong{host_and_db}");
    let unknown_user = format!("postgres://nobody:pw{host_and_db}");
    for (what, conn) in [
        ("wrong password", &wrong_password),
        ("unknown user", &unknown_user),
    ] {
        let reply = ctx.post_to(
            &ctx.sql_url,
            &[("Neon-Connection-String", conn)],
            r#"{"query":"select 1"}"#,
        )?;
        eq(reply.status, 400, what)?;
        eq(reply.body["code"].clone(), json!("28P01"), what)?;
        check(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("password authentication failed")),
            format!("{what}: {}", reply.raw),
        )?;
    }
    let db_start = url.rfind('/').ok_or("url has a path")?;
    let unknown_db = format!("{}/no_such_db", &url[..db_start]);
    let reply = ctx.post_to(
        &ctx.sql_url,
        &[("Neon-Connection-String", &unknown_db)],
        r#"{"query":"select 1"}"#,
    )?;
    eq(reply.status, 400, "unknown database")?;
    eq(
        reply.body["code"].clone(),
        json!("3D000"),
        "unknown database code",
    )?;
    // The connection string's host and port are ignored: routing is ours.
    let elsewhere = url.replacen(
        "@127.0.0.1:",
        "@ep-example-123.eu-central-1.aws.neon.tech:",
        1,
    );
    let reply = ctx.post_to(
        &ctx.sql_url,
        &[("Neon-Connection-String", &elsewhere)],
        r#"{"query":"select 1 a"}"#,
    )?;
    eq(
        reply.status,
        200,
        "host in the connection string is ignored",
    )
}

fn bad_requests(ctx: &Ctx) -> TestResult {
    let missing = ctx.post_to(&ctx.sql_url, &[], r#"{"query":"select 1"}"#)?;
    eq(missing.status, 400, "missing connection string")?;
    check(
        missing.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Neon-Connection-String")),
        format!("message names the header: {}", missing.raw),
    )?;
    eq(
        missing.body.as_object().map(|o| o.len()),
        Some(17),
        "17 keys",
    )?;
    let bad = ctx.post_to(
        &ctx.sql_url,
        &[("Neon-Connection-String", "mysql://x")],
        r#"{"query":"select 1"}"#,
    )?;
    eq(bad.status, 400, "bad connection string")?;
    let no_db = ctx.post_to(
        &ctx.sql_url,
        &[("Neon-Connection-String", "postgres://a:b@h")],
        r#"{"query":"select 1"}"#,
    )?;
    eq(no_db.status, 400, "connection string without database")?;
    for body in ["not json", "{}", r#"{"query": 1}"#, "[]", ""] {
        let reply = ctx.post_to(
            &ctx.sql_url,
            &[("Neon-Connection-String", &ctx.db_url)],
            body,
        )?;
        eq(reply.status, 400, &format!("body {body:?}"))?;
        eq(reply.body["code"].clone(), json!(""), "proxy-level error")?;
    }
    let jwt = ctx.sql(
        &[("Authorization", "Bearer x.y.z")],
        json!({"query": "select 1"}),
    )?;
    eq(jwt.status, 400, "Authorization header refused")
}

fn request_too_large(ctx: &Ctx) -> TestResult {
    let small = NeonLocal::start(Options {
        upstream: Some(ctx.db_url.clone()),
        max_request_bytes: 1024,
        quiet: true,
        ..Options::default()
    })
    .map_err(|e| e.to_string())?;
    let query = format!("select '{}' s", "x".repeat(2000));
    let reply = ctx.post_to(
        small.sql_url(),
        &[("Neon-Connection-String", &ctx.db_url)],
        &json!({ "query": query }).to_string(),
    )?;
    eq(reply.status, 413, "status")?;
    check(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("1024")),
        reply.raw.clone(),
    )?;
    let fits = ctx.post_to(
        small.sql_url(),
        &[("Neon-Connection-String", &ctx.db_url)],
        r#"{"query":"select 1"}"#,
    )?;
    eq(fits.status, 200, "a small request still works")
}

fn response_too_large(ctx: &Ctx) -> TestResult {
    let small = NeonLocal::start(Options {
        upstream: Some(ctx.db_url.clone()),
        max_response_bytes: 4096,
        quiet: true,
        ..Options::default()
    })
    .map_err(|e| e.to_string())?;
    let headers = [("Neon-Connection-String", ctx.db_url.as_str())];
    for query in [
        // Many rows: stopped while streaming.
        "select g, repeat('x', 100) from generate_series(1, 100000) g",
        // One row just over: caught on the serialised response.
        "select repeat('y', 4000) s",
    ] {
        let reply = ctx.post_to(
            small.sql_url(),
            &headers,
            &json!({ "query": query }).to_string(),
        )?;
        eq(reply.status, 507, query)?;
        check(reply.body.get("rows").is_none(), "no partial result")?;
    }
    let fits = ctx.post_to(small.sql_url(), &headers, r#"{"query":"select 1"}"#)?;
    eq(fits.status, 200, "a small response still works")
}

fn unreachable_database(ctx: &Ctx) -> TestResult {
    // Port 1 on loopback: nothing listens there.
    let dead = NeonLocal::start(Options {
        upstream: Some("127.0.0.1:1".into()),
        quiet: true,
        ..Options::default()
    })
    .map_err(|e| e.to_string())?;
    let reply = ctx.post_to(
        dead.sql_url(),
        &[("Neon-Connection-String", &ctx.db_url)],
        r#"{"query":"select 1"}"#,
    )?;
    eq(reply.status, 500, "status")?;
    eq(reply.body["code"].clone(), json!(""), "proxy-level error")
}

fn no_session_leak(ctx: &Ctx) -> TestResult {
    ctx.ok("set application_name = 'leaky'", json!([]))?;
    ctx.ok("set statement_timeout = 1234", json!([]))?;
    let timeout = ctx.ok("show statement_timeout", json!([]))?;
    eq(
        timeout["rows"][0]["statement_timeout"].clone(),
        json!("0"),
        "SET does not leak",
    )?;
    ctx.ok("create temp table leak_tmp (x int)", json!([]))?;
    let temp = ctx.ok(
        "select count(*)::int n from pg_class where relname = 'leak_tmp'",
        json!([]),
    )?;
    eq(
        temp["rows"][0]["n"].clone(),
        json!(0),
        "temp table does not leak",
    )?;
    ctx.ok("begin", json!([]))?;
    // SAVEPOINT only works inside a transaction block: it fails unless the BEGIN leaked.
    let savepoint = ctx.sql(&[], json!({"query": "savepoint leak_check"}))?;
    eq(savepoint.status, 400, "no open transaction leaks")?;
    eq(
        savepoint.body["code"].clone(),
        json!("25P01"),
        "no_active_sql_transaction",
    )?;
    ctx.ok("prepare leak_stmt as select 1", json!([]))?;
    let prepared = ctx.ok(
        "select count(*)::int n from pg_prepared_statements",
        json!([]),
    )?;
    eq(
        prepared["rows"][0]["n"].clone(),
        json!(0),
        "prepared statements do not leak",
    )?;
    // Inside one batch a SET does apply to later statements.
    let batch = ctx.sql(
        &[],
        json!({"queries": [{"query": "set local statement_timeout = 4321"}, {"query": "show statement_timeout"}]}),
    )?;
    eq(
        batch.body["results"][1]["rows"][0]["statement_timeout"].clone(),
        json!("4321ms"),
        "SET within a batch",
    )
}

/// Sends a raw HTTP/1.1 request and returns the status line and full response text.
fn raw_http(ctx: &Ctx, request: &str) -> Result<String, Failed> {
    let addr = ctx
        .sql_url
        .trim_start_matches("http://")
        .trim_end_matches("/sql")
        .to_owned();
    let mut stream = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    Ok(response)
}

fn cors_and_routes(ctx: &Ctx) -> TestResult {
    let preflight = raw_http(ctx, "OPTIONS /sql HTTP/1.1\r\nHost: x\r\nOrigin: http://example.test\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n")?;
    check(
        preflight.starts_with("HTTP/1.1 200"),
        format!("preflight: {preflight}"),
    )?;
    let lower = preflight.to_ascii_lowercase();
    check(
        lower.contains("access-control-allow-origin: *"),
        "preflight allow-origin",
    )?;
    check(
        lower.contains("neon-connection-string"),
        "preflight allow-headers",
    )?;
    check(
        lower.contains("neon-batch-isolation-level"),
        "preflight allow-headers (batch)",
    )?;

    for request in [
        "GET /sql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        "PUT /sql HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let response = raw_http(ctx, request)?;
        check(
            response.starts_with("HTTP/1.1 400"),
            format!("{request:?}: {response}"),
        )?;
        check(
            response.ends_with("\r\n\r\n\"query is not supported\""),
            format!("bare JSON string: {response}"),
        )?;
    }
    let ok = ctx.sql(&[], json!({"query": "select 1"}))?;
    eq(
        ok.allow_origin.as_deref(),
        Some("*"),
        "allow-origin on success",
    )
}

fn disconnect_cancels(ctx: &Ctx) -> TestResult {
    let addr = ctx
        .sql_url
        .trim_start_matches("http://")
        .trim_end_matches("/sql")
        .to_owned();
    let body = json!({"query": "select pg_sleep(60), 'disconnect-marker'"}).to_string();
    let request = format!(
        "POST /sql HTTP/1.1\r\nHost: x\r\nNeon-Connection-String: {}\r\nContent-Length: {}\r\n\r\n{}",
        ctx.db_url,
        body.len(),
        body
    );
    let mut stream = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let running = "select count(*)::int n from pg_stat_activity where query like '%disconnect-marker%' and pid <> pg_backend_pid()";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = ctx.ok(running, json!([]))?["rows"][0]["n"].clone();
        if n == json!(1) {
            break;
        }
        check(Instant::now() < deadline, "the sleep never started")?;
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = ctx.ok(running, json!([]))?["rows"][0]["n"].clone();
        if n == json!(0) {
            return Ok(());
        }
        check(
            Instant::now() < deadline,
            "the query kept running after the client left",
        )?;
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Connection pooling. Each test starts its own endpoint (own pool) over the shared cluster, so
// the other tests running in parallel cannot take its connections; with one connection per key,
// consecutive requests are served by the same backend whenever it is reused at all.

/// An endpoint over the test cluster with its own pool.
fn pooled_endpoint(ctx: &Ctx, pool: PoolConfig) -> Result<NeonLocal, Failed> {
    pooled_endpoint_with(ctx, pool, Options::default().max_response_bytes)
}

fn pooled_endpoint_with(
    ctx: &Ctx,
    pool: PoolConfig,
    max_response_bytes: usize,
) -> Result<NeonLocal, Failed> {
    NeonLocal::start(Options {
        upstream: Some(ctx.db_url.clone()),
        quiet: true,
        max_response_bytes,
        pool,
        ..Options::default()
    })
    .map_err(|e| e.to_string().into())
}

/// One pooled connection per key: every request of a key runs on the same backend if reused.
fn one_per_key() -> PoolConfig {
    PoolConfig {
        max_per_key: 1,
        ..PoolConfig::default()
    }
}

/// A single query at `url` with connection string `conn`.
fn query_at(ctx: &Ctx, url: &str, conn: &str, query: &str) -> Result<Reply, Failed> {
    ctx.post_to(
        url,
        &[("Neon-Connection-String", conn)],
        &json!({ "query": query }).to_string(),
    )
}

/// A query at `url` that must succeed; returns its first row.
fn row_at(ctx: &Ctx, url: &str, conn: &str, query: &str) -> Result<Value, Failed> {
    let reply = query_at(ctx, url, conn, query)?;
    if reply.status != 200 {
        return Err(format!("{query}: HTTP {} {}", reply.status, reply.raw).into());
    }
    Ok(reply.body["rows"][0].clone())
}

/// The backend process serving a request at `url`.
fn pid_at(ctx: &Ctx, url: &str, conn: &str) -> Result<i64, Failed> {
    row_at(ctx, url, conn, "select pg_backend_pid() pid")?["pid"]
        .as_i64()
        .ok_or_else(|| "pg_backend_pid() is a number".into())
}

/// Whether backend `pid` still exists (asked through the shared endpoint).
fn backend_exists(ctx: &Ctx, pid: i64) -> Result<bool, Failed> {
    let body = ctx.ok(
        "select count(*)::int n from pg_stat_activity where pid = $1",
        json!([pid]),
    )?;
    Ok(body["rows"][0]["n"] == json!(1))
}

/// Waits (bounded) until backend `pid` has exited.
fn wait_backend_gone(ctx: &Ctx, pid: i64, what: &str) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend_exists(ctx, pid)? {
        check(
            Instant::now() < deadline,
            format!("{what}: backend {pid} still exists"),
        )?;
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// `postgres://USER:PASSWORD@` + the rest of the test database URL.
fn with_credentials(ctx: &Ctx, user: &str, password: &str) -> Result<String, Failed> {
    let at = ctx.db_url.rfind('@').ok_or("url has @")?;
    Ok(format!("postgres://{user}:{password}{}", &ctx.db_url[at..]))
}

fn pool_reuses_backend_not_session(ctx: &Ctx) -> TestResult {
    let endpoint = pooled_endpoint(ctx, one_per_key())?;
    let url = endpoint.sql_url();
    let conn = ctx.db_url.as_str();
    let pid = pid_at(ctx, url, conn)?;
    ctx.ok("create sequence pool_seq", json!([]))?;

    // (what, leaves state behind, sees it? → the value a fresh session has)
    let cases = [
        (
            "SET",
            "set statement_timeout = 1234",
            "current_setting('statement_timeout')",
            json!("0"),
        ),
        (
            "SET in a batch-less request of application_name",
            "set application_name = 'leaky'",
            "current_setting('application_name')",
            json!(""),
        ),
        (
            "custom setting value",
            "set strata.pool_test = 'secret'",
            "coalesce(current_setting('strata.pool_test', true), '')",
            json!(""),
        ),
        (
            "SET ROLE",
            "set role pg_monitor",
            "current_user::text",
            json!("strata"),
        ),
        (
            "temp table",
            "create temp table pool_tmp (x int)",
            "(select count(*)::int from pg_class where relname = 'pool_tmp')",
            json!(0),
        ),
        (
            "prepared statement",
            "prepare pool_stmt as select 1",
            "(select count(*)::int from pg_prepared_statements)",
            json!(0),
        ),
        (
            "session advisory lock",
            "select pg_advisory_lock(4242)",
            "(select count(*)::int from pg_locks where locktype = 'advisory' and objid = 4242)",
            json!(0),
        ),
        (
            "LISTEN",
            "listen pool_channel",
            "(select count(*)::int from pg_listening_channels())",
            json!(0),
        ),
        (
            "cursor WITH HOLD",
            "declare pool_cursor cursor with hold for select 1",
            "(select count(*)::int from pg_cursors where name = 'pool_cursor')",
            json!(0),
        ),
        (
            "open BEGIN (serializable)",
            "begin isolation level serializable",
            "current_setting('transaction_isolation')",
            json!("read committed"),
        ),
    ];
    for (what, leave, probe, fresh) in cases {
        row_at(ctx, url, conn, leave)
            .map_err(|e| format!("{what}: {}", e.message().unwrap_or_default()))?;
        let row = row_at(
            ctx,
            url,
            conn,
            &format!("select {probe} v, pg_backend_pid() pid"),
        )?;
        eq(row["v"].clone(), fresh, what)?;
        eq(
            row["pid"].as_i64(),
            Some(pid),
            &format!("{what}: same backend"),
        )?;
    }

    // A plain open BEGIN: SAVEPOINT only works inside a transaction block.
    row_at(ctx, url, conn, "begin")?;
    let savepoint = query_at(ctx, url, conn, "savepoint pool_check")?;
    eq(savepoint.status, 400, "open BEGIN does not carry over")?;
    eq(
        savepoint.body["code"].clone(),
        json!("25P01"),
        "no_active_sql_transaction",
    )?;
    eq(pid_at(ctx, url, conn)?, pid, "open BEGIN: same backend")?;

    // A session-level SET inside a batch does not outlive the batch's request either.
    let batch = ctx.post_to(
        url,
        &[("Neon-Connection-String", conn)],
        &json!({"queries": [{"query": "set work_mem = '7MB'"}]}).to_string(),
    )?;
    eq(batch.status, 200, "batch with SET")?;
    let row = row_at(
        ctx,
        url,
        conn,
        "select current_setting('work_mem') = (select boot_val || 'kB' from pg_settings \
         where name = 'work_mem') or current_setting('work_mem') <> '7MB' v, \
         pg_backend_pid() pid",
    )?;
    eq(row["v"].clone(), json!(true), "SET in a batch")?;
    eq(row["pid"].as_i64(), Some(pid), "batch: same backend")?;

    // Sequence state (currval) is per session.
    row_at(ctx, url, conn, "select nextval('pool_seq')")?;
    let currval = query_at(ctx, url, conn, "select currval('pool_seq')")?;
    eq(
        currval.status,
        400,
        "currval after another request's nextval",
    )?;
    eq(currval.body["code"].clone(), json!("55000"), "currval code")?;

    // A statement error inside the request leaves the connection reusable.
    let error = query_at(ctx, url, conn, "select 1/0")?;
    eq(error.status, 400, "division by zero")?;
    eq(
        pid_at(ctx, url, conn)?,
        pid,
        "same backend after an SQL error",
    )?;
    ctx.ok("drop sequence pool_seq", json!([]))?;
    Ok(())
}

fn pool_never_shares_across_credentials(ctx: &Ctx) -> TestResult {
    ctx.ok("create role pool_user login password 'pw1'", json!([]))?;
    let result = (|| {
        let endpoint = pooled_endpoint(ctx, one_per_key())?;
        let url = endpoint.sql_url();
        let strata = ctx.db_url.as_str();
        let pid = pid_at(ctx, url, strata)?;

        // Same user, wrong password, right after a right one: refused, not pooled.
        // (An empty password is refused before any pooling: the connection string is invalid.)
        for wrong in ["wrong", "x", "wrongwrongwrongwrongwrongwrongwrongwrong"] {
            let conn = with_credentials(ctx, "strata", wrong)?;
            let reply = query_at(ctx, url, &conn, "select 1")?;
            eq(reply.status, 400, &format!("wrong password {wrong:?}"))?;
            eq(
                reply.body["code"].clone(),
                json!("28P01"),
                "wrong password code",
            )?;
        }
        eq(
            pid_at(ctx, url, strata)?,
            pid,
            "the right password still reuses",
        )?;

        // Another user, and a password that only extends the right one.
        let user = with_credentials(ctx, "pool_user", "pw1")?;
        let row = row_at(
            ctx,
            url,
            &user,
            "select current_user::text u, pg_backend_pid() pid",
        )?;
        eq(row["u"].clone(), json!("pool_user"), "other user")?;
        check(
            row["pid"].as_i64() != Some(pid),
            "other user, other backend",
        )?;
        let longer = with_credentials(ctx, "pool_user", "pw12")?;
        let reply = query_at(ctx, url, &longer, "select 1")?;
        eq(
            reply.body["code"].clone(),
            json!("28P01"),
            "password with a suffix",
        )?;
        let row = row_at(ctx, url, strata, "select current_user::text u")?;
        eq(row["u"].clone(), json!("strata"), "back to the first user")?;

        // application_name is a startup parameter: its own connections.
        let named = format!("{strata}?application_name=pool_app");
        let row = row_at(
            ctx,
            url,
            &named,
            "select current_setting('application_name') a, pg_backend_pid() pid",
        )?;
        eq(row["a"].clone(), json!("pool_app"), "application_name")?;
        check(
            row["pid"].as_i64() != Some(pid),
            "other application_name, other backend",
        )?;
        let row = row_at(
            ctx,
            url,
            strata,
            "select current_setting('application_name') a, pg_backend_pid() pid",
        )?;
        eq(row["a"].clone(), json!(""), "no application_name")?;
        eq(row["pid"].as_i64(), Some(pid), "first backend again")
    })();
    // The endpoint (and its pool_user connections) is gone by now.
    ctx.ok("drop role pool_user", json!([]))?;
    result
}

fn pool_drops_terminated_connections(ctx: &Ctx) -> TestResult {
    let endpoint = pooled_endpoint(ctx, one_per_key())?;
    let url = endpoint.sql_url();
    let conn = ctx.db_url.as_str();

    // Terminated while idle in the pool.
    let pid = pid_at(ctx, url, conn)?;
    let killed = ctx.ok("select pg_terminate_backend($1) k", json!([pid]))?;
    eq(killed["rows"][0]["k"].clone(), json!(true), "terminated")?;
    wait_backend_gone(ctx, pid, "pg_terminate_backend")?;
    let next = pid_at(ctx, url, conn)?;
    check(next != pid, "a terminated connection is not reused")?;

    // Terminated by its own request: that request fails, the next one works.
    let reply = query_at(
        ctx,
        url,
        conn,
        "select pg_terminate_backend(pg_backend_pid())",
    )?;
    check(
        reply.status != 200,
        format!("self-termination: {}", reply.raw),
    )?;
    let after = pid_at(ctx, url, conn)?;
    check(after != next, "the broken connection is not reused")?;
    eq(pid_at(ctx, url, conn)?, after, "the new one is")
}

fn pool_drops_aborted_connections(ctx: &Ctx) -> TestResult {
    let endpoint = pooled_endpoint_with(ctx, one_per_key(), 4096)?;
    let url = endpoint.sql_url();
    let conn = ctx.db_url.as_str();

    // Client gone mid-query: the query is cancelled and the connection closed, not pooled.
    let pid = pid_at(ctx, url, conn)?;
    let addr = endpoint.local_addr();
    let body = json!({"query": "select pg_sleep(60), 'pool-abort-marker'"}).to_string();
    let request = format!(
        "POST /sql HTTP/1.1\r\nHost: x\r\nNeon-Connection-String: {conn}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len(),
    );
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let active = ctx.ok(
            "select count(*)::int n from pg_stat_activity where pid = $1 and state = 'active'",
            json!([pid]),
        )?;
        if active["rows"][0]["n"] == json!(1) {
            break;
        }
        check(
            Instant::now() < deadline,
            "the sleep never started on the pooled backend",
        )?;
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stream);
    // Without the cancel the backend would sleep on for a minute before noticing the EOF.
    wait_backend_gone(ctx, pid, "aborted request")?;
    let next = pid_at(ctx, url, conn)?;
    check(
        next != pid,
        "the aborted request's connection is not reused",
    )?;

    // A response cut off at the size limit abandons rows in flight: not reused either.
    let reply = query_at(
        ctx,
        url,
        conn,
        "select g, repeat('x', 100) from generate_series(1, 100000) g",
    )?;
    eq(reply.status, 507, "too large")?;
    check(
        pid_at(ctx, url, conn)? != next,
        "cut-off connection is not reused",
    )
}

fn pool_bounds_per_key(ctx: &Ctx) -> TestResult {
    let endpoint = pooled_endpoint(
        ctx,
        PoolConfig {
            max_per_key: 2,
            ..PoolConfig::default()
        },
    )?;
    let url = endpoint.sql_url();
    let conn = ctx.db_url.as_str();
    let started = Instant::now();
    let rows: Vec<Result<Value, Failed>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    row_at(
                        ctx,
                        url,
                        conn,
                        "select pg_backend_pid() pid, pg_sleep(0.3)::text s",
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut pids = Vec::new();
    for row in rows {
        pids.push(row?["pid"].as_i64().ok_or("pid")?);
    }
    pids.sort_unstable();
    pids.dedup();
    check(pids.len() <= 2, format!("at most 2 backends, got {pids:?}"))?;
    check(
        elapsed >= Duration::from_millis(550),
        format!("4 sleeps of 0.3 s on 2 connections take two rounds, took {elapsed:?}"),
    )
}

fn pool_closes_idle_connections(ctx: &Ctx) -> TestResult {
    let endpoint = pooled_endpoint(
        ctx,
        PoolConfig {
            max_per_key: 1,
            idle_timeout: Duration::from_millis(300),
            ..PoolConfig::default()
        },
    )?;
    let url = endpoint.sql_url();
    let conn = ctx.db_url.as_str();
    let pid = pid_at(ctx, url, conn)?;
    eq(pid_at(ctx, url, conn)?, pid, "reused while fresh")?;
    // Closed by the pool's reaper, with no request needed.
    wait_backend_gone(ctx, pid, "idle timeout")?;
    check(
        pid_at(ctx, url, conn)? != pid,
        "a new connection after the timeout",
    )
}

fn pool_disabled(ctx: &Ctx) -> TestResult {
    let endpoint = pooled_endpoint(ctx, PoolConfig::disabled())?;
    let url = endpoint.sql_url();
    let conn = ctx.db_url.as_str();
    let first = pid_at(ctx, url, conn)?;
    wait_backend_gone(ctx, first, "closed after its request")?;
    check(
        pid_at(ctx, url, conn)? != first,
        "a fresh connection per request",
    )
}

/// The reset itself, on a connection driven directly: a failed transaction (status `E`, which
/// no single HTTP request can leave behind) and an open one both end up idle and clean.
fn reset_rolls_back_transactions(ctx: &Ctx) -> TestResult {
    let parsed = ConnectionString::parse(&ctx.db_url).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let startup = Startup {
            user: &parsed.user,
            password: &parsed.password,
            database: &parsed.database,
            application_name: None,
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], ctx.pg_port));
        let mut conn = Connection::connect(addr, &startup, Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        let mut budget = ResponseBudget::new(1 << 20);

        conn.execute_simple("begin")
            .await
            .map_err(|e| e.to_string())?;
        conn.execute_simple("set local statement_timeout = 5")
            .await
            .map_err(|e| e.to_string())?;
        check(
            conn.execute_simple("select 1/0").await.is_err(),
            "1/0 fails",
        )?;
        eq(conn.transaction_status(), b'E', "failed transaction")?;
        conn.reset().await.map_err(|e| e.to_string())?;
        eq(conn.transaction_status(), b'I', "idle after reset")?;

        conn.execute_simple("begin")
            .await
            .map_err(|e| e.to_string())?;
        conn.execute_simple("set statement_timeout = 7")
            .await
            .map_err(|e| e.to_string())?;
        eq(conn.transaction_status(), b'T', "open transaction")?;
        conn.reset().await.map_err(|e| e.to_string())?;
        eq(conn.transaction_status(), b'I', "idle after reset")?;

        let mut conn = conn.check_idle().map_err(|e| e.to_string())?;
        let result = conn
            .query("show statement_timeout", &[], &mut budget)
            .await
            .map_err(|e| e.to_string())?;
        eq(
            result.rows,
            vec![vec![Some("0".to_owned())]],
            "statement_timeout",
        )?;
        conn.close().await;
        Ok(())
    })
}
