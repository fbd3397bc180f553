//! `/v1/{d1,pg}/query` and `/batch` against real D1 and real Postgres.

use crate::client::{call, call_base, post_json, unique, Reply};
use crate::stack::{free_port, Stack};
use crate::{Outcome, TestFn};
use serde_json::{json, Value};

pub fn tests() -> Vec<TestFn> {
    trials![
        sql::pg_types_round_trip,
        sql::d1_types_round_trip,
        sql::same_statements_same_json_on_both_stores,
        sql::array_row_mode_and_column_order,
        sql::d1_big_integers_never_rounded,
        sql::failed_batch_changes_nothing,
        sql::batch_results_in_order,
        sql::pg_batch_isolation_and_read_only,
        sql::read_keys_cannot_write_pg,
        sql::read_keys_cannot_write_d1,
        sql::write_scopes_and_sql_scope,
        sql::store_errors_map_by_kind,
        sql::bad_bodies_are_4xx,
        sql::limits_are_checked_before_the_store,
        sql::neon_unreachable_is_503_and_d1_still_works,
        sql::slow_statement_is_504,
    ]
}

fn query(s: &Stack, store: &str, key: &str, sql: &str, params: Value) -> Reply {
    post_json(
        &s.base,
        &format!("/v1/{store}/query"),
        key,
        &json!({"sql": sql, "params": params}),
    )
}

/// A query with the admin key that must succeed.
fn ok(s: &Stack, store: &str, sql: &str, params: Value) -> Value {
    let r = query(s, store, &s.admin_key, sql, params);
    assert_eq!(r.status, 200, "{store}: {sql}: {}", r.body);
    r.json()
}

fn count(s: &Stack, store: &str, table: &str) -> i64 {
    let v = ok(
        s,
        store,
        &format!("select count(*) as n from {table}"),
        json!([]),
    );
    // Postgres count(*) is int8 (a string); SQLite's is a number.
    match &v["rows"][0]["n"] {
        Value::String(n) => n.parse().unwrap_or(-1),
        n => n.as_i64().unwrap_or(-1),
    }
}

