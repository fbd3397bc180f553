//! A local PostgreSQL cluster for tests and development: `initdb` + `postgres` as a child process.
//!
//! ```no_run
//! let cluster = pgcluster::Cluster::start(pgcluster::ClusterOptions::default())?;
//! println!("{}", cluster.database_url()); // postgres://strata:...@127.0.0.1:PORT/strata
//! // ... use it; dropping `cluster` stops the server and deletes the temporary data.
//! # Ok::<(), pgcluster::ClusterError>(())
//! ```
//!
//! * **Temporary** (`data_dir: None`): everything lives in a fresh private directory under the
//!   system temp dir, deleted when the [`Cluster`] is dropped.
//! * **Persistent** (`data_dir: Some(dir)`): `dir` is initialised on first use and reused after;
//!   the generated password is kept in `<dir>.credentials` (next to the data directory, readable
//!   by us only) so every run connects with the same URL.
//!
//! The server uses password authentication (SCRAM-SHA-256), so a wrong password fails the way it
//! does against a real deployment (SQLSTATE 28P01); it listens on 127.0.0.1 only, with its Unix
//! socket in a private directory. It runs as our direct child and is tied to our lifetime
//! (`PR_SET_PDEATHSIG`): it cannot outlive the process that started it, even one killed with
//! SIGKILL. When we are root, it runs as the `postgres` system user, since PostgreSQL refuses
//! to run as root.
//!
//! # Layout
//! * `lib.rs` — the [`Cluster`] itself: starting it from [`ClusterOptions`], preparing its
//!   database, its connection details.
//! * `error` — [`ClusterError`], why a cluster could not be started.
//! * `binaries` — finding `initdb` and `postgres`.
//! * `account` — which account the server runs as; handing it files.
//! * `runtime_dir` — the private directory with the socket and log; removing orphaned ones.
//! * `credentials` — the superuser's name and password, and the file a persistent cluster keeps
//!   them in.
//! * `data_dir` — a persistent data directory: first use, reuse, refusal.
//! * `initdb` — initialising a new data directory.
//! * `server` — starting the server and waiting until it accepts logins; choosing a port.
//! * `postmaster` — the server child process: spawn tied to our lifetime, fast shutdown.
//! * `probe` — a tiny blocking client: readiness check and database creation.
//! * `random` — random tokens and passwords.
//! * `url` — percent-encoding for the database URL.
//! * [`login`] — Postgres password authentication without I/O, shared with neon-local.

// A host-only tool, never part of the Worker: it has a real clock (the ban is
// for wasm32, see clippy.toml).
#![allow(clippy::disallowed_methods)]

mod account;
mod binaries;
mod credentials;
mod data_dir;
mod error;
mod initdb;
pub mod login;
mod postmaster;
mod probe;
mod random;
mod runtime_dir;
mod server;
mod url;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use account::RunAs;
use binaries::find_binary;
use credentials::{write_credentials, Credentials};
use data_dir::prepare_persistent;
use initdb::run_initdb;
use postmaster::Postmaster;
use probe::Session;
use random::random_password;
use runtime_dir::RuntimeDir;
use server::{free_port, start_server, StartFailure};
use url::percent_encode;

pub use error::ClusterError;

/// How many times a start is retried when an automatically chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;
/// The address the server listens on, and the only one.
const HOST: &str = "127.0.0.1";

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `None`: a temporary cluster in a fresh temp directory, deleted on drop. `Some(dir)`: a
    /// persistent cluster in `dir`, initialised if missing or empty, reused otherwise.
    pub data_dir: Option<PathBuf>,
    /// TCP port on 127.0.0.1; `None` (or 0) picks a free one.
    pub port: Option<u16>,
    /// The superuser role the cluster is initialised with (default `strata`).
    pub user: String,
    /// That role's password. `None`: random for a temporary cluster; for a persistent one,
    /// generated on first start and read back from `<data_dir>.credentials` afterwards. A given
    /// password that differs from the stored one replaces it.
    pub password: Option<String>,
    /// Database to connect to, created if missing (default `strata`).
    pub database: String,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            data_dir: None,
            port: None,
            user: "strata".to_owned(),
            password: None,
            database: "strata".to_owned(),
        }
    }
}

