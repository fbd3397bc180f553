//! `neon-local`: Neon's SQL-over-HTTP endpoint (`POST /sql`) and its WebSocket protocol
//! (`GET /v1`, `/v2`) served over a real PostgreSQL, so the Worker and the official
//! `@neondatabase/serverless` driver — `neon()` over HTTP, `Pool` and `Client` over WebSocket —
//! run offline exactly as against Neon. The HTTP protocol (the one Neon's serverless driver
//! speaks) is described in `strata_core::neon`, where its types and value encoding live, shared
//! with the Worker's client.
//!
//! # Using it
//!
//! As a program (what scripts and the Node tests do): `neon-local [--listen 127.0.0.1:4444]
//! [--upstream host:port] [--data-dir DIR] [--pg-port N] [--max-body-bytes N]
//! [--max-response-bytes N] [--pool-size N] [--pool-max-total N] [--pool-idle-timeout SECS]
//! [--ws-max-sessions N] [--ws-idle-timeout SECS]`.
//! Without `--upstream` it starts its own PostgreSQL (temporary, or persistent in
//! `--data-dir`). When ready it prints one JSON line to stdout —
//! `{"event":"ready","sql_url":"http://127.0.0.1:4444/sql","ws_proxy":"127.0.0.1:4444/v2","database_url":"postgres://...","pg_port":N}`
//! — and logs to stderr; SIGINT/SIGTERM stop it (and its PostgreSQL) cleanly.
//!
//! In-process from Rust, blocking (own runtime threads; fine from sync tests or async ones):
//!
//! ```no_run
//! let endpoint = neon_local::NeonLocal::start(neon_local::Options::default())?;
//! println!("{} over {}", endpoint.sql_url(), endpoint.database_url().unwrap_or("-"));
//! endpoint.shutdown(); // or just drop it
//! # Ok::<(), neon_local::StartError>(())
//! ```
//!
//! Or inside your own tokio runtime, against a server you already have:
//! [`serve`]`(listener, `[`Config`]`, shutdown_future).await`.
//!
//! # Layout
//! * [`http`] — routing (`POST /sql`, `OPTIONS /sql`, WebSocket upgrades on `/v1` and `/v2`,
//!   everything else 400), body limit, CORS.
//! * [`sql`] — the operation: headers and body → Postgres session → JSON.
//! * [`pool`] — reusing logged-in connections per credentials, with the reset that makes every
//!   request a fresh session all the same.
//! * [`error`] — every failure and its HTTP status, in one place.
//! * [`pg`] — the small Postgres wire client (text parameters, text results, SCRAM).
//! * [`ws`] — Neon's WebSocket protocol: one WebSocket, one tunnelled PostgreSQL session.

// A host-only tool, never part of the Worker: it has a real clock (the ban is
// for wasm32, see clippy.toml).
#![allow(clippy::disallowed_methods)]

pub mod error;
pub mod http;
pub mod pg;
pub mod pool;
pub mod sql;
pub mod ws;

pub use pool::PoolConfig;
pub use ws::WsConfig;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pgcluster::{Cluster, ClusterError, ClusterOptions};
use pool::Pool;
use strata_core::neon::ConnectionString;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use ws::sessions::Sessions;

/// Neon's proxy default for request and response bodies (10 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// How the endpoint serves requests.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` of the PostgreSQL server every request connects to. The connection
    /// string's own host and port are ignored: on Neon they only select the endpoint.
    pub upstream: String,
    /// Larger request bodies are refused with 413.
    pub max_request_bytes: usize,
    /// Larger responses are refused with 507 (no partial result).
    pub max_response_bytes: usize,
    /// Connecting and logging in to PostgreSQL must finish within this, or the request gets 500.
    pub connect_timeout: Duration,
    /// No per-request log line on stderr.
    pub quiet: bool,
    /// Connection reuse across requests. A request waits at most `connect_timeout` for a pool
    /// place when its credentials already have `pool.max_per_key` connections in use.
    pub pool: PoolConfig,
    /// WebSocket sessions: how many at once, idle timeout.
    pub ws: WsConfig,
}

impl Config {
    /// Defaults (10 MiB limits, 10 s connect timeout, default pool) for the given upstream.
    pub fn new(upstream: impl Into<String>) -> Config {
        Config {
            upstream: upstream.into(),
            max_request_bytes: DEFAULT_BODY_LIMIT,
            max_response_bytes: DEFAULT_BODY_LIMIT,
            connect_timeout: Duration::from_secs(10),
            quiet: false,
            pool: PoolConfig::default(),
            ws: WsConfig::default(),
        }
    }
}

