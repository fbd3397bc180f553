//! Schema-driven fuzzing: schemathesis (PyPI, pinned; installed into `.venv/`
//! by scripts/tools.sh) generates requests from `openapi/openapi.json` —
//! valid ones and ones that break the schema — sends them to this stack's
//! Worker with the admin key, and checks every answer against the document:
//! no 5xx (except the documented 503 of local R2 for unknown upload ids), only
//! documented status codes, content types, headers and bodies, 4xx for
//! invalid input, 401 without the key, 405 for undocumented methods. Then
//! the Worker's log must show no panic (a Rust panic poisons the isolate: the
//! requests after it hang with "Worker's code had hung").
//!
//! Configuration: tests/api/schemathesis.toml. Run it alone with
//! `cargo test -p strata-tests -- fuzz::`; `STRATA_FUZZ_SEED=<n>` replays a
//! run (each run prints its seed), `STRATA_FUZZ_MAX_EXAMPLES` changes how
//! many cases each operation gets per phase.

use crate::client::admin_sql as sql;
use crate::client::call;
use crate::stack::{repo_root, Stack};
use crate::{Outcome, TestFn};
use serde_json::json;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn tests() -> Vec<TestFn> {
    trials![fuzz::schemathesis_finds_no_contract_violation,]
}

/// Longest the fuzzer may run before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(420);

/// Real tables and objects for the fuzzer to hit: the REST tables are the
/// dictionary in schemathesis.toml (fuzz_d1 is a D1 table in the tests'
/// REST_TABLES, everything else Postgres), with the columns of the
/// document's examples (`people`: id, name, age, nick), so documented
/// examples and filters reach real rows.
fn seed_data(s: &Stack) {
    sql(s, "pg", "create table if not exists fuzz_pg (id int8 primary key, name text not null, age int4 check (age >= 0), nick text, doc jsonb, at timestamptz default now())");
    sql(s, "pg", "insert into fuzz_pg (id, name, age, nick, doc) values (1, 'ada', 36, 'countess', '{\"a\": 1}'), (2, 'bob', 25, null, null), (3, 'cyd', 41, 'cy', '[1]') on conflict do nothing");
    sql(s, "d1", "create table if not exists fuzz_d1 (id integer primary key, name text not null, age integer check (age >= 0), nick text)");
    sql(s, "d1", "insert or ignore into fuzz_d1 (id, name, age, nick) values (1, 'ada', 36, 'countess'), (2, 'bob', 25, null), (3, 'cyd', 41, 'cy')");
    for key in ["photos/cat.jpg", "fuzz/hello.txt"] {
        let r = call(
            s,
            "PUT",
            &format!("/v1/objects/{key}"),
            Some(&s.admin_key),
            &[("content-type", "text/plain")],
            Some(b"hello, fuzzer"),
        );
        assert!(r.status == 200 || r.status == 201, "PUT {key}: {}", r.body);
    }
    // The Worker caches each store's schema for SCHEMA_CACHE_SECONDS: wait
    // until the new tables are visible through REST.
    let deadline = Instant::now() + Duration::from_secs(45);
    for table in ["fuzz_pg", "fuzz_d1"] {
        loop {
            let r = call(
                s,
                "GET",
                &format!("/v1/rest/{table}?limit=1"),
                Some(&s.admin_key),
                &[],
                None,
            );
            if r.status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{table} never became visible through REST: {} {}",
                r.status,
                r.body
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// A signed URL's parts, as the environment variables schemathesis.toml
/// reads for the signed-object operations.
fn signed_url_env(s: &Stack, method: &str, key: &str) -> Vec<(String, String)> {
    let body = json!({ "method": method, "key": key, "expiresIn": 3600 }).to_string();
    let r = call(
        s,
        "POST",
        "/v1/signed-urls",
        Some(&s.admin_key),
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.json()["url"].as_str().unwrap_or_default().to_string();
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let mut env = vec![(format!("STRATA_FUZZ_SIGNED_{method}_KEY"), key.to_string())];
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let var = match name {
            "expires" => format!("STRATA_FUZZ_SIGNED_{method}_EXPIRES"),
            "signature" => format!("STRATA_FUZZ_SIGNED_{method}_SIGNATURE"),
            // Percent-encoded in the URL; the test keys' ids need none.
            "keyId" => "STRATA_FUZZ_SIGNED_KEY_ID".to_string(),
            _ => continue,
        };
        env.push((var, value.to_string()));
    }
    env
}

fn schemathesis_finds_no_contract_violation(s: &Stack) -> Outcome {
    let root = repo_root();
    let bin = root.join(".venv/bin/schemathesis");
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: run scripts/tools.sh (make test does)",
            bin.display()
        )
        .into());
    }
    seed_data(s);
    let seed = std::env::var("STRATA_FUZZ_SEED")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            (u64::from(nanos) ^ u64::from(std::process::id())).to_string()
        });
    // Schemathesis and hypothesis keep caches in their working directory:
    // a throw-away one, never the work tree.
    let work = std::env::temp_dir().join(format!("strata-fuzz-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&bin);
    cmd.current_dir(&work)
        .arg("--config-file")
        .arg(root.join("tests/api/schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(root.join("openapi/openapi.json"))
        .args(["--url", &s.base, "--seed", &seed, "--workers", "2"])
        .env("STRATA_FUZZ_KEY", &s.admin_key)
        .envs(signed_url_env(s, "GET", "photos/cat.jpg"))
        .envs(signed_url_env(s, "PUT", "fuzz/signed-upload.bin"))
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(n) = std::env::var("STRATA_FUZZ_MAX_EXAMPLES") {
        cmd.args(["--max-examples", &n]);
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run schemathesis: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = format!(
        "{}{}",
        out_reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&work);
    let elapsed = started.elapsed().as_secs_f64();

    let cases = generated_cases(&output);
    println!(
        "fuzz: schemathesis generated {} test cases in {elapsed:.0} s (seed {seed})",
        cases.map_or("?".to_string(), |n| n.to_string())
    );
    let log = s.worker_log();
    for sign in ["had hung", "panicked at", "RuntimeError: unreachable"] {
        assert!(
            !log.contains(sign),
            "the Worker's log shows {sign:?} (a panic?) during fuzzing:\n{}",
            tail(&log, 60)
        );
    }
    let status = status.ok_or_else(|| {
        format!(
            "schemathesis ran longer than {LIMIT:?}:\n{}",
            tail(&output, 80)
        )
    })?;
    assert!(status.success(), "schemathesis found contract violations (seed {seed}; replay with STRATA_FUZZ_SEED={seed}):\n{output}");
    let cases = cases.ok_or_else(|| {
        format!(
            "no case count in schemathesis's summary:\n{}",
            tail(&output, 40)
        )
    })?;
    assert!(
        cases >= 500,
        "only {cases} cases generated:\n{}",
        tail(&output, 40)
    );
    Ok(())
}

/// The number in schemathesis's summary line `Test cases: N generated, ...`.
fn generated_cases(output: &str) -> Option<u64> {
    output
        .lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix("Test cases:")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .or_else(|| {
            // `Test cases:` alone, then `  N generated, ...` on the next line.
            let mut lines = output.lines().skip_while(|l| l.trim() != "Test cases:");
            lines.next()?;
            lines.next()?.split_whitespace().next()?.parse().ok()
        })
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
