//! `migrate` against a real, throw-away PostgreSQL (pgcluster): one cluster and one
//! migrations directory per test, so tests share nothing and run in parallel. The lint runs
//! the project's real squawk (`.venv/bin/squawk`, installed by scripts/tools.sh); its own
//! tests, the lock timeouts and no-transaction files are in `migrate_safety.rs`.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

use std::sync::{Arc, Barrier};

use strata_devtools::dburl::DatabaseUrl;
use strata_devtools::migrate::{self, Event, MigrateError};
use support::{event_text, options, runtime, tracked_row, Fixture};

const CREATE_AB: &str = "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (id int);\n";
const SEED_A: &str = "INSERT INTO a VALUES (1), (2);\n";

#[test]
fn fresh_apply_creates_tables_and_tracking_rows() {
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);
    fx.write("0002_seed.sql", SEED_A);
    fx.write("README.md", "not a migration");

    let (result, events) = fx.apply();

    assert_eq!(result.unwrap(), ["0001_tables.sql", "0002_seed.sql"]);
    assert_eq!(
        events,
        [
            "applying 0001_tables.sql",
            "applied 0001_tables.sql",
            "applying 0002_seed.sql",
            "applied 0002_seed.sql"
        ]
    );
    assert!(fx.table_exists("a") && fx.table_exists("b"));
    assert_eq!(fx.column("SELECT count(*) FROM a"), ["2"]);
    assert_eq!(
        fx.tracked(),
        [
            tracked_row("0001_tables.sql", CREATE_AB),
            tracked_row("0002_seed.sql", SEED_A)
        ]
    );
}

#[test]
fn rerun_is_a_no_op() {
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);
    fx.write("0002_seed.sql", SEED_A);
    fx.apply().0.unwrap();
    let before = fx.column("SELECT name || applied_at FROM strata_migrations ORDER BY name");

    let (result, events) = fx.apply();

    assert_eq!(result.unwrap(), Vec::<String>::new());
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        fx.column("SELECT name || applied_at FROM strata_migrations ORDER BY name"),
        before
    );
    assert_eq!(fx.column("SELECT count(*) FROM a"), ["2"]);
}

#[test]
fn edited_applied_file_is_refused_and_nothing_is_applied() {
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);
    fx.apply().0.unwrap();
    fx.write("0001_tables.sql", "CREATE TABLE a (id bigint);\n");
    fx.write("0002_more.sql", "CREATE TABLE c (id int);\n");

    let (result, events) = fx.apply();

    let err = result.unwrap_err();
    assert!(matches!(&err, MigrateError::Changed { names } if names == &["0001_tables.sql"]));
    assert!(err.to_string().contains("0001_tables.sql"), "{err}");
    assert!(events.is_empty(), "{events:?}");
    assert!(!fx.table_exists("c"));
    assert_eq!(fx.tracked(), [tracked_row("0001_tables.sql", CREATE_AB)]);
}

#[test]
fn failing_migration_is_rolled_back_whole_and_earlier_files_stay() {
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);
    fx.write(
        "0002_broken.sql",
        "CREATE TABLE half (id int);\nINSERT INTO no_such_table VALUES (1);\n",
    );
    fx.write("0003_later.sql", "CREATE TABLE later (id int);\n");

    let (result, events) = fx.apply();

    let err = result.unwrap_err();
    let message = err.to_string();
    assert!(matches!(&err, MigrateError::Failed { name, .. } if name == "0002_broken.sql"));
    assert!(message.contains("42P01"), "{message}");
    assert!(message.contains("no_such_table"), "{message}");
    assert!(message.contains("line 2"), "{message}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("failed 0002_broken.sql")
    );
    assert!(fx.table_exists("a"), "earlier migration stays applied");
    assert!(
        !fx.table_exists("half"),
        "first statement of the failed file rolled back"
    );
    assert!(!fx.table_exists("later"), "nothing after the failure runs");
    assert_eq!(fx.tracked(), [tracked_row("0001_tables.sql", CREATE_AB)]);
}