fn pg_types_round_trip(s: &Stack) -> Outcome {
    let v = ok(
        s,
        "pg",
        "select $1::int4 as i4, $2::int8 as i8, $3::numeric as num, $4::text as t, $5::bool as b, \
         $6::json as j, $7::jsonb as jb, $8::int4[] as arr, $9::bytea as bin, \
         $10::timestamptz as ts, $11::uuid as u, $12::text as n, $13::float8 as f, $14::text[] as ta, \
         $15::date as d, $16::interval as iv",
        json!([
            42,
            "9223372036854775807",
            "12345678901234567890.000000000001",
            "héllo \"quoted\" ' \\ ",
            true,
            {"a": [1, 2, {"b": null}]},
            {"z": 1, "a": "x"},
            [1, null, 3],
            {"$binary": "AAEC/w=="},
            "2024-02-29T12:34:56.789Z",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            null,
            1.5,
            ["a,b", "c\"d", null],
            "2024-02-29",
            "1 day 02:03:04"
        ]),
    );
    let row = &v["rows"][0];
    assert_eq!(row["i4"], 42);
    assert_eq!(row["i8"], "9223372036854775807");
    assert_eq!(row["num"], "12345678901234567890.000000000001");
    assert_eq!(row["t"], "héllo \"quoted\" ' \\ ");
    assert_eq!(row["b"], true);
    assert_eq!(row["j"], json!({"a": [1, 2, {"b": null}]}));
    assert_eq!(row["jb"], json!({"a": "x", "z": 1}));
    assert_eq!(row["arr"], json!([1, null, 3]));
    assert_eq!(row["bin"], json!({"$binary": "AAEC/w=="}));
    assert_eq!(row["ts"], "2024-02-29 12:34:56.789+00");
    assert_eq!(row["u"], "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(row["n"], Value::Null);
    assert_eq!(row["f"], 1.5);
    assert_eq!(row["ta"], json!(["a,b", "c\"d", null]));
    assert_eq!(row["d"], "2024-02-29");
    assert_eq!(row["iv"], "1 day 02:03:04");
    let types: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "int4",
            "int8",
            "numeric",
            "text",
            "bool",
            "json",
            "jsonb",
            "_int4",
            "bytea",
            "timestamptz",
            "uuid",
            "text",
            "float8",
            "_text",
            "date",
            "interval"
        ]
    );
    assert_eq!(v["rowCount"], 1);
    assert_eq!(v["meta"]["command"], "SELECT");

    // Through a table and back, byte for byte.
    let t = unique("pg_types");
    ok(
        s,
        "pg",
        &format!("create table {t} (id int8 primary key, bin bytea, doc jsonb, amount numeric)"),
        json!([]),
    );
    let all_bytes: Vec<u8> = (0..=255).collect();
    let b64 = base64_encode(&all_bytes);
    let ins = ok(
        s,
        "pg",
        &format!("insert into {t} values ($1, $2, $3, $4) returning id"),
        json!(["9007199254740993", {"$binary": b64}, {"k": [true, 1.25]}, "0.1"]),
    );
    assert_eq!(ins["rows"], json!([{"id": "9007199254740993"}]));
    assert_eq!(ins["meta"]["command"], "INSERT");
    let back = ok(s, "pg", &format!("select * from {t}"), json!([]));
    assert_eq!(
        back["rows"][0],
        json!({"id": "9007199254740993", "bin": {"$binary": b64}, "doc": {"k": [true, 1.25]}, "amount": "0.1"})
    );
    Ok(())
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn d1_types_round_trip(s: &Stack) -> Outcome {
    let t = unique("d1_types");
    ok(s, "d1", &format!("create table {t} (id integer primary key, r real, txt text, bin blob, doc text, n text)"), json!([]));
    let all_bytes: Vec<u8> = (0..=255).collect();
    let b64 = base64_encode(&all_bytes);
    let ins = ok(
        s,
        "d1",
        &format!("insert into {t} values (?, ?, ?, ?, ?, ?)"),
        json!([7, 2.5, "héllo \"q\" ' \\", {"$binary": b64}, {"k": [true, 1.25]}, null]),
    );
    assert_eq!(ins["meta"]["changes"], 1);
    assert_eq!(ins["meta"]["last_row_id"], 7);
    assert!(ins["meta"]["duration"].is_number());
    assert_eq!(ins["rowCount"], 1);
    let back = ok(
        s,
        "d1",
        &format!("select id, r, txt, bin, doc, n, json_extract(doc, '$.k[1]') as k1 from {t}"),
        json!([]),
    );
    assert_eq!(
        back["rows"][0],
        json!({"id": 7, "r": 2.5, "txt": "héllo \"q\" ' \\", "bin": {"$binary": b64}, "doc": "{\"k\":[true,1.25]}", "n": null, "k1": 1.25})
    );
    let types: Vec<&str> = back["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["integer", "real", "text", "blob", "text", "null", "real"]
    );
    assert!(back["meta"]["rows_read"].is_number());
    // Booleans become 1/0 (SQLite has no boolean).
    let v = ok(s, "d1", "select ? as t, ? as f", json!([true, false]));
    assert_eq!(v["rows"][0], json!({"t": 1, "f": 0}));
    Ok(())
}

