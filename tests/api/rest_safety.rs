//! REST's safety edges: what a database error shows on `/v1/rest` (and
//! `/rpc`), `order=` against output aliases, the bounds on embedding, unique
//! output names, and functions whose arguments have no names.

use crate::client::admin_sql as sql;
use crate::client::{call_base, Reply};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::{json, Value};

pub fn tests() -> Vec<TestFn> {
    trials![
        rest_safety::database_errors_hide_what_a_function_runs,
        rest_safety::order_embeds_and_output_names_on_both_stores,
        rest_safety::functions_with_unnamed_arguments,
    ]
}

/// A request with the admin key to `base` (the shared Worker or a spawned one).
fn send(
    s: &Stack,
    base: &str,
    method: &str,
    path: &str,
    h: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut headers = h.to_vec();
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    call_base(
        base,
        method,
        path,
        Some(&s.admin_key),
        &headers,
        body.map(str::as_bytes),
    )
}

fn rest(s: &Stack, method: &str, path: &str, h: &[(&str, &str)], body: Option<&str>) -> Reply {
    send(s, &s.base, method, &format!("/v1/rest/{path}"), h, body)
}

/// Postgres's diagnostic fields that describe the failing statement, which
/// REST never answers.
const STATEMENT_FIELDS: [&str; 7] = [
    "position",
    "where",
    "schema",
    "table",
    "column",
    "constraint",
    "dataType",
];

fn assert_no_statement_fields(e: &Value) {
    for field in STATEMENT_FIELDS {
        assert!(e["details"].get(field).is_none(), "{field} in {e}");
    }
}

