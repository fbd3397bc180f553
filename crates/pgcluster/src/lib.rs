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
//! * `account` — which account the server runs as; handing it files.
//! * `postmaster` — the server child process: spawn tied to our lifetime, fast shutdown.
//! * `probe` — a tiny blocking client: readiness check and database creation.
//! * [`login`] — Postgres password authentication without I/O, shared with neon-local.

mod account;
pub mod login;
mod postmaster;
mod probe;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use account::RunAs;
use postmaster::Postmaster;
use probe::{ProbeError, Session};

/// How long `start` waits for the server to accept logins.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
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

/// Why a cluster could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// The environment or the options do not allow a cluster (binaries missing, no `postgres`
    /// user, unreachable or foreign data directory, credentials that do not match, ...).
    Setup(String),
    /// A file-system or process operation failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// `initdb` failed; `output` is what it printed.
    InitDb {
        /// initdb's stdout and stderr.
        output: String,
    },
    /// The server exited or did not accept logins in time.
    Start {
        /// What went wrong.
        reason: String,
        /// The last lines of the server log.
        log_tail: String,
    },
    /// The server runs but preparing the database (or role password) failed.
    Database(String),
}

impl ClusterError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> ClusterError {
        ClusterError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Setup(message) => f.write_str(message),
            ClusterError::Io { context, source } => write!(f, "{context}: {source}"),
            ClusterError::InitDb { output } => write!(f, "initdb failed:\n{output}"),
            ClusterError::Start { reason, log_tail } => {
                write!(
                    f,
                    "PostgreSQL did not start: {reason}\n--- server log (tail) ---\n{log_tail}"
                )
            }
            ClusterError::Database(message) => write!(f, "preparing the database: {message}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Io { source, .. } => Some(source),
            _ => None,
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

/// The password (and who it belongs to) the server is started with.
struct Credentials {
    user: String,
    password: String,
    /// The data directory still needs `initdb`.
    fresh: bool,
    /// Where a persistent cluster keeps them (`<data_dir>.credentials`).
    stored: Option<PathBuf>,
}

/// A private directory owned by the server's account, removed on drop.
struct RuntimeDir(PathBuf);

impl RuntimeDir {
    fn create(run_as: RunAs) -> Result<RuntimeDir, ClusterError> {
        let base = std::env::temp_dir();
        remove_orphaned_runtime_dirs(&base);
        for _ in 0..16 {
            let path = base.join(format!(
                "pgcluster-{}-{}",
                std::process::id(),
                random_token(8)
            ));
            match fs::create_dir(&path) {
                Ok(()) => {
                    let dir = RuntimeDir(path);
                    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o700))
                        .map_err(|e| ClusterError::io(format!("chmod {}", dir.0.display()), e))?;
                    run_as.give(&dir.0)?;
                    run_as.check_reachable(&dir.0)?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(ClusterError::io(format!("creating {}", path.display()), e)),
            }
        }
        Err(ClusterError::Setup(
            "could not create a unique temporary directory".into(),
        ))
    }
}

/// Removes `pgcluster-<pid>-*` directories left by processes that were killed (their `Drop`
/// never ran). The server itself died with its parent; only the files remain. A directory is
/// left alone while its creator or its server still runs.
fn remove_orphaned_runtime_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pgcluster-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        if process_alive(pid) || server_alive(&path.join("data")) || !path.is_dir() {
            continue;
        }
        let _ = fs::remove_dir_all(&path);
    }
}

