//! `migrate` does not take the database down, proved against a real PostgreSQL (pgcluster)
//! and the project's real squawk:
//! * every dangerous pattern is refused with its rule and line, and nothing is applied; a
//!   reviewed opt-out comment waives exactly one rule, and says so;
//! * a migration that cannot get its lock gives up within the lock timeout per try while the
//!   application's reads keep answering (measured), and succeeds once the lock is free — or
//!   stops the release with nothing applied;
//! * a failed `CREATE INDEX CONCURRENTLY` leaves no invalid index behind, and a leftover one
//!   is dropped before the re-run builds it;
//! * the expand/contract examples of docs/migrations.md pass the lint and keep the old and
//!   the new application working at every step.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_devtools::dburl::DatabaseUrl;
use strata_devtools::migrate::{self, Event, MigrateError, Options};
use support::{event_text, options, runtime, tracked_row, Fixture};
use tokio_postgres::NoTls;

const ACCOUNTS: &str =
    "CREATE TABLE accounts (id bigint PRIMARY KEY, email text, age bigint, legacy text);\n\
                        CREATE TABLE orgs (id bigint PRIMARY KEY);\n\
                        INSERT INTO accounts VALUES (1, 'a@example.com', 30, 'x');\n";

/// Everything a refused migration could have changed: columns, indexes, constraints.
fn schema(fx: &Fixture) -> Vec<String> {
    fx.column(
        "SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
           FROM information_schema.columns WHERE table_schema = 'public'
         UNION ALL SELECT 'idx ' || indexname FROM pg_indexes WHERE schemaname = 'public'
         UNION ALL SELECT 'con ' || conname || ' ' || convalidated FROM pg_constraint
                  WHERE connamespace = 'public'::regnamespace
         ORDER BY 1",
    )
}

#[test]
fn each_dangerous_pattern_is_refused_with_its_rule_and_nothing_is_applied() {
    let fx = Fixture::new();
    fx.write("0001_accounts.sql", ACCOUNTS);
    fx.apply().0.expect("the base migration applies");
    let before = schema(&fx);
    let cases = [
        (
            "CREATE INDEX accounts_email ON accounts (email);",
            "require-concurrent-index-creation",
            2,
        ),
        (
            "ALTER TABLE accounts ADD COLUMN plan text NOT NULL;",
            "adding-required-field",
            2,
        ),
        (
            "ALTER TABLE accounts ALTER COLUMN age TYPE numeric;",
            "changing-column-type",
            2,
        ),
        (
            "ALTER TABLE accounts ADD CONSTRAINT age_positive CHECK (age > 0);",
            "constraint-missing-not-valid",
            2,
        ),
        (
            "ALTER TABLE accounts ADD CONSTRAINT accounts_org FOREIGN KEY (age) REFERENCES orgs (id);",
            "adding-foreign-key-constraint",
            2,
        ),
        (
            // NOT VALID, but validated in the same transaction: no better than in place.
            "ALTER TABLE accounts ADD CONSTRAINT age_positive CHECK (age > 0) NOT VALID;\n\
             ALTER TABLE accounts VALIDATE CONSTRAINT age_positive;",
            "constraint-missing-not-valid",
            3,
        ),
        (
            "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;",
            "adding-not-nullable-field",
            2,
        ),
        (
            "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);",
            "disallowed-unique-constraint",
            2,
        ),
        (
            "ALTER TABLE accounts RENAME COLUMN email TO mail;",
            "renaming-column",
            2,
        ),
        (
            "ALTER TABLE accounts DROP COLUMN legacy;",
            "ban-drop-column",
            2,
        ),
        (
            // Alone in its file, squawk lets it pass (some tools run such files outside a
            // transaction); migrate does not, and says so.
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON accounts (email);",
            "strata-concurrently-in-transaction",
            2,
        ),
        (
            "SELECT 1;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON accounts (email);",
            "ban-concurrent-index-creation-in-transaction",
            3,
        ),
    ];
    for (sql, rule, line) in cases {
        // Line 1 is a comment, so the finding's line is checked to be the file's, not 0-based.
        // (NOT VALID + VALIDATE is reported where the VALIDATE is, line 3.)
        fx.write("0002_change.sql", &format!("-- a change\n{sql}\n"));
        fx.write("0003_later.sql", "CREATE TABLE later (id bigint);\n");

        let (result, events) = fx.apply();

        let err = result.expect_err(sql);
        let MigrateError::Lint { findings } = &err else {
            panic!("{sql}: not a lint refusal: {err}");
        };
        assert!(
            findings
                .iter()
                .any(|f| f.rule == rule && f.file == "0002_change.sql" && f.line == line),
            "{sql}: no {rule} on line {line} in {findings:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("0002_change.sql:{line}:")),
            "{message}"
        );
        assert!(message.contains(&format!("[{rule}]")), "{message}");
        assert!(message.contains("safe rewrite: "), "{message}");
        assert!(message.ends_with("nothing was applied"), "{message}");
        assert!(events.is_empty(), "{sql}: {events:?}");
        assert_eq!(fx.tracked(), [tracked_row("0001_accounts.sql", ACCOUNTS)]);
        assert!(!fx.table_exists("later"), "{sql}: a later file ran");
        assert_eq!(schema(&fx), before, "{sql}: the schema changed");
    }

    // The CLI says the same, with exit code 1; --lint-only and --dry-run refuse too.
    fx.write(
        "0002_change.sql",
        "-- a change\nCREATE INDEX accounts_email ON accounts (email);\n",
    );
    for args in [
        &["migrate"][..],
        &["migrate", "--lint-only"],
        &["migrate", "--dry-run"],
    ] {
        let out = fx.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(
                "0002_change.sql:2:1: [require-concurrent-index-creation] CREATE INDEX without \
                 CONCURRENTLY blocks every write"
            ),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("    CREATE INDEX accounts_email ON accounts (email);\n"),
            "{stderr}"
        );
        assert!(
            stderr.contains("safe rewrite: CREATE INDEX CONCURRENTLY IF NOT EXISTS"),
            "{stderr}"
        );
    }
    assert_eq!(schema(&fx), before);
}

