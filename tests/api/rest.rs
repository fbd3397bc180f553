//! `/v1/rest/{table}`: the PostgREST grammar, run identically on a D1 table
//! and the same table on Postgres.

use crate::client::admin_sql as sql;
use crate::client::{call, call_base, Reply};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::{json, Value};

pub fn tests() -> Vec<TestFn> {
    trials![
        rest::reads_agree_on_both_stores,
        rest::ranges_counts_and_single_objects,
        rest::keyset_cursor_pages_stay_correct_under_inserts,
        rest::keyless_tables_page_every_row_once_or_refuse_cursors,
        rest::extension_relations_are_never_exposed,
        rest::writes_upserts_and_guards,
        rest::inserts_over_the_row_cap_write_nothing,
        rest::bad_requests_are_clear_4xx,
        rest::scopes_follow_the_tables_store,
        rest::a_table_graduates_by_configuration,
        rest::hostile_identifiers_and_values,
        rest::official_postgrest_js_client,
    ]
}

/// The same table on both stores: (store, table name).
const PAIRS: [(&str, &str); 2] = [("d1", "rest_people"), ("pg", "rest_people_pg")];

fn rest(
    s: &Stack,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let text = body.map(Value::to_string);
    let mut h = headers.to_vec();
    if body.is_some() {
        h.push(("content-type", "application/json"));
    }
    call(
        s,
        method,
        &format!("/v1/rest/{path}"),
        Some(&s.admin_key),
        &h,
        text.as_deref().map(str::as_bytes),
    )
}

fn people(s: &Stack, store: &str, table: &str) {
    sql(s, store, &format!("create table {table} (id integer primary key, name text not null, age integer, nick text)"));
    sql(
        s,
        store,
        &format!(
            "insert into {table} (id, name, age, nick) values \
             (1, 'ada', 36, 'countess'), (2, 'bob', 25, null), (3, 'Cyd', 41, 'cy'), \
             (4, 'dee', null, null), (5, 'eve', 25, 'e''v'), (6, 'Abe', 70, 'a,b')"
        ),
    );
}

fn reads_agree_on_both_stores(s: &Stack) -> Outcome {
    for (store, table) in PAIRS {
        people(s, store, table);
    }
    let queries = [
        "select=name,age&order=id",
        "select=id,who:name&order=id.desc",
        "age=gt.30&order=id",
        "age=gte.36&age=lte.41&order=id",
        "age=lt.30&order=name",
        "name=neq.bob&order=id",
        "name=like.*e*&order=id",
        "name=like.A*&order=id",
        "name=ilike.a*&order=id",
        "age=in.(25,70)&order=id",
        "nick=in.(%22a,b%22,cy)&order=id",
        "nick=is.null&order=id",
        "age=not.eq.25&order=id",
        "nick=not.is.null&order=id",
        "or=(age.lt.26,name.eq.ada)&order=id",
        "or=(age.gt.60,and(age.eq.25,nick.is.null))&order=id",
        "not.or=(age.eq.25,age.is.null)&order=id",
        "and=(age.gt.20,or(name.like.*d*,name.eq.eve))&order=id",
        "order=age.desc.nullslast,name",
        "order=age.asc.nullsfirst,name",
        "order=age,name.desc",
        "order=age.desc",
        "order=id&limit=2",
        "order=id&limit=2&offset=3",
        "order=id&offset=10",
        "select=nick&nick=eq.e'v",
        "name=eq.nobody",
    ];
    for q in queries {
        let d1 = rest(s, "GET", &format!("{}?{q}", PAIRS[0].1), &[], None);
        let pg = rest(s, "GET", &format!("{}?{q}", PAIRS[1].1), &[], None);
        assert_eq!(d1.status, 200, "d1 {q}: {}", d1.body);
        assert_eq!(pg.status, 200, "pg {q}: {}", pg.body);
        assert_eq!(d1.json(), pg.json(), "{q}");
        assert_eq!(
            d1.header("content-range"),
            pg.header("content-range"),
            "{q}"
        );
    }
    // Spot-check actual answers, not just agreement.
    let r = rest(
        s,
        "GET",
        "rest_people?select=name&age=gt.30&order=id",
        &[],
        None,
    );
    assert_eq!(
        r.json(),
        json!([{"name": "ada"}, {"name": "Cyd"}, {"name": "Abe"}])
    );
    assert_eq!(r.header("content-range"), Some("0-2/*"));
    let r = rest(
        s,
        "GET",
        "rest_people?select=id&order=age.desc.nullslast,name",
        &[],
        None,
    );
    assert_eq!(
        r.json(),
        json!([{"id": 6}, {"id": 3}, {"id": 1}, {"id": 2}, {"id": 5}, {"id": 4}])
    );
    let r = rest(s, "GET", "rest_people?select=id&name=like.a*", &[], None);
    assert_eq!(
        r.json(),
        json!([{"id": 1}]),
        "like is case-sensitive on both stores"
    );
    let r = rest(s, "HEAD", "rest_people?order=id", &[], None);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(r.header("content-range"), Some("0-5/*"));
    Ok(())
}