/// Whether `data_dir/postmaster.pid` names a running process.
fn server_alive(data_dir: &Path) -> bool {
    fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|l| l.trim().parse::<u32>().ok())
        })
        .is_some_and(process_alive)
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Readies a persistent data directory: creates it, decides whether it needs `initdb`, and
/// finds the credentials to use.
fn prepare_persistent(
    dir: &Path,
    opts: &ClusterOptions,
    run_as: RunAs,
) -> Result<(PathBuf, Credentials), ClusterError> {
    let dir = std::path::absolute(dir)
        .map_err(|e| ClusterError::io(format!("resolving {}", dir.display()), e))?;
    let mut file_name = dir
        .file_name()
        .ok_or_else(|| {
            ClusterError::Setup(format!("{} is not a usable data directory", dir.display()))
        })?
        .to_os_string();
    file_name.push(".credentials");
    let credentials_path = dir.with_file_name(file_name);

    let empty = match fs::read_dir(&dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(&dir)
                .map_err(|e| ClusterError::io(format!("creating {}", dir.display()), e))?;
            true
        }
        Err(e) => return Err(ClusterError::io(format!("reading {}", dir.display()), e)),
    };
    run_as.check_reachable(&dir)?;

    if empty {
        // initdb insists on owning the directory and on 0700.
        run_as.give(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| ClusterError::io(format!("chmod {}", dir.display()), e))?;
        let credentials = Credentials {
            user: opts.user.clone(),
            password: opts.password.clone().unwrap_or_else(random_password),
            fresh: true,
            stored: Some(credentials_path),
        };
        return Ok((dir, credentials));
    }

    if !dir.join("PG_VERSION").is_file() {
        return Err(ClusterError::Setup(format!(
            "{} is neither empty nor a PostgreSQL data directory; refusing to touch it",
            dir.display()
        )));
    }
    let (user, password) = match read_credentials(&credentials_path)? {
        Some((user, password)) => (user, password),
        None => match &opts.password {
            // Without the file we can only trust a password the caller gives us.
            Some(password) => {
                write_credentials(&credentials_path, &opts.user, password)?;
                (opts.user.clone(), password.clone())
            }
            None => {
                return Err(ClusterError::Setup(format!(
                    "{} exists but {} is missing, so its password is unknown; pass a password \
                     or delete the data directory to start afresh",
                    dir.display(),
                    credentials_path.display()
                )))
            }
        },
    };
    if user != opts.user {
        return Err(ClusterError::Setup(format!(
            "{} was initialised for user `{user}` (see {}), not `{}`",
            dir.display(),
            credentials_path.display(),
            opts.user
        )));
    }
    let credentials = Credentials {
        user,
        password,
        fresh: false,
        stored: Some(credentials_path),
    };
    Ok((dir, credentials))
}

fn read_credentials(path: &Path) -> Result<Option<(String, String)>, ClusterError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClusterError::io(format!("reading {}", path.display()), e)),
    };
    let mut user = None;
    let mut password = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("user=") {
            user = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("password=") {
            password = Some(v.to_owned());
        }
    }
    match (user, password) {
        (Some(user), Some(password)) => Ok(Some((user, password))),
        _ => Err(ClusterError::Setup(format!(
            "{} is malformed (expected user= and password= lines)",
            path.display()
        ))),
    }
}

fn write_credentials(path: &Path, user: &str, password: &str) -> Result<(), ClusterError> {
    if user.contains('\n') || password.contains('\n') {
        return Err(ClusterError::Setup(
            "user and password must not contain newlines".into(),
        ));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ClusterError::io(format!("writing {}", path.display()), e))?;
    let text = format!(
        "# pgcluster: the superuser of the data directory next to this file; reused on every start\nuser={user}\npassword={password}\n"
    );
    file.write_all(text.as_bytes())
        .map_err(|e| ClusterError::io(format!("writing {}", path.display()), e))
}

