//! D1 read replicas through D1's Sessions API, against the real local
//! runtime: every D1 response carries the session's bookmark in
//! `x-d1-bookmark` (successes and errors, SQL and REST), a bookmark sent back
//! is accepted and reads see the write it followed, anything not shaped like
//! a bookmark is refused before D1 runs, and browsers may send and read it.
//!
//! Locally (wrangler dev / miniflare) D1 is one SQLite database with no
//! replicas: every bookmark it returns is the database's current one, and a
//! bookmark sent back is accepted but waits for nothing.

use crate::client::{admin_sql, call, Reply};
use crate::cors::ALLOWED_ORIGINS;
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::json;

/// A D1 table in the tests' `REST_TABLES`.
const TABLE: &str = "rest_session";
const HEADER: &str = "x-d1-bookmark";

pub fn tests() -> Vec<TestFn> {
    trials![
        d1_sessions::every_d1_response_carries_a_bookmark,
        d1_sessions::a_bookmark_sent_back_reads_the_write,
        d1_sessions::malformed_and_oversized_bookmarks_are_refused,
        d1_sessions::browsers_may_send_and_read_the_bookmark,
    ]
}

fn setup(s: &Stack) {
    admin_sql(
        s,
        "d1",
        &format!("create table if not exists {TABLE} (id text primary key, v text)"),
    );
}

fn sql(s: &Stack, store: &str, body: serde_json::Value, headers: &[(&str, &str)]) -> Reply {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    call(
        s,
        "POST",
        &format!("/v1/{store}/query"),
        Some(&s.admin_key),
        &h,
        Some(body.to_string().as_bytes()),
    )
}

fn rest(
    s: &Stack,
    method: &str,
    query: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    let body = body.map(|b| b.to_string());
    call(
        s,
        method,
        &format!("/v1/rest/{TABLE}{query}"),
        Some(&s.admin_key),
        &h,
        body.as_deref().map(str::as_bytes),
    )
}

/// The response's bookmark, checked to have D1's shape (what a client would
/// send back, so it must pass our own validation).
fn bookmark(r: &Reply, what: &str) -> String {
    let b = r
        .header(HEADER)
        .unwrap_or_else(|| panic!("{what}: no {HEADER}; status {} body {}", r.status, r.body));
    assert!(
        !b.is_empty()
            && b.len() <= 128
            && b.split('-')
                .all(|g| !g.is_empty() && g.bytes().all(|c| c.is_ascii_hexdigit())),
        "{what}: {b:?} is not shaped like a D1 bookmark"
    );
    b.to_string()
}

fn every_d1_response_carries_a_bookmark(s: &Stack) -> Outcome {
    setup(s);
    let id = crate::client::unique("every");
    let read = sql(s, "d1", json!({"sql": "select 1 as one"}), &[]);
    read.assert_status(200);
    bookmark(&read, "SQL read");
    let write = sql(
        s,
        "d1",
        json!({"sql": format!("insert into {TABLE} values (?, 'a')"), "params": [id]}),
        &[],
    );
    write.assert_status(200);
    bookmark(&write, "SQL write");
    let r = rest(s, "GET", &format!("?id=eq.{id}"), None, &[]);
    r.assert_status(200);
    bookmark(&r, "REST read");
    let r = rest(
        s,
        "PATCH",
        &format!("?id=eq.{id}"),
        Some(json!({"v": "b"})),
        &[],
    );
    assert!(
        r.status == 204 || r.status == 200,
        "PATCH: {} {}",
        r.status,
        r.body
    );
    let after_write = bookmark(&r, "REST write");
    // An error once the session exists: a duplicate key, by SQL and by REST,
    // each started from the last bookmark.
    let dup = sql(
        s,
        "d1",
        json!({"sql": format!("insert into {TABLE} values (?, 'c')"), "params": [id]}),
        &[(HEADER, &after_write)],
    );
    dup.assert_error(409, "unique_violation");
    assert!(bookmark(&dup, "SQL error") >= after_write);
    let dup = rest(
        s,
        "POST",
        "",
        Some(json!({"id": id, "v": "c"})),
        &[(HEADER, &after_write)],
    );
    dup.assert_error(409, "unique_violation");
    assert!(bookmark(&dup, "REST error") >= after_write);
    // Postgres has no sessions: no bookmark there, even when one is sent.
    let pg = sql(
        s,
        "pg",
        json!({"sql": "select 1 as one"}),
        &[(HEADER, &after_write)],
    );
    pg.assert_status(200);
    assert_eq!(pg.header(HEADER), None, "Postgres answered a D1 bookmark");
    Ok(())
}

