//! The isolated local stack the integration tests run against.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_core::auth::key_hash_hex;

/// A running stack: Postgres behind the local Neon endpoint, and `wrangler
/// dev` serving the Worker. Dropping it stops every process it started.
pub struct Stack {
    /// `http://127.0.0.1:<port>` of the Worker.
    pub base: String,
    /// A key with every scope.
    pub admin_key: String,
    /// A key with only `objects:read`.
    pub objects_read_key: String,
    /// Keys with exactly one scope each, by scope name (`d1:read`, `pg:write`, ...).
    pub scoped_keys: Vec<(&'static str, String)>,
    /// The Worker's `NEON_SQL_URL`: the local Neon endpoint's
    /// (`http://127.0.0.1:<port>/sql`) unless `STRATA_TEST_NEON_SQL_URL` is set.
    pub sql_url: String,
    /// The database's connection string: the throw-away cluster's, or
    /// `STRATA_TEST_DATABASE_URL`.
    pub database_url: String,
    /// The Worker's `DATABASE_URL_READ`: the `strata_read` role `strata-dev
    /// read-role` made on the throw-away cluster, or
    /// `STRATA_TEST_DATABASE_URL_READ`; empty (reads share `DATABASE_URL`)
    /// with an upstream database and no read URL for it.
    pub database_url_read: String,
    neon: Option<Child>,
    wrangler: Option<Worker>,
    state_dir: PathBuf,
}

/// The repository root (the tests crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where cargo put this workspace's host binaries (next to this test binary).
fn host_bin(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // <target>/<profile>/deps/api-<hash>  →  <target>/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first (`make test` does: cargo build -p neon-local)",
            path.display()
        ))
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Makes a child die with the test process, even on SIGKILL, and gives it
/// its own process group so its own children (workerd) can be stopped too.
fn guard(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe and touches only this process.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.process_group(0)
}

fn stop(child: &mut Child) {
    let pid = child.id() as i32;
    // SAFETY: plain kill(2) on the child's own process group.
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The leader is gone; make sure nothing of its group lingers.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let _ = child.wait();
}

fn random_key(tag: &str) -> String {
    let mut bytes = [0u8; 24];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    assert!(ok, "cannot read /dev/urandom");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sk_test_{tag}_{hex}")
}

/// The REST placement the tests run with: the D1 tables the REST tests use
/// are listed, every other table is served from Postgres.
pub const REST_TABLES: &str = r#"{"rest_people": "d1", "rest_pages": "d1", "rest_writes": "d1", "rest_hostile": "d1", "rest_cursor": "d1", "rest_client": "d1", "rest_client_more": "d1", "rc_users": "d1", "rc_posts": "d1", "rc_comments": "d1", "rpc/rc_d1fn": "d1", "fuzz_d1": "d1", "load_d1": "d1", "rest_nokey": "d1", "rest_nokey_view": "d1", "rest_cap": "d1", "rest_numbers": "d1", "rest_session": "d1", "*": "pg"}"#;

/// The Worker's `S3_CREDENTIALS` in the tests: a read-write and a
/// read-only pair for the S3-compatible API (tests/api/s3.rs).
pub const S3_CREDENTIALS: &str = r#"{"STRATATESTRW": {"secret": "strata-test-s3-secret-read-write-0000000000", "scopes": ["objects:read", "objects:write"]}, "STRATATESTRO": {"secret": "strata-test-s3-secret-read-only-00000000000", "scopes": ["objects:read"]}}"#;

/// The Worker's `SIGNING_SECRET` in the tests (signed object URLs).
pub const SIGNING_SECRET: &str = "strata-test-signing-secret-not-for-production-use";

/// Scopes that get a single-scope test key.
const SCOPES: &[&str] = &[
    "d1:read",
    "d1:write",
    "pg:read",
    "pg:write",
    "objects:write",
    "sql:read",
    "sql",
];

impl Stack {
    /// The test key that has exactly `scope`.
    pub fn key(&self, scope: &str) -> &str {
        self.scoped_keys
            .iter()
            .find(|(s, _)| *s == scope)
            .map(|(_, k)| k.as_str())
            .unwrap_or_else(|| panic!("no test key for scope {scope}"))
    }

