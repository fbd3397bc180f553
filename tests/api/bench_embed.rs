//! Embedding against plain requests (`-- --ignored bench_embed::`; ignored
//! by `make test`): 50 parents with 50 children each, read on each store as
//! one request embedding the children (`select=id,name,kids(id,v)`, one SQL
//! statement) and as two plain requests (the parents, then every child).
//! Prints the median and p90 of 30 timed rounds after 5 warm-up ones;
//! BENCHMARKS.md records the numbers.

use crate::client::{admin_sql, call_base};
use crate::stack::Stack;
use crate::Outcome;
use std::time::Instant;

const ROUNDS: usize = 30;

/// Milliseconds of each round of `f`, sorted.
fn timed(mut f: impl FnMut()) -> Vec<f64> {
    (0..5).for_each(|_| f());
    let mut ms: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    ms
}

pub fn embed_vs_two_requests(s: &Stack) -> Outcome {
    let w = s.spawn_worker(
        "wrangler-bench-embed",
        &[
            ("REST_MAX_ROWS", "5000"),
            (
                "REST_TABLES",
                r#"{"be_parents": "d1", "be_kids": "d1", "*": "pg"}"#,
            ),
        ],
    )?;
    for (store, p, k) in [
        ("d1", "be_parents", "be_kids"),
        ("pg", "be_parents_pg", "be_kids_pg"),
    ] {
        admin_sql(
            s,
            store,
            &format!("create table {p} (id integer primary key, name text)"),
        );
        admin_sql(
            s,
            store,
            &format!("create table {k} (id integer primary key, parent_id integer references {p}(id), v text)"),
        );
        let series = |n: u32| match store {
            "d1" => format!(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) "
            ),
            _ => String::new(),
        };
        let from = |n: u32| match store {
            "d1" => "FROM g".to_string(),
            _ => format!("FROM generate_series(1, {n}) AS g(i)"),
        };
        admin_sql(
            s,
            store,
            &format!(
                "{}INSERT INTO {p} SELECT i, 'p' || i {}",
                series(50),
                from(50)
            ),
        );
        admin_sql(
            s,
            store,
            &format!(
                "{}INSERT INTO {k} SELECT i, (i - 1) / 50 + 1, 'v' || i {}",
                series(2500),
                from(2500)
            ),
        );
        let get = |path: String| {
            let r = call_base(&w.base, "GET", &path, Some(&s.admin_key), &[], None);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.body
        };
        let embedded = get(format!("/v1/rest/{p}?select=id,name,{k}(id,v)&order=id"));
        let rows: serde_json::Value = serde_json::from_str(&embedded)?;
        assert_eq!(rows.as_array().map(Vec::len), Some(50));
        assert_eq!(rows[49][k].as_array().map(Vec::len), Some(50));
        let kids: serde_json::Value =
            serde_json::from_str(&get(format!("/v1/rest/{k}?select=id,parent_id,v&order=id")))?;
        assert_eq!(kids.as_array().map(Vec::len), Some(2500));

        let one = timed(|| {
            get(format!("/v1/rest/{p}?select=id,name,{k}(id,v)&order=id"));
        });
        let two = timed(|| {
            get(format!("/v1/rest/{p}?select=id,name&order=id"));
            get(format!("/v1/rest/{k}?select=id,parent_id,v&order=id"));
        });
        let at = |v: &[f64], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        println!(
            "bench_embed {store}: one embedding request median {:.1} ms p90 {:.1} ms ({} bytes); two plain requests median {:.1} ms p90 {:.1} ms",
            at(&one, 0.5),
            at(&one, 0.9),
            embedded.len(),
            at(&two, 0.5),
            at(&two, 0.9)
        );
    }
    Ok(())
}
