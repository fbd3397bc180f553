//! Doubles reach both stores bit for bit (issue 20): thousands of values sent
//! as JSON numbers — the shortest texts clients send, JavaScript's `e+` form,
//! edge values — through the SQL routes, batches, REST inserts and REST
//! filters, then read back with a round-trip format and compared exactly.
//!
//! Read-back: Postgres prints `float8::text` with its shortest round-trip
//! text (`extra_float_digits` defaults to 1); D1 hands the Worker JavaScript
//! numbers, which are the stored doubles themselves.

use crate::client::{admin_sql, call, Reply};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::Value;

pub fn tests() -> Vec<TestFn> {
    trials![
        numbers::pg_parameters_are_exact,
        numbers::d1_parameters_are_exact,
        numbers::rest_inserts_and_filters_are_exact,
        numbers::beyond_the_stores_is_a_clear_400,
    ]
}

/// A deterministic source of doubles (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `n` doubles: the edge values first, then random bit patterns and ratios
/// of random integers alternately. (No -0.0: see [`d1_parameters`].)
fn doubles(seed: u64, n: usize) -> Vec<f64> {
    let mut out = vec![
        0.1,
        90.42857142857143,
        1.0 / 3.0,
        f64::from_bits(1),
        f64::from_bits(0x000F_FFFF_FFFF_FFFF),
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1e21,
        1e22,
        1e23,
        -2.5e-300,
        9_007_199_254_740_993.0,
        123.456,
    ];
    let mut rng = SplitMix(seed);
    while out.len() < n {
        let x = if out.len() % 2 == 0 {
            f64::from_bits(rng.next())
        } else {
            let a = (rng.next() >> 24) as f64;
            let b = ((rng.next() >> 44) + 1) as f64;
            a / b
        };
        // Whole numbers beyond 2^53 are refused on D1's read path (they may
        // be rounded INTEGERs), so keep the random ones fractional or small.
        if x.is_finite() && !(x.fract() == 0.0 && x.abs() > 9e15) {
            out.push(x);
        }
    }
    out
}

/// The text a client sends, shortest digits either way: with the exponent
/// sign JavaScript and Python write (`1e+300`) for odd indices, without it
/// (`1e300`) otherwise.
fn client_text(i: usize, x: f64) -> String {
    let shortest = serde_json::to_string(&x).unwrap_or_default();
    let bare_exponent = shortest
        .split_once('e')
        .is_some_and(|(_, e)| !e.starts_with(['-', '+']));
    let odd = i % 2 == 1;
    if odd && bare_exponent {
        shortest.replace('e', "e+")
    } else if !odd {
        // The other spelling: `1e300` for serde's `1e+300`.
        shortest.replace("e+", "e")
    } else {
        shortest
    }
}