fn same_statements_same_json_on_both_stores(s: &Stack) -> Outcome {
    // Statements whose values the two stores agree on must answer the same rows.
    for (d1_sql, pg_sql, params) in [
        (
            "select 1 as a, 'x' as b, null as c",
            "select 1 as a, 'x' as b, null as c",
            json!([]),
        ),
        (
            "select ? as s, ? + 1 as n",
            "select $1::text as s, $2::int4 + 1 as n",
            json!(["hi", 41]),
        ),
        (
            "select 1.5 as f, -7 as i",
            "select 1.5::float8 as f, -7 as i",
            json!([]),
        ),
        (
            "select ? as bin",
            "select $1::bytea as bin",
            json!([{"$binary": "3q2+7w=="}]),
        ),
    ] {
        let d1 = ok(s, "d1", d1_sql, params.clone());
        let pg = ok(s, "pg", pg_sql, params);
        assert_eq!(d1["rows"], pg["rows"], "{d1_sql} vs {pg_sql}");
        assert_eq!(d1["rowCount"], pg["rowCount"]);
        let names = |v: &Value| {
            v["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&d1), names(&pg));
    }
    // The same table, the same writes, the same reads.
    let t = unique("both");
    for store in ["d1", "pg"] {
        ok(
            s,
            store,
            &format!(
                "create table {t} (id integer primary key, name text not null, score integer)"
            ),
            json!([]),
        );
    }
    for store in ["d1", "pg"] {
        let p = if store == "d1" { "?" } else { "$" };
        let sql = if store == "d1" {
            format!("insert into {t} (id, name, score) values (?, ?, ?)")
        } else {
            format!("insert into {t} (id, name, score) values ($1, $2, $3)")
        };
        let _ = p;
        for (id, name, score) in [(1, "ada", Some(10)), (2, "bob", None), (3, "cy", Some(-3))] {
            let r = ok(s, store, &sql, json!([id, name, score]));
            assert_eq!(r["rowCount"], 1, "{store}");
        }
    }
    let d1 = ok(
        s,
        "d1",
        &format!("select id, name, score from {t} order by id"),
        json!([]),
    );
    let pg = ok(
        s,
        "pg",
        &format!("select id, name, score from {t} order by id"),
        json!([]),
    );
    assert_eq!(d1["rows"], pg["rows"]);
    assert_eq!(
        d1["rows"],
        json!([{"id": 1, "name": "ada", "score": 10}, {"id": 2, "name": "bob", "score": null}, {"id": 3, "name": "cy", "score": -3}])
    );
    Ok(())
}

fn array_row_mode_and_column_order(s: &Stack) -> Outcome {
    for store in ["d1", "pg"] {
        let r = post_json(
            &s.base,
            &format!("/v1/{store}/query"),
            &s.admin_key,
            &json!({"sql": "select 1 as z, 2 as a, 3 as m", "rowMode": "array"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["rows"], json!([[1, 2, 3]]), "{store}");
        let r = query(
            s,
            store,
            &s.admin_key,
            "select 1 as z, 2 as a, 3 as m",
            json!([]),
        );
        // Object rows keep the statement's column order, on the wire.
        assert!(
            r.body.contains(r#"{"z":1,"a":2,"m":3}"#),
            "{store}: {}",
            r.body
        );
    }
    Ok(())
}

fn d1_big_integers_never_rounded(s: &Stack) -> Outcome {
    let t = unique("d1_big");
    ok(
        s,
        "d1",
        &format!("create table {t} (id integer primary key, v integer)"),
        json!([]),
    );
    // As a JSON number beyond 2^53 and as a string: both stored exactly.
    ok(
        s,
        "d1",
        &format!("insert into {t} values (1, ?)"),
        json!([9007199254740993_i64]),
    );
    ok(
        s,
        "d1",
        &format!("insert into {t} values (2, ?)"),
        json!(["9223372036854775807"]),
    );
    ok(
        s,
        "d1",
        &format!("insert into {t} values (3, ?)"),
        json!([-9007199254740993_i64]),
    );
    let exact = ok(
        s,
        "d1",
        &format!("select id, cast(v as text) as v, typeof(v) as t from {t} order by id"),
        json!([]),
    );
    assert_eq!(
        exact["rows"],
        json!([
            {"id": 1, "v": "9007199254740993", "t": "integer"},
            {"id": 2, "v": "9223372036854775807", "t": "integer"},
            {"id": 3, "v": "-9007199254740993", "t": "integer"}
        ])
    );
    // Reading them as numbers would round: refused with a clear 400, never rounded.
    let r = query(
        s,
        "d1",
        &s.admin_key,
        &format!("select v from {t} where id = 1"),
        json!([]),
    );
    let e = r.assert_error(400, "invalid_request");
    assert!(e["hint"].as_str().unwrap_or("").contains("CAST"), "{e}");
    // Beyond i64 is refused before the store is called.
    let r = query(
        s,
        "d1",
        &s.admin_key,
        &format!("insert into {t} values (4, ?)"),
        json!([18446744073709551615_u64]),
    );
    r.assert_error(400, "invalid_request");
    assert_eq!(count(s, "d1", &t), 3);
    Ok(())
}

fn failed_batch_changes_nothing(s: &Stack) -> Outcome {
    for store in ["d1", "pg"] {
        let t = unique("atomic");
        ok(
            s,
            store,
            &format!("create table {t} (id integer primary key, v text)"),
            json!([]),
        );
        ok(
            s,
            store,
            &format!("insert into {t} values (1, 'one')"),
            json!([]),
        );
        let r = post_json(
            &s.base,
            &format!("/v1/{store}/batch"),
            &s.admin_key,
            &json!({"statements": [
                {"sql": format!("insert into {t} values (2, 'two')")},
                {"sql": format!("update {t} set v = 'changed' where id = 1")},
                {"sql": format!("insert into {t} values (1, 'duplicate')")}
            ]}),
        );
        let e = r.assert_error(409, "unique_violation");
        if store == "pg" {
            assert_eq!(e["details"]["sqlstate"], "23505");
        } else {
            assert_eq!(e["details"]["sqliteError"], "SQLITE_CONSTRAINT", "{e}");
        }
        let v = ok(
            s,
            store,
            &format!("select id, v from {t} order by id"),
            json!([]),
        );
        assert_eq!(
            v["rows"],
            json!([{"id": 1, "v": "one"}]),
            "{store}: nothing of the batch remains"
        );
    }
    Ok(())
}

fn batch_results_in_order(s: &Stack) -> Outcome {
    for (store, p) in [("d1", "?"), ("pg", "$1")] {
        let t = unique("batch");
        let r = post_json(
            &s.base,
            &format!("/v1/{store}/batch"),
            &s.admin_key,
            &json!({"statements": [
                {"sql": format!("create table {t} (id integer primary key, v text)")},
                {"sql": format!("insert into {t} (id, v) values (1, {p})"), "params": ["a"]},
                {"sql": format!("insert into {t} (id, v) values (2, {p})"), "params": ["b"]},
                {"sql": format!("select v from {t} order by id")}
            ]}),
        );
        assert_eq!(r.status, 200, "{store}: {}", r.body);
        let v = r.json();
        let results = v["results"].as_array().expect("results");
        assert_eq!(results.len(), 4);
        assert_eq!(results[1]["rowCount"], 1);
        assert_eq!(
            results[3]["rows"],
            json!([{"v": "a"}, {"v": "b"}]),
            "{store}"
        );
    }
    Ok(())
}

fn pg_batch_isolation_and_read_only(s: &Stack) -> Outcome {
    let r = post_json(
        &s.base,
        "/v1/pg/batch",
        &s.admin_key,
        &json!({"statements": [{"sql": "select current_setting('transaction_isolation') as iso, current_setting('transaction_read_only') as ro"}],
                "isolation": "serializable", "readOnly": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["results"][0]["rows"],
        json!([{"iso": "serializable", "ro": "on"}])
    );
    let r = post_json(
        &s.base,
        "/v1/pg/batch",
        &s.admin_key,
        &json!({"statements": [{"sql": "select current_setting('transaction_isolation') as iso"}], "isolation": "repeatable_read"}),
    );
    assert_eq!(
        r.json()["results"][0]["rows"],
        json!([{"iso": "repeatable read"}])
    );
    // A write in a readOnly batch is refused by Postgres itself (a plain
    // INSERT never gets there: tests/api/pg_readonly.rs).
    let t = unique("ro");
    ok(s, "pg", &format!("create table {t} (id int)"), json!([]));
    let r = post_json(
        &s.base,
        "/v1/pg/batch",
        &s.admin_key,
        &json!({"statements": [{"sql": format!("with w as (insert into {t} values (1) returning *) select * from w")}], "readOnly": true}),
    );
    let e = r.assert_error(403, "read_only");
    assert_eq!(e["details"]["sqlstate"], "25006");
    assert_eq!(count(s, "pg", &t), 0);
    // D1 has no isolation levels: a clear 400.
    let r = post_json(
        &s.base,
        "/v1/d1/batch",
        &s.admin_key,
        &json!({"statements": [{"sql": "select 1"}], "isolation": "serializable"}),
    );
    r.assert_error(400, "invalid_request");
    Ok(())
}

fn read_keys_cannot_write_pg(s: &Stack) -> Outcome {
    let t = unique("pg_ro");
    ok(
        s,
        "pg",
        &format!("create table {t} (id int primary key, v text)"),
        json!([]),
    );
    ok(
        s,
        "pg",
        &format!("insert into {t} values (1, 'a')"),
        json!([]),
    );
    let key = s.key("sql:read");
    let v = query(s, "pg", key, &format!("select v from {t}"), json!([]));
    assert_eq!(v.status, 200, "{}", v.body);
    for sql in [
        format!("insert into {t} values (2, 'b')"),
        format!("update {t} set v = 'x'"),
        format!("delete from {t}"),
        format!("with d as (delete from {t} returning *) select * from d"),
        format!("drop table {t}"),
        format!("create table {t}_2 (a int)"),
        "select nextval('nope_seq')".to_string(),
    ] {
        let r = query(s, "pg", key, &sql, json!([]));
        assert!(
            r.status == 403 || r.status == 400,
            "{sql}: {} {}",
            r.status,
            r.body
        );
    }
    let r = query(
        s,
        "pg",
        key,
        &format!("insert into {t} values (2, 'b')"),
        json!([]),
    );
    r.assert_error(403, "read_only");
    // A batch from a read key is read-only even if it does not ask.
    let r = post_json(
        &s.base,
        "/v1/pg/batch",
        key,
        &json!({"statements": [{"sql": format!("delete from {t}")}]}),
    );
    r.assert_error(403, "read_only");
    let v = ok(s, "pg", &format!("select id, v from {t}"), json!([]));
    assert_eq!(v["rows"], json!([{"id": 1, "v": "a"}]), "nothing changed");
    Ok(())
}

fn read_keys_cannot_write_d1(s: &Stack) -> Outcome {
    let t = unique("d1_ro");
    ok(
        s,
        "d1",
        &format!("create table {t} (id integer primary key, v text)"),
        json!([]),
    );
    ok(
        s,
        "d1",
        &format!("insert into {t} values (1, 'a')"),
        json!([]),
    );
    let key = s.key("sql:read");
    let r = query(
        s,
        "d1",
        key,
        &format!("select v from {t} where v <> 'delete'"),
        json!([]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Every write is 403 read_only; a second statement after a read is 400
    // invalid_request (one statement per query).
    let (read_only, one_statement) = ((403, "read_only"), (400, "invalid_request"));
    for (sql, (status, code)) in [
        (format!("insert into {t} values (2, 'b')"), read_only),
        (format!("update {t} set v = 'x'"), read_only),
        (format!("delete from {t}"), read_only),
        (format!("replace into {t} values (1, 'z')"), read_only),
        (format!("with x as (select 1) delete from {t}"), read_only),
        (
            format!("with x as (select 2, 'c') insert into {t} select * from x"),
            read_only,
        ),
        (format!("drop table {t}"), read_only),
        (format!("alter table {t} add column w"), read_only),
        ("attach database ':memory:' as other".to_string(), read_only),
        ("pragma foreign_keys = off".to_string(), read_only),
        ("pragma writable_schema = on".to_string(), read_only),
        (format!("select 1; delete from {t}"), one_statement),
        (format!("/* select */ delete from {t}"), read_only),
        (
            format!("insert into {t} values (3, 'c') returning *"),
            read_only,
        ),
        ("vacuum".to_string(), read_only),
    ] {
        let r = query(s, "d1", key, &sql, json!([]));
        r.assert_error_in(&[(status, code)], &sql);
    }
    let r = post_json(
        &s.base,
        "/v1/d1/batch",
        key,
        &json!({"statements": [{"sql": "select 1"}, {"sql": format!("delete from {t}")}]}),
    );
    r.assert_error(403, "read_only");
    let v = ok(s, "d1", &format!("select id, v from {t}"), json!([]));
    assert_eq!(v["rows"], json!([{"id": 1, "v": "a"}]), "nothing changed");
    Ok(())
}

fn write_scopes_and_sql_scope(s: &Stack) -> Outcome {
    for store in ["d1", "pg"] {
        let t = unique("scopes");
        // `sql` may write; `sql:read` may read.
        let r = query(
            s,
            store,
            s.key("sql"),
            &format!("create table {t} (id int)"),
            json!([]),
        );
        assert_eq!(r.status, 200, "{store}: {}", r.body);
        let r = query(
            s,
            store,
            s.key("sql"),
            &format!("insert into {t} values (1)"),
            json!([]),
        );
        assert_eq!(r.status, 200, "{store}: {}", r.body);
        let r = query(
            s,
            store,
            s.key("sql:read"),
            &format!("select id from {t}"),
            json!([]),
        );
        assert_eq!(r.status, 200, "{store}: {}", r.body);
        // The store scopes are for REST tables: even the write scope of the
        // store may not run raw SQL (it would reach every table, internal
        // ones included), nor may object scopes.
        for scope in ["d1:read", "d1:write", "pg:read", "pg:write"] {
            let r = query(
                s,
                store,
                s.key(scope),
                &format!("select id from {t}"),
                json!([]),
            );
            let e = r.assert_error(403, "forbidden");
            assert_eq!(e["details"]["requiredScope"], "sql:read", "{store} {scope}");
        }
        query(s, store, &s.objects_read_key, "select 1", json!([])).assert_error(403, "forbidden");
        call(
            s,
            "POST",
            &format!("/v1/{store}/query"),
            None,
            &[],
            Some(b"{}"),
        )
        .assert_error(401, "unauthorized");
    }
    Ok(())
}

fn store_errors_map_by_kind(s: &Stack) -> Outcome {
    for store in ["d1", "pg"] {
        let parent = unique("parent");
        let child = unique("child");
        ok(s, store, &format!("create table {parent} (id integer primary key, name text not null unique, n integer check (n > 0))"), json!([]));
        ok(s, store, &format!("create table {child} (id integer primary key, parent_id integer not null references {parent}(id))"), json!([]));
        if store == "d1" {
            ok(s, store, "pragma foreign_keys = on", json!([]));
        }
        ok(
            s,
            store,
            &format!("insert into {parent} values (1, 'a', 1)"),
            json!([]),
        );
        for (sql, status, code) in [
            (
                format!("insert into {parent} values (2, 'a', 1)"),
                409,
                "unique_violation",
            ),
            (
                format!("insert into {parent} values (1, 'b', 1)"),
                409,
                "unique_violation",
            ),
            (
                format!("insert into {child} values (1, 999)"),
                409,
                "foreign_key_violation",
            ),
            (
                format!("insert into {parent} values (3, null, 1)"),
                400,
                "not_null_violation",
            ),
            (
                format!("insert into {parent} values (4, 'd', -1)"),
                400,
                "check_violation",
            ),
            ("selec 1".to_string(), 400, "syntax_error"),
            (
                "select * from no_such_table_here".to_string(),
                400,
                "undefined_table",
            ),
            (
                format!("select no_such_column from {parent}"),
                400,
                "undefined_column",
            ),
        ] {
            let r = query(s, store, &s.admin_key, &sql, json!([]));
            let e = r.assert_error(status, code);
            if store == "pg" {
                assert!(e["details"]["sqlstate"].is_string(), "{e}");
                assert!(
                    e["details"].get("file").is_none(),
                    "no Postgres internals: {e}"
                );
            } else {
                assert!(
                    e["details"]["sqliteError"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("SQLITE_"),
                    "{sql}: {e}"
                );
            }
            assert!(!r.body.contains(&s.database_url));
        }
        assert_eq!(count(s, store, &parent), 1);
    }
    // Postgres tells where a syntax error is.
    let e =
        query(s, "pg", &s.admin_key, "select 1 frm x", json!([])).assert_error(400, "syntax_error");
    // "frm" parses as a column alias; the error is at "x", character 14.
    assert_eq!(e["details"]["position"], "14");
    assert_eq!(e["details"]["sqlstate"], "42601");
    Ok(())
}

fn bad_bodies_are_4xx(s: &Stack) -> Outcome {
    for store in ["d1", "pg"] {
        let path = format!("/v1/{store}/query");
        let send = |ct: &str, body: &[u8]| {
            call(
                s,
                "POST",
                &path,
                Some(&s.admin_key),
                &[("content-type", ct)],
                Some(body),
            )
        };
        send("application/json", b"{").assert_error(400, "invalid_json");
        send("application/json", b"").assert_error(400, "invalid_json");
        send("application/json", b"[1]").assert_error(400, "invalid_request");
        send("application/json", br#"{"sql": 5}"#).assert_error(400, "invalid_request");
        send("application/json", br#"{"sql": "select 1", "params": "x"}"#)
            .assert_error(400, "invalid_request");
        send(
            "application/json",
            br#"{"sql": "select 1", "rowMode": "rows"}"#,
        )
        .assert_error(400, "invalid_request");
        send(
            "application/json",
            br#"{"sql": "select ?", "params": [{"$binary": "***"}]}"#,
        )
        .assert_error(400, "invalid_request");
        send("text/plain", br#"{"sql": "select 1"}"#).assert_error(415, "unsupported_media_type");
        send("application/json", b"\xff\xfe").assert_error(400, "invalid_json");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let r = send(
            "application/json",
            format!(r#"{{"sql": "select 1", "params": {deep}}}"#).as_bytes(),
        );
        assert_eq!(r.status, 400, "deeply nested JSON: {}", r.body);
        call(s, "GET", &path, Some(&s.admin_key), &[], None)
            .assert_error(405, "method_not_allowed");
    }
    Ok(())
}

fn limits_are_checked_before_the_store(s: &Stack) -> Outcome {
    let params: Vec<u32> = (0..101).collect();
    let placeholders = vec!["?"; 101].join(",");
    let r = query(
        s,
        "d1",
        &s.admin_key,
        &format!("select {placeholders}"),
        json!(params),
    );
    let e = r.assert_error(400, "invalid_request");
    assert_eq!(e["details"]["limit"], 100);
    let statements: Vec<Value> = (0..101).map(|_| json!({"sql": "select 1"})).collect();
    for store in ["d1", "pg"] {
        post_json(
            &s.base,
            &format!("/v1/{store}/batch"),
            &s.admin_key,
            &json!({"statements": statements}),
        )
        .assert_error(400, "invalid_request");
        let big = "x".repeat(1024 * 1024 + 1);
        let r = query(s, store, &s.admin_key, "select ?", json!([big]));
        r.assert_error(413, "payload_too_large");
    }
    Ok(())
}

fn neon_unreachable_is_503_and_d1_still_works(s: &Stack) -> Outcome {
    let dead = format!("http://127.0.0.1:{}/sql", free_port()?);
    let w = s.spawn_isolated_worker("wrangler-sql-dead-neon", &[("NEON_SQL_URL", &dead)])?;
    let body = json!({"sql": "select 1"}).to_string();
    let r = call_base(
        &w.base,
        "POST",
        "/v1/pg/query",
        Some(&s.admin_key),
        &[],
        Some(body.as_bytes()),
    );
    let e = r.assert_error(503, "store_unavailable");
    assert!(r.header("retry-after").is_some());
    assert_eq!(e["details"]["retryable"], true);
    assert!(!r.body.contains("127.0.0.1"));
    let r = call_base(
        &w.base,
        "POST",
        "/v1/d1/query",
        Some(&s.admin_key),
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "D1 keeps working: {}", r.body);
    Ok(())
}

/// Postgres only: the local D1 runs its SQLite in the same workerd thread as
/// the Worker, so a statement that counts for 25 s holds the timer back and
/// answers 200 when it ends (tried); the timeout race is the same code in
/// production, where D1 is a subrequest away.
fn slow_statement_is_504(s: &Stack) -> Outcome {
    let w = s.spawn_isolated_worker("wrangler-sql-timeout", &[("STORE_TIMEOUT_MS", "500")])?;
    let body = json!({"sql": "select pg_sleep(3)"}).to_string();
    let r = call_base(
        &w.base,
        "POST",
        "/v1/pg/query",
        Some(&s.admin_key),
        &[],
        Some(body.as_bytes()),
    );
    r.assert_error(504, "timeout");
    Ok(())
}