#[test]
fn an_opt_out_comment_waives_one_rule_visibly_and_nothing_else() {
    let fx = Fixture::new();
    fx.write("0001_accounts.sql", ACCOUNTS);
    fx.apply().0.expect("base");

    // The waiver covers its rule only: the rename next to it is still refused.
    let both = "-- Reviewed: nothing reads accounts.legacy since release 41.\n\
                -- squawk-ignore ban-drop-column\n\
                ALTER TABLE accounts DROP COLUMN legacy;\n\
                ALTER TABLE accounts RENAME COLUMN email TO mail;\n";
    fx.write("0002_drop_legacy.sql", both);
    let err = fx.apply().0.expect_err("the rename is not waived");
    let MigrateError::Lint { findings } = &err else {
        panic!("{err}");
    };
    let rules: Vec<(&str, usize)> = findings.iter().map(|f| (f.rule.as_str(), f.line)).collect();
    assert_eq!(rules, [("renaming-column", 4)], "{err}");

    // A mistyped rule name is refused, not taken as a waiver.
    fx.write(
        "0002_drop_legacy.sql",
        "-- squawk-ignore ban-drop-colum\nALTER TABLE accounts DROP COLUMN legacy;\n",
    );
    let err = fx.apply().0.expect_err("typo");
    let message = err.to_string();
    assert!(message.contains("[unused-ignore]"), "{message}");
    assert!(message.contains("[ban-drop-column]"), "{message}");

    // A bare squawk-ignore-file would silence every rule: refused.
    fx.write(
        "0002_drop_legacy.sql",
        "-- squawk-ignore-file\nALTER TABLE accounts DROP COLUMN legacy;\n",
    );
    let message = fx.apply().0.expect_err("blanket").to_string();
    assert!(
        message.contains("0002_drop_legacy.sql:1:1: [strata-blanket-ignore]"),
        "{message}"
    );

    let waived = "-- Reviewed: nothing reads accounts.legacy since release 41.\n\
                  -- squawk-ignore ban-drop-column\n\
                  ALTER TABLE accounts DROP COLUMN legacy;\n";
    fx.write("0002_drop_legacy.sql", waived);
    let (result, events) = fx.apply();
    assert_eq!(result.expect("waived"), ["0002_drop_legacy.sql"]);
    assert_eq!(
        events[0],
        "waived 0002_drop_legacy.sql:2 squawk-ignore ban-drop-column"
    );
    assert!(fx
        .column("SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts' ORDER BY 1")
        .iter()
        .all(|c| c != "legacy"));

    // The CLI shows the waiver on every run that applies it.
    fx.write(
        "0003_drop_age.sql",
        "-- squawk-ignore ban-drop-column\nALTER TABLE accounts DROP COLUMN age;\n",
    );
    let out = fx.cli(&["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "note: 0003_drop_age.sql:1 waives a squawk rule (squawk-ignore ban-drop-column)"
    ));
}