fn ranges_counts_and_single_objects(s: &Stack) -> Outcome {
    for (store, table) in [("d1", "rest_pages"), ("pg", "rest_pages_pg")] {
        sql(
            s,
            store,
            &format!("create table {table} (id integer primary key, v text)"),
        );
        let values: Vec<String> = (1..=7).map(|i| format!("({i}, 'v{i}')")).collect();
        sql(
            s,
            store,
            &format!("insert into {table} values {}", values.join(", ")),
        );
        let r = rest(
            s,
            "GET",
            &format!("{table}?order=id"),
            &[
                ("range", "0-2"),
                ("range-unit", "items"),
                ("prefer", "count=exact"),
            ],
            None,
        );
        assert_eq!(r.status, 206, "{store}: {}", r.body);
        assert_eq!(r.header("content-range"), Some("0-2/7"));
        assert_eq!(r.json().as_array().map(Vec::len), Some(3));
        assert_eq!(r.header("preference-applied"), Some("count=exact"));
        let r = rest(
            s,
            "GET",
            &format!("{table}?order=id"),
            &[("prefer", "count=exact")],
            None,
        );
        assert_eq!((r.status, r.header("content-range")), (200, Some("0-6/7")));
        let r = rest(
            s,
            "GET",
            &format!("{table}?order=id&offset=5&limit=10"),
            &[("prefer", "count=exact")],
            None,
        );
        assert_eq!((r.status, r.header("content-range")), (206, Some("5-6/7")));
        let r = rest(
            s,
            "GET",
            &format!("{table}?order=id&offset=9"),
            &[("prefer", "count=exact")],
            None,
        );
        let e = r.assert_error(416, "PGRST103");
        assert_eq!(e["details"]["total"], 7);
        assert_eq!(r.header("content-range"), Some("*/7"));
        let r = rest(
            s,
            "GET",
            &format!("{table}?id=eq.99"),
            &[("prefer", "count=exact")],
            None,
        );
        assert_eq!(
            (r.status, r.header("content-range"), r.json()),
            (200, Some("*/0"), json!([]))
        );
        rest(
            s,
            "GET",
            &format!("{table}?order=id"),
            &[("range", "5-2")],
            None,
        )
        .assert_error(416, "PGRST103");
        let one = [("accept", "application/vnd.pgrst.object+json")];
        let r = rest(s, "GET", &format!("{table}?id=eq.3"), &one, None);
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"id": 3, "v": "v3"})),
            "{store}"
        );
        rest(s, "GET", &format!("{table}?id=gt.3"), &one, None).assert_error(406, "PGRST116");
        rest(s, "GET", &format!("{table}?id=eq.99"), &one, None).assert_error(406, "PGRST116");
        rest(s, "GET", table, &[("accept", "text/html")], None).assert_error(406, "PGRST107");
    }
    Ok(())
}