/// How long shutting down waits for WebSocket sessions to say goodbye to their clients.
const SESSION_CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Serves HTTP/1.1 (and WebSocket sessions) on `listener` until `shutdown` completes; then
/// stops accepting, closes the WebSocket sessions (a close frame to the client, the backend's
/// query cancelled and its connection closed), drops the HTTP connections still open (their
/// queries are cancelled) and closes the pooled PostgreSQL connections.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let pool = Arc::new(Pool::new(config.pool.clone()));
    let reaper = tokio::spawn(Arc::clone(&pool).run_reaper());
    let sessions = Arc::new(Sessions::new(config.ws.max_sessions));
    let config = Arc::new(config);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // E.g. out of file descriptors: back off instead of spinning.
                        eprintln!("neon-local: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let config = Arc::clone(&config);
                let pool = Arc::clone(&pool);
                let sessions = Arc::clone(&sessions);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let config = Arc::clone(&config);
                        let pool = Arc::clone(&pool);
                        let sessions = Arc::clone(&sessions);
                        async move {
                            Ok::<_, Infallible>(http::handle(request, config, pool, sessions).await)
                        }
                    });
                    // Errors here are the client's (reset, garbage): nothing to answer.
                    // `with_upgrades`: a WebSocket's connection is handed to its session.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let still_open = sessions.close_all(SESSION_CLOSE_GRACE).await;
    if still_open > 0 {
        eprintln!("neon-local: {still_open} WebSocket sessions did not close in time");
    }
    connections.shutdown().await;
    reaper.abort();
    pool.close().await;
    Ok(())
}

/// What [`NeonLocal::start`] starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// HTTP listen address; port 0 picks a free port (see [`NeonLocal::sql_url`]).
    pub listen: SocketAddr,
    /// An existing PostgreSQL: `host:port`, or a `postgres://` URL (then also reported as
    /// [`NeonLocal::database_url`]). `None` starts an embedded cluster.
    pub upstream: Option<String>,
    /// Embedded cluster only: keep its data here (reused across runs) instead of a temp dir.
    pub data_dir: Option<PathBuf>,
    /// Embedded cluster only: its TCP port (`None` = a free one).
    pub pg_port: Option<u16>,
    /// See [`Config::max_request_bytes`].
    pub max_request_bytes: usize,
    /// See [`Config::max_response_bytes`].
    pub max_response_bytes: usize,
    /// See [`Config::quiet`].
    pub quiet: bool,
    /// See [`Config::pool`].
    pub pool: PoolConfig,
    /// See [`Config::ws`].
    pub ws: WsConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: None,
            data_dir: None,
            pg_port: None,
            max_request_bytes: DEFAULT_BODY_LIMIT,
            max_response_bytes: DEFAULT_BODY_LIMIT,
            quiet: false,
            pool: PoolConfig::default(),
            ws: WsConfig::default(),
        }
    }
}

/// Why the endpoint did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The embedded PostgreSQL did not start.
    Cluster(ClusterError),
    /// The `--upstream` value is neither `host:port` nor a usable `postgres://` URL.
    Upstream(String),
    /// The HTTP address could not be bound.
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The async runtime could not be created.
    Runtime(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Cluster(e) => write!(f, "embedded PostgreSQL: {e}"),
            StartError::Upstream(m) => write!(f, "--upstream: {m}"),
            StartError::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            StartError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Cluster(e) => Some(e),
            StartError::Listen { source, .. } | StartError::Runtime(source) => Some(source),
            StartError::Upstream(_) => None,
        }
    }
}

/// A running endpoint (and its embedded PostgreSQL, if any), served on its own runtime threads.
/// Dropping it shuts both down.
pub struct NeonLocal {
    sql_url: String,
    database_url: Option<String>,
    pg_port: u16,
    local_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// In a Mutex only to make the handle `Sync` (a Receiver is not).
    stopped: Option<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
    /// Declared last so it is dropped (stopped) after the server.
    cluster: Option<Cluster>,
}

impl fmt::Debug for NeonLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NeonLocal")
            .field("sql_url", &self.sql_url)
            .field("pg_port", &self.pg_port)
            .finish_non_exhaustive()
    }
}