/// A session holding a lock on `table` (an open transaction that read it), as a long report
/// query or a forgotten `BEGIN` in psql would.
struct LockHolder {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl LockHolder {
    fn hold(url: &str, table: &str) -> Self {
        let runtime = runtime();
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
            tokio::spawn(connection);
            client
                .batch_execute(&format!("BEGIN; SELECT count(*) FROM {table}"))
                .await
                .expect("hold the lock");
            client
        });
        LockHolder { runtime, client }
    }

    fn release(self) {
        self.runtime
            .block_on(self.client.batch_execute("COMMIT"))
            .expect("release");
    }
}

/// The application: reads `table` every 20 ms on its own connection until stopped, and
/// returns how long each read took.
fn reader(url: &str, table: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Duration>> {
    let (url, sql) = (url.to_string(), format!("SELECT count(*) FROM {table}"));
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
            tokio::spawn(connection);
            let mut took = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                client
                    .simple_query(&sql)
                    .await
                    .expect("the application's read");
                took.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            took
        })
    })
}

/// Runs `apply` on a thread, collecting (event text, waited) pairs.
type Timed = Arc<Mutex<Vec<(String, Option<Duration>)>>>;

fn apply_in_background(
    fx: &Fixture,
    options: Options,
) -> (
    std::thread::JoinHandle<Result<Vec<String>, MigrateError>>,
    Timed,
) {
    let url = DatabaseUrl::parse(&fx.cluster.database_url()).expect("URL");
    let dir = fx.dir().to_path_buf();
    let events: Timed = Arc::default();
    let sink = Arc::clone(&events);
    let handle = std::thread::spawn(move || {
        runtime().block_on(migrate::apply(&url, &dir, &options, &mut |e| {
            let waited = match &e {
                Event::LockTimeout { waited, .. } | Event::GaveUp { waited, .. } => Some(*waited),
                _ => None,
            };
            sink.lock().expect("events").push((event_text(&e), waited));
        }))
    });
    (handle, events)
}

#[test]
fn a_migration_behind_a_held_lock_gives_up_each_try_within_the_timeout_while_reads_keep_answering()
{
    let fx = Fixture::new();
    let base = "CREATE TABLE items (id bigint PRIMARY KEY);\nINSERT INTO items SELECT generate_series(1, 1000);\n";
    fx.write("0001_items.sql", base);
    fx.apply().0.expect("base");
    // Cheap in itself (no rewrite), but it needs ACCESS EXCLUSIVE, which the open read
    // below blocks; every read after it queues behind its request while it waits.
    let change = "ALTER TABLE items ADD COLUMN note text;\n";
    fx.write("0002_note.sql", change);
    let url = fx.cluster.database_url();

    let holder = LockHolder::hold(&url, "items");
    let stop = Arc::new(AtomicBool::new(false));
    let reads = reader(&url, "items", Arc::clone(&stop));
    let started = Instant::now();
    let lock_timeout = Duration::from_secs(1);
    let (migration, events) = apply_in_background(
        &fx,
        Options {
            lock_timeout,
            lock_attempts: 5,
            first_backoff: Duration::from_millis(250),
            ..options()
        },
    );
    // Two attempts time out (at ~1 s and ~2.25 s); the third starts at ~2.75 s.
    std::thread::sleep(Duration::from_millis(2600));
    holder.release();
    let applied = migration.join().expect("thread");
    let total = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let reads = reads.join().expect("reader");

    assert_eq!(
        applied.expect("applied once the lock is free"),
        ["0002_note.sql"]
    );
    let events = events.lock().expect("events").clone();
    let texts: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        texts,
        [
            "linted 1",
            "applying 0002_note.sql",
            "lock timeout 0002_note.sql 1",
            "lock timeout 0002_note.sql 2",
            "applied 0002_note.sql"
        ],
        "{events:?}"
    );
    let waits: Vec<Duration> = events.iter().filter_map(|(_, w)| *w).collect();
    for wait in &waits {
        assert!(
            *wait >= Duration::from_millis(900) && *wait < Duration::from_millis(1500),
            "each try gives up after about the lock timeout: {waits:?}"
        );
    }
    let slowest = reads.iter().max().copied().unwrap_or_default();
    let queued = reads
        .iter()
        .filter(|d| **d > Duration::from_millis(100))
        .count();
    eprintln!(
        "lock test: {} reads during {total:?}; slowest {slowest:?}; {queued} queued > 100 ms; \
         migration tries gave up after {waits:?}",
        reads.len()
    );
    assert!(
        reads.len() >= 10,
        "the application kept reading: {}",
        reads.len()
    );
    // No read waited longer than one lock timeout (plus scheduling slack) ...
    assert!(
        slowest < lock_timeout + Duration::from_millis(250),
        "a read waited {slowest:?}"
    );
    // ... and reads did queue behind the waiting ALTER, so the bound above is the lock
    // timeout at work, not an absent conflict.
    assert!(
        slowest > Duration::from_millis(500),
        "slowest read {slowest:?}"
    );
    assert_eq!(
        fx.column("SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'"),
        ["1"]
    );
    assert_eq!(
        fx.tracked(),
        [
            tracked_row("0001_items.sql", base),
            tracked_row("0002_note.sql", change)
        ]
    );
}

