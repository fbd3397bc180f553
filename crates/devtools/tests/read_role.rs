//! `read-role` against a real, throw-away PostgreSQL (pgcluster): the role it makes can read
//! every table of the owner — made before or after it — and the database refuses it every
//! write, also when a session first tries to talk its way out of read-only mode. This is the
//! fence the Worker's `DATABASE_URL_READ` relies on, checked without the Worker.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use pgcluster::{Cluster, ClusterOptions};
use strata_devtools::dburl::DatabaseUrl;
use strata_devtools::read_role::{self, ReadRoleError};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// The SQLSTATE the first failing statement of `sql` (statements separated by `; `, each sent
/// on its own, as a session would) fails with; `None` when all succeed.
async fn sqlstate(client: &Client, sql: &str) -> Option<String> {
    for statement in sql.split("; ") {
        if let Err(e) = client.simple_query(statement).await {
            return Some(
                e.code()
                    .map(|c| c.code().to_string())
                    .unwrap_or_else(|| format!("not a database error: {e}")),
            );
        }
    }
    None
}

async fn first_value(client: &Client, sql: &str) -> String {
    let rows = client.simple_query(sql).await.expect(sql);
    rows.iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .expect("a row")
}

#[test]
fn the_read_role_reads_everything_and_writes_nothing() {
    let cluster = Cluster::start(ClusterOptions::default()).expect("start PostgreSQL");
    let owner_url = cluster.database_url();
    let url = DatabaseUrl::parse(&owner_url).expect("cluster URL parses");
    runtime().block_on(async {
        let owner = connect(&owner_url).await;
        owner
            .batch_execute(
                "CREATE TABLE before_role (id int PRIMARY KEY, v text);
                 INSERT INTO before_role VALUES (1, 'a');
                 CREATE SEQUENCE counter;
                 CREATE SCHEMA app; CREATE TABLE app.inside (x int); INSERT INTO app.inside VALUES (7);",
            )
            .await
            .expect("owner setup");

        let password = read_role::generate_password().expect("password");
        read_role::ensure(&url, "strata_read", &password)
            .await
            .expect("first run");
        // Idempotent, and a new password replaces the old one.
        let password = read_role::generate_password().expect("password");
        read_role::ensure(&url, "strata_read", &password)
            .await
            .expect("second run");
        owner
            .batch_execute(
                "CREATE TABLE after_role (id int); INSERT INTO after_role VALUES (2);
                 CREATE SCHEMA later; CREATE TABLE later.t (y int); INSERT INTO later.t VALUES (3);",
            )
            .await
            .expect("tables made after the role");

        let read_url = read_role::read_url(&owner_url, "strata_read", &password).expect("url");
        let reader = connect(&read_url).await;
        assert_eq!(first_value(&reader, "SELECT current_user").await, "strata_read");
        assert_eq!(first_value(&reader, "SELECT v FROM before_role").await, "a");
        assert_eq!(first_value(&reader, "SELECT id FROM after_role").await, "2");
        assert_eq!(first_value(&reader, "SELECT x FROM app.inside").await, "7");
        assert_eq!(first_value(&reader, "SELECT y FROM later.t").await, "3");
        assert_eq!(
            first_value(&reader, "SHOW default_transaction_read_only").await,
            "on"
        );

        // Refused by read-only mode (25006) or, once a session switches that off, by the
        // missing privileges (42501).
        let escapes = [
            ("INSERT INTO before_role VALUES (2, 'b')", "25006"),
            ("UPDATE before_role SET v = 'x'", "25006"),
            ("WITH d AS (DELETE FROM before_role RETURNING *) SELECT * FROM d", "25006"),
            ("SELECT * FROM before_role FOR UPDATE", "25006"),
            ("SELECT nextval('counter')", "42501"),
            ("SET default_transaction_read_only = off; INSERT INTO before_role VALUES (2, 'b')", "42501"),
            ("BEGIN; SET TRANSACTION READ WRITE; DELETE FROM before_role", "42501"),
            ("BEGIN READ WRITE; UPDATE after_role SET id = 0", "42501"),
            ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; TRUNCATE before_role", "42501"),
            ("SET default_transaction_read_only = off; SELECT nextval('counter')", "42501"),
            ("SET default_transaction_read_only = off; SELECT setval('counter', 99)", "42501"),
            ("SET default_transaction_read_only = off; CREATE TABLE mine (a int)", "42501"),
            ("SET default_transaction_read_only = off; DROP TABLE before_role", "42501"),
            ("SET default_transaction_read_only = off; ALTER TABLE before_role ADD COLUMN w int", "42501"),
            ("SET default_transaction_read_only = off; COPY before_role FROM PROGRAM 'true'", "42501"),
            ("SET default_transaction_read_only = off; BEGIN; LOCK TABLE before_role IN EXCLUSIVE MODE", "42501"),
            ("SET ROLE strata", "42501"),
            ("SET SESSION AUTHORIZATION strata", "42501"),
        ];
        for (sql, expected) in escapes {
            // A fresh session each time: a failed SET leaves nothing behind either way.
            let reader = connect(&read_url).await;
            assert_eq!(
                sqlstate(&reader, sql).await.as_deref(),
                Some(expected),
                "{sql}"
            );
        }

        assert_eq!(first_value(&owner, "SELECT count(*) FROM before_role").await, "1");
        assert_eq!(first_value(&owner, "SELECT v FROM before_role").await, "a");
        assert_eq!(first_value(&owner, "SELECT id FROM after_role").await, "2");
        assert_eq!(first_value(&owner, "SELECT last_value FROM counter").await, "1");
        assert_eq!(
            first_value(&owner, "SELECT count(*) FROM pg_class WHERE relname = 'mine'").await,
            "0"
        );

        // A role of that name with more than a login is not trusted.
        owner
            .batch_execute("CREATE ROLE too_much LOGIN CREATEROLE; CREATE ROLE member_of LOGIN; GRANT strata TO member_of")
            .await
            .expect("unsafe roles");
        for role in ["too_much", "member_of"] {
            let e = read_role::ensure(&url, role, "pw").await.unwrap_err();
            assert!(matches!(e, ReadRoleError::Unsafe { .. }), "{role}: {e}");
        }
    });
}