/// A running PostgreSQL server. Dropping it stops the server (and deletes a temporary cluster).
pub struct Cluster {
    port: u16,
    user: String,
    password: String,
    database: String,
    data_dir: PathBuf,
    postmaster: Postmaster,
    /// Private directory with the socket and log (and, for a temporary cluster, the data).
    /// Deleted after the server has stopped.
    runtime_dir: RuntimeDir,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("runtime_dir", &self.runtime_dir.0)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Initialises (if needed) and starts a cluster; returns once it accepts logins.
    ///
    /// Blocking: about two seconds for a new cluster, well under one to reuse a persistent one.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        let run_as = RunAs::detect()?;
        let initdb = find_binary("initdb")?;
        let postgres = find_binary("postgres")?;
        let runtime_dir = RuntimeDir::create(run_as)?;

        let (data_dir, credentials) = match &opts.data_dir {
            None => {
                let data_dir = runtime_dir.0.join("data");
                let password = opts.password.clone().unwrap_or_else(random_password);
                let credentials = Credentials {
                    user: opts.user.clone(),
                    password,
                    fresh: true,
                    stored: None,
                };
                (data_dir, credentials)
            }
            Some(dir) => prepare_persistent(dir, &opts, run_as)?,
        };

        if credentials.fresh {
            run_initdb(&initdb, &data_dir, &credentials, &runtime_dir.0, run_as)?;
            if let Some(path) = &credentials.stored {
                write_credentials(path, &credentials.user, &credentials.password)?;
            }
        }

        let temporary = opts.data_dir.is_none();
        // Port 0 means "any", as for a listening socket.
        let fixed_port = opts.port.filter(|&port| port != 0);
        let mut attempt = 0;
        let (postmaster, port) = loop {
            attempt += 1;
            let port = match fixed_port {
                Some(port) => port,
                None => free_port()?,
            };
            match start_server(
                &postgres,
                &data_dir,
                port,
                temporary,
                &runtime_dir.0,
                run_as,
                &credentials,
            ) {
                Ok(postmaster) => break (postmaster, port),
                Err(StartFailure::PortTaken(_))
                    if fixed_port.is_none() && attempt < PORT_ATTEMPTS =>
                {
                    continue
                }
                Err(StartFailure::PortTaken(e) | StartFailure::Other(e)) => return Err(e),
            }
        };

        let mut cluster = Cluster {
            port,
            user: credentials.user.clone(),
            password: credentials.password.clone(),
            database: opts.database.clone(),
            data_dir,
            postmaster,
            runtime_dir,
        };
        cluster.prepare(&opts, &credentials)?;
        Ok(cluster)
    }

    /// Creates the database if missing and applies a changed password (persistent clusters).
    fn prepare(
        &mut self,
        opts: &ClusterOptions,
        credentials: &Credentials,
    ) -> Result<(), ClusterError> {
        let mut session = self.admin_session()?;
        if let Some(new_password) = &opts.password {
            if !credentials.fresh && new_password != &credentials.password {
                let sql = format!(
                    "ALTER ROLE {} PASSWORD {}",
                    postgres_protocol::escape::escape_identifier(&self.user),
                    postgres_protocol::escape::escape_literal(new_password)
                );
                session
                    .simple_query(&sql)
                    .map_err(|e| ClusterError::Database(format!("changing the password: {e}")))?;
                if let Some(path) = &credentials.stored {
                    write_credentials(path, &self.user, new_password)?;
                }
                self.password = new_password.clone();
            }
        }
        let exists = session
            .simple_query(&format!(
                "SELECT 1 FROM pg_database WHERE datname = {}",
                postgres_protocol::escape::escape_literal(&self.database)
            ))
            .map_err(|e| ClusterError::Database(e.to_string()))?;
        if exists.is_empty() {
            session
                .simple_query(&format!(
                    "CREATE DATABASE {}",
                    postgres_protocol::escape::escape_identifier(&self.database)
                ))
                .map_err(|e| ClusterError::Database(format!("creating {}: {e}", self.database)))?;
        }
        Ok(())
    }

    fn admin_session(&self) -> Result<Session, ClusterError> {
        Session::connect(
            self.addr(),
            &self.user,
            &self.password,
            "postgres",
            Duration::from_secs(10),
        )
        .map_err(|e| ClusterError::Database(e.to_string()))
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Always `127.0.0.1`: the server listens nowhere else.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser role name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The role's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The database created for us.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `postgres://user:password@127.0.0.1:port/database`, user and password percent-encoded.
    pub fn database_url(&self) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            percent_encode(&self.user),
            percent_encode(&self.password),
            HOST,
            self.port,
            percent_encode(&self.database)
        )
    }

    /// The data directory (inside the temporary directory for a temporary cluster).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server (fast shutdown) and waits for it to exit; same as dropping the cluster.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Explicitly before runtime_dir is removed (fields drop in declaration order anyway).
        self.postmaster.stop();
    }
}
