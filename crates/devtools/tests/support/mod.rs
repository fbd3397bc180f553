//! What the migrate test binaries share: a throw-away PostgreSQL with an empty migrations
//! directory, the project's squawk, and helpers to query the cluster and run the CLI.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pgcluster::{Cluster, ClusterOptions};
use strata_devtools::dburl::DatabaseUrl;
use strata_devtools::digest::sha256_hex;
use strata_devtools::migrate::{self, Event, MigrateError, Options, Squawk};
use tempfile::TempDir;
use tokio_postgres::NoTls;

/// The squawk `make test` installs; a clear failure (not a skip) when it is missing, since
/// `migrate` refuses to run without it.
pub fn squawk_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/squawk");
    assert!(
        path.is_file(),
        "squawk is not installed at {}: run scripts/tools.sh (make tools) first",
        path.display()
    );
    path
}

pub fn options() -> Options {
    Options::new(Squawk::at(squawk_path()).expect("squawk"))
}

/// A running cluster and an empty migrations directory.
pub struct Fixture {
    pub cluster: Cluster,
    pub dir: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let cluster = Cluster::start(ClusterOptions::default()).expect("start PostgreSQL");
        let dir = tempfile::tempdir().expect("temp dir");
        Fixture { cluster, dir }
    }

    pub fn url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.cluster.database_url()).expect("cluster URL parses")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, sql: &str) {
        std::fs::write(self.dir().join(name), sql).expect("write migration");
    }

    /// Runs `apply`, returning its result and the events it reported (as debug strings).
    pub fn apply(&self) -> (Result<Vec<String>, MigrateError>, Vec<String>) {
        self.apply_with(&options())
    }

    /// [`Fixture::apply`] with other options.
    pub fn apply_with(
        &self,
        options: &Options,
    ) -> (Result<Vec<String>, MigrateError>, Vec<String>) {
        let mut events = Vec::new();
        let result =
            runtime().block_on(migrate::apply(&self.url(), self.dir(), options, &mut |e| {
                // "linted N" comes with every run; tests of the lint look at their results.
                if !matches!(e, Event::Linted { .. }) {
                    events.push(event_text(&e))
                }
            }));
        (result, events)
    }

    /// Runs one query and returns the first column of every row as text.
    pub fn column(&self, sql: &str) -> Vec<String> {
        let url = self.cluster.database_url();
        runtime().block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
            tokio::spawn(connection);
            let rows = client.simple_query(sql).await.expect("query");
            rows.iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).unwrap_or("NULL").to_string())
                    }
                    _ => None,
                })
                .collect()
        })
    }

    pub fn tracked(&self) -> Vec<String> {
        self.column("SELECT name || ' ' || checksum FROM strata_migrations ORDER BY name")
    }

    pub fn table_exists(&self, name: &str) -> bool {
        self.column(&format!("SELECT to_regclass('{name}') IS NOT NULL")) == ["t"]
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strata-dev"))
            .args(args)
            .arg("--dir")
            .arg(self.dir())
            .env("DATABASE_URL", self.cluster.database_url())
            .env("STRATA_SQUAWK", squawk_path())
            .output()
            .expect("run strata-dev")
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Events without durations, which vary. Lint events are left out: most tests are about
/// applying.
pub fn event_text(event: &Event<'_>) -> String {
    match event {
        Event::WaitingForLock => "waiting".into(),
        Event::Linted { files } => format!("linted {files}"),
        Event::Waived { name, line, text } => format!("waived {name}:{line} {text}"),
        Event::LockTimeout { name, attempt, .. } => format!("lock timeout {name} {attempt}"),
        Event::GaveUp { name, attempts, .. } => format!("gave up {name} {attempts}"),
        Event::DroppedInvalidIndex { name, index } => format!("dropped {index} ({name})"),
        Event::MissingOnDisk { name } => format!("missing {name}"),
        Event::Applying { name } => format!("applying {name}"),
        Event::Applied { name, .. } => format!("applied {name}"),
        Event::Failed { name, .. } => format!("failed {name}"),
    }
}

pub fn tracked_row(name: &str, sql: &str) -> String {
    format!("{name} {}", sha256_hex(sql.as_bytes()))
}