#[test]
fn a_migration_that_never_gets_its_lock_stops_the_release_with_nothing_applied() {
    let fx = Fixture::new();
    let base = "CREATE TABLE items (id bigint PRIMARY KEY);\n";
    fx.write("0001_items.sql", base);
    fx.apply().0.expect("base");
    // The first statement would succeed alone: it must be rolled back with the rest.
    fx.write(
        "0002_note.sql",
        "CREATE TABLE side (id bigint);\nALTER TABLE items ADD COLUMN note text;\n",
    );
    fx.write("0003_later.sql", "CREATE TABLE later (id bigint);\n");
    let holder = LockHolder::hold(&fx.cluster.database_url(), "items");

    let started = Instant::now();
    let (result, events) = fx.apply_with(&Options {
        lock_timeout: Duration::from_secs(1),
        lock_attempts: 2,
        first_backoff: Duration::from_millis(100),
        ..options()
    });
    let took = started.elapsed();

    let err = result.expect_err("gives up");
    assert!(
        matches!(&err, MigrateError::LockNotGranted { name, attempts: 2, .. } if name == "0002_note.sql"),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("55P03"), "{message}");
    assert!(message.contains("nothing of it was applied"), "{message}");
    assert!(message.contains("The release stops here"), "{message}");
    assert_eq!(
        events,
        [
            "applying 0002_note.sql",
            "lock timeout 0002_note.sql 1",
            "gave up 0002_note.sql 2",
            "failed 0002_note.sql"
        ]
    );
    assert!(
        took < Duration::from_millis(3000),
        "two tries of 1 s took {took:?}"
    );
    assert!(!fx.table_exists("side"), "rolled back whole");
    assert!(!fx.table_exists("later"), "nothing after it ran");
    assert_eq!(fx.tracked(), [tracked_row("0001_items.sql", base)]);

    // The CLI reports the retries on the progress line and the give-up as the error.
    let out = fx.cli(&["migrate", "--lock-timeout", "200ms", "--lock-attempts", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("applying 0002_note.sql ... lock not granted in 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(attempt 1 of 2), retrying in 250 ms ... "),
        "{stdout}"
    );
    assert!(
        stdout.contains("(attempt 2 of 2), giving up ... FAILED ("),
        "{stdout}"
    );
    assert!(
        stderr.contains("migration 0002_note.sql gave up"),
        "{stderr}"
    );
    holder.release();
    assert!(!fx.table_exists("side"));
}

/// Indexes on `users`: (name, valid).
fn user_indexes(fx: &Fixture) -> Vec<String> {
    fx.column(
        "SELECT c.relname || ' ' || i.indisvalid FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = 'users'::regclass ORDER BY 1",
    )
}

const USERS: &str = "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n\
                     INSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com'), (3, 'b@example.com');\n";
const UNIQUE_EMAIL: &str = "-- strata:no-transaction\n\
                            -- One address, one user: built online.\n\
                            CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n";

#[test]
fn a_failed_concurrent_index_build_leaves_no_invalid_index_and_the_rerun_builds_it() {
    let fx = Fixture::new();
    fx.write("0001_users.sql", USERS);
    fx.apply().0.expect("base");
    fx.write("0002_users_email.sql", UNIQUE_EMAIL);

    let (result, events) = fx.apply();

    let err = result.expect_err("duplicates break the unique build");
    assert!(
        matches!(&err, MigrateError::FailedStatement { name, line: 3, .. } if name == "0002_users_email.sql"),
        "{err}"
    );
    assert!(err.to_string().contains("23505"), "{err}");
    assert_eq!(
        events,
        [
            "applying 0002_users_email.sql",
            "dropped public.users_email (0002_users_email.sql)",
            "failed 0002_users_email.sql"
        ]
    );
    assert_eq!(
        user_indexes(&fx),
        ["users_pkey true"],
        "no invalid index left"
    );
    assert_eq!(fx.tracked(), [tracked_row("0001_users.sql", USERS)]);

    fx.column("DELETE FROM users WHERE id = 2");
    let (result, events) = fx.apply();
    assert_eq!(result.expect("re-run"), ["0002_users_email.sql"]);
    assert_eq!(
        events,
        [
            "applying 0002_users_email.sql",
            "applied 0002_users_email.sql"
        ]
    );
    assert_eq!(user_indexes(&fx), ["users_email true", "users_pkey true"]);
    assert_eq!(
        fx.tracked(),
        [
            tracked_row("0001_users.sql", USERS),
            tracked_row("0002_users_email.sql", UNIQUE_EMAIL)
        ]
    );
}

#[test]
fn an_invalid_index_left_by_an_interrupted_build_is_dropped_before_the_rebuild() {
    let fx = Fixture::new();
    fx.write("0001_users.sql", USERS);
    fx.apply().0.expect("base");
    // A build that died half-way (here: by the duplicate) outside migrate's clean-up, as a
    // killed process or a lost connection would leave it.
    let url = fx.cluster.database_url();
    runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        tokio::spawn(connection);
        let failed = client
            .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email)")
            .await;
        assert!(failed.is_err());
    });
    fx.column("DELETE FROM users WHERE id = 2");
    assert_eq!(user_indexes(&fx), ["users_email false", "users_pkey true"]);
    // Without the clean-up, IF NOT EXISTS would keep the invalid index and record success.
    fx.write("0002_users_email.sql", UNIQUE_EMAIL);

    let (result, events) = fx.apply();

    assert_eq!(result.expect("applied"), ["0002_users_email.sql"]);
    assert_eq!(
        events,
        [
            "applying 0002_users_email.sql",
            "dropped public.users_email (0002_users_email.sql)",
            "applied 0002_users_email.sql"
        ]
    );
    assert_eq!(user_indexes(&fx), ["users_email true", "users_pkey true"]);
    let duplicate = fx.column(
        "INSERT INTO users VALUES (9, 'b@example.com') ON CONFLICT DO NOTHING RETURNING id",
    );
    assert!(duplicate.is_empty(), "the rebuilt index is enforced");
}

