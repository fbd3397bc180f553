//! Read-only Postgres requests cannot write, however they try.
//!
//! Every escape from a `READ ONLY` transaction that a batch statement could
//! attempt — leaving it (`COMMIT`, `END`, `ROLLBACK` + `START TRANSACTION READ
//! WRITE`), switching it (`SET TRANSACTION READ WRITE`, `set_config`), changing
//! the session (`SET ROLE`, `SET SESSION CHARACTERISTICS`), or writing from a
//! read-looking statement (a data-modifying CTE, `nextval`, `FOR UPDATE`,
//! `COPY`, temp tables) — is sent with a `sql:read` key and as a client
//! `readOnly` batch with the admin key, and must be refused and leave the data
//! as it was, read back with the admin key. Twice: on the stack's Worker,
//! whose reads log in as the `SELECT`-only role (`DATABASE_URL_READ`), and on
//! a Worker without that setting, where the statement check and the
//! transaction's snapshot are all that stand in the way.

use crate::client::{call_base, post_json, unique};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::{json, Value};

/// The tests of this module.
pub fn tests() -> Vec<TestFn> {
    trials![
        pg_readonly::escapes_are_refused_with_the_read_role,
        pg_readonly::escapes_are_refused_without_the_read_role,
        pg_readonly::reads_log_in_as_the_read_role,
    ]
}

/// A statement with the admin key on the stack's Worker that must succeed.
fn admin(s: &Stack, sql: &str) -> Value {
    let r = post_json(
        &s.base,
        "/v1/pg/query",
        &s.admin_key,
        &json!({ "sql": sql }),
    );
    assert_eq!(r.status, 200, "{sql}: {}", r.body);
    r.json()
}

/// A table, a sequence and a procedure no other test uses, with one row.
struct Fixture {
    table: String,
    seq: String,
    proc_: String,
}

impl Fixture {
    fn new(s: &Stack) -> Fixture {
        let n = unique("pgro");
        let f = Fixture {
            table: n.clone(),
            seq: format!("{n}_seq"),
            proc_: format!("{n}_proc"),
        };
        admin(
            s,
            &format!("create table {} (id int primary key, v text)", f.table),
        );
        admin(s, &format!("insert into {} values (1, 'a')", f.table));
        admin(s, &format!("create sequence {}", f.seq));
        admin(
            s,
            &format!(
                "create procedure {}() language sql as $$ insert into {} values (4, 'd') $$",
                f.proc_, f.table
            ),
        );
        f
    }

    /// The escapes: batches a read-only request might send to write.
    fn escapes(&self) -> Vec<Vec<String>> {
        let t = &self.table;
        let insert = format!("insert into {t} values (2, 'b')");
        let batch = |first: &[&str]| {
            let mut b: Vec<String> = first.iter().map(|s| s.to_string()).collect();
            b.push(insert.clone());
            b
        };
        let mut all = vec![
            batch(&["SET TRANSACTION READ WRITE"]),
            batch(&["COMMIT"]),
            batch(&["END"]),
            batch(&["ABORT"]),
            batch(&["ROLLBACK", "START TRANSACTION READ WRITE"]),
            batch(&["BEGIN READ WRITE"]),
            batch(&[
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
                "COMMIT",
            ]),
            batch(&["SET default_transaction_read_only = off", "COMMIT"]),
            batch(&["SET ROLE strata"]),
            batch(&["SET SESSION AUTHORIZATION strata"]),
            batch(&["RESET ALL", "COMMIT"]),
            batch(&["DISCARD ALL"]),
            batch(&["SAVEPOINT a", "RELEASE SAVEPOINT a"]),
            batch(&["PREPARE TRANSACTION 'strata_escape'"]),
            batch(&["COMMIT PREPARED 'strata_escape'"]),
            // Spellings a naive scanner reads as something else.
            batch(&["/**/commit"]),
            batch(&["-- select\ncommit"]),
            batch(&["-- select\rcommit"]),
            batch(&["/* /* */ select */ commit"]),
            batch(&["CoMmIt"]),
            batch(&["(commit)"]),
            // Switching the transaction after its snapshot: Postgres refuses (25001).
            batch(&["select set_config('transaction_read_only', 'off', false)"]),
            batch(&[
                "select 1",
                "select set_config('transaction_read_only', 'off', true)",
            ]),
            // Two statements in one.
            batch(&["select 1; commit"]),
        ];
        for sql in [
            format!("with x as (insert into {t} values (2, 'b') returning *) select * from x"),
            format!("with x as (delete from {t} returning *) select count(*) from x"),
            format!("with x as (update {t} set v = 'x' returning *) select * from x"),
            format!("select nextval('{}')", self.seq),
            format!("select setval('{}', 99)", self.seq),
            format!("select * from {t} for update"),
            format!("copy {t} from stdin"),
            format!("copy {t} to stdout"),
            "create temp table pgro_temp (a int)".to_string(),
            format!("create table {t}_made (a int)"),
            format!("drop table {t}"),
            format!("truncate {t}"),
            format!("lock table {t} in access exclusive mode"),
            format!("do $$ begin insert into {t} values (3, 'c'); end $$"),
            format!("call {}()", self.proc_),
            format!("explain analyze insert into {t} values (2, 'b')"),
            format!("select * into {t}_copy from {t}"),
        ] {
            all.push(vec![sql]);
        }
        all
    }