fn a_bookmark_sent_back_reads_the_write(s: &Stack) -> Outcome {
    setup(s);
    let id = crate::client::unique("ryw");
    let w = rest(s, "POST", "", Some(json!({"id": id, "v": "written"})), &[]);
    w.assert_status(201);
    let b1 = bookmark(&w, "REST insert");
    // Read it back through REST and through SQL, each anchored at the write.
    let r = rest(
        s,
        "GET",
        &format!("?id=eq.{id}&select=v"),
        None,
        &[(HEADER, &b1)],
    );
    r.assert_status(200);
    assert_eq!(r.json(), json!([{"v": "written"}]));
    let b2 = bookmark(&r, "REST read after the write");
    assert!(b2 >= b1, "bookmarks only move forward: {b2} < {b1}");
    let u = sql(
        s,
        "d1",
        json!({"sql": format!("update {TABLE} set v = 'again' where id = ?"), "params": [id]}),
        &[(HEADER, &b2)],
    );
    u.assert_status(200);
    let b3 = bookmark(&u, "SQL update");
    assert!(b3 >= b2, "bookmarks only move forward: {b3} < {b2}");
    let r = sql(
        s,
        "d1",
        json!({"sql": format!("select v from {TABLE} where id = ?"), "params": [id]}),
        &[(HEADER, &b3)],
    );
    r.assert_status(200);
    assert_eq!(r.json()["rows"], json!([{"v": "again"}]));
    assert!(bookmark(&r, "SQL read after the update") >= b3);
    // A blank header is no bookmark (a client echoing an empty one it got).
    let r = sql(s, "d1", json!({"sql": "select 1 as one"}), &[(HEADER, "")]);
    r.assert_status(200);
    bookmark(&r, "blank bookmark");
    // `first-primary` asks for the newest state, and answers a real bookmark.
    let r = sql(
        s,
        "d1",
        json!({"sql": format!("select v from {TABLE} where id = ?"), "params": [id]}),
        &[(HEADER, "first-primary")],
    );
    r.assert_status(200);
    assert_eq!(r.json()["rows"], json!([{"v": "again"}]));
    assert!(bookmark(&r, "first-primary") >= b3);
    Ok(())
}

fn malformed_and_oversized_bookmarks_are_refused(s: &Stack) -> Outcome {
    setup(s);
    let id = crate::client::unique("junk");
    let real = bookmark(&sql(s, "d1", json!({"sql": "select 1"}), &[]), "a read");
    let oversized = "0".repeat(129);
    let twice = format!("{real}, {real}");
    for junk in [
        "first-unconstrained",
        "FIRST-PRIMARY",
        "not a bookmark",
        "0000--0001",
        "'; drop table rest_session; --",
        twice.as_str(),
        oversized.as_str(),
    ] {
        let insert = json!({"sql": format!("insert into {TABLE} values (?, 'x')"), "params": [id]});
        let r = sql(s, "d1", insert, &[(HEADER, junk)]);
        let e = r.assert_error(400, "invalid_bookmark");
        assert!(!r.body.contains(junk), "the error echoes the input: {e}");
        assert_eq!(
            r.header(HEADER),
            None,
            "{junk}: a bookmark on a refusal before D1"
        );
        rest(
            s,
            "POST",
            "",
            Some(json!({"id": id, "v": "x"})),
            &[(HEADER, junk)],
        )
        .assert_error(400, "invalid_bookmark");
        rest(s, "GET", "?limit=1", None, &[(HEADER, junk)]).assert_error(400, "invalid_bookmark");
    }
    // Nothing was written by any refused request.
    let r = sql(
        s,
        "d1",
        json!({"sql": format!("select count(*) as n from {TABLE} where id = ?"), "params": [id]}),
        &[],
    );
    assert_eq!(r.json()["rows"], json!([{"n": 0}]));
    // The longest accepted size is accepted.
    let longest = "0".repeat(128);
    sql(s, "d1", json!({"sql": "select 1"}), &[(HEADER, &longest)]).assert_status(200);
    Ok(())
}

fn browsers_may_send_and_read_the_bookmark(s: &Stack) -> Outcome {
    setup(s);
    let origin = ALLOWED_ORIGINS.split(',').next().unwrap_or_default().trim();
    let pre = call(
        s,
        "OPTIONS",
        "/v1/d1/query",
        None,
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type, x-d1-bookmark",
            ),
        ],
        None,
    );
    pre.assert_status(204);
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(
        allowed
            .split(',')
            .any(|h| h.trim().eq_ignore_ascii_case(HEADER)),
        "preflight allows {allowed}"
    );
    for r in [
        sql(s, "d1", json!({"sql": "select 1"}), &[("origin", origin)]),
        rest(s, "GET", "?limit=1", None, &[("origin", origin)]),
    ] {
        r.assert_status(200);
        bookmark(&r, "a cross-origin D1 response");
        let exposed = r
            .header("access-control-expose-headers")
            .unwrap_or_default();
        assert!(
            exposed
                .split(',')
                .any(|h| h.trim().eq_ignore_ascii_case(HEADER)),
            "exposed: {exposed}"
        );
    }
    Ok(())
}