/// The expand/contract examples of docs/migrations.md.
fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/expand-contract")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_expand_contract_examples_pass_the_lint_and_keep_both_applications_working() {
    let fx = Fixture::new();
    let release = |names: &[&str]| {
        for name in names {
            fx.write(name, &example(name));
        }
        let (result, _) = fx.apply();
        assert_eq!(result.expect("the release's migrations apply"), names);
    };

    release(&["0001_accounts.sql"]);
    fx.column("INSERT INTO accounts (name) VALUES ('old app, before')");

    // Renaming name → display_name. Expand: both applications work side by side.
    release(&["0002_rename_expand.sql"]);
    fx.column("INSERT INTO accounts (name) VALUES ('old app, during')");
    fx.column("INSERT INTO accounts (display_name) VALUES ('new app, during')");
    fx.column("UPDATE accounts SET display_name = 'new app, renamed' WHERE display_name = 'new app, during'");
    assert_eq!(
        fx.column("SELECT name || ' = ' || display_name FROM accounts ORDER BY id"),
        [
            "old app, before = old app, before",
            "old app, during = old app, during",
            "new app, renamed = new app, renamed"
        ]
    );
    // Contract, a release later: only the new application is left.
    release(&["0003_rename_contract.sql"]);
    fx.column("INSERT INTO accounts (display_name) VALUES ('new app, after')");
    assert_eq!(
        fx.column("SELECT count(*) FROM accounts WHERE display_name IS NOT NULL"),
        ["4"]
    );

    // Adding the required column plan. Expand: the old application's inserts get the
    // default; NULL is refused for new rows at once.
    release(&["0004_required_expand.sql"]);
    fx.column("INSERT INTO accounts (display_name) VALUES ('old app, no plan')");
    assert_eq!(
        fx.column("SELECT count(*) FROM accounts WHERE plan = 'free'"),
        ["5"]
    );
    // Contract: validate, then NOT NULL without a scan.
    release(&["0005_required_validate.sql", "0006_required_contract.sql"]);
    assert_eq!(
        fx.column("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'plan'"),
        ["t"]
    );
    // The online index, in a no-transaction file.
    release(&["0007_index.sql"]);
    assert_eq!(
        fx.column(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'accounts_display_name'::regclass"
        ),
        ["t"]
    );

    // And the whole directory passes --lint-only without a database, as in review.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata-dev"))
        .args(["migrate", "--lint-only", "--dir"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/expand-contract"))
        .env_remove("DATABASE_URL")
        .env("STRATA_SQUAWK", support::squawk_path())
        .output()
        .expect("run strata-dev");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lint passed: 7 migrations"));
}