fn post_raw(s: &Stack, path: &str, body: &str) -> Reply {
    call(
        s,
        "POST",
        path,
        Some(&s.admin_key),
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
}

fn assert_exact(what: &str, sent: &[f64], got: &[f64]) {
    assert_eq!(sent.len(), got.len(), "{what}: row count");
    let wrong: Vec<String> = sent
        .iter()
        .zip(got)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .take(5)
        .map(|(a, b)| format!("sent {a:e}, stored {b:e}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: values changed on the way in: {wrong:?}"
    );
}

/// Postgres's float8 text → the double (Rust's parse rounds correctly).
fn pg_text(v: &Value) -> f64 {
    v.as_str()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

fn pg_parameters_are_exact(s: &Stack) -> Outcome {
    let values = doubles(0x0020_0001, 3000);
    // One query per 500 values, each a scalar parameter `$n::float8`, read
    // back as text: what the store parsed, printed round-trip.
    let mut got = Vec::new();
    for (c, chunk) in values.chunks(500).enumerate() {
        let items: Vec<String> = (1..=chunk.len())
            .map(|n| format!("(${n}::float8, {n})"))
            .collect();
        let sql = format!(
            "select x::text as t from (values {}) as v(x, n) order by n",
            items.join(", ")
        );
        let params: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, x)| client_text(c * 500 + i, *x))
            .collect();
        let body = format!(
            r#"{{"sql": {}, "params": [{}], "rowMode": "array"}}"#,
            Value::String(sql),
            params.join(",")
        );
        let r = post_raw(s, "/v1/pg/query", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        got.extend(
            r.json()["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|row| pg_text(&row[0])),
        );
    }
    assert_exact("pg query parameters", &values, &got);

    // The report's own example, as a single statement.
    let r = post_raw(
        s,
        "/v1/pg/query",
        r#"{"sql": "select $1::float8::text as t", "params": [90.42857142857143]}"#,
    );
    assert_eq!(r.json()["rows"][0]["t"], "90.42857142857143", "{}", r.body);

    // A batch stores them in a table; read back in one statement.
    admin_sql(
        s,
        "pg",
        "create table if not exists num_batch (n int primary key, x float8)",
    );
    admin_sql(s, "pg", "delete from num_batch");
    let statements: Vec<String> = values[..1000]
        .iter()
        .enumerate()
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|chunk| {
            let rows: Vec<String> = (0..chunk.len())
                .map(|k| format!("(${}, ${}::float8)", 2 * k + 1, 2 * k + 2))
                .collect();
            let params: Vec<String> = chunk
                .iter()
                .flat_map(|(i, x)| [i.to_string(), client_text(*i, **x)])
                .collect();
            format!(
                r#"{{"sql": "insert into num_batch (n, x) values {}", "params": [{}]}}"#,
                rows.join(", "),
                params.join(",")
            )
        })
        .collect();
    let r = post_raw(
        s,
        "/v1/pg/batch",
        &format!(r#"{{"statements": [{}]}}"#, statements.join(",")),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_raw(
        s,
        "/v1/pg/query",
        r#"{"sql": "select x::text from num_batch order by n", "rowMode": "array"}"#,
    );
    let got: Vec<f64> = r.json()["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| pg_text(&row[0]))
        .collect();
    assert_exact("pg batch inserts", &values[..1000], &got);
    Ok(())
}

/// What D1 stored in `table` (`n` = index into `sent`, `x` the double).
/// D1 hands numbers to the Worker as JavaScript numbers — the doubles
/// themselves — except that a whole number beyond 2^53 is refused on the way
/// out (it may be a rounded INTEGER); those are checked by an exact `=` with
/// the same double bound, and returned as sent when it holds.
fn d1_read_back(s: &Stack, table: &str, sent: &[f64]) -> Vec<f64> {
    let r = post_raw(
        s,
        "/v1/d1/query",
        &format!(
            r#"{{"sql": "select n, x from {table} where not (abs(x) > 9007199254740991 and x = round(x)) order by n", "rowMode": "array"}}"#
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut got = vec![f64::NAN; sent.len()];
    for row in r.json()["rows"].as_array().into_iter().flatten() {
        if let Some(slot) = row[0].as_u64().and_then(|n| got.get_mut(n as usize)) {
            *slot = row[1].as_f64().unwrap_or(f64::NAN);
        }
    }
    for (i, x) in sent.iter().enumerate() {
        if x.fract() == 0.0 && x.abs() > 9_007_199_254_740_991.0 {
            let r = post_raw(
                s,
                "/v1/d1/query",
                &format!(
                    r#"{{"sql": "select count(*) as c from {table} where n = ?1 and x = ?2", "params": [{i}, {}]}}"#,
                    serde_json::to_string(x).unwrap_or_default()
                ),
            );
            if r.json()["rows"][0]["c"] == 1 {
                got[i] = *x;
            }
        }
    }
    got
}

fn d1_parameters_are_exact(s: &Stack) -> Outcome {
    let values = doubles(0x0020_00D1, 3000);
    admin_sql(
        s,
        "d1",
        "create table if not exists num_d1 (n integer primary key, x real)",
    );
    admin_sql(s, "d1", "delete from num_d1");
    // Batches of 10 statements × 50 rows (D1 binds 100 values a statement).
    for (b, block) in values.chunks(500).enumerate() {
        let statements: Vec<String> = block
            .chunks(50)
            .enumerate()
            .map(|(c, chunk)| {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|k| format!("(?{}, ?{})", 2 * k + 1, 2 * k + 2))
                    .collect();
                let params: Vec<String> = chunk
                    .iter()
                    .enumerate()
                    .flat_map(|(k, x)| {
                        let i = b * 500 + c * 50 + k;
                        [i.to_string(), client_text(i, *x)]
                    })
                    .collect();
                format!(
                    r#"{{"sql": "insert into num_d1 (n, x) values {}", "params": [{}]}}"#,
                    rows.join(", "),
                    params.join(",")
                )
            })
            .collect();
        let r = post_raw(
            s,
            "/v1/d1/batch",
            &format!(r#"{{"statements": [{}]}}"#, statements.join(",")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let got = d1_read_back(s, "num_d1", &values);
    assert_exact("d1 parameters", &values, &got);

    // Negative zero (Python's json sends `-0.0`): D1 binds a whole
    // JavaScript number as an INTEGER, so it arrives as 0 (documented);
    // Postgres keeps the sign.
    let r = post_raw(
        s,
        "/v1/d1/query",
        r#"{"sql": "select ?1 as z, typeof(?1) as t", "params": [-0.0]}"#,
    );
    assert_eq!(r.json()["rows"][0]["z"].as_f64(), Some(0.0), "{}", r.body);
    let r = post_raw(
        s,
        "/v1/pg/query",
        r#"{"sql": "select $1::float8::text as z", "params": [-0.0]}"#,
    );
    assert_eq!(r.json()["rows"][0]["z"], "-0", "{}", r.body);
    Ok(())
}

fn rest_inserts_and_filters_are_exact(s: &Stack) -> Outcome {
    admin_sql(
        s,
        "d1",
        "create table if not exists rest_numbers (n integer primary key, x real)",
    );
    admin_sql(s, "d1", "delete from rest_numbers");
    admin_sql(
        s,
        "pg",
        "create table if not exists rest_numbers_pg (n int primary key, x float8)",
    );
    admin_sql(s, "pg", "delete from rest_numbers_pg");
    let values = doubles(0x0020_0E57, 1000);
    let rows: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, x)| format!(r#"{{"n": {i}, "x": {}}}"#, client_text(i, *x)))
        .collect();
    let body = format!("[{}]", rows.join(","));
    for (table, store) in [("rest_numbers", "d1"), ("rest_numbers_pg", "pg")] {
        let r = post_raw(s, &format!("/v1/rest/{table}"), &body);
        assert_eq!(r.status, 201, "{table}: {}", r.body);
        let got = if store == "pg" {
            let r = post_raw(
                s,
                "/v1/pg/query",
                &format!(
                    r#"{{"sql": "select x::text from {table} order by n", "rowMode": "array"}}"#
                ),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|row| pg_text(&row[0]))
                .collect()
        } else {
            d1_read_back(s, table, &values)
        };
        assert_exact(&format!("REST insert into {table}"), &values, &got);

        // A filter value is text in the URL: `x=eq.<shortest text>` must find
        // exactly the row holding that double.
        for (i, x) in values.iter().enumerate().step_by(37) {
            let text = serde_json::to_string(x).unwrap_or_default();
            let r = call(
                s,
                "GET",
                &format!("/v1/rest/{table}?select=n&x=eq.{text}"),
                Some(&s.admin_key),
                &[],
                None,
            );
            assert_eq!(r.status, 200, "{table} x=eq.{text}: {}", r.body);
            let found: Vec<u64> = r
                .json()
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|row| row["n"].as_u64())
                .collect();
            assert!(
                found.contains(&(i as u64)),
                "{table}: x=eq.{text} did not find row {i}: {found:?}"
            );
        }
    }
    Ok(())
}

fn beyond_the_stores_is_a_clear_400(s: &Stack) -> Outcome {
    // Beyond the largest double, or an integer beyond 64 bits: D1 cannot hold
    // it, so a clear 400 — never a stored infinity or a rounded value.
    for text in ["1e400", "-2e308", "123456789012345678901234567890"] {
        let r = post_raw(
            s,
            "/v1/d1/query",
            &format!(r#"{{"sql": "select ?1 as x", "params": [{text}]}}"#),
        );
        r.assert_error(400, "invalid_request");
    }
    // Postgres reads the exact text: a numeric holds it digit for digit.
    let r = post_raw(
        s,
        "/v1/pg/query",
        r#"{"sql": "select $1::numeric::text as x", "params": [123456789012345678901234567890.5]}"#,
    );
    assert_eq!(
        r.json()["rows"][0]["x"],
        "123456789012345678901234567890.5",
        "{}",
        r.body
    );
    Ok(())
}