fn run_initdb(
    initdb: &Path,
    data_dir: &Path,
    credentials: &Credentials,
    runtime_dir: &Path,
    run_as: RunAs,
) -> Result<(), ClusterError> {
    let pwfile = runtime_dir.join("pwfile");
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pwfile)
            .map_err(|e| ClusterError::io("writing the initdb password file", e))?;
        file.write_all(credentials.password.as_bytes())
            .map_err(|e| ClusterError::io("writing the initdb password file", e))?;
    }
    run_as.give(&pwfile)?;

    let mut command = Command::new(initdb);
    command
        .arg("-D")
        .arg(data_dir)
        .args([
            "-A",
            "scram-sha-256",
            "-U",
            &credentials.user,
            "-E",
            "UTF8",
            "--locale=C",
        ])
        // Skipping fsync saves most of initdb's time; a crash during initdb just means rerun.
        .arg("--no-sync")
        .arg(format!("--pwfile={}", pwfile.display()))
        .current_dir(runtime_dir)
        .env("LC_ALL", "C");
    if let RunAs::Service { uid, gid } = run_as {
        command.uid(uid).gid(gid);
    }
    let output = command.output();
    let _ = fs::remove_file(&pwfile);
    let output =
        output.map_err(|e| ClusterError::io(format!("running {}", initdb.display()), e))?;
    if !output.status.success() {
        return Err(ClusterError::InitDb {
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(())
}

enum StartFailure {
    /// The port was taken between choosing it and the server binding it.
    PortTaken(ClusterError),
    Other(ClusterError),
}

fn start_server(
    postgres: &Path,
    data_dir: &Path,
    port: u16,
    temporary: bool,
    runtime_dir: &Path,
    run_as: RunAs,
    credentials: &Credentials,
) -> Result<Postmaster, StartFailure> {
    let log_path = runtime_dir.join("postgres.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| StartFailure::Other(ClusterError::io("opening the server log", e)))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);

    let mut command = Command::new(postgres);
    command
        .arg("-D")
        .arg(data_dir)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(runtime_dir)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "unix_socket_permissions=0700"])
        .current_dir(runtime_dir)
        .env("LC_ALL", "C");
    if temporary {
        // Data that is deleted on drop needs no crash safety; this makes writes much cheaper.
        command.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    }
    let mut postmaster = Postmaster::spawn(command, run_as, log).map_err(StartFailure::Other)?;

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error: String;
    loop {
        if let Some(status) = postmaster.exit_status() {
            let tail = log_tail(&log_path, log_start);
            let error = ClusterError::Start {
                reason: format!("the server exited ({status}) before accepting connections"),
                log_tail: tail.clone(),
            };
            return Err(if tail.contains("Address already in use") {
                StartFailure::PortTaken(error)
            } else {
                StartFailure::Other(error)
            });
        }
        match Session::connect(
            addr,
            &credentials.user,
            &credentials.password,
            "postgres",
            Duration::from_secs(2),
        ) {
            Ok(_) => return Ok(postmaster),
            // Not listening yet, or "the database system is starting up" (57P03): keep polling.
            Err(ProbeError::Io(e)) => last_error = e.to_string(),
            Err(ProbeError::Server { code, message }) if code == "57P03" => last_error = message,
            Err(other) => {
                postmaster.stop();
                return Err(StartFailure::Other(ClusterError::Start {
                    reason: format!("the server refused our login: {other}"),
                    log_tail: log_tail(&log_path, log_start),
                }));
            }
        }
        if Instant::now() >= deadline {
            postmaster.stop();
            return Err(StartFailure::Other(ClusterError::Start {
                reason: format!(
                    "not accepting connections on {addr} after {}s (last: {last_error})",
                    READY_TIMEOUT.as_secs()
                ),
                log_tail: log_tail(&log_path, log_start),
            }));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The last lines the server wrote to its log since `from` (a byte offset).
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Finds a server binary: `$PG_BIN_DIR`, then `PATH`, then Debian's versioned directories.
fn find_binary(name: &str) -> Result<PathBuf, ClusterError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        candidates.push(PathBuf::from(dir).join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        // Highest major version first: "9" < "15" numerically, not as text.
        versions.sort_by_key(|p| {
            std::cmp::Reverse(
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<u32>().ok()),
            )
        });
        candidates.extend(versions.into_iter().map(|v| v.join("bin").join(name)));
    }
    candidates
        .into_iter()
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| {
            ClusterError::Setup(format!(
                "`{name}` not found on PATH or in /usr/lib/postgresql/*/bin: install the \
                 PostgreSQL server (Debian: postgresql) or set PG_BIN_DIR"
            ))
        })
}

fn free_port() -> Result<u16, ClusterError> {
    let listener =
        TcpListener::bind((HOST, 0)).map_err(|e| ClusterError::io("finding a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ClusterError::io("finding a free port", e))
}

/// `len` random characters from [a-z0-9], from the kernel's CSPRNG.
fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    let filled = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // Never reached on Linux; still, a unique-enough fallback beats a panic.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i * 5) % 120)) as u8;
        }
    }
    // 256 is not a multiple of 36; the slight bias is irrelevant for these uses.
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A fresh random password: 24 characters of [a-z0-9] (about 124 bits).
fn random_password() -> String {
    random_token(24)
}

/// Encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a b@c:d/é"), "a%20b%40c%3Ad%2F%C3%A9");
        assert_eq!(percent_encode("plain-Name_1.~"), "plain-Name_1.~");
    }

    #[test]
    fn random_tokens_differ_and_use_the_alphabet() {
        let a = random_password();
        let b = random_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn credentials_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("pgcluster-cred-test-{}", random_token(6)));
        fs::create_dir(&dir).unwrap();
        let path = dir.join("pg.credentials");
        assert_eq!(read_credentials(&path).unwrap(), None);
        write_credentials(&path, "u", "p w").unwrap();
        assert_eq!(
            read_credentials(&path).unwrap(),
            Some(("u".into(), "p w".into()))
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(write_credentials(&path, "u", "a\nb").is_err());
        fs::write(&path, "nonsense").unwrap();
        assert!(read_credentials(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn binaries_are_found() {
        assert!(find_binary("initdb").is_ok());
        assert!(find_binary("no-such-binary-pgcluster").is_err());
    }
}