#[test]
fn concurrent_runs_apply_each_file_exactly_once() {
    let fx = Fixture::new();
    fx.write("0001_counter.sql", "CREATE TABLE counter (n int);\n");
    // Slow enough that the second run reaches the lock while the first holds it.
    fx.write(
        "0002_slow.sql",
        "SELECT pg_sleep(1);\nINSERT INTO counter VALUES (2);\n",
    );
    fx.write("0003_more.sql", "INSERT INTO counter VALUES (3);\n");
    let url = fx.cluster.database_url();
    let dir = fx.dir().to_path_buf();
    let start = Arc::new(Barrier::new(2));

    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (url, dir, start) = (url.clone(), dir.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                let url = DatabaseUrl::parse(&url).expect("URL");
                let mut events = Vec::new();
                start.wait();
                let applied = runtime()
                    .block_on(migrate::apply(&url, &dir, &options(), &mut |e| {
                        if !matches!(e, Event::Linted { .. }) {
                            events.push(event_text(&e))
                        }
                    }))
                    .expect("both runs succeed");
                (applied, events)
            })
        })
        .collect();
    let results: Vec<(Vec<String>, Vec<String>)> = runs
        .into_iter()
        .map(|r| r.join().expect("thread"))
        .collect();

    let mut all_applied: Vec<String> = results.iter().flat_map(|(a, _)| a.clone()).collect();
    all_applied.sort();
    assert_eq!(
        all_applied,
        ["0001_counter.sql", "0002_slow.sql", "0003_more.sql"]
    );
    assert_eq!(fx.column("SELECT n FROM counter ORDER BY n"), ["2", "3"]);
    assert_eq!(fx.tracked().len(), 3);
    let waited = results
        .iter()
        .filter(|(_, e)| e.contains(&"waiting".to_string()));
    assert_eq!(
        waited.count(),
        1,
        "exactly one run queued behind the lock: {results:?}"
    );
}

#[test]
fn status_and_dry_run_report_without_changing_anything() {
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);

    // Before anything ran: read-only commands do not even create the tracking table.
    let status = fx.cli(&["migrate", "status"]);
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    assert!(String::from_utf8_lossy(&status.stdout).contains("pending  0001_tables.sql"));
    assert!(!fx.table_exists("strata_migrations"));

    fx.apply().0.unwrap();
    fx.write("0002_seed.sql", SEED_A);

    let dry = fx.cli(&["migrate", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{dry:?}");
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout),
        "would apply 0002_seed.sql\n1 migration to apply (dry run: nothing was changed)\n"
    );
    assert_eq!(fx.column("SELECT count(*) FROM a"), ["0"]);

    let status = fx.cli(&["migrate", "status"]);
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("state    migration"), "{text}");
    assert!(
        lines[1].starts_with("applied  0001_tables.sql  20"),
        "{text}"
    );
    assert_eq!(lines[2], "pending  0002_seed.sql    -");
    assert_eq!(lines[3], "1 applied, 1 pending, 0 changed, 0 missing");

    fx.write("0001_tables.sql", "-- edited\n");
    let status = fx.cli(&["migrate", "status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("changed  0001_tables.sql"));
    let dry = fx.cli(&["migrate", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dry.stderr).contains("0001_tables.sql"));
}

#[test]
fn cli_applies_with_per_file_timings_and_warns_about_missing_files() {
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);
    fx.write("0002_seed.sql", SEED_A);

    let out = fx.cli(&["migrate"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, name) in lines.iter().zip(["0001_tables.sql", "0002_seed.sql"]) {
        assert!(
            line.starts_with(&format!("applying {name} ... ok (")),
            "{line}"
        );
        assert!(line.ends_with(" ms)"), "{line}");
    }
    assert_eq!(lines[2], "applied 2 migrations");

    std::fs::remove_file(fx.dir().join("0001_tables.sql")).expect("remove");
    let out = fx.cli(&["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "warning: 0001_tables.sql is recorded as applied but is not in the migrations directory"
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nothing to apply: the database is up to date\n"
    );
}

#[test]
fn errors_never_print_the_password() {
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);
    let c = &fx.cluster;
    let wrong = format!(
        "postgres://{}:Wr0ngPassw0rd@{}:{}/{}",
        c.user(),
        c.host(),
        c.port(),
        c.database()
    );

    let out = fx.cli(&["migrate", "--database-url", &wrong]);

    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("Wr0ngPassw0rd"), "{stderr}");
    assert!(stderr.contains(":***@"), "{stderr}");
    assert!(stderr.contains("28P01"), "{stderr}");
    assert!(!stderr.contains(c.password()), "{stderr}");
}

#[test]
fn sslmode_require_uses_tls_even_for_a_local_host() {
    // The throw-away cluster has no certificate, so asking for TLS must fail rather than
    // quietly fall back to plain text.
    let fx = Fixture::new();
    fx.write("0001_tables.sql", CREATE_AB);
    let url = format!("{}?sslmode=require", fx.cluster.database_url());
    let url = DatabaseUrl::parse(&url).expect("URL");

    let result = runtime().block_on(migrate::status(&url, fx.dir()));

    let err = result.unwrap_err();
    assert!(matches!(err, MigrateError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("TLS"), "{err}");
}