pub fn database_errors_hide_what_a_function_runs(s: &Stack) -> Outcome {
    sql(s, "pg", "create table rs_audit_pg (id integer primary key)");
    sql(
        s,
        "pg",
        "create function rs_log(x integer) returns integer language plpgsql volatile as \
         $$ begin insert into rs_audit_pg values (x); return x; end $$",
    );
    sql(
        s,
        "pg",
        "create function rs_refuse() returns integer language plpgsql stable as \
         $$ begin perform count(*) from rs_audit_pg; raise exception 'not today' \
         using detail = 'the shop is closed', hint = 'come back tomorrow'; end $$",
    );
    let r = rest(s, "POST", "rpc/rs_log", &[], Some(r#"{"x": 1}"#));
    assert_eq!((r.status, r.json()), (200, json!(1)), "{}", r.text());

    // The same failure inside the function: raw SQL shows the context, REST does not.
    let raw = send(
        s,
        &s.base,
        "POST",
        "/v1/pg/query",
        &[],
        Some(r#"{"sql": "select rs_log(1)"}"#),
    );
    let e = raw.assert_error(409, "unique_violation");
    assert!(
        e["details"]["where"]
            .as_str()
            .is_some_and(|w| w.contains("PL/pgSQL")),
        "the raw SQL route keeps where: {e}"
    );
    let r = rest(s, "POST", "rpc/rs_log", &[], Some(r#"{"x": 1}"#));
    let e = r.assert_error(409, "unique_violation");
    assert_no_statement_fields(&e);
    assert_eq!(
        e["details"],
        json!({"sqlstate": "23505", "detail": "Key (id)=(1) already exists."}),
        "{e}"
    );
    assert!(
        !r.text().contains("PL/pgSQL") && !r.text().contains("insert into"),
        "{}",
        r.text()
    );

    // A function's own RAISE: its message, detail and hint are for the caller.
    let r = rest(s, "POST", "rpc/rs_refuse", &[], Some("{}"));
    let e = r.assert_error(400, "sql_error");
    assert_no_statement_fields(&e);
    assert_eq!(e["message"], "not today");
    assert_eq!(e["details"]["detail"], "the shop is closed");
    assert_eq!(e["hint"], "come back tomorrow");
    assert!(!r.text().contains("PL/pgSQL"), "{}", r.text());

    // A table's own constraint through REST: the key values the request sent, no names.
    let r = rest(s, "POST", "rs_audit_pg", &[], Some(r#"{"id": 1}"#));
    let e = r.assert_error(409, "unique_violation");
    assert_no_statement_fields(&e);
    assert_eq!(e["details"]["sqlstate"], "23505");
    assert_eq!(e["details"]["detail"], "Key (id)=(1) already exists.");
    let r = rest(s, "POST", "rs_audit_pg", &[], Some(r#"{"id": null}"#));
    assert_no_statement_fields(&r.assert_error(400, "not_null_violation"));
    Ok(())
}

/// Values of `key` in a JSON array of objects.
fn column(rows: &Value, key: &str) -> Vec<Value> {
    rows.as_array()
        .map(|a| a.iter().map(|r| r[key].clone()).collect())
        .unwrap_or_default()
}

fn next_link(r: &Reply) -> Option<String> {
    let link = r.header("link")?;
    let start = link.find("/v1/")?;
    let end = link.find('>')?;
    Some(link[start..end].to_string())
}

pub fn order_embeds_and_output_names_on_both_stores(s: &Stack) -> Outcome {
    // Its own Worker: REST_MAX_ROWS small enough to see every cap at work.
    let w = s.spawn_isolated_worker(
        "wrangler-rest-safety",
        &[
            ("REST_MAX_ROWS", "5"),
            (
                "REST_TABLES",
                r#"{"rs_posts": "d1", "rs_kids": "d1", "*": "pg"}"#,
            ),
        ],
    )?;
    let titles = ["c", "b", "a", "e", "d", "f", "g"];
    for (store, suffix) in [("d1", ""), ("pg", "_pg")] {
        let (posts, kids) = (format!("rs_posts{suffix}"), format!("rs_kids{suffix}"));
        let run = |statement: &str| {
            let body = json!({ "sql": statement }).to_string();
            let r = send(
                s,
                &w.base,
                "POST",
                &format!("/v1/{store}/query"),
                &[],
                Some(&body),
            );
            assert_eq!(r.status, 200, "{store}: {statement}: {}", r.text());
        };
        run(&format!(
            "create table {posts} (id integer primary key, title text not null)"
        ));
        run(&format!(
            "create table {kids} (id integer primary key, post_id integer not null references {posts}(id), n integer)"
        ));
        let values: Vec<String> = titles
            .iter()
            .enumerate()
            .map(|(i, t)| format!("({}, '{t}')", i + 1))
            .collect();
        run(&format!(
            "insert into {posts} (id, title) values {}",
            values.join(", ")
        ));
        // Post 1 has 8 children, post 2 one.
        run(&format!(
            "insert into {kids} (id, post_id, n) values (1, 1, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4), \
             (5, 1, 5), (6, 1, 6), (7, 1, 7), (8, 1, 8), (9, 2, 9)"
        ));
        let get = |query: &str| {
            send(
                s,
                &w.base,
                "GET",
                &format!("/v1/rest/{posts}?{query}"),
                &[],
                None,
            )
        };
        let ok = |query: &str| {
            let r = get(query);
            assert_eq!(r.status, 200, "{store} {query}: {}", r.text());
            r.json()
        };

        // `order=id` is the column id, even when `id` is an alias of title ...
        let rows = ok("select=id:title&order=id");
        assert_eq!(
            column(&rows, "id"),
            [json!("c"), json!("b"), json!("a"), json!("e"), json!("d")],
            "{store}"
        );
        let rows = ok("select=id:title&order=id.desc&limit=3");
        assert_eq!(
            column(&rows, "id"),
            [json!("g"), json!("f"), json!("d")],
            "{store}"
        );
        // ... and keyset pages by it neither skip nor repeat rows.
        let mut seen = Vec::new();
        let mut next = Some(format!("/v1/rest/{posts}?select=id:title&order=id&limit=2"));
        while let Some(path) = next.take() {
            let r = send(s, &w.base, "GET", &path, &[], None);
            assert_eq!(r.status, 200, "{store} {path}: {}", r.text());
            seen.extend(column(&r.json(), "id"));
            next = next_link(&r);
            assert!(
                seen.len() <= titles.len(),
                "{store}: pages repeat rows: {seen:?}"
            );
        }
        let want: Vec<Value> = titles.iter().map(|t| json!(t)).collect();
        assert_eq!(seen, want, "{store}");
        // ... and when an embed is called `id`.
        let rows = ok(&format!("select=title,id:{kids}(n)&order=id&id=lte.3"));
        assert_eq!(
            column(&rows, "title"),
            [json!("c"), json!("b"), json!("a")],
            "{store}"
        );
        assert_eq!(rows[1]["id"], json!([{"n": 9}]), "{store}");
        // ... and inside an embed, the child's column.
        let rows = ok(&format!(
            "select=id,k:{kids}(id:n,n:id)&id=eq.1&k.order=id.desc&k.limit=2"
        ));
        assert_eq!(
            rows[0]["k"],
            json!([{"id": 8, "n": 8}, {"id": 7, "n": 7}]),
            "{store}"
        );

        // Each embedded array holds at most REST_MAX_ROWS; a larger limit is lowered.
        for (query, want) in [
            (format!("select=id,{kids}(id)&id=eq.1"), 5),
            (format!("select=id,{kids}(id)&id=eq.1&{kids}.limit=100"), 5),
            (format!("select=id,{kids}(id)&id=eq.1&{kids}.limit=2"), 2),
            (format!("select=id,{kids}(id)&id=eq.1&{kids}.offset=6"), 2),
        ] {
            let rows = ok(&query);
            assert_eq!(
                rows[0][kids.as_str()].as_array().map(Vec::len),
                Some(want),
                "{store} {query}"
            );
        }
        // At most 16 embeds in a request.
        let embeds = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}:{kids}(id)"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let rows = ok(&format!("select=id,{}&id=eq.2", embeds(16)));
        assert_eq!(rows[0]["k15"], json!([{"id": 9}]), "{store}");
        let e = get(&format!("select=id,{}&id=eq.2", embeds(17))).assert_error(400, "PGRST100");
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains("16")),
            "{e}"
        );

        // One output name, one thing.
        for select in [
            format!("{kids}(id),{kids}(n)"),
            format!("id,id:{kids}(id)"),
            format!("*,title:{kids}(id)"),
            "id,x:title,x:id".to_string(),
            format!("id,{kids}(id,id:n)"),
        ] {
            let e = get(&format!("select={select}")).assert_error(400, "PGRST100");
            assert_eq!(e["details"]["part"], "select", "{store} {select}: {e}");
        }
        let rows = ok(&format!("select=id,a:{kids}(id),b:{kids}(n)&id=eq.2"));
        assert_eq!(
            rows,
            json!([{"id": 2, "a": [{"id": 9}], "b": [{"n": 9}]}]),
            "{store}"
        );
    }
    Ok(())
}

pub fn functions_with_unnamed_arguments(s: &Stack) -> Outcome {
    sql(
        s,
        "pg",
        "create function rs_inc(integer) returns integer language sql immutable as 'select $1 + 1'",
    );
    sql(
        s,
        "pg",
        "create function rs_pair(a integer, out integer, out text) language sql stable as 'select a, a::text'",
    );
    sql(
        s,
        "pg",
        "create function rs_seven(out integer) language sql immutable as 'select 7'",
    );
    // Arguments without names cannot be named: a clear 400, nothing called.
    for body in [r#"{}"#, r#"{"": 1}"#, r#"{"x": 1}"#] {
        let e = rest(s, "POST", "rpc/rs_inc", &[], Some(body)).assert_error(400, "invalid_request");
        assert!(
            e["hint"]
                .as_str()
                .is_some_and(|h| h.contains("single-object")),
            "{e}"
        );
    }
    rest(s, "GET", "rpc/rs_inc?=1", &[], None).assert_error(400, "invalid_request");
    // One argument: the whole body, passed by position.
    let r = rest(
        s,
        "POST",
        "rpc/rs_inc",
        &[("prefer", "params=single-object")],
        Some("4"),
    );
    assert_eq!((r.status, r.json()), (200, json!(5)), "{}", r.text());
    // Unnamed OUT columns carry Postgres's own names.
    let r = rest(s, "POST", "rpc/rs_pair", &[], Some(r#"{"a": 2}"#));
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"column1": 2, "column2": "2"})),
        "{}",
        r.text()
    );
    let r = rest(s, "GET", "rpc/rs_pair?a=3&select=column2", &[], None);
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"column2": "3"})),
        "{}",
        r.text()
    );
    let r = rest(s, "POST", "rpc/rs_seven", &[], Some("{}"));
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"rs_seven": 7})),
        "{}",
        r.text()
    );
    Ok(())
}