    /// Starts everything on free ports with fresh state. Takes a few
    /// seconds when the Worker is already built.
    ///
    /// `STRATA_TEST_DATABASE_URL=postgres://...` runs the tests against that
    /// database (e.g. a Neon branch) instead of a throw-away cluster: the
    /// local endpoint uses it as `--upstream` and the Worker gets it as
    /// `DATABASE_URL`. `STRATA_TEST_NEON_SQL_URL` replaces the Worker's
    /// `NEON_SQL_URL`; set it empty to let the Worker derive Neon's own
    /// endpoint from `DATABASE_URL`, as it does when deployed.
    pub fn start() -> Result<Stack, String> {
        let root = repo_root();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let state_dir =
            std::env::temp_dir().join(format!("strata-it-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;
        let mut stack = Stack {
            base: String::new(),
            admin_key: random_key("admin"),
            objects_read_key: random_key("objr"),
            scoped_keys: SCOPES
                .iter()
                .map(|s| (*s, random_key(&s.replace(':', "_"))))
                .collect(),
            sql_url: String::new(),
            database_url: String::new(),
            database_url_read: String::new(),
            neon: None,
            wrangler: None,
            state_dir,
        };

        // 1. Postgres + the local Neon endpoint (its own throw-away cluster, or
        //    STRATA_TEST_DATABASE_URL as its upstream).
        let upstream = env_nonempty("STRATA_TEST_DATABASE_URL")
            .map(|url| vec!["--upstream".to_string(), url])
            .unwrap_or_default();
        let mut neon = guard(
            Command::new(host_bin("neon-local")?)
                .args(["--listen", "127.0.0.1:0"])
                .args(&upstream)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log_file(&stack.state_dir, "neon-local.log")?),
        )
        .spawn()
        .map_err(|e| format!("cannot start neon-local: {e}"))?;
        let stdout = neon.stdout.take().ok_or("neon-local has no stdout")?;
        stack.neon = Some(neon);
        let ready = read_ready_line(stdout, Duration::from_secs(60))
            .map_err(|e| format!("{e}\n{}", tail(&stack.state_dir.join("neon-local.log"))))?;
        stack.sql_url = ready["sql_url"].as_str().unwrap_or_default().to_string();
        stack.database_url = ready["database_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if stack.sql_url.is_empty() || stack.database_url.is_empty() {
            return Err(format!(
                "neon-local's ready line lacks sql_url/database_url: {ready}"
            ));
        }
        if let Ok(url) = std::env::var("STRATA_TEST_NEON_SQL_URL") {
            stack.sql_url = url;
        }
        stack.database_url_read = match env_nonempty("STRATA_TEST_DATABASE_URL_READ") {
            Some(url) => url,
            None if upstream.is_empty() => stack.make_read_role()?,
            // Someone else's database: no role is made in it unasked.
            None => String::new(),
        };

        // 2. D1 migrations into the throw-away local state.
        let persist = stack.state_dir.join("wrangler-state");
        let wrangler = root.join("node_modules/.bin/wrangler");
        let status = Command::new(&wrangler)
            .current_dir(&root)
            .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
            .arg(&persist)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(log_file(&stack.state_dir, "d1-migrations.log")?)
            .stderr(log_file(&stack.state_dir, "d1-migrations.log")?)
            .status()
            .map_err(|e| format!("cannot run wrangler: {e}"))?;
        if !status.success() {
            return Err(format!(
                "D1 migrations failed:\n{}",
                tail(&stack.state_dir.join("d1-migrations.log"))
            ));
        }

        // 3. The Worker.
        let worker = stack.spawn_worker("wrangler", &[])?;
        stack.base = worker.base.clone();
        stack.wrangler = Some(worker);
        Ok(stack)
    }

    /// Makes the `SELECT`-only `strata_read` role on the throw-away cluster,
    /// as `make dev` does, and returns its connection string.
    fn make_read_role(&self) -> Result<String, String> {
        let out = Command::new(host_bin("strata-dev")?)
            .arg("read-role")
            .arg("--password-file")
            .arg(self.state_dir.join("pg-read-password"))
            .env("DATABASE_URL", &self.database_url)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run strata-dev read-role: {e}"))?;
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || url.is_empty() {
            return Err(format!(
                "strata-dev read-role failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(url)
    }

    /// Starts another `wrangler dev` on the same local state, with some vars
    /// overridden (e.g. a Neon URL that points nowhere, to test store faults).
    pub fn spawn_worker(&self, name: &str, overrides: &[(&str, &str)]) -> Result<Worker, String> {
        self.spawn_worker_on(name, overrides, &self.state_dir.join("wrangler-state"))
    }

    /// Like [`Stack::spawn_worker`], with its own empty local D1/R2 state:
    /// for tests that need no shared data, so two workerd processes never
    /// contend for the same local SQLite files under load.
    pub fn spawn_isolated_worker(
        &self,
        name: &str,
        overrides: &[(&str, &str)],
    ) -> Result<Worker, String> {
        self.spawn_worker_on(
            name,
            overrides,
            &self.state_dir.join(format!("{name}-state")),
        )
    }

    fn spawn_worker_on(
        &self,
        name: &str,
        overrides: &[(&str, &str)],
        persist: &Path,
    ) -> Result<Worker, String> {
        let root = repo_root();
        let port = free_port()?;
        let mut keys = serde_json::json!({
            "test-admin": {"sha256": key_hash_hex(&self.admin_key), "scopes": ["admin"]},
            "test-objects-read": {"sha256": key_hash_hex(&self.objects_read_key), "scopes": ["objects:read"]},
        });
        for (scope, key) in &self.scoped_keys {
            keys[format!("test-{scope}")] =
                serde_json::json!({"sha256": key_hash_hex(key), "scopes": [scope]});
        }
        let api_keys = keys.to_string();
        let jwt_vars = crate::auth::worker_vars();
        let mut vars: Vec<(&str, &str)> = vec![
            ("API_KEYS", &api_keys),
            ("DATABASE_URL", &self.database_url),
            ("NEON_SQL_URL", &self.sql_url),
            ("SIGNING_SECRET", SIGNING_SECRET),
            ("S3_CREDENTIALS", S3_CREDENTIALS),
            ("REST_TABLES", REST_TABLES),
            ("CORS_ALLOWED_ORIGINS", crate::cors::ALLOWED_ORIGINS),
        ];
        vars.extend(jwt_vars.iter().map(|(k, v)| (*k, v.as_str())));
        if !self.database_url_read.is_empty() {
            vars.push(("DATABASE_URL_READ", &self.database_url_read));
        }
        for (k, v) in overrides {
            vars.retain(|(name, _)| name != k);
            vars.push((k, v));
        }
        let log_name = format!("{name}.log");
        // `wrangler dev` through wrangler's own API, inspector off, as `make
        // dev` runs it (scripts/serve-worker.mjs says why).
        let mut cmd = Command::new("node");
        cmd.current_dir(&root)
            .arg("scripts/serve-worker.mjs")
            .args(["--ip", "127.0.0.1", "--no-watch"])
            .args(["--port", &port.to_string()])
            .arg("--persist-to")
            .arg(persist);
        for (k, v) in &vars {
            cmd.args(["--var", &format!("{k}:{v}")]);
        }
        let child = guard(
            cmd.env("WRANGLER_SEND_METRICS", "false")
                .stdin(Stdio::null())
                .stdout(log_file(&self.state_dir, &log_name)?)
                .stderr(log_file(&self.state_dir, &log_name)?),
        )
        .spawn()
        .map_err(|e| format!("cannot start the Worker (node scripts/serve-worker.mjs): {e}"))?;
        let mut worker = Worker {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log: self.state_dir.join(log_name),
        };
        worker.wait_until_serving(Duration::from_secs(180))?;
        Ok(worker)
    }
    /// The process group of the main worker's wrangler (and its workerd).
    pub fn worker_pgid(&self) -> Option<i32> {
        self.wrangler
            .as_ref()?
            .child
            .as_ref()
            .map(|c| c.id() as i32)
    }

    /// The Worker's log so far (console output of workerd), for assertions
    /// about what is and is not logged.
    pub fn worker_log(&self) -> String {
        self.wrangler.as_ref().map(Worker::log).unwrap_or_default()
    }

    /// The Worker's log line for the request that carried `x-request-id:
    /// request_id`, waiting up to `patience` for wrangler to flush it.
    pub fn log_line(&self, request_id: &str, patience: Duration) -> Option<String> {
        let deadline = Instant::now() + patience;
        loop {
            let log = self.worker_log();
            if let Some(line) = log.lines().find(|l| l.contains(request_id)) {
                return Some(line.to_string());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Stack::log_line`] as the structured record it holds.
    pub fn log_record(&self, request_id: &str) -> serde_json::Value {
        let line = self
            .log_line(request_id, Duration::from_secs(4))
            .unwrap_or_else(|| panic!("no log line for request {request_id}"));
        let start = line.find('{').unwrap_or(0);
        serde_json::from_str(&line[start..])
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
    }
}

/// One `wrangler dev` process serving the Worker; stopped on drop.
pub struct Worker {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    log: PathBuf,
}

impl Worker {
    fn wait_until_serving(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let url = format!("{}/v1/health", self.base);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "wrangler dev exited ({status}):\n{}",
                        tail(&self.log)
                    ));
                }
            }
            if let Ok(resp) = ureq::get(&url).call() {
                if resp.status() == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(format!(
            "wrangler dev did not serve {url} within {limit:?}:\n{}",
            tail(&self.log)
        ))
    }

    /// Everything this worker's wrangler printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        drop(self.wrangler.take());
        if let Some(mut c) = self.neon.take() {
            stop(&mut c);
        }
        if std::env::var_os("STRATA_KEEP_TEST_STATE").is_none() {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        } else {
            eprintln!("test state kept in {}", self.state_dir.display());
        }
    }
}

/// An environment variable's value, if set and not empty.
fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .map_err(|e| format!("cannot open {name}: {e}"))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Reads neon-local's one-line JSON ready message, with a time limit.
fn read_ready_line(
    stdout: std::process::ChildStdout,
    limit: Duration,
) -> Result<serde_json::Value, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let result = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(result);
        // Keep draining so the endpoint never blocks on a full pipe.
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    let line = rx
        .recv_timeout(limit)
        .map_err(|_| "neon-local did not become ready in time".to_string())?
        .map_err(|e| format!("reading neon-local's ready line: {e}"))?;
    serde_json::from_str(line.trim())
        .map_err(|_| format!("neon-local's first line is not JSON: {line:?}"))
}

/// An extra local Neon endpoint (e.g. over a Postgres a test stops and
/// restarts); stopped on drop.
pub struct NeonEndpoint {
    child: Option<Child>,
    /// Its `http://127.0.0.1:<port>/sql`.
    pub sql_url: String,
}

impl Drop for NeonEndpoint {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c);
        }
    }
}

impl Stack {
    /// Starts another `neon-local` with extra arguments (e.g. `--upstream`).
    pub fn start_neon_endpoint(&self, name: &str, args: &[&str]) -> Result<NeonEndpoint, String> {
        let log_name = format!("{name}.log");
        let mut child = guard(
            Command::new(host_bin("neon-local")?)
                .args(["--listen", "127.0.0.1:0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log_file(&self.state_dir, &log_name)?),
        )
        .spawn()
        .map_err(|e| format!("cannot start neon-local: {e}"))?;
        let stdout = child.stdout.take().ok_or("neon-local has no stdout")?;
        let mut endpoint = NeonEndpoint {
            child: Some(child),
            sql_url: String::new(),
        };
        let ready = read_ready_line(stdout, Duration::from_secs(60))
            .map_err(|e| format!("{e}\n{}", tail(&self.state_dir.join(&log_name))))?;
        endpoint.sql_url = ready["sql_url"].as_str().unwrap_or_default().to_string();
        Ok(endpoint)
    }

    /// A fresh directory inside this stack's state (removed with it).
    pub fn scratch_dir(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.state_dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(dir)
    }
}