fn next_link(r: &Reply) -> Option<String> {
    let link = r.header("link")?;
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    let url = &link[start..end];
    assert!(link.ends_with("rel=\"next\""), "{link}");
    Some(url[url.find("/v1/rest/")? + "/v1/rest/".len()..].to_string())
}

fn keyset_cursor_pages_stay_correct_under_inserts(s: &Stack) -> Outcome {
    for (store, table) in [("d1", "rest_cursor"), ("pg", "rest_cursor_pg")] {
        sql(
            s,
            store,
            &format!("create table {table} (id integer primary key, score integer)"),
        );
        let values: Vec<String> = (1..=25)
            .map(|i| format!("({}, {})", i * 10, (i % 4) * 5))
            .collect();
        sql(
            s,
            store,
            &format!("insert into {table} values {}", values.join(", ")),
        );
        // Page by score desc (ties broken by the key), 10 at a time.
        let mut path = format!("{table}?select=id,score&order=score.desc&limit=10");
        let mut seen: Vec<i64> = Vec::new();
        let mut pages = 0;
        loop {
            let r = rest(s, "GET", &path, &[], None);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            let rows = r.json();
            let rows = rows.as_array().expect("array");
            seen.extend(rows.iter().map(|row| row["id"].as_i64().unwrap_or(-1)));
            assert!(
                rows.iter()
                    .all(|row| row.as_object().map(|o| o.len()) == Some(2)),
                "no hidden columns leak: {rows:?}"
            );
            pages += 1;
            if pages == 1 {
                // Rows inserted before the cursor position must not shift later pages.
                sql(
                    s,
                    store,
                    &format!("insert into {table} values (1, 99), (2, 99)"),
                );
            }
            match next_link(&r) {
                Some(next) => path = next,
                None => break,
            }
            assert!(pages < 10, "runaway paging");
        }
        let mut expected: Vec<(i64, i64)> = (1..=25).map(|i| (i * 10, (i % 4) * 5)).collect();
        expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let expected: Vec<i64> = expected.into_iter().map(|(id, _)| id).collect();
        assert_eq!(seen, expected, "{store}: every row exactly once, in order");
        assert_eq!(pages, 3);
        // A cursor is only valid for its ordering.
        let r = rest(
            s,
            "GET",
            &format!("{table}?order=score.desc&limit=10"),
            &[],
            None,
        );
        let next = next_link(&r).expect("a next link");
        let tampered = next.replace("order=score.desc", "order=score.asc");
        rest(s, "GET", &tampered, &[], None).assert_error(400, "PGRST100");
        rest(s, "GET", &format!("{table}?cursor=garbage"), &[], None).assert_error(400, "PGRST100");
    }
    Ok(())
}