impl NeonLocal {
    /// Starts PostgreSQL (unless `upstream` is given) and the endpoint; returns when both
    /// accept connections. Blocking: about two seconds with a new embedded cluster.
    pub fn start(options: Options) -> Result<NeonLocal, StartError> {
        let (cluster, upstream, database_url, pg_port) = match &options.upstream {
            None => {
                let cluster = Cluster::start(ClusterOptions {
                    data_dir: options.data_dir.clone(),
                    port: options.pg_port,
                    ..ClusterOptions::default()
                })
                .map_err(StartError::Cluster)?;
                let upstream = format!("{}:{}", cluster.host(), cluster.port());
                let url = cluster.database_url();
                let port = cluster.port();
                (Some(cluster), upstream, Some(url), port)
            }
            Some(upstream) => {
                let (upstream, url, port) = parse_upstream(upstream)?;
                (None, upstream, url, port)
            }
        };

        let listener =
            std::net::TcpListener::bind(options.listen).map_err(|source| StartError::Listen {
                addr: options.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(StartError::Runtime)?;
        listener
            .set_nonblocking(true)
            .map_err(StartError::Runtime)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("neon-local")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let config = Config {
            max_request_bytes: options.max_request_bytes,
            max_response_bytes: options.max_response_bytes,
            quiet: options.quiet,
            pool: options.pool.clone(),
            ws: options.ws.clone(),
            ..Config::new(upstream)
        };
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            match TcpListener::from_std(listener) {
                Ok(listener) => {
                    let shutdown = async {
                        let _ = shutdown_rx.await;
                    };
                    if let Err(e) = serve(listener, config, shutdown).await {
                        eprintln!("neon-local: server stopped: {e}");
                    }
                }
                Err(e) => eprintln!("neon-local: cannot use the listener: {e}"),
            }
            let _ = stopped_tx.send(());
        });

        Ok(NeonLocal {
            sql_url: format!("http://{local_addr}/sql"),
            database_url,
            pg_port,
            local_addr,
            shutdown: Some(shutdown_tx),
            stopped: Some(std::sync::Mutex::new(stopped_rx)),
            runtime: Some(runtime),
            cluster,
        })
    }

    /// `http://127.0.0.1:PORT/sql`, with the real port.
    pub fn sql_url(&self) -> &str {
        &self.sql_url
    }

    /// `127.0.0.1:PORT/v2`: the value for the driver's `neonConfig.wsProxy` (with
    /// `useSecureWebSocket = false`); the WebSocket URL is `ws://` + this.
    pub fn ws_proxy(&self) -> String {
        format!("{}/v2", self.local_addr)
    }

    /// The HTTP address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A direct `postgres://` URL to the database behind the endpoint (for migrations, or as
    /// the value of `Neon-Connection-String`); `None` with a `host:port` upstream, whose
    /// credentials we do not know.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The PostgreSQL TCP port.
    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }

    /// The embedded cluster, if this endpoint started one.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// The ready line the binary prints:
    /// `{"event":"ready","sql_url":...,"ws_proxy":...,"database_url":...,"pg_port":N}`.
    pub fn ready_line(&self) -> String {
        serde_json::json!({
            "event": "ready",
            "sql_url": self.sql_url,
            "ws_proxy": self.ws_proxy(),
            "database_url": self.database_url,
            "pg_port": self.pg_port,
        })
        .to_string()
    }

    /// Stops the endpoint, then PostgreSQL; same as dropping it.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for NeonLocal {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            // A plain blocking wait (not block_on) is allowed even inside an async context.
            let stopped = stopped
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let _ = stopped.recv_timeout(Duration::from_secs(5));
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        // The cluster field drops after this, stopping PostgreSQL with a fast shutdown.
    }
}

/// Reads `--upstream`: `host:port` or a `postgres://` URL; returns (`host:port`, URL, port).
fn parse_upstream(upstream: &str) -> Result<(String, Option<String>, u16), StartError> {
    if upstream.starts_with("postgres://") || upstream.starts_with("postgresql://") {
        let parsed =
            ConnectionString::parse(upstream).map_err(|e| StartError::Upstream(e.to_string()))?;
        let port = parsed.port.unwrap_or(5432);
        let host = if parsed.host.contains(':') {
            format!("[{}]", parsed.host)
        } else {
            parsed.host.clone()
        };
        return Ok((format!("{host}:{port}"), Some(upstream.to_owned()), port));
    }
    let port = upstream
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .ok_or_else(|| {
            StartError::Upstream(format!(
                "expected host:port or a postgres:// URL, got {upstream:?}"
            ))
        })?;
    Ok((upstream.to_owned(), None, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        assert_eq!(
            parse_upstream("127.0.0.1:5433").unwrap(),
            ("127.0.0.1:5433".into(), None, 5433)
        );
        let (addr, url, port) = parse_upstream("postgres://u:p@db.local/x").unwrap();
        assert_eq!((addr.as_str(), port), ("db.local:5432", 5432));
        assert_eq!(url.as_deref(), Some("postgres://u:p@db.local/x"));
        assert!(parse_upstream("localhost").is_err());
        assert!(parse_upstream("postgres://nobody@h/db").is_err());
    }
}
