//! Graduation (docs/graduation.md): a table placed at run time on D1, moved to Postgres and
//! back by `strata-dev graduate` through the API, while REST serves it — every type class,
//! integers above 2^53, unicode, blobs and NULLs; the same REST reads before and after; writes
//! during the move refused with `503 table_moving`; `--dry-run` changing nothing.

use crate::client::{admin_sql, call};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn tests() -> Vec<TestFn> {
    trials![
        graduate::d1_to_pg_and_back,
        graduate::a_mismatch_is_not_flipped,
        graduate::a_killed_copy_resumes,
        graduate::placement_changes_are_safe_steps,
        graduate::a_text_key_moves_in_byte_order,
    ]
}

const TABLE: &str = "grad_items";
/// Rows moved; `STRATA_GRADUATE_ROWS` scales it (BENCHMARKS.md: 100 000).
fn rows() -> u64 {
    std::env::var("STRATA_GRADUATE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn strata_dev() -> PathBuf {
    // <target>/<profile>/deps/api-<hash>  →  <target>/<profile>/strata-dev
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("strata-dev");
    assert!(
        path.is_file(),
        "{} missing: run make host-bins",
        path.display()
    );
    path
}

fn graduate(s: &Stack, args: &[&str]) -> Output {
    graduate_table(s, TABLE, args)
}

fn graduate_table(s: &Stack, table: &str, args: &[&str]) -> Output {
    Command::new(strata_dev())
        .arg("graduate")
        .arg(table)
        .args(["--api", &s.base, "--key", &s.admin_key])
        .args(args)
        .output()
        .unwrap()
}

fn put_json(s: &Stack, method: &str, path: &str, body: &Value) -> crate::client::Reply {
    call(
        s,
        method,
        path,
        Some(&s.admin_key),
        &[("content-type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
}

fn placement(s: &Stack) -> Value {
    placement_of(s, TABLE)
}

fn placement_of(s: &Stack, table: &str) -> Value {
    let r = call(
        s,
        "GET",
        "/v1/admin/placement",
        Some(&s.admin_key),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .cloned()
        .unwrap_or(Value::Null)
}

fn query(s: &Stack, store: &str, sql: &str) -> Vec<Value> {
    let r = put_json(
        s,
        "POST",
        &format!("/v1/{store}/query"),
        &json!({ "sql": sql }),
    );
    assert_eq!(r.status, 200, "{store}: {sql}: {}", r.body);
    r.json()["rows"].as_array().unwrap().clone()
}

/// Whether Postgres has the table.
fn exists_on_pg(s: &Stack, table: &str) -> bool {
    let sql = format!("SELECT to_regclass('public.{table}')::text AS t");
    !query(s, "pg", &sql)[0]["t"].is_null()
}

/// The REST reads compared before and after: filters, order, a cursor page, one object, a count.
fn reads(s: &Stack) -> Vec<(u16, Option<String>, String)> {
    let base = format!("/v1/rest/{TABLE}");
    let mut out = Vec::new();
    let mut get = |path: String, headers: &[(&str, &str)]| {
        let r = call(s, "GET", &path, Some(&s.admin_key), headers, None);
        let link = r.header("link").map(str::to_string);
        out.push((
            r.status,
            r.header("content-range").map(str::to_string),
            r.body.clone(),
        ));
        link
    };
    let link = get(format!("{base}?select=id,r,t,b,n&order=id&limit=40"), &[]);
    // The next page, by the cursor the first one linked.
    let next = link.unwrap();
    let next = next.trim_start_matches('<').split('>').next().unwrap();
    let next = &next[next.find("/v1/").unwrap()..];
    get(next.to_string(), &[]);
    get(
        format!("{base}?select=id,t&t=like.*7*&order=r.desc&limit=20"),
        &[],
    );
    get(
        format!("{base}?select=id,b&n=is.null&id=lt.30&order=id"),
        &[],
    );
    get(
        format!("{base}?select=id,r,t,b,n&id=eq.5"),
        &[("accept", "application/vnd.pgrst.object+json")],
    );
    get(
        format!("{base}?select=t&order=id&limit=3"),
        &[("prefer", "count=exact")],
    );
    out
}

/// Postgres answers int8 as strings where D1 answers numbers: the same value either way.
fn numbers_as_text(body: &str) -> Value {
    fn walk(v: Value) -> Value {
        match v {
            Value::Number(n) if n.is_i64() => Value::String(n.to_string()),
            Value::Array(a) => Value::Array(a.into_iter().map(walk).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, walk(v))).collect()),
            other => other,
        }
    }
    walk(serde_json::from_str(body).unwrap())
}

fn big(i: u64) -> String {
    ((1u64 << 53) + i * 1_000_003).to_string()
}

fn d1_to_pg_and_back(s: &Stack) -> Outcome {
    let rows = rows();
    admin_sql(s, "d1", &format!("DROP TABLE IF EXISTS {TABLE}"));
    admin_sql(s, "pg", &format!("DROP TABLE IF EXISTS {TABLE}"));
    admin_sql(
        s,
        "d1",
        &format!("CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, big INTEGER NOT NULL, r REAL, t TEXT, b BLOB, n INTEGER DEFAULT 7)"),
    );
    // Every type class: integers above 2^53 (sent as exact digits), reals, unicode text,
    // binary values, NULLs.
    // 16 rows of 6 parameters a statement (D1 takes 100), 20 statements a batch.
    let ids: Vec<u64> = (1..=rows).collect();
    for batch in ids.chunks(320) {
        let statements: Vec<Value> = batch
            .chunks(16)
            .map(|chunk| {
                let mut params = Vec::new();
                for &i in chunk {
                    let bytes: Vec<u8> = vec![(i % 256) as u8, 0, 255, (i * 7 % 256) as u8];
                    params.extend([
                        json!(i),
                        json!(big(i)),
                        json!((i as f64) * 0.1 + 1e-7),
                        json!(format!("ünï ✓ {i} 🚀 \"q\"")),
                        json!({"$binary": base64_encode(&bytes)}),
                        if i % 2 == 1 {
                            Value::Null
                        } else {
                            json!(i * 3)
                        },
                    ]);
                }
                let tuples = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                json!({
                    "sql": format!("INSERT INTO {TABLE} (id, big, r, t, b, n) VALUES {tuples}"),
                    "params": params,
                })
            })
            .collect();
        let r = put_json(
            s,
            "POST",
            "/v1/d1/batch",
            &json!({ "statements": statements }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // A unique index and a secondary index carried over; one on an expression reported.
    admin_sql(
        s,
        "d1",
        &format!("CREATE UNIQUE INDEX grad_items_big ON {TABLE} (big)"),
    );
    admin_sql(
        s,
        "d1",
        &format!("CREATE INDEX grad_items_t_r ON {TABLE} (t, r DESC)"),
    );
    admin_sql(
        s,
        "d1",
        &format!("CREATE INDEX grad_items_lower ON {TABLE} (lower(t))"),
    );
    // Placed on D1 at run time (REST_TABLES' "*" would say Postgres).
    let r = put_json(
        s,
        "PUT",
        &format!("/v1/admin/placement/{TABLE}"),
        &json!({"store": "d1", "state": "ready"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let p = placement(s);
    assert_eq!(
        (&p["store"], &p["state"], &p["source"], &p["rows"]),
        (
            &json!("d1"),
            &json!("ready"),
            &json!("runtime"),
            &json!(rows)
        )
    );
    let before = reads(s);
    assert!(
        before
            .iter()
            .all(|(status, _, _)| *status == 200 || *status == 206),
        "{before:?}"
    );

    // A dry run plans and changes nothing.
    let out = graduate(s, &["--to", "pg", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value =
        serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(plan["event"], "plan");
    assert_eq!(plan["rows"], rows);
    assert!(
        plan["ddl"]
            .as_str()
            .unwrap()
            .contains("\"big\" bigint NOT NULL"),
        "{plan}"
    );
    assert_eq!(plan["misfits"], json!([]), "{plan}");
    assert_eq!(
        plan["indexes"],
        json!([
            format!("CREATE UNIQUE INDEX \"grad_items_big\" ON \"{TABLE}\" (\"big\")"),
            format!("CREATE INDEX \"grad_items_t_r\" ON \"{TABLE}\" (\"t\", \"r\" DESC)"),
        ]),
        "{plan}"
    );
    assert!(
        plan["notes"].to_string().contains("grad_items_lower"),
        "{plan}"
    );
    assert_eq!(placement(s)["state"], "ready");
    assert!(!exists_on_pg(s, TABLE));
    assert_eq!(reads(s), before);

    // The move, with a write attempted while the table is frozen.
    let child = {
        let mut c = Command::new(strata_dev());
        c.arg("graduate")
            .arg(TABLE)
            .args(["--api", &s.base, "--key", &s.admin_key, "--to", "pg"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let started = Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_secs(20) {
        // A write that changes nothing (no row has this id) until the freeze refuses it.
        let r = put_json(
            s,
            "PATCH",
            &format!("/v1/rest/{TABLE}?id=eq.900001"),
            &json!({"t": "during"}),
        );
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 204, "{}", r.body);
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused = refused.expect("a REST write during the move is refused");
    let e = refused.assert_error(503, "table_moving");
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(e["details"]["table"], TABLE);
    // Reads are served from the source meanwhile.
    let r = call(
        s,
        "GET",
        &format!("/v1/rest/{TABLE}?select=id&limit=1"),
        Some(&s.admin_key),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(placement(s)["state"], "moving");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"event\":\"flipped\""), "{stdout}");
    // The numbers BENCHMARKS.md records (rows/s, freeze-to-flip window).
    for line in stdout.lines().filter(|l| l.contains("\"flipped\"")) {
        eprintln!("graduate d1 -> pg: {line}");
    }
    let p = placement(s);
    assert_eq!(
        (&p["store"], &p["state"], &p["rows"]),
        (&json!("pg"), &json!("ready"), &json!(rows))
    );

    // Served by Postgres now: the same rows (int8 as strings there), integers exact.
    let on_pg = reads(s);
    for ((a, ra, ba), (b, rb, bb)) in before.iter().zip(&on_pg) {
        assert_eq!((a, ra), (b, rb));
        assert_eq!(numbers_as_text(ba), numbers_as_text(bb));
    }
    let bigs = query(
        s,
        "pg",
        &format!("SELECT big::text AS big FROM {TABLE} ORDER BY id LIMIT 3"),
    );
    assert_eq!(
        bigs,
        vec![
            json!({"big": big(1)}),
            json!({"big": big(2)}),
            json!({"big": big(3)})
        ]
    );
    // The indexes came along: a duplicate of a unique value is refused on Postgres too.
    let defs = query(
        s,
        "pg",
        &format!("SELECT indexdef FROM pg_indexes WHERE tablename = '{TABLE}' ORDER BY indexname"),
    );
    let defs = serde_json::to_string(&defs).unwrap();
    assert!(
        defs.contains("CREATE UNIQUE INDEX grad_items_big ON public.grad_items USING btree (big)")
            && defs.contains("USING btree (t, r DESC)"),
        "{defs}"
    );
    let r = put_json(
        s,
        "POST",
        &format!("/v1/rest/{TABLE}"),
        &json!({"id": 900003, "big": big(1), "t": "dup"}),
    );
    r.assert_error(409, "unique_violation");
    // The source is kept.
    assert_eq!(
        query(s, "d1", &format!("SELECT count(*) AS n FROM {TABLE}"))[0]["n"],
        json!(rows)
    );
    // Writes succeed after the flip (on Postgres).
    let r = put_json(
        s,
        "POST",
        &format!("/v1/rest/{TABLE}"),
        &json!({"id": 900002, "big": "2", "t": "after"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call(
        s,
        "DELETE",
        &format!("/v1/rest/{TABLE}?id=eq.900002"),
        Some(&s.admin_key),
        &[],
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);

    // Back to D1: the kept source is refused (it could be stale) until dropped.
    let out = graduate(s, &["--to", "d1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("drop it first"), "{stderr}");
    assert_eq!(placement(s)["state"], "ready");
    admin_sql(s, "d1", &format!("DROP TABLE {TABLE}"));
    let out = graduate(s, &["--to", "d1", "--drop-source"]);
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"flipped\""))
    {
        eprintln!("graduate pg -> d1: {line}");
    }
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let p = placement(s);
    assert_eq!((&p["store"], &p["state"]), (&json!("d1"), &json!("ready")));
    assert!(!exists_on_pg(s, TABLE));
    // The same REST reads, the same bodies, byte for byte.
    assert_eq!(reads(s), before);
    let back = query(
        s,
        "d1",
        &format!("SELECT name, \"unique\" AS u FROM pragma_index_list('{TABLE}') WHERE origin = 'c' ORDER BY name"),
    );
    assert_eq!(
        back,
        vec![
            json!({"name": "grad_items_big", "u": 1}),
            json!({"name": "grad_items_t_r", "u": 0})
        ]
    );
    let bigs = query(
        s,
        "d1",
        &format!("SELECT CAST(big AS TEXT) AS big FROM {TABLE} ORDER BY id LIMIT 2"),
    );
    assert_eq!(bigs, vec![json!({"big": big(1)}), json!({"big": big(2)})]);

    // --abort leaves a frozen table ready on its source.
    let r = put_json(
        s,
        "PUT",
        &format!("/v1/admin/placement/{TABLE}"),
        &json!({"store": "d1", "state": "moving", "target": "pg"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let out = graduate(s, &["--abort"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = placement(s);
    assert_eq!((&p["store"], &p["state"]), (&json!("d1"), &json!("ready")));
    Ok(())
}

/// A small D1 table placed on D1 at run time, none on Postgres.
fn small_table(s: &Stack, table: &str, rows: u64) {
    admin_sql(s, "d1", &format!("DROP TABLE IF EXISTS {table}"));
    admin_sql(s, "pg", &format!("DROP TABLE IF EXISTS {table}"));
    admin_sql(
        s,
        "d1",
        &format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, t TEXT)"),
    );
    for chunk in (1..=rows).collect::<Vec<_>>().chunks(20) {
        let statements: Vec<Value> = chunk
            .iter()
            .map(|&i| json!({"sql": format!("INSERT INTO {table} (id, t) VALUES (?, ?)"), "params": [i, format!("row {i}")]}))
            .collect();
        let r = put_json(
            s,
            "POST",
            "/v1/d1/batch",
            &json!({ "statements": statements }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = put_json(
        s,
        "PUT",
        &format!("/v1/admin/placement/{table}"),
        &json!({"store": "d1", "state": "ready"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The admin route refuses any placement change that is not one safe step: a table with a
/// copy on both stores cannot be switched without a freeze, and nothing is written.
fn placement_changes_are_safe_steps(s: &Stack) -> Outcome {
    let table = "grad_steps";
    small_table(s, table, 5);
    admin_sql(
        s,
        "pg",
        &format!("CREATE TABLE {table} (id bigint PRIMARY KEY, t text)"),
    );
    let path = format!("/v1/admin/placement/{table}");
    let r = put_json(s, "PUT", &path, &json!({"store": "pg", "state": "ready"}));
    let e = r.assert_error(409, "placement_conflict");
    assert_eq!(
        (&e["details"]["store"], &e["details"]["state"]),
        (&json!("d1"), &json!("ready"))
    );
    let r = put_json(
        s,
        "PUT",
        &path,
        &json!({"store": "pg", "state": "moving", "target": "d1"}),
    );
    r.assert_error(409, "placement_conflict");
    let r = put_json(s, "PUT", &path, &json!({"store": "d1", "state": "moving"}));
    r.assert_error(400, "invalid_request");
    let p = placement_of(s, table);
    assert_eq!(
        (&p["store"], &p["state"], &p["rows"]),
        (&json!("d1"), &json!("ready"), &json!(5))
    );
    // Freeze, then the abort (back on the source) is a safe step.
    let freeze = json!({"store": "d1", "state": "moving", "target": "pg"});
    assert_eq!(put_json(s, "PUT", &path, &freeze).status, 200);
    let r = put_json(s, "PUT", &path, &json!({"store": "d1", "state": "ready"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(placement_of(s, table)["state"], "ready");
    // Its run-time row cannot be dropped: REST_TABLES' "*" names Postgres, so the table would
    // switch stores without a move.
    let del = |path: &str| call(s, "DELETE", path, Some(&s.admin_key), &[], None);
    del(&path).assert_error(409, "placement_conflict");
    assert_eq!(placement_of(s, table)["store"], "d1");
    // A row that agrees with the setting is redundant and goes; then there is none.
    let pinned = "grad_pinned";
    admin_sql(s, "pg", &format!("DROP TABLE IF EXISTS {pinned}"));
    admin_sql(
        s,
        "pg",
        &format!("CREATE TABLE {pinned} (id bigint PRIMARY KEY)"),
    );
    let pinned_path = format!("/v1/admin/placement/{pinned}");
    let r = put_json(
        s,
        "PUT",
        &pinned_path,
        &json!({"store": "pg", "state": "ready"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(placement_of(s, pinned)["source"], "runtime");
    let r = del(&pinned_path);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(placement_of(s, pinned)["source"], "config");
    del(&pinned_path).assert_error(404, "not_found");
    // Admin scope only.
    let r = call(s, "DELETE", &path, Some(s.key("pg:write")), &[], None);
    r.assert_error(403, "forbidden");
    Ok(())
}

/// A Postgres table keyed by text in a locale collation (where "a" < "B") moves to D1, which
/// compares bytes ("B" < "a"): the copy pages, resumes and verifies in byte order on both sides.
fn a_text_key_moves_in_byte_order(s: &Stack) -> Outcome {
    let table = "grad_textkey";
    admin_sql(s, "d1", &format!("DROP TABLE IF EXISTS {table}"));
    admin_sql(s, "pg", &format!("DROP TABLE IF EXISTS {table}"));
    admin_sql(
        s,
        "pg",
        &format!("CREATE TABLE {table} (k text COLLATE \"und-x-icu\" PRIMARY KEY, v int)"),
    );
    let keys: Vec<String> = (0..60)
        .map(|i| match i % 4 {
            0 => format!("a{i}"),
            1 => format!("B{i}"),
            2 => format!("é{i}"),
            _ => format!("Z{i}"),
        })
        .collect();
    let values: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("('{k}', {i})"))
        .collect();
    admin_sql(
        s,
        "pg",
        &format!("INSERT INTO {table} (k, v) VALUES {}", values.join(", ")),
    );
    let out = graduate_table(s, table, &["--to", "d1", "--batch", "7"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let p = placement_of(s, table);
    assert_eq!(
        (&p["store"], &p["state"], &p["rows"]),
        (&json!("d1"), &json!("ready"), &json!(60))
    );
    // D1's order is byte order: upper case before lower case before "é".
    let rows = query(
        s,
        "d1",
        &format!("SELECT k FROM {table} ORDER BY k LIMIT 2"),
    );
    assert_eq!(rows, vec![json!({"k": "B1"}), json!({"k": "B13"})]);
    Ok(())
}

/// A row changed in the target during the copy (here by a trigger on the pre-created, empty
/// target): verification fails, nothing is flipped, and --abort puts the table back.
fn a_mismatch_is_not_flipped(s: &Stack) -> Outcome {
    let table = "grad_mismatch";
    small_table(s, table, 30);
    admin_sql(
        s,
        "pg",
        &format!("CREATE TABLE {table} (id bigint PRIMARY KEY, t text)"),
    );
    admin_sql(
        s,
        "pg",
        "CREATE OR REPLACE FUNCTION grad_tamper() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.id = 7 THEN NEW.t := 'tampered'; END IF; RETURN NEW; END $$",
    );
    admin_sql(
        s,
        "pg",
        &format!("CREATE TRIGGER grad_tamper BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION grad_tamper()"),
    );
    let out = graduate_table(s, table, &["--to", "pg", "--batch", "10"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("verification failed"), "{stderr}");
    // The range holding id 7 is named.
    assert!(
        stderr.contains("\"from\":[\"1\"]") && stderr.contains("\"to\":[\"10\"]"),
        "{stderr}"
    );
    let p = placement_of(s, table);
    assert_eq!((&p["store"], &p["state"]), (&json!("d1"), &json!("moving")));
    let out = graduate_table(s, table, &["--abort"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = placement_of(s, table);
    assert_eq!(
        (&p["store"], &p["state"], &p["rows"]),
        (&json!("d1"), &json!("ready"), &json!(30))
    );
    Ok(())
}

/// A copy killed midway leaves the table moving; the same command again resumes after the
/// largest key copied, and verifies and flips.
fn a_killed_copy_resumes(s: &Stack) -> Outcome {
    use std::io::{BufRead, BufReader};
    let table = "grad_resume";
    small_table(s, table, 400);
    let mut child = Command::new(strata_dev())
        .arg("graduate")
        .arg(table)
        .args([
            "--api",
            &s.base,
            "--key",
            &s.admin_key,
            "--to",
            "pg",
            "--batch",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "copy" && event["rows"].as_u64().unwrap() >= 50 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let p = placement_of(s, table);
    assert_eq!((&p["store"], &p["state"]), (&json!("d1"), &json!("moving")));
    let partial = query(s, "pg", &format!("SELECT count(*)::int AS n FROM {table}"))[0]["n"]
        .as_u64()
        .unwrap();
    assert!((50..400).contains(&partial), "{partial}");
    let out = graduate_table(s, table, &["--to", "pg", "--batch", "50"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"event\":\"resume\""), "{stdout}");
    let p = placement_of(s, table);
    assert_eq!(
        (&p["store"], &p["state"], &p["rows"]),
        (&json!("pg"), &json!("ready"), &json!(400))
    );
    Ok(())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