/// Follows `Link: rel="next"` from `first` to the end; every row of every page, in order.
fn follow_pages(s: &Stack, first: &str) -> (Vec<Value>, Vec<String>) {
    let (mut path, mut rows, mut links) = (first.to_string(), Vec::new(), Vec::new());
    loop {
        let r = rest(s, "GET", &path, &[], None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        rows.extend(r.json().as_array().cloned().unwrap_or_default());
        match next_link(&r) {
            Some(next) => {
                links.push(next.clone());
                path = next;
            }
            None => break,
        }
        assert!(links.len() < 50, "runaway paging from {first}");
    }
    (rows, links)
}

/// Rows as sortable text, to compare pages with the table as a multiset.
fn sorted_texts(rows: &[Value]) -> Vec<String> {
    let mut texts: Vec<String> = rows.iter().map(Value::to_string).collect();
    texts.sort();
    texts
}

fn keyless_tables_page_every_row_once_or_refuse_cursors(s: &Stack) -> Outcome {
    // Rows equal in every column: no ordering over the columns can tell
    // them apart, so a cursor built from column values alone would skip
    // whichever of them straddle a page boundary.
    let rows = "(1, 'a'), (1, 'a'), (1, 'a'), (1, 'b'), (1, 'b'), (2, 'a'), (2, 'a'), (null, 'z'), (null, 'z')";
    sql(s, "d1", "create table rest_nokey (grp integer, v text)");
    sql(s, "d1", &format!("insert into rest_nokey values {rows}"));
    sql(
        s,
        "d1",
        "create view rest_nokey_view as select grp, v from rest_nokey",
    );
    sql(s, "pg", "create table rest_nokey_pg (grp integer, v text)");
    sql(s, "pg", &format!("insert into rest_nokey_pg values {rows}"));
    let all = sorted_texts(
        &rest(s, "GET", "rest_nokey", &[], None)
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    assert_eq!(all.len(), 9);

    // D1 table: the rowid breaks the ties, so cursors page every row exactly once.
    for limit in 1..=3 {
        for order in ["", "&order=grp", "&order=v.desc,grp.nullsfirst"] {
            let first = format!("rest_nokey?limit={limit}{order}");
            let (rows, links) = follow_pages(s, &first);
            assert_eq!(sorted_texts(&rows), all, "{first}: every row exactly once");
            assert!(
                links.iter().all(|l| l.contains("cursor=")),
                "{first}: {links:?}"
            );
            assert!(
                rows.iter()
                    .all(|r| r.as_object().map(|o| o.len()) == Some(2)),
                "{first}: the rowid stays hidden: {rows:?}"
            );
        }
    }

    // A D1 view and a Postgres table without a primary key have no unique
    // tie-break: a cursor is refused, and `Link` continues by offset.
    for table in ["rest_nokey_view", "rest_nokey_pg"] {
        let e = rest(
            s,
            "GET",
            &format!("{table}?limit=2&cursor=eyJvIjoiIiwidiI6W119"),
            &[],
            None,
        )
        .assert_error(400, "PGRST100");
        let hint = e["hint"].as_str().unwrap_or_default();
        assert!(
            hint.contains("primary key") && hint.contains("offset"),
            "{table}: {e}"
        );
        assert_eq!(e["details"]["part"], "cursor", "{table}");
        for limit in 1..=3 {
            let first = format!("{table}?limit={limit}&order=grp");
            let (rows, links) = follow_pages(s, &first);
            assert_eq!(sorted_texts(&rows), all, "{first}");
            assert!(
                links
                    .iter()
                    .all(|l| l.contains("offset=") && !l.contains("cursor=")),
                "{first}: {links:?}"
            );
        }
    }
    Ok(())
}

fn extension_relations_are_never_exposed(s: &Stack) -> Outcome {
    // pg_stat_statements' views land in schema public (where the extension
    // is created) and would show other roles' queries: `"*"` never exposes
    // what an extension owns.
    let body = json!({"sql": "create extension if not exists pg_stat_statements"}).to_string();
    let r = call(
        s,
        "POST",
        "/v1/pg/query",
        Some(&s.admin_key),
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    );
    if r.status != 200 {
        eprintln!(
            "pg_stat_statements is not available here ({}), skipped",
            r.body
        );
        return Ok(());
    }
    for name in ["pg_stat_statements", "pg_stat_statements_info"] {
        rest(s, "GET", name, &[], None).assert_error(404, "not_found");
    }
    // System schemas are not reachable either.
    rest(s, "GET", "pg_class", &[], None).assert_error(404, "not_found");
    rest(s, "GET", "pg_catalog.pg_class", &[], None).assert_error(404, "not_found");
    Ok(())
}

fn inserts_over_the_row_cap_write_nothing(s: &Stack) -> Outcome {
    for (store, table) in [("d1", "rest_cap"), ("pg", "rest_cap_pg")] {
        sql(
            s,
            store,
            &format!("create table {table} (id integer primary key, v text)"),
        );
        let rows = |n: i64| -> Value { (0..n).map(|i| json!({"id": i, "v": "x"})).collect() };
        let count = || {
            rest(
                s,
                "GET",
                table,
                &[("prefer", "count=exact"), ("range", "0-0")],
                None,
            )
            .header("content-range")
            .map(str::to_string)
        };
        // Over REST_MAX_INSERT_ROWS (default 1000): refused, nothing written.
        let e =
            rest(s, "POST", table, &[], Some(&rows(1001))).assert_error(413, "payload_too_large");
        assert_eq!(
            e["details"],
            json!({"maxRows": 1000, "rows": 1001}),
            "{store}"
        );
        assert!(
            e["hint"].as_str().is_some_and(|h| h.contains("1000")),
            "{store}: {e}"
        );
        assert_eq!(count().as_deref(), Some("*/0"), "{store}: nothing written");
        // At the cap: accepted whole.
        let r = rest(s, "POST", table, &[], Some(&rows(1000)));
        assert_eq!(r.status, 201, "{store}: {}", r.body);
        assert_eq!(count().as_deref(), Some("0-0/1000"), "{store}");
    }
    Ok(())
}

fn writes_upserts_and_guards(s: &Stack) -> Outcome {
    for (store, table) in [("d1", "rest_writes"), ("pg", "rest_writes_pg")] {
        sql(s, store, &format!("create table {table} (id integer primary key, name text not null, qty integer default 1)"));
        // Insert one (minimal: 201, no body).
        let r = rest(
            s,
            "POST",
            table,
            &[],
            Some(&json!({"id": 1, "name": "one"})),
        );
        assert_eq!(
            (r.status, r.body.as_str()),
            (201, ""),
            "{store}: {}",
            r.body
        );
        // Bulk insert with representation.
        let r = rest(
            s,
            "POST",
            &format!("{table}?select=id,name"),
            &[("prefer", "return=representation")],
            Some(&json!([{"id": 2, "name": "two"}, {"id": 3, "name": "three"}])),
        );
        assert_eq!(
            (r.status, r.json()),
            (
                201,
                json!([{"id": 2, "name": "two"}, {"id": 3, "name": "three"}])
            ),
            "{store}"
        );
        // Defaults apply to omitted columns.
        let r = rest(s, "GET", &format!("{table}?id=eq.1"), &[], None);
        assert_eq!(r.json(), json!([{"id": 1, "name": "one", "qty": 1}]));
        // Duplicate key: 409, nothing of the batch inserted.
        let r = rest(
            s,
            "POST",
            table,
            &[],
            Some(&json!([{"id": 4, "name": "four"}, {"id": 1, "name": "dup"}])),
        );
        r.assert_error(409, "unique_violation");
        assert_eq!(
            rest(s, "GET", &format!("{table}?id=eq.4"), &[], None).json(),
            json!([])
        );
        // Upserts.
        let r = rest(
            s,
            "POST",
            table,
            &[(
                "prefer",
                "resolution=merge-duplicates,return=representation",
            )],
            Some(&json!([{"id": 1, "name": "uno", "qty": 5}, {"id": 9, "name": "nine", "qty": 9}])),
        );
        assert_eq!(r.status, 201, "{store}: {}", r.body);
        assert_eq!(
            r.header("preference-applied"),
            Some("resolution=merge-duplicates, return=representation")
        );
        let r = rest(
            s,
            "POST",
            &format!("{table}?on_conflict=id"),
            &[("prefer", "resolution=ignore-duplicates")],
            Some(&json!({"id": 1, "name": "ignored"})),
        );
        assert_eq!(r.status, 201, "{store}: {}", r.body);
        assert_eq!(
            rest(
                s,
                "GET",
                &format!("{table}?id=in.(1,9)&order=id"),
                &[],
                None
            )
            .json(),
            json!([{"id": 1, "name": "uno", "qty": 5}, {"id": 9, "name": "nine", "qty": 9}])
        );
        // PATCH and DELETE need filters.
        let r = rest(
            s,
            "PATCH",
            &format!("{table}?id=eq.2"),
            &[("prefer", "return=representation")],
            Some(&json!({"qty": 20})),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 2, "name": "two", "qty": 20}])),
            "{store}"
        );
        let r = rest(
            s,
            "PATCH",
            &format!("{table}?qty=gt.100"),
            &[],
            Some(&json!({"qty": 0})),
        );
        assert_eq!(r.status, 204);
        rest(s, "PATCH", table, &[], Some(&json!({"qty": 0}))).assert_error(400, "PGRST100");
        rest(s, "DELETE", table, &[], None).assert_error(400, "PGRST100");
        let r = rest(
            s,
            "DELETE",
            &format!("{table}?id=eq.3"),
            &[("prefer", "return=representation")],
            None,
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 3, "name": "three", "qty": 1}]))
        );
        let r = rest(s, "DELETE", &format!("{table}?id=eq.3"), &[], None);
        assert_eq!(r.status, 204);
        // Bulk insert beyond D1's 100 parameters: split, and still atomic.
        let rows: Vec<Value> = (100..220)
            .map(|i| json!({"id": i, "name": format!("n{i}"), "qty": i}))
            .collect();
        let r = rest(s, "POST", table, &[], Some(&Value::Array(rows)));
        assert_eq!(r.status, 201, "{store}: {}", r.body);
        let mut bad: Vec<Value> = (300..420)
            .map(|i| json!({"id": i, "name": format!("n{i}")}))
            .collect();
        bad.push(json!({"id": 500, "name": null}));
        rest(s, "POST", table, &[], Some(&Value::Array(bad)))
            .assert_error(400, "not_null_violation");
        let r = rest(
            s,
            "GET",
            &format!("{table}?id=gte.300"),
            &[("prefer", "count=exact")],
            None,
        );
        assert_eq!(
            r.header("content-range"),
            Some("*/0"),
            "{store}: the failed bulk insert left nothing"
        );
        let r = rest(
            s,
            "GET",
            &format!("{table}?id=gte.100"),
            &[("prefer", "count=exact"), ("range", "0-0")],
            None,
        );
        assert_eq!(r.header("content-range"), Some("0-0/120"));
    }
    Ok(())
}

