//! `strata-dev read-role`: the Postgres role behind `DATABASE_URL_READ`.
//!
//! The Worker sends every statement that may only read (read-only keys, `readOnly` batches,
//! REST reads, schema introspection) with `DATABASE_URL_READ` when it is set, so the database
//! itself refuses writes whatever the SQL says. This makes that role, idempotently, as the
//! role of `DATABASE_URL` (the one that runs the migrations and owns the tables):
//!
//! * `LOGIN` with the given password (set again on every run, so a changed password file wins);
//! * `default_transaction_read_only = on`, so even a transaction it starts itself is read-only;
//! * `USAGE` on `public` and on the schemas the owner owns, `SELECT` on their tables and views;
//! * default privileges so tables and schemas the owner creates later are readable too.
//!
//! No `INSERT`/`UPDATE`/`DELETE`/`TRUNCATE`, no sequence privileges (`nextval` fails), no
//! `CREATE` anywhere. A role that already exists with more than a login (superuser,
//! `CREATEROLE`, `BYPASSRLS`, membership of other roles) is refused rather than trusted.
//!
//! The same statements work on Neon (its owner role may create roles) and on the local
//! cluster; [`setup_sql`] is pure so it is unit-tested and can be printed for a manual run.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use strata_core::neon::connstr::ConnectionString;

use crate::dburl::DatabaseUrl;
use crate::migrate::{self, MigrateError};

/// The role's name unless one is given.
pub const DEFAULT_ROLE: &str = "strata_read";

/// Why the read role could not be made. Never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum ReadRoleError {
    /// The role name is not a plain lower-case identifier.
    #[error("invalid role name {0:?}: use lower-case letters, digits and _ (at most 63)")]
    BadName(String),
    /// The password cannot be written as a SQL literal (a NUL byte) or is empty.
    #[error("the read role's password must be non-empty and contain no NUL byte")]
    BadPassword,
    /// The password file could not be read or written.
    #[error("cannot use the password file {path}: {reason}")]
    PasswordFile { path: String, reason: String },
    /// No randomness for a new password.
    #[error("cannot generate a password: {0}")]
    Rng(getrandom::Error),
    /// The database URL could not be used, or no connection.
    #[error(transparent)]
    Connect(#[from] MigrateError),
    /// `DATABASE_URL` cannot be turned into the read URL.
    #[error("cannot build the read URL from the database URL: {0}")]
    Url(String),
    /// A role of that name exists with privileges a read role must not have.
    #[error("the role {role} exists and {problem}; drop it or choose another name with --role")]
    Unsafe { role: String, problem: String },
    /// A statement failed.
    #[error("could not {action}: {reason}")]
    Db {
        action: &'static str,
        reason: String,
    },
}

impl ReadRoleError {
    /// True when the command line was at fault (exit code 2), false for a failure (1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ReadRoleError::BadName(_)
                | ReadRoleError::BadPassword
                | ReadRoleError::Url(_)
                | ReadRoleError::Connect(MigrateError::NoDatabaseUrl | MigrateError::Url(_))
        )
    }
}

/// Checks a role name: `[a-z_][a-z0-9_]*`, at most 63 bytes (it is quoted anyway).
pub fn check_name(name: &str) -> Result<(), ReadRoleError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(ReadRoleError::BadName(name.to_string()))
    }
}