#[test]
fn the_command_prints_the_same_read_url_on_every_run_and_nothing_secret_elsewhere() {
    let cluster = Cluster::start(ClusterOptions::default()).expect("start PostgreSQL");
    let dir = tempfile::tempdir().expect("temp dir");
    let password_file = dir.path().join("state").join("read-password");
    let run = |url: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_strata-dev"));
        cmd.arg("read-role")
            .arg("--password-file")
            .arg(&password_file)
            .env_remove("DATABASE_URL");
        if let Some(url) = url {
            cmd.env("DATABASE_URL", url);
        }
        cmd.output().expect("run strata-dev")
    };
    let owner_url = cluster.database_url();
    let first = run(Some(&owner_url));
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = run(Some(&owner_url));
    assert!(second.status.success());
    let read_url = String::from_utf8(first.stdout).expect("utf-8");
    assert_eq!(read_url, String::from_utf8_lossy(&second.stdout));
    let password = std::fs::read_to_string(&password_file).expect("password kept");
    assert!(read_url.contains(&format!("strata_read:{}@", password.trim())));
    let stderr = String::from_utf8_lossy(&second.stderr);
    let owner_password = DatabaseUrl::parse(&owner_url)
        .expect("parses")
        .config()
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .expect("a password");
    assert!(
        !stderr.contains(password.trim()) && !stderr.contains(&owner_password),
        "{stderr}"
    );
    runtime().block_on(async {
        let reader = connect(read_url.trim()).await;
        assert_eq!(
            first_value(&reader, "SELECT current_user").await,
            "strata_read"
        );
    });
    // Without a database URL: a usage error.
    assert_eq!(run(None).status.code(), Some(2));
}
