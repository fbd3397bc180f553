//! `strata-dev d1-check` as `make test` runs it: the repository's own D1 migrations pass, and
//! a rebuild or an unindexed foreign key fails the command with the file and the rule.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Command, Output};

fn d1_check(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata-dev"))
        .args(["d1-check", "--dir"])
        .arg(dir)
        .output()
        .expect("run strata-dev")
}

#[test]
fn the_repository_d1_migrations_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/d1");
    let out = d1_check(&dir);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_rebuild_and_an_unindexed_foreign_key_fail_with_file_and_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).expect("write");
    write(
        "0001_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n",
    );
    write(
        "0002_posts.sql",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));\n",
    );
    write(
        "0003_rebuild.sql",
        "CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n\
         INSERT INTO users_new SELECT id, email FROM users;\n\
         DROP TABLE users;\n\
         ALTER TABLE users_new RENAME TO users;\n",
    );

    let out = d1_check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("0003_rebuild.sql: [d1-table-rebuild] table users is rebuilt"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0002_posts.sql: [d1-unindexed-foreign-key] foreign key posts(user_id)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 2 D1 migration findings"),
        "{stderr}"
    );

    // Waived (users is tiny) and indexed: it passes, and still shows the waiver.
    write(
        "0003_rebuild.sql",
        &format!(
            "-- users has a few rows: the copy takes milliseconds.\n-- strata:allow d1-table-rebuild\n{}",
            std::fs::read_to_string(dir.path().join("0003_rebuild.sql")).expect("read")
        ),
    );
    write(
        "0004_index.sql",
        "CREATE INDEX IF NOT EXISTS posts_user_id ON posts (user_id);\n",
    );
    let out = d1_check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("0003_rebuild.sql: [d1-table-rebuild] (waived in the file)"),
        "{stderr}"
    );
}
