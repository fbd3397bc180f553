//! Faults: Postgres stops in the middle of a stream of writes.
//!
//! The pg routes must answer 503 quickly (well within `STORE_TIMEOUT_MS`),
//! D1 and R2 keep working, and once Postgres is back every write that got a
//! 2xx is there, and no write that got an error is half there.

use crate::client::call_base;
use crate::stack::{free_port, Stack};
use crate::{Outcome, TestFn};
use pgcluster::{Cluster, ClusterOptions};
use serde_json::{json, Value};
use std::time::Instant;

pub fn tests() -> Vec<TestFn> {
    trials![faults::postgres_stops_during_writes,]
}

fn start_cluster(dir: &std::path::Path, port: u16) -> Result<Cluster, String> {
    Cluster::start(ClusterOptions {
        data_dir: Some(dir.to_path_buf()),
        port: Some(port),
        ..ClusterOptions::default()
    })
    .map_err(|e| format!("cannot start Postgres: {e:?}"))
}

fn postgres_stops_during_writes(s: &Stack) -> Outcome {
    let dir = s.scratch_dir("fault-pg")?.join("data");
    let port = free_port()?;
    let cluster = start_cluster(&dir, port)?;
    let database_url = cluster.database_url();
    let upstream = format!("127.0.0.1:{port}");
    let endpoint = s.start_neon_endpoint("neon-local-faults", &["--upstream", &upstream])?;
    let timeout_ms = 3000;
    let w = s.spawn_isolated_worker(
        "wrangler-faults",
        &[
            ("DATABASE_URL", &database_url),
            ("NEON_SQL_URL", &endpoint.sql_url),
            ("STORE_TIMEOUT_MS", &timeout_ms.to_string()),
        ],
    )?;
    let post = |path: &str, body: &Value| {
        let text = body.to_string();
        call_base(
            &w.base,
            "POST",
            path,
            Some(&s.admin_key),
            &[("content-type", "application/json")],
            Some(text.as_bytes()),
        )
    };
    let r = post(
        "/v1/pg/batch",
        &json!({"statements": [
            {"sql": "create table fault_a (id int primary key)"},
            {"sql": "create table fault_b (id int primary key)"}
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Each write inserts into two tables in one transaction: "half-applied"
    // would be a row in one table without the other.
    let write = |i: u32| {
        let started = Instant::now();
        let r = post(
            "/v1/pg/batch",
            &json!({"statements": [
                {"sql": "insert into fault_a values ($1)", "params": [i]},
                {"sql": "insert into fault_b values ($1)", "params": [i]}
            ]}),
        );
        (i, r.status, started.elapsed(), r.body)
    };
    let mut outcomes = Vec::new();
    for i in 0..20 {
        outcomes.push(write(i));
    }
    // Postgres goes away (fast shutdown, as a crash or a restart would).
    cluster.stop();
    let mut during = Vec::new();
    for i in 20..40 {
        let o = write(i);
        during.push((o.1, o.2));
        outcomes.push(o);
    }
    // Meanwhile D1 and R2 keep answering.
    let d1 = post("/v1/d1/query", &json!({"sql": "select 1 as ok"}));
    assert_eq!(d1.status, 200, "D1 during the outage: {}", d1.body);
    let status = call_base(&w.base, "GET", "/v1/status", Some(&s.admin_key), &[], None);
    let v = status.assert_error(503, "store_unavailable");
    assert_eq!(v["details"]["failing"], json!(["neon"]), "{v}");
    assert_eq!(v["details"]["stores"]["r2"]["ok"], true);
    // Postgres returns, on the same data.
    let cluster = start_cluster(&dir, port)?;
    for i in 40..60 {
        outcomes.push(write(i));
    }

    for (status, elapsed) in &during {
        assert_eq!(*status, 503, "pg writes during the outage answer 503");
        assert!(
            elapsed.as_millis() < timeout_ms as u128,
            "503 within the timeout, took {elapsed:?}"
        );
    }
    let slowest = during.iter().map(|(_, e)| *e).max().unwrap_or_default();
    eprintln!("faults: slowest 503 during the outage took {slowest:?} (timeout {timeout_ms} ms)");
    let r = post(
        "/v1/pg/query",
        &json!({"sql": "select a.id as a, b.id as b from fault_a a full join fault_b b on a.id = b.id order by 1, 2"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.json()["rows"].as_array().cloned().unwrap_or_default();
    for row in &rows {
        assert_eq!(row["a"], row["b"], "half-applied write: {row}");
    }
    let stored: Vec<u64> = rows.iter().filter_map(|row| row["a"].as_u64()).collect();
    for (i, status, _, body) in &outcomes {
        let present = stored.contains(&u64::from(*i));
        if (200..300).contains(status) {
            assert!(present, "write {i} got {status} but is missing");
        } else {
            assert!(!present, "write {i} got {status} ({body}) but is present");
        }
    }
    let ok = outcomes.iter().filter(|o| o.1 == 200).count();
    assert!(
        ok >= 40,
        "writes before and after the outage succeed ({ok} of 60)"
    );
    drop(cluster);
    Ok(())
}
