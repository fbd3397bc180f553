//! A hostile client with the least scope (issue 11): every escape must be
//! refused AND leave the data as it was (read back with a write key), and no
//! input may make the Worker buffer or return more than its limits.
//!
//! The Postgres escapes (transaction control in read-only batches) are in
//! `pg_readonly.rs`; signed-URL revocation and `nosniff` in `objects.rs`;
//! keyset paging without a key and the REST insert cap in `rest.rs`.

use crate::client::{admin_sql, call, post_json};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::{json, Value};
use std::io::Read;

pub fn tests() -> Vec<TestFn> {
    trials![
        adversarial::d1_variable_tokens_hide_nothing,
        adversarial::store_scopes_run_no_raw_sql,
        adversarial::chunked_bodies_are_cut_at_the_limit,
        adversarial::huge_results_are_refused,
    ]
}

/// The rows of `table` as the admin key reads them.
fn rows(s: &Stack, store: &str, table: &str) -> Value {
    let r = post_json(
        &s.base,
        &format!("/v1/{store}/query"),
        &s.admin_key,
        &json!({"sql": format!("select * from {table} order by id"), "rowMode": "array"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["rows"].clone()
}

fn d1_variable_tokens_hide_nothing(s: &Stack) -> Outcome {
    let t = "adv_d1_vars";
    admin_sql(
        s,
        "d1",
        &format!("create table if not exists {t} (id integer primary key, v text)"),
    );
    admin_sql(s, "d1", &format!("delete from {t}"));
    admin_sql(
        s,
        "d1",
        &format!("insert into {t} values (1, 'a'), (2, 'b')"),
    );
    let before = rows(s, "d1", t);
    // SQLite reads `$name(…)`, `:name(…)`, `@name(…)`, `#name(…)` and
    // `$a::b(…)` as ONE variable token running to `)`. A check that stops at
    // `(` takes the `--`, `/*` or `'` inside for a comment or a string and
    // misses what follows it.
    //
    // Each is refused with what its first statement makes it (core's
    // sql::readonly): 400 syntax_error for text SQLite would not tokenize,
    // 403 read_only for a write, 400 invalid_request for a read followed by
    // a second statement.
    let (syntax, read_only, one_statement) = (
        (400, "syntax_error"),
        (403, "read_only"),
        (400, "invalid_request"),
    );
    let mut escapes = Vec::new();
    for var in ["$a", ":a", "@a", "#a", "$a::b", "$a::b::c", "$_", ":1a"] {
        escapes.extend([
            (format!("select {var}(--);\ndelete from {t}"), one_statement),
            (format!("select {var}(--); delete from {t}"), one_statement),
            (
                format!("select {var}(/*); delete from {t}; --*/"),
                one_statement,
            ),
            (
                format!("select {var}(/*); update {t} set v = 'x' /*)"),
                one_statement,
            ),
            (
                format!("select {var}('); delete from {t}; --')"),
                one_statement,
            ),
            (
                format!("select {var}(\"); insert into {t} values (9, 'z'); --\")"),
                one_statement,
            ),
            (
                format!("select 1 where {var}(--) = 1; replace into {t} values (1, 'r')"),
                one_statement,
            ),
            (
                format!("with q as (select {var}(--)) delete from {t}"),
                read_only,
            ),
            (format!("select {var}(x--);drop table {t}"), one_statement),
        ]);
    }
    // Relatives: comments, strings and quoted names that do or don't end
    // where a naive reader thinks.
    escapes.extend([
        (
            format!("select 1 /* /* */ ; delete from {t} -- */"),
            one_statement,
        ),
        (format!("select '' ''; delete from {t}"), one_statement),
        // `[a]` ends at the first `]`: the second one is no token.
        (format!("select [a]]; delete from {t}; --]"), syntax),
        // One quoted name (a doubled backtick is an escaped one): a read, of
        // a column SQLite does not have.
        (
            format!("select `a``; delete from {t}; --`"),
            (400, "undefined_column"),
        ),
        (format!("select x'00'; delete from {t}"), one_statement),
        (
            format!("select 1 returning *; delete from {t}"),
            one_statement,
        ),
        (
            format!("insert into {t} values (3, 'c') returning *"),
            read_only,
        ),
        (format!("explain delete from {t}"), read_only),
        (format!("values (1); delete from {t}"), one_statement),
        // JSON carries the NUL; the request parser refuses it (any key).
        (format!("select 1;\u{0} delete from {t}"), one_statement),
        (format!("select 1\u{b}; delete from {t}"), syntax),
        (
            "attach database 'file:x?mode=memory' as y".to_string(),
            read_only,
        ),
        (
            format!("vacuum into '/tmp/strata-adv-{}'", std::process::id()),
            read_only,
        ),
        ("pragma writable_schema = 1".to_string(), read_only),
        (
            format!("select * from pragma_table_info('{t}'); pragma foreign_keys = off"),
            one_statement,
        ),
    ]);
    let key = s.key("sql:read");
    for (sql, expected) in &escapes {
        let r = post_json(&s.base, "/v1/d1/query", key, &json!({ "sql": sql }));
        r.assert_error_in(&[*expected], &format!("{sql:?}"));
        // A read-only batch with the writing key is held to the same check.
        let r = post_json(
            &s.base,
            "/v1/d1/batch",
            &s.admin_key,
            &json!({"statements": [{ "sql": sql }], "readOnly": true}),
        );
        r.assert_error_in(&[*expected], &format!("readOnly batch {sql:?}"));
    }
    assert_eq!(rows(s, "d1", t), before, "the data changed");
    // A genuine read with such a variable still works.
    let r = post_json(
        &s.base,
        "/v1/d1/query",
        key,
        &json!({"sql": format!("select v from {t} where id = $id"), "params": [1]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}

fn store_scopes_run_no_raw_sql(s: &Stack) -> Outcome {
    // A key made for REST tables cannot read other tables — internal ones
    // included — through raw SQL, on either store.
    for (store, internal) in [("d1", "d1_migrations"), ("pg", "strata_migrations")] {
        for scope in ["d1:read", "d1:write", "pg:read", "pg:write"] {
            let r = post_json(
                &s.base,
                &format!("/v1/{store}/query"),
                s.key(scope),
                &json!({ "sql": format!("select * from {internal}") }),
            );
            let e = r.assert_error(403, "forbidden");
            assert_eq!(e["details"]["requiredScope"], "sql:read", "{store} {scope}");
        }
    }
    Ok(())
}

/// Sends `POST path` with a chunked body of `total` bytes (no
/// Content-Length) over a raw connection, reading the answer while the body
/// is still being written. A server that answers early closes the connection
/// and the unread rest of the body makes it a reset, which may cost the
/// client the answer (curl shows the 413's head, then "connection reset"), so
/// the caller also checks the Worker's log line for `request_id`. Returns the
/// status line and the body, as far as they arrived.
fn post_chunked(s: &Stack, path: &str, total: usize, request_id: &str) -> (String, String) {
    use std::io::Write;
    use std::net::TcpStream;
    let host = s.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         x-request-id: {request_id}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.admin_key
    );
    let mut writer = stream.try_clone().unwrap_or_else(|e| panic!("clone: {e}"));
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(b"1c\r\n{\"sql\": \"select 1\", \"pad\": \"\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let frame = format!("{:x}\r\n", chunk.len());
            if writer.write_all(frame.as_bytes()).is_err()
                || writer.write_all(&chunk).is_err()
                || writer.write_all(b"\r\n").is_err()
            {
                return sent;
            }
            sent += chunk.len();
        }
        let _ = writer.write_all(b"0\r\n\r\n");
        sent
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("").to_string();
    (status, body.to_string())
}

fn wasm_memory(s: &Stack) -> u64 {
    let r = call(s, "GET", "/v1/status", Some(&s.admin_key), &[], None);
    r.json()["isolate"]["wasmMemoryBytes"].as_u64().unwrap_or(0)
}

fn chunked_bodies_are_cut_at_the_limit(s: &Stack) -> Outcome {
    // No Content-Length: the body is cut at MAX_BODY_BYTES (1 MiB here)
    // while it streams in. 24 MiB would grow the Worker's memory by as much
    // if it were buffered whole first; it must not.
    let before = wasm_memory(s);
    for store in ["d1", "pg"] {
        let id = format!("adv-chunked-{store}-{}", std::process::id());
        let (status, body) = post_chunked(s, &format!("/v1/{store}/query"), 24 << 20, &id);
        assert!(
            status.is_empty() || status.contains(" 413 "),
            "{store}: {status} {body}"
        );
        let log = s.log_record(&id);
        assert_eq!(log["status"], 413, "{store}: {log}");
        assert_eq!(log["error"], "payload_too_large", "{store}: {log}");
    }
    let after = wasm_memory(s);
    assert!(
        after < before + (8 << 20),
        "the Worker's memory grew from {before} to {after} bytes reading a body it refused"
    );
    Ok(())
}

fn huge_results_are_refused(s: &Stack) -> Outcome {
    // ~6 MB of rows on each store: past MAX_RESULT_BYTES (4 MiB), a clear
    // 400 with a hint to page, not an isolate killed by memory.
    let cases = [
        (
            "d1",
            "with recursive c(n) as (select 1 union all select n + 1 from c limit 6000) \
             select n, hex(zeroblob(500)) as pad from c",
        ),
        (
            "pg",
            "select n, repeat('x', 1000) as pad from generate_series(1, 6000) as n",
        ),
    ];
    for (store, sql) in cases {
        let r = post_json(
            &s.base,
            &format!("/v1/{store}/query"),
            s.key("sql:read"),
            &json!({ "sql": sql }),
        );
        let e = r.assert_error(400, "result_too_large");
        assert_eq!(e["details"]["limit"], 4 * 1024 * 1024, "{}", r.body);
        assert!(
            e["hint"].as_str().is_some_and(|h| h.contains("page")),
            "{}",
            r.body
        );
    }
    // The Worker is fine afterwards, and a result under the limit passes.
    let r = post_json(
        &s.base,
        "/v1/pg/query",
        s.key("sql:read"),
        &json!({"sql": "select n from generate_series(1, 1000) as n"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}
