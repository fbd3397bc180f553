//! The load benchmark (`make bench-load`; ignored by `make test`).
//!
//! wrk drives a mixed read/write workload over D1, Postgres (SQL and REST)
//! and R2 with 32 connections: first `STRATA_LOAD_WARMUP` seconds (default
//! 180) to bring workerd to its working size, then the measured
//! `STRATA_LOAD_SECONDS` (default 60). workerd's resident memory is sampled
//! every second throughout, and the Worker's own WebAssembly memory is read
//! from `/v1/status` before and after the measured run.
//!
//! It fails on any error response or socket error in either phase, and when
//! workerd's memory in the last 10 s of the measured run is more than 10%
//! above its first 10 s, or the Worker's wasm memory grew by more than one
//! 64 KiB page during it.
//! BENCHMARKS.md records the numbers and why there is a warm-up: from cold,
//! workerd (V8 heaps of the Worker, local D1 and R2, allocator arenas) grows
//! for a few minutes before it levels off, also for a trivial Worker.

use crate::client::{admin_sql, call};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn benches() -> Vec<TestFn> {
    trials![
        bench::load_mixed_all_stores,
        bench_embed::embed_vs_two_requests,
    ]
}

fn setup(s: &Stack) {
    admin_sql(
        s,
        "d1",
        "create table load_d1 (id integer primary key autoincrement, v text)",
    );
    admin_sql(
        s,
        "pg",
        "create table load_pg (id bigserial primary key, v text)",
    );
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

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The Worker's WebAssembly memory as `/v1/status` reports it.
fn wasm_memory(s: &Stack) -> Result<u64, String> {
    let r = call(s, "GET", "/v1/status", Some(&s.admin_key), &[], None);
    if r.status != 200 {
        return Err(format!("status: {} {}", r.status, r.body));
    }
    r.json()["isolate"]["wasmMemoryBytes"]
        .as_u64()
        .ok_or_else(|| format!("no isolate.wasmMemoryBytes in {}", r.body))
}

/// One wrk phase's outcome.
struct Phase {
    report: String,
    /// (second since the phase started, workerd RSS in kB)
    samples: Vec<(u64, u64)>,
}

impl Phase {
    fn avg_kb(&self, from: u64, to: u64) -> u64 {
        let v: Vec<u64> = self
            .samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, kb)| *kb)
            .collect();
        v.iter().sum::<u64>() / (v.len().max(1) as u64)
    }

    fn requests(&self) -> u64 {
        self.report
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    fn trace(&self, offset: u64) -> String {
        self.samples
            .iter()
            .filter(|(t, _)| t % 10 == 0)
            .map(|(t, kb)| format!("{}s:{}MiB", t + offset, kb / 1024))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs wrk with the mix for `seconds`, sampling workerd's memory; fails on
/// any error response or socket error.
fn run_wrk(s: &Stack, pgid: i32, seconds: u64, name: &str) -> Result<Phase, String> {
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
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        samples.push((started.elapsed().as_secs(), workerd_rss_kb(pgid)));
        std::thread::sleep(Duration::from_secs(1));
    }
    let out = wrk.wait_with_output().map_err(|e| e.to_string())?;
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let errors = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        return Err(format!("{name}: wrk failed: {errors}"));
    }
    if report.contains("Non-2xx or 3xx responses") {
        return Err(format!(
            "{name}: unexpected error responses:\n{report}\n{errors}"
        ));
    }
    if report.contains("Socket errors") {
        return Err(format!("{name}: socket errors:\n{report}"));
    }
    Ok(Phase { report, samples })
}

fn load_mixed_all_stores(s: &Stack) -> Outcome {
    let warmup = env_secs("STRATA_LOAD_WARMUP", 180);
    let seconds = env_secs("STRATA_LOAD_SECONDS", 60).max(20);
    setup(s);
    let pgid = s.worker_pgid().ok_or("no worker process")?;

    let cold = workerd_rss_kb(pgid);
    if warmup > 0 {
        let w = run_wrk(s, pgid, warmup, "warm-up")?;
        println!(
            "warm-up: {} requests in {warmup} s, workerd RSS {} MiB at start: {}",
            w.requests(),
            cold / 1024,
            w.trace(0)
        );
    }

    let wasm_before = wasm_memory(s)?;
    let m = run_wrk(s, pgid, seconds, "measured run")?;
    let wasm_after = wasm_memory(s)?;
    println!("{}", m.report);
    let first = m.avg_kb(0, 10);
    let last = m.avg_kb(seconds - 10, seconds);
    let peak = m.samples.iter().map(|(_, kb)| *kb).max().unwrap_or(0);
    println!("workerd RSS every 10 s: {}", m.trace(warmup));
    println!(
        "workerd RSS: first 10 s avg {} MiB, last 10 s avg {} MiB, peak {} MiB ({:+.1}%)",
        first / 1024,
        last / 1024,
        peak / 1024,
        (last as f64 - first as f64) * 100.0 / (first.max(1) as f64)
    );
    println!(
        "Worker wasm memory: {} KiB before, {} KiB after ({} requests)",
        wasm_before / 1024,
        wasm_after / 1024,
        m.requests()
    );
    assert!(first > 0 && last > 0, "workerd memory was not sampled");
    assert!(
        last * 10 <= first * 11,
        "workerd memory grew more than 10% during the measured run: {} -> {} MiB",
        first / 1024,
        last / 1024
    );
    assert!(
        wasm_after <= wasm_before + 65_536,
        "the Worker's wasm memory grew during the measured run: {wasm_before} -> {wasm_after} bytes"
    );
    Ok(())
}