/// A new random password: 24 bytes, base64url (32 characters, safe in a URL unencoded).
pub fn generate_password() -> Result<String, ReadRoleError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(ReadRoleError::Rng)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The password kept in `path`; a new one is generated and written there (readable by us
/// only) when the file is missing or empty, so every run logs in with the same one.
pub fn password_from_file(path: &Path) -> Result<String, ReadRoleError> {
    let failed = |e: std::io::Error| ReadRoleError::PasswordFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    let password = generate_password()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    writeln!(file, "{password}").map_err(failed)?;
    Ok(password)
}

/// `"name"`: a quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`: a string literal (standard-conforming: only `'` needs doubling).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The statements that make `role` (after `CREATE ROLE` or `ALTER ROLE`, which
/// [`ensure`] chooses) readable-only in `database`, for the schemas in `schemas`. Run as the
/// owner of the tables; every one of them is idempotent.
pub fn setup_sql(
    role: &str,
    password: &str,
    exists: bool,
    database: &str,
    schemas: &[String],
) -> Vec<String> {
    let r = ident(role);
    let verb = if exists { "ALTER" } else { "CREATE" };
    let mut sql = vec![
        format!("{verb} ROLE {r} LOGIN PASSWORD {}", literal(password)),
        format!("ALTER ROLE {r} SET default_transaction_read_only = on"),
        format!("GRANT CONNECT ON DATABASE {} TO {r}", ident(database)),
    ];
    for schema in schemas {
        let s = ident(schema);
        sql.push(format!("GRANT USAGE ON SCHEMA {s} TO {r}"));
        sql.push(format!("GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}"));
    }
    // Objects the current role (the migrations' role) creates from now on.
    sql.push(format!(
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {r}"
    ));
    sql.push(format!(
        "ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO {r}"
    ));
    sql
}

/// `database_url` with the read role's user name and password: the `DATABASE_URL_READ` value.
pub fn read_url(database_url: &str, role: &str, password: &str) -> Result<String, ReadRoleError> {
    let mut cs =
        ConnectionString::parse(database_url).map_err(|e| ReadRoleError::Url(e.to_string()))?;
    cs.user = role.to_string();
    cs.password = password.to_string();
    Ok(cs.to_url())
}

/// Makes (or updates) `role` with `password` through `url`, in one transaction.
pub async fn ensure(url: &DatabaseUrl, role: &str, password: &str) -> Result<(), ReadRoleError> {
    check_name(role)?;
    if password.is_empty() || password.contains('\0') {
        return Err(ReadRoleError::BadPassword);
    }
    let db = |action: &'static str| {
        move |e: tokio_postgres::Error| ReadRoleError::Db {
            action,
            reason: url.scrub(&migrate::describe(&e, None)),
        }
    };
    let mut client = migrate::connect(url).await?;
    let tx = client
        .transaction()
        .await
        .map_err(db("start a transaction"))?;
    let existing = tx
        .query_opt(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, \
             ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                   WHERE m.member = r.oid ORDER BY 1) \
             FROM pg_roles r WHERE rolname = $1",
            &[&role],
        )
        .await
        .map_err(db("look the role up"))?;
    if let Some(row) = &existing {
        let flags = [
            ("SUPERUSER", row.get::<_, bool>(0)),
            ("CREATEROLE", row.get(1)),
            ("CREATEDB", row.get(2)),
            ("BYPASSRLS", row.get(3)),
            ("REPLICATION", row.get(4)),
        ];
        let granted: Vec<&str> = flags.iter().filter(|f| f.1).map(|f| f.0).collect();
        if !granted.is_empty() {
            return Err(ReadRoleError::Unsafe {
                role: role.to_string(),
                problem: format!("has {}", granted.join(", ")),
            });
        }
        let member_of: Vec<String> = row.get(5);
        if !member_of.is_empty() {
            return Err(ReadRoleError::Unsafe {
                role: role.to_string(),
                problem: format!("is a member of {}", member_of.join(", ")),
            });
        }
    }
    let row = tx
        .query_one(
            "SELECT current_database()::text, ARRAY(SELECT nspname::text FROM pg_namespace \
             WHERE nspname = 'public' OR (nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) \
             AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema') ORDER BY 1)",
            &[],
        )
        .await
        .map_err(db("list the schemas"))?;
    let database: String = row.get(0);
    let schemas: Vec<String> = row.get(1);
    for statement in setup_sql(role, password, existing.is_some(), &database, &schemas) {
        // The first statement carries the password: its error is described without the SQL.
        tx.batch_execute(&statement)
            .await
            .map_err(db("set up the read role"))?;
    }
    tx.commit().await.map_err(db("commit"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_identifiers() {
        for ok in ["strata_read", "r", "_x1"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Strata", "1x", "a-b", "a\"b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn setup_grants_select_only_and_quotes_everything() {
        let sql = setup_sql("strata_read", "p'w", false, "my db", &["public".into()]);
        assert_eq!(
            sql,
            [
                "CREATE ROLE \"strata_read\" LOGIN PASSWORD 'p''w'",
                "ALTER ROLE \"strata_read\" SET default_transaction_read_only = on",
                "GRANT CONNECT ON DATABASE \"my db\" TO \"strata_read\"",
                "GRANT USAGE ON SCHEMA \"public\" TO \"strata_read\"",
                "GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO \"strata_read\"",
                "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO \"strata_read\"",
                "ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO \"strata_read\"",
            ]
        );
        let again = setup_sql("r", "x", true, "d", &[]);
        assert!(again[0].starts_with("ALTER ROLE \"r\" LOGIN"));
        for s in sql.iter().chain(&again) {
            for word in [
                "INSERT",
                "UPDATE",
                "DELETE",
                "ALL PRIVILEGES",
                "CREATE ON",
                "SEQUENCES",
            ] {
                assert!(!s.contains(word), "{s}");
            }
        }
    }

    #[test]
    fn the_read_url_keeps_host_database_and_parameters() {
        let url = read_url(
            "postgres://owner:secret@ep-a-1.us-east-2.aws.neon.tech:5432/neondb?sslmode=require",
            "strata_read",
            "pw-_x",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgresql://strata_read:pw-_x@ep-a-1.us-east-2.aws.neon.tech:5432/neondb?sslmode=require"
        );
        assert!(read_url("mysql://u:p@h/db", "r", "p").is_err());
    }

    #[test]
    fn passwords_are_kept_in_their_file() {
        let dir = std::env::temp_dir().join(format!("strata-read-role-{}", std::process::id()));
        let path = dir.join("sub").join("pw");
        let first = password_from_file(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(password_from_file(&path).unwrap(), first);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "\n").unwrap();
        assert_ne!(password_from_file(&path).unwrap(), first);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
