//! The load benchmark (`make bench-load`; ignored by `make test`).
//!
//! wrk drives a mixed read/write workload over D1, Postgres (SQL and REST)
//! and R2 against this stack for `STRATA_LOAD_SECONDS` (default 60) with 32
//! connections, while workerd's resident memory is sampled every second.
//! It fails on any error response or socket error. workerd's memory is
//! reported, not asserted: under `wrangler dev` it grows with the request
//! count even for a trivial JavaScript Worker (see BENCHMARKS.md and
//! bench/baseline-memory.sh), so a flatness check here would measure the
//! local runtime, not Strata.

use crate::client::call;
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn benches() -> Vec<TestFn> {
    vec![("bench::load_mixed_all_stores", load)]
}

fn setup(s: &Stack) {
    for (store, sql) in [
        (
            "d1",
            "create table load_d1 (id integer primary key autoincrement, v text)",
        ),
        (
            "pg",
            "create table load_pg (id bigserial primary key, v text)",
        ),
    ] {
        let body = json!({"sql": sql}).to_string();
        let r = call(
            s,
            "POST",
            &format!("/v1/{store}/query"),
            Some(&s.admin_key),
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = call(
        s,
        "PUT",
        "/v1/objects/load/seed",
        Some(&s.admin_key),
        &[],
        Some(b"seed object"),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
}

/// Resident memory (kB) of the workerd processes in `pgid`'s process group.
fn workerd_rss_kb(pgid: i32) -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !cmd.contains("workerd") {
            continue;
        }
        // SAFETY: getpgid reads another process's group id; no memory is touched.
        if unsafe { libc::getpgid(pid) } != pgid {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if let Some(kb) = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += kb;
        }
    }
    total
}

fn load(s: &Stack) -> Outcome {
    let seconds: u64 = std::env::var("STRATA_LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    setup(s);
    let pgid = s.worker_pgid().ok_or("no worker process")?;
    let script = crate::stack::repo_root().join("bench/load.lua");
    let wrk = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&script)
        .arg(&s.base)
        .env("STRATA_KEY", &s.admin_key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run wrk (make bench-load installs it): {e}"))?;
    let started = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        samples.push((started.elapsed().as_secs(), workerd_rss_kb(pgid)));
        std::thread::sleep(Duration::from_secs(1));
    }
    let out = wrk.wait_with_output().map_err(|e| e.to_string())?;
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let errors = String::from_utf8_lossy(&out.stderr).to_string();
    println!("{report}");
    let avg = |from: u64, to: u64| {
        let v: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, kb)| *kb)
            .collect();
        v.iter().sum::<u64>() / (v.len().max(1) as u64)
    };
    let first = avg(0, 10);
    let last = avg(seconds.saturating_sub(10), seconds);
    let peak = samples.iter().map(|(_, kb)| *kb).max().unwrap_or(0);
    let trace: Vec<String> = samples
        .iter()
        .filter(|(t, _)| t % 10 == 0)
        .map(|(t, kb)| format!("{t}s:{}MiB", kb / 1024))
        .collect();
    println!("workerd RSS every 10 s: {}", trace.join(" "));
    println!(
        "workerd RSS: first 10 s avg {} MiB, last 10 s avg {} MiB, peak {} MiB",
        first / 1024,
        last / 1024,
        peak / 1024
    );
    assert!(out.status.success(), "wrk failed: {errors}");
    assert!(
        !report.contains("Non-2xx or 3xx responses"),
        "unexpected error responses:\n{report}\n{errors}"
    );
    assert!(
        !report.contains("Socket errors"),
        "socket errors:\n{report}"
    );
    assert!(first > 0 && last > 0, "workerd memory was sampled");
    let requests: u64 = report
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    println!(
        "workerd growth: {} KiB per 1000 requests ({requests} requests)",
        (last.saturating_sub(first) * 1000) / requests.max(1)
    );
    Ok(())
}