fn bad_requests_are_clear_4xx(s: &Stack) -> Outcome {
    people(s, "pg", "rest_bad_pg");
    rest(s, "GET", "no_such_table_anywhere", &[], None).assert_error(404, "not_found");
    rest(s, "GET", "strata_meta", &[], None).assert_error(404, "not_found");
    rest(s, "GET", "d1_migrations", &[], None).assert_error(404, "not_found");
    rest(s, "GET", "%ff%fe", &[], None).assert_error(404, "not_found");
    for (q, part) in [
        ("age=equals.3", "age=equals.3"),
        ("age=in.1,2", "age=in.1,2"),
        ("or=(age.eq.1", "or=(age.eq.1"),
        ("order=age.sideways", "age.sideways"),
        ("limit=ten", "limit=ten"),
    ] {
        let e =
            rest(s, "GET", &format!("rest_bad_pg?{q}"), &[], None).assert_error(400, "PGRST100");
        assert_eq!(e["details"]["part"], part, "{q}");
    }
    for q in [
        "select=nope",
        "nope=eq.1",
        "order=nope",
        "or=(age.eq.1,nope.eq.2)",
    ] {
        let e =
            rest(s, "GET", &format!("rest_bad_pg?{q}"), &[], None).assert_error(400, "PGRST204");
        assert_eq!(e["details"]["column"], "nope", "{q}");
    }
    rest(
        s,
        "POST",
        "rest_bad_pg",
        &[],
        Some(&json!({"id": 10, "nope": 1})),
    )
    .assert_error(400, "PGRST204");
    rest(s, "POST", "rest_bad_pg", &[], Some(&json!([1, 2]))).assert_error(400, "PGRST100");
    rest(s, "POST", "rest_bad_pg", &[], Some(&json!("x"))).assert_error(400, "PGRST100");
    let r = call(
        s,
        "POST",
        "/v1/rest/rest_bad_pg",
        Some(&s.admin_key),
        &[("content-type", "application/json")],
        Some(b"{nope"),
    );
    r.assert_error(400, "invalid_json");
    rest(s, "PATCH", "rest_bad_pg?id=eq.1", &[], Some(&json!({}))).assert_error(400, "PGRST100");
    // A cursor pages reads only; limit and offset apply to reads, PATCH and DELETE (limited writes).
    rest(s, "DELETE", "rest_bad_pg?id=eq.1&cursor=x", &[], None).assert_error(400, "PGRST100");
    rest(
        s,
        "POST",
        "rest_bad_pg?limit=1",
        &[],
        Some(&json!({"id": 11})),
    )
    .assert_error(400, "PGRST100");
    // A value of the wrong type is the database's 400, not a 500.
    let r = rest(s, "GET", "rest_bad_pg?age=eq.old", &[], None);
    assert_eq!(r.status, 400, "{}", r.body);
    call(
        s,
        "PUT",
        "/v1/rest/rest_bad_pg",
        Some(&s.admin_key),
        &[],
        None,
    )
    .assert_error(405, "method_not_allowed");
    Ok(())
}