    /// Asserts the data is as made: one row, the sequence unused, nothing new.
    fn assert_unchanged(&self, s: &Stack, after: &[String]) {
        let rows = admin(s, &format!("select id, v from {} order by id", self.table));
        assert_eq!(
            rows["rows"],
            json!([{"id": 1, "v": "a"}]),
            "rows changed after {after:?}"
        );
        let seq = admin(
            s,
            &format!("select last_value, is_called from {}", self.seq),
        );
        assert_eq!(
            seq["rows"],
            json!([{"last_value": "1", "is_called": false}]),
            "sequence used after {after:?}"
        );
        let made = admin(
            s,
            &format!(
                "select count(*)::int as n from pg_class where relname in ('{0}_made', '{0}_copy')",
                self.table
            ),
        );
        assert_eq!(
            made["rows"],
            json!([{"n": 0}]),
            "table made after {after:?}"
        );
    }
}

/// Sends every escape to the Worker at `base` with each read-only caller,
/// checking each is refused and changes nothing.
fn refuse_every_escape(s: &Stack, base: &str) -> Outcome {
    let f = Fixture::new(s);
    let sql_read = s.key("sql:read");
    let refusals = [
        (403, "read_only"),
        (403, "insufficient_privilege"),
        // More than one statement in one, or no such prepared transaction.
        (400, "invalid_request"),
        (400, "sql_error"),
    ];
    for statements in f.escapes() {
        let body: Vec<Value> = statements.iter().map(|sql| json!({ "sql": sql })).collect();
        let attempts = [
            (sql_read, json!({ "statements": body })),
            (
                s.admin_key.as_str(),
                json!({ "statements": body, "readOnly": true }),
            ),
            (
                s.admin_key.as_str(),
                json!({ "statements": body, "readOnly": true, "isolation": "serializable" }),
            ),
        ];
        for (key, request) in attempts {
            let r = post_json(base, "/v1/pg/batch", key, &request);
            r.assert_error_in(&refusals, &format!("{statements:?} with {request}"));
            f.assert_unchanged(s, &statements);
        }
        if statements.len() == 1 {
            let r = post_json(
                base,
                "/v1/pg/query",
                sql_read,
                &json!({ "sql": statements[0] }),
            );
            r.assert_error_in(&refusals, &format!("{statements:?}"));
            f.assert_unchanged(s, &statements);
        }
    }
    // The same transaction-control statement is nobody's business on a
    // read-write request: the admin's own batch is not refused by the check.
    let r = post_json(
        base,
        "/v1/pg/batch",
        &s.admin_key,
        &json!({ "statements": [{"sql": "savepoint a"}, {"sql": "release savepoint a"}] }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}

fn escapes_are_refused_with_the_read_role(s: &Stack) -> Outcome {
    assert!(
        !s.database_url_read.is_empty(),
        "the stack runs with DATABASE_URL_READ"
    );
    refuse_every_escape(s, &s.base)
}

fn escapes_are_refused_without_the_read_role(s: &Stack) -> Outcome {
    let w = s.spawn_isolated_worker("wrangler-pg-no-read-role", &[("DATABASE_URL_READ", "")])?;
    // Reads share DATABASE_URL here: the owner, who could write.
    let r = post_json(
        &w.base,
        "/v1/pg/query",
        s.key("sql:read"),
        &json!({"sql": "select current_user::text as u"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.json()["rows"][0]["u"], "strata_read");
    refuse_every_escape(s, &w.base)
}

fn reads_log_in_as_the_read_role(s: &Stack) -> Outcome {
    let f = Fixture::new(s);
    let who = |key: &str, read_only: bool| {
        let r = post_json(
            &s.base,
            "/v1/pg/batch",
            key,
            &json!({"statements": [{"sql": "select current_user::text as u, current_setting('transaction_read_only') as ro"}],
                    "readOnly": read_only}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["results"][0]["rows"][0].clone()
    };
    assert_eq!(
        who(s.key("sql:read"), false),
        json!({"u": "strata_read", "ro": "on"})
    );
    assert_eq!(
        who(&s.admin_key, true),
        json!({"u": "strata_read", "ro": "on"})
    );
    assert_ne!(who(&s.admin_key, false)["u"], "strata_read");
    // A table made after the role (by the admin, as migrations would) is
    // readable by it: raw SQL, and REST through its schema introspection.
    let r = post_json(
        &s.base,
        "/v1/pg/query",
        s.key("sql:read"),
        &json!({"sql": format!("select v from {}", f.table)}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rows"], json!([{"v": "a"}]));
    let r = call_base(
        &s.base,
        "GET",
        &format!("/v1/rest/{}", f.table),
        Some(s.key("pg:read")),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([{"id": 1, "v": "a"}]));
    // The role's own refusal, which the statement check lets through: the
    // role lacks the privilege (42501) before READ ONLY is even consulted,
    // where the owner would meet only the transaction's refusal (25006).
    let r = post_json(
        &s.base,
        "/v1/pg/query",
        s.key("sql:read"),
        &json!({"sql": format!("select nextval('{}')", f.seq)}),
    );
    let e = r.assert_error(403, "insufficient_privilege");
    assert_eq!(e["details"]["sqlstate"], "42501");
    f.assert_unchanged(s, &[]);
    Ok(())
}
