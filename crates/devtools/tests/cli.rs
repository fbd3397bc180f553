//! The `strata-dev` binary without a database: keygen output and usage errors.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::process::{Command, Output};

use strata_devtools::digest::sha256_hex;

fn strata_dev(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata-dev"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run strata-dev")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn keygen_json_entry_hashes_the_printed_key() {
    let out = strata_dev(&[
        "keygen",
        "--format",
        "json",
        "--id",
        "ci",
        "--scopes",
        "sql,pg:read",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    let key = doc["key"].as_str().expect("key");
    assert!(key.starts_with("sk_") && key.len() == 46, "{key}");
    assert_eq!(doc["id"], "ci");
    assert_eq!(doc["entry"]["ci"]["sha256"], sha256_hex(key.as_bytes()));
    assert_eq!(
        doc["entry"]["ci"]["scopes"],
        serde_json::json!(["pg:read", "sql"])
    );
    assert!(
        !stderr(&out).contains(key),
        "the key belongs on stdout only"
    );
}

#[test]
fn keygen_text_prints_key_then_entry_with_all_scopes_by_default() {
    let out = strata_dev(&["keygen"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let entry: serde_json::Value = serde_json::from_str(lines[1]).expect("entry is JSON");
    let object = entry.as_object().expect("entry is an object");
    assert_eq!(object.len(), 1);
    let (id, fields) = object.iter().next().expect("one key");
    assert!(id.starts_with("key-"), "{id}");
    assert_eq!(fields["sha256"], sha256_hex(lines[0].as_bytes()));
    assert_eq!(
        fields["scopes"],
        serde_json::json!([
            "d1:read",
            "d1:write",
            "pg:read",
            "pg:write",
            "objects:read",
            "objects:write",
            "sql:read",
            "sql",
            "admin"
        ])
    );
}

#[test]
fn keygen_builds_the_entry_for_a_given_key() {
    let out = strata_dev(&[
        "keygen",
        "--key",
        "dev-local-key",
        "--id",
        "dev",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(doc["key"], "dev-local-key");
    assert_eq!(doc["entry"]["dev"]["sha256"], sha256_hex(b"dev-local-key"));
}

#[test]
fn keygen_unknown_scope_is_a_usage_error() {
    let out = strata_dev(&["keygen", "--scopes", "d1:read,d1:drop"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown scope \"d1:drop\""),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn keygen_bad_id_is_a_usage_error() {
    let out = strata_dev(&["keygen", "--id", "has space"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn migrate_without_a_url_is_a_usage_error() {
    let out = strata_dev(&["migrate", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("DATABASE_URL"), "{}", stderr(&out));
}

#[test]
fn migrate_rejects_a_bad_url_without_echoing_the_password() {
    let out = strata_dev(&[
        "migrate",
        "status",
        "--database-url",
        "postgres://u:topsecret@h:port/db",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("topsecret"), "{}", stderr(&out));
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    assert_eq!(strata_dev(&["frobnicate"]).status.code(), Some(2));
}