fn scopes_follow_the_tables_store(s: &Stack) -> Outcome {
    people(s, "pg", "rest_scopes_pg");
    let read =
        |key: &str, path: &str| call(s, "GET", &format!("/v1/rest/{path}"), Some(key), &[], None);
    assert_eq!(read(s.key("pg:read"), "rest_scopes_pg?id=eq.1").status, 200);
    read(s.key("d1:read"), "rest_scopes_pg").assert_error(403, "forbidden");
    read(&s.objects_read_key, "rest_scopes_pg").assert_error(403, "forbidden");
    let body = json!({"id": 50, "name": "x"}).to_string();
    let post = |key: &str| {
        call(
            s,
            "POST",
            "/v1/rest/rest_scopes_pg",
            Some(key),
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
    };
    let e = post(s.key("pg:read")).assert_error(403, "forbidden");
    assert_eq!(e["details"]["requiredScope"], "pg:write");
    assert_eq!(post(s.key("pg:write")).status, 201);
    call(s, "GET", "/v1/rest/rest_scopes_pg", None, &[], None).assert_error(401, "unauthorized");
    Ok(())
}

fn a_table_graduates_by_configuration(s: &Stack) -> Outcome {
    // rest_grad lives on D1 in one deployment and on Postgres in the next:
    // the same URL and the same answer, only REST_TABLES changes.
    for store in ["d1", "pg"] {
        sql(
            s,
            store,
            "create table rest_grad (id integer primary key, title text)",
        );
        sql(
            s,
            store,
            &format!("insert into rest_grad values (1, 'on {store}'), (2, 'same row')"),
        );
    }
    let on_d1 = s.spawn_worker(
        "wrangler-rest-d1",
        &[("REST_TABLES", r#"{"rest_grad": "d1"}"#)],
    )?;
    let on_pg = s.spawn_worker(
        "wrangler-rest-pg",
        &[("REST_TABLES", r#"{"rest_grad": "pg"}"#)],
    )?;
    let path = "/v1/rest/rest_grad?id=eq.2";
    let a = call_base(&on_d1.base, "GET", path, Some(&s.admin_key), &[], None);
    let b = call_base(&on_pg.base, "GET", path, Some(&s.admin_key), &[], None);
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.body, b.body);
    assert_eq!(a.json(), b.json());
    let a = call_base(
        &on_d1.base,
        "GET",
        "/v1/rest/rest_grad?id=eq.1&select=title",
        Some(&s.admin_key),
        &[],
        None,
    );
    let b = call_base(
        &on_pg.base,
        "GET",
        "/v1/rest/rest_grad?id=eq.1&select=title",
        Some(&s.admin_key),
        &[],
        None,
    );
    assert_eq!(a.json(), json!([{"title": "on d1"}]));
    assert_eq!(b.json(), json!([{"title": "on pg"}]));
    // Without "*", unlisted tables are not exposed.
    call_base(
        &on_pg.base,
        "GET",
        "/v1/rest/rest_people_pg",
        Some(&s.admin_key),
        &[],
        None,
    )
    .assert_error(404, "not_found");
    Ok(())
}

fn hostile_identifiers_and_values(s: &Stack) -> Outcome {
    for (store, table) in [("d1", "rest_hostile"), ("pg", "rest_hostile_pg")] {
        sql(
            s,
            store,
            &format!("create table {table} (id integer primary key, name text)"),
        );
        sql(s, store, &format!("insert into {table} values (1, 'safe')"));
        let long = "a".repeat(5000);
        let hostile_columns = [
            "name\"; drop table x; --",
            "name'",
            "name--",
            "na/*c*/me",
            "name;",
            "*,(select 1)",
            "ñámé",
            long.as_str(),
            "name)",
        ];
        for col in hostile_columns {
            let enc = urlencode(col);
            for q in [
                format!("select={enc}"),
                format!("{enc}=eq.1"),
                format!("order={enc}"),
            ] {
                let r = rest(s, "GET", &format!("{table}?{q}"), &[], None);
                assert_eq!(r.status, 400, "{store} {q}: {}", r.body);
                assert!(!r.body.contains(&long), "long names are not echoed whole");
            }
        }
        // Hostile values are plain values.
        for v in [
            "'; drop table x; --",
            "1 or 1=1",
            "\\",
            "%",
            "*",
            "NULL",
            "ñ\u{0}x",
            "a\"b",
        ] {
            let r = rest(
                s,
                "GET",
                &format!("{table}?name=eq.{}", urlencode(v)),
                &[],
                None,
            );
            assert!(
                r.status == 200 || r.status == 400,
                "{store} {v:?}: {}",
                r.body
            );
            if r.status == 200 {
                assert_eq!(r.json(), json!([]), "{store} {v:?}");
            }
            let body = json!({"id": 2, "name": v});
            let r = rest(
                s,
                "POST",
                table,
                &[("prefer", "return=representation")],
                Some(&body),
            );
            if r.status == 201 {
                assert_eq!(r.json()[0]["name"], v, "{store}: stored verbatim");
                rest(s, "DELETE", &format!("{table}?id=eq.2"), &[], None);
            } else {
                assert_eq!(r.status, 400, "{store} {v:?}: {}", r.body);
            }
        }
        let r = rest(
            s,
            "GET",
            &format!("{}?select=id,name&order=id", urlencode(table)),
            &[],
            None,
        );
        assert_eq!(
            r.json(),
            json!([{"id": 1, "name": "safe"}]),
            "{store}: data unchanged"
        );
        for name in [
            format!("{table};"),
            format!("{table}\" --"),
            format!("{table}%00"),
        ] {
            rest(s, "GET", &urlencode(&name), &[], None).assert_error(404, "not_found");
        }
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Runs `tests/rest-client/` (node's test runner, npm `@supabase/postgrest-js`)
/// against this stack.
fn official_postgrest_js_client(s: &Stack) -> Outcome {
    let text = crate::client::run_client_suite(
        "postgrest-js tests",
        std::path::Path::new("node"),
        &["--test", "tests/rest-client/"],
        &[
            ("STRATA_BASE_URL", &s.base),
            ("STRATA_API_KEY", &s.admin_key),
            ("STRATA_PG_READ_KEY", s.key("pg:read")),
        ],
    )?;
    assert!(text.contains("# pass 7"), "both stores ran:\n{text}");
    Ok(())
}
